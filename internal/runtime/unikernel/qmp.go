package unikernel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// qmpTimeout bounds one QMP exchange when the context has no deadline.
const qmpTimeout = 5 * time.Second

// maxSocketPath is the longest path a unix socket address can hold.
const maxSocketPath = 107

// qmpExecute runs one QMP command (without arguments) on the QEMU whose
// socket is at socket: greeting, capabilities negotiation, command. For
// "quit", QEMU closing the connection before answering counts as success.
func qmpExecute(ctx context.Context, socket, command string) error {
	ctx, cancel := context.WithTimeout(ctx, qmpTimeout)
	defer cancel()
	conn, err := dialUnix(ctx, socket)
	if err != nil {
		return fmt.Errorf("qmp: %w", err)
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()

	dec := json.NewDecoder(conn)
	var greeting map[string]json.RawMessage
	if err := dec.Decode(&greeting); err != nil {
		return fmt.Errorf("qmp greeting: %w", err)
	}
	if _, ok := greeting["QMP"]; !ok {
		return errors.New("qmp: no greeting from QEMU")
	}
	for _, cmd := range []string{"qmp_capabilities", command} {
		if _, err := fmt.Fprintf(conn, "{\"execute\":%q}\n", cmd); err != nil {
			return fmt.Errorf("qmp %s: %w", cmd, err)
		}
		err := qmpReply(dec)
		if cmd == "quit" && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("qmp %s: %w", cmd, err)
		}
	}
	return nil
}

// qmpReply reads messages until the reply to the last command, skipping
// asynchronous events.
func qmpReply(dec *json.Decoder) error {
	for {
		var msg struct {
			Return json.RawMessage `json:"return"`
			Error  *struct {
				Class string `json:"class"`
				Desc  string `json:"desc"`
			} `json:"error"`
		}
		if err := dec.Decode(&msg); err != nil {
			return err
		}
		switch {
		case msg.Error != nil:
			return fmt.Errorf("%s: %s", msg.Error.Class, msg.Error.Desc)
		case msg.Return != nil:
			return nil
		}
	}
}

// dialUnix connects to the unix socket at path. A path too long for a socket
// address is reached through its directory's descriptor in /proc.
func dialUnix(ctx context.Context, path string) (net.Conn, error) {
	var dialer net.Dialer
	if len(path) <= maxSocketPath {
		return dialer.DialContext(ctx, "unix", path)
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	short := "/proc/self/fd/" + strconv.Itoa(int(dir.Fd())) + "/" + filepath.Base(path)
	return dialer.DialContext(ctx, "unix", short)
}

package unikernel

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeQMP serves one QMP session on a unix socket at path: greeting,
// capabilities, then one command answered by reply (nil: close the
// connection without answering, as QEMU does on quit). It returns the
// commands it received.
func fakeQMP(t *testing.T, path string, reply func(cmd string) []string) <-chan []string {
	t.Helper()
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatalf("listen %s: %v", path, err)
	}
	got := make(chan []string, 1)
	go func() {
		defer l.Close()
		var cmds []string
		defer func() { got <- cmds }()
		conn, err := l.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintln(conn, `{"QMP": {"version": {"qemu": {"major": 7}}, "capabilities": []}}`)
		sc := bufio.NewScanner(conn)
		for sc.Scan() {
			var msg struct {
				Execute string `json:"execute"`
			}
			if err := json.Unmarshal(sc.Bytes(), &msg); err != nil {
				return
			}
			cmds = append(cmds, msg.Execute)
			if msg.Execute == "qmp_capabilities" {
				fmt.Fprintln(conn, `{"return": {}}`)
				continue
			}
			lines := reply(msg.Execute)
			if lines == nil {
				return
			}
			for _, line := range lines {
				fmt.Fprintln(conn, line)
			}
		}
	}()
	return got
}

func TestQMPExecute(t *testing.T) {
	tests := []struct {
		name    string
		command string
		reply   []string
		err     string
	}{
		{name: "answered after an event", command: "system_powerdown",
			reply: []string{`{"event": "POWERDOWN", "timestamp": {"seconds": 1, "microseconds": 2}}`, `{"return": {}}`}},
		{name: "refused", command: "system_powerdown",
			reply: []string{`{"error": {"class": "GenericError", "desc": "no ACPI"}}`}, err: "qmp system_powerdown: GenericError: no ACPI"},
		{name: "quit closes the connection", command: "quit", reply: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "qmp.sock")
			got := fakeQMP(t, path, func(string) []string { return tt.reply })
			err := qmpExecute(context.Background(), path, tt.command)
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || err.Error() != tt.err) {
				t.Errorf("qmpExecute = %v, want %q", err, tt.err)
			}
			if cmds := <-got; strings.Join(cmds, ",") != "qmp_capabilities,"+tt.command {
				t.Errorf("QEMU received %q, want capabilities then %s", cmds, tt.command)
			}
		})
	}
}

func TestQMPSocketBeyondTheAddressLimit(t *testing.T) {
	dir := t.TempDir()
	deep := filepath.Join(dir, strings.Repeat("d", 60), strings.Repeat("e", 60))
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	// Listen through a short relative name, as QEMU does in its working
	// directory.
	t.Chdir(deep)
	got := fakeQMP(t, qmpSocket, func(string) []string { return []string{`{"return": {}}`} })
	path := filepath.Join(deep, qmpSocket)
	if len(path) <= maxSocketPath {
		t.Fatalf("path %q is short enough to dial directly; the test wants a long one", path)
	}
	if err := qmpExecute(context.Background(), path, "system_powerdown"); err != nil {
		t.Errorf("qmpExecute on a %d-byte path: %v", len(path), err)
	}
	<-got
}

package kubeproc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"time"
)

var execLookPath = exec.LookPath

// stopGrace is how long the child has to stop once asked.
const stopGrace = 10 * time.Second

// ExecLauncher runs program as the child: the socket as file descriptor 3,
// ChildConfig on standard input, which is closed to ask it to stop (it is
// killed if it has not stopped stopGrace later). Its output goes to the
// root's standard error.
func ExecLauncher(program string, log *slog.Logger) Launcher {
	return func(ctx context.Context, cfg ChildConfig, ln *net.UnixListener) (func() error, error) {
		f, err := ln.File() // a duplicate: ln stays open for the next child
		if err != nil {
			return nil, fmt.Errorf("socket for %s: %w", program, err)
		}
		defer f.Close()
		cmd := exec.Command(program)
		cmd.ExtraFiles = []*os.File{f}
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("start %s: %w", program, err)
		}
		log.Debug("hedge-kube process", "pid", cmd.Process.Pid, "program", program)
		exited := make(chan struct{})
		var werr error
		go func() {
			defer close(exited)
			werr = cmd.Wait()
		}()
		if err := json.NewEncoder(stdin).Encode(cfg); err != nil {
			_ = cmd.Process.Kill()
			<-exited
			return nil, fmt.Errorf("configure %s: %w", program, err)
		}
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			select {
			case <-exited:
				return
			case <-ctx.Done():
			}
			_ = stdin.Close()
			select {
			case <-exited:
			case <-time.After(stopGrace):
				log.Warn("hedge-kube did not stop; killing it", "pid", cmd.Process.Pid)
				_ = cmd.Process.Kill()
			}
		}()
		return func() error {
			<-exited
			<-stopped
			if werr != nil && ctx.Err() == nil {
				return fmt.Errorf("%s: %w", program, werr)
			}
			return nil
		}, nil
	}
}

// ReadConfig reads the ChildConfig the root wrote on stdin. The returned
// channel is closed when stdin ends: the root wants the child to stop,
// or is gone.
func ReadConfig(stdin *os.File) (ChildConfig, <-chan struct{}, error) {
	var cfg ChildConfig
	dec := json.NewDecoder(stdin)
	if err := dec.Decode(&cfg); err != nil {
		return cfg, nil, fmt.Errorf("read the root's configuration on stdin: %w", err)
	}
	if cfg.Secret == "" || cfg.RootSocket == "" || cfg.Store == "" {
		return cfg, nil, errors.New("read the root's configuration on stdin: secret, root_socket and store are required")
	}
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		buf := make([]byte, 64)
		for {
			if _, err := stdin.Read(buf); err != nil {
				return
			}
		}
	}()
	return cfg, gone, nil
}

// InheritedListener is the socket the root passed as file descriptor 3.
func InheritedListener() (*net.UnixListener, error) {
	f := os.NewFile(3, ChildSocket)
	if f == nil {
		return nil, errors.New("no socket on file descriptor 3: hedge-kube is started by hedge root or hedge up")
	}
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("socket on file descriptor 3: %w", err)
	}
	ul, ok := ln.(*net.UnixListener)
	if !ok {
		ln.Close()
		return nil, errors.New("file descriptor 3 is not a unix socket")
	}
	return ul, nil
}

// DupListener returns a listener on a duplicate of ln's socket, which the
// caller may close without closing ln: what a child process gets, for a
// child run in-process.
func DupListener(ln *net.UnixListener) (net.Listener, error) {
	f, err := ln.File()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return net.FileListener(f)
}

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hedgeorch/hedge/internal/simworker"
)

// The simulated workers run in simulation hosts: child processes of the
// bench, each holding the fleets of a few clusters. One process cannot hold
// them all: a simulated worker keeps about filesPerWorker connections open,
// 10,000 of them ~40,000 files, over the hard limit of open files (20,000
// here, and raising it needs CAP_SYS_RESOURCE); one run stopped at 6,692
// joins. A host is the bench binary started with simHostEnv set.

// simHostEnv carries a host's simHostSpec as JSON, in the environment
// rather than the arguments, which ps shows, since it holds a join token.
const simHostEnv = "HEDGE_BENCH_SIM_HOST"

// filesPerWorker is what one simulated worker holds open: its connections
// for the report and the two long-polls, and one being redialled.
const filesPerWorker = 4

// fleetsAtOnce is how many clusters' simulated workers join at once in
// one simulation host (the hosts start one after the other; each fleet
// joins 8 at a time): joining every fleet together made a storm of TLS
// handshakes and certificate signings that timed out and were retried, on
// two cores, long before the fleet's steady state was reached.
const fleetsAtOnce = 2

// simHostSpec is what one simulation host runs.
type simHostSpec struct {
	Clusters  []string      `json:"clusters"` // link URLs
	Names     []string      `json:"names"`    // the clusters' names, for worker names and logs
	Workers   int           `json:"workers"`  // per cluster
	Token     string        `json:"token"`
	Heartbeat time.Duration `json:"heartbeat"`
}

// simHost is a simulation host's main: it joins its fleets (fleetsAtOnce
// at a time), writes "ready" on stdout, and keeps them running until its
// stdin closes (the bench ended, or died).
func simHost(spec string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	var s simHostSpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil || len(s.Clusters) != len(s.Names) {
		fmt.Printf("error: %s: a bad spec (%v)\n", simHostEnv, err)
		return 2
	}
	ctx, stop := context.WithCancel(context.Background())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
	}()
	var mu sync.Mutex
	var fleets []*simworker.Fleet
	var errs []error
	var wg sync.WaitGroup
	slots := make(chan struct{}, fleetsAtOnce)
	for i, url := range s.Clusters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			f, err := simworker.Start(ctx, simworker.Config{Cluster: url, Token: s.Token,
				Prefix: s.Names[i] + "-w", Count: s.Workers, ReportInterval: s.Heartbeat,
				Logger: log.With("cluster", s.Names[i])})
			<-slots
			mu.Lock()
			defer mu.Unlock()
			if f != nil {
				fleets = append(fleets, f)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", s.Names[i], err))
			}
		}()
	}
	wg.Wait()
	code := 0
	if err := errors.Join(errs...); err != nil {
		fmt.Printf("error: %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
		stop()
		code = 1
	} else {
		fmt.Println("ready")
	}
	<-ctx.Done()
	for _, f := range fleets {
		f.Wait()
	}
	return code
}

// simHostProc is a running simulation host.
type simHostProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
}

// workersPerHost is how many simulated workers one host may run, from the
// hard limit of open files, which a Go program raises its soft limit to.
func workersPerHost() (int, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("open files limit: %w", err)
	}
	n := (int(min(lim.Max, 1<<20)) - 1024) / filesPerWorker
	if n < 1 {
		return 0, fmt.Errorf("open files limit %d: too low for a simulated worker", lim.Max)
	}
	return n, nil
}

// startSimHost starts a host for spec and waits until its fleets joined.
// Its log goes to logPath.
func startSimHost(ctx context.Context, spec simHostSpec, logPath string) (*simHostProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("simulation host: %w", err)
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own descriptor
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), simHostEnv+"="+string(b))
	cmd.Stderr = logf
	// Dies with the bench: the kernel ends it if the bench is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start a simulation host: %w", err)
	}
	h := &simHostProc{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- sc.Text()
		} else {
			line <- "error: exited before its fleets joined (log: " + logPath + ")"
		}
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
		close(h.done)
	}()
	select {
	case l := <-line:
		if l != "ready" {
			h.close()
			return nil, fmt.Errorf("simulation host of %s: %s", strings.Join(spec.Names, ","), strings.TrimPrefix(l, "error: "))
		}
		return h, nil
	case <-ctx.Done():
		h.close()
		return nil, ctx.Err()
	}
}

func (h *simHostProc) pid() int { return h.cmd.Process.Pid }

// close ends the host: its stdin closes, and it is killed if it has not
// stopped its workers within 30 s.
func (h *simHostProc) close() {
	_ = h.stdin.Close()
	select {
	case <-h.done:
	case <-time.After(30 * time.Second):
		_ = h.cmd.Process.Kill()
		<-h.done
	}
}

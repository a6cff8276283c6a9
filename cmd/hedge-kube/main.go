// Command hedge-kube drives Kubernetes clusters and Helm enablers for a
// Hedge root. It is not run by hand: hedge root (or hedge up) starts it,
// found next to its own executable or on PATH, when the first Kubernetes
// cluster or chart repository is added, and forwards the Kubernetes API to
// it over a unix socket in its data directory. Keeping client-go and Helm
// in this program keeps them out of the hedge binary and its memory.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/hedgeorch/hedge/internal/kube"
	"github.com/hedgeorch/hedge/internal/kube/kubeproc"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "hedge-kube:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, gone, err := kubeproc.ReadConfig(os.Stdin)
	if err != nil {
		return err
	}
	ln, err := kubeproc.InheritedListener()
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("program", kubeproc.Program)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-gone: // the root closed our stdin: stop
			cancel()
		case <-ctx.Done():
		}
	}()
	c, err := kube.NewChild(cfg, log)
	if err != nil {
		ln.Close()
		return err
	}
	return c.Serve(ctx, ln)
}

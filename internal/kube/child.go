package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/hedgeorch/hedge/internal/kube/kubeproc"
	"github.com/hedgeorch/hedge/internal/store"
)

// Child is hedge-kube: a Manager with its own store, serving the API the
// root forwards to it and linking its clusters to the root over the root's
// socket.
type Child struct {
	m   *Manager
	st  store.Store
	h   http.Handler
	log *slog.Logger
}

// NewChild opens the child's store and loads its state; nothing runs
// until Serve.
func NewChild(cfg kubeproc.ChildConfig, log *slog.Logger) (*Child, error) {
	var pc *PressureConfig
	if len(cfg.Pressure) > 0 && string(cfg.Pressure) != "null" {
		pc = &PressureConfig{}
		if err := json.Unmarshal(cfg.Pressure, pc); err != nil {
			return nil, fmt.Errorf("pressure configuration: %w", err)
		}
	}
	st, err := store.OpenBolt(cfg.Store)
	if err != nil {
		return nil, err
	}
	root := kubeproc.NewRootClient(cfg.RootSocket, cfg.Secret, log)
	keyFile := cfg.SealKeyFile
	if keyFile == "" {
		keyFile = filepath.Join(filepath.Dir(cfg.Store), kubeproc.DefaultSealKeyFile)
	}
	m, err := New(Config{Store: st, SealKeyFile: keyFile, Root: root, Logger: log, Pressure: pc})
	if err != nil {
		st.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	hc := huma.DefaultConfig("Hedge Kubernetes", "")
	hc.OpenAPIPath, hc.DocsPath = "", ""
	hc.SchemasPath = "/api/schemas" // the $schema links read as the root's
	Register(humago.New(mux, hc), m, APIOptions{RequireAdmin: requireAdmin, Viewer: viewer, Logger: log})
	return &Child{m: m, st: st, h: kubeproc.Authenticate(cfg.Secret, mux), log: log}, nil
}

// requireAdmin refuses callers the root did not vouch for as admins.
func requireAdmin(ctx context.Context) error {
	if !kubeproc.CallerFrom(ctx).Admin {
		return huma.Error403Forbidden("this needs the Admin role")
	}
	return nil
}

// viewer is the caller the root vouched for.
func viewer(ctx context.Context) Viewer {
	c := kubeproc.CallerFrom(ctx)
	return Viewer{UserID: c.UserID, Admin: c.Admin}
}

// Manager is the child's Kubernetes manager.
func (c *Child) Manager() *Manager { return c.m }

// Serve runs the manager and answers the root on ln until ctx ends, then
// stops both and closes the store. It closes ln.
func (c *Child) Serve(ctx context.Context, ln net.Listener) error {
	defer c.st.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := &http.Server{Handler: c.h, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.m.Run(ctx)
	}()
	var err error
	select {
	case <-ctx.Done():
	case err = <-served:
	}
	cancel()
	sctx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	_ = srv.Shutdown(sctx)
	if err == nil {
		err = <-served
	}
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

package role

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/metrics/glances"
	"github.com/hedgeorch/hedge/internal/metrics/prom"
	"github.com/hedgeorch/hedge/internal/runtime"
	"github.com/hedgeorch/hedge/internal/runtime/containerd"
	"github.com/hedgeorch/hedge/internal/runtime/docker"
	"github.com/hedgeorch/hedge/internal/runtime/unikernel"
	"github.com/hedgeorch/hedge/internal/worker"
)

// Container engines a worker can use.
const (
	EngineAuto       = ""
	EngineContainerd = "containerd"
	EngineDocker     = "docker"
	EngineNone       = "none"
)

// addRuntimes gives the worker its container engine (chosen, or detected by
// socket: containerd first, then Docker) and the unikernel runtime when qemu
// is installed. The process runtime is always there. An engine that was asked
// for by name and cannot be reached is an error; a detected one that fails is
// a warning.
func addRuntimes(ctx context.Context, w *worker.Worker, dir string, cfg WorkerConfig) error {
	log := cfg.Logger
	engine := cfg.ContainerRuntime
	if engine == EngineAuto {
		switch {
		case socketExists(containerd.DefaultAddress):
			engine = EngineContainerd
		case socketExists(dockerSocket):
			engine = EngineDocker
		default:
			engine = EngineNone
		}
	}
	// The engine's client is built on first use (runtime.Lazy): an idle
	// worker, or one that only runs processes, never pays for it. Here the
	// engine's socket is only checked to accept connections.
	var d runtime.Driver
	var err error
	switch engine {
	case EngineNone:
	case EngineContainerd:
		err = probeSocket(containerd.DefaultAddress)
		d = runtime.Lazy(api.VirtContainer, engine, true, func(ctx context.Context) (runtime.Driver, error) {
			return containerd.New(ctx, containerd.Options{DataDir: filepath.Join(dir, "containerd"), OnProgress: w.OnProgress,
				Logger: log, RegistryConfig: cfg.RegistryConfig, PlainHTTP: cfg.PlainHTTP, PullPolicy: cfg.PullPolicy})
		})
	case EngineDocker:
		build := func(ctx context.Context) (runtime.Driver, error) {
			return docker.New(ctx, docker.Options{DataDir: filepath.Join(dir, "docker"), OnProgress: w.OnProgress,
				Logger: log, RegistryConfig: cfg.RegistryConfig, PullPolicy: cfg.PullPolicy})
		}
		if host := os.Getenv("DOCKER_HOST"); host != "" {
			// Not a socket to probe: build it now, which pings the daemon.
			d, err = build(ctx)
		} else {
			err = probeSocket(dockerSocket)
			d = runtime.Lazy(api.VirtContainer, engine, false, build)
		}
	default:
		return fmt.Errorf("--container-runtime %q: want containerd, docker or none", engine)
	}
	switch {
	case err != nil && cfg.ContainerRuntime != EngineAuto:
		return fmt.Errorf("container runtime %s: %w", engine, err)
	case err != nil:
		log.Warn("container runtime detected but not usable; containers will not run here", "engine", engine, "err", err)
	case d != nil:
		w.AddDriver(d)
		log.Info("container runtime ready", "engine", engine)
	}
	u, err := unikernel.New(unikernel.Options{DataDir: filepath.Join(dir, "unikernel"), OnProgress: w.OnProgress, Logger: log})
	switch {
	case errors.Is(err, runtime.ErrUnavailable):
		log.Info("unikernel runtime not available (no qemu)")
	case err != nil:
		log.Warn("unikernel runtime", "err", err)
	default:
		w.AddDriver(u)
	}
	return nil
}

// dockerSocket is where Docker listens by default.
const dockerSocket = "/var/run/docker.sock"

// probeSocket checks that a daemon accepts connections on the unix socket at
// path, wrapping runtime.ErrUnavailable when it does not.
func probeSocket(path string) error {
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return fmt.Errorf("socket %s: %w: %w", path, runtime.ErrUnavailable, err)
	}
	return c.Close()
}

func socketExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode()&os.ModeSocket != 0
}

// metricsToken returns the token that protects a tier's metrics endpoints:
// the configured one, or one generated on first start and kept (0600) in the
// tier's data directory, where a Prometheus or pressure-controller setup can
// read it.
func metricsToken(dir, configured string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	path := filepath.Join(dir, "metrics-token")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	var b [24]byte
	_, _ = rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("store metrics token: %w", err)
	}
	return tok, nil
}

// requireToken guards a metrics handler with the metrics token (bearer, or
// basic auth with it as the password, as Prometheus and Glances clients do).
func requireToken(token string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			_, got, _ = r.BasicAuth()
		}
		if got == "" || !constantEqual(got, token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hedge metrics"`)
			http.Error(w, "metrics need the metrics token (see metrics-token in the data directory)", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// serveWorkerMetrics serves the Glances-compatible view of the host (/api/3,
// /api/4) and Prometheus /metrics on addr until ctx ends. A port that is
// taken (a real Glances, another worker) is a warning, not a failure.
func serveWorkerMetrics(ctx context.Context, addr, token string, log *slog.Logger) {
	sampler := glances.NewSampler(glances.SamplerOptions{Source: glances.NewHostSource(), Logger: log})
	go func() { _ = sampler.Run(ctx) }()
	mux := http.NewServeMux()
	mux.Handle("/api/", glances.NewHandler(glances.Options{Sampler: sampler, Token: token}))
	// The Prometheus registry (its collectors and descriptions) is built
	// at the first scrape: a worker nobody scrapes does not keep it.
	promHandler := sync.OnceValue(func() http.Handler { return prom.Handler(prom.NewRegistry(prom.WithHost(sampler))) })
	mux.Handle("/metrics", requireToken(token, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		promHandler().ServeHTTP(w, r)
	})))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Warn("metrics exporter not started", "addr", addr, "err", err)
		return
	}
	log.Info("metrics exporter listening (Glances API v3/v4 and Prometheus)", "addr", ln.Addr().String())
	go func() { _ = serve(ctx, ln, mux) }()
}

func constantEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

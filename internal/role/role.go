package role

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/auth"
	"github.com/hedgeorch/hedge/internal/cluster"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/metrics"
	"github.com/hedgeorch/hedge/internal/metrics/prom"
	"github.com/hedgeorch/hedge/internal/root"
	"github.com/hedgeorch/hedge/internal/runtime/process"
	"github.com/hedgeorch/hedge/internal/store"
	"github.com/hedgeorch/hedge/internal/worker"
)

// RootConfig configures `hedge root`.
type RootConfig struct {
	DataDir string
	Addr    string
	// AdminPassword sets the admin password (HEDGE_ADMIN_PASSWORD); when empty
	// one is generated on first start and printed once to Out.
	AdminPassword  string
	ClusterTimeout time.Duration
	// MetricsToken protects /metrics; generated and kept in the data dir if "".
	MetricsToken string
	// Pressure puts the nodes of Kubernetes clusters under pressure control.
	Pressure PressureConfig
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client (for login limits and the audit log); none by default.
	TrustedProxies []netip.Prefix
	// CORSOrigins are the web origins allowed to call the API from a
	// browser (root.WithCORS), such as Oakestra's dashboard; none by default.
	CORSOrigins []string
	// KubeProgram is the hedge-kube program (found next to hedge, then on
	// PATH, when empty).
	KubeProgram string
	Logger      *slog.Logger
	Out         io.Writer
	// Ready, when set, is called with the API URL once it is listening.
	Ready func(url string)
}

// ClusterConfig configures `hedge cluster`.
type ClusterConfig struct {
	DataDir   string
	Name      string
	Root      string // URL of the root
	JoinToken string
	Addr      string // where workers dial in
	// WorkerTokens are extra join tokens accepted from workers.
	WorkerTokens []string
	NodeTimeout  time.Duration
	Pressure     PressureConfig
	MetricsToken string
	Logger       *slog.Logger
	Ready        func(url string)
}

// WorkerConfig configures `hedge worker`.
type WorkerConfig struct {
	DataDir   string
	Name      string
	Cluster   string // URL of the cluster
	JoinToken string
	Labels    map[string]string
	StopGrace time.Duration
	// Capacity, when set, is what the worker offers to instances instead of
	// the whole machine.
	Capacity *api.Resources
	Logger   *slog.Logger
	// ReportInterval is the heartbeat to the cluster.
	ReportInterval time.Duration
	// ContainerRuntime is containerd, docker, none, or "" to detect one.
	ContainerRuntime string
	// RegistryConfig is a docker-style config.json with registry credentials.
	RegistryConfig string
	// PlainHTTP lists registries that may be reached over plain HTTP.
	PlainHTTP []string
	// PullPolicy is if-not-present (default), always or never.
	PullPolicy string
	// MetricsAddr serves the Glances-compatible API and Prometheus /metrics
	// ("" to turn off).
	MetricsAddr string
	// MetricsToken protects them; generated and kept in the data dir if "".
	MetricsToken string
}

// RunRoot serves the root until ctx ends.
func RunRoot(ctx context.Context, cfg RootConfig) error {
	st, err := store.OpenBolt(filepath.Join(cfg.DataDir, "root", "state.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	r, _, err := newRoot(st, cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen for the API on %s: %w", cfg.Addr, err)
	}
	url := "http://" + ln.Addr().String()
	cfg.Logger.Info("root listening", "url", url)
	if cfg.Ready != nil {
		cfg.Ready(url)
	}
	go r.Run(ctx)
	tok, err := metricsToken(filepath.Join(cfg.DataDir, "root"), cfg.MetricsToken)
	if err != nil {
		return err
	}
	return serve(ctx, ln, withMetrics(root.WithCORS(r.Handler(), cfg.CORSOrigins), rootMetrics(r, tok)))
}

func newRoot(st store.Store, cfg RootConfig) (*root.Root, *auth.Service, error) {
	au, err := auth.NewService(st, auth.Options{Logger: cfg.Logger, TrustedProxies: cfg.TrustedProxies})
	if err != nil {
		return nil, nil, fmt.Errorf("auth: %w", err)
	}
	generated, err := au.EnsureAdmin(cfg.AdminPassword)
	if err != nil {
		return nil, nil, fmt.Errorf("admin user: %w", err)
	}
	if generated != "" && cfg.Out != nil {
		fmt.Fprintf(cfg.Out, "\nGenerated password for user admin (shown only this once, stored hashed):\n\n    %s\n\nSet HEDGE_ADMIN_PASSWORD before the first start to choose it yourself.\n\n", generated)
	}
	kp, err := cfg.Pressure.kubePressure(cfg.MetricsToken)
	if err != nil {
		return nil, nil, err
	}
	kubeLevel := "info"
	if cfg.Logger.Enabled(context.Background(), slog.LevelDebug) {
		kubeLevel = "debug"
	}
	kube := root.KubeOptions{Dir: filepath.Join(cfg.DataDir, "root"), Program: cfg.KubeProgram, LogLevel: kubeLevel}
	r, err := root.New(root.Config{Store: st, Auth: au, Logger: cfg.Logger, ClusterTimeout: cfg.ClusterTimeout, KubePressure: kp, Kube: kube})
	if err != nil {
		return nil, nil, err
	}
	return r, au, nil
}

// RunCluster runs a cluster linked to its root until ctx ends.
func RunCluster(ctx context.Context, cfg ClusterConfig) error {
	st, err := store.OpenBolt(filepath.Join(cfg.DataDir, "cluster", "state.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	cfg.Pressure.StateDir = filepath.Join(cfg.DataDir, "cluster")
	policy, targets, err := cfg.Pressure.build(ctx, cfg.Logger)
	if err != nil {
		return err
	}
	c, err := cluster.New(cluster.Config{Name: cfg.Name, Store: st, Logger: cfg.Logger, NodeTimeout: cfg.NodeTimeout, WorkerTokens: cfg.WorkerTokens,
		Pressure: policy, PressureInterval: cfg.Pressure.Interval, PressureTargets: targets})
	if err != nil {
		return err
	}
	id, err := link.Connect(ctx, nil, cfg.Logger, filepath.Join(cfg.DataDir, "cluster", "identity.json"), cfg.Root, cfg.JoinToken, cfg.Name)
	if err != nil {
		return err
	}
	cfg.Logger.Info("cluster joined root", "cluster_id", id.ID, "root", cfg.Root)
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen for workers on %s: %w", cfg.Addr, err)
	}
	url := "http://" + ln.Addr().String()
	cfg.Logger.Info("cluster listening for workers", "url", url)
	if cfg.Ready != nil {
		cfg.Ready(url)
	}
	go c.Run(ctx)
	go link.Run(ctx, link.NewClient(cfg.Root, id.Credential, nil), c, link.RunOptions{Logger: cfg.Logger.With("link", "root")})
	tok, err := metricsToken(filepath.Join(cfg.DataDir, "cluster"), cfg.MetricsToken)
	if err != nil {
		return err
	}
	return serve(ctx, ln, withMetrics(c.Handler().Handler(), requireToken(tok, prom.Handler(prom.NewRegistry()))))
}

// RunWorker runs a worker linked to its cluster until ctx ends. Instances
// keep running when the worker stops; the next start re-attaches them.
func RunWorker(ctx context.Context, cfg WorkerConfig) error {
	dir := filepath.Join(cfg.DataDir, "worker")
	st, err := store.OpenBolt(filepath.Join(dir, "state.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	w := worker.New(worker.Config{Name: cfg.Name, Labels: cfg.Labels, Store: st, Host: metrics.NewHost(dir), Logger: cfg.Logger, StopGrace: cfg.StopGrace, Capacity: cfg.Capacity,
		TaskFileDirs: []worker.TaskFileDir{
			{Virtualization: api.VirtProcess, Dir: filepath.Join(dir, "process")},
			{Virtualization: api.VirtUnikernel, Dir: filepath.Join(dir, "unikernel", "vm")},
			{Virtualization: api.VirtContainer, Dir: filepath.Join(dir, "containerd")},
			{Virtualization: api.VirtContainer, Dir: filepath.Join(dir, "docker")},
		}})
	pd, err := process.New(process.Options{DataDir: filepath.Join(dir, "process"), Logger: cfg.Logger})
	if err != nil {
		return fmt.Errorf("process runtime: %w", err)
	}
	w.AddDriver(pd)
	if err := addRuntimes(ctx, w, dir, cfg); err != nil {
		return err
	}
	if cfg.MetricsAddr != "" {
		tok, err := metricsToken(dir, cfg.MetricsToken)
		if err != nil {
			return err
		}
		serveWorkerMetrics(ctx, cfg.MetricsAddr, tok, cfg.Logger)
	}
	id, err := link.Connect(ctx, nil, cfg.Logger, filepath.Join(dir, "identity.json"), cfg.Cluster, cfg.JoinToken, cfg.Name)
	if err != nil {
		return err
	}
	cfg.Logger.Info("worker joined cluster", "node_id", id.ID, "cluster", cfg.Cluster, "runtimes", w.Runtimes())
	if err := w.Start(ctx); err != nil {
		return err
	}
	link.Run(ctx, link.NewClient(cfg.Cluster, id.Credential, nil), w, link.RunOptions{Logger: cfg.Logger.With("link", "cluster"), ReportInterval: cfg.ReportInterval})
	w.Wait()
	return nil
}

// UpConfig configures `hedge up`: root, cluster and worker in one process.
type UpConfig struct {
	DataDir       string
	APIAddr       string
	ClusterAddr   string
	Name          string
	AdminPassword string
	Labels        map[string]string
	// Demo deploys the bundled example application once Hedge is up.
	Demo     bool
	Pressure PressureConfig
	// KubeProgram is the hedge-kube program; see RootConfig.
	KubeProgram string
	// Worker carries the worker's runtime and metrics settings.
	Worker WorkerConfig
	// CORSOrigins are the web origins allowed to call the API from a
	// browser, such as Oakestra's dashboard served elsewhere.
	CORSOrigins []string
	Logger      *slog.Logger
	Out         io.Writer
	Ready       func(url string)
}

// RunUp runs all three tiers in one process. They talk over loopback HTTP
// exactly as separate processes would, so `hedge up` exercises the same paths.
func RunUp(ctx context.Context, cfg UpConfig) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := store.OpenBolt(filepath.Join(cfg.DataDir, "root", "state.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	rcfg := RootConfig{DataDir: cfg.DataDir, Addr: cfg.APIAddr, AdminPassword: cfg.AdminPassword, Pressure: cfg.Pressure, KubeProgram: cfg.KubeProgram,
		MetricsToken: cfg.Worker.MetricsToken, CORSOrigins: cfg.CORSOrigins, Logger: cfg.Logger.With("tier", "root"), Out: cfg.Out}
	r, au, err := newRoot(st, rcfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		return fmt.Errorf("listen for the API on %s: %w", cfg.APIAddr, err)
	}
	apiURL := "http://" + ln.Addr().String()
	clusterToken, err := au.CreateJoinToken(auth.JoinKindCluster, 10*time.Minute)
	if err != nil {
		return err
	}
	workerToken := randomToken()

	// The three tiers run until ctx ends or one of them fails; then all are
	// stopped and waited for, so that a worker finishes stopping and removing
	// the instances it was asked to remove.
	errs := make(chan error, 3)
	var wg sync.WaitGroup
	run := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				errs <- err
			}
			cancel()
		}()
	}
	go r.Run(ctx)
	tok, err := metricsToken(filepath.Join(cfg.DataDir, "root"), cfg.Worker.MetricsToken)
	if err != nil {
		return err
	}
	run(func() error {
		return serve(ctx, ln, withMetrics(root.WithCORS(r.Handler(), cfg.CORSOrigins), rootMetrics(r, tok)))
	})
	clusterURL := make(chan string, 1)
	run(func() error {
		return RunCluster(ctx, ClusterConfig{
			DataDir: cfg.DataDir, Name: cfg.Name, Root: apiURL, JoinToken: clusterToken, Addr: cfg.ClusterAddr,
			WorkerTokens: []string{workerToken}, Pressure: cfg.Pressure, MetricsToken: cfg.Worker.MetricsToken, Logger: cfg.Logger.With("tier", "cluster"),
			Ready: func(u string) { clusterURL <- u },
		})
	})
	select {
	case curl := <-clusterURL:
		wcfg := cfg.Worker
		wcfg.DataDir, wcfg.Name, wcfg.Cluster, wcfg.JoinToken, wcfg.Labels = cfg.DataDir, cfg.Name, curl, workerToken, cfg.Labels
		wcfg.Logger = cfg.Logger.With("tier", "worker")
		run(func() error { return RunWorker(ctx, wcfg) })
		if cfg.Ready != nil {
			cfg.Ready(apiURL)
		}
		if cfg.Demo {
			go func() {
				if err := deployDemo(ctx, r, cfg.Out); err != nil && ctx.Err() == nil {
					cfg.Logger.Error("demo", "err", err)
				}
			}()
		}
	case <-ctx.Done():
	}
	<-ctx.Done()
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

func randomToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "hedge-worker-" + base64.RawURLEncoding.EncodeToString(b[:])
}

// serve runs an HTTP server on ln until ctx ends. Write timeouts leave room
// for the link's long-polls.
func serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 1 << 20}
	go func() {
		<-ctx.Done()
		// Long-polls would hold a graceful shutdown for their whole wait:
		// give requests a second, then close what is left.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			_ = srv.Close()
		}
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Hostname is the default name of a cluster or worker.
func Hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "hedge"
	}
	return h
}

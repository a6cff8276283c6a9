package role

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
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
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/auth"
	"github.com/hedgeorch/hedge/internal/cluster"
	"github.com/hedgeorch/hedge/internal/ipam"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/metrics"
	"github.com/hedgeorch/hedge/internal/metrics/prom"
	"github.com/hedgeorch/hedge/internal/pki"
	"github.com/hedgeorch/hedge/internal/root"
	"github.com/hedgeorch/hedge/internal/runtime/process"
	"github.com/hedgeorch/hedge/internal/store"
	"github.com/hedgeorch/hedge/internal/worker"
)

// RootConfig configures `hedge root`.
type RootConfig struct {
	DataDir string
	Addr    string
	// Store is where the state lives: "" (or bolt:PATH) for a bbolt file in
	// DataDir, etcd://host:port,... for etcd shared by root replicas, of
	// which one leads (docs/adr/015-root-on-etcd.md).
	Store string
	// EtcdTLS is the client certificate for etcds:// stores.
	EtcdTLS EtcdTLS
	// LeaseTTL is the leader's etcd lease (leader.DefaultTTL when zero).
	LeaseTTL time.Duration
	// AdvertiseURL is where the other replicas on etcd reach this one's API
	// to forward writes while it leads; derived from Addr (and the host
	// name when Addr names no host) when empty.
	AdvertiseURL string
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
	// SealKeyFile is the key that seals Kubernetes credentials and Helm
	// values, apart from the store (root.KubeOptions.SealKeyFile).
	SealKeyFile string
	// TLS configures the root's certificates; the defaults need nothing.
	TLS TLSConfig
	// Network are the instance network's settings (root.Config.Network).
	Network ipam.Settings
	Logger  *slog.Logger
	Out     io.Writer
	// Ready, when set, is called with the API URL and the path of the CA
	// once it is listening.
	Ready func(url, caPath string)
}

// ClusterConfig configures `hedge cluster`.
type ClusterConfig struct {
	DataDir   string
	Name      string
	Root      string // URL of the root
	JoinToken string
	// Trust is the root's CA when the join token does not carry its pin.
	Trust Trust
	Addr  string // where workers dial in
	// WorkerTokens are extra join tokens accepted from workers.
	WorkerTokens []string
	NodeTimeout  time.Duration
	Pressure     PressureConfig
	MetricsToken string
	// Store is where the cluster's state lives: "" for a bbolt file in
	// DataDir, or etcd://host:port,.../prefix shared by the cluster's
	// replicas, of which one leads (docs/adr/015-root-on-etcd.md). Each
	// cluster needs a prefix of its own.
	Store string
	// EtcdTLS is the client certificate for etcds:// stores.
	EtcdTLS EtcdTLS
	// LeaseTTL is the leader's etcd lease (leader.DefaultTTL when zero).
	LeaseTTL time.Duration
	Logger   *slog.Logger
	Ready    func(url string)
}

// WorkerConfig configures `hedge worker`.
type WorkerConfig struct {
	DataDir   string
	Name      string
	Cluster   string // URL of the cluster
	JoinToken string
	// Trust is the root's CA when the join token does not carry its pin.
	Trust     Trust
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
	// Sandbox confines process instances (ADR 012); its Protect gets the
	// tier's data directory added.
	Sandbox process.Sandbox
	// Overlay is the instance network's data path (ADR 016).
	Overlay OverlayConfig
}

// RunRoot serves the root until ctx ends. On etcd it runs as one of the
// root's replicas (runReplica).
func RunRoot(ctx context.Context, cfg RootConfig) error {
	st, err := openRootStore(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	if store.EtcdClient(st) != nil {
		return runReplica(ctx, st, cfg)
	}
	ca, serving, err := replicaTLS(st, cfg)
	if err != nil {
		return err
	}
	h, err := leadingHandler(ctx, st, ca, serving, cfg)
	if err != nil {
		return err
	}
	return listenRoot(ctx, cfg, ca, serving, h)
}

// replicaTLS loads (or, first of all, makes) the root's CA and serving
// certificate; on etcd, the CA the replicas share.
func replicaTLS(st store.Store, cfg RootConfig) (*pki.CA, *pki.Serving, error) {
	dir := filepath.Join(cfg.DataDir, "root")
	if err := shareCA(st, dir, cfg.TLS); err != nil {
		return nil, nil, err
	}
	ca, serving, err := rootTLS(dir, cfg.TLS)
	if err != nil {
		return nil, nil, err
	}
	if err := saveSharedCA(st, dir, cfg.TLS); err != nil {
		return nil, nil, err
	}
	return ca, serving, nil
}

// leadingHandler builds the root over st, starts its loops (placement,
// failover, timers) and returns its handler: on bbolt always, on etcd
// while this replica leads.
func leadingHandler(ctx context.Context, st store.Store, ca *pki.CA, serving *pki.Serving, cfg RootConfig) (http.Handler, error) {
	r, _, err := newRoot(st, ca, cfg)
	if err != nil {
		return nil, err
	}
	tok, err := metricsToken(filepath.Join(cfg.DataDir, "root"), cfg.MetricsToken)
	if err != nil {
		return nil, err
	}
	go r.Run(ctx)
	return withMetrics(root.WithCORS(r.Handler(), cfg.CORSOrigins), rootMetrics(r, tok)), nil
}

// listenRoot serves h on the root's listeners until ctx ends.
func listenRoot(ctx context.Context, cfg RootConfig, ca *pki.CA, serving *pki.Serving, h http.Handler) error {
	lns, url, err := rootListeners(cfg, serving, ca.Pool())
	if err != nil {
		return err
	}
	caPath := filepath.Join(cfg.DataDir, "root", pki.CAFile)
	cfg.Logger.Info("root listening", "url", url, "ca", caPath, "ca_pin", ca.Pin())
	if cfg.Ready != nil {
		cfg.Ready(url, caPath)
	}
	go renewRoot(ctx, ca, serving, cfg.TLS, cfg.Logger)
	errs := make(chan error, len(lns))
	for _, l := range lns {
		go func() {
			hh := h
			if l.plain {
				hh = refuseLink(h)
			}
			errs <- serve(ctx, l.ln, hh)
		}()
	}
	var first error
	for range lns {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// listener is one of the root's listeners.
type listener struct {
	ln    net.Listener
	plain bool // --api-insecure-http: no TLS, no links
}

// rootListeners opens the API listener (TLS unless InsecureHTTP) and the
// link listener (always TLS) when one is asked for, and returns the URL
// of the API.
func rootListeners(cfg RootConfig, serving *pki.Serving, clients *x509.CertPool) ([]listener, string, error) {
	if cfg.TLS.InsecureHTTP && cfg.TLS.LinkAddr == "" {
		return nil, "", errors.New("--api-insecure-http: needs --link-addr, a TLS listener for clusters (tier links never run in plain text)")
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, "", fmt.Errorf("listen for the API on %s: %w", cfg.Addr, err)
	}
	url := "https://" + ln.Addr().String()
	lns := []listener{{ln: ln, plain: cfg.TLS.InsecureHTTP}}
	if cfg.TLS.InsecureHTTP {
		url = "http://" + ln.Addr().String()
		cfg.Logger.Warn("the API serves PLAIN HTTP (--api-insecure-http): passwords and tokens cross the network in clear unless a TLS-terminating proxy is in front", "addr", ln.Addr().String())
	} else {
		lns[0].ln = tls.NewListener(ln, serving.MutualConfig(clients))
	}
	if cfg.TLS.LinkAddr != "" {
		lln, err := net.Listen("tcp", cfg.TLS.LinkAddr)
		if err != nil {
			ln.Close()
			return nil, "", fmt.Errorf("listen for clusters on %s: %w", cfg.TLS.LinkAddr, err)
		}
		cfg.Logger.Info("root listening for clusters", "url", "https://"+lln.Addr().String())
		lns = append(lns, listener{ln: tls.NewListener(lln, serving.MutualConfig(clients))})
	}
	return lns, url, nil
}

// refuseLink keeps tier links off a plain-HTTP listener: their credentials
// and assignments never cross in clear.
func refuseLink(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/link/") {
			http.Error(w, "tier links need TLS: dial the root's --link-addr with https://", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func newRoot(st store.Store, ca *pki.CA, cfg RootConfig) (*root.Root, *auth.Service, error) {
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
	sealKey := cfg.SealKeyFile
	if sealKey != "" {
		// hedge-kube may run in another directory.
		if sealKey, err = filepath.Abs(sealKey); err != nil {
			return nil, nil, fmt.Errorf("--seal-key-file: %w", err)
		}
	}
	kube := root.KubeOptions{Dir: filepath.Join(cfg.DataDir, "root"), Program: cfg.KubeProgram, LogLevel: kubeLevel, SealKeyFile: sealKey}
	r, err := root.New(root.Config{Store: st, Auth: au, Logger: cfg.Logger, ClusterTimeout: cfg.ClusterTimeout, KubePressure: kp, Kube: kube, CA: ca, Network: cfg.Network})
	if err != nil {
		return nil, nil, err
	}
	return r, au, nil
}

// RunCluster runs a cluster linked to its root until ctx ends. On etcd it
// runs as one of the cluster's replicas (runClusterReplica).
func RunCluster(ctx context.Context, cfg ClusterConfig) error {
	st, err := openClusterStore(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	if store.EtcdClient(st) != nil {
		return runClusterReplica(ctx, st, cfg)
	}
	return runCluster(ctx, st, cfg)
}

// runCluster joins (or reconnects to) the root and serves the workers.
func runCluster(ctx context.Context, st store.Store, cfg ClusterConfig) error {
	cfg.Pressure.StateDir = filepath.Join(cfg.DataDir, "cluster")
	policy, targets, err := cfg.Pressure.build(ctx, cfg.Logger)
	if err != nil {
		return err
	}
	dir := filepath.Join(cfg.DataDir, "cluster")
	// One certificate, signed by the root at the join, serves the workers
	// and proves the cluster to the root.
	serving := pki.NewServing(nil)
	rootURL, secret, hc, err := joinTrust(ctx, cfg.Logger, dir, "--root", cfg.Root, pki.RootName, cfg.JoinToken, cfg.Trust, serving)
	if err != nil {
		return err
	}
	files := clusterFiles(dir)
	id, err := connectPeer(ctx, cfg.Logger, dir, rootURL, secret, cfg.Name, hc, serving, files)
	if err != nil {
		return err
	}
	cfg.Logger.Info("cluster joined root", "cluster_id", id.ID, "root", rootURL)
	if err := savePeerFiles(st, dir); err != nil {
		return err
	}
	lc := link.NewClient(rootURL, id.Credential, hc)
	c, err := cluster.New(cluster.Config{Name: cfg.Name, Store: st, Logger: cfg.Logger, NodeTimeout: cfg.NodeTimeout, WorkerTokens: cfg.WorkerTokens,
		Root: lc, Pressure: policy, PressureInterval: cfg.Pressure.Interval, PressureTargets: targets})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen for workers on %s: %w", cfg.Addr, err)
	}
	url := "https://" + ln.Addr().String()
	cfg.Logger.Info("cluster listening for workers", "url", url)
	if cfg.Ready != nil {
		cfg.Ready(url)
	}
	go c.Run(ctx)
	go link.Run(ctx, lc, c, link.RunOptions{Logger: cfg.Logger.With("link", "root")})
	go renewPeer(ctx, cfg.Logger, serving, files, hc, lc, cfg.Name)
	ln = tls.NewListener(ln, serving.MutualConfig(hc.Transport.(*http.Transport).TLSClientConfig.RootCAs))
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
	var np worker.NetPlane
	if plane, err := newOverlay(cfg.Overlay, dir, cfg.Cluster, cfg.Logger); err != nil {
		return err
	} else if plane != nil {
		defer plane.Close()
		np = plane
	}
	w := worker.New(worker.Config{Name: cfg.Name, Labels: cfg.Labels, Store: st, Host: metrics.NewHost(dir), Logger: cfg.Logger, StopGrace: cfg.StopGrace, Capacity: cfg.Capacity, Net: np,
		TaskFileDirs: []worker.TaskFileDir{
			{Virtualization: api.VirtProcess, Dir: filepath.Join(dir, "process")},
			{Virtualization: api.VirtUnikernel, Dir: filepath.Join(dir, "unikernel", "vm")},
			{Virtualization: api.VirtContainer, Dir: filepath.Join(dir, "containerd")},
			{Virtualization: api.VirtContainer, Dir: filepath.Join(dir, "docker")},
		}})
	sandbox := cfg.Sandbox
	sandbox.Protect = append(slices.Clone(sandbox.Protect), cfg.DataDir)
	pd, err := process.New(process.Options{DataDir: filepath.Join(dir, "process"), Logger: cfg.Logger, Sandbox: sandbox})
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
	cert := pki.NewServing(nil)
	clusterURL, secret, hc, err := joinTrust(ctx, cfg.Logger, dir, "--cluster", cfg.Cluster, pki.ClusterName, cfg.JoinToken, cfg.Trust, cert)
	if err != nil {
		return err
	}
	files := workerFiles(dir)
	id, err := connectPeer(ctx, cfg.Logger, dir, clusterURL, secret, cfg.Name, hc, cert, files)
	if err != nil {
		return err
	}
	cfg.Logger.Info("worker joined cluster", "node_id", id.ID, "cluster", clusterURL, "runtimes", w.Runtimes())
	if err := w.Start(ctx); err != nil {
		return err
	}
	lc := link.NewClient(clusterURL, id.Credential, hc)
	rctx, stopRenew := context.WithCancel(ctx)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		renewPeer(rctx, cfg.Logger, cert, files, hc, lc, cfg.Name)
	}()
	link.Run(ctx, lc, w, link.RunOptions{Logger: cfg.Logger.With("link", "cluster"), ReportInterval: cfg.ReportInterval})
	stopRenew()
	<-renewed
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
	// SealKeyFile: see RootConfig.
	SealKeyFile string
	// Worker carries the worker's runtime and metrics settings.
	Worker WorkerConfig
	// CORSOrigins are the web origins allowed to call the API from a
	// browser, such as Oakestra's dashboard served elsewhere.
	CORSOrigins []string
	// TLS configures the root's certificates (SANs, an operator's CA).
	TLS TLSConfig
	// Network are the root's instance network settings.
	Network ipam.Settings
	Logger  *slog.Logger
	Out     io.Writer
	// Ready is called with the API URL and the path of the CA.
	Ready func(url, caPath string)
}

// RunUp runs all three tiers in one process. They talk over loopback HTTPS
// exactly as separate processes would, so `hedge up` exercises the same paths.
func RunUp(ctx context.Context, cfg UpConfig) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := store.OpenBolt(filepath.Join(cfg.DataDir, "root", "state.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	rcfg := RootConfig{DataDir: cfg.DataDir, Addr: cfg.APIAddr, AdminPassword: cfg.AdminPassword, Pressure: cfg.Pressure, KubeProgram: cfg.KubeProgram, SealKeyFile: cfg.SealKeyFile,
		MetricsToken: cfg.Worker.MetricsToken, CORSOrigins: cfg.CORSOrigins, Network: cfg.Network, Logger: cfg.Logger.With("tier", "root"), Out: cfg.Out}
	rootDir := filepath.Join(cfg.DataDir, "root")
	ca, serving, err := rootTLS(rootDir, cfg.TLS)
	if err != nil {
		return err
	}
	r, au, err := newRoot(st, ca, rcfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		return fmt.Errorf("listen for the API on %s: %w", cfg.APIAddr, err)
	}
	apiURL := "https://" + ln.Addr().String()
	ln = tls.NewListener(ln, serving.MutualConfig(ca.Pool()))
	go renewRoot(ctx, ca, serving, cfg.TLS, cfg.Logger)
	trust := Trust{Pin: ca.Pin()}
	// The in-process cluster joins once, on the first start: a single-use
	// token that never leaves the process.
	clusterToken, _, err := au.IssueJoinToken(auth.JoinTokenSpec{Kind: auth.JoinKindCluster, TTL: 10 * time.Minute, MaxUses: 1})
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
			DataDir: cfg.DataDir, Name: cfg.Name, Root: apiURL, JoinToken: clusterToken, Trust: trust, Addr: cfg.ClusterAddr,
			WorkerTokens: []string{workerToken}, Pressure: cfg.Pressure, MetricsToken: cfg.Worker.MetricsToken, Logger: cfg.Logger.With("tier", "cluster"),
			Ready: func(u string) { clusterURL <- u },
		})
	})
	select {
	case curl := <-clusterURL:
		wcfg := cfg.Worker
		wcfg.DataDir, wcfg.Name, wcfg.Cluster, wcfg.JoinToken, wcfg.Labels, wcfg.Trust = cfg.DataDir, cfg.Name, curl, workerToken, cfg.Labels, trust
		wcfg.Logger = cfg.Logger.With("tier", "worker")
		run(func() error { return RunWorker(ctx, wcfg) })
		if cfg.Ready != nil {
			cfg.Ready(apiURL, filepath.Join(rootDir, pki.CAFile))
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

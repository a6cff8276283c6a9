// Command hedge is Hedge's single binary: the root, cluster and worker tiers
// (`hedge up` runs all three) and the client CLI.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/cli"
	"github.com/hedgeorch/hedge/internal/footprint"
	"github.com/hedgeorch/hedge/internal/ipam"
	"github.com/hedgeorch/hedge/internal/metrics"
	"github.com/hedgeorch/hedge/internal/netmap"
	"github.com/hedgeorch/hedge/internal/pressure"
	"github.com/hedgeorch/hedge/internal/role"
	"github.com/hedgeorch/hedge/internal/root"
	"github.com/hedgeorch/hedge/internal/runtime/process"
)

// version is set with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	process.RunInitIfAsked() // a process instance's sandbox init: a hidden mode, before anything else
	root.Version = version
	cmd := cli.NewRootCommand(cli.WithVersion(version))
	cmd.AddCommand(upCommand(), rootCommand(), clusterCommand(), workerCommand())
	cli.AttachClusterAdd(cmd)
	os.Exit(cli.Execute(context.Background(), cmd))
}

// serverFlags are shared by the server subcommands.
type serverFlags struct {
	dataDir  string
	logLevel string
}

func (f *serverFlags) bind(c *cobra.Command) {
	c.Flags().StringVar(&f.dataDir, "data-dir", "./hedge-data", "directory for this tier's state")
	c.Flags().StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
}

func (f *serverFlags) logger() *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(f.logLevel)); err != nil {
		lvl = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

// serverContext is the lifetime of a server role: until SIGINT or SIGTERM.
// Once the role has started, its start-up mappings of the executable are
// dropped (footprint.TrimAfter, docs/adr/010-idle-footprint.md).
func serverContext(log *slog.Logger) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go footprint.TrimAfter(ctx, footprint.StartupSettle, log)
	return ctx, stop
}

func parseLabels(ls []string) (map[string]string, error) {
	out := map[string]string{}
	for _, l := range ls {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--label %q: expected key=value", l)
		}
		out[k] = v
	}
	return out, nil
}

// pressureFlags configure resource-pressure control of a cluster.
type pressureFlags struct {
	role.PressureConfig
	cpu, memory, load, disk float64
	after, taintAfter, calm time.Duration
	hysteresis              float64
}

func (f *pressureFlags) bind(c *cobra.Command) {
	d := pressure.DefaultPolicy()
	c.Flags().BoolVar(&f.Enabled, "pressure", false, "protect nodes under resource pressure: limit, then taint and move instances off, then restore")
	c.Flags().Float64Var(&f.cpu, "pressure-cpu", d.Default.CPUPercent, "cpu % threshold (0: not watched)")
	c.Flags().Float64Var(&f.memory, "pressure-memory", d.Default.MemoryPercent, "memory % threshold (0: not watched)")
	c.Flags().Float64Var(&f.load, "pressure-load", d.Default.LoadPerCore, "1-minute load per core threshold (0: not watched)")
	c.Flags().Float64Var(&f.disk, "pressure-disk", d.Default.DiskPercent, "disk % threshold (0: not watched)")
	c.Flags().Float64Var(&f.hysteresis, "pressure-hysteresis", d.Hysteresis, "points under a threshold that count as back to normal")
	c.Flags().DurationVar(&f.after, "pressure-after", d.MinPressure, "over a threshold this long before limiting")
	c.Flags().DurationVar(&f.taintAfter, "pressure-taint-after", d.TaintAfter, "still under pressure this long after limiting before tainting")
	c.Flags().DurationVar(&f.calm, "pressure-calm", d.MinCalm, "back under every threshold this long before restoring")
	c.Flags().DurationVar(&f.Interval, "pressure-interval", 5*time.Second, "how often nodes are sampled")
	c.Flags().StringVar(&f.PolicyFile, "pressure-policy", "", "YAML file with default and per-node thresholds")
	c.Flags().StringVar(&f.NodesFile, "pressure-nodes", "", "FRACTAL nodes.yaml: more hosts to watch (Glances) and act on (Docker)")
}

// netFlags are the root's instance network settings (docs/networking.md).
// A flag left out keeps what the root stored at its first start (the
// default then); one that would renumber is refused.
type netFlags struct{ ipam.Settings }

func (f *netFlags) bind(c *cobra.Command) {
	d := ipam.Defaults()
	c.Flags().StringVar(&f.InstanceCIDR, "instance-cidr", "", fmt.Sprintf("instance network: every container and unikernel instance gets an address in it (first start default %s; kept after)", d.InstanceCIDR))
	c.Flags().StringVar(&f.ServiceCIDR, "service-cidr", "", fmt.Sprintf("range of services' rr_ip and closest_ip (first start default %s; kept after)", d.ServiceCIDR))
	c.Flags().IntVar(&f.ClusterPrefix, "cluster-prefix", 0, fmt.Sprintf("prefix length of the range each cluster gets of the instance network (first start default %d; kept after)", d.ClusterPrefix))
	c.Flags().IntVar(&f.WorkerPrefix, "worker-prefix", 0, fmt.Sprintf("prefix length of the subnet each worker gets of its cluster's range (first start default %d; kept after)", d.WorkerPrefix))
	c.Flags().BoolVar(&f.Encrypt, "overlay-encrypt", false, "carry traffic between workers through WireGuard instead of plain VXLAN (given at each start)")
}

func (f *pressureFlags) config() role.PressureConfig {
	p := f.PressureConfig
	p.Policy = pressure.Policy{
		Default:    pressure.Thresholds{CPUPercent: f.cpu, MemoryPercent: f.memory, LoadPerCore: f.load, DiskPercent: f.disk},
		Hysteresis: f.hysteresis, MinPressure: f.after, TaintAfter: f.taintAfter, MinCalm: f.calm,
	}
	return p
}

// workerFlags are the worker's runtime and metrics settings, shared by
// `hedge worker` and `hedge up`.
type workerFlags struct {
	role.WorkerConfig
}

func (f *workerFlags) bind(c *cobra.Command, metricsAddr string) {
	c.Flags().StringVar(&f.ContainerRuntime, "container-runtime", "", "container engine: containerd, docker or none (default: detected by socket)")
	c.Flags().StringVar(&f.RegistryConfig, "registry-config", "", "docker-style config.json with registry credentials")
	c.Flags().StringSliceVar(&f.PlainHTTP, "plain-http-registry", nil, "registry host that may be reached over plain HTTP (repeatable; loopback ones always may)")
	c.Flags().StringVar(&f.PullPolicy, "pull-policy", "if-not-present", "image pull policy: if-not-present, always or never")
	c.Flags().StringVar(&f.MetricsAddr, "metrics-addr", metricsAddr, "address of the Glances-compatible API (/api/3, /api/4) and Prometheus /metrics; empty to turn off")
	c.Flags().StringVar(&f.MetricsToken, "metrics-token", os.Getenv("HEDGE_METRICS_TOKEN"), "token for the metrics endpoints (default: generated, kept in <data-dir>/*/metrics-token)")
	c.Flags().Var(&uidFlag{&f.Sandbox.UIDs}, "instance-uids", "user ids for process instances, one per instance, first-last")
	c.Flags().StringVar(&f.Sandbox.Network, "instance-network", process.NetworkHost, "network of process instances: host (the node's) or private (own namespace, loopback only)")
	c.Flags().Var(&sandboxFlag{&f.Sandbox.Off}, "instance-sandbox", "on, or off to run process instances as the worker's user without namespaces (development without root only)")
	c.Flags().StringVar(&f.Overlay.Mode, "overlay", "", "instance network with service addresses: on or off (default: on when root or CAP_NET_ADMIN)")
	c.Flags().IntVar(&f.Overlay.TunnelPort, "tunnel-port", netmap.DefaultTunnelPort, "UDP port of this worker's tunnel end (VXLAN or WireGuard)")
	c.Flags().StringVar(&f.Overlay.TunnelAddr, "tunnel-addr", "", "underlay address other workers reach the tunnel at (default: this host's address toward its cluster)")
}

// uidFlag is --instance-uids.
type uidFlag struct{ r *process.UIDRange }

func (f *uidFlag) String() string {
	if f.r == nil || f.r.Count == 0 {
		return process.DefaultUIDs.String()
	}
	return f.r.String()
}

func (f *uidFlag) Set(s string) error {
	r, err := process.ParseUIDRange(s)
	if err != nil {
		return err
	}
	*f.r = r
	return nil
}

func (f *uidFlag) Type() string { return "first-last" }

// sandboxFlag is --instance-sandbox: on or off.
type sandboxFlag struct{ off *bool }

func (f *sandboxFlag) String() string {
	if f.off != nil && *f.off {
		return "off"
	}
	return "on"
}

func (f *sandboxFlag) Set(s string) error {
	switch s {
	case "on":
		*f.off = false
	case "off":
		*f.off = true
	default:
		return fmt.Errorf("want on or off, not %q", s)
	}
	return nil
}

func (f *sandboxFlag) Type() string { return "on|off" }

func upCommand() *cobra.Command {
	var f serverFlags
	var apiAddr, clusterAddr, name, kubeProgram, sealKeyFile string
	var labels []string
	var demo bool
	var origins, dashboards []string
	var pf pressureFlags
	var wf workerFlags
	var tf tlsFlags
	var nf netFlags
	c := &cobra.Command{
		Use:   "up",
		Short: "Run root, cluster and worker in one process",
		Long: "Runs a whole Hedge (root + cluster + worker) in one process, with state under --data-dir.\n" +
			"The admin password comes from HEDGE_ADMIN_PASSWORD, or is generated and printed on the first start.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			lbl, err := parseLabels(labels)
			if err != nil {
				return err
			}
			ctx, stop := serverContext(f.logger())
			defer stop()
			out := cmd.OutOrStdout()
			return role.RunUp(ctx, role.UpConfig{
				DataDir: f.dataDir, APIAddr: apiAddr, ClusterAddr: clusterAddr, Name: name, Labels: lbl, Demo: demo, Pressure: pf.config(), Worker: wf.WorkerConfig,
				CORSOrigins: append(origins, dashboards...),
				KubeProgram: kubeProgram, SealKeyFile: sealKeyFile, TLS: tf.TLSConfig, Network: nf.Settings,
				AdminPassword: os.Getenv("HEDGE_ADMIN_PASSWORD"), Logger: f.logger(), Out: out,
				Ready: func(url, ca string) {
					fmt.Fprintf(out, "Hedge is up.\n  Console:  %s/  (the browser must trust the CA, docs/console.md)\n  API:      %s/api/  (docs: %s/api/docs)\n  CA:       %s (the API's certificate is signed by it)\n  Log in:   hedge login --server %s --ca-cert %s --username admin\n  Deploy:   hedge apply -f examples/hello.yaml\n", url, url, url, ca, url, ca)
				},
			})
		},
	}
	f.bind(c)
	c.Flags().StringVar(&apiAddr, "api-addr", "127.0.0.1:10000", "address of the REST API")
	c.Flags().StringVar(&clusterAddr, "cluster-addr", "127.0.0.1:10100", "address where workers reach the cluster")
	c.Flags().StringVar(&name, "name", role.Hostname(), "name of the cluster and of the worker")
	c.Flags().StringArrayVar(&labels, "label", nil, "worker label key=value (repeatable)")
	c.Flags().BoolVar(&demo, "demo", false, "deploy the bundled example application (examples/hello.yaml) once up")
	c.Flags().StringArrayVar(&origins, "cors-origin", nil, "web origin allowed to call the API from a browser, e.g. http://dash.example:8080 (repeatable; * for any)")
	c.Flags().StringArrayVar(&dashboards, "dashboard-origin", nil, "origin where Oakestra's dashboard is served (repeatable); the same as --cors-origin (docs/oakestra.md)")
	c.Flags().StringVar(&kubeProgram, "kube-program", "", kubeProgramUsage)
	c.Flags().StringVar(&sealKeyFile, "seal-key-file", "", sealKeyFileUsage)
	pf.bind(c)
	wf.bind(c, "127.0.0.1:61208")
	tf.bind(c, false)
	nf.bind(c)
	return c
}

func rootCommand() *cobra.Command {
	var f serverFlags
	var addr, kubeProgram, sealKeyFile, storeSpec string
	var etcdTLS role.EtcdTLS
	var leaseTTL time.Duration
	var advertise string
	var clusterTimeout time.Duration
	var origins []string
	var proxies prefixList
	var pf pressureFlags
	var tf tlsFlags
	var nf netFlags
	c := &cobra.Command{
		Use:   "root",
		Short: "Run the root control plane (REST API)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := serverContext(f.logger())
			defer stop()
			out := cmd.OutOrStdout()
			return role.RunRoot(ctx, role.RootConfig{
				DataDir: f.dataDir, Addr: addr, Store: storeSpec, EtcdTLS: etcdTLS, LeaseTTL: leaseTTL, AdvertiseURL: advertise, AdminPassword: os.Getenv("HEDGE_ADMIN_PASSWORD"),
				ClusterTimeout: clusterTimeout, MetricsToken: os.Getenv("HEDGE_METRICS_TOKEN"), Pressure: pf.config(), CORSOrigins: origins, TrustedProxies: proxies, KubeProgram: kubeProgram, SealKeyFile: sealKeyFile, TLS: tf.TLSConfig, Network: nf.Settings, Logger: f.logger(), Out: out,
				Ready: func(url, ca string) {
					fmt.Fprintf(out, "Hedge root is up at %s\n  Console:       %s/\n  CA:            %s\n  Log in:        hedge login --server %s --ca-cert %s --username admin\n  Cluster token: hedge token create --kind cluster  (the token carries the CA's pin)\n", url, url, ca, url, ca)
				},
			})
		},
	}
	f.bind(c)
	c.Flags().StringVar(&addr, "api-addr", "127.0.0.1:10000", "address of the REST API (clusters dial it too)")
	c.Flags().DurationVar(&clusterTimeout, "cluster-timeout", 15*time.Second, "a cluster silent this long is NOT_READY and its instances move")
	c.Flags().StringArrayVar(&origins, "cors-origin", nil, "web origin allowed to call the API from a browser, such as Oakestra's dashboard (repeatable; * for any)")
	c.Flags().Var(&proxies, "trusted-proxy", "address or CIDR of a reverse proxy whose X-Forwarded-For names the client (repeatable; none by default)")
	c.Flags().StringVar(&kubeProgram, "kube-program", "", kubeProgramUsage)
	c.Flags().StringVar(&sealKeyFile, "seal-key-file", "", sealKeyFileUsage)
	c.Flags().StringVar(&storeSpec, "store", "", "state store: empty for a bbolt file in --data-dir, or etcd://host:port[,host:port...][/prefix] (etcds:// for TLS) shared by root replicas, one of which leads")
	bindEtcdTLS(c, &etcdTLS)
	c.Flags().DurationVar(&leaseTTL, "lease-ttl", 5*time.Second, "with an etcd store: the leader's lease; a standby replica takes over this long after the leader stops renewing it")
	c.Flags().StringVar(&advertise, "advertise-url", "", "with an etcd store: the URL where the other replicas reach this one's API to forward writes while it leads (default: https:// and --api-addr, with the host name when --api-addr names no host); the replica's certificate must name its host (--tls-san)")
	pf.bind(c) // the root is the cluster tier of Kubernetes clusters
	tf.bind(c, true)
	nf.bind(c)
	c.AddCommand(migrateCommand())
	return c
}

func bindEtcdTLS(c *cobra.Command, t *role.EtcdTLS) {
	c.Flags().StringVar(&t.CA, "etcd-ca", "", "CA certificate (PEM) of etcds:// endpoints (default: the system's)")
	c.Flags().StringVar(&t.Cert, "etcd-cert", "", "client certificate (PEM) for etcds:// endpoints")
	c.Flags().StringVar(&t.Key, "etcd-key", "", "client key (PEM) for etcds:// endpoints")
}

func migrateCommand() *cobra.Command {
	var from, to string
	var etcdTLS role.EtcdTLS
	c := &cobra.Command{
		Use:   "migrate --from STORE --to STORE",
		Short: "Copy a stopped root's state to another store (bolt:PATH or etcd://...) and check it byte for byte",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" || to == "" {
				return fmt.Errorf("--from and --to: both required (bolt:PATH or etcd://host:port,...)")
			}
			return role.Migrate(cmd.OutOrStdout(), from, to, etcdTLS)
		},
	}
	c.Flags().StringVar(&from, "from", "", "store to copy from: bolt:PATH (the root must be stopped) or etcd://...")
	c.Flags().StringVar(&to, "to", "", "empty store to copy to: bolt:PATH or etcd://...")
	bindEtcdTLS(c, &etcdTLS)
	return c
}

func clusterCommand() *cobra.Command {
	var f serverFlags
	var name, rootURL, token, addr, storeSpec string
	var nodeTimeout, leaseTTL time.Duration
	var etcdTLS role.EtcdTLS
	var pf pressureFlags
	var trust trustFlags
	c := &cobra.Command{
		Use:   "cluster",
		Short: "Run a cluster orchestrator that joins a root",
		Long:  "Joins the root at --root with a cluster join token (`hedge token create --kind cluster`) on the first start, then serves workers on --listen.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if rootURL == "" {
				return fmt.Errorf("--root: required (URL of the root, e.g. https://10.0.0.1:10000)")
			}
			ctx, stop := serverContext(f.logger())
			defer stop()
			return role.RunCluster(ctx, role.ClusterConfig{
				DataDir: f.dataDir, Name: name, Root: rootURL, JoinToken: firstNonEmpty(token, os.Getenv("HEDGE_JOIN_TOKEN")), Trust: trust.Trust,
				Addr: addr, NodeTimeout: nodeTimeout, Pressure: pf.config(), MetricsToken: os.Getenv("HEDGE_METRICS_TOKEN"), Logger: f.logger(),
				Store: storeSpec, EtcdTLS: etcdTLS, LeaseTTL: leaseTTL,
			})
		},
	}
	f.bind(c)
	c.Flags().StringVar(&name, "name", role.Hostname(), "cluster name")
	c.Flags().StringVar(&rootURL, "root", "", "URL of the root (the URLs of root replicas on etcd, comma-separated)")
	c.Flags().StringVar(&token, "join-token", "", "cluster join token (or HEDGE_JOIN_TOKEN); needed on the first start only")
	c.Flags().StringVar(&addr, "listen", "0.0.0.0:10100", "address where workers reach this cluster")
	c.Flags().DurationVar(&nodeTimeout, "node-timeout", 5*time.Second, "a worker silent this long is NOT_READY and its instances move")
	c.Flags().StringVar(&storeSpec, "store", "", "state store: empty for a bbolt file in --data-dir, or etcd://host:port[,host:port...][/prefix] (etcds:// for TLS) shared by this cluster's replicas, one of which leads (default prefix /hedge-clusters/NAME)")
	bindEtcdTLS(c, &etcdTLS)
	c.Flags().DurationVar(&leaseTTL, "lease-ttl", 5*time.Second, "with an etcd store: the leader's lease; a standby replica takes over this long after the leader stops renewing it")
	pf.bind(c)
	trust.bind(c)
	return c
}

func workerCommand() *cobra.Command {
	var f serverFlags
	var name, clusterURL, token string
	var labels []string
	var grace, heartbeat time.Duration
	var cpus float64
	var memoryMB int64
	var wf workerFlags
	var trust trustFlags
	c := &cobra.Command{
		Use:   "worker",
		Short: "Run a worker agent that joins a cluster",
		Long:  "Joins the cluster at --cluster with a worker join token (`hedge token create --kind worker`) on the first start, then runs the instances the cluster assigns.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if clusterURL == "" {
				return fmt.Errorf("--cluster: required (URL of the cluster, e.g. https://10.0.0.2:10100)")
			}
			lbl, err := parseLabels(labels)
			if err != nil {
				return err
			}
			var capacity *api.Resources
			if cpus > 0 || memoryMB > 0 {
				m := metrics.Capacity(context.Background())
				capacity = &api.Resources{VCPUs: m.VCPUs, MemoryMB: m.MemoryMB}
				if cpus > 0 {
					capacity.VCPUs = cpus
				}
				if memoryMB > 0 {
					capacity.MemoryMB = memoryMB
				}
			}
			ctx, stop := serverContext(f.logger())
			defer stop()
			wc := wf.WorkerConfig
			wc.Capacity, wc.DataDir, wc.Name, wc.Cluster = capacity, f.dataDir, name, clusterURL
			wc.JoinToken, wc.Trust = firstNonEmpty(token, os.Getenv("HEDGE_JOIN_TOKEN")), trust.Trust
			wc.Labels, wc.StopGrace, wc.ReportInterval, wc.Logger = lbl, grace, heartbeat, f.logger()
			footprint.LeanGC(footprint.LeanGCPercent)
			return role.RunWorker(ctx, wc)
		},
	}
	f.bind(c)
	c.Flags().StringVar(&name, "name", role.Hostname(), "node name")
	c.Flags().StringVar(&clusterURL, "cluster", "", "URL of the cluster (the URLs of cluster replicas on etcd, comma-separated)")
	c.Flags().StringVar(&token, "join-token", "", "worker join token (or HEDGE_JOIN_TOKEN); needed on the first start only")
	c.Flags().StringArrayVar(&labels, "label", nil, "node label key=value (repeatable)")
	c.Flags().DurationVar(&grace, "stop-grace", 10*time.Second, "time between SIGTERM and SIGKILL when stopping an instance")
	c.Flags().Float64Var(&cpus, "cpus", 0, "cores offered to instances (default: all of the machine's)")
	c.Flags().Int64Var(&memoryMB, "memory-mb", 0, "memory in MB offered to instances (default: all of the machine's)")
	c.Flags().DurationVar(&heartbeat, "heartbeat", time.Second, "longest time between two reports to the cluster")
	wf.bind(c, ":61208")
	trust.bind(c)
	return c
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// sealKeyFileUsage documents --seal-key-file.
const sealKeyFileUsage = "key (32 bytes, mode 0600) that seals Kubernetes credentials and Helm values, kept apart from the store (default: root/kube-seal.key in --data-dir, created on first use)"

// kubeProgramUsage documents --kube-program.
const kubeProgramUsage = "hedge-kube program, which Kubernetes support needs (default: next to hedge, then on PATH)"

// prefixList is a repeatable flag of addresses or CIDRs.
type prefixList []netip.Prefix

func (l *prefixList) String() string {
	if len(*l) == 0 {
		return ""
	}
	return fmt.Sprint([]netip.Prefix(*l))
}

func (l *prefixList) Type() string { return "cidr" }

func (l *prefixList) Set(v string) error {
	p, err := netip.ParsePrefix(v)
	if err != nil {
		a, aerr := netip.ParseAddr(v)
		if aerr != nil {
			return fmt.Errorf("want an address or a CIDR such as 10.0.0.0/8, got %q", v)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	*l = append(*l, p)
	return nil
}

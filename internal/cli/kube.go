package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/hedgeorch/hedge/api"
)

// kubeCommand groups Kubernetes clusters, chart repositories and enablers:
// `hedge kube cluster add|list|delete|nodes`, `hedge kube repo ...`,
// `hedge kube enabler ...`.
func (a *app) kubeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "kube",
		Short: "Kubernetes clusters, Helm chart repositories and enablers",
		Example: "  hedge kube cluster add --name edge1 --kubeconfig ~/.kube/edge1.yaml\n" +
			"  hedge kube repo add --name stable --url https://charts.example.org\n" +
			"  hedge kube enabler install --name mqtt --chart stable/mosquitto --auto --policy best-fit --wait",
	}
	cmd.AddCommand(a.kubeClusterCommand(), a.kubeRepoCommand(), a.kubeEnablerCommand())
	return cmd
}

func (a *app) kubeClusterCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Aliases: []string{"clusters"}, Short: "Register, list and remove Kubernetes clusters"}
	var file, name, desc string
	var cloud bool
	add := &cobra.Command{
		Use:   "add --kubeconfig FILE --name NAME [--cloud]",
		Short: "Register a Kubernetes cluster by its kubeconfig",
		Args:  cobra.NoArgs,
		RunE: a.withClient(func(ctx context.Context, c *api.Client, w io.Writer, format string, _ []string) error {
			if file == "" || name == "" {
				return errors.New("--kubeconfig and --name are required")
			}
			b, err := os.ReadFile(file)
			if err != nil {
				return fmt.Errorf("read kubeconfig: %w", err)
			}
			creds, _ := json.Marshal(string(b))
			kc, err := c.AddKubeCluster(ctx, api.KubeClusterRequest{Name: name, Description: desc, Credentials: creds, Cloud: cloud})
			if err != nil {
				return err
			}
			return a.renderKubeClusters(w, format, []api.KubeCluster{kc})
		}),
	}
	add.Flags().StringVar(&file, "kubeconfig", "", "kubeconfig file of the cluster (embedded certificates and tokens only)")
	add.Flags().StringVar(&name, "name", "", "cluster name (a DNS label)")
	add.Flags().StringVar(&desc, "description", "", "description")
	add.Flags().BoolVar(&cloud, "cloud", false, "this is the cloud cluster (at most one; left out of automatic placement)")
	cmd.AddCommand(add,
		&cobra.Command{
			Use: "list", Aliases: []string{"ls"}, Short: "List Kubernetes clusters and their status", Args: cobra.NoArgs,
			RunE: a.withClient(func(ctx context.Context, c *api.Client, w io.Writer, format string, _ []string) error {
				cs, err := c.ListKubeClusters(ctx)
				if err != nil {
					return err
				}
				return a.renderKubeClusters(w, format, cs)
			}),
		},
		&cobra.Command{
			Use: "delete ID|NAME", Aliases: []string{"rm"}, Short: "Forget a Kubernetes cluster", Args: cobra.ExactArgs(1),
			RunE: a.withClient(func(ctx context.Context, c *api.Client, w io.Writer, _ string, args []string) error {
				if err := c.DeleteKubeCluster(ctx, args[0]); err != nil {
					return err
				}
				_, err := fmt.Fprintf(w, "Kubernetes cluster %s deleted.\n", args[0])
				return err
			}),
		},
		// Mirrored as `hedge cluster delete` in place of delete (see
		// AttachClusterAdd): there the name may be a Hedge cluster too.
		&cobra.Command{
			Use: deleteAnyCluster + " ID|NAME", Hidden: true, Args: cobra.ExactArgs(1),
			Short: "Delete a cluster: a Kubernetes cluster is forgotten; a Hedge cluster's credential is revoked and its instances move (Admin)",
			RunE: a.withClient(func(ctx context.Context, c *api.Client, w io.Writer, _ string, args []string) error {
				// Without Kubernetes support (an error) the name can only be
				// a Hedge cluster's.
				kcs, _ := c.ListKubeClusters(ctx)
				for _, kc := range kcs {
					if kc.ID == args[0] || kc.Name == args[0] {
						if err := c.DeleteKubeCluster(ctx, args[0]); err != nil {
							return err
						}
						_, err := fmt.Fprintf(w, "Kubernetes cluster %s deleted.\n", args[0])
						return err
					}
				}
				if err := c.DeleteCluster(ctx, args[0]); err != nil {
					return fmt.Errorf("delete cluster %s: %w", args[0], err)
				}
				_, err := fmt.Fprintf(w, "cluster %s deleted: its credential is revoked and its instances move to other clusters\n", args[0])
				return err
			}),
		},
		&cobra.Command{
			Use: "nodes ID|NAME", Short: "List a Kubernetes cluster's nodes with labels, taints and requests", Args: cobra.ExactArgs(1),
			RunE: a.withClient(func(ctx context.Context, c *api.Client, w io.Writer, format string, args []string) error {
				ns, err := c.KubeNodes(ctx, args[0])
				if err != nil {
					return err
				}
				return render(w, format, orEmpty(ns), func(w io.Writer) error {
					if len(ns) == 0 {
						return emptyNote(w, "nodes")
					}
					t := newTable(w, "NAME", "READY", "VCPUS (REQ/ALLOC)", "MEMORY (REQ/ALLOC)", "PODS", "TAINTS", "LABELS")
					for _, n := range ns {
						var taints []string
						for _, tn := range n.Taints {
							taints = append(taints, tn.Key+":"+tn.Effect)
						}
						t.row(n.Name, strconv.FormatBool(n.Ready), cores(n.Requested.VCPUs)+"/"+cores(n.Allocatable.VCPUs),
							memory(n.Requested.MemoryMB)+"/"+memory(n.Allocatable.MemoryMB), strconv.Itoa(n.Pods),
							strings.Join(taints, ","), labelList(n.Labels))
					}
					return t.flush()
				})
			}),
		})
	return cmd
}

func labelList(m map[string]string) string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

func (a *app) renderKubeClusters(w io.Writer, format string, cs []api.KubeCluster) error {
	cs = orEmpty(cs)
	return render(w, format, cs, func(w io.Writer) error {
		if len(cs) == 0 {
			return emptyNote(w, "kubernetes clusters")
		}
		t := newTable(w, "NAME", "ID", "STATUS", "NODES", "CLOUD", "VERSION", "SERVER", "REASON")
		for _, c := range cs {
			t.row(c.Name, c.ID, c.Status, fmt.Sprintf("%d/%d", c.ReadyNodes, c.Nodes), strconv.FormatBool(c.Cloud), c.Version, c.Server, c.Reason)
		}
		return t.flush()
	})
}

func (a *app) kubeRepoCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "repo", Aliases: []string{"repos", "chartrepo"}, Short: "Helm chart repositories"}
	var req api.ChartRepoRequest
	add := &cobra.Command{
		Use: "add --name NAME --url URL [--username U --password P]", Short: "Add a chart repository", Args: cobra.NoArgs,
		RunE: a.withClient(func(ctx context.Context, c *api.Client, w io.Writer, format string, _ []string) error {
			r, err := c.AddChartRepo(ctx, req)
			if err != nil {
				return err
			}
			return render(w, format, r, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "Chart repository %s added (id %s).\n", r.Name, r.ID)
				return err
			})
		}),
	}
	add.Flags().StringVar(&req.Name, "name", "", "repository name")
	add.Flags().StringVar(&req.URL, "url", "", "repository URL (where index.yaml is)")
	add.Flags().StringVar(&req.Description, "description", "", "description")
	add.Flags().StringVar(&req.Username, "username", "", "user of a private repository")
	add.Flags().StringVar(&req.Password, "password", "", "password of a private repository (or HEDGE_REPO_PASSWORD)")
	add.PreRun = func(*cobra.Command, []string) {
		if req.Password == "" {
			req.Password = os.Getenv("HEDGE_REPO_PASSWORD")
		}
	}
	cmd.AddCommand(add,
		&cobra.Command{
			Use: "list", Aliases: []string{"ls"}, Short: "List chart repositories", Args: cobra.NoArgs,
			RunE: a.withClient(func(ctx context.Context, c *api.Client, w io.Writer, format string, _ []string) error {
				rs, err := c.ListChartRepos(ctx)
				if err != nil {
					return err
				}
				return render(w, format, orEmpty(rs), func(w io.Writer) error {
					if len(rs) == 0 {
						return emptyNote(w, "chart repositories")
					}
					t := newTable(w, "NAME", "ID", "URL", "PRIVATE", "AGE")
					for _, r := range rs {
						t.row(r.Name, r.ID, r.URL, strconv.FormatBool(r.Private), age(a.now(), r.CreatedAt))
					}
					return t.flush()
				})
			}),
		},
		&cobra.Command{
			Use: "charts ID|NAME", Short: "List a repository's charts", Args: cobra.ExactArgs(1),
			RunE: a.withClient(func(ctx context.Context, c *api.Client, w io.Writer, format string, args []string) error {
				cs, err := c.ListCharts(ctx, args[0])
				if err != nil {
					return err
				}
				return render(w, format, orEmpty(cs), func(w io.Writer) error {
					t := newTable(w, "CHART", "VERSION", "APP VERSION", "DESCRIPTION")
					for _, ch := range cs {
						t.row(ch.Repo+"/"+ch.Name, ch.Version, ch.AppVersion, ch.Description)
					}
					return t.flush()
				})
			}),
		},
		&cobra.Command{
			Use: "delete ID|NAME", Aliases: []string{"rm"}, Short: "Delete a chart repository", Args: cobra.ExactArgs(1),
			RunE: a.withClient(func(ctx context.Context, c *api.Client, w io.Writer, _ string, args []string) error {
				if err := c.DeleteChartRepo(ctx, args[0]); err != nil {
					return err
				}
				_, err := fmt.Fprintf(w, "Chart repository %s deleted.\n", args[0])
				return err
			}),
		})
	return cmd
}

// readValues reads a Helm values file (YAML or JSON); "" gives nil.
func readValues(path string) (map[string]any, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read values: %w", err)
	}
	var v map[string]any
	if err := yaml.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("values %s: %w", path, err)
	}
	return v, nil
}

func (a *app) kubeEnablerCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "enabler", Aliases: []string{"enablers"}, Short: "Enablers: Helm releases on Kubernetes clusters"}
	var req api.EnablerRequest
	var valuesFile string
	var wait bool
	install := &cobra.Command{
		Use:   "install --name NAME --chart REPO/CHART (--cluster C | --auto [--policy P])",
		Short: "Install an enabler; --auto picks the cluster by --policy (worst-fit, best-fit, most-traffic)",
		Args:  cobra.NoArgs,
		RunE: a.withClient(func(ctx context.Context, c *api.Client, w io.Writer, format string, _ []string) error {
			vals, err := readValues(valuesFile)
			if err != nil {
				return err
			}
			req.Values = vals
			e, err := c.InstallEnabler(ctx, req)
			if err != nil {
				return err
			}
			if wait {
				if e, err = waitEnabler(ctx, c, e.ID); err != nil {
					return err
				}
			}
			return a.renderEnabler(w, format, e)
		}),
	}
	f := install.Flags()
	f.StringVar(&req.Name, "name", "", "enabler (release) name; also its namespace")
	f.StringVar(&req.HelmChart, "chart", "", "chart as repo/chart")
	f.StringVar(&req.Version, "version", "", "chart version (default: newest)")
	f.StringVarP(&valuesFile, "values", "f", "", "values file (YAML)")
	f.StringVar(&req.Cluster, "cluster", "", "Kubernetes cluster to install on")
	f.BoolVar(&req.Auto, "auto", false, "let Hedge choose the cluster")
	f.StringVar(&req.PlacementPolicy, "policy", "", "placement policy with --auto: worst-fit (default), best-fit, most-traffic")
	f.BoolVar(&req.IncludeCloud, "include-cloud", false, "let --auto choose the cloud cluster too")
	f.IntVar(&req.Timeout, "timeout", 0, "install timeout in seconds (default 300)")
	f.BoolVar(&wait, "wait", false, "wait until DEPLOYED or FAILED")

	var up api.EnablerUpgrade
	var upValues string
	upgrade := &cobra.Command{
		Use: "upgrade ID|NAME [--version V] [-f values.yaml]", Short: "Upgrade an enabler (atomic)", Args: cobra.ExactArgs(1),
		RunE: a.withClient(func(ctx context.Context, c *api.Client, w io.Writer, format string, args []string) error {
			vals, err := readValues(upValues)
			if err != nil {
				return err
			}
			up.Values = vals
			e, err := c.UpgradeEnabler(ctx, args[0], up)
			if err != nil {
				return err
			}
			if wait {
				if e, err = waitEnabler(ctx, c, e.ID); err != nil {
					return err
				}
			}
			return a.renderEnabler(w, format, e)
		}),
	}
	upgrade.Flags().StringVar(&up.Version, "version", "", "new chart version")
	upgrade.Flags().StringVarP(&upValues, "values", "f", "", "new values file (YAML); default: keep the values")
	upgrade.Flags().IntVar(&up.Timeout, "timeout", 0, "timeout in seconds (default 300)")
	upgrade.Flags().BoolVar(&wait, "wait", false, "wait until DEPLOYED or FAILED")
	var cluster string
	list := &cobra.Command{
		Use: "list", Aliases: []string{"ls"}, Short: "List enablers", Args: cobra.NoArgs,
		RunE: a.withClient(func(ctx context.Context, c *api.Client, w io.Writer, format string, _ []string) error {
			var es []api.Enabler
			var err error
			if cluster != "" {
				es, err = c.ClusterEnablers(ctx, cluster)
			} else {
				es, err = c.ListEnablers(ctx)
			}
			if err != nil {
				return err
			}
			es = orEmpty(es)
			return render(w, format, es, func(w io.Writer) error {
				if len(es) == 0 {
					return emptyNote(w, "enablers")
				}
				t := newTable(w, "NAME", "ID", "CHART", "VERSION", "CLUSTER", "STATUS", "AGE", "MESSAGE")
				for _, e := range es {
					t.row(e.Name, e.ID, e.HelmChart, e.Version, e.ClusterName, e.Status, age(a.now(), e.CreatedAt), e.Message)
				}
				return t.flush()
			})
		}),
	}
	list.Flags().StringVar(&cluster, "cluster", "", "only the enablers of this cluster")
	simple := func(use, short string, do func(ctx context.Context, c *api.Client, id string) (string, error)) *cobra.Command {
		return &cobra.Command{Use: use, Short: short, Args: cobra.ExactArgs(1),
			RunE: a.withClient(func(ctx context.Context, c *api.Client, w io.Writer, _ string, args []string) error {
				msg, err := do(ctx, c, args[0])
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(w, msg)
				return err
			})}
	}
	cmd.AddCommand(install, upgrade, list,
		&cobra.Command{
			Use: "get ID|NAME", Short: "Show an enabler and how its cluster was chosen", Args: cobra.ExactArgs(1),
			RunE: a.withClient(func(ctx context.Context, c *api.Client, w io.Writer, format string, args []string) error {
				e, err := c.GetEnabler(ctx, args[0])
				if err != nil {
					return err
				}
				return a.renderEnabler(w, format, e)
			}),
		},
		simple("terminate ID|NAME", "Uninstall an enabler, keeping its record and volumes", func(ctx context.Context, c *api.Client, id string) (string, error) {
			e, err := c.TerminateEnabler(ctx, id)
			return "Enabler " + e.Name + " terminated.", err
		}),
		simple("delete ID|NAME", "Uninstall an enabler and forget it", func(ctx context.Context, c *api.Client, id string) (string, error) {
			return "Enabler " + id + " deleted.", c.DeleteEnabler(ctx, id)
		}),
		simple("delete-volumes ID|NAME", "Delete a terminated enabler's volume claims and volumes", func(ctx context.Context, c *api.Client, id string) (string, error) {
			names, err := c.DeleteEnablerVolumes(ctx, id)
			return fmt.Sprintf("Deleted %d claim(s): %s", len(names), strings.Join(names, ", ")), err
		}),
	)
	return cmd
}

// waitEnabler polls until the enabler leaves INSTALLING.
func waitEnabler(ctx context.Context, c *api.Client, id string) (api.Enabler, error) {
	for {
		e, err := c.GetEnabler(ctx, id)
		if err != nil || e.Status != api.EnablerInstalling {
			return e, err
		}
		select {
		case <-ctx.Done():
			return e, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func (a *app) renderEnabler(w io.Writer, format string, e api.Enabler) error {
	return render(w, format, e, func(w io.Writer) error {
		fmt.Fprintf(w, "Name:      %s (id %s)\nChart:     %s %s\nCluster:   %s\nNamespace: %s\nStatus:    %s\n", e.Name, e.ID, e.HelmChart, e.Version, e.ClusterName, e.Namespace, e.Status)
		if e.Message != "" {
			fmt.Fprintf(w, "Message:   %s\n", e.Message)
		}
		if p := e.Placement; p != nil {
			fmt.Fprintf(w, "Placement: %s, %d replica(s) of %s cpu, %s\n", p.Policy, p.Replicas, cores(p.Demand.VCPUs), memory(p.Demand.MemoryMB))
			t := newTable(w, "  CLUSTER", "MAX_REPLICAS", "RX B/S", "VERDICT")
			for _, v := range p.Clusters {
				t.row("  "+v.Cluster, strconv.Itoa(v.MaxReplicas), strconv.FormatFloat(v.NetRxBytesPS, 'f', 0, 64), v.Reason)
			}
			return t.flush()
		}
		return nil
	})
}

// deleteAnyCluster is the hidden subcommand of `hedge kube cluster` that
// `hedge cluster delete` runs.
const deleteAnyCluster = "delete-any"

// AttachClusterAdd makes `hedge cluster add|list|delete|nodes` (the Smart
// Orchestrator's words) work alongside the `hedge cluster` server role: it
// mirrors `hedge kube cluster`'s subcommands under the role command. Call it
// after the role commands are added; it does nothing if either is missing.
func AttachClusterAdd(root *cobra.Command) {
	var role, kube *cobra.Command
	for _, c := range root.Commands() {
		switch c.Name() {
		case "cluster":
			role = c
		case "kube":
			for _, k := range c.Commands() {
				if k.Name() == "cluster" {
					kube = k
				}
			}
		}
	}
	if role == nil || kube == nil {
		return
	}
	for _, sub := range kube.Commands() {
		if sub.Name() == "delete" {
			continue // replaced by deleteAnyCluster
		}
		mirror := &cobra.Command{Use: sub.Use, Aliases: sub.Aliases, Short: sub.Short, Args: sub.Args, RunE: sub.RunE, PreRun: sub.PreRun}
		if name, ok := strings.CutPrefix(sub.Use, deleteAnyCluster); ok {
			mirror.Use, mirror.Aliases = "delete"+name, []string{"rm"}
		}
		mirror.Flags().AddFlagSet(sub.Flags())
		role.AddCommand(mirror)
	}
}

package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hedgeorch/hedge/api"
)

const resourceTypes = "apps, services, instances, clusters, nodes, events, users or audit"

func (a *app) getCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get TYPE [NAME]",
		Short: "List applications, services, instances, clusters, nodes or users",
		Example: "  hedge get apps\n" +
			"  hedge get services -o yaml\n" +
			"  hedge get instances clientsrvr/nginx\n" +
			"  hedge get clusters --active",
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errors.New("name a resource type: " + resourceTypes)
			}
			return fmt.Errorf("unknown resource type %q: want %s", args[0], resourceTypes)
		},
	}
	var active bool
	clusters := &cobra.Command{
		Use:     "clusters",
		Aliases: []string{"cluster"},
		Short:   "List clusters (--active: READY ones only, with aggregated resources)",
		Args:    cobra.NoArgs,
		RunE: a.withClient(func(ctx context.Context, c *api.Client, w io.Writer, format string, _ []string) error {
			list := c.ListClusters
			if active {
				list = c.ListActiveClusters
			}
			cs, err := list(ctx)
			if err != nil {
				return err
			}
			return a.renderClusters(w, format, cs)
		}),
	}
	clusters.Flags().BoolVar(&active, "active", false, "only READY clusters")
	cmd.AddCommand(
		&cobra.Command{
			Use:     "apps [APP]",
			Aliases: []string{"app", "applications", "application"},
			Short:   "List applications, or show one",
			Args:    cobra.MaximumNArgs(1),
			RunE:    a.withClient(a.getApps),
		},
		&cobra.Command{
			Use:     "services [SERVICE]",
			Aliases: []string{"service", "svc"},
			Short:   "List services, or show one",
			Args:    cobra.MaximumNArgs(1),
			RunE:    a.withClient(a.getServices),
		},
		&cobra.Command{
			Use:     "instances [SERVICE]",
			Aliases: []string{"instance", "inst"},
			Short:   "List the instances of every service, or of one",
			Args:    cobra.MaximumNArgs(1),
			RunE:    a.withClient(a.getInstances),
		},
		clusters,
		&cobra.Command{
			Use:     "events",
			Aliases: []string{"event", "ev"},
			Short:   "List node events: resource-pressure transitions and the actions taken",
			Args:    cobra.NoArgs,
			RunE: a.withClient(func(ctx context.Context, c *api.Client, w io.Writer, format string, _ []string) error {
				evs, err := c.ListEvents(ctx)
				if err != nil {
					return err
				}
				return a.renderEvents(w, format, evs)
			}),
		},
		&cobra.Command{
			Use:     "nodes",
			Aliases: []string{"node"},
			Short:   "List the nodes of every cluster",
			Args:    cobra.NoArgs,
			RunE: a.withClient(func(ctx context.Context, c *api.Client, w io.Writer, format string, _ []string) error {
				ns, err := c.ListNodes(ctx)
				if err != nil {
					return err
				}
				return a.renderNodes(w, format, ns)
			}),
		},
		&cobra.Command{
			Use:     "users",
			Aliases: []string{"user"},
			Short:   "List users (Admin only)",
			Args:    cobra.NoArgs,
			RunE:    a.withClient(a.listUsers),
		},
		a.auditCommand(),
	)
	cmd.AddCommand(a.topologyGetCommands()...)
	return cmd
}

// withClient adapts a command body that needs a client, the output writer
// and the checked -o format.
func (a *app) withClient(run func(ctx context.Context, c *api.Client, w io.Writer, format string, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		format, err := a.format()
		if err != nil {
			return err
		}
		c, err := a.client(cmd)
		if err != nil {
			return err
		}
		return run(cmd.Context(), c, cmd.OutOrStdout(), format, args)
	}
}

// emptyNote is printed instead of a table without rows.
func emptyNote(w io.Writer, what string) error {
	_, err := fmt.Fprintf(w, "No %s found.\n", what)
	return err
}

func (a *app) getApps(ctx context.Context, c *api.Client, w io.Writer, format string, args []string) error {
	apps, err := c.ListApplications(ctx)
	if err != nil {
		return err
	}
	if len(args) == 1 {
		app, err := findApp(apps, args[0])
		if err != nil {
			return err
		}
		if format != formatTable {
			return render(w, format, app, nil)
		}
		apps = []api.Application{app}
	}
	apps = orEmpty(apps)
	slices.SortFunc(apps, func(x, y api.Application) int {
		return cmp.Or(cmp.Compare(x.Name, y.Name), cmp.Compare(x.ID, y.ID))
	})
	return render(w, format, apps, func(w io.Writer) error {
		if len(apps) == 0 {
			return emptyNote(w, "applications")
		}
		t := newTable(w, "NAME", "NAMESPACE", "ID", "SERVICES", "OWNER", "AGE")
		for _, app := range apps {
			t.row(app.Name, app.Namespace, app.ID, strconv.Itoa(len(app.ServiceIDs)), app.Owner, age(a.now(), app.CreatedAt))
		}
		return t.flush()
	})
}

func (a *app) getServices(ctx context.Context, c *api.Client, w io.Writer, format string, args []string) error {
	svcs, err := c.ListServices(ctx)
	if err != nil {
		return err
	}
	if len(args) == 1 {
		svc, err := findService(svcs, args[0])
		if err != nil {
			return err
		}
		if format != formatTable {
			return render(w, format, svc, nil)
		}
		svcs = []api.Service{svc}
	}
	svcs = sortServices(orEmpty(svcs))
	return render(w, format, svcs, func(w io.Writer) error {
		if len(svcs) == 0 {
			return emptyNote(w, "services")
		}
		t := newTable(w, "NAME", "ID", "VIRTUALIZATION", "READY", "CODE", "AGE")
		for _, s := range svcs {
			t.row(serviceName(s), s.ID, s.Spec.Virtualization, readyCount(s), s.Spec.Code, age(a.now(), s.CreatedAt))
		}
		return t.flush()
	})
}

func sortServices(svcs []api.Service) []api.Service {
	slices.SortFunc(svcs, func(x, y api.Service) int {
		return cmp.Or(cmp.Compare(serviceName(x), serviceName(y)), cmp.Compare(x.ID, y.ID))
	})
	return svcs
}

// readyCount renders "ready/active" instances of a service.
func readyCount(s api.Service) string {
	active, n := 0, 0
	for _, inst := range s.Instances {
		if inst.Status == api.StateUndeployed {
			continue
		}
		active++
		if ready(inst.Status) {
			n++
		}
	}
	return fmt.Sprintf("%d/%d", n, active)
}

// instanceRow is an instance together with the service it belongs to, the
// shape `get instances` prints in every format.
type instanceRow struct {
	ServiceID string `json:"microserviceID"`
	Service   string `json:"service"`
	api.Instance
}

func (a *app) getInstances(ctx context.Context, c *api.Client, w io.Writer, format string, args []string) error {
	svcs, err := c.ListServices(ctx)
	if err != nil {
		return err
	}
	if len(args) == 1 {
		svc, err := findService(svcs, args[0])
		if err != nil {
			return err
		}
		svcs = []api.Service{svc}
	}
	rows := []instanceRow{}
	for _, s := range sortServices(svcs) {
		insts := slices.Clone(s.Instances)
		slices.SortFunc(insts, func(x, y api.Instance) int { return cmp.Compare(x.Number, y.Number) })
		for _, inst := range insts {
			rows = append(rows, instanceRow{ServiceID: s.ID, Service: serviceName(s), Instance: inst})
		}
	}
	return render(w, format, rows, func(w io.Writer) error {
		if len(rows) == 0 {
			return emptyNote(w, "instances")
		}
		t := newTable(w, "SERVICE", "#", "STATUS", "CLUSTER", "NODE", "RESTARTS", "AGE", "REASON")
		for _, r := range rows {
			t.row(r.Service, strconv.Itoa(r.Number), string(r.Status), cmp.Or(r.ClusterName, r.ClusterID),
				cmp.Or(r.NodeName, r.NodeID), strconv.Itoa(r.Restarts), instanceAge(a, r.Instance), r.Reason)
		}
		return t.flush()
	})
}

// instanceAge is how long an instance has been running; "-" before it
// started.
func instanceAge(a *app, inst api.Instance) string {
	if inst.StartedAt == nil {
		return "-"
	}
	return age(a.now(), *inst.StartedAt)
}

func (a *app) renderClusters(w io.Writer, format string, cs []api.Cluster) error {
	cs = orEmpty(cs)
	slices.SortFunc(cs, func(x, y api.Cluster) int { return cmp.Or(cmp.Compare(x.Name, y.Name), cmp.Compare(x.ID, y.ID)) })
	return render(w, format, cs, func(w io.Writer) error {
		if len(cs) == 0 {
			return emptyNote(w, "clusters")
		}
		t := newTable(w, "NAME", "ID", "STATE", "NODES", "VCPUS (RES/CAP)", "MEMORY (RES/CAP)", "CPU", "MEM", "INSTANCES", "LAST SEEN")
		for _, c := range cs {
			t.row(c.Name, c.ID, string(c.State), strconv.Itoa(c.ActiveNodes),
				cores(c.Reserved.VCPUs)+"/"+cores(c.Capacity.VCPUs), memory(c.Reserved.MemoryMB)+"/"+memory(c.Capacity.MemoryMB),
				percent(c.CPUPercent), percent(c.MemoryPercent), strconv.Itoa(c.Instances), age(a.now(), c.LastSeen))
		}
		return t.flush()
	})
}

func (a *app) renderNodes(w io.Writer, format string, ns []api.Node) error {
	ns = orEmpty(ns)
	slices.SortFunc(ns, func(x, y api.Node) int {
		return cmp.Or(cmp.Compare(x.ClusterName, y.ClusterName), cmp.Compare(x.Name, y.Name), cmp.Compare(x.ID, y.ID))
	})
	return render(w, format, ns, func(w io.Writer) error {
		if len(ns) == 0 {
			return emptyNote(w, "nodes")
		}
		t := newTable(w, "NAME", "CLUSTER", "STATE", "ARCH", "RUNTIMES", "VCPUS (RES/CAP)", "MEMORY (RES/CAP)", "CPU", "MEM", "INSTANCES", "LAST SEEN")
		for _, n := range ns {
			state := string(n.State)
			if n.Cordoned {
				state += ",CORDONED"
			}
			if n.Pressure != "" && n.Pressure != "normal" {
				state += "," + strings.ToUpper(n.Pressure)
			}
			t.row(n.Name, cmp.Or(n.ClusterName, n.ClusterID), state, n.Arch, strings.Join(n.Runtimes, ","),
				cores(n.Reserved.VCPUs)+"/"+cores(n.Capacity.VCPUs), memory(n.Reserved.MemoryMB)+"/"+memory(n.Capacity.MemoryMB),
				percent(n.Metrics.CPUPercent), percent(n.Metrics.MemoryPercent), strconv.Itoa(n.Instances), age(a.now(), n.LastSeen))
		}
		return t.flush()
	})
}

func (a *app) listUsers(ctx context.Context, c *api.Client, w io.Writer, format string, _ []string) error {
	us, err := c.ListUsers(ctx)
	if err != nil {
		return err
	}
	us = orEmpty(us)
	slices.SortFunc(us, func(x, y api.User) int { return cmp.Compare(x.Username, y.Username) })
	return render(w, format, us, func(w io.Writer) error {
		if len(us) == 0 {
			return emptyNote(w, "users")
		}
		t := newTable(w, "USERNAME", "ROLES", "AGE")
		for _, u := range us {
			t.row(u.Username, strings.Join(u.Roles, ","), age(a.now(), u.CreatedAt))
		}
		return t.flush()
	})
}

// orEmpty turns nil into an empty slice, so that -o json prints [] rather
// than null for an empty list.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (a *app) renderEvents(w io.Writer, format string, evs []api.Event) error {
	evs = orEmpty(evs)
	return render(w, format, evs, func(w io.Writer) error {
		if len(evs) == 0 {
			return emptyNote(w, "events")
		}
		t := newTable(w, "AGE", "CLUSTER", "NODE", "FROM", "TO", "ACTION", "METRIC", "VALUE", "THRESHOLD", "INSTANCE", "ERROR")
		for _, e := range evs {
			value, threshold := "-", "-"
			if e.Metric != "" {
				value, threshold = strconv.FormatFloat(e.Value, 'f', 1, 64), strconv.FormatFloat(e.Threshold, 'f', 1, 64)
			}
			t.row(age(a.now(), e.At), e.Cluster, e.Node, e.From, e.To, cmp.Or(e.Action, "-"), cmp.Or(e.Metric, "-"),
				value, threshold, cmp.Or(e.Instance, "-"), cmp.Or(e.Error, "-"))
		}
		return t.flush()
	})
}

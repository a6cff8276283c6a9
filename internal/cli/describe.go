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
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hedgeorch/hedge/api"
)

func (a *app) describeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "describe app|service NAME_OR_ID",
		Short: "Show an application or a service in detail, with every instance and its reason",
		Example: "  hedge describe app clientsrvr\n" +
			"  hedge describe service clientsrvr/nginx",
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errors.New("name what to describe: app or service")
			}
			return fmt.Errorf("cannot describe %q: want app or service", args[0])
		},
	}
	cmd.AddCommand(
		&cobra.Command{
			Use:     "app NAME_OR_ID",
			Aliases: []string{"apps", "application", "applications"},
			Short:   "Show an application and its services",
			Args:    cobra.ExactArgs(1),
			RunE:    a.withClient(a.describeApp),
		},
		&cobra.Command{
			Use:     "service NAME_OR_ID",
			Aliases: []string{"services", "svc"},
			Short:   "Show a service and its instances",
			Args:    cobra.ExactArgs(1),
			RunE:    a.withClient(a.describeService),
		},
	)
	return cmd
}

// appDetail is what `describe app -o json|yaml` prints.
type appDetail struct {
	api.Application
	Services []api.Service `json:"services"`
}

func (a *app) describeApp(ctx context.Context, c *api.Client, w io.Writer, format string, args []string) error {
	app, err := resolveApp(ctx, c, args[0])
	if err != nil {
		return err
	}
	svcs, err := c.ListAppServices(ctx, app.ID)
	if err != nil {
		return fmt.Errorf("list services of %s: %w", app.Name, err)
	}
	detail := appDetail{Application: app, Services: sortServices(orEmpty(svcs))}
	return render(w, format, detail, func(w io.Writer) error {
		kv := newFields(w)
		kv.add("Name", app.Name)
		kv.add("ID", app.ID)
		kv.add("Namespace", app.Namespace)
		kv.add("Description", app.Description)
		kv.add("Owner", app.Owner)
		kv.add("Created", a.when(app.CreatedAt))
		if err := kv.flush(); err != nil {
			return err
		}
		if len(detail.Services) == 0 {
			_, err := fmt.Fprintln(w, "Services: none")
			return err
		}
		fmt.Fprintln(w, "Services:")
		for _, s := range detail.Services {
			fmt.Fprintf(w, "\n  %s (ID %s): %s %s, %s ready\n", serviceName(s), s.ID, s.Spec.Virtualization, s.Spec.Code, readyCount(s))
			if err := a.instanceTable(indent(w, "    "), s); err != nil {
				return err
			}
		}
		return nil
	})
}

func (a *app) describeService(ctx context.Context, c *api.Client, w io.Writer, format string, args []string) error {
	ref, err := resolveService(ctx, c, args[0])
	if err != nil {
		return err
	}
	// The list may be a little behind; the service itself is authoritative.
	svc, err := c.GetService(ctx, ref.ID)
	if err != nil {
		return err
	}
	return render(w, format, svc, func(w io.Writer) error {
		sp := svc.Spec
		kv := newFields(w)
		kv.add("Name", serviceName(svc))
		kv.add("ID", svc.ID)
		kv.add("Application", svc.AppName+" (ID "+svc.ApplicationID+")")
		kv.add("Namespace", sp.Namespace)
		kv.add("Owner", svc.Owner)
		kv.add("Created", a.when(svc.CreatedAt))
		kv.add("Virtualization", sp.Virtualization)
		kv.add("Code", sp.Code)
		kv.add("Command", strings.Join(sp.Cmd, " "))
		kv.add("Args", strings.Join(sp.Args, " "))
		kv.add("Environment", strings.Join(sp.Environment, " "))
		kv.add("Resources", resourcesText(sp))
		kv.add("Port", sp.Port)
		kv.add("Arch", strings.Join(sp.Arch, ","))
		kv.add("One-shot", yesNo(sp.OneShot))
		kv.add("Privileged", yesNo(sp.Privileged))
		kv.add("Addresses", addressesText(sp.Addresses))
		kv.add("Service IPs", addressesText(&api.Addresses{RRIP: svc.RRIP, RRIPv6: svc.RRIPv6, ClosestIP: svc.ClosestIP}))
		kv.add("Names", strings.Join(svc.Names, " "))
		kv.add("Constraints", constraintsText(sp.Constraints))
		if err := kv.flush(); err != nil {
			return err
		}
		fmt.Fprintf(w, "Instances (%s ready):\n", readyCount(svc))
		return a.instanceTable(indent(w, "  "), svc)
	})
}

// instanceTable prints every instance of s with all that explains its state.
func (a *app) instanceTable(w io.Writer, s api.Service) error {
	if len(s.Instances) == 0 {
		_, err := fmt.Fprintln(w, "no instances")
		return err
	}
	insts := slices.Clone(s.Instances)
	slices.SortFunc(insts, func(x, y api.Instance) int { return cmp.Compare(x.Number, y.Number) })
	// The IP column (the instance network's address) only when an
	// instance has one.
	withIP := slices.ContainsFunc(insts, func(i api.Instance) bool { return i.IP != "" })
	cols := []string{"#", "STATUS", "CLUSTER", "NODE", "RESTARTS", "EXIT", "PID", "AGE", "UPDATED", "REASON"}
	if withIP {
		cols = slices.Insert(cols, 4, "IP")
	}
	t := newTable(w, cols...)
	for _, inst := range insts {
		exit, pid := "", ""
		if inst.ExitCode != nil {
			exit = strconv.Itoa(*inst.ExitCode)
		}
		if inst.PID > 0 {
			pid = strconv.Itoa(inst.PID)
		}
		row := []string{strconv.Itoa(inst.Number), string(inst.Status), cmp.Or(inst.ClusterName, inst.ClusterID),
			cmp.Or(inst.NodeName, inst.NodeID), strconv.Itoa(inst.Restarts), exit, pid, instanceAge(a, inst),
			ago(a.now(), inst.UpdatedAt), inst.Reason}
		if withIP {
			row = slices.Insert(row, 4, cmp.Or(inst.IP, "-"))
		}
		t.row(row...)
	}
	return t.flush()
}

// ago is age with " ago", or "-" for an unknown time.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return age(now, t) + " ago"
}

func (a *app) when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format(time.RFC3339) + " (" + ago(a.now(), t) + ")"
}

func resourcesText(sp api.ServiceSpec) string {
	parts := []string{cores(sp.VCPUs) + " vCPU", strconv.FormatInt(sp.MemoryMB, 10) + " MB memory"}
	if sp.VGPUs > 0 {
		parts = append(parts, strconv.Itoa(sp.VGPUs)+" vGPU")
	}
	if sp.VTPUs > 0 {
		parts = append(parts, strconv.Itoa(sp.VTPUs)+" vTPU")
	}
	if sp.Storage > 0 {
		parts = append(parts, strconv.FormatInt(sp.Storage, 10)+" MB storage")
	}
	return strings.Join(parts, ", ")
}

func addressesText(ad *api.Addresses) string {
	if ad == nil {
		return ""
	}
	var parts []string
	for _, p := range [][2]string{{"rr_ip", ad.RRIP}, {"rr_ip_v6", ad.RRIPv6}, {"closest_ip", ad.ClosestIP}} {
		if p[1] != "" {
			parts = append(parts, p[0]+"="+p[1])
		}
	}
	return strings.Join(parts, " ")
}

func constraintsText(cs []api.Constraint) string {
	var out []string
	for _, c := range cs {
		var parts []string
		add := func(k, v string) {
			if v != "" {
				parts = append(parts, k+"="+v)
			}
		}
		add("cluster", c.Cluster)
		add("node", c.Node)
		add("allowed", strings.Join(c.Allowed, ","))
		add("area", c.Area)
		add("location", c.Location)
		if c.Threshold != 0 {
			add("threshold", strconv.FormatFloat(c.Threshold, 'f', -1, 64))
		}
		add("needs", strings.Join(c.Needs, ","))
		out = append(out, strings.TrimSpace(c.Type+" "+strings.Join(parts, " ")))
	}
	return strings.Join(out, "; ")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// fields prints "Key:  value" lines with aligned values, leaving out empty
// ones.
type fields struct {
	tw *tabwriter.Writer
}

func newFields(w io.Writer) *fields {
	return &fields{tw: tabwriter.NewWriter(w, 0, 8, 1, ' ', 0)}
}

func (f *fields) add(key, value string) {
	if value == "" {
		return
	}
	fmt.Fprintf(f.tw, "%s:\t%s\n", key, strings.ReplaceAll(value, "\n", " "))
}

func (f *fields) flush() error { return f.tw.Flush() }

// indent prefixes every line written to w.
func indent(w io.Writer, prefix string) io.Writer {
	return &indenter{w: w, prefix: []byte(prefix), atStart: true}
}

type indenter struct {
	w       io.Writer
	prefix  []byte
	atStart bool
}

func (in *indenter) Write(p []byte) (int, error) {
	var out []byte
	for _, b := range p {
		if in.atStart {
			out = append(out, in.prefix...)
			in.atStart = false
		}
		out = append(out, b)
		if b == '\n' {
			in.atStart = true
		}
	}
	if _, err := in.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	placeapp "github.com/hedgeorch/hedge/internal/placement/app"
	"github.com/hedgeorch/hedge/internal/sla"
	"github.com/hedgeorch/hedge/internal/topology"
)

// PlanCommand returns `hedge plan`: it reads a FogAtlas topology (regions,
// links, external endpoints), the nodes that give the regions capacity and
// one application (FADepl) from files, and prints where the application would
// run, without a server. The binary's owner registers it on the root command.
func PlanCommand() *cobra.Command {
	var (
		files  []string
		output string
		opts   placeapp.Options
		method string
	)
	cmd := &cobra.Command{
		Use:   "plan -f FILE [-f FILE...]",
		Short: "Place a FogAtlas application on a topology, offline",
		Long: "Plan reads YAML documents of kinds Region, Link, ExternalEndpoint, Node and one\n" +
			"FADepl (apiVersion fogatlas.fbk.eu/v1alpha1; Node is v1), or an Oakestra SLA whose\n" +
			"microservices declare connectivity (dataflows), and prints the placement:\n" +
			"each microservice's region and replicas, the bandwidth it takes on each link, the\n" +
			"objective and whether it was solved exactly or by heuristic, or why it does not fit.\n" +
			"No server is needed. See docs/placement.md.",
		Example: "  hedge plan -f region.yaml -f link.yaml -f externalendpoint.yaml \\\n" +
			"    -f examples/fogatlas-nodes.yaml -f fadepl-dag.yaml -o json",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != formatTable && output != formatJSON {
				return fmt.Errorf("invalid output format %q: want table or json", output)
			}
			opts.Method = placeapp.Method(method)
			return runPlan(cmd, files, output, opts)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&files, "filename", "f", nil, "YAML file with topology, nodes or the application; repeat for several; - reads standard input")
	f.StringVarP(&output, "output", "o", formatTable, "output format: table or json")
	f.StringVar(&method, "method", "", "force the method: exact or heuristic (default: exact up to --exact-limit variables)")
	f.IntVar(&opts.ExactLimit, "exact-limit", 0, "largest model solved exactly, in 0/1 variables (default "+strconv.Itoa(placeapp.DefaultExactLimit)+")")
	f.Int64Var(&opts.Weights.Network, "network-weight", 0, "weight of the network cost, kbit/s per hop (default 1)")
	f.Int64Var(&opts.Weights.Compute, "compute-weight", 0, "weight of the compute cost, cpu millicores (default 1)")
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}

// runPlan parses the files, places the application and prints the result.
// A placement that does not fit is printed and also returned as an error,
// so that the exit code says so.
func runPlan(cmd *cobra.Command, files []string, output string, opts placeapp.Options) error {
	var objs []topology.Object
	for _, name := range files {
		data, err := readPlanFile(cmd, name)
		if err != nil {
			return err
		}
		if isSLA(data) {
			// An Oakestra SLA: each application is planned as a whole, its
			// connectivity entries as dataflows (topology.FromSLA).
			doc, err := sla.Parse(data)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			for _, a := range doc.Applications {
				objs = append(objs, topology.FromSLA(a.Name, a.Services))
			}
			continue
		}
		parsed, err := topology.ParseDocuments(data)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		objs = append(objs, parsed...)
	}
	var apps []*topology.FADepl
	for _, o := range objs {
		if a, ok := o.(*topology.FADepl); ok {
			apps = append(apps, a)
		}
	}
	switch len(apps) {
	case 0:
		return errors.New("no application: give a file with a kind: FADepl document or an SLA")
	case 1:
	default:
		names := make([]string, len(apps))
		for i, a := range apps {
			names[i] = a.Name
		}
		return fmt.Errorf("%d applications (%s): plan one at a time", len(apps), strings.Join(names, ", "))
	}
	topo, err := topology.Build(objs)
	if err != nil {
		return err
	}
	res, err := placeapp.Place(cmd.Context(), topo, apps[0], opts)
	if res == nil {
		return err
	}
	if perr := printPlan(cmd.OutOrStdout(), output, res); perr != nil {
		return perr
	}
	if errors.Is(err, placeapp.ErrInfeasible) {
		return fmt.Errorf("application %s does not fit", res.App)
	}
	return err
}

// isSLA tells an Oakestra SLA (JSON or YAML, with sla_version) from
// FogAtlas documents.
func isSLA(data []byte) bool {
	return bytes.Contains(data, []byte("sla_version"))
}

// maxPlanFile bounds what plan reads from one file.
const maxPlanFile = 64 << 20

func readPlanFile(cmd *cobra.Command, name string) ([]byte, error) {
	var r io.Reader
	if name == "-" {
		r = cmd.InOrStdin()
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxPlanFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > maxPlanFile {
		return nil, fmt.Errorf("read %s: larger than %d MiB", name, maxPlanFile>>20)
	}
	return data, nil
}

// printPlan writes the result as JSON or as tables.
func printPlan(w io.Writer, output string, res *placeapp.Result) error {
	if output == formatJSON {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return fmt.Errorf("encode json: %w", err)
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "APPLICATION\tALGORITHM\tMETHOD\tSTATUS\tOBJECTIVE")
	objective := "-"
	if res.Status != placeapp.StatusFailed && res.Method != placeapp.MethodDirect {
		objective = fmt.Sprintf("%d (network %d kbit/s*hop, compute %s cpu, latency %s ms)", res.Objective,
			res.NetworkCost, topology.FormatMilliCPU(res.ComputeCost), strconv.FormatFloat(float64(res.LatencyMicros)/1000, 'f', -1, 64))
	}
	fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", res.App, res.Algorithm, res.Method, res.Status, objective)
	if err := tw.Flush(); err != nil {
		return err
	}
	if res.Status == placeapp.StatusFailed {
		_, err := fmt.Fprintf(w, "\nReason: %s\n", res.Reason)
		return err
	}

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "MICROSERVICE\tREGION\tREPLICAS\tIMAGE\tCPU\tMEMORY\tNODES\tDEPLOYMENT")
	for _, p := range res.Placements {
		for _, rp := range p.Regions {
			nodes := make([]string, len(rp.Nodes))
			for i, n := range rp.Nodes {
				nodes[i] = n.Node
				if n.Replicas > 1 {
					nodes[i] += "x" + strconv.Itoa(n.Replicas)
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", p.Microservice, rp.Region, rp.Replicas, cell(rp.Image),
				topology.FormatMilliCPU(rp.CPUMillis), topology.FormatBytes(rp.MemoryBytes), cell(strings.Join(nodes, ",")), rp.Deployment)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(res.LinksOccupancy) == 0 {
		_, err := fmt.Fprintln(w, "\nNo link carries this application's dataflows.")
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "LINK\tALLOCATED\tFREE AFTER")
	for _, o := range res.LinksOccupancy {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", o.LinkID, topology.FormatBandwidth(o.BWAllocated), topology.FormatBandwidth(o.FreeAfter))
	}
	return tw.Flush()
}

// cell keeps table columns aligned when a value is empty.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

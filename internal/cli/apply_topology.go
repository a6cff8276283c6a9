package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hedgeorch/hedge/api"
)

// isFogAtlas reports whether a file holds FogAtlas documents (Region, Link,
// ExternalEndpoint, FADepl) rather than an SLA: `hedge apply -f` sends those
// to /api/topology.
func isFogAtlas(body []byte) bool {
	return bytes.Contains(body, []byte(api.FogAtlasAPIVersion))
}

// applyTopology sends FogAtlas documents and prints what was placed. A
// FADepl that could not be placed makes the command fail with its reason.
func applyTopology(ctx context.Context, c *api.Client, w io.Writer, format, file string, body []byte, contentType string) error {
	res, err := c.ApplyTopology(ctx, body, contentType)
	if err != nil {
		return fmt.Errorf("apply %s: %w", file, err)
	}
	err = render(w, format, res, func(w io.Writer) error {
		for _, id := range res.Regions {
			fmt.Fprintf(w, "region %s configured\n", id)
		}
		for _, id := range res.Links {
			fmt.Fprintf(w, "link %s configured\n", id)
		}
		for _, id := range res.Endpoints {
			fmt.Fprintf(w, "externalendpoint %s configured\n", id)
		}
		for _, f := range res.FADepls {
			fmt.Fprintf(w, "fadepl %s %s\n", f.Name, fadeplSummary(f))
		}
		for _, f := range res.Replaced {
			fmt.Fprintf(w, "fadepl %s placed again: %s\n", f.Name, fadeplSummary(f))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, f := range res.FADepls {
		if f.Status != nil && f.Status.Status == "Failed" {
			return fmt.Errorf("fadepl %s: Failed: %s", f.Name, f.Status.Reason)
		}
	}
	return nil
}

func fadeplSummary(f api.FADepl) string {
	if f.Status == nil {
		return "-"
	}
	if f.Status.Status == "Failed" {
		return "Failed: " + f.Status.Reason
	}
	return f.Status.Status + " (" + f.Status.Method + "): " + placementsText(f.Status)
}

func placementsText(r *api.PlacementResult) string {
	var parts []string
	for _, p := range r.Placements {
		for _, rp := range p.Regions {
			parts = append(parts, rp.Deployment+"×"+strconv.Itoa(rp.Replicas))
		}
	}
	return strings.Join(parts, ", ")
}

// topologyGetCommands returns the `hedge get` sub-commands of the topology:
// regions, links, endpoints and fadepl. getCommand adds them.
func (a *app) topologyGetCommands() []*cobra.Command {
	return []*cobra.Command{
		{
			Use: "regions", Aliases: []string{"region"}, Short: "List the topology's regions", Args: cobra.NoArgs,
			RunE: a.withClient(func(ctx context.Context, c *api.Client, w io.Writer, format string, _ []string) error {
				rs, err := c.ListRegions(ctx)
				if err != nil {
					return err
				}
				rs = orEmpty(rs)
				return render(w, format, rs, func(w io.Writer) error {
					if len(rs) == 0 {
						return emptyNote(w, "regions")
					}
					t := newTable(w, "ID", "NAME", "TIER", "LOCATION", "CPUMODEL", "CPU2MIPS")
					for _, r := range rs {
						loc := ""
						if r.Location != nil {
							loc = strconv.FormatFloat(r.Location.Lat, 'f', -1, 64) + "," + strconv.FormatFloat(r.Location.Lon, 'f', -1, 64)
						}
						t.row(r.ID, r.Name, strconv.Itoa(r.Tier), loc, r.CPUModel, strconv.FormatInt(r.CPU2MIPS, 10))
					}
					return t.flush()
				})
			}),
		},
		{
			Use: "links", Aliases: []string{"link"}, Short: "List the topology's links with the bandwidth allocated", Args: cobra.NoArgs,
			RunE: a.withClient(func(ctx context.Context, c *api.Client, w io.Writer, format string, _ []string) error {
				ls, err := c.ListLinks(ctx)
				if err != nil {
					return err
				}
				ls = orEmpty(ls)
				return render(w, format, ls, func(w io.Writer) error {
					if len(ls) == 0 {
						return emptyNote(w, "links")
					}
					t := newTable(w, "ID", "ENDPOINTA", "ENDPOINTB", "BANDWIDTH", "ALLOCATED", "LATENCY", "STATUS")
					for _, l := range ls {
						t.row(l.ID, l.EndpointA, l.EndpointB, bits(l.Bandwidth), bits(l.BWAllocated),
							strconv.FormatFloat(l.Latency, 'f', -1, 64)+"ms", l.Status)
					}
					return t.flush()
				})
			}),
		},
		{
			Use: "endpoints", Aliases: []string{"endpoint", "externalendpoints", "externalendpoint"}, Short: "List the external endpoints", Args: cobra.NoArgs,
			RunE: a.withClient(func(ctx context.Context, c *api.Client, w io.Writer, format string, _ []string) error {
				es, err := c.ListEndpoints(ctx)
				if err != nil {
					return err
				}
				es = orEmpty(es)
				return render(w, format, es, func(w io.Writer) error {
					if len(es) == 0 {
						return emptyNote(w, "external endpoints")
					}
					t := newTable(w, "ID", "TYPE", "REGION", "IPADDRESS")
					for _, e := range es {
						t.row(e.ID, e.Type, e.RegionID, e.IPAddress)
					}
					return t.flush()
				})
			}),
		},
		{
			Use: "fadepl [NAME]", Aliases: []string{"fadepls"}, Short: "List FADepl applications with their placement status, or show one", Args: cobra.MaximumNArgs(1),
			RunE: a.withClient(func(ctx context.Context, c *api.Client, w io.Writer, format string, args []string) error {
				var fs []api.FADepl
				if len(args) == 1 {
					f, err := c.GetFADepl(ctx, args[0])
					if err != nil {
						return err
					}
					fs = []api.FADepl{f}
				} else {
					var err error
					if fs, err = c.ListFADepls(ctx); err != nil {
						return err
					}
				}
				fs = orEmpty(fs)
				var v any = fs
				if len(args) == 1 {
					v = fs[0]
				}
				return render(w, format, v, func(w io.Writer) error {
					if len(fs) == 0 {
						return emptyNote(w, "FADepls")
					}
					t := newTable(w, "NAME", "ALGORITHM", "STATUS", "METHOD", "PLACEMENT", "LINKS", "REASON")
					for _, f := range fs {
						st := f.Status
						if st == nil {
							st = &api.PlacementResult{}
						}
						var links []string
						for _, o := range st.LinksOccupancy {
							links = append(links, o.LinkID+"="+bits(o.BWAllocated))
						}
						t.row(f.Name, f.Algorithm, st.Status, st.Method, placementsText(st), strings.Join(links, ","), st.Reason)
					}
					return t.flush()
				})
			}),
		},
	}
}

// bits renders a bandwidth in bit/s compactly: 100k, 10M, 1.5G.
func bits(v int64) string {
	for _, u := range []struct {
		div    float64
		suffix string
	}{{1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if float64(v) >= u.div {
			return strings.TrimSuffix(strconv.FormatFloat(float64(v)/u.div, 'f', 1, 64), ".0") + u.suffix
		}
	}
	return strconv.FormatInt(v, 10)
}

package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/hedgeorch/hedge/api"
)

// nodeCommand groups the operator's node controls.
func (a *app) nodeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Cordon, uncordon or drain a node (Admin)",
		Example: "  hedge node cordon worker3     # no new instances on worker3\n" +
			"  hedge node drain worker3      # also move its instances to other nodes\n" +
			"  hedge node uncordon worker3",
	}
	for _, op := range []struct{ name, short string }{
		{"cordon", "Place no new instances on the node"},
		{"drain", "Cordon the node and move its instances to other nodes of its cluster"},
		{"uncordon", "Undo cordon and drain"},
	} {
		cmd.AddCommand(&cobra.Command{
			Use:   op.name + " NODE",
			Short: op.short,
			Args:  cobra.ExactArgs(1),
			RunE: a.withClient(func(ctx context.Context, c *api.Client, w io.Writer, format string, args []string) error {
				n, err := c.ControlNode(ctx, args[0], op.name)
				if err != nil {
					return err
				}
				if format != formatTable {
					return a.renderNodes(w, format, []api.Node{n})
				}
				_, err = fmt.Fprintf(w, "node %s: %s\n", n.Name, map[string]string{"cordon": "cordoned", "drain": "draining", "uncordon": "uncordoned"}[op.name])
				return err
			}),
		})
	}
	return cmd
}

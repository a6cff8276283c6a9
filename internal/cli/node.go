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
		Short: "Cordon, uncordon, drain or delete a node (Admin)",
		Example: "  hedge node cordon worker3     # no new instances on worker3\n" +
			"  hedge node drain worker3      # also move its instances to other nodes\n" +
			"  hedge node uncordon worker3\n" +
			"  hedge node delete worker3     # revoke its credential, move its instances",
	}
	cmd.AddCommand(&cobra.Command{
		Use:     "delete NODE",
		Aliases: []string{"rm"},
		Short:   "Delete a node: its cluster revokes its credential and moves its instances to other nodes",
		Long: "Delete a node. Its cluster revokes the worker's credential (its next request gets 401, and\n" +
			"it stops the instances it ran), forgets it and places its instances on other nodes. To join\n" +
			"again the worker needs its identity file removed and a new join token.",
		Args: cobra.ExactArgs(1),
		RunE: a.withClient(func(ctx context.Context, c *api.Client, w io.Writer, _ string, args []string) error {
			if err := c.DeleteNode(ctx, args[0]); err != nil {
				return fmt.Errorf("delete node %s: %w", args[0], err)
			}
			_, err := fmt.Fprintf(w, "node %s deleted: its credential is revoked and its instances move to other nodes\n", args[0])
			return err
		}),
	})
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

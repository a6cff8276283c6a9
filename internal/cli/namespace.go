package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hedgeorch/hedge/api"
)

// namespaceCommand groups the instance network's namespace policy.
func (a *app) namespaceCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "namespace",
		Aliases: []string{"ns"},
		Short:   "Isolate namespaces from each other on the instance network (Admin)",
		Example: "  hedge namespace isolate prod --allow ops   # only prod and ops reach prod's instances\n" +
			"  hedge namespace open prod                  # open it again\n" +
			"  hedge namespace list",
	}
	var allow []string
	isolate := &cobra.Command{
		Use:   "isolate NAMESPACE",
		Short: "Close a namespace's instances to instances of other namespaces (but those given with --allow)",
		Args:  cobra.ExactArgs(1),
		RunE: a.withClient(func(ctx context.Context, c *api.Client, w io.Writer, format string, args []string) error {
			iso, err := c.SetIsolation(ctx, args[0], api.NamespaceIsolation{Isolated: true, Allow: allow})
			if err != nil {
				return fmt.Errorf("isolate namespace %s: %w", args[0], err)
			}
			return a.renderIsolation(w, format, []api.NamespaceIsolation{iso})
		}),
	}
	isolate.Flags().StringArrayVar(&allow, "allow", nil, "namespace whose instances may still connect (repeatable)")
	open := &cobra.Command{
		Use:   "open NAMESPACE",
		Short: "Open an isolated namespace again",
		Args:  cobra.ExactArgs(1),
		RunE: a.withClient(func(ctx context.Context, c *api.Client, w io.Writer, format string, args []string) error {
			iso, err := c.SetIsolation(ctx, args[0], api.NamespaceIsolation{})
			if err != nil {
				return fmt.Errorf("open namespace %s: %w", args[0], err)
			}
			return a.renderIsolation(w, format, []api.NamespaceIsolation{iso})
		}),
	}
	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the isolated namespaces",
		Args:    cobra.NoArgs,
		RunE: a.withClient(func(ctx context.Context, c *api.Client, w io.Writer, format string, _ []string) error {
			isos, err := c.ListIsolation(ctx)
			if err != nil {
				return err
			}
			return a.renderIsolation(w, format, isos)
		}),
	}
	cmd.AddCommand(isolate, open, list)
	return cmd
}

func (a *app) renderIsolation(w io.Writer, format string, isos []api.NamespaceIsolation) error {
	return render(w, format, isos, func(w io.Writer) error {
		t := newTable(w, "NAMESPACE", "ISOLATED", "ALLOW")
		for _, iso := range isos {
			t.row(iso.Namespace, yesNo(iso.Isolated), strings.Join(iso.Allow, ","))
		}
		return t.flush()
	})
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/hedgeorch/hedge/api"
)

func (a *app) deleteCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete app|service|instance ...",
		Short: "Delete an application, a service or one instance",
		Example: "  hedge delete app clientsrvr\n" +
			"  hedge delete service clientsrvr/curl\n" +
			"  hedge delete instance clientsrvr/nginx 2",
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errors.New("name what to delete: app, service or instance")
			}
			return fmt.Errorf("cannot delete %q: want app, service or instance", args[0])
		},
	}
	cmd.AddCommand(
		&cobra.Command{
			Use:     "app NAME_OR_ID",
			Aliases: []string{"apps", "application", "applications"},
			Short:   "Delete an application with all its services and instances",
			Args:    cobra.ExactArgs(1),
			RunE: a.withClient(func(ctx context.Context, c *api.Client, w io.Writer, _ string, args []string) error {
				app, err := resolveApp(ctx, c, args[0])
				if err != nil {
					return err
				}
				if err := c.DeleteApplication(ctx, app.ID); err != nil {
					return fmt.Errorf("delete application %s: %w", app.Name, err)
				}
				_, err = fmt.Fprintf(w, "application %s deleted\n", app.Name)
				return err
			}),
		},
		&cobra.Command{
			Use:     "service SERVICE",
			Aliases: []string{"services", "svc"},
			Short:   "Delete a service and stop its instances",
			Args:    cobra.ExactArgs(1),
			RunE: a.withClient(func(ctx context.Context, c *api.Client, w io.Writer, _ string, args []string) error {
				svc, err := resolveService(ctx, c, args[0])
				if err != nil {
					return err
				}
				if err := c.DeleteService(ctx, svc.ID); err != nil {
					return fmt.Errorf("delete service %s: %w", serviceName(svc), err)
				}
				_, err = fmt.Fprintf(w, "service %s deleted\n", serviceName(svc))
				return err
			}),
		},
		&cobra.Command{
			Use:     "instance SERVICE N",
			Aliases: []string{"instances", "inst"},
			Short:   "Stop and remove instance number N of a service",
			Args:    cobra.ExactArgs(2),
			RunE: a.withClient(func(ctx context.Context, c *api.Client, w io.Writer, _ string, args []string) error {
				n, err := parseCount(args[1])
				if err != nil {
					return err
				}
				svc, err := resolveService(ctx, c, args[0])
				if err != nil {
					return err
				}
				if err := c.DeleteInstance(ctx, svc.ID, n); err != nil {
					return fmt.Errorf("delete instance %d of %s: %w", n, serviceName(svc), err)
				}
				_, err = fmt.Fprintf(w, "instance %d of %s deleted\n", n, serviceName(svc))
				return err
			}),
		},
	)
	return cmd
}

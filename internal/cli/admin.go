package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/hedgeorch/hedge/api"
)

func (a *app) tokenCommand() *cobra.Command {
	var kind, cluster string
	var ttl time.Duration
	var uses int
	create := &cobra.Command{
		Use:   "create --kind cluster|worker [--ttl D] [--uses N] [--cluster NAME]",
		Short: "Issue a join token and print only the token (Admin only)",
		Long: "Issue a join token. It expires after --ttl (default 24h, at most 720h) and admits at most\n" +
			"--uses joins (1: single use; 0: any number until it expires). A worker token admits\n" +
			"workers at every cluster, or only at the one named by --cluster. The token is shown\n" +
			"once; `hedge token list` shows its id, uses and expiry, `hedge token revoke ID` ends it.",
		Example: "  hedge token create --kind cluster --uses 1\n" +
			"  TOKEN=$(hedge token create --kind worker --ttl 1h --cluster site1)",
		Args: cobra.NoArgs,
		RunE: a.withClient(func(ctx context.Context, c *api.Client, w io.Writer, format string, _ []string) error {
			if kind != api.TokenKindCluster && kind != api.TokenKindWorker {
				return fmt.Errorf("invalid --kind %q: want cluster or worker", kind)
			}
			if ttl < 0 {
				return fmt.Errorf("invalid --ttl %s: want a duration >= 0", ttl)
			}
			if uses < 0 {
				return fmt.Errorf("invalid --uses %d: want 0 (until it expires) or more", uses)
			}
			req := api.CreateTokenRequest{Kind: kind, MaxUses: uses, Cluster: cluster}
			if ttl > 0 {
				// Round up so that a sub-second TTL does not turn into "server default".
				req.TTLSeconds = int64((ttl + time.Second - 1) / time.Second)
			}
			jt, err := c.IssueToken(ctx, req)
			if err != nil {
				return fmt.Errorf("create %s token: %w", kind, err)
			}
			return render(w, format, jt, func(w io.Writer) error {
				_, err := fmt.Fprintln(w, jt.Token)
				return err
			})
		}),
	}
	create.Flags().StringVar(&kind, "kind", "", "what the token lets join: cluster or worker")
	create.Flags().DurationVar(&ttl, "ttl", 24*time.Hour, "how long the token is valid (0: the server's default, 24h; at most 720h)")
	create.Flags().IntVar(&uses, "uses", 0, "joins the token admits (1: single use; 0: any number until it expires)")
	create.Flags().StringVar(&cluster, "cluster", "", "worker tokens: admit workers at this cluster only (default: every cluster)")
	_ = create.MarkFlagRequired("kind")

	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List join tokens that have not expired, without their secrets (Admin only)",
		Args:    cobra.NoArgs,
		RunE: a.withClient(func(ctx context.Context, c *api.Client, w io.Writer, format string, _ []string) error {
			ts, err := c.ListTokens(ctx)
			if err != nil {
				return err
			}
			ts = orEmpty(ts)
			return render(w, format, ts, func(w io.Writer) error {
				if len(ts) == 0 {
					return emptyNote(w, "join tokens")
				}
				t := newTable(w, "ID", "KIND", "CLUSTER", "USES", "EXPIRES")
				for _, jt := range ts {
					scope, used := jt.Cluster, fmt.Sprintf("%d/unlimited", jt.Uses)
					if scope == "" {
						scope = "-"
						if jt.Kind == api.TokenKindWorker {
							scope = "(all)"
						}
					}
					if jt.MaxUses > 0 {
						used = fmt.Sprintf("%d/%d", jt.Uses, jt.MaxUses)
					}
					t.row(jt.ID, jt.Kind, scope, used, "in "+age(jt.ExpiresAt, a.now()))
				}
				return t.flush()
			})
		}),
	}
	revoke := &cobra.Command{
		Use:     "revoke ID",
		Aliases: []string{"delete", "rm"},
		Short:   "Revoke a join token: every cluster refuses it from now on (Admin only)",
		Args:    cobra.ExactArgs(1),
		RunE: a.withClient(func(ctx context.Context, c *api.Client, w io.Writer, _ string, args []string) error {
			if err := c.RevokeToken(ctx, args[0]); err != nil {
				return fmt.Errorf("revoke token %s: %w", args[0], err)
			}
			_, err := fmt.Fprintf(w, "join token %s revoked\n", args[0])
			return err
		}),
	}

	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage join tokens for clusters and workers",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func (a *app) userCommand() *cobra.Command {
	var roles []string
	var passwordStdin bool
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a user (Admin only)",
		Long: "Create a user. The password is read from stdin with --password-stdin, else asked\n" +
			"twice on the terminal. Roles: Admin, Organization_Admin, Application_Provider,\n" +
			"Infrastructure_Provider.",
		Example: "  hedge user create alice --role Application_Provider\n" +
			"  echo \"$PW\" | hedge user create ci --role Application_Provider --password-stdin",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := a.format()
			if err != nil {
				return err
			}
			password, err := a.newPassword(cmd, passwordStdin)
			if err != nil {
				return err
			}
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			u, err := c.CreateUser(cmd.Context(), args[0], password, roles...)
			if err != nil {
				return fmt.Errorf("create user %s: %w", args[0], err)
			}
			return render(cmd.OutOrStdout(), format, u, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "user %s created\n", args[0])
				return err
			})
		},
	}
	create.Flags().StringSliceVar(&roles, "role", []string{"Application_Provider"}, "role of the user (repeatable)")
	create.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from stdin")

	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List users (Admin only)",
		Args:    cobra.NoArgs,
		RunE:    a.withClient(a.listUsers),
	}
	del := &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Delete a user (Admin only)",
		Args:    cobra.ExactArgs(1),
		RunE: a.withClient(func(ctx context.Context, c *api.Client, w io.Writer, _ string, args []string) error {
			if err := c.DeleteUser(ctx, args[0]); err != nil {
				return fmt.Errorf("delete user %s: %w", args[0], err)
			}
			_, err := fmt.Fprintf(w, "user %s deleted\n", args[0])
			return err
		}),
	}
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage users",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(create, list, del)
	return cmd
}

// newPassword takes a new user's password from stdin or, asked twice, from
// the terminal. HEDGE_PASSWORD is not used: it is the password of the user
// logging in, not of the one being created.
func (a *app) newPassword(cmd *cobra.Command, fromStdin bool) (string, error) {
	if fromStdin {
		return readSecretLine(cmd.InOrStdin())
	}
	fd, ok := a.stdinTerminal(cmd)
	if !ok {
		return "", errors.New("no password: use --password-stdin when stdin is not a terminal")
	}
	pw, err := a.promptSecret(cmd, fd, "Password: ")
	if err != nil {
		return "", err
	}
	again, err := a.promptSecret(cmd, fd, "Repeat password: ")
	if err != nil {
		return "", err
	}
	if pw != again {
		return "", errors.New("the passwords do not match")
	}
	return pw, nil
}

// allowCommand keeps the per-cluster allow list of privileged settings.
func (a *app) allowCommand() *cobra.Command {
	set := func(allowed bool, done string) func(context.Context, *api.Client, io.Writer, string, []string) error {
		return func(ctx context.Context, c *api.Client, w io.Writer, _ string, args []string) error {
			if err := c.Allow(ctx, args[0], args[1], allowed); err != nil {
				return fmt.Errorf("allow list of cluster %s: %w", args[0], err)
			}
			_, err := fmt.Fprintf(w, done+"\n", args[1], args[0])
			return err
		}
	}
	add := &cobra.Command{
		Use:     "add CLUSTER USER",
		Short:   "Let USER use privileged settings in microservices pinned to CLUSTER (Admin only)",
		Example: "  hedge allow add edge-1 alice",
		Args:    cobra.ExactArgs(2),
		RunE:    a.withClient(set(true, "%s may use privileged settings on cluster %s")),
	}
	remove := &cobra.Command{
		Use:     "remove CLUSTER USER",
		Aliases: []string{"rm"},
		Short:   "Take USER off CLUSTER's allow list (Admin only)",
		Args:    cobra.ExactArgs(2),
		RunE:    a.withClient(set(false, "%s is off the allow list of cluster %s")),
	}
	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the allow list (Admin only)",
		Args:    cobra.NoArgs,
		RunE: a.withClient(func(ctx context.Context, c *api.Client, w io.Writer, format string, _ []string) error {
			entries, err := c.AllowList(ctx)
			if err != nil {
				return err
			}
			entries = orEmpty(entries)
			return render(w, format, entries, func(w io.Writer) error {
				if len(entries) == 0 {
					return emptyNote(w, "allow list entries")
				}
				t := newTable(w, "CLUSTER", "USER")
				for _, e := range entries {
					t.row(e.Cluster, e.User)
				}
				return t.flush()
			})
		}),
	}
	cmd := &cobra.Command{
		Use:   "allow",
		Short: "Manage who may use privileged settings on which cluster",
		Long: "Raw processes, privileged containers, host-path added_files, pressure_exempt and\n" +
			"priorities above 0 need the Admin role, or an entry here for every cluster the\n" +
			"microservice is pinned to (direct or clusters constraint).",
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(add, remove, list)
	return cmd
}

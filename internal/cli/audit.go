package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/hedgeorch/hedge/api"
)

// auditCommand is "hedge get audit": a page of the root's audit log, newest
// first (Admin only).
func (a *app) auditCommand() *cobra.Command {
	var q api.AuditQuery
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show the audit log: who changed what through the API, newest first (Admin only)",
		Example: "  hedge get audit\n" +
			"  hedge get audit --user alice --limit 20\n" +
			"  hedge get audit --before 1200   # the page after one that ended at 1200",
		Args: cobra.NoArgs,
		RunE: a.withClient(func(ctx context.Context, c *api.Client, w io.Writer, format string, _ []string) error {
			p, err := c.Audit(ctx, q)
			if err != nil {
				return err
			}
			p.Entries = orEmpty(p.Entries)
			return render(w, format, p, func(w io.Writer) error {
				if len(p.Entries) == 0 {
					return emptyNote(w, "audit entries")
				}
				t := newTable(w, "SEQ", "TIME", "USER", "METHOD", "PATH", "STATUS", "REMOTE")
				for _, e := range p.Entries {
					t.row(strconv.FormatUint(e.Seq, 10), e.Time.UTC().Format(time.RFC3339), e.User, e.Method, e.Path,
						strconv.Itoa(e.Status), e.Remote)
				}
				if err := t.flush(); err != nil {
					return err
				}
				if p.Next != 0 {
					_, err := fmt.Fprintf(w, "more: hedge get audit --before %d\n", p.Next)
					return err
				}
				return nil
			})
		}),
	}
	cmd.Flags().StringVar(&q.User, "user", "", "only this user's entries")
	cmd.Flags().Uint64Var(&q.Before, "before", 0, "only entries older than this SEQ")
	cmd.Flags().IntVar(&q.Limit, "limit", 0, "page size (server default 100, at most 1000)")
	return cmd
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/hedgeorch/hedge/api"
)

func (a *app) logsCommand() *cobra.Command {
	var tail int
	var follow bool
	cmd := &cobra.Command{
		Use:   "logs SERVICE [N]",
		Short: "Print the output of an instance (the first one unless N is given)",
		Long: "Print the last --tail bytes of the output of instance N of a service. With -f the\n" +
			"command polls every second and prints only what is new, until interrupted; at most\n" +
			"--tail bytes of new output are caught per poll.",
		Example: "  hedge logs clientsrvr/nginx\n" +
			"  hedge logs nginx 2 --tail 4096\n" +
			"  hedge logs clientsrvr/curl -f",
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if tail < 0 {
				return fmt.Errorf("invalid --tail %d: want bytes >= 0", tail)
			}
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			svc, err := resolveService(ctx, c, args[0])
			if err != nil {
				return err
			}
			n := firstInstance(svc)
			if len(args) == 2 {
				if n, err = parseCount(args[1]); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			logs, err := c.Logs(ctx, svc.ID, n, tail)
			if err != nil {
				return fmt.Errorf("logs of %s instance %d: %w", serviceName(svc), n, err)
			}
			if _, err := out.Write(logs); err != nil || !follow {
				return err
			}
			return a.follow(ctx, c, out, svc, n, tail, logs)
		},
	}
	cmd.Flags().IntVar(&tail, "tail", 0, "bytes of output to show (0: the server's default, 64 KiB)")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new output")
	return cmd
}

// firstInstance is the lowest-numbered instance that is not undeployed, or
// 0 when there is none.
func firstInstance(svc api.Service) int {
	var nums []int
	for _, inst := range svc.Instances {
		if inst.Status != api.StateUndeployed {
			nums = append(nums, inst.Number)
		}
	}
	if len(nums) == 0 {
		return 0
	}
	return slices.Min(nums)
}

// follow polls the log window of an instance and prints what was appended
// since the previous window, until ctx ends.
func (a *app) follow(ctx context.Context, c *api.Client, out io.Writer, svc api.Service, n, tail int, prev []byte) error {
	ticker := time.NewTicker(a.followPoll)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		cur, err := c.Logs(ctx, svc.ID, n, tail)
		if ctx.Err() != nil {
			return nil
		}
		var apiErr *api.Error
		if errors.As(err, &apiErr) && apiErr.Status < 500 {
			return fmt.Errorf("logs of %s instance %d: %w", serviceName(svc), n, err)
		}
		if err != nil {
			continue // the root may be restarting: keep trying
		}
		if _, err := out.Write(cur[overlap(prev, cur):]); err != nil {
			return err
		}
		prev = cur
	}
}

// overlap returns the length of the longest suffix of prev that is also a
// prefix of cur: how much of cur was already printed. Both are windows of the
// same size over an append-only log, so what follows the overlap is new. It
// runs in linear time (Knuth-Morris-Pratt) as windows are up to 64 KiB.
// A log that repeats itself exactly can make new output look old; that is the
// price of an API that serves a tail rather than an offset.
func overlap(prev, cur []byte) int {
	n := min(len(prev), len(cur))
	if n == 0 {
		return 0
	}
	pat, text := cur[:n], prev[len(prev)-n:]
	fail := make([]int, n)
	for i, k := 1, 0; i < n; i++ {
		for k > 0 && pat[i] != pat[k] {
			k = fail[k-1]
		}
		if pat[i] == pat[k] {
			k++
		}
		fail[i] = k
	}
	k := 0
	for _, b := range text {
		for k > 0 && (k == n || b != pat[k]) {
			k = fail[k-1]
		}
		if b == pat[k] {
			k++
		}
	}
	return k
}

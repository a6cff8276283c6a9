package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hedgeorch/hedge/api"
)

// maxSLASize bounds what apply reads; an SLA is a few kilobytes.
const maxSLASize = 16 << 20

func (a *app) applyCommand() *cobra.Command {
	var file string
	var wait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Submit an SLA (JSON or YAML) and wait until its instances run",
		Long: "Submit an SLA v2.0 document. FILE \"-\" reads stdin. Files ending in .yaml or .yml are\n" +
			"sent as YAML, .json as JSON; other names are recognised by their first character.\n" +
			"With --wait (the default) progress lines go to stderr until every instance is RUNNING\n" +
			"or COMPLETED; an instance FAILED or UNSCHEDULABLE for a few seconds ends the command\n" +
			"with its reason and exit code 1.",
		Example: "  hedge apply -f clientsrvr.json\n" +
			"  hedge apply -f app.yaml --wait=false\n" +
			"  cat app.yaml | hedge apply -f - --timeout 5m",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := a.format()
			if err != nil {
				return err
			}
			body, contentType, err := readSLA(cmd.InOrStdin(), file)
			if err != nil {
				return err
			}
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			if isFogAtlas(body) {
				return applyTopology(cmd.Context(), c, cmd.OutOrStdout(), format, file, body, contentType)
			}
			res, err := c.SubmitSLA(cmd.Context(), body, contentType)
			if err != nil {
				return fmt.Errorf("apply %s: %w", file, err)
			}
			err = render(cmd.OutOrStdout(), format, res, func(w io.Writer) error {
				for _, app := range res.Applications {
					fmt.Fprintf(w, "application %s created (ID %s)\n", app.Name, app.ID)
				}
				for _, s := range res.Services {
					fmt.Fprintf(w, "service %s created (ID %s)\n", serviceName(s), s.ID)
				}
				return nil
			})
			if err != nil || !wait || len(res.Services) == 0 {
				return err
			}
			targets := make([]waitTarget, len(res.Services))
			for i, s := range res.Services {
				want := s.Spec.Instances
				if want <= 0 {
					want = 1
				}
				targets[i] = waitTarget{id: s.ID, name: serviceName(s), want: want}
			}
			return a.waiter(c, cmd).wait(cmd.Context(), targets, timeout)
		},
	}
	cmd.Flags().StringVarP(&file, "filename", "f", "", "SLA file to submit, - for stdin")
	cmd.Flags().BoolVar(&wait, "wait", true, "wait until every instance is RUNNING or COMPLETED")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "how long --wait waits")
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}

func (a *app) waiter(c *api.Client, cmd *cobra.Command) *waiter {
	return &waiter{client: c, progress: cmd.ErrOrStderr(), poll: a.waitPoll, grace: a.failGrace, now: a.now}
}

// readSLA reads the SLA at path ("-" = in) and picks its content type.
func readSLA(in io.Reader, path string) ([]byte, string, error) {
	var body []byte
	var err error
	if path == "-" {
		body, err = io.ReadAll(io.LimitReader(in, maxSLASize))
	} else {
		body, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, "", fmt.Errorf("read SLA: %w", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, "", errors.New("read SLA: " + path + " is empty")
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		return body, "application/yaml", nil
	case ".json":
		return body, "application/json", nil
	}
	if bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
		return body, "application/json", nil
	}
	return body, "application/yaml", nil
}

func (a *app) scaleCommand() *cobra.Command {
	var wait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "scale SERVICE N",
		Short: "Set how many instances a service runs",
		Example: "  hedge scale clientsrvr/nginx 3 --wait\n" +
			"  hedge scale nginx 0",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := a.format()
			if err != nil {
				return err
			}
			n, err := parseCount(args[1])
			if err != nil {
				return err
			}
			c, err := a.client(cmd)
			if err != nil {
				return err
			}
			svc, err := resolveService(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			scaled, err := c.Scale(cmd.Context(), svc.ID, n)
			if err != nil {
				return fmt.Errorf("scale %s: %w", serviceName(svc), err)
			}
			err = render(cmd.OutOrStdout(), format, scaled, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "service %s scaled to %d\n", serviceName(svc), n)
				return err
			})
			if err != nil || !wait {
				return err
			}
			return a.waiter(c, cmd).wait(cmd.Context(), []waitTarget{{id: svc.ID, name: serviceName(svc), want: n}}, timeout)
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until N instances are RUNNING or COMPLETED")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "how long --wait waits")
	return cmd
}

// parseCount parses an instance count or number argument.
func parseCount(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid number %q: want a whole number >= 0", s)
	}
	return n, nil
}

package cli

import (
	"fmt"
	"io"
	"runtime"

	"github.com/spf13/cobra"
)

// versionInfo is what `hedge version -o json|yaml` prints.
type versionInfo struct {
	Client clientVersion  `json:"client"`
	Server *serverVersion `json:"server,omitempty"`
}

type clientVersion struct {
	Version string `json:"version"`
	Go      string `json:"go"`
	OS      string `json:"os"`
	Arch    string `json:"arch"`
}

type serverVersion struct {
	URL     string `json:"url"`
	Version string `json:"version"`
	Status  string `json:"status"`
}

func (a *app) versionCommand() *cobra.Command {
	var clientOnly bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the client's version and the root's",
		Example: "  hedge version\n" +
			"  hedge version --client -o json",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := a.format()
			if err != nil {
				return err
			}
			info := versionInfo{Client: clientVersion{Version: a.version, Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}}
			var healthErr error
			if !clientOnly {
				c, err := a.client(cmd)
				if err != nil {
					return err
				}
				h, err := c.Health(cmd.Context())
				if err != nil {
					healthErr = fmt.Errorf("ask the root for its version: %w", err)
				} else {
					info.Server = &serverVersion{URL: c.BaseURL(), Version: h.Version, Status: h.Status}
				}
			}
			err = render(cmd.OutOrStdout(), format, info, func(w io.Writer) error {
				fmt.Fprintf(w, "Client: %s (%s, %s/%s)\n", info.Client.Version, info.Client.Go, info.Client.OS, info.Client.Arch)
				if info.Server != nil {
					fmt.Fprintf(w, "Server: %s (%s, %s)\n", info.Server.Version, info.Server.URL, info.Server.Status)
				}
				return nil
			})
			if err != nil {
				return err
			}
			// Like kubectl: the client version is printed, and an unreachable
			// root still makes the command fail.
			return healthErr
		},
	}
	cmd.Flags().BoolVar(&clientOnly, "client", false, "print the client's version only, without asking the root")
	return cmd
}

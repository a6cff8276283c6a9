package cli

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/pki"
)

func (a *app) loginCommand() *cobra.Command {
	var username string
	var passwordStdin bool
	var caPin string
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Log in to a root and store the tokens in the config file",
		Long: "Log in to a root. The password is read from stdin with --password-stdin, else from\n" +
			"HEDGE_PASSWORD, else asked on the terminal. The access and refresh tokens are stored\n" +
			"in the config file (mode 0600) and used by the other commands; an expired access\n" +
			"token is refreshed by itself.",
		Example: "  hedge login --server https://10.0.0.1:10000 --ca-cert ca.pem\n" +
			"  hedge login --server https://10.0.0.1:10000 --ca-pin sha256:<hex from hedge token create>\n" +
			"  echo \"$PW\" | hedge login --username admin --password-stdin",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := a.configFile()
			if err != nil {
				return err
			}
			cfg, err := loadConfig(path)
			if err != nil {
				return err
			}
			server, err := a.serverURL(cfg)
			if err != nil {
				return err
			}
			password, err := a.loginPassword(cmd, passwordStdin)
			if err != nil {
				return err
			}
			ca, err := a.loginCA(cmd, cfg, server, caPin)
			if err != nil {
				return err
			}
			hc := a.httpClient
			if ca != nil {
				if hc, err = caClient(a.httpClient, ca); err != nil {
					return err
				}
			}
			c := api.NewClient(server, api.WithHTTPClient(hc))
			tp, err := c.Login(cmd.Context(), username, password)
			if err != nil {
				return fmt.Errorf("log in to %s as %s: %w", server, username, err)
			}
			cfg = config{Server: server, Username: username, Token: tp.Token, RefreshToken: tp.RefreshToken, CACert: string(ca)}
			if err := saveConfig(path, cfg); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Logged in to %s as %s\n", server, username)
			if ca != nil {
				c, _ := pki.ParseCert(ca)
				fmt.Fprintf(cmd.OutOrStdout(), "Trusting the CA with fingerprint %s\n", pki.Pin(c))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&username, "username", "u", "admin", "user to log in as")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from stdin")
	cmd.Flags().StringVar(&caPin, "ca-pin", "", "fetch the root's CA and trust it if its key matches this pin (sha256:<hex>, as hedge token create prints)")
	return cmd
}

// loginCA is the CA to trust and keep: --ca-cert (or HEDGE_CA_CERT), else
// the one fetched from the server and checked against --ca-pin, else the
// one stored for that server.
func (a *app) loginCA(cmd *cobra.Command, cfg config, server, pin string) ([]byte, error) {
	if pin == "" {
		return a.caPEM(cfg, server)
	}
	pin, err := pki.ParsePin(pin)
	if err != nil {
		return nil, fmt.Errorf("--ca-pin: %w", err)
	}
	// Root replicas share one CA (ADR 015): the first of a list is asked.
	first := api.ParseEndpoints(server).Current()
	req, err := http.NewRequestWithContext(cmd.Context(), http.MethodGet, first+"/api/health", nil)
	if err != nil {
		return nil, err
	}
	return fetchPinnedCA(req, a.httpClient, pin)
}

// loginPassword takes the password from stdin, HEDGE_PASSWORD or the
// terminal, in that order; it never falls back to reading a non-terminal
// stdin unasked, so a script cannot hang on a prompt nobody sees.
func (a *app) loginPassword(cmd *cobra.Command, fromStdin bool) (string, error) {
	if fromStdin {
		return readSecretLine(cmd.InOrStdin())
	}
	if pw := a.getenv("HEDGE_PASSWORD"); pw != "" {
		return pw, nil
	}
	fd, ok := a.stdinTerminal(cmd)
	if !ok {
		return "", errors.New("no password: use --password-stdin or set HEDGE_PASSWORD when stdin is not a terminal")
	}
	return a.promptSecret(cmd, fd, "Password: ")
}

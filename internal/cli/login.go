package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hedgeorch/hedge/api"
)

func (a *app) loginCommand() *cobra.Command {
	var username string
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Log in to a root and store the tokens in the config file",
		Long: "Log in to a root. The password is read from stdin with --password-stdin, else from\n" +
			"HEDGE_PASSWORD, else asked on the terminal. The access and refresh tokens are stored\n" +
			"in the config file (mode 0600) and used by the other commands; an expired access\n" +
			"token is refreshed by itself.",
		Example: "  hedge login --server http://10.0.0.1:10000\n" +
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
			c := api.NewClient(server, api.WithHTTPClient(a.httpClient))
			tp, err := c.Login(cmd.Context(), username, password)
			if err != nil {
				return fmt.Errorf("log in to %s as %s: %w", server, username, err)
			}
			cfg = config{Server: server, Username: username, Token: tp.Token, RefreshToken: tp.RefreshToken}
			if err := saveConfig(path, cfg); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Logged in to %s as %s\n", server, username)
			return nil
		},
	}
	cmd.Flags().StringVarP(&username, "username", "u", "admin", "user to log in as")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from stdin")
	return cmd
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

package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/hedgeorch/hedge/api"
)

// DefaultServer is the root a client talks to when neither --server,
// HEDGE_SERVER nor the config file names one.
const DefaultServer = "https://127.0.0.1:10000"

// Option configures the command built by NewRootCommand.
type Option func(*settings)

// WithVersion sets the version `hedge version` reports for the client
// (normally set by cmd/hedge from -ldflags). Without it the module version
// from the build info is used.
func WithVersion(v string) Option {
	return func(s *settings) { s.version = v }
}

// WithHTTPClient sets the HTTP client used to reach the root (TLS settings,
// timeouts).
func WithHTTPClient(hc *http.Client) Option {
	return func(s *settings) { s.httpClient = hc }
}

// settings are what the commands depend on from the outside world; tests
// replace them to run without a terminal, a home directory or real waiting.
type settings struct {
	version      string
	httpClient   *http.Client
	getenv       func(string) string
	homeDir      func() (string, error)
	now          func() time.Time
	waitPoll     time.Duration // apply/scale --wait
	followPoll   time.Duration // logs --follow
	failGrace    time.Duration // how long FAILED/UNSCHEDULABLE is tolerated while waiting
	isTerminal   func(fd int) bool
	readPassword func(fd int) ([]byte, error)
}

func defaultSettings() settings {
	return settings{
		version:      buildVersion(),
		getenv:       os.Getenv,
		homeDir:      os.UserHomeDir,
		now:          time.Now,
		waitPoll:     250 * time.Millisecond,
		followPoll:   time.Second,
		failGrace:    5 * time.Second,
		isTerminal:   term.IsTerminal,
		readPassword: term.ReadPassword,
	}
}

func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// app is the state shared by the client subcommands: settings plus the
// values of the global flags.
type app struct {
	settings
	root       *cobra.Command
	server     string
	configPath string
	output     string
	caCert     string
}

// NewRootCommand returns the `hedge` command with the client subcommands.
// Callers add further subcommands (the server roles) with AddCommand and run
// it with Execute. Errors are not printed by cobra: Execute prints them.
func NewRootCommand(opts ...Option) *cobra.Command {
	a := &app{settings: defaultSettings()}
	for _, o := range opts {
		o(&a.settings)
	}
	root := &cobra.Command{
		Use:   "hedge",
		Short: "Hedge, a hierarchical edge orchestrator",
		Long: "Hedge runs services on edge machines organised as root -> clusters -> workers.\n" +
			"The client commands below talk to a root's REST API.",
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	a.root = root
	pf := root.PersistentFlags()
	pf.StringVar(&a.server, "server", DefaultServer, "address of the Hedge root (env HEDGE_SERVER; else the server of the last login)")
	pf.StringVar(&a.configPath, "config", "", "client config file with server and tokens (env HEDGE_CONFIG; default $HOME/.config/hedge/config.json)")
	pf.StringVarP(&a.output, "output", "o", formatTable, "output format: table, json or yaml")
	pf.StringVar(&a.caCert, "ca-cert", "", "CA (PEM) that signed the root's certificate (env HEDGE_CA_CERT; else the one stored at login; else the system's)")

	root.AddCommand(
		a.loginCommand(),
		a.applyCommand(),
		a.getCommand(),
		a.describeCommand(),
		a.scaleCommand(),
		a.deleteCommand(),
		a.logsCommand(),
		a.tokenCommand(),
		a.userCommand(),
		a.allowCommand(),
		a.nodeCommand(),
		a.namespaceCommand(),
		PlanCommand(),
		a.kubeCommand(),
		a.versionCommand(),
	)
	return root
}

// Execute runs root (as built by NewRootCommand) and returns the process exit
// code. An error is printed once, as "error: ..." on stderr.
func Execute(ctx context.Context, root *cobra.Command) int {
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	msg := err.Error()
	if errors.Is(err, api.ErrUnauthorized) && cmd != nil && cmd.Name() != "login" {
		msg += " (run 'hedge login')"
	}
	var cve *tls.CertificateVerificationError
	if errors.As(err, &cve) {
		msg += " (trust the root's CA: --ca-cert <root data dir>/root/ca.pem, or hedge login --ca-pin sha256:...)"
	}
	fmt.Fprintf(root.ErrOrStderr(), "error: %s\n", msg)
	return 1
}

// serverURL is the root to talk to: --server, else HEDGE_SERVER, else the
// server of the last login, else DefaultServer.
func (a *app) serverURL(cfg config) (string, error) {
	raw := DefaultServer
	switch {
	case a.root.PersistentFlags().Changed("server"):
		raw = a.server
	case a.getenv("HEDGE_SERVER") != "":
		raw = a.getenv("HEDGE_SERVER")
	case cfg.Server != "":
		raw = cfg.Server
	}
	return normalizeServer(raw)
}

// normalizeServer accepts "host:port" (taken as https) as well as a URL, so
// that the address a user copies from `hedge up`'s log works as it is.
func normalizeServer(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("invalid server address %q: want http(s)://host:port", raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// configFile is the path of the client config: --config, else HEDGE_CONFIG,
// else $HOME/.config/hedge/config.json.
func (a *app) configFile() (string, error) {
	if a.root.PersistentFlags().Changed("config") && a.configPath != "" {
		return a.configPath, nil
	}
	if p := a.getenv("HEDGE_CONFIG"); p != "" {
		return p, nil
	}
	home, err := a.homeDir()
	if err != nil {
		return "", fmt.Errorf("find the config file: %w (set --config or HEDGE_CONFIG)", err)
	}
	return filepath.Join(home, ".config", "hedge", "config.json"), nil
}

// client returns an API client for the chosen root, with the stored tokens
// when they were issued by that same root (a token is never sent to another
// server). A token refreshed on the way is written back to the config file.
func (a *app) client(cmd *cobra.Command) (*api.Client, error) {
	path, err := a.configFile()
	if err != nil {
		return nil, err
	}
	cfg, err := loadConfig(path)
	if err != nil {
		return nil, err
	}
	server, err := a.serverURL(cfg)
	if err != nil {
		return nil, err
	}
	hc, err := a.httpFor(cfg, server)
	if err != nil {
		return nil, err
	}
	opts := []api.ClientOption{api.WithHTTPClient(hc)}
	if cfg.Server == server && cfg.Token != "" {
		opts = append(opts, api.WithToken(cfg.Token))
		if cfg.RefreshToken != "" {
			opts = append(opts, api.WithRefreshToken(cfg.RefreshToken, func(tp api.TokenPair) {
				cfg.Token, cfg.RefreshToken = tp.Token, tp.RefreshToken
				if err := saveConfig(path, cfg); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: the access token was refreshed but not saved: %v\n", err)
				}
			}))
		}
	}
	return api.NewClient(server, opts...), nil
}

// stdinTerminal returns the file descriptor of the command's input and
// whether it is a terminal (where a password can be asked without echo).
func (a *app) stdinTerminal(cmd *cobra.Command) (int, bool) {
	f, ok := cmd.InOrStdin().(interface{ Fd() uintptr })
	if !ok {
		return 0, false
	}
	fd := int(f.Fd())
	return fd, a.isTerminal(fd)
}

// readSecretLine reads a password given on stdin (--password-stdin): the
// whole input, without its final line break.
func readSecretLine(in io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(in, 64<<10))
	if err != nil {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	pw := strings.TrimRight(string(b), "\r\n")
	if pw == "" {
		return "", errors.New("read password from stdin: input is empty")
	}
	return pw, nil
}

// promptSecret asks for a password on the terminal without echo.
func (a *app) promptSecret(cmd *cobra.Command, fd int, prompt string) (string, error) {
	fmt.Fprint(cmd.ErrOrStderr(), prompt)
	b, err := a.readPassword(fd)
	fmt.Fprintln(cmd.ErrOrStderr())
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	if len(b) == 0 {
		return "", errors.New("read password: empty password")
	}
	return string(b), nil
}

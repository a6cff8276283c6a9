package docker

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/registry"
)

// dockerHubKey is the key under which Docker stores Docker Hub credentials.
const dockerHubKey = "https://index.docker.io/v1/"

// credentials reads registry credentials from a Docker-style config.json:
// "auths" entries (auth = base64 of user:password, or an identity token),
// and "credHelpers" / "credsStore" programs (docker-credential-<name>). The
// file is read at every pull, so that new credentials need no worker
// restart.
type credentials struct {
	path string
}

// configFile is the part of config.json that holds credentials.
type configFile struct {
	Auths       map[string]authEntry `json:"auths"`
	CredsStore  string               `json:"credsStore"`
	CredHelpers map[string]string    `json:"credHelpers"`
}

type authEntry struct {
	Auth          string `json:"auth"`
	Username      string `json:"username"`
	Password      string `json:"password"`
	IdentityToken string `json:"identitytoken"`
}

// loadCredentials checks that the config file at path can be read; "" means
// no credentials.
func loadCredentials(path string) (*credentials, error) {
	if path == "" {
		return nil, nil
	}
	c := &credentials{path: path}
	if _, err := c.read(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *credentials) read() (*configFile, error) {
	b, err := os.ReadFile(c.path)
	if err != nil {
		return nil, fmt.Errorf("registry config: %w", err)
	}
	var cf configFile
	if err := json.Unmarshal(b, &cf); err != nil {
		return nil, fmt.Errorf("registry config %s: %w", c.path, err)
	}
	return &cf, nil
}

// forImage returns the encoded credentials (the X-Registry-Auth header) for
// the registry of ref; "" when there are none.
func (c *credentials) forImage(ctx context.Context, ref string) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", err
	}
	host := reference.Domain(named)
	cf, err := c.read()
	if err != nil {
		return "", err
	}
	server := host
	if host == "docker.io" {
		server = dockerHubKey
	}
	var ac *registry.AuthConfig
	if helper := cf.CredHelpers[host]; helper != "" {
		ac, err = fromHelper(ctx, helper, server)
	} else if e, ok := lookupAuth(cf.Auths, host); ok {
		ac, err = e.config(server)
	} else if cf.CredsStore != "" {
		ac, err = fromHelper(ctx, cf.CredsStore, server)
	}
	if err != nil || ac == nil {
		return "", err
	}
	return authconfig.Encode(*ac)
}

// lookupAuth finds the auths entry of host; keys may be written as URLs
// ("https://registry.example.com/v1/") or as plain host names.
func lookupAuth(auths map[string]authEntry, host string) (authEntry, bool) {
	want := []string{host}
	if host == "docker.io" {
		want = append(want, "index.docker.io", "registry-1.docker.io")
	}
	for key, e := range auths {
		h := key
		if _, rest, ok := strings.Cut(h, "://"); ok {
			h = rest
		}
		h, _, _ = strings.Cut(h, "/")
		for _, w := range want {
			if h == w {
				return e, true
			}
		}
	}
	return authEntry{}, false
}

func (e authEntry) config(server string) (*registry.AuthConfig, error) {
	ac := &registry.AuthConfig{Username: e.Username, Password: e.Password, IdentityToken: e.IdentityToken, ServerAddress: server}
	if e.Auth != "" {
		raw, err := base64.StdEncoding.DecodeString(e.Auth)
		if err != nil {
			return nil, fmt.Errorf("auth of %s: not base64: %w", server, err)
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		if !ok {
			return nil, fmt.Errorf("auth of %s: want base64 of user:password", server)
		}
		ac.Username, ac.Password = user, pass
	}
	return ac, nil
}

// fromHelper asks docker-credential-<helper> for the credentials of server.
// A helper that has none gives anonymous access.
func fromHelper(ctx context.Context, helper, server string) (*registry.AuthConfig, error) {
	cmd := exec.CommandContext(ctx, "docker-credential-"+helper, "get")
	cmd.Stdin = strings.NewReader(server)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		out := strings.TrimSpace(stdout.String() + stderr.String())
		if strings.Contains(out, "credentials not found") {
			return nil, nil
		}
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) && out != "" {
			return nil, fmt.Errorf("docker-credential-%s: %s", helper, out)
		}
		return nil, fmt.Errorf("docker-credential-%s: %w", helper, err)
	}
	var got struct {
		Username string `json:"Username"`
		Secret   string `json:"Secret"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		return nil, fmt.Errorf("docker-credential-%s: %w", helper, err)
	}
	ac := &registry.AuthConfig{ServerAddress: server, Username: got.Username, Password: got.Secret}
	if got.Username == "<token>" {
		ac = &registry.AuthConfig{ServerAddress: server, IdentityToken: got.Secret}
	}
	return ac, nil
}

package glances

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Errors a Client returns, to be tested with errors.Is.
var (
	// ErrUnauthorized means the endpoint wants credentials the client does
	// not have, or rejected them.
	ErrUnauthorized = errors.New("glances: unauthorized")
	// ErrNotFound means the endpoint does not serve that plugin or item
	// (Glances answers 400 for an unknown plugin, Hedge 404; both land here).
	ErrNotFound = errors.New("glances: not found")
)

// Client reads a Glances-compatible REST API: a real `glances -w` or a Hedge
// worker's view. Its zero value is not usable; BaseURL is required.
type Client struct {
	// BaseURL is the server root, e.g. "http://10.0.0.5:61208".
	BaseURL string
	// APIVersion is "3" or "4"; empty means "3", which Glances 3 serves and
	// Hedge serves too. Glances 4 only serves "4".
	APIVersion string
	// Token is sent as "Authorization: Bearer <token>" (Hedge workers).
	Token string
	// Username and Password are sent as basic auth when Password is set (a
	// Glances started with --password; its default user is "glances").
	Username, Password string
	// HTTPClient does the requests; nil means http.DefaultClient. Give it a
	// Timeout: a hung host should not stall whoever polls it.
	HTTPClient *http.Client
}

// CPU reads the cpu plugin.
func (c *Client) CPU(ctx context.Context) (CPU, error) {
	var v CPU
	return v, c.Get(ctx, "cpu", &v)
}

// Mem reads the mem plugin.
func (c *Client) Mem(ctx context.Context) (Mem, error) {
	var v Mem
	return v, c.Get(ctx, "mem", &v)
}

// Load reads the load plugin.
func (c *Client) Load(ctx context.Context) (Load, error) {
	var v Load
	return v, c.Get(ctx, "load", &v)
}

// FS reads the fs plugin.
func (c *Client) FS(ctx context.Context) ([]FS, error) {
	var v []FS
	return v, c.Get(ctx, "fs", &v)
}

// Plugins reads the list of plugins the server offers.
func (c *Client) Plugins(ctx context.Context) ([]string, error) {
	var v []string
	return v, c.Get(ctx, "pluginslist", &v)
}

// Get reads /api/<version>/<path> into out, which is decoded as JSON. It is
// the escape hatch for plugins without a typed method.
func (c *Client) Get(ctx context.Context, path string, out any) error {
	u, err := c.url(path)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("glances request %s: %w", path, err)
	}
	req.Header.Set("Accept", "application/json")
	switch {
	case c.Password != "":
		req.SetBasicAuth(c.Username, c.Password)
	case c.Token != "":
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("glances get %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("glances get %s: read body: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return statusError(u, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("glances get %s: decode: %w", u, err)
	}
	return nil
}

func (c *Client) url(path string) (string, error) {
	if c.BaseURL == "" {
		return "", errors.New("glances client: BaseURL is empty")
	}
	base, err := url.Parse(c.BaseURL)
	if err != nil {
		return "", fmt.Errorf("glances client: BaseURL %q: %w", c.BaseURL, err)
	}
	v := c.APIVersion
	if v == "" {
		v = "3"
	}
	return strings.TrimSuffix(base.String(), "/") + "/api/" + v + "/" + strings.TrimPrefix(path, "/"), nil
}

// statusError keeps the server's message: Glances 4 and Hedge send
// {"detail": ...}, Glances 3 an HTML page whose text is of less use.
func statusError(u string, status int, body []byte) error {
	var e struct {
		Detail string `json:"detail"`
	}
	msg := http.StatusText(status)
	if json.Unmarshal(body, &e) == nil && e.Detail != "" {
		msg = e.Detail
	}
	err := fmt.Errorf("glances get %s: %d %s", u, status, msg)
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%w: %w", ErrUnauthorized, err)
	case http.StatusNotFound, http.StatusBadRequest:
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}

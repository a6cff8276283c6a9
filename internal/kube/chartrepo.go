package kube

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/repo"
	"sigs.k8s.io/yaml"

	"github.com/hedgeorch/hedge/api"
)

// Bounds on what a chart repository may send.
const (
	maxIndex = 32 << 20
	maxChart = 64 << 20
)

// repoRecord is a chart repository as stored; the password is sealed.
type repoRecord struct {
	api.ChartRepo
	Username       string `json:"username,omitempty"`
	SealedPassword []byte `json:"sealed_password,omitempty"`
}

// repoAccess is what fetching from a repository needs.
type repoAccess struct {
	url, username, password string
}

// ParseIndex reads a chart repository's index.yaml and returns its chart
// versions, newest first within a chart, charts by name.
func ParseIndex(b []byte) (*repo.IndexFile, error) {
	var idx repo.IndexFile
	if err := yaml.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("%w: index.yaml: %v", ErrInvalid, err)
	}
	if idx.APIVersion == "" {
		return nil, fmt.Errorf("%w: index.yaml: apiVersion: missing, not a chart repository index", ErrInvalid)
	}
	for name, vs := range idx.Entries {
		kept := vs[:0]
		for _, v := range vs {
			if v != nil && v.Metadata != nil && v.Version != "" && len(v.URLs) > 0 {
				kept = append(kept, v)
			}
		}
		idx.Entries[name] = kept
	}
	idx.SortEntries()
	return &idx, nil
}

// Charts lists the chart versions of an index for the API.
func Charts(repoName string, idx *repo.IndexFile) []api.Chart {
	out := []api.Chart{}
	names := make([]string, 0, len(idx.Entries))
	for n := range idx.Entries {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, v := range idx.Entries[n] {
			out = append(out, api.Chart{Repo: repoName, Name: n, Version: v.Version, AppVersion: v.AppVersion, Description: v.Description})
		}
	}
	return out
}

// fetchIndex downloads and parses the repository's index.yaml, and says
// how many bytes it was.
func fetchIndex(ctx context.Context, hc *http.Client, r repoAccess) (*repo.IndexFile, int, error) {
	b, err := fetch(ctx, hc, r, strings.TrimRight(r.url, "/")+"/index.yaml", maxIndex)
	if err != nil {
		return nil, 0, err
	}
	idx, err := ParseIndex(b)
	return idx, len(b), err
}

// fetchChart finds name at version ("" = newest) in the repository's
// index, cached or, when the cached one does not list it, read again, and
// loads its archive.
func fetchChart(ctx context.Context, hc *http.Client, ic *indexCache, r repoAccess, name, version string) (*chart.Chart, error) {
	idx, err := ic.get(ctx, hc, r)
	if err != nil {
		return nil, err
	}
	cv, err := idx.Get(name, version)
	if err != nil {
		if idx, err = ic.refresh(ctx, hc, r); err != nil {
			return nil, err
		}
		cv, err = idx.Get(name, version)
	}
	if err != nil {
		if version == "" {
			version = "any version"
		}
		return nil, fmt.Errorf("%w: chart %s (%s) is not in repository %s", ErrNotFound, name, version, redactURL(r.url))
	}
	u, err := resolveChartURL(r.url, cv.URLs[0])
	if err != nil {
		return nil, err
	}
	b, err := fetch(ctx, hc, r, u, maxChart)
	if err != nil {
		return nil, err
	}
	ch, err := loader.LoadArchive(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w: chart %s-%s: %v", ErrInvalid, name, cv.Version, err)
	}
	return ch, nil
}

func resolveChartURL(base, ref string) (string, error) {
	b, err := url.Parse(strings.TrimRight(base, "/") + "/")
	if err != nil {
		return "", fmt.Errorf("%w: repository url %q: not a valid URL", ErrInvalid, redactURL(base))
	}
	r, err := url.Parse(ref)
	if err != nil {
		return "", fmt.Errorf("%w: chart url %q: %v", ErrInvalid, ref, err)
	}
	return b.ResolveReference(r).String(), nil
}

// fetch GETs u. Credentials go only to the repository's own host, as Helm
// does without --pass-credentials.
func fetch(ctx context.Context, hc *http.Client, r repoAccess, u string, limit int64) ([]byte, error) {
	shown := redactURL(u) // messages reach every user listing charts
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: url %s: not a valid URL", ErrInvalid, shown)
	}
	if r.username != "" || r.password != "" {
		if base, err := url.Parse(r.url); err == nil && base.Host == req.URL.Host {
			req.SetBasicAuth(r.username, r.password)
		}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: chart repository: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("%w: chart repository refused the credentials for %s (%s)", ErrInvalid, shown, resp.Status)
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("%w: %s", ErrNotFound, shown)
	case resp.StatusCode >= 300:
		return nil, fmt.Errorf("%w: GET %s: %s", ErrUnavailable, shown, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: GET %s: %v", ErrUnavailable, shown, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrInvalid, shown, limit)
	}
	return b, nil
}

package kube

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/store"
)

func validRepo(req api.ChartRepoRequest) error {
	if !nameRE.MatchString(req.Name) {
		return fmt.Errorf("%w: name: %q must be a DNS label (lowercase letters, digits and '-')", ErrInvalid, req.Name)
	}
	u, err := url.Parse(req.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: url: %q: want an http(s) URL of a chart repository", ErrInvalid, req.URL)
	}
	if len(req.Description) > 1024 || len(req.Username) > 256 || len(req.Password) > 4096 {
		return fmt.Errorf("%w: description, username or password too long", ErrInvalid)
	}
	return nil
}

// AddRepo registers a chart repository after reading its index.yaml, so a
// wrong URL or wrong credentials are reported at once.
func (m *Manager) AddRepo(ctx context.Context, req api.ChartRepoRequest) (api.ChartRepo, error) {
	if err := validRepo(req); err != nil {
		return api.ChartRepo{}, err
	}
	if _, err := m.indexes.refresh(ctx, m.cfg.HTTPClient, repoAccess{url: req.URL, username: req.Username, password: req.Password}); err != nil {
		return api.ChartRepo{}, fmt.Errorf("repository %s: %w", req.URL, err)
	}
	rec := repoRecord{ChartRepo: api.ChartRepo{ID: newID(), Name: req.Name, Description: req.Description, URL: strings.TrimRight(req.URL, "/"),
		Private: req.Username != "" || req.Password != "", CreatedAt: m.cfg.Now()}, Username: req.Username}
	if req.Password != "" {
		var err error
		if rec.SealedPassword, err = m.seal.Seal(rec.ID, []byte(req.Password)); err != nil {
			return api.ChartRepo{}, err
		}
	}
	err := m.cfg.Store.Update(func(tx store.Tx) error {
		all, err := store.ListAll[repoRecord](tx, bucketRepos)
		if err != nil {
			return err
		}
		for _, r := range all {
			if r.Name == req.Name {
				return fmt.Errorf("%w: a chart repository named %s exists (id %s)", ErrConflict, r.Name, r.ID)
			}
		}
		return tx.Put(bucketRepos, rec.ID, rec)
	})
	if err != nil {
		return api.ChartRepo{}, err
	}
	return rec.ChartRepo, nil
}

// UpdateRepo changes a repository's description, URL or credentials; an
// empty password keeps the stored one unless the username changes.
func (m *Manager) UpdateRepo(ctx context.Context, idOrName string, req api.ChartRepoRequest) (api.ChartRepo, error) {
	rec, err := m.repo(idOrName)
	if err != nil {
		return api.ChartRepo{}, err
	}
	if req.Name == "" {
		req.Name = rec.Name
	}
	if req.URL == "" {
		req.URL = rec.URL
	}
	if err := validRepo(req); err != nil {
		return api.ChartRepo{}, err
	}
	acc, err := m.repoAccess(rec)
	if err != nil {
		return api.ChartRepo{}, err
	}
	m.indexes.forget(acc)
	acc.url = req.URL
	if req.Username != "" || req.Password != "" {
		acc.username, acc.password = req.Username, req.Password
	}
	if _, err := m.indexes.refresh(ctx, m.cfg.HTTPClient, acc); err != nil {
		return api.ChartRepo{}, fmt.Errorf("repository %s: %w", req.URL, err)
	}
	rec.Name, rec.Description, rec.URL = req.Name, req.Description, strings.TrimRight(req.URL, "/")
	rec.Username, rec.Private = acc.username, acc.username != "" || acc.password != ""
	rec.SealedPassword = nil
	if acc.password != "" {
		if rec.SealedPassword, err = m.seal.Seal(rec.ID, []byte(acc.password)); err != nil {
			return api.ChartRepo{}, err
		}
	}
	err = m.cfg.Store.Update(func(tx store.Tx) error {
		all, err := store.ListAll[repoRecord](tx, bucketRepos)
		if err != nil {
			return err
		}
		for _, r := range all {
			if r.Name == rec.Name && r.ID != rec.ID {
				return fmt.Errorf("%w: a chart repository named %s exists (id %s)", ErrConflict, r.Name, r.ID)
			}
		}
		return tx.Put(bucketRepos, rec.ID, rec)
	})
	if err != nil {
		return api.ChartRepo{}, err
	}
	return rec.ChartRepo, nil
}

// Repos lists the chart repositories, by name.
func (m *Manager) Repos() ([]api.ChartRepo, error) {
	recs, err := m.repoRecords()
	if err != nil {
		return nil, err
	}
	out := make([]api.ChartRepo, len(recs))
	for i, r := range recs {
		out[i] = r.ChartRepo
	}
	return out, nil
}

func (m *Manager) repoRecords() ([]repoRecord, error) {
	var recs []repoRecord
	err := m.cfg.Store.View(func(tx store.Tx) error {
		var err error
		recs, err = store.ListAll[repoRecord](tx, bucketRepos)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Name < recs[j].Name })
	return recs, nil
}

func (m *Manager) repo(idOrName string) (repoRecord, error) {
	recs, err := m.repoRecords()
	if err != nil {
		return repoRecord{}, err
	}
	for _, r := range recs {
		if r.ID == idOrName || r.Name == idOrName {
			return r, nil
		}
	}
	return repoRecord{}, fmt.Errorf("%w: chart repository %s", ErrNotFound, idOrName)
}

func (m *Manager) repoAccess(r repoRecord) (repoAccess, error) {
	acc := repoAccess{url: r.URL, username: r.Username}
	if len(r.SealedPassword) > 0 {
		pw, err := m.seal.Open(r.ID, r.SealedPassword)
		if err != nil {
			return repoAccess{}, err
		}
		acc.password = string(pw)
	}
	return acc, nil
}

// DeleteRepo removes a chart repository; installed enablers stay.
func (m *Manager) DeleteRepo(idOrName string) error {
	rec, err := m.repo(idOrName)
	if err != nil {
		return err
	}
	if acc, err := m.repoAccess(rec); err == nil {
		m.indexes.forget(acc)
	}
	return m.cfg.Store.Update(func(tx store.Tx) error { return tx.Delete(bucketRepos, rec.ID) })
}

// RepoCharts lists the charts of a repository from its index.yaml, read
// at most once per Config.IndexTTL.
func (m *Manager) RepoCharts(ctx context.Context, idOrName string) ([]api.Chart, error) {
	rec, err := m.repo(idOrName)
	if err != nil {
		return nil, err
	}
	acc, err := m.repoAccess(rec)
	if err != nil {
		return nil, err
	}
	idx, err := m.indexes.get(ctx, m.cfg.HTTPClient, acc)
	if err != nil {
		return nil, fmt.Errorf("repository %s: %w", rec.Name, err)
	}
	return Charts(rec.Name, idx), nil
}

//go:build !noKube

package root

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/auth"
	"github.com/hedgeorch/hedge/internal/kube"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/store"
)

// This file plugs Kubernetes clusters and Helm enablers (internal/kube) into
// the root. Builds with the noKube tag use kube_stub.go instead and link
// neither client-go nor Helm.

// kubeHook holds the root's Kubernetes manager; nil m when it could not be
// loaded (the error is logged and the rest of the root works).
type kubeHook struct{ m *kube.Manager }

func newKubeHook(r *Root) *kubeHook {
	cfg := kube.Config{Store: r.cfg.Store, Root: kubeRoot{r}, Logger: r.log, Now: r.cfg.Now}
	if p := r.cfg.KubePressure; p != nil {
		cfg.Pressure = (*kube.PressureConfig)(p)
	}
	m, err := kube.New(cfg)
	if err != nil {
		r.log.Error("kubernetes clusters unavailable", "err", err)
		return &kubeHook{}
	}
	return &kubeHook{m: m}
}

// Kube returns the root's Kubernetes manager (nil if it failed to load), for
// callers such as FADepl and pressure that act on Kubernetes clusters.
func (r *Root) Kube() *kube.Manager { return r.kube.m }

func (h *kubeHook) register(a huma.API) {
	if h.m == nil {
		return
	}
	kube.Register(a, h.m, kube.APIOptions{Security: secured, RequireAdmin: requireAdmin})
}

// run starts the manager and returns a function that waits for it to stop
// once ctx has ended.
func (h *kubeHook) run(ctx context.Context) (wait func()) {
	if h.m == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.m.Run(ctx)
	}()
	return func() { <-done }
}

// kubeRoot is the root as internal/kube sees it: a Kubernetes cluster joins
// like a Hedge cluster and talks the link protocol in-process.
type kubeRoot struct{ r *Root }

var _ kube.Root = kubeRoot{}

// JoinCluster admits a cluster tier with a short-lived join token that never
// leaves the process.
func (k kubeRoot) JoinCluster(ctx context.Context, name string) (string, string, error) {
	tok, err := k.r.cfg.Auth.CreateJoinToken(auth.JoinKindCluster, time.Minute)
	if err != nil {
		return "", "", err
	}
	resp, err := k.r.Join(ctx, link.JoinRequest{Token: tok, Name: name})
	if err != nil {
		return "", "", err
	}
	return resp.ID, resp.Credential, nil
}

// LinkClient returns a link client that calls the root's link handler in
// memory.
func (k kubeRoot) LinkClient(credential string) *link.Client {
	return link.NewClient("http://root.in-process", credential, &http.Client{Transport: handlerTransport{k.r.server.Handler()}})
}

// SetClusterLabels stores the labels of a cluster; reports cannot change
// them.
func (k kubeRoot) SetClusterLabels(id string, labels map[string]string) error {
	r := k.r
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.clusters[id]
	if !ok {
		return fmt.Errorf("%w: cluster %s", ErrNotFound, id)
	}
	rec := clusterRecord{ID: id, Name: c.info.Name, Labels: labels}
	if err := r.cfg.Store.Update(func(tx store.Tx) error { return tx.Put(bucketClusters, id, rec) }); err != nil {
		return fmt.Errorf("store cluster: %w", err)
	}
	c.info.Labels = labels
	r.trigger()
	return nil
}

// ForgetCluster removes a cluster and its credential; its instances are
// placed again on other clusters.
func (k kubeRoot) ForgetCluster(id string) error {
	r := k.r
	if err := r.creds.Revoke(id); err != nil {
		return fmt.Errorf("revoke credential: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.clusters[id]
	if !ok {
		return nil
	}
	var moved []*instance
	for iid := range c.assigned {
		in := r.insts[iid]
		r.unassignLocked(in, api.StateRequested, "cluster "+c.info.Name+" was removed")
		moved = append(moved, in)
	}
	if err := r.cfg.Store.Update(func(tx store.Tx) error { return tx.Delete(bucketClusters, id) }); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	c.bumpLocked()
	delete(r.clusters, id)
	r.persistInstancesLocked(moved)
	r.trigger()
	return nil
}

// Clusters lists every cluster of the root.
func (k kubeRoot) Clusters() []api.Cluster { return k.r.Clusters(false) }

// handlerTransport serves HTTP requests with a handler in memory. The
// response is complete when ServeHTTP returns, which suits the link's
// requests and long-polls.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	w := &memWriter{header: http.Header{}, code: http.StatusOK}
	t.h.ServeHTTP(w, req)
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	return &http.Response{
		StatusCode: w.code, Status: http.StatusText(w.code), Header: w.header,
		Body: readCloser{bytes.NewReader(w.body.Bytes())}, ContentLength: int64(w.body.Len()),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Request: req,
	}, nil
}

type memWriter struct {
	header http.Header
	body   bytes.Buffer
	code   int
	wrote  bool
}

func (w *memWriter) Header() http.Header { return w.header }
func (w *memWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
}
func (w *memWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.body.Write(b)
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

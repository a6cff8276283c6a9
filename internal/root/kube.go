package root

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hedgeorch/hedge/internal/auth"
	"github.com/hedgeorch/hedge/internal/errdefs"
	"github.com/hedgeorch/hedge/internal/kube/kubeproc"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/store"
)

// This file plugs Kubernetes clusters and Helm enablers into the root. They
// live in the hedge-kube program (cmd/hedge-kube, internal/kube), which
// links client-go and Helm so that this binary does not: the root starts
// it when the Kubernetes API is first used, forwards that API to it with
// the caller's identity, and serves its calls back (joining clusters, the
// link) on a socket of its own (internal/kube/kubeproc).

// KubeOptions configure the root's Kubernetes support.
type KubeOptions struct {
	// Dir holds hedge-kube's sockets and store (the root's data
	// directory). Empty: Kubernetes support is off and its paths answer
	// 503.
	Dir string
	// Program is hedge-kube's path; next to the running executable, then
	// on PATH, when empty.
	Program string
	// Launch starts hedge-kube instead of running Program (tests run it
	// in-process).
	Launch kubeproc.Launcher
	// LogLevel is hedge-kube's log level.
	LogLevel string
	// SealKeyFile is the key that seals Kubernetes credentials and Helm
	// values, a file of its own apart from hedge-kube's store; in Dir
	// when empty (created, mode 0600, on first use).
	SealKeyFile string
}

// kubePaths are the API paths hedge-kube serves (internal/kube/http.go).
var kubePaths = []string{"/api/k8sclusters/", "/api/chartrepo", "/api/chartrepo/", "/api/enabler/"}

// kubeHook holds the supervisor of hedge-kube; nil when it could not be
// set up (the error is logged and the rest of the root works).
type kubeHook struct{ s *kubeproc.Supervisor }

func newKubeHook(r *Root) *kubeHook {
	var pressure []byte
	if p := r.cfg.KubePressure; p != nil {
		var err error
		if pressure, err = json.Marshal(p); err != nil {
			r.log.Error("kubernetes pressure control off", "err", err)
		}
	}
	o := r.cfg.Kube
	s, err := kubeproc.NewSupervisor(kubeproc.Options{
		Dir: o.Dir, Program: o.Program, Launch: o.Launch, LogLevel: o.LogLevel, SealKeyFile: o.SealKeyFile,
		Backplane: r.kubeBackplane(), Legacy: r.cfg.Store, Pressure: pressure, Logger: r.log,
	})
	if err != nil {
		r.log.Error("kubernetes clusters unavailable", "err", err)
		return &kubeHook{}
	}
	return &kubeHook{s: s}
}

// register routes the Kubernetes paths to hedge-kube once the caller is
// authenticated; hedge-kube checks the Admin role of changes.
func (h *kubeHook) register(mux *http.ServeMux, r *Root) {
	fwd := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if h.s == nil {
			kubeproc.WriteError(w, http.StatusServiceUnavailable, "Kubernetes support is unavailable: see the root's log")
			return
		}
		tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
		if !ok || tok == "" {
			kubeproc.WriteError(w, http.StatusUnauthorized, "missing bearer token: log in with POST /api/auth/login")
			return
		}
		claims, err := r.cfg.Auth.Verify(tok)
		if err != nil {
			kubeproc.WriteError(w, http.StatusUnauthorized, "invalid or expired token")
			return
		}
		h.s.Forward(w, req, kubeproc.Caller{User: claims.Subject, UserID: claims.UserID, Admin: claims.IsAdmin()})
	})
	for _, p := range kubePaths {
		mux.Handle(p, fwd)
	}
}

// run runs hedge-kube's supervisor and returns a function that waits for
// it to stop once ctx has ended.
func (h *kubeHook) run(ctx context.Context) (wait func()) {
	if h.s == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.s.Run(ctx)
	}()
	return func() { <-done }
}

// kubeBackplane serves hedge-kube's calls: a Kubernetes cluster joins like
// a Hedge cluster and then talks the link protocol.
func (r *Root) kubeBackplane() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+kubeproc.PathJoin, func(w http.ResponseWriter, req *http.Request) {
		var in kubeproc.JoinRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, req.Body, 1<<20)).Decode(&in); err != nil {
			kubeproc.WriteError(w, http.StatusBadRequest, "body: "+err.Error())
			return
		}
		id, cred, err := r.kubeJoin(req.Context(), in.Name)
		r.writeKube(w, kubeproc.JoinResponse{ID: id, Credential: cred}, err)
	})
	mux.HandleFunc("GET "+kubeproc.PathClusters, func(w http.ResponseWriter, _ *http.Request) {
		r.writeKube(w, r.Clusters(false), nil)
	})
	mux.HandleFunc("PUT "+kubeproc.PathClusters+"/{id}/labels", func(w http.ResponseWriter, req *http.Request) {
		var in kubeproc.LabelsRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, req.Body, 1<<20)).Decode(&in); err != nil {
			kubeproc.WriteError(w, http.StatusBadRequest, "body: "+err.Error())
			return
		}
		r.writeKube(w, nil, r.setClusterLabels(req.PathValue("id"), in.Labels))
	})
	mux.HandleFunc("DELETE "+kubeproc.PathClusters+"/{id}", func(w http.ResponseWriter, req *http.Request) {
		r.writeKube(w, nil, r.forgetCluster(req.PathValue("id")))
	})
	mux.Handle(kubeproc.PathLink, r.server.Handler())
	return mux
}

// writeKube answers hedge-kube with v, or with err mapped by errdefs: an
// internal error is logged under a request id and not echoed.
func (r *Root) writeKube(w http.ResponseWriter, v any, err error) {
	switch {
	case err != nil:
		status, msg := errdefs.HTTP(r.log, err)
		kubeproc.WriteError(w, status, msg)
	case v == nil:
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
}

// kubeJoin admits a cluster tier with a short-lived, single-use join token
// that never leaves the process.
func (r *Root) kubeJoin(ctx context.Context, name string) (string, string, error) {
	tok, _, err := r.cfg.Auth.IssueJoinToken(auth.JoinTokenSpec{Kind: auth.JoinKindCluster, TTL: time.Minute, MaxUses: 1})
	if err != nil {
		return "", "", err
	}
	resp, err := r.Join(ctx, link.JoinRequest{Token: tok, Name: name})
	if err != nil {
		return "", "", err
	}
	return resp.ID, resp.Credential, nil
}

// setClusterLabels stores the labels of a cluster; reports cannot change
// them.
func (r *Root) setClusterLabels(id string, labels map[string]string) error {
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

// forgetCluster removes a cluster and its credential; its instances are
// placed again on other clusters.
func (r *Root) forgetCluster(id string) error {
	_, err := r.roster.Remove(id, "deleted")
	return err
}

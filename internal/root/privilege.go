package root

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/errdefs"
	"github.com/hedgeorch/hedge/internal/placement"
	"github.com/hedgeorch/hedge/internal/runtime/fetch"
	"github.com/hedgeorch/hedge/internal/store"
)

// bucketAllow holds the per-cluster allow list: key cluster + "\n" + user.
const bucketAllow = "privileged_allow"

// MaxTenantPriority is the highest priority a service may ask for without
// the Admin role or an allow list entry: a tenant may rank its services
// below others', not above (as Kubernetes keeps its critical priority
// classes to the system).
const MaxTenantPriority = 0

// ErrPrivileged refuses a setting that needs the Admin role (403).
var ErrPrivileged = errdefs.New(errdefs.ErrForbidden, "privileged setting")

func allowKey(cluster, user string) string { return cluster + "\n" + user }

// privilegedFields names the settings of spec that reach past the
// instance sandbox: raw processes, privileged containers, host-path added
// files, pressure exemption, priority above MaxTenantPriority.
func privilegedFields(spec api.ServiceSpec) []string {
	var out []string
	if spec.Raw {
		out = append(out, "raw")
	}
	if spec.Privileged {
		out = append(out, "privileged")
	}
	for i, f := range spec.AddedFiles {
		if !fetch.IsURL(f) {
			out = append(out, fmt.Sprintf("added_files[%d]", i))
		}
	}
	if spec.PressureExempt {
		out = append(out, "pressure_exempt")
	}
	if spec.Priority > MaxTenantPriority {
		out = append(out, "priority")
	}
	return out
}

// pinnedClusters is the clusters spec may be placed on, from its direct and
// clusters constraints; nil when it may go anywhere.
func pinnedClusters(spec api.ServiceSpec) []string {
	var out []string
	pinned := false
	narrow := func(allowed []string) {
		if !pinned {
			out, pinned = slices.Clone(allowed), true
			return
		}
		out = slices.DeleteFunc(out, func(c string) bool { return !slices.Contains(allowed, c) })
	}
	for _, c := range spec.Constraints {
		switch {
		case c.Type == "direct" && c.Cluster != "":
			narrow([]string{c.Cluster})
		case c.Type == placement.ConstraintClusters && len(c.Allowed) > 0:
			narrow(c.Allowed)
		}
	}
	if pinned && out == nil {
		return []string{}
	}
	return out
}

// checkPrivileged refuses spec (at path, such as
// "applications[0].microservices[1]") with ErrPrivileged when it has a
// privileged setting and who is no Admin and not on the allow list of every
// cluster it may be placed on. A service that may go anywhere needs Admin:
// an allow list entry counts only with a direct or clusters constraint.
func (r *Root) checkPrivileged(who Caller, path string, spec api.ServiceSpec) error {
	fields := privilegedFields(spec)
	if who.Admin || len(fields) == 0 {
		return nil
	}
	field := fields[0]
	if path != "" {
		field = path + "." + field
	}
	clusters := pinnedClusters(spec)
	if clusters == nil {
		return fmt.Errorf("%w: %s: needs the Admin role, or an allow list entry for a cluster the microservice is pinned to (a direct or clusters constraint)", ErrPrivileged, field)
	}
	allowed, err := r.allowedClusters(who.User)
	if err != nil {
		return err
	}
	for _, c := range clusters {
		if !slices.Contains(allowed, c) {
			return fmt.Errorf("%w: %s: needs the Admin role or an allow list entry for cluster %s", ErrPrivileged, field, c)
		}
	}
	if len(clusters) == 0 {
		return fmt.Errorf("%w: %s: needs the Admin role, or an allow list entry for a cluster the microservice is pinned to (its constraints allow none)", ErrPrivileged, field)
	}
	return nil
}

// allowedClusters lists the clusters on whose allow list user is.
func (r *Root) allowedClusters(user string) ([]string, error) {
	var out []string
	err := r.cfg.Store.View(func(tx store.Tx) error {
		return tx.List(bucketAllow, func(key string, _ []byte) error {
			if c, u, ok := strings.Cut(key, "\n"); ok && u == user {
				out = append(out, c)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("allow list: %w", err)
	}
	return out, nil
}

// AllowList returns the allow list, by cluster then user.
func (r *Root) AllowList() ([]api.AllowEntry, error) {
	out := []api.AllowEntry{}
	err := r.cfg.Store.View(func(tx store.Tx) error {
		return tx.List(bucketAllow, func(key string, _ []byte) error {
			if c, u, ok := strings.Cut(key, "\n"); ok {
				out = append(out, api.AllowEntry{Cluster: c, User: u})
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("allow list: %w", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Cluster != out[j].Cluster {
			return out[i].Cluster < out[j].Cluster
		}
		return out[i].User < out[j].User
	})
	return out, nil
}

// Allow puts user on cluster's allow list (allowed is true) or takes it off.
// The caller checks that it is an Admin.
func (r *Root) Allow(cluster, user string, allowed bool) error {
	if cluster == "" || strings.ContainsAny(cluster, "\n") {
		return fmt.Errorf("%w: cluster: want a cluster name", ErrInvalid)
	}
	if user == "" || strings.ContainsAny(user, "\n") {
		return fmt.Errorf("%w: user: want a user name", ErrInvalid)
	}
	err := r.cfg.Store.Update(func(tx store.Tx) error {
		if allowed {
			return tx.Put(bucketAllow, allowKey(cluster, user), api.AllowEntry{Cluster: cluster, User: user})
		}
		return tx.Delete(bucketAllow, allowKey(cluster, user))
	})
	if err != nil {
		return fmt.Errorf("allow list: %w", err)
	}
	return nil
}

package root

import (
	"errors"
	"fmt"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/auth"
)

// quotaOf returns user's quota; a user the auth service does not know (a
// test's bare Caller, a deleted user's leftovers) has the default one.
func (r *Root) quotaOf(user string) (auth.Quota, error) {
	if r.cfg.Auth == nil {
		return auth.DefaultQuota, nil
	}
	q, err := r.cfg.Auth.QuotaOf(user)
	if errors.Is(err, auth.ErrNotFound) {
		return auth.DefaultQuota, nil
	}
	return q, err
}

// usageLocked is what the services of the user with id userID hold now, in
// the units of a quota.
func (r *Root) usageLocked(userID string) auth.Quota {
	var u auth.Quota
	for _, s := range r.svcs {
		if s.OwnerID == userID {
			u.Services++
		}
	}
	for _, in := range r.insts {
		if s := r.svcs[in.ServiceID]; s != nil && s.OwnerID == userID {
			u.Add(0, 1, s.Spec.VCPUs, s.Spec.MemoryMB)
		}
	}
	return u
}

// demand is what a request adds: new services and new instances of specs.
type demand struct{ use auth.Quota }

func (d *demand) service(spec api.ServiceSpec, instances int) {
	d.use.Add(1, instances, spec.VCPUs, spec.MemoryMB)
}

func (d *demand) instances(spec api.ServiceSpec, n int) {
	d.use.Add(0, n, spec.VCPUs, spec.MemoryMB)
}

// checkQuotaLocked refuses d with an error wrapping auth.ErrQuota (403)
// that names the quota, if user's usage plus d would pass user's quota.
// Nothing has been stored when it refuses.
func (r *Root) checkQuotaLocked(user, userID string, d demand) error {
	if d.use == (auth.Quota{}) {
		return nil
	}
	q, err := r.quotaOf(user)
	if err != nil {
		return fmt.Errorf("quota: %w", err)
	}
	u := r.usageLocked(userID)
	u.Services += d.use.Services
	u.Instances += d.use.Instances
	u.VCPUs += d.use.VCPUs
	u.MemoryMB += d.use.MemoryMB
	return q.Exceeds(user, u)
}

// initialInstances is how many instances newServiceLocked creates for spec.
func initialInstances(spec api.ServiceSpec, deploy bool) int {
	n := max(spec.Instances, 0)
	if deploy && n == 0 {
		n = 1
	}
	return n
}

// resized is what changing n instances from spec old to spec new adds; a
// shrinking resource adds nothing (it never blocks an update).
func resized(old, new api.ServiceSpec, n int) demand {
	var d demand
	d.use.VCPUs = max(float64(n)*(new.VCPUs-old.VCPUs), 0)
	d.use.MemoryMB = max(int64(n)*(new.MemoryMB-old.MemoryMB), 0)
	return d
}

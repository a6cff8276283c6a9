package auth

import (
	"fmt"

	"github.com/hedgeorch/hedge/internal/store"
)

// Quota bounds what one user's applications may hold at once, in the
// manner of a Kubernetes ResourceQuota or a Nomad quota specification. The
// root checks it when services and instances are created (submit, add
// services, scale, add instance) and refuses with ErrQuota.
type Quota struct {
	// Instances is the most instances of all the user's services together.
	Instances int `json:"instances" minimum:"0" maximum:"1000000"`
	// Services is the most microservices.
	Services int `json:"services" minimum:"0" maximum:"100000"`
	// VCPUs is the most cores the user's instances may reserve together.
	VCPUs float64 `json:"vcpus" minimum:"0" maximum:"1000000"`
	// MemoryMB is the most memory, in MB, they may reserve together.
	MemoryMB int64 `json:"memory_mb" minimum:"0" maximum:"1099511627776"`
}

// DefaultQuota applies to users Admin gave no quota: far above what a
// normal user deploys, low enough that one user cannot make the root store
// and place without bound.
var DefaultQuota = Quota{Instances: 1000, Services: 200, VCPUs: 4096, MemoryMB: 16 << 20}

func (q Quota) validate() error {
	switch {
	case q.Instances < 0:
		return fmt.Errorf("quota: instances: must be >= 0, got %d: %w", q.Instances, ErrInvalid)
	case q.Services < 0:
		return fmt.Errorf("quota: services: must be >= 0, got %d: %w", q.Services, ErrInvalid)
	case q.VCPUs < 0 || q.VCPUs != q.VCPUs:
		return fmt.Errorf("quota: vcpus: must be >= 0, got %v: %w", q.VCPUs, ErrInvalid)
	case q.MemoryMB < 0:
		return fmt.Errorf("quota: memory_mb: must be >= 0, got %d: %w", q.MemoryMB, ErrInvalid)
	}
	return nil
}

// QuotaOf returns the quota of user name: the one Admin set, or DefaultQuota.
func (s *Service) QuotaOf(name string) (Quota, error) {
	u, err := s.GetUser(name)
	if err != nil {
		return Quota{}, fmt.Errorf("quota of %s: %w", name, err)
	}
	if u.Quota == nil {
		return DefaultQuota, nil
	}
	return *u.Quota, nil
}

// SetQuota sets the quota of user name; nil goes back to DefaultQuota.
// Lowering a quota below what the user holds removes nothing; it only
// refuses more.
func (s *Service) SetQuota(name string, q *Quota) (Quota, error) {
	if q != nil {
		if err := q.validate(); err != nil {
			return Quota{}, fmt.Errorf("set quota of %s: %w", name, err)
		}
	}
	err := s.st.Update(func(tx store.Tx) error {
		u, err := store.Get[User](tx, bucketUsers, name)
		if err != nil {
			return err
		}
		u.Quota = q
		return tx.Put(bucketUsers, name, u)
	})
	if err != nil {
		return Quota{}, fmt.Errorf("set quota of %s: %w", name, err)
	}
	s.log.Info("quota set", "user", name)
	if q == nil {
		return DefaultQuota, nil
	}
	return *q, nil
}

// Exceeds returns an error wrapping ErrQuota naming the first limit of q
// that use would pass, or nil.
func (q Quota) Exceeds(user string, use Quota) error {
	switch {
	case use.Services > q.Services:
		return fmt.Errorf("services: user %s may have at most %d, this would make %d: %w", user, q.Services, use.Services, ErrQuota)
	case use.Instances > q.Instances:
		return fmt.Errorf("instances: user %s may have at most %d, this would make %d: %w", user, q.Instances, use.Instances, ErrQuota)
	case use.VCPUs > q.VCPUs+1e-9:
		return fmt.Errorf("vcpus: user %s may reserve at most %g cores, this would make %g: %w", user, q.VCPUs, use.VCPUs, ErrQuota)
	case use.MemoryMB > q.MemoryMB:
		return fmt.Errorf("memory: user %s may reserve at most %d MB, this would make %d: %w", user, q.MemoryMB, use.MemoryMB, ErrQuota)
	}
	return nil
}

// Add counts services more services and instances more instances of spec's
// demand into q (used to total a user's usage).
func (q *Quota) Add(services, instances int, vcpus float64, memoryMB int64) {
	q.Services += services
	q.Instances += instances
	q.VCPUs += float64(instances) * vcpus
	q.MemoryMB += int64(instances) * memoryMB
}

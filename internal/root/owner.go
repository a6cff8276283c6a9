package root

import (
	"github.com/hedgeorch/hedge/internal/store"
)

// userID is the id of the user called name now, or "" if there is none
// (which owns nothing).
func (r *Root) userID(name string) string {
	if r.cfg.Auth == nil {
		return ""
	}
	u, err := r.cfg.Auth.GetUser(name)
	if err != nil {
		return ""
	}
	return u.ID
}

// ownerIDOf is the owner id to record for what was stored under the name
// owner alone, before ownership went by id: the user of that name now, or,
// if none, an id no user can have.
func (r *Root) ownerIDOf(owner string) string {
	if id := r.userID(owner); id != "" {
		return id
	}
	return "deleted:" + owner
}

// assignOwnerIDs gives an owner id to the applications, services and
// FADepls loaded without one, and stores it, so that ownership never again
// depends on a name.
func (r *Root) assignOwnerIDs() error {
	return r.cfg.Store.Update(func(tx store.Tx) error {
		for _, a := range r.apps {
			if a.OwnerID == "" {
				a.OwnerID = r.ownerIDOf(a.Owner)
				if err := tx.Put(bucketApps, a.ID, a); err != nil {
					return err
				}
			}
		}
		for _, s := range r.svcs {
			if s.OwnerID == "" {
				s.OwnerID = r.ownerIDOf(s.Owner)
				if err := tx.Put(bucketServices, s.ID, s); err != nil {
					return err
				}
			}
		}
		fas, err := store.ListAll[fadeplRecord](tx, bucketFADepls)
		if err != nil {
			return err
		}
		for _, fa := range fas {
			if fa.OwnerID == "" && fa.Spec != nil {
				fa.OwnerID = r.ownerIDOf(fa.Owner)
				if err := tx.Put(bucketFADepls, fa.Spec.Name, fa); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

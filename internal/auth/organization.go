package auth

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/hedgeorch/hedge/internal/store"
)

const bucketOrgs = "organizations"

// Organization is a group of users, as in Oakestra: a user who logs in with
// an organization's name must be one of its members, and an
// Organization_Admin manages the organizations it belongs to.
type Organization struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Members   []string  `json:"members"`
	CreatedAt time.Time `json:"created_at"`
}

// HasMember reports whether user belongs to o.
func (o Organization) HasMember(user string) bool { return slices.Contains(o.Members, user) }

// CreateOrganization adds an organization. Its name follows the rules of
// user names and must be unique; every member must be an existing user.
func (s *Service) CreateOrganization(name string, members []string) (Organization, error) {
	if err := validateName(name); err != nil {
		return Organization{}, fmt.Errorf("create organization: %w", err)
	}
	id := make([]byte, 12)
	if _, err := rand.Read(id); err != nil {
		return Organization{}, fmt.Errorf("create organization: %w", err)
	}
	o := Organization{ID: hex.EncodeToString(id), Name: name, Members: dedupe(members), CreatedAt: s.clock().UTC()}
	err := s.st.Update(func(tx store.Tx) error {
		if err := checkMembers(tx, o.Members); err != nil {
			return err
		}
		if _, err := orgByName(tx, name); err == nil {
			return fmt.Errorf("name %s is taken: %w", name, ErrConflict)
		}
		return tx.Put(bucketOrgs, o.ID, o)
	})
	if err != nil {
		return Organization{}, fmt.Errorf("create organization %s: %w", name, err)
	}
	s.log.Info("organization created", "organization", name, "members", len(o.Members))
	return o, nil
}

// ListOrganizations returns every organization in name order.
func (s *Service) ListOrganizations() ([]Organization, error) {
	var out []Organization
	err := s.st.View(func(tx store.Tx) error {
		var err error
		out, err = store.ListAll[Organization](tx, bucketOrgs)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list organizations: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// GetOrganization returns an organization by id or name.
func (s *Service) GetOrganization(idOrName string) (Organization, error) {
	var o Organization
	err := s.st.View(func(tx store.Tx) error {
		var err error
		o, err = orgByIDOrName(tx, idOrName)
		return err
	})
	if err != nil {
		return Organization{}, fmt.Errorf("get organization %s: %w", idOrName, err)
	}
	return o, nil
}

// UpdateOrganization renames an organization (name "" keeps it) and, when
// members is not nil, replaces its members.
func (s *Service) UpdateOrganization(idOrName, name string, members []string) (Organization, error) {
	var o Organization
	err := s.st.Update(func(tx store.Tx) error {
		var err error
		if o, err = orgByIDOrName(tx, idOrName); err != nil {
			return err
		}
		if name != "" && name != o.Name {
			if err := validateName(name); err != nil {
				return err
			}
			if _, err := orgByName(tx, name); err == nil {
				return fmt.Errorf("name %s is taken: %w", name, ErrConflict)
			}
			o.Name = name
		}
		if members != nil {
			o.Members = dedupe(members)
			if err := checkMembers(tx, o.Members); err != nil {
				return err
			}
		}
		return tx.Put(bucketOrgs, o.ID, o)
	})
	if err != nil {
		return Organization{}, fmt.Errorf("update organization %s: %w", idOrName, err)
	}
	s.log.Info("organization updated", "organization", o.Name, "members", len(o.Members))
	return o, nil
}

// DeleteOrganization removes an organization; its users stay.
func (s *Service) DeleteOrganization(idOrName string) error {
	var name string
	err := s.st.Update(func(tx store.Tx) error {
		o, err := orgByIDOrName(tx, idOrName)
		if err != nil {
			return err
		}
		name = o.Name
		return tx.Delete(bucketOrgs, o.ID)
	})
	if err != nil {
		return fmt.Errorf("delete organization %s: %w", idOrName, err)
	}
	s.log.Info("organization deleted", "organization", name)
	return nil
}

// OrganizationsOf returns the organizations user belongs to.
func (s *Service) OrganizationsOf(user string) ([]Organization, error) {
	all, err := s.ListOrganizations()
	if err != nil {
		return nil, err
	}
	out := []Organization{}
	for _, o := range all {
		if o.HasMember(user) {
			out = append(out, o)
		}
	}
	return out, nil
}

func orgByIDOrName(tx store.Tx, idOrName string) (Organization, error) {
	o, err := store.Get[Organization](tx, bucketOrgs, idOrName)
	if err == nil || !errors.Is(err, store.ErrNotFound) {
		return o, err
	}
	return orgByName(tx, idOrName)
}

func orgByName(tx store.Tx, name string) (Organization, error) {
	all, err := store.ListAll[Organization](tx, bucketOrgs)
	if err != nil {
		return Organization{}, err
	}
	for _, o := range all {
		if o.Name == name {
			return o, nil
		}
	}
	return Organization{}, fmt.Errorf("organization %s: %w", name, ErrNotFound)
}

func checkMembers(tx store.Tx, members []string) error {
	for i, m := range members {
		if err := tx.Get(bucketUsers, m, &User{}); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("members[%d]: no user %q: %w", i, m, ErrInvalid)
			}
			return err
		}
	}
	return nil
}

func dedupe(xs []string) []string {
	out := []string{}
	for _, x := range xs {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

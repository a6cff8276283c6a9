package auth

import (
	"errors"
	"strings"
	"testing"
)

func TestOrganizations(t *testing.T) {
	f := newFixture(t)
	f.mustCreateUser(t, "carol", "carol-secret-1")
	f.mustCreateUser(t, "dave", "dave-secret-1")

	o, err := f.svc.CreateOrganization("acme", []string{"carol", "carol"})
	if err != nil {
		t.Fatalf("CreateOrganization: %v", err)
	}
	if len(o.Members) != 1 || o.ID == "" {
		t.Fatalf("organization %+v: want one member (duplicates dropped) and an id", o)
	}
	tests := []struct {
		name    string
		org     string
		members []string
		want    error
		field   string
	}{
		{"taken name", "acme", nil, ErrConflict, "taken"},
		{"unknown member", "other", []string{"carol", "nobody"}, ErrInvalid, "members[1]"},
		{"bad name", "a b", nil, ErrInvalid, "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.CreateOrganization(tt.org, tt.members)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("err %v, want %v naming %s", err, tt.want, tt.field)
			}
		})
	}

	// Logging in to an organization needs membership; the tokens carry it.
	pair, err := f.svc.LoginOrgFrom("", "carol", "carol-secret-1", "acme")
	if err != nil {
		t.Fatalf("login carol@acme: %v", err)
	}
	c, err := f.svc.Verify(pair.Token)
	if err != nil || c.Organization != "acme" {
		t.Fatalf("claims %+v, %v: want organization acme", c, err)
	}
	if _, err := f.svc.LoginOrgFrom("", "dave", "dave-secret-1", "acme"); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("login of a non-member: %v, want ErrUnauthorized", err)
	}
	if _, err := f.svc.LoginOrgFrom("", "carol", "carol-secret-1", "nope"); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("login to an unknown organization: %v, want ErrUnauthorized", err)
	}

	// Removed from the organization: its refresh token stops working.
	if _, err := f.svc.UpdateOrganization("acme", "", []string{"dave"}); err != nil {
		t.Fatalf("UpdateOrganization: %v", err)
	}
	if _, err := f.svc.Refresh(pair.RefreshToken); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("refresh after leaving the organization: %v, want ErrUnauthorized", err)
	}
	if err := f.svc.DeleteOrganization(o.ID); err != nil {
		t.Fatalf("DeleteOrganization: %v", err)
	}
	if _, err := f.svc.GetOrganization("acme"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get after delete: %v, want ErrNotFound", err)
	}
}

func TestChangePasswordAndUpdateUser(t *testing.T) {
	f := newFixture(t)
	f.mustCreateUser(t, "carol", "carol-secret-1")
	if err := f.svc.ChangePassword("carol", "wrong-one-1", "new-secret-2"); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("wrong old password: %v, want ErrUnauthorized", err)
	}
	if err := f.svc.ChangePassword("carol", "carol-secret-1", "short"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("short new password: %v, want ErrInvalid", err)
	}
	if err := f.svc.ChangePassword("carol", "carol-secret-1", "new-secret-2"); err != nil {
		t.Fatalf("ChangePassword: %v", err)
	}
	f.mustLogin(t, "carol", "new-secret-2")

	email := "carol@example.org"
	u, err := f.svc.UpdateUser("carol", &email, []string{RoleInfraProvider})
	if err != nil || u.Email != email || len(u.Roles) != 1 || u.Roles[0] != RoleInfraProvider || u.PasswordHash != "" {
		t.Fatalf("UpdateUser: %+v, %v", u, err)
	}
	bad := "a b"
	if _, err := f.svc.UpdateUser("carol", &bad, nil); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "email") {
		t.Fatalf("bad email: %v, want ErrInvalid naming email", err)
	}
	if _, err := f.svc.UpdateUser("carol", nil, []string{"Root"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown role: %v, want ErrInvalid", err)
	}
}

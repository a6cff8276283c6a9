package auth

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestUnitCreateUserValidation(t *testing.T) {
	tests := []struct {
		name      string
		user      string
		password  string
		roles     []string
		wantField string // the error must name it
	}{
		{"empty name", "", "password1", nil, "name"},
		{"name too long", strings.Repeat("a", 65), "password1", nil, "name"},
		{"name with space", "ann smith", "password1", nil, "name"},
		{"name with slash", "ann/x", "password1", nil, "name"},
		{"short password", "ann", "1234567", nil, "password"},
		{"huge password", "ann", strings.Repeat("p", 1025), nil, "password"},
		{"unknown role", "ann", "password1", []string{"Root"}, "roles"},
		{"role with wrong case", "ann", "password1", []string{"admin"}, "roles"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			err := f.svc.CreateUser(tt.user, tt.password, tt.roles)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.wantField) {
				t.Fatalf("err = %q does not name the field %q", err, tt.wantField)
			}
			if users, _ := f.svc.ListUsers(); len(users) != 0 {
				t.Fatalf("invalid user was stored: %+v", users)
			}
		})
	}
}

func TestUnitCreateUserAccepts(t *testing.T) {
	tests := []struct {
		name      string
		user      string
		roles     []string
		wantRoles []string
	}{
		{"no roles defaults to application provider", "ann", nil, []string{RoleAppProvider}},
		{"all known roles", "bob.x-1_y", KnownRoles(), KnownRoles()},
		{"duplicates dropped", "cy", []string{RoleAdmin, RoleAdmin, RoleInfraProvider}, []string{RoleAdmin, RoleInfraProvider}},
		{"64 character name", strings.Repeat("n", 64), []string{RoleOrgAdmin}, []string{RoleOrgAdmin}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.mustCreateUser(t, tt.user, "password1", tt.roles...)
			u, err := f.svc.GetUser(tt.user)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(u.Roles, tt.wantRoles) {
				t.Fatalf("roles = %v, want %v", u.Roles, tt.wantRoles)
			}
			if u.PasswordHash != "" {
				t.Fatal("GetUser returned the password hash")
			}
			if !u.CreatedAt.Equal(f.clock.Now()) {
				t.Fatalf("created_at = %v, want the injected clock's %v", u.CreatedAt, f.clock.Now())
			}
		})
	}
}

func TestUnitUserLifecycle(t *testing.T) {
	f := newFixture(t)
	f.mustCreateUser(t, "bob", "password1")
	f.mustCreateUser(t, "ann", "password2", RoleAdmin)

	if err := f.svc.CreateUser("ann", "password3", nil); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate CreateUser: err = %v, want ErrConflict", err)
	}
	f.mustLogin(t, "ann", "password2") // the duplicate did not replace the password

	users, err := f.svc.ListUsers()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range users {
		names = append(names, u.Name)
		if u.PasswordHash != "" {
			t.Fatalf("ListUsers returned the hash of %s", u.Name)
		}
	}
	if !slices.Equal(names, []string{"ann", "bob"}) {
		t.Fatalf("users = %v, want [ann bob]", names)
	}

	if err := f.svc.DeleteUser("bob"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.DeleteUser("bob"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second DeleteUser: err = %v, want ErrNotFound", err)
	}
	if _, err := f.svc.GetUser("bob"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetUser after delete: err = %v, want ErrNotFound", err)
	}
	if _, err := f.svc.Login("bob", "password1"); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("login of deleted user: err = %v, want ErrUnauthorized", err)
	}
}

func TestUnitSetPassword(t *testing.T) {
	f := newFixture(t)
	f.mustCreateUser(t, "ann", "password1")
	if err := f.svc.SetPassword("ann", "short"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "password") {
		t.Fatalf("short password: err = %v, want ErrInvalid naming password", err)
	}
	if err := f.svc.SetPassword("nobody", "password9"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown user: err = %v, want ErrNotFound", err)
	}
	if err := f.svc.SetPassword("ann", "password2"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Login("ann", "password1"); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("old password still works: err = %v", err)
	}
	f.mustLogin(t, "ann", "password2")
}

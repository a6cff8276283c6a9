package auth

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hedgeorch/hedge/internal/store"
)

// Roles, named as in Oakestra so that its users find them.
const (
	RoleAdmin         = "Admin"
	RoleOrgAdmin      = "Organization_Admin"
	RoleAppProvider   = "Application_Provider"
	RoleInfraProvider = "Infrastructure_Provider"
)

// AdminUser is the name of the user EnsureAdmin creates.
const AdminUser = "admin"

// KnownRoles returns every role a user may have.
func KnownRoles() []string {
	return []string{RoleAdmin, RoleOrgAdmin, RoleAppProvider, RoleInfraProvider}
}

const (
	minPasswordLen = 8
	// maxPasswordLen bounds the work an unauthenticated caller can ask for.
	maxPasswordLen = 1024
)

var userNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,64}$`)

// User is a person who logs in to the root API. PasswordHash is only set on
// records read inside this package; everything the Service returns has it
// cleared, and omitempty keeps an empty one off the wire.
type User struct {
	// ID never changes and is never reused: what a user owns belongs to it,
	// so that a new user given a deleted user's name owns nothing of theirs.
	ID           string    `json:"id,omitempty"`
	Name         string    `json:"name"`
	Roles        []string  `json:"roles"`
	PasswordHash string    `json:"password_hash,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	// Email is optional, kept for Oakestra's dashboard.
	Email string `json:"email,omitempty"`
	// Quota is what Admin set for this user; nil means DefaultQuota.
	Quota *Quota `json:"quota,omitempty"`
}

// HasRole reports whether u has role.
func (u User) HasRole(role string) bool { return slices.Contains(u.Roles, role) }

func validateName(name string) error {
	if !userNameRE.MatchString(name) {
		return fmt.Errorf("name %q: want 1 to 64 characters from a-z A-Z 0-9 _ . -: %w", name, ErrInvalid)
	}
	return nil
}

func validatePassword(pw string) error {
	switch {
	case len(pw) < minPasswordLen:
		return fmt.Errorf("password: want at least %d characters: %w", minPasswordLen, ErrInvalid)
	case len(pw) > maxPasswordLen:
		return fmt.Errorf("password: want at most %d characters: %w", maxPasswordLen, ErrInvalid)
	}
	return nil
}

// normalizeRoles checks roles against KnownRoles and drops duplicates. No
// roles means Application_Provider, the role of an ordinary user.
func normalizeRoles(roles []string) ([]string, error) {
	if len(roles) == 0 {
		return []string{RoleAppProvider}, nil
	}
	known := KnownRoles()
	out := make([]string, 0, len(roles))
	for _, r := range roles {
		if !slices.Contains(known, r) {
			return nil, fmt.Errorf("roles: %q is not one of %s: %w", r, strings.Join(known, ", "), ErrInvalid)
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// CreateUser adds a user. It fails with ErrInvalid (naming the field) for a
// bad name, a password shorter than 8 characters or an unknown role, and with
// ErrConflict if the name is taken. No roles means Application_Provider.
func (s *Service) CreateUser(name, password string, roles []string) error {
	if err := validateName(name); err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	if err := validatePassword(password); err != nil {
		return fmt.Errorf("create user %s: %w", name, err)
	}
	roles, err := normalizeRoles(roles)
	if err != nil {
		return fmt.Errorf("create user %s: %w", name, err)
	}
	hash, err := HashPassword(password)
	if err != nil {
		return fmt.Errorf("create user %s: %w", name, err)
	}
	id, err := newUserID()
	if err != nil {
		return fmt.Errorf("create user %s: %w", name, err)
	}
	u := User{ID: id, Name: name, Roles: roles, PasswordHash: hash, CreatedAt: s.clock().UTC()}
	if err := s.st.Update(func(tx store.Tx) error { return store.Create(tx, bucketUsers, name, u) }); err != nil {
		if errors.Is(err, ErrConflict) {
			return fmt.Errorf("create user %s: name is taken: %w", name, ErrConflict)
		}
		return fmt.Errorf("create user %s: %w", name, err)
	}
	s.log.Info("user created", "user", name, "roles", roles)
	return nil
}

// DeleteUser removes a user; ErrNotFound if there is none. Access tokens
// already issued stay valid until they expire (AccessTTL); their sessions
// end, so refresh tokens stop working at once.
func (s *Service) DeleteUser(name string) error {
	err := s.st.Update(func(tx store.Tx) error {
		if err := tx.Get(bucketUsers, name, &User{}); err != nil {
			return err
		}
		if err := revokeSessions(tx, name); err != nil {
			return err
		}
		return tx.Delete(bucketUsers, name)
	})
	if err != nil {
		return fmt.Errorf("delete user %s: %w", name, err)
	}
	s.log.Info("user deleted", "user", name)
	return nil
}

// GetUser returns one user without its password hash.
func (s *Service) GetUser(name string) (User, error) {
	var u User
	err := s.st.View(func(tx store.Tx) error {
		var err error
		u, err = store.Get[User](tx, bucketUsers, name)
		return err
	})
	if err != nil {
		return User{}, fmt.Errorf("get user %s: %w", name, err)
	}
	u.PasswordHash = ""
	return u, nil
}

// ListUsers returns every user in name order, without password hashes.
func (s *Service) ListUsers() ([]User, error) {
	var users []User
	err := s.st.View(func(tx store.Tx) error {
		var err error
		users, err = store.ListAll[User](tx, bucketUsers)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	for i := range users {
		users[i].PasswordHash = ""
	}
	return users, nil
}

// SetPassword replaces a user's password. Refresh tokens issued before stop
// working: their sessions are revoked, and they are bound to the old hash.
func (s *Service) SetPassword(name, password string) error {
	if err := validatePassword(password); err != nil {
		return fmt.Errorf("set password of %s: %w", name, err)
	}
	hash, err := HashPassword(password)
	if err != nil {
		return fmt.Errorf("set password of %s: %w", name, err)
	}
	err = s.st.Update(func(tx store.Tx) error {
		u, err := store.Get[User](tx, bucketUsers, name)
		if err != nil {
			return err
		}
		u.PasswordHash = hash
		if err := revokeSessions(tx, name); err != nil {
			return err
		}
		return tx.Put(bucketUsers, name, u)
	})
	if err != nil {
		return fmt.Errorf("set password of %s: %w", name, err)
	}
	s.log.Info("password changed", "user", name)
	return nil
}

// maxEmailLen bounds an e-mail address (RFC 5321's limit).
const maxEmailLen = 254

// UpdateUser sets a user's e-mail address (email nil keeps it) and roles
// (nil keeps them; otherwise checked as for CreateUser).
func (s *Service) UpdateUser(name string, email *string, roles []string) (User, error) {
	if email != nil && (len(*email) > maxEmailLen || strings.ContainsAny(*email, " \t\r\n")) {
		return User{}, fmt.Errorf("update user %s: email: want an address of at most %d characters without spaces: %w", name, maxEmailLen, ErrInvalid)
	}
	if roles != nil {
		var err error
		if roles, err = normalizeRoles(roles); err != nil {
			return User{}, fmt.Errorf("update user %s: %w", name, err)
		}
	}
	var u User
	err := s.st.Update(func(tx store.Tx) error {
		var err error
		if u, err = store.Get[User](tx, bucketUsers, name); err != nil {
			return err
		}
		if email != nil {
			u.Email = *email
		}
		if roles != nil {
			if name == AdminUser && !slices.Contains(roles, RoleAdmin) {
				return fmt.Errorf("roles: the admin user keeps the Admin role: %w", ErrInvalid)
			}
			u.Roles = roles
		}
		return tx.Put(bucketUsers, name, u)
	})
	if err != nil {
		return User{}, fmt.Errorf("update user %s: %w", name, err)
	}
	s.log.Info("user updated", "user", name, "roles", u.Roles)
	u.PasswordHash = ""
	return u, nil
}

// ChangePassword replaces a user's password after checking the old one; a
// wrong old password is ErrUnauthorized. It takes a hashing slot like a
// login, and fails with ErrBusy when none is free.
func (s *Service) ChangePassword(name, oldPassword, newPassword string) error {
	release, err := s.acquireHash()
	if err != nil {
		return fmt.Errorf("change password of %s: %w", name, err)
	}
	defer release()
	if _, err := s.checkLogin(name, oldPassword); err != nil {
		return fmt.Errorf("change password of %s: oldPassword: %w", name, err)
	}
	return s.SetPassword(name, newPassword)
}

// generatedPasswordBytes gives a 32-character URL-safe password.
const generatedPasswordBytes = 24

// EnsureAdmin makes sure the user "admin" (role Admin) exists, so that a fresh
// root can be used at all. If it is missing it is created with envPassword, or,
// when that is empty, with a random URL-safe password that is returned for
// the caller to print once (it is stored only as a hash). If admin exists and
// envPassword is set and differs, the password is updated: the environment
// is how an operator who lost the password gets back in. generated is "" when
// no password was generated.
func (s *Service) EnsureAdmin(envPassword string) (generated string, err error) {
	if envPassword != "" {
		if err := validatePassword(envPassword); err != nil {
			return "", fmt.Errorf("ensure admin: admin %w", err)
		}
	}
	err = s.st.Update(func(tx store.Tx) error {
		u, err := store.Get[User](tx, bucketUsers, AdminUser)
		switch {
		case err == nil:
			if envPassword == "" || CheckPassword(u.PasswordHash, envPassword) {
				return nil
			}
			if u.PasswordHash, err = HashPassword(envPassword); err != nil {
				return err
			}
			s.log.Info("admin password updated from the environment", "user", AdminUser)
			if err := revokeSessions(tx, AdminUser); err != nil {
				return err
			}
			return tx.Put(bucketUsers, AdminUser, u)
		case !errors.Is(err, store.ErrNotFound):
			return err
		}

		pw := envPassword
		if pw == "" {
			buf := make([]byte, generatedPasswordBytes)
			if _, err := rand.Read(buf); err != nil {
				return fmt.Errorf("generate password: %w", err)
			}
			pw = base64.RawURLEncoding.EncodeToString(buf)
			generated = pw
		}
		hash, err := HashPassword(pw)
		if err != nil {
			return err
		}
		id, err := newUserID()
		if err != nil {
			return err
		}
		s.log.Info("admin user created", "user", AdminUser, "password_generated", generated != "")
		return tx.Put(bucketUsers, AdminUser, User{
			ID: id, Name: AdminUser, Roles: []string{RoleAdmin}, PasswordHash: hash, CreatedAt: s.clock().UTC(),
		})
	})
	if err != nil {
		return "", fmt.Errorf("ensure admin: %w", err)
	}
	return generated, nil
}

package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hedgeorch/hedge/internal/store"
)

const (
	issuer      = "hedge"
	typAccess   = "access"
	typRefresh  = "refresh"
	jtiByteSize = 16
)

// TokenPair is what a successful login or refresh returns, in the shape of
// Oakestra's /api/auth/login answer.
type TokenPair struct {
	Token        string `json:"token"`
	RefreshToken string `json:"refresh_token"`
	// ExpiresIn is the access token's lifetime in seconds.
	ExpiresIn int `json:"expires_in"`
}

// Claims is who an access token speaks for.
type Claims struct {
	Subject string
	// UserID is the user's id (User.ID), which what the user owns is
	// recorded under.
	UserID string
	Roles  []string
	// Organization is the organization the user logged in with, if any.
	Organization string
}

// IsAdmin reports whether the caller has the Admin role.
func (c Claims) IsAdmin() bool { return c.HasRole(RoleAdmin) }

// HasRole reports whether the caller has role.
func (c Claims) HasRole(role string) bool { return slices.Contains(c.Roles, role) }

// tokenClaims is the JWT payload. Typ keeps access and refresh tokens apart,
// so that a stolen refresh token cannot call the API and an access token
// cannot be refreshed forever. PV binds a refresh token to the password it
// was issued under.
type tokenClaims struct {
	jwt.RegisteredClaims
	Typ   string   `json:"typ"`
	Roles []string `json:"roles,omitempty"`
	PV    string   `json:"pv,omitempty"`
	// Organization is read by Oakestra's dashboard.
	Organization string `json:"organization,omitempty"`
	// Family is the login session of a refresh token (refresh.go).
	Family string `json:"fam,omitempty"`
	// UID is the user's id.
	UID string `json:"uid,omitempty"`
}

// dummyHash is checked when the user does not exist, so that a login for an
// unknown name costs as much time as a wrong password and does not reveal
// which names exist.
var dummyHash = sync.OnceValue(func() string {
	h, err := HashPassword("hedge-no-such-user")
	if err != nil {
		return ""
	}
	return h
})

// Login checks a user's password and returns a token pair. A wrong name and a
// wrong password give the same ErrUnauthorized. It is rate-limited per user
// name, as LoginFrom with an empty remote; the API should call LoginFrom.
func (s *Service) Login(name, password string) (TokenPair, error) {
	return s.LoginFrom("", name, password)
}

// LoginFrom is Login with failed attempts counted per remote address and per
// user name and remote address (see limit.go): past either limit, attempts
// fail with ErrRateLimited (without checking the password) until the window
// has passed. A success clears the user's count, not the address's. When
// Options.LoginConcurrency hashes are running it fails with ErrBusy.
func (s *Service) LoginFrom(remote, name, password string) (TokenPair, error) {
	return s.LoginOrgFrom(remote, name, password, "")
}

// LoginOrgFrom is LoginFrom into an organization (Oakestra's
// organization_name): the user must be one of its members, or the login
// fails as a wrong password does. The tokens carry the organization.
func (s *Service) LoginOrgFrom(remote, name, password, org string) (TokenPair, error) {
	key := name + "\x00" + remote
	now := s.clock()
	wait := max(s.perAddress.blocked(remote, now), s.perUser.blocked(key, now))
	if wait > 0 {
		s.log.Warn("login rate limited", "user", name, "remote", remote)
		return TokenPair{}, &retryError{wait: wait,
			err: fmt.Errorf("login: too many failed attempts, retry in %s: %w", wait.Round(time.Second), ErrRateLimited)}
	}
	release, err := s.acquireHash()
	if err != nil {
		s.log.Warn("login refused: hashing limit reached", "user", name, "remote", remote)
		return TokenPair{}, err
	}
	u, err := s.checkLogin(name, password)
	release()
	if err == nil && org != "" {
		err = s.checkMember(org, name)
	}
	if err != nil {
		if errors.Is(err, ErrUnauthorized) {
			s.perUser.fail(key, s.clock())
			s.perAddress.fail(remote, s.clock())
			s.log.Warn("login failed", "user", name, "remote", remote)
		}
		return TokenPair{}, err
	}
	s.perUser.succeed(key)
	s.log.Info("login", "user", name, "remote", remote, "organization", org)
	fam, err := newFamilyID()
	if err != nil {
		return TokenPair{}, err
	}
	tp, jti, err := s.issue(u, org, fam)
	if err != nil {
		return TokenPair{}, err
	}
	if err := s.startFamily(fam, u.Name, jti, s.clock().Add(s.refreshTTL)); err != nil {
		return TokenPair{}, fmt.Errorf("login: %w", err)
	}
	return tp, nil
}

// checkMember fails with ErrUnauthorized unless user belongs to org.
func (s *Service) checkMember(org, user string) error {
	o, err := s.GetOrganization(org)
	switch {
	case errors.Is(err, ErrNotFound) || (err == nil && !o.HasMember(user)):
		return fmt.Errorf("login: wrong user name, password or organization: %w", ErrUnauthorized)
	case err != nil:
		return fmt.Errorf("login: %w", err)
	}
	return nil
}

func (s *Service) checkLogin(name, password string) (User, error) {
	errLogin := fmt.Errorf("login: wrong user name or password: %w", ErrUnauthorized)
	if len(password) > maxPasswordLen {
		return User{}, errLogin
	}
	var u User
	err := s.st.View(func(tx store.Tx) error {
		var err error
		u, err = store.Get[User](tx, bucketUsers, name)
		return err
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		CheckPassword(dummyHash(), password)
		return User{}, errLogin
	case err != nil:
		return User{}, fmt.Errorf("login: %w", err)
	case !CheckPassword(u.PasswordHash, password):
		return User{}, errLogin
	}
	return u, nil
}

// Refresh exchanges a valid refresh token for a new pair. The user is read
// again, so a deleted user cannot refresh, a changed password invalidates old
// refresh tokens, and role changes take effect. Access tokens are refused.
// Refresh tokens rotate: the one given stops working, and giving it again
// revokes the session (ErrRefreshReused).
func (s *Service) Refresh(refreshToken string) (TokenPair, error) {
	c, err := s.parse(refreshToken, typRefresh)
	if err != nil {
		return TokenPair{}, fmt.Errorf("refresh: %w", err)
	}
	var u User
	err = s.st.View(func(tx store.Tx) error {
		var err error
		u, err = store.Get[User](tx, bucketUsers, c.Subject)
		return err
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return TokenPair{}, fmt.Errorf("refresh: user no longer exists: %w", ErrUnauthorized)
	case err != nil:
		return TokenPair{}, fmt.Errorf("refresh: %w", err)
	case c.UID != u.ID:
		return TokenPair{}, fmt.Errorf("refresh: user no longer exists: %w", ErrUnauthorized)
	case c.PV != passwordVersion(u.PasswordHash):
		return TokenPair{}, fmt.Errorf("refresh: password changed since the token was issued: %w", ErrUnauthorized)
	}
	if c.Organization != "" {
		if err := s.checkMember(c.Organization, u.Name); err != nil {
			return TokenPair{}, fmt.Errorf("refresh: no longer a member of organization %s: %w", c.Organization, ErrUnauthorized)
		}
	}
	if c.Family == "" {
		return TokenPair{}, fmt.Errorf("refresh: token from before sessions were tracked, log in again: %w", ErrUnauthorized)
	}
	tp, jti, err := s.issue(u, c.Organization, c.Family)
	if err != nil {
		return TokenPair{}, err
	}
	if err := s.rotate(c.Family, c.ID, jti, s.clock().Add(s.refreshTTL)); err != nil {
		return TokenPair{}, fmt.Errorf("refresh: %w", err)
	}
	return tp, nil
}

// Verify checks an access token (HS256 only, signature, issuer, expiry
// against Options.Clock, typ "access") and returns who it speaks for. Refresh
// tokens are refused. Every failure wraps ErrUnauthorized.
func (s *Service) Verify(accessToken string) (Claims, error) {
	c, err := s.parse(accessToken, typAccess)
	if err != nil {
		return Claims{}, fmt.Errorf("verify token: %w", err)
	}
	return Claims{Subject: c.Subject, UserID: c.UID, Roles: c.Roles, Organization: c.Organization}, nil
}

func (s *Service) parse(token, typ string) (*tokenClaims, error) {
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithTimeFunc(s.clock),
		jwt.WithExpirationRequired(),
		jwt.WithIssuer(issuer),
	)
	var c tokenClaims
	_, err := p.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return s.secret, nil })
	switch {
	case err != nil:
		// jwt's messages describe the failure (expired, bad signature) and
		// never contain the token.
		return nil, fmt.Errorf("%v: %w", err, ErrUnauthorized)
	case c.Typ != typ:
		return nil, fmt.Errorf("want a %s token, got %q: %w", typ, c.Typ, ErrUnauthorized)
	case c.Subject == "":
		return nil, fmt.Errorf("token has no subject: %w", ErrUnauthorized)
	}
	return &c, nil
}

// issue signs an access and a refresh token of session fam, and returns the
// refresh token's id.
func (s *Service) issue(u User, org, fam string) (TokenPair, string, error) {
	now := s.clock()
	access, _, err := s.sign(tokenClaims{Typ: typAccess, Roles: u.Roles, Organization: org, UID: u.ID}, u.Name, now, s.accessTTL)
	if err != nil {
		return TokenPair{}, "", err
	}
	refresh, jti, err := s.sign(tokenClaims{Typ: typRefresh, PV: passwordVersion(u.PasswordHash), Organization: org, Family: fam, UID: u.ID}, u.Name, now, s.refreshTTL)
	if err != nil {
		return TokenPair{}, "", err
	}
	return TokenPair{Token: access, RefreshToken: refresh, ExpiresIn: int(s.accessTTL.Seconds())}, jti, nil
}

func (s *Service) sign(c tokenClaims, subject string, now time.Time, ttl time.Duration) (string, string, error) {
	b := make([]byte, jtiByteSize)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("issue token: %w", err)
	}
	jti := hex.EncodeToString(b)
	c.RegisteredClaims = jwt.RegisteredClaims{
		Issuer:    issuer,
		Subject:   subject,
		ID:        jti,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(s.secret)
	if err != nil {
		return "", "", fmt.Errorf("issue token: %w", err)
	}
	return tok, jti, nil
}

// passwordVersion is a short fingerprint of a password hash: it changes when
// the password does and reveals nothing useful about it.
func passwordVersion(hash string) string {
	sum := sha256.Sum256([]byte(hash))
	return hex.EncodeToString(sum[:8])
}

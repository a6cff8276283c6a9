package auth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hedgeorch/hedge/internal/store"
)

func TestUnitLogin(t *testing.T) {
	f := newFixture(t)
	f.mustCreateUser(t, "ann", "password1", RoleAdmin)

	tests := []struct {
		name     string
		user, pw string
		wantErr  error
	}{
		{"right password", "ann", "password1", nil},
		{"wrong password", "ann", "password2", ErrUnauthorized},
		{"empty password", "ann", "", ErrUnauthorized},
		{"unknown user", "bob", "password1", ErrUnauthorized},
		{"name case matters", "Ann", "password1", ErrUnauthorized},
	}
	var wrongMessages []string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pair, err := f.svc.LoginFrom("remote-"+tt.name, tt.user, tt.pw)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				wrongMessages = append(wrongMessages, err.Error())
				if pair != (TokenPair{}) {
					t.Fatal("failed login returned tokens")
				}
				return
			}
			if pair.Token == "" || pair.RefreshToken == "" || pair.ExpiresIn != 15*60 {
				t.Fatalf("pair = %+v, want two tokens and expires_in 900", pair)
			}
			c, err := f.svc.Verify(pair.Token)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if c.Subject != "ann" || !c.IsAdmin() || !slices.Equal(c.Roles, []string{RoleAdmin}) {
				t.Fatalf("claims = %+v, want ann as Admin", c)
			}
		})
	}
	// A wrong name and a wrong password must be indistinguishable.
	for _, m := range wrongMessages[1:] {
		if m != wrongMessages[0] {
			t.Fatalf("login errors differ: %q vs %q", m, wrongMessages[0])
		}
	}
}

func TestUnitRefreshFlow(t *testing.T) {
	f := newFixture(t)
	f.mustCreateUser(t, "ann", "password1", RoleAppProvider)
	first := f.mustLogin(t, "ann", "password1")

	f.clock.Advance(20 * time.Minute) // the access token has expired
	if _, err := f.svc.Verify(first.Token); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("expired access token: err = %v, want ErrUnauthorized", err)
	}
	second, err := f.svc.Refresh(first.RefreshToken)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if second.Token == first.Token || second.RefreshToken == first.RefreshToken {
		t.Fatal("Refresh returned the old tokens")
	}
	c, err := f.svc.Verify(second.Token)
	if err != nil || c.Subject != "ann" || c.IsAdmin() || !c.HasRole(RoleAppProvider) {
		t.Fatalf("Verify(refreshed) = %+v, %v", c, err)
	}

	f.clock.Advance(7 * 24 * time.Hour) // past the refresh token's lifetime
	if _, err := f.svc.Refresh(second.RefreshToken); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("expired refresh token: err = %v, want ErrUnauthorized", err)
	}
}

func TestUnitRefreshRefusedAfterUserChanges(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, f fixture)
	}{
		{"password changed", func(t *testing.T, f fixture) {
			if err := f.svc.SetPassword("ann", "password2"); err != nil {
				t.Fatal(err)
			}
		}},
		{"user deleted", func(t *testing.T, f fixture) {
			if err := f.svc.DeleteUser("ann"); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.mustCreateUser(t, "ann", "password1")
			pair := f.mustLogin(t, "ann", "password1")
			tt.change(t, f)
			if _, err := f.svc.Refresh(pair.RefreshToken); !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("err = %v, want ErrUnauthorized", err)
			}
		})
	}
}

func TestUnitTokenExpiryUsesClock(t *testing.T) {
	f := newFixture(t)
	f.mustCreateUser(t, "ann", "password1")
	pair := f.mustLogin(t, "ann", "password1")

	f.clock.Advance(15*time.Minute - time.Second)
	if _, err := f.svc.Verify(pair.Token); err != nil {
		t.Fatalf("token rejected a second before expiry: %v", err)
	}
	f.clock.Advance(time.Second)
	if _, err := f.svc.Verify(pair.Token); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("token accepted at expiry: err = %v", err)
	}
}

// TestUnitTokenRejected covers tokens that must never be accepted.
func TestUnitTokenRejected(t *testing.T) {
	f := newFixture(t)
	f.mustCreateUser(t, "ann", "password1", RoleAppProvider)
	pair := f.mustLogin(t, "ann", "password1")

	signed := func(t *testing.T, m jwt.SigningMethod, key any, claims tokenClaims) string {
		t.Helper()
		tok, err := jwt.NewWithClaims(m, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	valid := func(typ string) tokenClaims {
		now := f.clock.Now()
		return tokenClaims{
			RegisteredClaims: jwt.RegisteredClaims{
				Issuer: issuer, Subject: "ann",
				IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
			},
			Typ: typ, Roles: []string{RoleAdmin},
		}
	}
	// Sanity: the helper builds tokens Verify accepts, so the rejections below
	// are caused by the one thing each case changes.
	if _, err := f.svc.Verify(signed(t, jwt.SigningMethodHS256, f.svc.secret, valid(typAccess))); err != nil {
		t.Fatalf("baseline token rejected: %v", err)
	}

	tamperRoles := func(tok string) string {
		parts := strings.Split(tok, ".")
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		payload = []byte(strings.Replace(string(payload), RoleAppProvider, RoleAdmin+"\",\"x", 1))
		parts[1] = base64.RawURLEncoding.EncodeToString(payload)
		return strings.Join(parts, ".")
	}

	tests := []struct {
		name  string
		token string
		check func(string) error
	}{
		{"refresh token used as access token", pair.RefreshToken, verifyOnly(f.svc)},
		{"access token used as refresh token", pair.Token, refreshOnly(f.svc)},
		{"tampered payload", tamperRoles(pair.Token), verifyOnly(f.svc)},
		{"alg none", signed(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid(typAccess)), verifyOnly(f.svc)},
		{"HS512 with the right secret", signed(t, jwt.SigningMethodHS512, f.svc.secret, valid(typAccess)), verifyOnly(f.svc)},
		{"signed with another secret", signed(t, jwt.SigningMethodHS256, []byte(strings.Repeat("k", 32)), valid(typAccess)), verifyOnly(f.svc)},
		{"no typ claim", signed(t, jwt.SigningMethodHS256, f.svc.secret, valid("")), verifyOnly(f.svc)},
		{"no expiry", func() string {
			c := valid(typAccess)
			c.ExpiresAt = nil
			return signed(t, jwt.SigningMethodHS256, f.svc.secret, c)
		}(), verifyOnly(f.svc)},
		{"foreign issuer", func() string {
			c := valid(typAccess)
			c.Issuer = "oakestra"
			return signed(t, jwt.SigningMethodHS256, f.svc.secret, c)
		}(), verifyOnly(f.svc)},
		{"garbage", "not.a.token", verifyOnly(f.svc)},
		{"empty", "", verifyOnly(f.svc)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.check(tt.token); !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("err = %v, want ErrUnauthorized", err)
			}
		})
	}
}

func verifyOnly(s *Service) func(string) error {
	return func(tok string) error { _, err := s.Verify(tok); return err }
}

func refreshOnly(s *Service) func(string) error {
	return func(tok string) error { _, err := s.Refresh(tok); return err }
}

func TestUnitLoginRateLimit(t *testing.T) {
	f := newFixture(t)
	f.mustCreateUser(t, "ann", "password1")
	const remote = "192.0.2.7"

	for i := range 5 {
		if _, err := f.svc.LoginFrom(remote, "ann", "wrong-pass"); !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("failure %d: err = %v, want ErrUnauthorized", i+1, err)
		}
	}
	// Limited now, even with the right password.
	if _, err := f.svc.LoginFrom(remote, "ann", "password1"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("6th attempt: err = %v, want ErrRateLimited", err)
	}
	// Another remote, or another user from the same remote, is not affected:
	// an attacker cannot lock the user out everywhere.
	if _, err := f.svc.LoginFrom("198.51.100.1", "ann", "password1"); err != nil {
		t.Fatalf("other remote: %v", err)
	}
	f.mustCreateUser(t, "bob", "password2")
	if _, err := f.svc.LoginFrom(remote, "bob", "password2"); err != nil {
		t.Fatalf("other user: %v", err)
	}

	f.clock.Advance(time.Minute)
	if _, err := f.svc.LoginFrom(remote, "ann", "password1"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	// The success cleared the count: four more failures do not limit.
	for range 4 {
		_, _ = f.svc.LoginFrom(remote, "ann", "wrong-pass")
	}
	if _, err := f.svc.LoginFrom(remote, "ann", "password1"); err != nil {
		t.Fatalf("after success and 4 failures: %v", err)
	}
}

func TestUnitLoginRateLimitPrunes(t *testing.T) {
	f := newFixture(t)
	f.svc.perUser.window = time.Second
	for i := range pruneAbove + 10 {
		f.svc.perUser.fail(string(rune('a'+i%26))+strings.Repeat("x", i), f.clock.Now())
	}
	f.clock.Advance(2 * time.Second)
	f.svc.perUser.fail("fresh", f.clock.Now())
	if n := len(f.svc.perUser.failures); n != 1 {
		t.Fatalf("%d tracked keys after the window passed, want 1", n)
	}
}

// TestUnitLoginUnknownUserCostsAHash checks that a login for an unknown name
// does the password work too, so response times do not reveal which names
// exist. The bound is loose (a quarter) to stay stable on a busy machine: an
// unknown name without the dummy hash is hundreds of times faster.
func TestUnitLoginUnknownUserCostsAHash(t *testing.T) {
	f := newFixture(t)
	f.mustCreateUser(t, "ann", "password1")
	_, _ = f.svc.Login("nobody", "warm-up-1") // computes the dummy hash once
	fastest := func(user string) time.Duration {
		best := time.Duration(1 << 62)
		for i := range 3 {
			start := time.Now()
			_, _ = f.svc.LoginFrom(fmt.Sprint("timing-", i), user, "wrong-pass")
			best = min(best, time.Since(start))
		}
		return best
	}
	known, unknown := fastest("ann"), fastest("nobody")
	if unknown < known/4 {
		t.Fatalf("unknown user took %s, wrong password %s: unknown names are distinguishable", unknown, known)
	}
}

func TestUnitRefreshTokensRotate(t *testing.T) {
	f := newFixture(t)
	f.mustCreateUser(t, "ann", "password1", RoleAppProvider)
	first := f.mustLogin(t, "ann", "password1")
	second, err := f.svc.Refresh(first.RefreshToken)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	// The exchanged token is dead; presenting it again (a thief, or the
	// victim after a thief) ends the session, so the newer token dies too.
	if _, err := f.svc.Refresh(first.RefreshToken); !errors.Is(err, ErrRefreshReused) {
		t.Fatalf("reused refresh token: err = %v, want ErrRefreshReused", err)
	}
	if _, err := f.svc.Refresh(second.RefreshToken); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("refresh token of a revoked session: err = %v, want ErrUnauthorized", err)
	}
	// Another login is another session, untouched by the revocation.
	other := f.mustLogin(t, "ann", "password1")
	third, err := f.svc.Refresh(other.RefreshToken)
	if err != nil {
		t.Fatalf("refresh in a new session: %v", err)
	}
	// Logout ends the session.
	if err := f.svc.RevokeRefresh(third.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Refresh(third.RefreshToken); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("refresh after logout: err = %v, want ErrUnauthorized", err)
	}
}

// sessionsOf returns the stored sessions (refresh token families) of user.
func sessionsOf(t *testing.T, f fixture, user string) int {
	t.Helper()
	n := 0
	err := f.st.View(func(tx store.Tx) error {
		fams, err := store.ListAll[refreshFamily](tx, bucketRefresh)
		for _, fam := range fams {
			if fam.User == user {
				n++
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestUnitSessionsRevokedWithPassword: changing a password or deleting the
// user ends every session of theirs in the store (not only by the token's
// password version), and nobody else's.
func TestUnitSessionsRevokedWithPassword(t *testing.T) {
	tests := []struct {
		name   string
		change func(f fixture) error
	}{
		{"password set", func(f fixture) error { return f.svc.SetPassword("ann", "password2") }},
		{"password changed", func(f fixture) error { return f.svc.ChangePassword("ann", "password1", "password2") }},
		{"user deleted", func(f fixture) error { return f.svc.DeleteUser("ann") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.mustCreateUser(t, "ann", "password1")
			f.mustCreateUser(t, "bob", "password1")
			ann1 := f.mustLogin(t, "ann", "password1")
			f.mustLogin(t, "ann", "password1")
			bob := f.mustLogin(t, "bob", "password1")
			if got := sessionsOf(t, f, "ann"); got != 2 {
				t.Fatalf("ann has %d sessions before, want 2", got)
			}
			if err := tt.change(f); err != nil {
				t.Fatal(err)
			}
			if got := sessionsOf(t, f, "ann"); got != 0 {
				t.Errorf("ann has %d sessions after, want 0", got)
			}
			if _, err := f.svc.Refresh(ann1.RefreshToken); !errors.Is(err, ErrUnauthorized) {
				t.Errorf("refresh with ann's old token: %v, want ErrUnauthorized", err)
			}
			if _, err := f.svc.Refresh(bob.RefreshToken); err != nil {
				t.Errorf("bob's session ended with ann's: %v", err)
			}
		})
	}
}

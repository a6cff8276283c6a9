package auth

import (
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hedgeorch/hedge/internal/store"
)

func TestUnitEnsureAdmin(t *testing.T) {
	urlSafe := regexp.MustCompile(`^[A-Za-z0-9_-]{20,}$`)
	tests := []struct {
		name string
		// before runs first (nil: fresh store); env is then passed to EnsureAdmin.
		before        func(t *testing.T, f fixture)
		env           string
		wantGenerated bool
		wantPassword  string // "" with wantGenerated: the generated one
	}{
		{name: "fresh store, password from env", env: "from-env-1", wantPassword: "from-env-1"},
		{name: "fresh store, generated password", wantGenerated: true},
		{name: "existing admin, no env: unchanged", before: func(t *testing.T, f fixture) {
			if _, err := f.svc.EnsureAdmin("original-1"); err != nil {
				t.Fatal(err)
			}
		}, wantPassword: "original-1"},
		{name: "existing admin, same env: unchanged", before: func(t *testing.T, f fixture) {
			if _, err := f.svc.EnsureAdmin("original-1"); err != nil {
				t.Fatal(err)
			}
		}, env: "original-1", wantPassword: "original-1"},
		{name: "existing admin, new env: updated", before: func(t *testing.T, f fixture) {
			if _, err := f.svc.EnsureAdmin("original-1"); err != nil {
				t.Fatal(err)
			}
		}, env: "replaced-2", wantPassword: "replaced-2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			if tt.before != nil {
				tt.before(t, f)
			}
			gen, err := f.svc.EnsureAdmin(tt.env)
			if err != nil {
				t.Fatal(err)
			}
			pw := tt.wantPassword
			if tt.wantGenerated {
				if !urlSafe.MatchString(gen) {
					t.Fatalf("generated password %q: want >= 20 URL-safe characters", gen)
				}
				pw = gen
			} else if gen != "" {
				t.Fatalf("generated %q, want nothing generated", gen)
			}
			pair := f.mustLogin(t, AdminUser, pw)
			c, err := f.svc.Verify(pair.Token)
			if err != nil || !c.IsAdmin() {
				t.Fatalf("admin claims = %+v, %v", c, err)
			}
			if gen != "" && strings.Contains(f.logs.String(), gen) {
				t.Fatal("the generated password was logged")
			}
		})
	}
}

func TestUnitEnsureAdminGeneratesOnce(t *testing.T) {
	f := newFixture(t)
	first, err := f.svc.EnsureAdmin("")
	if err != nil || first == "" {
		t.Fatalf("first EnsureAdmin = %q, %v", first, err)
	}
	again, err := f.svc.EnsureAdmin("")
	if err != nil || again != "" {
		t.Fatalf("second EnsureAdmin = %q, %v; want nothing generated", again, err)
	}
	f.mustLogin(t, AdminUser, first)
}

func TestUnitEnsureAdminRejectsShortEnvPassword(t *testing.T) {
	f := newFixture(t)
	if _, err := f.svc.EnsureAdmin("short"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "password") {
		t.Fatalf("err = %v, want ErrInvalid naming the password", err)
	}
}

// TestUnitSecretPersists checks that tokens survive a restart of the root: a
// second Service on the same store reuses the signing secret, and a Service on
// another store does not accept them.
func TestUnitSecretPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "root.db")
	st, err := store.OpenBolt(path, store.WithNoSync())
	if err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock()
	svc, err := NewService(st, Options{Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	gen, err := svc.EnsureAdmin("")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := svc.Login(AdminUser, gen)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, err = store.OpenBolt(path, store.WithNoSync())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	restarted, err := NewService(st, Options{Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if again, err := restarted.EnsureAdmin(""); err != nil || again != "" {
		t.Fatalf("EnsureAdmin after restart = %q, %v; want the stored admin kept", again, err)
	}
	if c, err := restarted.Verify(pair.Token); err != nil || c.Subject != AdminUser {
		t.Fatalf("token from before the restart: %+v, %v", c, err)
	}
	if _, err := restarted.Refresh(pair.RefreshToken); err != nil {
		t.Fatalf("refresh after restart: %v", err)
	}

	other, err := NewService(store.NewMemory(), Options{Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Verify(pair.Token); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("another store's service accepted the token: err = %v", err)
	}
}

func TestUnitNewServiceOptions(t *testing.T) {
	if _, err := NewService(nil, Options{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("nil store: err = %v, want ErrInvalid", err)
	}
	svc, err := NewService(store.NewMemory(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.accessTTL != defaultAccessTTL || svc.refreshTTL != defaultRefreshTTL || svc.clock == nil || svc.log == nil {
		t.Fatalf("defaults not applied: %+v", svc)
	}
	if len(svc.secret) < 32 {
		t.Fatalf("secret is %d bytes, want >= 32", len(svc.secret))
	}
}

// TestUnitNothingSecretIsLogged runs every operation that handles a secret
// and checks the captured log for each of them.
func TestUnitNothingSecretIsLogged(t *testing.T) {
	f := newFixture(t)
	f.mustCreateUser(t, "ann", "ann-password-1")
	pair := f.mustLogin(t, "ann", "ann-password-1")
	_, _ = f.svc.LoginFrom("192.0.2.1", "ann", "ann-wrong-password")
	refreshed, err := f.svc.Refresh(pair.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.SetPassword("ann", "ann-password-2"); err != nil {
		t.Fatal(err)
	}
	join, err := f.svc.CreateJoinToken(JoinKindWorker, 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = f.svc.CheckJoinToken(JoinKindCluster, join)

	logs := f.logs.String()
	if !strings.Contains(logs, "login") {
		t.Fatalf("no login events logged; the check below would prove nothing:\n%s", logs)
	}
	for _, secret := range []string{
		"ann-password-1", "ann-wrong-password", "ann-password-2",
		pair.Token, pair.RefreshToken, refreshed.Token, join, HashToken(join),
	} {
		if strings.Contains(logs, secret) {
			t.Fatalf("log contains a secret %q:\n%s", secret, logs)
		}
	}
}

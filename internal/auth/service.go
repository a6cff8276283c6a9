package auth

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/hedgeorch/hedge/internal/store"
)

// Buckets of the auth service in its store.
const (
	bucketUsers   = "users"
	bucketSecrets = "secrets"
	bucketTokens  = "tokens"
)

const (
	secretKeyJWT  = "jwt"
	jwtSecretSize = 32 // bytes: HS256 needs at least 256 bits

	defaultAccessTTL     = 15 * time.Minute
	defaultRefreshTTL    = 7 * 24 * time.Hour
	defaultLoginFailures = 5
	defaultLoginWindow   = time.Minute
	// Failures from one address, whatever the user names: enough for a
	// few people behind one NAT mistyping, far too few to guess passwords.
	defaultAddressFailures = 20
	defaultAddressWindow   = 5 * time.Minute
	// defaultLoginConcurrency bounds the argon2 hashes running at once:
	// each takes argonMemoryKiB (7 MiB), so 4 take under 30 MiB.
	defaultLoginConcurrency = 4
)

// Options configure a Service. Zero values take the defaults.
type Options struct {
	// Clock is the time source for token issue and expiry, join-token expiry
	// and login rate limiting (default time.Now).
	Clock func() time.Time
	// AccessTTL is how long an access token is valid (default 15m).
	AccessTTL time.Duration
	// RefreshTTL is how long a refresh token is valid (default 7 days).
	RefreshTTL time.Duration
	// LoginFailures failed logins for one user from one remote within
	// LoginWindow block further attempts of that user from that remote
	// until the window ends (defaults 5 and 1m). The same user from another
	// address is not blocked, so nobody can lock a user out.
	LoginFailures int
	LoginWindow   time.Duration
	// AddressFailures failed logins from one remote within AddressWindow,
	// whatever user names they try, block every login from that remote until
	// the window ends (defaults 20 and 5m), so changing names does not
	// bypass the limit.
	AddressFailures int
	AddressWindow   time.Duration
	// LoginConcurrency is how many password hashes (logins, password
	// changes) may run at once (default 4). Beyond it a login fails at once
	// with ErrBusy instead of queueing, so parallel logins cannot take
	// memory without bound.
	LoginConcurrency int
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is
	// believed (see ClientAddress); none by default.
	TrustedProxies []netip.Prefix
	// Logger receives audit events (logins, user changes); never secrets.
	Logger *slog.Logger
}

// Service is the root's auth service: users, login tokens and join tokens,
// persisted in a store.Store (buckets users, secrets, tokens). It is safe for
// concurrent use.
type Service struct {
	st         store.Store
	clock      func() time.Time
	accessTTL  time.Duration
	refreshTTL time.Duration
	log        *slog.Logger
	secret     []byte

	perUser    loginLimiter // keyed by user name and remote
	perAddress loginLimiter // keyed by remote
	hashing    chan struct{}
	proxies    []netip.Prefix
}

type jwtSecret struct {
	Key       []byte    `json:"key"`
	CreatedAt time.Time `json:"created_at"`
}

// NewService loads the JWT signing secret from st, creating and persisting a
// random one on first use, so that tokens survive a restart of the root.
func NewService(st store.Store, opts Options) (*Service, error) {
	if st == nil {
		return nil, fmt.Errorf("new auth service: store is nil: %w", ErrInvalid)
	}
	s := &Service{
		st:         st,
		clock:      opts.Clock,
		accessTTL:  opts.AccessTTL,
		refreshTTL: opts.RefreshTTL,
		log:        opts.Logger,
		proxies:    opts.TrustedProxies,
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.accessTTL <= 0 {
		s.accessTTL = defaultAccessTTL
	}
	if s.refreshTTL <= 0 {
		s.refreshTTL = defaultRefreshTTL
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.perUser = newLoginLimiter(opts.LoginFailures, defaultLoginFailures, opts.LoginWindow, defaultLoginWindow)
	s.perAddress = newLoginLimiter(opts.AddressFailures, defaultAddressFailures, opts.AddressWindow, defaultAddressWindow)
	n := opts.LoginConcurrency
	if n <= 0 {
		n = defaultLoginConcurrency
	}
	s.hashing = make(chan struct{}, n)

	err := st.Update(func(tx store.Tx) error {
		sec, err := store.Get[jwtSecret](tx, bucketSecrets, secretKeyJWT)
		if err == nil && len(sec.Key) >= jwtSecretSize {
			s.secret = sec.Key
			return nil
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		sec = jwtSecret{Key: make([]byte, jwtSecretSize), CreatedAt: s.clock().UTC()}
		if _, err := rand.Read(sec.Key); err != nil {
			return fmt.Errorf("generate jwt secret: %w", err)
		}
		s.secret = sec.Key
		s.log.Info("created jwt signing secret")
		return tx.Put(bucketSecrets, secretKeyJWT, sec)
	})
	if err == nil {
		err = st.Update(assignUserIDs)
	}
	if err != nil {
		return nil, fmt.Errorf("new auth service: %w", err)
	}
	return s, nil
}

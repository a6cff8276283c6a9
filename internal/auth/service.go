package auth

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
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
	// LoginWindow block further attempts until the window ends (defaults 5
	// and 1m).
	LoginFailures int
	LoginWindow   time.Duration
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

	limiter loginLimiter
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
	s.limiter = loginLimiter{
		max:      opts.LoginFailures,
		window:   opts.LoginWindow,
		failures: map[string]*loginFailures{},
	}
	if s.limiter.max <= 0 {
		s.limiter.max = defaultLoginFailures
	}
	if s.limiter.window <= 0 {
		s.limiter.window = defaultLoginWindow
	}

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
	if err != nil {
		return nil, fmt.Errorf("new auth service: %w", err)
	}
	return s, nil
}

// loginLimiter counts failed logins per user+remote in fixed windows.
type loginLimiter struct {
	max    int
	window time.Duration

	mu       sync.Mutex
	failures map[string]*loginFailures
}

type loginFailures struct {
	count int
	start time.Time
}

// pruneAbove is the number of tracked keys above which expired entries are
// dropped, so that failures from many remotes cannot grow the map forever.
const pruneAbove = 1024

// blocked returns how long key must still wait, or 0.
func (l *loginLimiter) blocked(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.failures[key]
	if f == nil || f.count < l.max {
		return 0
	}
	end := f.start.Add(l.window)
	if !now.Before(end) {
		delete(l.failures, key)
		return 0
	}
	return end.Sub(now)
}

func (l *loginLimiter) fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.failures[key]
	if f == nil || !now.Before(f.start.Add(l.window)) {
		if len(l.failures) >= pruneAbove {
			l.prune(now)
		}
		f = &loginFailures{start: now}
		l.failures[key] = f
	}
	f.count++
}

func (l *loginLimiter) succeed(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.failures, key)
}

func (l *loginLimiter) prune(now time.Time) {
	for k, f := range l.failures {
		if !now.Before(f.start.Add(l.window)) {
			delete(l.failures, k)
		}
	}
}

package auth

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Login throttling, in the manner of fail2ban and Nomad's ACL login limits:
//
//   - per remote address: AddressFailures failures in AddressWindow block the
//     address, whatever user names it tries;
//   - per user and remote address: LoginFailures failures in the shorter
//     LoginWindow block that user from that address only, so an attacker
//     cannot lock a user out of every other address;
//   - at most LoginConcurrency password hashes run at once; a login beyond
//     that fails at once with ErrBusy (HTTP 429 with Retry-After).
//
// There is deliberately no limit per user alone: it would let anyone lock
// any user out. The remote address is the connection's peer, unless the
// root trusts proxies (ClientAddress).

// loginLimiter counts failed logins per key in fixed windows.
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

func newLoginLimiter(max, defMax int, window, defWindow time.Duration) loginLimiter {
	if max <= 0 {
		max = defMax
	}
	if window <= 0 {
		window = defWindow
	}
	return loginLimiter{max: max, window: window, failures: map[string]*loginFailures{}}
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

// LoginRetryAfter is what a login refused with ErrBusy should wait: one
// hash takes well under a second.
const LoginRetryAfter = time.Second

// acquireHash takes one of the LoginConcurrency hashing slots without
// waiting, or fails with ErrBusy. The caller must call the returned release.
func (s *Service) acquireHash() (release func(), err error) {
	select {
	case s.hashing <- struct{}{}:
		return func() { <-s.hashing }, nil
	default:
		return nil, &retryError{wait: LoginRetryAfter,
			err: fmt.Errorf("login: %d password checks already running, retry in %s: %w", cap(s.hashing), LoginRetryAfter, ErrBusy)}
	}
}

// HashingLimit is how many password hashes may run at once.
func (s *Service) HashingLimit() int { return cap(s.hashing) }

// retryError is an error that says how long to wait before trying again.
type retryError struct {
	wait time.Duration
	err  error
}

func (e *retryError) Error() string { return e.err.Error() }
func (e *retryError) Unwrap() error { return e.err }

// RetryAfter returns how long the caller of a login refused with
// ErrRateLimited or ErrBusy should wait, or 0 for other errors.
func RetryAfter(err error) time.Duration {
	var re *retryError
	if errors.As(err, &re) {
		return re.wait
	}
	return 0
}

package auth

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"testing"

	"github.com/hedgeorch/hedge/internal/store"
)

// TestUnitLoginHashingLimitAttack is the attacker of issue 12: 50 parallel
// logins with distinct names while every hashing slot is taken. Each is
// refused at once with ErrBusy (none waits in a queue), and together they
// allocate less than a single argon2 hash would: no password work was done.
func TestUnitLoginHashingLimitAttack(t *testing.T) {
	f := newFixture(t)
	if got := f.svc.HashingLimit(); got != defaultLoginConcurrency {
		t.Fatalf("HashingLimit() = %d, want the default %d", got, defaultLoginConcurrency)
	}
	var releases []func()
	for range f.svc.HashingLimit() {
		release, err := f.svc.acquireHash()
		if err != nil {
			t.Fatalf("acquire a free slot: %v", err)
		}
		releases = append(releases, release)
	}

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const attackers = 50
	errs := make([]error, attackers)
	var wg sync.WaitGroup
	for i := range attackers {
		wg.Go(func() {
			_, errs[i] = f.svc.LoginFrom(fmt.Sprintf("203.0.113.%d", i), fmt.Sprintf("user%d", i), "guess-password")
		})
	}
	wg.Wait() // would hang if logins queued behind the held slots
	runtime.ReadMemStats(&after)
	for i, err := range errs {
		if !errors.Is(err, ErrBusy) {
			t.Fatalf("login %d: err = %v, want ErrBusy", i, err)
		}
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew >= argonMemoryKiB*1024 {
		t.Fatalf("50 refused logins allocated %d bytes, at least one argon2 hash (%d): they hashed", grew, argonMemoryKiB*1024)
	}

	for _, release := range releases {
		release()
	}
	f.mustCreateUser(t, "ann", "password1")
	if _, err := f.svc.LoginFrom("198.51.100.1", "ann", "password1"); err != nil {
		t.Fatalf("login once the slots are free: %v", err)
	}
}

// TestUnitLoginParallelDistinctNames runs 50 parallel logins with distinct
// names and a limit of 2: every one is either checked (ErrUnauthorized) or
// refused (ErrBusy), never anything else, and the slots are all free after.
func TestUnitLoginParallelDistinctNames(t *testing.T) {
	st := store.NewMemory()
	t.Cleanup(func() { _ = st.Close() })
	svc, err := NewService(st, Options{LoginConcurrency: 2, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	const attackers = 50
	errs := make([]error, attackers)
	var wg sync.WaitGroup
	for i := range attackers {
		wg.Go(func() {
			_, errs[i] = svc.LoginFrom(fmt.Sprintf("203.0.113.%d", i), fmt.Sprintf("user%d", i), "guess-password")
		})
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, ErrUnauthorized) && !errors.Is(err, ErrBusy) {
			t.Fatalf("login %d: err = %v, want ErrUnauthorized or ErrBusy", i, err)
		}
	}
	if n := len(svc.hashing); n != 0 {
		t.Fatalf("%d hashing slots still taken after every login returned", n)
	}
}

// TestUnitLoginPerAddressLimit: an attacker that changes the user name on
// every attempt is still stopped after AddressFailures failures from its
// address, even for a real user with the right password; the same user from
// another address is not.
func TestUnitLoginPerAddressLimit(t *testing.T) {
	f := newFixture(t)
	f.mustCreateUser(t, "ann", "password1")
	const attacker = "203.0.113.9"
	for i := range defaultAddressFailures {
		if _, err := f.svc.LoginFrom(attacker, fmt.Sprintf("guess%d", i), "wrong-pass"); !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("failure %d: err = %v, want ErrUnauthorized", i+1, err)
		}
	}
	for _, name := range []string{"guess-next", "ann"} {
		if _, err := f.svc.LoginFrom(attacker, name, "password1"); !errors.Is(err, ErrRateLimited) {
			t.Fatalf("login as %s from the attacker's address: err = %v, want ErrRateLimited", name, err)
		}
	}
	if _, err := f.svc.LoginFrom("198.51.100.1", "ann", "password1"); err != nil {
		t.Fatalf("ann from another address: %v", err)
	}
	f.clock.Advance(defaultAddressWindow)
	if _, err := f.svc.LoginFrom(attacker, "ann", "password1"); err != nil {
		t.Fatalf("after the address window: %v", err)
	}
}

// BenchmarkLoginAtHashingLimit measures successful logins per second with as
// many parallel callers as hashing slots, the most the limit lets through.
func BenchmarkLoginAtHashingLimit(b *testing.B) {
	st := store.NewMemory()
	b.Cleanup(func() { _ = st.Close() })
	svc, err := NewService(st, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	if err := svc.CreateUser("ann", "password1", nil); err != nil {
		b.Fatal(err)
	}
	limit := svc.HashingLimit()
	var mu sync.Mutex
	busy, next := 0, 0
	b.SetParallelism(max(1, limit/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		mu.Lock()
		remote := fmt.Sprintf("192.0.2.%d", next)
		next++
		mu.Unlock()
		for pb.Next() {
			_, err := svc.LoginFrom(remote, "ann", "password1")
			switch {
			case errors.Is(err, ErrBusy):
				mu.Lock()
				busy++
				mu.Unlock()
			case err != nil:
				b.Error(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
	b.ReportMetric(float64(busy), "busy")
}

package auth

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/internal/store"
)

func TestUnitJoinTokens(t *testing.T) {
	tests := []struct {
		name      string
		kind      string
		ttl       time.Duration
		checkKind string
		advance   time.Duration
		wantErr   error
	}{
		{"cluster token for a cluster", JoinKindCluster, time.Hour, JoinKindCluster, 0, nil},
		{"worker token for a worker", JoinKindWorker, time.Hour, JoinKindWorker, 59 * time.Minute, nil},
		{"worker token used by a cluster", JoinKindWorker, time.Hour, JoinKindCluster, 0, ErrUnauthorized},
		{"cluster token used by a worker", JoinKindCluster, time.Hour, JoinKindWorker, 0, ErrUnauthorized},
		{"expired", JoinKindWorker, time.Hour, JoinKindWorker, time.Hour, ErrUnauthorized},
		{"ttl 0 lasts 24h", JoinKindWorker, 0, JoinKindWorker, 24*time.Hour - time.Second, nil},
		{"ttl 0 ends after 24h", JoinKindWorker, 0, JoinKindWorker, 24 * time.Hour, ErrUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			tok, err := f.svc.CreateJoinToken(tt.kind, tt.ttl)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(tok, "hedge-"+tt.kind+"-") || len(tok) < len("hedge-"+tt.kind+"-")+32 {
				t.Fatalf("token %q: want hedge-%s-<at least 32 random characters>", tok, tt.kind)
			}
			f.clock.Advance(tt.advance)
			if err := f.svc.CheckJoinToken(tt.checkKind, tok); !errors.Is(err, tt.wantErr) {
				t.Fatalf("CheckJoinToken: err = %v, want %v", err, tt.wantErr)
			}
			// Reusable until expiry: a second check gives the same answer.
			if err := f.svc.CheckJoinToken(tt.checkKind, tok); !errors.Is(err, tt.wantErr) {
				t.Fatalf("second CheckJoinToken: err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestUnitJoinTokenErrors(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		name string
		kind string
		ttl  time.Duration
	}{
		{"unknown kind", "root", 0},
		{"empty kind", "", 0},
		{"negative ttl", JoinKindWorker, -time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := f.svc.CreateJoinToken(c.kind, c.ttl); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
	t.Run("unknown token", func(t *testing.T) {
		if err := f.svc.CheckJoinToken(JoinKindWorker, "hedge-worker-made-up"); !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("err = %v, want ErrUnauthorized", err)
		}
	})
}

func TestUnitJoinTokenHashes(t *testing.T) {
	f := newFixture(t)
	w1, _ := f.svc.CreateJoinToken(JoinKindWorker, time.Hour)
	w2, _ := f.svc.CreateJoinToken(JoinKindWorker, 2*time.Hour)
	_, _ = f.svc.CreateJoinToken(JoinKindCluster, time.Hour)

	hashes := f.svc.JoinTokenHashes(JoinKindWorker)
	want := []string{HashToken(w1), HashToken(w2)}
	slices.Sort(want)
	if !slices.Equal(hashes, want) {
		t.Fatalf("worker hashes = %v, want %v", hashes, want)
	}
	for _, h := range hashes {
		if h == w1 || h == w2 {
			t.Fatal("JoinTokenHashes returned a token, not a hash")
		}
	}

	f.clock.Advance(time.Hour) // w1 expires, w2 not yet
	if got := f.svc.JoinTokenHashes(JoinKindWorker); !slices.Equal(got, []string{HashToken(w2)}) {
		t.Fatalf("after an hour worker hashes = %v, want only w2's", got)
	}
	if got := f.svc.JoinTokenHashes(JoinKindCluster); len(got) != 0 {
		t.Fatalf("expired cluster hashes still listed: %v", got)
	}

	// Creating a token drops expired records from the store.
	if _, err := f.svc.CreateJoinToken(JoinKindWorker, time.Hour); err != nil {
		t.Fatal(err)
	}
	var stored int
	_ = f.st.View(func(tx store.Tx) error {
		return tx.List(bucketTokens, func(string, []byte) error { stored++; return nil })
	})
	if stored != 2 {
		t.Fatalf("%d token records stored, want 2 (w2 and the new one)", stored)
	}
}

func TestUnitHashToken(t *testing.T) {
	// sha256("abc"), a published test vector.
	if got := HashToken("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("HashToken(abc) = %s", got)
	}
}

func TestUnitJoinTokenUsesScopeAndRevocation(t *testing.T) {
	tests := []struct {
		name    string
		spec    JoinTokenSpec
		uses    []string // the cluster of each use, in order
		wantErr []error  // per use
	}{
		{"single use", JoinTokenSpec{Kind: JoinKindWorker, MaxUses: 1}, []string{"a", "a"}, []error{nil, ErrUnauthorized}},
		{"three uses at any cluster", JoinTokenSpec{Kind: JoinKindWorker, MaxUses: 3}, []string{"a", "b", "c", "a"}, []error{nil, nil, nil, ErrUnauthorized}},
		{"unlimited until expiry", JoinTokenSpec{Kind: JoinKindWorker}, []string{"a", "a", "a"}, []error{nil, nil, nil}},
		{"scoped to a cluster", JoinTokenSpec{Kind: JoinKindWorker, Cluster: "a"}, []string{"b", "a", ""}, []error{ErrUnauthorized, nil, ErrUnauthorized}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			tok, info, err := f.svc.IssueJoinToken(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			if len(info.ID) != JoinTokenIDLen || !strings.HasPrefix(HashToken(tok), info.ID) || strings.Contains(tok, info.ID) {
				t.Fatalf("id %q: want the first %d characters of the token's hash", info.ID, JoinTokenIDLen)
			}
			for i, cluster := range tt.uses {
				if err := f.svc.UseJoinToken(JoinKindWorker, tok, cluster); !errors.Is(err, tt.wantErr[i]) {
					t.Fatalf("use %d at %q: %v, want %v", i+1, cluster, err, tt.wantErr[i])
				}
			}
			if err := f.svc.RevokeJoinToken(info.ID); err != nil {
				t.Fatal(err)
			}
			if err := f.svc.CheckJoinTokenAt(JoinKindWorker, tok, tt.spec.Cluster); !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("check after revocation: %v, want ErrUnauthorized", err)
			}
			if err := f.svc.RevokeJoinToken(info.ID); !errors.Is(err, ErrNotFound) {
				t.Fatalf("second revocation: %v, want ErrNotFound", err)
			}
		})
	}
}

func TestUnitJoinTokenSpecErrorsNameTheField(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name  string
		spec  JoinTokenSpec
		field string
	}{
		{"negative ttl", JoinTokenSpec{Kind: JoinKindWorker, TTL: -time.Second}, "ttl"},
		{"ttl past the maximum", JoinTokenSpec{Kind: JoinKindWorker, TTL: MaxJoinTTL + time.Second}, "ttl"},
		{"negative uses", JoinTokenSpec{Kind: JoinKindWorker, MaxUses: -1}, "max_uses"},
		{"too many uses", JoinTokenSpec{Kind: JoinKindWorker, MaxUses: MaxJoinUses + 1}, "max_uses"},
		{"scoped cluster token", JoinTokenSpec{Kind: JoinKindCluster, Cluster: "a"}, "cluster"},
		{"scope with a space", JoinTokenSpec{Kind: JoinKindWorker, Cluster: "a b"}, "cluster"},
		{"unknown kind", JoinTokenSpec{Kind: "node"}, "kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := f.svc.IssueJoinToken(tt.spec)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("err = %v, want ErrInvalid naming %s", err, tt.field)
			}
		})
	}
	if list, err := f.svc.ListJoinTokens(); err != nil || len(list) != 0 {
		t.Fatalf("refused specs stored tokens: %+v, %v", list, err)
	}
	for _, id := range []string{"", "short", "0123456789ABCDEF", "0123456789abcdeg", "0123456789abcdef0"} {
		if err := f.svc.RevokeJoinToken(id); !errors.Is(err, ErrInvalid) {
			t.Errorf("RevokeJoinToken(%q) = %v, want ErrInvalid", id, err)
		}
	}
}

// TestUnitJoinTokenUsesAreCountedOnce: many clusters using a token at once
// get exactly its uses, no more.
func TestUnitJoinTokenUsesAreCountedOnce(t *testing.T) {
	f := newFixture(t)
	tok, info, err := f.svc.IssueJoinToken(JoinTokenSpec{Kind: JoinKindWorker, MaxUses: 5})
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan error, 20)
	for range 20 {
		go func() { results <- f.svc.UseJoinToken(JoinKindWorker, tok, "a") }()
	}
	ok := 0
	for range 20 {
		if err := <-results; err == nil {
			ok++
		} else if !errors.Is(err, ErrUnauthorized) {
			t.Errorf("use: %v", err)
		}
	}
	list, _ := f.svc.ListJoinTokens()
	if ok != 5 || len(list) != 1 || list[0].ID != info.ID || list[0].Uses != 5 {
		t.Fatalf("%d of 20 concurrent uses admitted, list %+v; want 5 and uses 5", ok, list)
	}
}

package kube

import (
	"context"
	"crypto/sha256"
	"net/http"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/repo"
)

// Bounds of the chart index cache: listing a repository's charts reads its
// index.yaml (up to maxIndex bytes) at most once per TTL, as Helm reads a
// repository's index only on `helm repo update`.
const (
	defaultIndexTTL = 5 * time.Minute
	maxIndexEntries = 16
	maxIndexBytes   = 64 << 20
)

// indexCache keeps parsed chart indexes for a TTL, bounded in count and in
// the bytes they were parsed from; the oldest go first. It is keyed by URL
// and credentials, so an index read with one password is not served for
// another.
type indexCache struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	entries map[[32]byte]indexEntry
	bytes   int
}

type indexEntry struct {
	idx     *repo.IndexFile
	size    int
	fetched time.Time
}

func newIndexCache(ttl time.Duration, now func() time.Time) *indexCache {
	if ttl <= 0 {
		ttl = defaultIndexTTL
	}
	return &indexCache{ttl: ttl, now: now, entries: map[[32]byte]indexEntry{}}
}

func cacheKey(r repoAccess) [32]byte {
	return sha256.Sum256([]byte(r.url + "\x00" + r.username + "\x00" + r.password))
}

// get returns the repository's index, from the cache while it is fresh.
// The index returned is shared: callers must not change it.
func (c *indexCache) get(ctx context.Context, hc *http.Client, r repoAccess) (*repo.IndexFile, error) {
	k := cacheKey(r)
	c.mu.Lock()
	e, ok := c.entries[k]
	c.mu.Unlock()
	if ok && c.now().Sub(e.fetched) < c.ttl {
		return e.idx, nil
	}
	return c.refresh(ctx, hc, r)
}

// refresh reads the repository's index now and caches it.
func (c *indexCache) refresh(ctx context.Context, hc *http.Client, r repoAccess) (*repo.IndexFile, error) {
	idx, size, err := fetchIndex(ctx, hc, r)
	if err != nil {
		return nil, err
	}
	c.put(cacheKey(r), indexEntry{idx: idx, size: size, fetched: c.now()})
	return idx, nil
}

func (c *indexCache) put(k [32]byte, e indexEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked(k)
	for len(c.entries) > 0 && (len(c.entries) >= maxIndexEntries || c.bytes+e.size > maxIndexBytes) {
		var oldest [32]byte
		first := true
		for k2, e2 := range c.entries {
			if first || e2.fetched.Before(c.entries[oldest].fetched) {
				oldest, first = k2, false
			}
		}
		c.dropLocked(oldest)
	}
	c.entries[k] = e
	c.bytes += e.size
}

func (c *indexCache) dropLocked(k [32]byte) {
	if e, ok := c.entries[k]; ok {
		c.bytes -= e.size
		delete(c.entries, k)
	}
}

// forget drops the repository's index, as when it is changed or deleted.
func (c *indexCache) forget(r repoAccess) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked(cacheKey(r))
}

// len is how many indexes are cached, and from how many bytes.
func (c *indexCache) len() (int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries), c.bytes
}

package store

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hedgeorch/hedge/internal/errdefs"
)

// The etcd backend keeps each record under its own key, so a replicated root
// can read and write the same state from several machines:
//
//	<prefix>b/<bucket>\x00<key>  the record's JSON
//	<prefix>g/<bucket>           bumped by every write to the bucket
//	<prefix>s/<bucket>           the bucket's sequence, in decimal
//
// A transaction reads at one revision (a snapshot, as bbolt's), buffers its
// writes, and commits them in one etcd transaction that succeeds only if
// nothing it read changed since: the mod revision of every key it got, and
// the generation key of every bucket it listed (a range compare would miss a
// deletion). On a conflict Update runs fn again on a fresh snapshot, as
// etcd's own STM does. Writers of one process are serialized, so a conflict
// needs a second process writing the same keys; a root's standby replicas
// never write (they are fenced), so a root's fn runs once, as on bbolt.
const (
	etcdRecord = "b/"
	etcdGen    = "g/"
	etcdSeq    = "s/"
)

// EtcdConfig says how to reach etcd.
type EtcdConfig struct {
	// Endpoints are host:port or URLs (https:// for TLS).
	Endpoints []string
	// Prefix keeps Hedge's keys apart from other users of the same etcd.
	Prefix string
	// TLS, when set, is used for every endpoint (client certificates).
	TLS *tls.Config
	// Timeout bounds each request to etcd (10 s when zero).
	Timeout time.Duration
}

// DefaultEtcdPrefix is where Hedge keeps its keys unless told otherwise.
const DefaultEtcdPrefix = "/hedge/"

// ParseEtcdURL reads the --store form etcd://host1:2379,host2:2379/prefix
// (etcds:// for TLS endpoints). The prefix defaults to DefaultEtcdPrefix.
func ParseEtcdURL(s string) (EtcdConfig, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || (scheme != "etcd" && scheme != "etcds") {
		return EtcdConfig{}, fmt.Errorf("store %q: want etcd://host:port[,host:port...][/prefix] or etcds://...", s)
	}
	hosts, prefix, _ := strings.Cut(rest, "/")
	cfg := EtcdConfig{Prefix: DefaultEtcdPrefix}
	if prefix != "" {
		cfg.Prefix = "/" + strings.Trim(prefix, "/") + "/"
	}
	proto := "http://"
	if scheme == "etcds" {
		proto = "https://"
	}
	for _, h := range strings.Split(hosts, ",") {
		if h == "" {
			continue
		}
		u, err := url.Parse(proto + h)
		if err != nil || u.Host != h || u.Port() == "" {
			return EtcdConfig{}, fmt.Errorf("store %q: endpoint %q: want host:port", s, h)
		}
		cfg.Endpoints = append(cfg.Endpoints, proto+h)
	}
	if len(cfg.Endpoints) == 0 {
		return EtcdConfig{}, fmt.Errorf("store %q: no endpoint", s)
	}
	return cfg, nil
}

type etcdStore struct {
	// mu serializes this process's writers, as bbolt does: conflicts, and
	// so reruns of fn, come only from other processes on the same etcd.
	mu      sync.Mutex
	cli     *clientv3.Client
	fence   atomic.Pointer[clientv3.Cmp]
	prefix  string
	timeout time.Duration
	ctx     context.Context
	cancel  context.CancelFunc
}

var _ Store = (*etcdStore)(nil)

// OpenEtcd connects to etcd. It fails when no endpoint answers within the
// timeout, so that a root with a wrong --store stops at once.
func OpenEtcd(cfg EtcdConfig) (Store, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultEtcdPrefix
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   cfg.Endpoints,
		DialTimeout: cfg.Timeout,
		TLS:         cfg.TLS,
		// etcd's client logs through zap at info by default; Hedge
		// reports the errors it returns instead.
		Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("open etcd %v: %w", cfg.Endpoints, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &etcdStore{cli: cli, prefix: cfg.Prefix, timeout: cfg.Timeout, ctx: ctx, cancel: cancel}
	pctx, pcancel := context.WithTimeout(ctx, cfg.Timeout)
	defer pcancel()
	if _, err := cli.Get(pctx, s.prefix+etcdGen, clientv3.WithCountOnly()); err != nil {
		cancel()
		_ = cli.Close()
		return nil, fmt.Errorf("open etcd %v: %w", cfg.Endpoints, err)
	}
	return s, nil
}

// EtcdClient returns the etcd client of a store opened by OpenEtcd, for
// leader election and watches on the same connection; nil for other stores.
func EtcdClient(st Store) *clientv3.Client {
	if s, ok := st.(*etcdStore); ok {
		return s.cli
	}
	return nil
}

// ErrFenced: a write was refused because this process no longer holds the
// leadership the store was fenced with.
// It is of kind errdefs.ErrUnavailable (503): another replica leads, and
// the caller may retry there.
var ErrFenced = errdefs.New(errdefs.ErrUnavailable, "not the leader any more: write refused")

// ErrEtcdUnavailable is returned when etcd could not answer in time or has
// no leader (its members are electing one): of kind errdefs.ErrUnavailable
// (503), since the same request may well work a few seconds later, which a
// 500 would not say.
var ErrEtcdUnavailable = errdefs.New(errdefs.ErrUnavailable, "etcd unavailable")

// etcdErr wraps an error of the etcd client, marking those that mean etcd
// is unavailable for now (ErrEtcdUnavailable); others (a request over etcd's
// size limit, say) stay internal errors.
func etcdErr(op string, err error) error {
	code := status.Code(err)
	var ee interface{ Code() codes.Code } // the client's rpctypes.EtcdError ("etcdserver: no leader")
	if errors.As(err, &ee) {
		code = ee.Code()
	}
	if code == codes.Unavailable || code == codes.DeadlineExceeded || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w: %w", op, ErrEtcdUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// FenceEtcd makes every later write of st conditional on key still having
// create revision rev: the key of an election won (concurrency.Election's Key
// and Rev). When the lease behind it ends, even a write already on its way
// fails with ErrFenced, so a deposed leader cannot change the state a new
// leader acts on.
func FenceEtcd(st Store, key string, rev int64) error {
	s, ok := st.(*etcdStore)
	if !ok {
		return fmt.Errorf("fence: %T is not an etcd store", st)
	}
	cmp := clientv3.Compare(clientv3.CreateRevision(key), "=", rev)
	s.fence.Store(&cmp)
	return nil
}

func (s *etcdStore) Close() error {
	s.cancel()
	if err := s.cli.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("close etcd: %w", err)
	}
	return nil
}

func (s *etcdStore) closedErr(op string) error {
	if s.ctx.Err() != nil {
		return fmt.Errorf("%s: %w", op, ErrClosed)
	}
	return nil
}

func (s *etcdStore) View(fn func(tx Tx) error) error {
	if err := s.closedErr("view"); err != nil {
		return err
	}
	tx := &etcdTx{s: s}
	defer func() { tx.closed = true }()
	return fn(tx)
}

// maxAttempts bounds how often Update reruns fn after conflicts; a write
// that loses this often is reported, not retried forever.
const maxAttempts = 64

func (s *etcdStore) Update(fn func(tx Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for attempt := 0; ; attempt++ {
		if err := s.closedErr("update"); err != nil {
			return err
		}
		tx := &etcdTx{s: s, writable: true, writes: map[string]*[]byte{}, reads: map[string]int64{}}
		err := func() error {
			defer func() { tx.closed = true }()
			return fn(tx)
		}()
		if err != nil {
			return err
		}
		ok, err := tx.commit()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if attempt+1 == maxAttempts {
			return fmt.Errorf("update: %d attempts lost to concurrent writers: %w", maxAttempts, ErrConflict)
		}
		time.Sleep(time.Duration(attempt+1) * time.Millisecond)
	}
}

func (s *etcdStore) recordKey(bucket, key string) string {
	return s.prefix + etcdRecord + bucket + "\x00" + key
}

// etcdTx is one snapshot transaction. rev is the revision every read uses,
// fixed by the first read; reads maps each key read to the mod revision seen
// (0: absent); writes maps keys to new values (nil: deleted).
type etcdTx struct {
	s        *etcdStore
	writable bool
	closed   bool
	rev      int64
	reads    map[string]int64
	writes   map[string]*[]byte
	order    []string // keys of writes in first-write order
}

func (t *etcdTx) usable(op string, write bool) error {
	switch {
	case t.closed:
		return fmt.Errorf("%s: %w", op, ErrTxClosed)
	case write && !t.writable:
		return fmt.Errorf("%s: %w", op, ErrReadOnly)
	}
	return nil
}

// get reads key (or, with prefix, the range under it) at the snapshot.
func (t *etcdTx) get(key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	ctx, cancel := context.WithTimeout(t.s.ctx, t.s.timeout)
	defer cancel()
	if t.rev != 0 {
		opts = append(opts, clientv3.WithRev(t.rev))
	}
	resp, err := t.s.cli.Get(ctx, key, opts...)
	if err != nil {
		if t.s.ctx.Err() != nil {
			return nil, ErrClosed
		}
		return nil, etcdErr("etcd", err)
	}
	if t.rev == 0 {
		t.rev = resp.Header.Revision
	}
	return resp, nil
}

// read returns key's value at the snapshot (nil: absent) and remembers its
// mod revision for the commit's compare.
func (t *etcdTx) read(key string) ([]byte, error) {
	if w, ok := t.writes[key]; ok {
		if w == nil {
			return nil, nil
		}
		return *w, nil
	}
	resp, err := t.get(key)
	if err != nil {
		return nil, err
	}
	var val []byte
	var mod int64
	if len(resp.Kvs) > 0 {
		val, mod = resp.Kvs[0].Value, resp.Kvs[0].ModRevision
	}
	if t.reads != nil {
		t.reads[key] = mod
	}
	return val, nil
}

func (t *etcdTx) write(key string, val []byte) {
	if _, ok := t.writes[key]; !ok {
		t.order = append(t.order, key)
	}
	if val == nil {
		t.writes[key] = nil
		return
	}
	t.writes[key] = &val
}

// touch marks bucket as written, so that its generation is bumped at commit.
func (t *etcdTx) touch(bucket string) {
	gk := t.s.prefix + etcdGen + bucket
	if _, ok := t.writes[gk]; !ok {
		t.write(gk, []byte{})
	}
}

func (t *etcdTx) Get(bucket, key string, v any) error {
	if err := t.usable("get", false); err != nil {
		return err
	}
	if err := checkNames("get", bucket, key); err != nil {
		return err
	}
	raw, err := t.read(t.s.recordKey(bucket, key))
	if err != nil {
		return fmt.Errorf("get %s/%s: %w", bucket, key, err)
	}
	if raw == nil {
		return notFound(bucket, key)
	}
	return decode(bucket, key, raw, v)
}

func (t *etcdTx) Put(bucket, key string, v any) error {
	if err := t.usable("put", true); err != nil {
		return err
	}
	if err := checkNames("put", bucket, key); err != nil {
		return err
	}
	raw, err := encode(bucket, key, v)
	if err != nil {
		return err
	}
	return t.putRaw(bucket, key, raw)
}

func (t *etcdTx) putRaw(bucket, key string, raw []byte) error {
	t.write(t.s.recordKey(bucket, key), raw)
	t.touch(bucket)
	return nil
}

func (t *etcdTx) Delete(bucket, key string) error {
	if err := t.usable("delete", true); err != nil {
		return err
	}
	if err := checkNames("delete", bucket, key); err != nil {
		return err
	}
	t.write(t.s.recordKey(bucket, key), nil)
	t.touch(bucket)
	return nil
}

func (t *etcdTx) List(bucket string, fn func(key string, raw []byte) error) error {
	if err := t.usable("list", false); err != nil {
		return err
	}
	if err := checkNames("list", bucket, "-"); err != nil {
		return err
	}
	if t.reads != nil {
		gk := t.s.prefix + etcdGen + bucket
		if _, err := t.read(gk); err != nil {
			return fmt.Errorf("list %s: %w", bucket, err)
		}
	}
	start := t.s.recordKey(bucket, "")
	resp, err := t.get(start, clientv3.WithRange(clientv3.GetPrefixRangeEnd(start)))
	if err != nil {
		return fmt.Errorf("list %s: %w", bucket, err)
	}
	// Merge this transaction's own writes into the snapshot, in key order.
	keys := make([]string, 0, len(resp.Kvs))
	vals := map[string][]byte{}
	for _, kv := range resp.Kvs {
		k := string(kv.Key)
		keys = append(keys, k)
		vals[k] = kv.Value
	}
	for k, w := range t.writes {
		if !strings.HasPrefix(k, start) {
			continue
		}
		if _, seen := vals[k]; !seen && w != nil {
			keys = append(keys, k)
		}
		if w == nil {
			vals[k] = nil
		} else {
			vals[k] = *w
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		raw := vals[k]
		if raw == nil {
			continue
		}
		if err := fn(strings.TrimPrefix(k, start), append([]byte(nil), raw...)); err != nil {
			return err
		}
	}
	return nil
}

func (t *etcdTx) NextSequence(bucket string) (uint64, error) {
	if err := t.usable("next sequence", true); err != nil {
		return 0, err
	}
	if err := checkNames("next sequence", bucket, "-"); err != nil {
		return 0, err
	}
	n, err := t.sequence(bucket)
	if err != nil {
		return 0, err
	}
	n++
	return n, t.setSequence(bucket, n)
}

func (t *etcdTx) sequence(bucket string) (uint64, error) {
	raw, err := t.read(t.s.prefix + etcdSeq + bucket)
	if err != nil {
		return 0, fmt.Errorf("sequence %s: %w", bucket, err)
	}
	if raw == nil {
		return 0, nil
	}
	n, err := strconv.ParseUint(string(raw), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("sequence %s: %q: %w", bucket, raw, err)
	}
	return n, nil
}

func (t *etcdTx) setSequence(bucket string, n uint64) error {
	t.write(t.s.prefix+etcdSeq+bucket, []byte(strconv.FormatUint(n, 10)))
	return nil
}

// commit applies the buffered writes if nothing read has changed. It
// reports false on a conflict.
func (t *etcdTx) commit() (bool, error) {
	if len(t.writes) == 0 {
		return true, nil
	}
	cmps := make([]clientv3.Cmp, 0, len(t.reads)+1)
	fence := t.s.fence.Load()
	if fence != nil {
		cmps = append(cmps, *fence)
	}
	for k, mod := range t.reads {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", mod))
	}
	ops := make([]clientv3.Op, 0, len(t.order))
	for _, k := range t.order {
		if w := t.writes[k]; w == nil {
			ops = append(ops, clientv3.OpDelete(k))
		} else {
			ops = append(ops, clientv3.OpPut(k, string(*w)))
		}
	}
	ctx, cancel := context.WithTimeout(t.s.ctx, t.s.timeout)
	defer cancel()
	resp, err := t.s.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		if t.s.ctx.Err() != nil {
			return false, fmt.Errorf("update: %w", ErrClosed)
		}
		return false, etcdErr("update: etcd", err)
	}
	if !resp.Succeeded && fence != nil {
		// Tell a lost race from a lost leadership: only the latter is
		// final.
		ctx, cancel := context.WithTimeout(t.s.ctx, t.s.timeout)
		defer cancel()
		r, err := t.s.cli.Txn(ctx).If(*fence).Commit()
		if err != nil {
			return false, etcdErr("update: etcd", err)
		}
		if !r.Succeeded {
			return false, fmt.Errorf("update: %w", ErrFenced)
		}
	}
	return resp.Succeeded, nil
}

// buckets lists the buckets that hold records or a sequence, for Copy.
func (t *etcdTx) buckets() ([]string, error) {
	seen := map[string]bool{}
	for _, p := range []string{etcdRecord, etcdSeq} {
		start := t.s.prefix + p
		resp, err := t.get(start, clientv3.WithRange(clientv3.GetPrefixRangeEnd(start)), clientv3.WithKeysOnly())
		if err != nil {
			return nil, err
		}
		for _, kv := range resp.Kvs {
			name, _, _ := strings.Cut(strings.TrimPrefix(string(kv.Key), start), "\x00")
			seen[name] = true
		}
	}
	out := make([]string, 0, len(seen))
	for b := range seen {
		out = append(out, b)
	}
	slices.Sort(out)
	return out, nil
}

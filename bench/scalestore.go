package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hedgeorch/hedge/api"
)

// The scale scenario's root on etcd (ADR 015): one etcd member started by
// the bench, `hedge root` replicas on it, and what a failover of the
// leading replica under load costs.

// name is the replica's process name in the logs: its data dir's.
func (r *replica) name() string { return filepath.Base(r.dir) }

// startEtcd starts a one-member etcd (Debian's etcd-server) on loopback
// with its data in dir, and returns it and its client URL once it answers.
func (l *lab) startEtcd(ctx context.Context, dir string) (*server, string, error) {
	bin, err := exec.LookPath("etcd")
	if err != nil {
		return nil, "", fmt.Errorf("-scale-store etcd: no etcd binary (Debian package etcd-server): %w", err)
	}
	client, err := fixedAddr()
	if err != nil {
		return nil, "", err
	}
	peer, err := fixedAddr()
	if err != nil {
		return nil, "", err
	}
	s, err := l.startBin("etcd", bin, nil, "--name", "m0", "--data-dir", dir,
		"--listen-client-urls", "http://"+client, "--advertise-client-urls", "http://"+client,
		"--listen-peer-urls", "http://"+peer, "--initial-advertise-peer-urls", "http://"+peer,
		"--initial-cluster", "m0=http://"+peer, "--initial-cluster-state", "new",
		"--max-txn-ops", "10000", "--log-level", "error")
	if err != nil {
		return nil, "", err
	}
	url := "http://" + client
	hc := &http.Client{Timeout: 2 * time.Second}
	err = poll(ctx, 30*time.Second, 50*time.Millisecond, func() (bool, error) {
		if ok, err := s.exited(); ok {
			return false, fmt.Errorf("etcd exited (%v); its log:\n%s", err, s.tail())
		}
		resp, err := hc.Get(url + "/health")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		return s, "", fmt.Errorf("wait for etcd at %s: %w", url, err)
	}
	return s, url, nil
}

// tlsClient is an HTTP client that trusts the root's CA (the replicas
// share it) and gives up on an answer after timeout.
func (t *scaleTopo) tlsClient(timeout time.Duration) (*http.Client, error) {
	b, err := os.ReadFile(filepath.Join(t.lead.dir, "root", "ca.pem"))
	if err != nil {
		return nil, fmt.Errorf("read the root's CA: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}, Timeout: timeout}, nil
}

// leads reports whether the replica at url answers health itself, as the
// leader does; a standby forwards health to the leader and says so.
func leads(ctx context.Context, hc *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/api/health", nil)
	if err != nil {
		return false
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK && resp.Header.Get("Hedge-Served-By") == ""
}

// findLeader waits until one of the replicas leads, and makes it t.lead.
func (t *scaleTopo) findLeader(ctx context.Context, timeout time.Duration) error {
	if len(t.replicas) == 1 {
		t.lead = t.replicas[0]
		return nil
	}
	hc, err := t.tlsClient(2 * time.Second)
	if err != nil {
		return err
	}
	return poll(ctx, timeout, 50*time.Millisecond, func() (bool, error) {
		for _, r := range t.replicas {
			if leads(ctx, hc, r.url) {
				t.lead = r
				return true, nil
			}
		}
		return false, nil
	})
}

// waitStandbys waits until every replica but the leader answers health,
// forwarding it to the leader.
func (t *scaleTopo) waitStandbys(ctx context.Context) error {
	hc, err := t.tlsClient(2 * time.Second)
	if err != nil {
		return err
	}
	for _, r := range t.replicas {
		if r == t.lead {
			continue
		}
		err := poll(ctx, 30*time.Second, 50*time.Millisecond, func() (bool, error) {
			if ok, err := r.srv.exited(); ok {
				return false, fmt.Errorf("%s exited (%v); its log:\n%s", r.name(), err, r.srv.tail())
			}
			resp, err := hc.Get(r.url + "/api/health")
			if err != nil {
				return false, nil
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK && resp.Header.Get("Hedge-Served-By") != "", nil
		})
		if err != nil {
			return fmt.Errorf("wait for %s to stand by: %w", r.name(), err)
		}
	}
	return nil
}

// failoverRun is the measurement of one failover: the leading replica
// killed, and how long until another leads and takes writes.
type failoverRun struct {
	killed time.Time
	leads  time.Duration // until a replica answers as the leader
	writes time.Duration // until a write through the API succeeds
	done   chan struct{}
	err    error
}

// killLeader kills the leading replica (SIGKILL, as a machine lost) and
// measures, in the background, how long the others take to lead and to
// take a write. t.lead stays the killed replica until wait returns and
// findLeader is called; t.replicas loses it at once.
func (t *scaleTopo) killLeader(ctx context.Context, l *lab, timeout time.Duration) *failoverRun {
	dead := t.lead
	f := &failoverRun{done: make(chan struct{})}
	hc, err := t.tlsClient(2 * time.Second)
	dead.srv.kill()
	f.killed = time.Now()
	t.replicas = slices.DeleteFunc(t.replicas, func(r *replica) bool { return r == dead })
	t.lead = t.replicas[0] // provisionally, for processes(); findLeader settles it
	l.log.Info("failover: killed the leading root", "replica", dead.name())
	others := slices.Clone(t.replicas)
	go func() {
		defer close(f.done)
		if err != nil {
			f.err = err
			return
		}
		probe := "failover-" + randomHex(4)
		f.err = poll(ctx, timeout, 20*time.Millisecond, func() (bool, error) {
			if f.leads == 0 {
				for _, r := range others {
					if leads(ctx, hc, r.url) {
						f.leads = time.Since(f.killed)
					}
				}
			}
			if f.writes == 0 {
				wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				_, err := t.client.CreateUser(wctx, probe, "probe-password-"+randomHex(4), "Application_Provider")
				cancel()
				// A conflict: an earlier try was applied, its answer lost.
				if err == nil || errors.Is(err, api.ErrConflict) {
					f.writes = time.Since(f.killed)
				}
			}
			return f.leads > 0 && f.writes > 0, nil
		})
		if f.err != nil {
			f.err = fmt.Errorf("failover: wait for another replica to lead and take a write: %w", f.err)
		}
	}()
	return f
}

func (f *failoverRun) wait() error {
	<-f.done
	return f.err
}

// figures are the failover's, up to every instance RUNNING at allRunning.
func (f *failoverRun) figures(allRunning time.Time, n, retried, found int) []figure {
	return []figure{
		{Name: "failover: leading root killed -> another leads", Value: f.leads.Seconds(), Unit: "s"},
		{Name: "failover: leading root killed -> a write through the API succeeds", Value: f.writes.Seconds(), Unit: "s"},
		{Name: fmt.Sprintf("failover: leading root killed -> all %d RUNNING", n), Value: allRunning.Sub(f.killed).Seconds(), Unit: "s"},
		{Name: "failover: SLAs whose POST failed, retried", Value: float64(retried), Unit: "SLAs"},
		{Name: "failover: of those, found accepted before a retry", Value: float64(found), Unit: "SLAs"},
	}
}

// slaSpec is one SLA of the scale scenario: an application of one service
// with n instances.
type slaSpec struct {
	name string
	n    int
}

// submitOnce submits the SLA body of the application name and returns the
// services the root acknowledged. With sc.failover, a POST that fails is
// tried again (the leader may be changing) until sc.timeout, but never
// twice for one application: before each retry it looks whether an
// earlier try was accepted after all (found). tries counts the POSTs.
func (t *scaleTopo) submitOnce(ctx context.Context, body []byte, name string, sc scaleConfig) (svcs []api.Service, tries int, found bool, err error) {
	deadline := time.Now().Add(sc.timeout)
	for {
		tries++
		res, err := t.client.SubmitSLA(ctx, body, "application/json")
		if err == nil {
			return res.Services, tries, false, nil
		}
		if !sc.failover || errors.Is(err, api.ErrInvalid) || time.Now().After(deadline) || ctx.Err() != nil {
			return nil, tries, false, err
		}
		for {
			if err := sleep(ctx, 200*time.Millisecond); err != nil {
				return nil, tries, false, err
			}
			all, lerr := t.client.ListServices(ctx)
			if lerr == nil {
				for _, s := range all {
					if s.AppName == name {
						svcs = append(svcs, s)
					}
				}
				if len(svcs) > 0 {
					return svcs, tries, true, nil
				}
				break
			}
			if time.Now().After(deadline) {
				return nil, tries, false, fmt.Errorf("%w; then list services: %w", err, lerr)
			}
		}
	}
}

// verify checks that the root holds, for every SLA, exactly one service
// with exactly its instances (distinct numbers), and every service it
// acknowledged. It returns how many SLAs are not so, and why.
func (t *scaleTopo) verify(ctx context.Context, slas []slaSpec, acked map[string]time.Time) (int, error) {
	all, err := t.client.ListServices(ctx)
	if err != nil {
		return 0, fmt.Errorf("verify: list services: %w", err)
	}
	return checkServices(slas, acked, all)
}

// checkServices is verify on the services all the root listed.
func checkServices(slas []slaSpec, acked map[string]time.Time, all []api.Service) (int, error) {
	byApp := map[string][]api.Service{}
	ids := map[string]bool{}
	for _, s := range all {
		byApp[s.AppName] = append(byApp[s.AppName], s)
		ids[s.ID] = true
	}
	var errs []error
	for id := range acked {
		if !ids[id] {
			errs = append(errs, fmt.Errorf("service %s was acknowledged and is gone", id))
		}
	}
	wrong := len(errs)
	for _, sla := range slas {
		svcs := byApp[sla.name]
		if len(svcs) != 1 {
			wrong++
			errs = append(errs, fmt.Errorf("%s: %d services, want 1", sla.name, len(svcs)))
			continue
		}
		nums := map[int]bool{}
		for _, in := range svcs[0].Instances {
			nums[in.Number] = true
		}
		if len(svcs[0].Instances) != sla.n || len(nums) != sla.n {
			wrong++
			errs = append(errs, fmt.Errorf("%s: %d instances (%d distinct numbers), want %d", sla.name, len(svcs[0].Instances), len(nums), sla.n))
		}
	}
	if len(errs) > 10 {
		errs = append(errs[:10], fmt.Errorf("and %d more", len(errs)-10))
	}
	if wrong > 0 {
		return wrong, fmt.Errorf("verify: %d SLAs lost, short or doubled: %w", wrong, errors.Join(errs...))
	}
	return 0, nil
}

// etcdStats are counters and gauges from etcd's /metrics.
type etcdStats struct {
	ok        bool // read from an etcd; zero on bbolt
	revision  float64
	puts      float64
	putBytes  float64
	proposals float64
	dbBytes   float64
	dbInUse   float64
}

// etcdCounters reads etcd's metrics; on bbolt it returns zero stats.
func (t *scaleTopo) etcdCounters(ctx context.Context) (etcdStats, error) {
	if t.etcd == nil {
		return etcdStats{}, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.etcdURL+"/metrics", nil)
	if err != nil {
		return etcdStats{}, err
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return etcdStats{}, fmt.Errorf("scrape etcd's metrics: %w", err)
	}
	defer resp.Body.Close()
	return parseEtcdMetrics(resp.Body)
}

// parseEtcdMetrics reads the figures of etcdStats from etcd's metrics in
// Prometheus' text format.
func parseEtcdMetrics(r io.Reader) (etcdStats, error) {
	var err error
	want := map[string]*float64{}
	var st etcdStats
	want["etcd_debugging_mvcc_current_revision"] = &st.revision
	want["etcd_mvcc_put_total"] = &st.puts
	want["etcd_debugging_mvcc_total_put_size_in_bytes"] = &st.putBytes
	want["etcd_server_proposals_committed_total"] = &st.proposals
	want["etcd_mvcc_db_total_size_in_bytes"] = &st.dbBytes
	want["etcd_mvcc_db_total_size_in_use_in_bytes"] = &st.dbInUse
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		p := want[name]
		if !ok || p == nil {
			continue
		}
		if *p, err = strconv.ParseFloat(strings.TrimSpace(val), 64); err != nil {
			return etcdStats{}, fmt.Errorf("etcd metrics: %q: %w", sc.Text(), err)
		}
		delete(want, name)
	}
	if err := sc.Err(); err != nil {
		return etcdStats{}, fmt.Errorf("read etcd's metrics: %w", err)
	}
	if len(want) > 0 {
		return etcdStats{}, fmt.Errorf("etcd metrics: %d of the metrics read are missing (an etcd older than 3.4?)", len(want))
	}
	st.ok = true
	return st, nil
}

// rates are what etcd applied between before and s, secs apart: write
// transactions (revisions), keys and bytes put, raft proposals, and the
// size of its database at the end.
func (s etcdStats) rates(before etcdStats, secs float64, label string) []figure {
	if !s.ok || !before.ok || secs <= 0 {
		return nil
	}
	return []figure{
		{Name: "etcd writes (revisions) " + label, Value: (s.revision - before.revision) / secs, Unit: "/s"},
		{Name: "etcd keys put " + label, Value: (s.puts - before.puts) / secs, Unit: "/s"},
		{Name: "etcd bytes put " + label, Value: (s.putBytes - before.putBytes) / secs / 1024, Unit: "KB/s"},
		{Name: "etcd raft proposals " + label, Value: (s.proposals - before.proposals) / secs, Unit: "/s"},
		{Name: "etcd db size " + label, Value: s.dbBytes / (1 << 20), Unit: "MB"},
		{Name: "etcd db in use " + label, Value: s.dbInUse / (1 << 20), Unit: "MB"},
	}
}

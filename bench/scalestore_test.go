package main

import (
	"strings"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
)

func TestCheckServices(t *testing.T) {
	slas := []slaSpec{{name: "scale0", n: 2}, {name: "scale1", n: 1}}
	svc := func(id, app string, nums ...int) api.Service {
		s := api.Service{ID: id, AppName: app}
		for _, n := range nums {
			s.Instances = append(s.Instances, api.Instance{ID: id + "-" + string(rune('0'+n)), Number: n})
		}
		return s
	}
	acked := map[string]time.Time{"s0": {}, "s1": {}}
	tests := []struct {
		name      string
		all       []api.Service
		wantWrong int
		wantErr   string
	}{
		{name: "as submitted", all: []api.Service{svc("s0", "scale0", 0, 1), svc("s1", "scale1", 0)}},
		{name: "an acknowledged service lost", all: []api.Service{svc("s0", "scale0", 0, 1)}, wantWrong: 2, wantErr: "s1 was acknowledged and is gone"},
		{name: "an application submitted twice", all: []api.Service{svc("s0", "scale0", 0, 1), svc("s1", "scale1", 0), svc("s2", "scale1", 0)},
			wantWrong: 1, wantErr: "scale1: 2 services, want 1"},
		{name: "an instance short", all: []api.Service{svc("s0", "scale0", 0), svc("s1", "scale1", 0)}, wantWrong: 1, wantErr: "scale0: 1 instances"},
		{name: "an instance doubled", all: []api.Service{svc("s0", "scale0", 0, 1, 1), svc("s1", "scale1", 0)}, wantWrong: 1, wantErr: "scale0: 3 instances (2 distinct numbers)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wrong, err := checkServices(slas, acked, tt.all)
			if wrong != tt.wantWrong {
				t.Errorf("wrong = %d, want %d (err %v)", wrong, tt.wantWrong, err)
			}
			if tt.wantErr == "" && err != nil {
				t.Errorf("err = %v, want none", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("err = %v, want it to say %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseEtcdMetrics(t *testing.T) {
	const text = `# HELP etcd_mvcc_put_total Total number of puts seen by this member.
# TYPE etcd_mvcc_put_total counter
etcd_debugging_mvcc_current_revision 1234
etcd_debugging_mvcc_total_put_size_in_bytes 2.5e+06
etcd_mvcc_db_total_size_in_bytes 4.194304e+06
etcd_mvcc_db_total_size_in_use_in_bytes 2.097152e+06
etcd_mvcc_put_total 5000
etcd_mvcc_put_total_other 1
etcd_server_proposals_committed_total 1300
`
	st, err := parseEtcdMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	want := etcdStats{ok: true, revision: 1234, puts: 5000, putBytes: 2.5e6, proposals: 1300, dbBytes: 4 << 20, dbInUse: 2 << 20}
	if st != want {
		t.Fatalf("parsed %+v, want %+v", st, want)
	}
	// Over 10 s, from 1,000 puts less.
	rates := st.rates(etcdStats{ok: true, revision: 1234, puts: 4000, putBytes: 2.5e6 - 10240, proposals: 1300, dbBytes: 1}, 10, "idle")
	got := map[string]float64{}
	for _, f := range rates {
		got[f.Name] = f.Value
	}
	if got["etcd keys put idle"] != 100 || got["etcd bytes put idle"] != 1 || got["etcd db size idle"] != 4 {
		t.Fatalf("rates = %v", got)
	}

	if _, err := parseEtcdMetrics(strings.NewReader("etcd_mvcc_put_total 1\n")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("metrics with most missing: err = %v, want one saying so", err)
	}
}

func TestValidateScale(t *testing.T) {
	base := func() config {
		return config{latencyN: 1, instances: 1, window: time.Second, pollPeriod: time.Millisecond, placementTime: time.Second,
			scale: scaleConfig{clusters: 1, workers: 1, instances: 1, batch: 1, submitters: 1, heartbeat: time.Second,
				nodeTimeout: 5 * time.Second, store: "bolt", replicas: 1, leaseTTL: 5 * time.Second}}
	}
	tests := []struct {
		name    string
		change  func(*scaleConfig)
		wantErr string // a flag the message names; "" for valid
	}{
		{name: "defaults", change: func(*scaleConfig) {}},
		{name: "a kubelet-like heartbeat", change: func(s *scaleConfig) { s.heartbeat, s.nodeTimeout = 10*time.Second, 30*time.Second }},
		{name: "heartbeat at the node timeout", change: func(s *scaleConfig) { s.heartbeat = 5 * time.Second }, wantErr: "-scale-heartbeat"},
		{name: "no node timeout", change: func(s *scaleConfig) { s.nodeTimeout = 0 }, wantErr: "-scale-node-timeout"},
		{name: "replicas on etcd with a failover", change: func(s *scaleConfig) { s.store, s.replicas, s.failover = "etcd", 2, true }},
		{name: "unknown store", change: func(s *scaleConfig) { s.store = "consul" }, wantErr: "-scale-store"},
		{name: "replicas on bolt", change: func(s *scaleConfig) { s.replicas = 2 }, wantErr: "-scale-replicas"},
		{name: "failover with one replica", change: func(s *scaleConfig) { s.store, s.failover = "etcd", true }, wantErr: "-scale-failover"},
		{name: "a lease under a second", change: func(s *scaleConfig) { s.store, s.leaseTTL = "etcd", 500*time.Millisecond }, wantErr: "-scale-lease-ttl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.change(&c.scale)
			err := c.validate("scale")
			if tt.wantErr == "" && err != nil {
				t.Fatalf("validate: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)) {
				t.Fatalf("validate: %v, want an error naming %s", err, tt.wantErr)
			}
		})
	}
}

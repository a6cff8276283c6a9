package link

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/api"
)

// bigAssignments returns n items of three services, the first in a rolling
// update (half its items at generation 1 with one spec, half at generation 2
// with another), some with limits, and orders for one node.
func bigAssignments(n int) *Assignments {
	spec := func(name, image string, mem int64) api.ServiceSpec {
		return api.ServiceSpec{
			Name: name, Namespace: "test", Virtualization: api.VirtContainer, Code: image,
			Cmd: []string{"/bin/serve"}, Args: []string{"--port", "8080"}, Environment: []string{"MODE=prod", "LOG=info"},
			MemoryMB: mem, VCPUs: 0.25, Port: "8080", Arch: []string{"amd64", "arm64"},
			NodeSelector: map[string]string{"zone": "a"}, RestartPolicy: api.RestartAlways, Priority: 3,
			Constraints: []api.Constraint{{Type: "direct", Cluster: "c1"}},
		}
	}
	webV1, webV2 := spec("web", "docker.io/library/web:1", 128), spec("web", "docker.io/library/web:2", 256)
	db, cache := spec("db", "docker.io/library/postgres:16", 1024), spec("cache", "docker.io/library/redis:7", 64)
	a := &Assignments{Revision: 1764996000000000001, Items: make([]Assignment, n), Nodes: map[string]NodeControl{"n1": {Cordoned: true}}}
	for i := range a.Items {
		it := Assignment{InstanceID: fmt.Sprintf("i-%07d", i), Number: i}
		switch i % 4 {
		case 0:
			it.ServiceID, it.AppName, it.Generation, it.Spec = "svc-web", "shop", 1, webV1
		case 1:
			it.ServiceID, it.AppName, it.Generation, it.Spec = "svc-web", "shop", 2, webV2
		case 2:
			it.ServiceID, it.AppName, it.Generation, it.Spec = "svc-db", "shop", 1, db
			if i%10 == 2 {
				it.Limit = &api.Resources{VCPUs: 0.1, MemoryMB: 512}
			}
		default:
			it.ServiceID, it.AppName, it.Generation, it.Spec = "svc-cache", "shop", 4, cache
		}
		a.Items[i] = it
	}
	return a
}

// TestAssignmentsRoundTripWithEachSpecOnce: 100,000 items of three services
// encode to a small fraction of the plain form, and decode to what was
// encoded, both forms, two generations of one service included.
func TestAssignmentsRoundTripWithEachSpecOnce(t *testing.T) {
	a := bigAssignments(100_000)
	shared, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := json.Marshal((*plainAssignments)(a))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("100,000 assignments: %d bytes with each spec once, %d bytes plain (%.1f %%)", len(shared), len(plain), 100*float64(len(shared))/float64(len(plain)))
	if len(shared)*4 > len(plain) {
		t.Errorf("with each spec once: %d bytes, plain: %d; want under a quarter", len(shared), len(plain))
	}
	if n := strings.Count(string(shared), `"microservice_name"`); n != 4 {
		t.Errorf("%d specs on the wire, want 4 (three services, one in two generations)", n)
	}
	var got Assignments
	if err := json.Unmarshal(shared, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&got, a) {
		t.Error("assignments with each spec once do not round-trip")
	}
}

func TestAssignmentsRoundTripSmall(t *testing.T) {
	other := bigAssignments(2).Items[1]
	other.Spec.Environment = []string{"MODE=canary"} // same service and generation, another spec
	tests := []struct {
		name string
		a    Assignments
	}{
		{name: "no items", a: Assignments{Revision: 3}},
		{name: "empty items", a: Assignments{Revision: 3, Items: []Assignment{}}},
		{name: "one service, two specs at one generation", a: Assignments{Revision: 4, Items: []Assignment{bigAssignments(2).Items[1], other}}},
		{name: "zero spec", a: Assignments{Revision: 5, Items: []Assignment{{InstanceID: "x", ServiceID: "s"}}}},
		{name: "three services", a: *bigAssignments(40)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The plain form is what upper tiers from before shared specs send.
			for form, v := range map[string]any{"shared": tt.a, "plain": (*plainAssignments)(&tt.a)} {
				b, err := json.Marshal(v)
				if err != nil {
					t.Fatal(err)
				}
				var got Assignments
				if err := json.Unmarshal(b, &got); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, tt.a) {
					t.Errorf("%s form: got %+v, want %+v", form, got, tt.a)
				}
			}
		})
	}
}

func TestAssignmentsRefuseABadServiceIndex(t *testing.T) {
	var a Assignments
	err := json.Unmarshal([]byte(`{"revision":1,"services":[],"items":[{"instance_id":"x","number":0,"service":0}]}`), &a)
	if err == nil || !strings.Contains(err.Error(), "items[0].service") {
		t.Errorf("decode of an item naming no service: %v, want an error naming items[0].service", err)
	}
}

// bigUpper publishes a large desired set.
type bigUpper struct {
	fuzzUpper
	a *Assignments
}

func (u bigUpper) Assignments(string) (*Assignments, <-chan struct{}) {
	return u.a, make(chan struct{})
}

// TestAssignmentsOverTheLink: a peer gets the desired set whole over the
// real server; a peer that does not ask for shared specs (from before them)
// gets every item with its spec, as it always did.
func TestAssignmentsOverTheLink(t *testing.T) {
	a := bigAssignments(10_000)
	hs := httptest.NewServer(NewServer(bigUpper{fuzzUpper{t}, a}, discard()).Handler())
	defer hs.Close()
	got, err := NewClient(hs.URL, "p.secret", nil).Assignments(context.Background(), 0, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, a) {
		t.Error("the desired set does not reach the peer as published")
	}

	req, _ := http.NewRequest(http.MethodGet, hs.URL+"/link/v1/assignments?rev=0", nil)
	req.Header.Set("Authorization", "Bearer p.secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var old struct {
		Items []Assignment `json:"items"`
	}
	if err := json.Unmarshal(raw, &old); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(old.Items, a.Items) {
		t.Error("a peer that does not ask for shared specs does not get every item with its spec")
	}
}

// BenchmarkAssignments encodes and decodes 100,000 assignments of three
// services, plain and with each spec once.
func BenchmarkAssignments(b *testing.B) {
	a := bigAssignments(100_000)
	for _, form := range []struct {
		name string
		v    any
	}{{"plain", (*plainAssignments)(a)}, {"shared", a}} {
		b.Run(form.name, func(b *testing.B) {
			for b.Loop() {
				raw, err := json.Marshal(form.v)
				if err != nil {
					b.Fatal(err)
				}
				var got Assignments
				if err := json.Unmarshal(raw, &got); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(len(raw)), "bytes/msg")
			}
		})
	}
}

// BenchmarkReport encodes and decodes what a peer with 100,000 instances
// sends: the whole report, and a delta of 10 changes.
func BenchmarkReport(b *testing.B) {
	all := newSetPeer(100_000).want()
	cur := append([]InstanceStatus(nil), all...)
	for i := range 10 {
		cur[i*9_000].Restarts++
	}
	changed, removed := diff(all, cur)
	for _, form := range []struct {
		name string
		rep  Report
	}{{"full", Report{Node: &NodeReport{Name: "w1"}, Instances: cur}}, {"delta", Report{Node: &NodeReport{Name: "w1"}, Base: Digest(all), Instances: changed, Removed: removed}}} {
		b.Run(form.name, func(b *testing.B) {
			for b.Loop() {
				raw, err := json.Marshal(form.rep)
				if err != nil {
					b.Fatal(err)
				}
				var got Report
				if err := json.Unmarshal(raw, &got); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(len(raw)), "bytes/msg")
			}
		})
	}
}

package topology

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

func TestExamplePaths(t *testing.T) {
	topo := exampleTopology(t)
	tests := []struct {
		name, from, to string
		links          []string
		latency        float64
	}{
		// 003->001: link1 directly (100 ms) beats link3+link2 (10+100 ms).
		{"povo to cloud direct", "003-003", "001-001", []string{"link1"}, 100},
		{"cloud to povo is the reverse", "001-001", "003-003", []string{"link1"}, 100},
		{"povo to trento", "003-003", "002-002", []string{"link3"}, 10},
		{"trento to cloud", "002-002", "001-001", []string{"link2"}, 100},
		{"within a region", "002-002", "002-002", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ok := topo.Path(tt.from, tt.to)
			if !ok {
				t.Fatal("no path")
			}
			if !reflect.DeepEqual(p.Links, tt.links) || p.Latency != tt.latency || p.Hops() != len(tt.links) {
				t.Fatalf("path = %+v, want links %v latency %v", p, tt.links, tt.latency)
			}
		})
	}
	if free, ok := topo.FreeBandwidth("link3"); !ok || free != 100_000_000 {
		t.Fatalf("free bandwidth of link3 = %d, %v", free, ok)
	}
	if got := len(topo.NodesIn("001-001")); got != 2 {
		t.Fatalf("nodes in cloud = %d, want 2", got)
	}
}

// chain builds regions a..e and the given links "id:a-b:latency[:status]".
func chain(t *testing.T, links ...string) *Topology {
	t.Helper()
	var objs []Object
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		objs = append(objs, &Region{ID: id})
	}
	for _, spec := range links {
		var id, ends, status string
		var lat float64
		parts := strings.Split(spec, ":")
		id, ends = parts[0], parts[1]
		fmt.Sscan(parts[2], &lat)
		status = LinkUp
		if len(parts) > 3 {
			status = parts[3]
		}
		a, b, _ := strings.Cut(ends, "-")
		objs = append(objs, &Link{ID: id, EndpointA: a, EndpointB: b, Bandwidth: 1000, Latency: lat, Status: status})
	}
	topo, err := Build(objs)
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

func TestPathChoice(t *testing.T) {
	tests := []struct {
		name     string
		links    []string
		from, to string
		want     []string // nil with ok false: unreachable
		ok       bool
	}{
		{"multi hop adds latency", []string{"l1:a-b:5", "l2:b-c:5", "l3:a-c:11"}, "a", "c", []string{"l1", "l2"}, true},
		{"direct when cheaper", []string{"l1:a-b:5", "l2:b-c:5", "l3:a-c:9"}, "a", "c", []string{"l3"}, true},
		{"equal latency prefers fewer hops", []string{"l1:a-b:5", "l2:b-c:5", "l3:a-c:10"}, "a", "c", []string{"l3"}, true},
		{"equal latency and hops prefers smaller link ids", []string{"x1:a-b:5", "x2:b-c:5", "y1:a-d:5", "y2:d-c:5"}, "a", "c", []string{"x1", "x2"}, true},
		{"parallel links take the smaller id", []string{"l2:a-b:5", "l1:a-b:5"}, "a", "b", []string{"l1"}, true},
		{"fractional latencies add exactly", []string{"l1:a-b:0.1", "l2:b-c:0.2", "l3:a-c:0.3"}, "a", "c", []string{"l3"}, true},
		{"down links carry nothing", []string{"l1:a-b:5:down", "l2:a-c:5", "l3:c-b:5"}, "a", "b", []string{"l2", "l3"}, true},
		{"unreachable", []string{"l1:a-b:5"}, "a", "e", nil, false},
		{"long chain", []string{"l1:a-b:1", "l2:b-c:1", "l3:c-d:1", "l4:d-e:1"}, "e", "a", []string{"l4", "l3", "l2", "l1"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topo := chain(t, tt.links...)
			p, ok := topo.Path(tt.from, tt.to)
			if ok != tt.ok || !reflect.DeepEqual(p.Links, tt.want) {
				t.Fatalf("path = %v, %v; want %v, %v", p.Links, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	r := &Region{ID: "r"}
	tests := []struct {
		name string
		objs []Object
		want string
	}{
		{"link to unknown region", []Object{r, &Link{ID: "l", EndpointA: "r", EndpointB: "x"}}, `link l: endpoint "x" names no region`},
		{"endpoint in unknown region", []Object{r, &ExternalEndpoint{ID: "cam", RegionID: "x"}}, `external endpoint cam: regionid "x" names no region`},
		{"node in unknown region", []Object{r, &Node{Name: "n", Region: "x"}}, `node n: label region="x" names no region`},
		{"duplicate region", []Object{r, &Region{ID: "r"}}, `duplicate Region "r"`},
		{"duplicate node", []Object{r, &Node{Name: "n", Region: "r"}, &Node{Name: "n", Region: "r"}}, `duplicate Node "n"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(tt.objs)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want ErrInvalid containing %q", err, tt.want)
			}
		})
	}
}

// TestPathProperty checks on random graphs that every path is a real chain
// of up links from From to To, that its latency is their sum, and that it is
// as short as the Floyd-Warshall distance.
func TestPathProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 7).Draw(t, "regions")
		var objs []Object
		for i := range n {
			objs = append(objs, &Region{ID: fmt.Sprintf("r%d", i)})
		}
		nl := rapid.IntRange(0, 12).Draw(t, "links")
		const inf = int64(1) << 60
		dist := make([][]int64, n)
		for i := range dist {
			dist[i] = make([]int64, n)
			for j := range dist[i] {
				if i != j {
					dist[i][j] = inf
				}
			}
		}
		for i := range nl {
			a := rapid.IntRange(0, n-1).Draw(t, "a")
			b := rapid.IntRange(0, n-1).Draw(t, "b")
			if a == b {
				continue
			}
			lat := float64(rapid.IntRange(0, 50).Draw(t, "latency")) / 10
			up := rapid.IntRange(0, 5).Draw(t, "up") > 0
			l := &Link{ID: fmt.Sprintf("l%02d", i), EndpointA: fmt.Sprintf("r%d", a), EndpointB: fmt.Sprintf("r%d", b), Bandwidth: 1, Latency: lat, Status: "up"}
			if !up {
				l.Status = "down"
			} else if us := Micros(lat); us < dist[a][b] {
				dist[a][b], dist[b][a] = us, us
			}
			objs = append(objs, l)
		}
		for k := range n {
			for i := range n {
				for j := range n {
					if dist[i][k]+dist[k][j] < dist[i][j] {
						dist[i][j] = dist[i][k] + dist[k][j]
					}
				}
			}
		}
		topo, err := Build(objs)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			for j := range n {
				from, to := fmt.Sprintf("r%d", i), fmt.Sprintf("r%d", j)
				p, ok := topo.Path(from, to)
				if ok != (dist[i][j] < inf) {
					t.Fatalf("%s->%s reachable = %v, want %v", from, to, ok, dist[i][j] < inf)
				}
				if !ok {
					continue
				}
				if p.LatencyMicros != dist[i][j] {
					t.Fatalf("%s->%s latency %d µs, want %d", from, to, p.LatencyMicros, dist[i][j])
				}
				at, sum := from, int64(0)
				for _, id := range p.Links {
					l, _ := topo.Link(id)
					if !l.Up() || (l.EndpointA != at && l.EndpointB != at) {
						t.Fatalf("%s->%s: link %s does not continue from %s", from, to, id, at)
					}
					at = l.Other(at)
					sum += Micros(l.Latency)
				}
				if at != to || sum != p.LatencyMicros {
					t.Fatalf("%s->%s: path %v ends at %s with %d µs", from, to, p.Links, at, sum)
				}
			}
		}
	})
}

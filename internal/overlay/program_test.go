package overlay

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hedgeorch/hedge/internal/errdefs"
	"github.com/hedgeorch/hedge/internal/netmap"
)

func unitMap() *netmap.Map {
	return &netmap.Map{
		Self: netmap.Self{ID: "a", Subnet: "10.18.1.0/24"},
		Workers: []netmap.Worker{
			{ID: "a", Cluster: "c1", Subnet: "10.18.1.0/24", Endpoint: "192.0.2.1:4789"},
			{ID: "b", Cluster: "c1", Subnet: "10.18.2.0/24", Endpoint: "192.0.2.2:4789"},
			{ID: "c", Cluster: "c2", Subnet: "10.18.17.0/24", Endpoint: "192.0.2.3:4800"},
			{ID: "d", Cluster: "c2", Subnet: "10.18.18.0/24", Endpoint: "192.0.2.4:4789"},
		},
	}
}

func noRTT(string) (time.Duration, bool) { return 0, false }

func TestUnitClosestOrder(t *testing.T) {
	rtts := map[string]time.Duration{"b": 9 * time.Millisecond, "c": 5 * time.Millisecond, "d": 2 * time.Millisecond}
	rtt := func(w string) (time.Duration, bool) { d, ok := rtts[w]; return d, ok }
	be := map[string]netmap.Backend{
		"a": {InstanceID: "ia", IP: "10.18.1.5", Worker: "a"},
		"b": {InstanceID: "ib", IP: "10.18.2.5", Worker: "b"},
		"c": {InstanceID: "ic", IP: "10.18.17.5", Worker: "c"},
		"d": {InstanceID: "id", IP: "10.18.18.5", Worker: "d"},
	}
	cases := []struct {
		name string
		on   []string
		want string
	}{
		{"own worker beats every round trip", []string{"d", "c", "b", "a"}, "10.18.1.5"},
		{"same cluster beats a shorter round trip elsewhere", []string{"d", "c", "b"}, "10.18.2.5"},
		{"other clusters by round trip", []string{"c", "d"}, "10.18.18.5"},
		{"none", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := unitMap()
			s := netmap.Service{ID: "s", Name: "s", App: "a", Namespace: "n", RRIP: "10.30.0.1", ClosestIP: "10.30.0.2"}
			for _, w := range tc.on {
				s.Instances = append(s.Instances, be[w])
			}
			m.Services = []netmap.Service{s}
			p, err := compile(m, rtt, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := p.closestTarget(netip.MustParseAddr("10.30.0.2"))
			if (tc.want == "" && got.IsValid()) || (tc.want != "" && got.String() != tc.want) {
				t.Fatalf("closest = %v, want %q", got, tc.want)
			}
		})
	}
}

func TestUnitClosestIsSticky(t *testing.T) {
	m := unitMap()
	m.Services = []netmap.Service{{ID: "s", Name: "s", App: "a", Namespace: "n", RRIP: "10.30.0.1", ClosestIP: "10.30.0.2",
		Instances: []netmap.Backend{{IP: "10.18.17.5", Worker: "c"}, {IP: "10.18.18.5", Worker: "d"}}}}
	rtts := map[string]time.Duration{"c": 1 * time.Millisecond, "d": 2 * time.Millisecond}
	rtt := func(w string) (time.Duration, bool) { d, ok := rtts[w]; return d, ok }
	first, err := compile(m, rtt, nil)
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("10.30.0.2")
	if got := first.closestTarget(ip).String(); got != "10.18.17.5" {
		t.Fatalf("first choice %s, want c's", got)
	}
	rtts["d"] = 900 * time.Microsecond // a little better: stay
	again, _ := compile(m, rtt, first)
	if got := again.closestTarget(ip).String(); got != "10.18.17.5" {
		t.Fatalf("moved to %s on noise, want to stay on c's", got)
	}
	if again.digest() != first.digest() {
		t.Fatal("the program changed on noise")
	}
	rtts["d"] = 300 * time.Microsecond // clearly better: move
	moved, _ := compile(m, rtt, again)
	if got := moved.closestTarget(ip).String(); got != "10.18.18.5" {
		t.Fatalf("stayed on %s, want d's", got)
	}
}

func TestUnitCompile(t *testing.T) {
	m := unitMap()
	m.Services = []netmap.Service{
		{ID: "s", Name: "web", App: "shop", Namespace: "prod", RRIP: "10.30.0.1", ClosestIP: "10.30.0.2",
			Instances: []netmap.Backend{{IP: "10.18.2.9", Worker: "b"}, {IP: "10.18.1.9", Worker: "a"}}},
		{ID: "t", Name: "cli", App: "shop", Namespace: "dev", RRIP: "10.30.0.3", ClosestIP: "10.30.0.4",
			Instances: []netmap.Backend{{IP: "10.18.17.9", Worker: "c"}}},
	}
	m.Isolated = []netmap.Isolation{{Namespace: "prod"}}
	p, err := compile(m, noRTT, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Peers) != 3 || p.Peers[1].Endpoint.Port() != 4800 {
		t.Fatalf("peers %+v: want b, c (port 4800), d", p.Peers)
	}
	if p.Gateway.String() != "10.18.1.1" {
		t.Fatalf("gateway %s", p.Gateway)
	}
	rr := p.Services[0]
	if rr.IP.String() != "10.30.0.1" || len(rr.Targets) != 2 || rr.Targets[0].String() != "10.18.1.9" {
		t.Fatalf("round robin %+v: want both backends, sorted", rr)
	}
	if ip := p.Names["web.shop.prod.hedge."]; ip.String() != "10.30.0.1" {
		t.Fatalf("name: %v", p.Names)
	}
	if ip := p.Names["closest.web.shop.prod.hedge."]; ip.String() != "10.30.0.2" {
		t.Fatalf("closest name: %v", p.Names)
	}
	if len(p.Isolation) != 1 || len(p.Isolation[0].Dst) != 2 || len(p.Isolation[0].Src) != 1 || p.Isolation[0].Src[0].String() != "10.18.17.9" {
		t.Fatalf("isolation %+v: want prod's two closed to dev's one", p.Isolation)
	}
	same, _ := compile(m, noRTT, p)
	m.Revision++
	if same.digest() != p.digest() {
		t.Fatal("the same map compiled to another program")
	}
}

func TestUnitCompileRefusesBadInput(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(*netmap.Map)
		field string
	}{
		{"subnet not a CIDR", func(m *netmap.Map) { m.Self.Subnet = "10.18.1.0" }, "self.subnet"},
		{"subnet too small", func(m *netmap.Map) { m.Self.Subnet = "10.18.1.0/31" }, "self.subnet"},
		{"service range", func(m *netmap.Map) { m.ServiceCIDR = "fd00::/64" }, "service_cidr"},
		{"peer overlaps", func(m *netmap.Map) { m.Workers[1].Subnet = "10.18.1.128/25" }, "workers[b].subnet"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := unitMap()
			tc.edit(m)
			_, err := compile(m, noRTT, nil)
			if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %v: want ErrInvalid naming %s", err, tc.field)
			}
		})
	}
}

func TestUnitAddressesSurviveRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "addresses.json")
	a, err := loadIPAM(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.get("x"); err == nil {
		t.Fatal("an address without a subnet")
	}
	if _, err := a.setSubnet(netip.MustParsePrefix("10.18.1.0/29")); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, id := range []string{"i1", "i2", "i3", "i4", "i5"} {
		ip, err := a.get(id)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ip.String())
	}
	if strings.Join(got, " ") != "10.18.1.2 10.18.1.3 10.18.1.4 10.18.1.5 10.18.1.6" {
		t.Fatalf("addresses %v: want .2 to .6 (.0 tunnel, .1 gateway, .7 broadcast)", got)
	}
	if _, err := a.get("i6"); err == nil {
		t.Fatal("a sixth address in a /29")
	}
	if err := a.release("i2"); err != nil {
		t.Fatal(err)
	}
	b, err := loadIPAM(path)
	if err != nil {
		t.Fatal(err)
	}
	if ip, _ := b.get("i4"); ip.String() != "10.18.1.5" {
		t.Fatalf("after a restart i4 has %s, want 10.18.1.5", ip)
	}
	if ip, _ := b.get("i7"); ip.String() != "10.18.1.3" {
		t.Fatalf("a released address is not reused: got %s", ip)
	}
}

func TestUnitKeyKeptPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wireguard.key")
	k1, err := loadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", st.Mode().Perm())
	}
	k2, err := loadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if k1.publicBase64() != k2.publicBase64() {
		t.Fatal("the key changed across a restart")
	}
}

// TestUnitReleasedAddressNotGivenAgainAtOnce: a new instance gets the next
// address after the last one handed out, not one just released, whose old
// MAC may still sit in the gateway's and other instances' neighbour caches.
func TestUnitReleasedAddressNotGivenAgainAtOnce(t *testing.T) {
	a, err := loadIPAM(filepath.Join(t.TempDir(), "addresses.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.setSubnet(netip.MustParsePrefix("10.18.1.0/29")); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b"} {
		if _, err := a.get(id); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.release("a"); err != nil { // .2
		t.Fatal(err)
	}
	var got []string
	for _, id := range []string{"c", "d", "e", "f"} {
		ip, err := a.get(id)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ip.String())
	}
	if strings.Join(got, " ") != "10.18.1.4 10.18.1.5 10.18.1.6 10.18.1.2" {
		t.Fatalf("addresses after releasing .2: %v, want .4 .5 .6 and only then .2", got)
	}
}

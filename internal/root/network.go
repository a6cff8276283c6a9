package root

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/ipam"
	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/netmap"
	"github.com/hedgeorch/hedge/internal/roster"
	"github.com/hedgeorch/hedge/internal/sla"
	"github.com/hedgeorch/hedge/internal/store"
)

// This file is the root's share of the instance network
// (docs/networking.md): its settings, the range of each cluster, the
// addresses of each service, namespace isolation, and the map it builds
// from them and serves to its clusters (GET /link/v1/netmap).

// Buckets of the root's network state.
const (
	bucketSettings      = "settings"
	keyNetwork          = "network"
	bucketClusterRanges = "cluster_ranges"
	bucketIsolation     = "namespace_isolation"
)

// svcNet is what a service holds of the instance network: its two
// addresses, handed out when it was created and kept for its life.
type svcNet struct {
	RRIP      string `json:"rr_ip"`
	ClosestIP string `json:"closest_ip"`
}

// network is the root's network state, guarded by Root.mu.
type network struct {
	settings ipam.Settings
	inst     netip.Prefix
	svc      netip.Prefix
	// ranges is each cluster's range of the instance network, by id.
	ranges map[string]string
	// noRange are the clusters told there is no range left for them, so
	// that the map's every rebuild does not log it again.
	noRange   map[string]bool
	isolation map[string]api.NamespaceIsolation
	// m is the current map without Self; digest identifies its content,
	// desired its revision.
	m       netmap.Map
	digest  string
	desired roster.Desired
	// dirty: something the map is built from changed; the placement loop's
	// tick rebuilds it (refreshNetLocked).
	dirty bool
	// stored: the store holds these settings already (nothing to write,
	// which a standby replica's read-only copy could not take).
	stored bool
}

// loadNetwork settles the network settings against the ones stored and
// loads the cluster ranges and isolation policy. A setting not given takes
// the stored value (or the default on a first start); a given one that
// differs from the stored one is refused, as it would renumber the
// addresses already handed out. Encrypt follows the flag at each start.
func (r *Root) loadNetwork(tx store.Tx) error {
	var stored ipam.Settings
	err := tx.Get(bucketSettings, keyNetwork, &stored)
	first := errors.Is(err, store.ErrNotFound)
	if err != nil && !first {
		return err
	}
	base := ipam.Defaults()
	if !first {
		base = stored
	}
	s := r.cfg.Network.Or(base)
	if err := s.Validate(); err != nil {
		return fmt.Errorf("network settings: %w", err)
	}
	if !first {
		if msg := stored.Renumbers(s); msg != "" {
			return fmt.Errorf("network settings: %w: %s; a root keeps the numbering it first started with, since addresses were handed out under it: leave the flag out (or give the stored value)", ErrInvalid, msg)
		}
	}
	inst, _ := netip.ParsePrefix(s.InstanceCIDR) // both checked by Validate
	svc, _ := netip.ParsePrefix(s.ServiceCIDR)
	same := stored
	same.Encrypt = s.Encrypt // follows the flag, not the store
	r.net = &network{
		settings: s, inst: inst, svc: svc, stored: !first && same == s,
		ranges: map[string]string{}, isolation: map[string]api.NamespaceIsolation{},
		desired: roster.NewDesired(r.epoch), dirty: true,
	}
	if err := tx.List(bucketClusterRanges, func(id string, raw []byte) error {
		var rng string
		if err := json.Unmarshal(raw, &rng); err != nil {
			return err
		}
		r.net.ranges[id] = rng
		return nil
	}); err != nil {
		return err
	}
	isos, err := store.ListAll[api.NamespaceIsolation](tx, bucketIsolation)
	if err != nil {
		return err
	}
	for _, iso := range isos {
		r.net.isolation[iso.Namespace] = iso
	}
	return nil
}

// storeNetworkSettings keeps the settings the root runs with.
func (r *Root) storeNetworkSettings() error {
	if r.net.stored {
		return nil
	}
	return r.cfg.Store.Update(func(tx store.Tx) error { return tx.Put(bucketSettings, keyNetwork, r.net.settings) })
}

// NetworkSettings returns the settings the root runs with.
func (r *Root) NetworkSettings() ipam.Settings {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.net.settings
}

// clusterRangeLocked returns the cluster's range of the instance network,
// handing it the first free one (and storing it) if it has none yet; ""
// when none is left (logged). r.mu held.
func (r *Root) clusterRangeLocked(id string) string {
	if rng, ok := r.net.ranges[id]; ok {
		return rng
	}
	used := make([]netip.Prefix, 0, len(r.net.ranges))
	for _, rng := range r.net.ranges {
		if p, err := netip.ParsePrefix(rng); err == nil {
			used = append(used, p)
		}
	}
	p, err := ipam.NextSubnet(r.net.inst, r.net.settings.ClusterPrefix, used)
	if err != nil {
		if !r.net.noRange[id] {
			r.log.Error("no range of the instance network left for a cluster: its instances get no instance address; "+
				"the ranges are set at the root's first start (--instance-cidr, --cluster-prefix; docs/networking.md)", "cluster_id", id, "err", err)
			if r.net.noRange == nil {
				r.net.noRange = map[string]bool{}
			}
			r.net.noRange[id] = true
		}
		return ""
	}
	if err := r.cfg.Store.Update(func(tx store.Tx) error { return tx.Put(bucketClusterRanges, id, p.String()) }); err != nil {
		r.log.Error("store a cluster's range of the instance network", "cluster_id", id, "err", err)
		return ""
	}
	r.net.ranges[id] = p.String()
	r.log.Info("cluster given a range of the instance network", "cluster_id", id, "range", p.String())
	return p.String()
}

// releaseClusterRangeLocked frees the range of a cluster that was removed.
// r.mu held.
func (r *Root) releaseClusterRangeLocked(id string) {
	if _, ok := r.net.ranges[id]; !ok {
		return
	}
	if err := r.cfg.Store.Update(func(tx store.Tx) error { return tx.Delete(bucketClusterRanges, id) }); err != nil {
		r.log.Error("release a cluster's range of the instance network", "cluster_id", id, "err", err)
		return
	}
	delete(r.net.ranges, id)
	r.net.dirty = true
}

// addrClaims hands out service addresses while services are being
// created: it knows every address taken, by whom, including those of the
// services of the same request not stored yet.
type addrClaims struct {
	svc   netip.Prefix
	taken map[netip.Addr]string
}

// addrClaimsLocked returns the claims of the services that exist. r.mu held.
func (r *Root) addrClaimsLocked() *addrClaims {
	c := &addrClaims{svc: r.net.svc, taken: map[netip.Addr]string{}}
	for _, s := range r.svcs {
		if s.Net == nil {
			continue
		}
		who := serviceWho(s.Spec.Name, s.AppName, r.appNamespaceLocked(s.ApplicationID))
		for _, ip := range []string{s.Net.RRIP, s.Net.ClosestIP} {
			if a, err := netip.ParseAddr(ip); err == nil {
				c.taken[a] = who
			}
		}
	}
	return c
}

// appNamespaceLocked is the namespace of an application ("" if it is
// gone). r.mu held.
func (r *Root) appNamespaceLocked(appID string) string {
	if a := r.apps[appID]; a != nil {
		return a.Namespace
	}
	return ""
}

// serviceWho names a service in a refusal: "service db of application
// shop (namespace test)".
func serviceWho(name, app, namespace string) string {
	return fmt.Sprintf("service %s of application %s (namespace %s)", name, app, namespace)
}

// claim gives a new service (spec, described by who, at path in the
// request) its addresses: those its SLA's addresses name, or the first
// free ones. An address outside the service range is ErrInvalid, one
// another service has ErrConflict naming it; both name the field.
func (c *addrClaims) claim(path, who string, spec api.ServiceSpec) (*svcNet, error) {
	var given api.Addresses
	if spec.Addresses != nil {
		given = *spec.Addresses
	}
	pick := func(field, want string) (string, error) {
		if want == "" {
			a, err := ipam.NextAddr(c.svc, func(a netip.Addr) bool { _, ok := c.taken[a]; return ok })
			if err != nil {
				return "", fmt.Errorf("%w: %s: %v", ErrConflict, field, err)
			}
			c.taken[a] = who
			return a.String(), nil
		}
		a, err := ipam.ServiceAddr(field, want, c.svc)
		if err != nil {
			return "", err
		}
		if other, ok := c.taken[a]; ok {
			return "", fmt.Errorf("%w: %s: %s is already the address of %s", ErrConflict, field, want, other)
		}
		c.taken[a] = who
		return a.String(), nil
	}
	// The given addresses are claimed first, so that a free one picked for
	// the other field never takes them.
	n := &svcNet{RRIP: given.RRIP, ClosestIP: given.ClosestIP}
	var err error
	if given.RRIP != "" {
		if n.RRIP, err = pick(path+".addresses.rr_ip", given.RRIP); err != nil {
			return nil, err
		}
	}
	if given.ClosestIP != "" {
		if n.ClosestIP, err = pick(path+".addresses.closest_ip", given.ClosestIP); err != nil {
			return nil, err
		}
	}
	if given.RRIP == "" {
		if n.RRIP, err = pick(path+".addresses.rr_ip", ""); err != nil {
			return nil, err
		}
	}
	if given.ClosestIP == "" {
		if n.ClosestIP, err = pick(path+".addresses.closest_ip", ""); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// claimAllLocked claims the addresses of the services of one request, in
// order (paths[i] is the field path of specs[i]). r.mu held.
func (r *Root) claimAllLocked(app *api.Application, paths []string, specs []api.ServiceSpec) ([]*svcNet, error) {
	c := r.addrClaimsLocked()
	out := make([]*svcNet, len(specs))
	for i, spec := range specs {
		n, err := c.claim(paths[i], serviceWho(spec.Name, app.Name, app.Namespace), spec)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

// backfillServiceAddrs gives addresses to the services stored by a release
// before service networking: those their SLA named where still free, else
// free ones (logged), in the order the services were created.
func (r *Root) backfillServiceAddrs() error {
	var todo []*service
	for _, s := range r.svcs {
		if s.Net == nil {
			todo = append(todo, s)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	sort.Slice(todo, func(i, j int) bool {
		if !todo[i].CreatedAt.Equal(todo[j].CreatedAt) {
			return todo[i].CreatedAt.Before(todo[j].CreatedAt)
		}
		return todo[i].ID < todo[j].ID
	})
	c := r.addrClaimsLocked()
	for _, s := range todo {
		who := serviceWho(s.Spec.Name, s.AppName, r.appNamespaceLocked(s.ApplicationID))
		n, err := c.claim("service "+s.ID, who, s.Spec)
		if err != nil {
			r.log.Warn("a stored service's own addresses cannot be used: it gets free ones", "service_id", s.ID, "err", err)
			free := s.Spec
			free.Addresses = nil
			if n, err = c.claim("service "+s.ID, who, free); err != nil {
				return err
			}
		}
		s.Net = n
	}
	return r.cfg.Store.Update(func(tx store.Tx) error {
		for _, s := range todo {
			if err := tx.Put(bucketServices, s.ID, s); err != nil {
				return err
			}
		}
		return nil
	})
}

// keepsAddresses refuses an update of a service whose addresses differ
// from those it has: they are its for its life.
func keepsAddresses(s *service, spec api.ServiceSpec) error {
	if spec.Addresses == nil || s.Net == nil {
		return nil
	}
	for _, f := range []struct{ field, want, have string }{
		{"addresses.rr_ip", spec.Addresses.RRIP, s.Net.RRIP},
		{"addresses.closest_ip", spec.Addresses.ClosestIP, s.Net.ClosestIP},
	} {
		if f.want != "" && f.want != f.have {
			return fmt.Errorf("%w: %s: the service has %s for its whole life; delete it and create it again to change it", ErrConflict, f.field, f.have)
		}
	}
	return nil
}

// netViewLocked fills a service view's addresses and names. r.mu held.
func (r *Root) netViewLocked(v *api.Service, s *service) {
	if s.Net != nil {
		v.RRIP, v.ClosestIP = s.Net.RRIP, s.Net.ClosestIP
	}
	if s.Spec.Addresses != nil {
		v.RRIPv6 = s.Spec.Addresses.RRIPv6
	}
	if a := r.apps[s.ApplicationID]; a != nil {
		v.Names = []string{netmap.Name(s.Spec.Name, a.Name, a.Namespace)}
	}
}

// --- the map ---

// markNetLocked notes that the map must be rebuilt and kicks the placement
// loop, whose next pass does it (so that a batch of changes rebuilds it
// once). r.mu held.
func (r *Root) markNetLocked() {
	r.net.dirty = true
	r.trigger()
}

// refreshNetLocked rebuilds the map and publishes a new revision if its
// content changed. r.mu held.
func (r *Root) refreshNetLocked() {
	r.net.dirty = false
	m := r.buildNetMapLocked()
	b, err := json.Marshal(m)
	if err != nil {
		r.log.Error("encode the instance network's map", "err", err)
		return
	}
	sum := sha256.Sum256(b)
	d := hex.EncodeToString(sum[:])
	if d == r.net.digest {
		return
	}
	r.net.m, r.net.digest = m, d
	r.net.desired.Bump()
}

// buildNetMapLocked builds the map, without Revision and Self, from the
// root's state. r.mu held.
func (r *Root) buildNetMapLocked() netmap.Map {
	m := netmap.Map{
		InstanceCIDR: r.net.settings.InstanceCIDR, ServiceCIDR: r.net.settings.ServiceCIDR,
		WorkerPrefix: r.net.settings.WorkerPrefix, Encrypt: r.net.settings.Encrypt,
		Workers: []netmap.Worker{}, Services: []netmap.Service{},
	}
	for _, c := range r.clusters {
		for _, n := range c.nodes {
			if n.Subnet == "" {
				continue
			}
			m.Workers = append(m.Workers, netmap.Worker{ID: n.ID, Name: n.Name, Cluster: c.info.ID,
				Subnet: n.Subnet, Endpoint: n.TunnelEndpoint, PublicKey: n.TunnelPublicKey})
		}
	}
	sort.Slice(m.Workers, func(i, j int) bool { return m.Workers[i].ID < m.Workers[j].ID })
	backends := map[string][]netmap.Backend{}
	for _, in := range r.insts {
		if in.ClusterID != "" && in.Status.State == api.StateRunning && in.Status.IP != "" {
			backends[in.ServiceID] = append(backends[in.ServiceID], netmap.Backend{InstanceID: in.ID, IP: in.Status.IP, Worker: in.Status.NodeID})
		}
	}
	for _, s := range r.svcs {
		if s.Net == nil {
			continue
		}
		ns := r.appNamespaceLocked(s.ApplicationID)
		bs := backends[s.ID]
		if bs == nil {
			bs = []netmap.Backend{}
		}
		sort.Slice(bs, func(i, j int) bool { return bs[i].InstanceID < bs[j].InstanceID })
		m.Services = append(m.Services, netmap.Service{ID: s.ID, Name: s.Spec.Name, App: s.AppName, Namespace: ns,
			RRIP: s.Net.RRIP, ClosestIP: s.Net.ClosestIP, Instances: bs})
	}
	sort.Slice(m.Services, func(i, j int) bool { return m.Services[i].ID < m.Services[j].ID })
	for _, iso := range r.net.isolation {
		if iso.Isolated {
			m.Isolated = append(m.Isolated, netmap.Isolation{Namespace: iso.Namespace, Allow: slices.Clone(iso.Allow)})
		}
	}
	sort.Slice(m.Isolated, func(i, j int) bool { return m.Isolated[i].Namespace < m.Isolated[j].Namespace })
	return m
}

var _ link.NetMapper = (*Root)(nil)

// NetMap implements link.NetMapper: the map as a cluster sees it, with its
// range of the instance network (handed out on its first ask).
func (r *Root) NetMap(peer string) (*netmap.Map, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.net.dirty {
		r.refreshNetLocked()
	}
	rev, wake := r.net.desired.Revision()
	m := r.net.m
	m.Revision = rev
	m.Self = netmap.Self{ID: peer}
	if _, ok := r.clusters[peer]; ok {
		m.Self.Range = r.clusterRangeLocked(peer)
	}
	return &m, wake
}

// nodesNetKey sums up what the map takes from a cluster's nodes.
func nodesNetKey(nodes []api.Node) string {
	var b []byte
	for _, n := range nodes {
		b = fmt.Appendf(b, "%s|%s|%s|%s;", n.ID, n.Subnet, n.TunnelEndpoint, n.TunnelPublicKey)
	}
	return string(b)
}

// --- isolation ---

// SetIsolation sets a namespace's isolation policy (Admin): isolated, its
// instances take connections only from its own namespace and those in
// allow. Opening a namespace forgets its policy.
func (r *Root) SetIsolation(ns string, iso api.NamespaceIsolation) (api.NamespaceIsolation, error) {
	iso.Namespace = ns
	if err := checkNamespace("namespace", ns); err != nil {
		return api.NamespaceIsolation{}, err
	}
	for i, a := range iso.Allow {
		if err := checkNamespace(fmt.Sprintf("allow[%d]", i), a); err != nil {
			return api.NamespaceIsolation{}, err
		}
	}
	if !iso.Isolated && len(iso.Allow) > 0 {
		return api.NamespaceIsolation{}, fmt.Errorf("%w: allow: only an isolated namespace has an allow list", ErrInvalid)
	}
	slices.Sort(iso.Allow)
	iso.Allow = slices.Compact(iso.Allow)
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.cfg.Store.Update(func(tx store.Tx) error {
		if !iso.Isolated {
			return tx.Delete(bucketIsolation, ns)
		}
		return tx.Put(bucketIsolation, ns, iso)
	})
	if err != nil {
		return api.NamespaceIsolation{}, fmt.Errorf("store: %w", err)
	}
	if iso.Isolated {
		r.net.isolation[ns] = iso
	} else {
		delete(r.net.isolation, ns)
	}
	r.log.Info("namespace isolation set", "namespace", ns, "isolated", iso.Isolated, "allow", iso.Allow)
	r.refreshNetLocked()
	return iso, nil
}

// Isolation lists the isolated namespaces, by name.
func (r *Root) Isolation() []api.NamespaceIsolation {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []api.NamespaceIsolation{}
	for _, iso := range r.net.isolation {
		out = append(out, iso)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace < out[j].Namespace })
	return out
}

// checkNamespace checks a namespace name as the SLA does.
func checkNamespace(field, ns string) error {
	if msg := sla.CheckName(ns); msg != "" {
		return fmt.Errorf("%w: %s: %s", ErrInvalid, field, msg)
	}
	return nil
}

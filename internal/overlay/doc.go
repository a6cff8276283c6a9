// Package overlay is a worker's data path of the instance network
// (docs/adr/016-service-networking.md): the bridge its instances hang on, the
// tunnel to the other workers (kernel VXLAN, or WireGuard in user space when
// the map asks for encryption), the nftables table that turns service
// addresses into instance addresses, and the resolver that answers service
// names. A Plane programs all of it from a netmap.Map; the kernel carries the
// packets.
package overlay

// Package ipam hands out the addresses of the instance network: the
// settings the root keeps (the instance and service ranges, the prefix
// lengths of cluster ranges and worker subnets), and the two allocators the
// tiers use over them, first free subnet and first free address. It holds
// no state: the root and the clusters keep what they handed out in their
// stores and pass it in. See docs/networking.md.
package ipam

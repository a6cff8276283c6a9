// Package unikernel is Hedge's "unikernel" driver: each instance is a virtual
// machine run by QEMU, booting the kernel (and optional initrd) found in the
// tar.gz the service's code names. The QEMU process itself is run and
// waited for by the process driver (own process group, cgroup limits, handle
// for Recover, bounded output), so a VM survives a worker restart like
// any process instance; this package adds what is particular to VMs: fetching
// and unpacking the image, the QEMU command line (KVM when usable, TCG
// emulation otherwise), and a clean shutdown through QMP.
//
// The guest's serial console is its log. Ports of the SLA are forwarded from
// the host to the guest by QEMU's user-mode network. An instance given a place
// on the instance network (runtime.Spec.Network) gets a TAP device on that
// network's bridge instead, and its address on the kernel command line (Linux
// ip=, Unikraft netdev.ip=); it is reached at that address, and host ports
// are not published for it. A service's cmd and args
// form the kernel command line; environment and added files are not passed
// to the guest.
package unikernel

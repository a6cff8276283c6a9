// Package imagetest gives container driver tests real images without a
// network: an in-process OCI registry on a loopback port, and images built on
// the spot from a static Go test server or the host's busybox-static, each as
// the image's only layer. Tests of the containerd and Docker drivers push to it
// and let their engine pull from it, as a worker would from any registry.
package imagetest

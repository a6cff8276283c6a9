package main

import (
	"github.com/spf13/cobra"

	"github.com/hedgeorch/hedge/internal/role"
)

// tlsFlags are the root's TLS settings, shared by `hedge root` and `hedge up`.
type tlsFlags struct {
	role.TLSConfig
}

func (f *tlsFlags) bind(c *cobra.Command, root bool) {
	c.Flags().StringVar(&f.CertFile, "tls-cert", "", "certificate (PEM, chain) the API serves instead of the CA-signed one, e.g. from a public CA; tier links keep the CA's")
	c.Flags().StringVar(&f.KeyFile, "tls-key", "", "private key of --tls-cert (PEM)")
	c.Flags().StringVar(&f.CACertFile, "tls-ca-cert", "", "use this CA (PEM) instead of creating one in <data-dir>/root")
	c.Flags().StringVar(&f.CACertFile, "tls-ca", "", "alias of --tls-ca-cert")
	c.Flags().StringVar(&f.CAKeyFile, "tls-ca-key", "", "private key of --tls-ca-cert (PEM, EC)")
	c.Flags().StringArrayVar(&f.SANs, "tls-san", nil, "extra host name or address in the root's certificate (repeatable); local ones are always in")
	if root {
		c.Flags().BoolVar(&f.InsecureHTTP, "api-insecure-http", false, "INSECURE: serve the API in plain HTTP, only behind a TLS-terminating proxy; needs --link-addr")
		c.Flags().StringVar(&f.LinkAddr, "link-addr", "", "a second listener, always TLS, for clusters (required with --api-insecure-http)")
	}
}

// trustFlags say which CA a cluster or worker trusts when its join token
// does not carry the pin.
type trustFlags struct {
	role.Trust
}

func (f *trustFlags) bind(c *cobra.Command) {
	c.Flags().StringVar(&f.Pin, "ca-pin", "", "pin of the root's CA, sha256:<hex> (the join token from hedge token create carries it already)")
	c.Flags().StringVar(&f.CACertFile, "ca-cert", "", "the root's CA (PEM), instead of a pin")
}

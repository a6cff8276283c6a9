package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/hedgeorch/hedge/internal/pki"
)

// peerOnDisk is what a cluster or worker process keeps: its identity and
// the client certificate of its link.
type peerOnDisk struct {
	id   string
	cred string
	cert *tls.Certificate
}

func readPeer(t *testing.T, dir, certFile, keyFile string) peerOnDisk {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "identity.json"))
	if err != nil {
		t.Fatal(err)
	}
	var id struct{ ID, Credential string }
	if err := json.Unmarshal(b, &id); err != nil || id.ID == "" || id.Credential == "" {
		t.Fatalf("identity in %s: %v", dir, err)
	}
	c, err := pki.LoadKeyPair(filepath.Join(dir, certFile), filepath.Join(dir, keyFile))
	if err != nil {
		t.Fatalf("client certificate in %s: %v", dir, err)
	}
	return peerOnDisk{id: id.ID, cred: id.Credential, cert: c}
}

// TestPeersMutualTLS: the root signed each peer a client certificate at its
// join that names it; a tier refuses link requests that carry a peer's
// valid credential without that peer's certificate.
func TestPeersMutualTLS(t *testing.T) {
	f := startFleet(t, map[string][]string{"site1": {"w1"}}, fleetOptions{})
	pool, err := readPool(rootCA(filepath.Join(f.dir, "root")))
	if err != nil {
		t.Fatal(err)
	}
	cluster := readPeer(t, filepath.Join(f.dir, "site1", "cluster"), "tls-cert.pem", "tls-key.pem")
	worker := readPeer(t, filepath.Join(f.dir, "w1", "worker"), "client-cert.pem", "client-key.pem")
	for _, p := range []struct {
		name, kind string
		peer       peerOnDisk
	}{{"cluster site1", pki.KindCluster, cluster}, {"worker w1", pki.KindNode, worker}} {
		if _, err := p.peer.cert.Leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("%s: client certificate does not verify against the root CA: %v", p.name, err)
		}
		if kind, id, ok := pki.PeerOf(p.peer.cert.Leaf); !ok || kind != p.kind || id != p.peer.id || p.peer.cert.Leaf.Subject.CommonName != p.peer.id {
			t.Errorf("%s: certificate names %s %q (CN %q), want %s %q", p.name, kind, id, p.peer.cert.Leaf.Subject.CommonName, p.kind, p.peer.id)
		}
	}

	// withCert is a link client of the tier named serverName presenting cert.
	withCert := func(serverName string, cert *tls.Certificate) *http.Client {
		cfg := &tls.Config{RootCAs: pool, ServerName: serverName}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	}
	clusterReport := "https://" + f.hosts["site1"].addr(10100) + "/link/v1/report"
	workerRep := map[string]any{"node": map[string]any{"name": "w1"}, "instances": []any{}}
	rootRep := map[string]any{"cluster": map[string]any{"name": "site1"}, "instances": []any{}}
	for _, tt := range []struct {
		name, url, serverName, cred string
		cert                        *tls.Certificate
		body                        any
		want                        int
	}{
		{"worker credential, no certificate", clusterReport, pki.ClusterName, worker.cred, nil, workerRep, http.StatusUnauthorized},
		{"worker credential, the cluster's certificate", clusterReport, pki.ClusterName, worker.cred, cluster.cert, workerRep, http.StatusUnauthorized},
		{"cluster credential, no certificate", f.url + "/link/v1/report", pki.RootName, cluster.cred, nil, rootRep, http.StatusUnauthorized},
		{"cluster credential, the worker's certificate", f.url + "/link/v1/report", pki.RootName, cluster.cred, worker.cert, rootRep, http.StatusUnauthorized},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if code, body := linkPost(t, withCert(tt.serverName, tt.cert), tt.url, tt.cred, tt.body); code != tt.want {
				t.Errorf("%d %s, want %d", code, body, tt.want)
			}
		})
	}
	// The same request with the worker's own certificate is served: the
	// refusals above are the certificate's, not the credential's.
	if code, body := linkPost(t, withCert(pki.ClusterName, worker.cert), clusterReport, worker.cred, workerRep); code != http.StatusNoContent {
		t.Errorf("worker credential and its own certificate: %d %s, want 204", code, body)
	}
}

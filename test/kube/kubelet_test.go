package kube_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// podLogLine is what every pod of the suite prints: KWOK runs no
// containers, but its kubelet API serves the log file given here for every
// pod, so that `hedge logs` reads a real answer through the API server.
const podLogLine = "hello from the kwok kubelet"

// kwokKubeletArgs prepares KWOK's kubelet API for one control plane: a
// serving certificate for 127.0.0.1 (the API server does not check it,
// having no kubelet CA), a ClusterLogs rule, and a free port, which the
// nodes advertise as their kubelet endpoint.
func kwokKubeletArgs(t *testing.T, dir string) []string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	_ = l.Close()

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kwok"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "kubelet.crt"), filepath.Join(dir, "kubelet.key")
	logFile, rules := filepath.Join(dir, "pod.log"), filepath.Join(dir, "logs.yaml")
	for _, f := range []struct {
		path string
		data []byte
	}{
		{certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})},
		{keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})},
		// The CRI log format a kubelet reads from its runtime.
		{logFile, []byte(time.Now().UTC().Format(time.RFC3339Nano) + " stdout F " + podLogLine + "\n")},
		{rules, []byte("kind: ClusterLogs\napiVersion: kwok.x-k8s.io/v1alpha1\nmetadata:\n  name: all-pods\nspec:\n  logs:\n  - logsFile: " +
			strconv.Quote(logFile) + "\n    follow: false\n")},
	} {
		if err := os.WriteFile(f.path, f.data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return []string{
		"--server-address=127.0.0.1:" + port, "--node-port=" + port,
		"--tls-cert-file=" + certFile, "--tls-private-key-file=" + keyFile,
		"--config=" + rules,
	}
}

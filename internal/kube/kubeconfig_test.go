package kube

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

const goodKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: edge
  cluster: {server: "https://10.0.0.1:6443", certificate-authority-data: ""}
users:
- name: admin
  user: {token: abc}
contexts:
- name: edge
  context: {cluster: edge, user: admin}
current-context: edge
`

func TestParseCredentialsUnit(t *testing.T) {
	asString, _ := json.Marshal(goodKubeconfig)
	var obj map[string]any
	// The same kubeconfig as a JSON object, as the Smart Orchestrator takes it.
	objJSON := `{"apiVersion":"v1","kind":"Config","clusters":[{"name":"edge","cluster":{"server":"https://10.0.0.1:6443"}}],` +
		`"users":[{"name":"admin","user":{"token":"abc"}}],"contexts":[{"name":"edge","context":{"cluster":"edge","user":"admin"}}]}`
	if err := json.Unmarshal([]byte(objJSON), &obj); err != nil {
		t.Fatal(err)
	}
	bad := func(s string) json.RawMessage { b, _ := json.Marshal(s); return b }
	tests := []struct {
		name    string
		raw     json.RawMessage
		wantErr string // "" = valid
	}{
		{"yaml in a string", asString, ""},
		{"object with one context and no current-context", json.RawMessage(objJSON), ""},
		{"missing", nil, "credentials: required"},
		{"a number", json.RawMessage(`42`), "want a kubeconfig"},
		{"not yaml", bad("{{{"), "not a kubeconfig"},
		{"no server", bad(strings.Replace(goodKubeconfig, `server: "https://10.0.0.1:6443", `, "", 1)), "server: required"},
		{"bad server", bad(strings.Replace(goodKubeconfig, "https://10.0.0.1:6443", "ftp://x", 1)), "want an http(s) URL"},
		{"unknown context", bad(strings.Replace(goodKubeconfig, "current-context: edge", "current-context: other", 1)), `current-context "other": no such context`},
		{"exec plugin", bad(strings.Replace(goodKubeconfig, "user: {token: abc}", "user: {exec: {command: /bin/sh, apiVersion: client.authentication.k8s.io/v1}}", 1)), "exec plugins are not accepted"},
		{"token file", bad(strings.Replace(goodKubeconfig, "user: {token: abc}", "user: {tokenFile: /etc/shadow}", 1)), "file paths are not accepted"},
		{"ca file", bad(strings.Replace(goodKubeconfig, `certificate-authority-data: ""`, "certificate-authority: /root/ca.crt", 1)), "certificate-authority: file paths"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kc, err := ParseCredentials(tt.raw)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if _, server, err := ValidateKubeconfig(kc); err != nil || server != "https://10.0.0.1:6443" {
					t.Fatalf("server %q, err %v", server, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want ErrInvalid containing %q", err, tt.wantErr)
			}
		})
	}
}

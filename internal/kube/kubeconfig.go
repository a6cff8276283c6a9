package kube

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// maxKubeconfig bounds the credentials of one cluster.
const maxKubeconfig = 1 << 20

// ParseCredentials turns the credentials of a registration (a kubeconfig as a
// JSON object, or as YAML or JSON text in a JSON string) into kubeconfig
// bytes, checked with ValidateKubeconfig.
func ParseCredentials(raw json.RawMessage) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, fmt.Errorf("%w: credentials: required (a kubeconfig, as an object or as YAML text)", ErrInvalid)
	}
	if len(raw) > maxKubeconfig {
		return nil, fmt.Errorf("%w: credentials: larger than %d bytes", ErrInvalid, maxKubeconfig)
	}
	kc := []byte(raw)
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("%w: credentials: %v", ErrInvalid, err)
		}
		kc = []byte(s)
	} else if raw[0] != '{' {
		return nil, fmt.Errorf("%w: credentials: want a kubeconfig object or a string holding one", ErrInvalid)
	}
	if _, _, err := ValidateKubeconfig(kc); err != nil {
		return nil, err
	}
	return kc, nil
}

// ValidateKubeconfig checks that kc is a kubeconfig Hedge can use on its own
// and returns the client config of its current context and the API server
// URL. It refuses what would make the root read its own files or run
// programs (file paths, exec and auth-provider plugins): the kubeconfig comes
// from an API user, not from the root's operator.
func ValidateKubeconfig(kc []byte) (*rest.Config, string, error) {
	cfg, err := clientcmd.Load(kc)
	if err != nil {
		return nil, "", fmt.Errorf("%w: credentials: not a kubeconfig: %v", ErrInvalid, err)
	}
	ctxName := cfg.CurrentContext
	if ctxName == "" && len(cfg.Contexts) == 1 {
		for name := range cfg.Contexts {
			ctxName = name
		}
	}
	if ctxName == "" {
		return nil, "", fmt.Errorf("%w: credentials: current-context: not set and the kubeconfig has %d contexts", ErrInvalid, len(cfg.Contexts))
	}
	kctx, ok := cfg.Contexts[ctxName]
	if !ok {
		return nil, "", fmt.Errorf("%w: credentials: current-context %q: no such context", ErrInvalid, ctxName)
	}
	cl, ok := cfg.Clusters[kctx.Cluster]
	if !ok {
		return nil, "", fmt.Errorf("%w: credentials: context %q: cluster %q not defined", ErrInvalid, ctxName, kctx.Cluster)
	}
	if cl.Server == "" {
		return nil, "", fmt.Errorf("%w: credentials: cluster %q: server: required", ErrInvalid, kctx.Cluster)
	}
	u, err := url.Parse(cl.Server)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, "", fmt.Errorf("%w: credentials: cluster %q: server %q: want an http(s) URL", ErrInvalid, kctx.Cluster, cl.Server)
	}
	if cl.CertificateAuthority != "" {
		return nil, "", fmt.Errorf("%w: credentials: cluster %q: certificate-authority: file paths are not accepted, embed certificate-authority-data", ErrInvalid, kctx.Cluster)
	}
	user, ok := cfg.AuthInfos[kctx.AuthInfo]
	if kctx.AuthInfo != "" && !ok {
		return nil, "", fmt.Errorf("%w: credentials: context %q: user %q not defined", ErrInvalid, ctxName, kctx.AuthInfo)
	}
	if user != nil {
		if err := checkUser(kctx.AuthInfo, user); err != nil {
			return nil, "", err
		}
	}
	cfg.CurrentContext = ctxName
	rc, err := clientcmd.NewDefaultClientConfig(*cfg, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("%w: credentials: %v", ErrInvalid, err)
	}
	return rc, cl.Server, nil
}

func checkUser(name string, u *clientcmdapi.AuthInfo) error {
	switch {
	case u.Exec != nil:
		return fmt.Errorf("%w: credentials: user %q: exec plugins are not accepted (they would run a program on the root)", ErrInvalid, name)
	case u.AuthProvider != nil:
		return fmt.Errorf("%w: credentials: user %q: auth-provider plugins are not accepted", ErrInvalid, name)
	case u.ClientCertificate != "" || u.ClientKey != "" || u.TokenFile != "":
		return fmt.Errorf("%w: credentials: user %q: file paths are not accepted, embed client-certificate-data, client-key-data or token", ErrInvalid, name)
	case (len(u.ClientCertificateData) > 0) != (len(u.ClientKeyData) > 0):
		return fmt.Errorf("%w: credentials: user %q: client-certificate-data and client-key-data go together", ErrInvalid, name)
	}
	return nil
}

func clientcmdEmpty() *clientcmdapi.Config { return clientcmdapi.NewConfig() }

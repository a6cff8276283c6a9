package kube

import (
	"fmt"
	"log/slog"

	"helm.sh/helm/v3/pkg/action"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

// restGetter gives Helm a cluster's clients from the kubeconfig held in
// memory, so the kubeconfig never touches the disk.
type restGetter struct {
	kc []byte
	rc *rest.Config
	ns string
}

func (g *restGetter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.rc), nil }

func (g *restGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	rc := rest.CopyConfig(g.rc)
	rc.Burst = 100
	dc, err := discovery.NewDiscoveryClientForConfig(rc)
	if err != nil {
		return nil, err
	}
	return memory.NewMemCacheClient(dc), nil
}

func (g *restGetter) ToRESTMapper() (meta.RESTMapper, error) {
	dc, err := g.ToDiscoveryClient()
	if err != nil {
		return nil, err
	}
	return restmapper.NewShortcutExpander(restmapper.NewDeferredDiscoveryRESTMapper(dc), dc, nil), nil
}

func (g *restGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	cfg, err := clientcmd.Load(g.kc)
	if err != nil {
		return clientcmd.NewDefaultClientConfig(*clientcmdEmpty(), nil)
	}
	if cfg.CurrentContext == "" {
		for name := range cfg.Contexts {
			cfg.CurrentContext = name
		}
	}
	ov := &clientcmd.ConfigOverrides{}
	ov.Context.Namespace = g.ns
	return clientcmd.NewDefaultClientConfig(*cfg, ov)
}

// helmConfig returns a Helm action configuration for namespace ns of c,
// with releases stored as Secrets (Helm's default).
func (c *kcluster) helmConfig(ns string, log *slog.Logger) (*action.Configuration, error) {
	cfg := new(action.Configuration)
	debug := func(format string, v ...any) { log.Debug(fmt.Sprintf(format, v...)) }
	if err := cfg.Init(&restGetter{kc: c.kc, rc: c.rc, ns: ns}, ns, "secret", debug); err != nil {
		return nil, fmt.Errorf("helm on cluster %s: %w", c.rec.Name, err)
	}
	return cfg, nil
}

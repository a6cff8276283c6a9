//go:build noKube

package root

import (
	"context"

	"github.com/danielgtaylor/huma/v2"
)

// kubeHook does nothing in builds with the noKube tag, which link neither
// client-go nor Helm: the root then has no Kubernetes clusters or enablers.
type kubeHook struct{}

func newKubeHook(*Root) *kubeHook { return &kubeHook{} }

func (*kubeHook) register(huma.API) {}

func (*kubeHook) run(context.Context) func() { return func() {} }

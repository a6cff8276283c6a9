package root

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/hedgeorch/hedge/api"
)

// isolationBody is what PUT /api/namespaces/{ns}/isolation reads.
type isolationBody struct {
	Isolated bool     `json:"isolated" doc:"close the namespace to instances of other namespaces"`
	Allow    []string `json:"allow,omitempty" maxItems:"100" doc:"namespaces whose instances may still connect (only when isolated)"`
}

func (r *Root) registerNetwork(a huma.API) {
	tags := []string{"network"}
	huma.Register(a, huma.Operation{
		OperationID: "set-namespace-isolation", Method: http.MethodPut, Path: "/api/namespaces/{ns}/isolation", Tags: tags,
		Summary: "Isolate a namespace on the instance network, or open it (Admin)", Security: secured,
		Description: "With `isolated`, the instances of the applications of namespace `ns` take connections only from instances " +
			"of the same namespace and of the namespaces in `allow`. `isolated: false` opens it again (the default). " +
			"Every worker's tables follow within seconds.",
	}, func(ctx context.Context, in *struct {
		NS   string `path:"ns" maxLength:"30"`
		Body isolationBody
	}) (*struct{ Body api.NamespaceIsolation }, error) {
		if err := requireAdmin(ctx); err != nil {
			return nil, err
		}
		iso, err := r.SetIsolation(in.NS, api.NamespaceIsolation{Isolated: in.Body.Isolated, Allow: in.Body.Allow})
		if err != nil {
			return nil, apiError(err)
		}
		return &struct{ Body api.NamespaceIsolation }{Body: iso}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "list-namespace-isolation", Method: http.MethodGet, Path: "/api/namespaces/isolation", Tags: tags,
		Summary: "List the isolated namespaces (Admin)", Security: secured,
	}, func(ctx context.Context, _ *struct{}) (*struct{ Body []api.NamespaceIsolation }, error) {
		if err := requireAdmin(ctx); err != nil {
			return nil, err
		}
		return &struct{ Body []api.NamespaceIsolation }{Body: r.Isolation()}, nil
	})
}

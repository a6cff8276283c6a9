package root

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/hedgeorch/hedge/api"
)

// allowPath names one allow list entry.
type allowPath struct {
	Cluster string `path:"cluster" maxLength:"253"`
	User    string `path:"user" maxLength:"64"`
}

// registerAllowList serves the per-cluster allow list of privileged
// settings (ADR 012), kept by Admin.
func (r *Root) registerAllowList(a huma.API) {
	tags := []string{"users"}
	huma.Register(a, huma.Operation{
		OperationID: "list-allow", Method: http.MethodGet, Path: "/api/allow", Tags: tags,
		Summary: "The allow list of privileged settings (Admin)", Security: secured,
		Description: "Users who may use raw processes, privileged containers, host-path added_files, pressure_exempt " +
			"and priorities above 0 on a cluster, in microservices pinned to it by a direct or clusters constraint.",
	}, func(ctx context.Context, _ *struct{}) (*struct{ Body []api.AllowEntry }, error) {
		if err := requireAdmin(ctx); err != nil {
			return nil, err
		}
		list, err := r.AllowList()
		if err != nil {
			return nil, apiError(err)
		}
		return &struct{ Body []api.AllowEntry }{Body: list}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "allow", Method: http.MethodPut, Path: "/api/allow/{cluster}/{user}", Tags: tags,
		Summary: "Allow a user privileged settings on a cluster (Admin)", Security: secured,
	}, func(ctx context.Context, in *allowPath) (*messageOutput, error) {
		if err := requireAdmin(ctx); err != nil {
			return nil, err
		}
		if err := r.Allow(in.Cluster, in.User, true); err != nil {
			return nil, apiError(err)
		}
		return message("%s may use privileged settings on cluster %s", in.User, in.Cluster), nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "disallow", Method: http.MethodDelete, Path: "/api/allow/{cluster}/{user}", Tags: tags,
		Summary: "Take a user off a cluster's allow list (Admin)", Security: secured,
		Description: "Services already accepted keep running; new submissions and updates are refused.",
	}, func(ctx context.Context, in *allowPath) (*messageOutput, error) {
		if err := requireAdmin(ctx); err != nil {
			return nil, err
		}
		if err := r.Allow(in.Cluster, in.User, false); err != nil {
			return nil, apiError(err)
		}
		return message("%s is off the allow list of cluster %s", in.User, in.Cluster), nil
	})
}

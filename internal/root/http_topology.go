package root

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/hedgeorch/hedge/internal/placement/app"
	"github.com/hedgeorch/hedge/internal/topology"
)

// maxTopology bounds one topology or FADepl input.
const maxTopology = 8 << 20

type topologyInput struct {
	RawBody []byte `contentType:"application/json"`
}

type topoIDPath struct {
	ID string `path:"id" maxLength:"253"`
}

type fadeplPath struct {
	Name string `path:"name" maxLength:"253"`
}

// registerTopology serves the FogAtlas objects: regions, links, external
// endpoints, and FADepl applications placed over them.
func (r *Root) registerTopology(a huma.API) {
	tags := []string{"topology"}
	applyDoc := "Takes FogAtlas documents (apiVersion fogatlas.fbk.eu/v1alpha1) as multi-document YAML (Content-Type application/yaml) " +
		"or JSON: kinds Region, Link, ExternalEndpoint (Admin; created or replaced by id) and FADepl (any user; placed at once). " +
		"Every problem of the input is listed in `errors` and nothing is changed. A link's status.bwallocated is computed by the root " +
		"and ignored. When regions or links change, the stored FADepls are placed again and moved where their placement changed."
	apply := func(ctx context.Context, in *topologyInput) (*struct{ Body *TopologyApplied }, error) {
		out, err := r.ApplyTopology(ctx, caller(ctx), in.RawBody)
		if err != nil {
			return nil, topologyError(err)
		}
		return &struct{ Body *TopologyApplied }{Body: out}, nil
	}
	huma.Register(a, huma.Operation{
		OperationID: "apply-topology", Method: http.MethodPost, Path: "/api/topology", Tags: tags,
		Summary: "Apply regions, links, endpoints and FADepls", Description: applyDoc,
		Security: secured, MaxBodyBytes: maxTopology, SkipValidateBody: true,
	}, apply)
	huma.Register(a, huma.Operation{
		OperationID: "apply-fadepl", Method: http.MethodPost, Path: "/api/fadepl", Tags: tags,
		Summary: "Place and run FADepl applications", Description: "The same as POST /api/topology. " + applyDoc,
		Security: secured, MaxBodyBytes: maxTopology, SkipValidateBody: true,
	}, apply)
	huma.Register(a, huma.Operation{
		OperationID: "list-regions", Method: http.MethodGet, Path: "/api/regions", Tags: tags,
		Summary: "List regions", Security: secured,
	}, func(ctx context.Context, _ *struct{}) (*struct{ Body []topology.Region }, error) {
		out, err := r.Regions()
		if err != nil {
			return nil, apiError(err)
		}
		return &struct{ Body []topology.Region }{Body: out}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "list-links", Method: http.MethodGet, Path: "/api/links", Tags: tags,
		Summary: "List links with the bandwidth allocated on them", Security: secured,
	}, func(ctx context.Context, _ *struct{}) (*struct{ Body []topology.Link }, error) {
		out, err := r.Links()
		if err != nil {
			return nil, apiError(err)
		}
		return &struct{ Body []topology.Link }{Body: out}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "list-endpoints", Method: http.MethodGet, Path: "/api/endpoints", Tags: tags,
		Summary: "List external endpoints", Security: secured,
	}, func(ctx context.Context, _ *struct{}) (*struct{ Body []topology.ExternalEndpoint }, error) {
		out, err := r.Endpoints()
		if err != nil {
			return nil, apiError(err)
		}
		return &struct{ Body []topology.ExternalEndpoint }{Body: out}, nil
	})
	for _, del := range []struct{ kind, path, id string }{
		{topology.KindRegion, "/api/regions/{id}", "delete-region"},
		{topology.KindLink, "/api/links/{id}", "delete-link"},
		{topology.KindExternalEndpoint, "/api/endpoints/{id}", "delete-endpoint"},
	} {
		huma.Register(a, huma.Operation{
			OperationID: del.id, Method: http.MethodDelete, Path: del.path, Tags: tags,
			Summary: "Delete a " + del.kind + " (Admin)", Security: secured,
			Description: "The stored FADepls are placed again afterwards. A region still named by a link or an endpoint cannot be deleted.",
		}, func(ctx context.Context, in *topoIDPath) (*struct{}, error) {
			if err := requireAdmin(ctx); err != nil {
				return nil, err
			}
			return nil, topologyError(r.DeleteTopologyObject(ctx, del.kind, in.ID))
		})
	}
	huma.Register(a, huma.Operation{
		OperationID: "list-fadepls", Method: http.MethodGet, Path: "/api/fadepl", Tags: tags,
		Summary: "List your FADepls with their placement status", Security: secured,
	}, func(ctx context.Context, _ *struct{}) (*struct{ Body []FADeplView }, error) {
		out, err := r.FADepls(caller(ctx))
		if err != nil {
			return nil, apiError(err)
		}
		return &struct{ Body []FADeplView }{Body: out}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "get-fadepl", Method: http.MethodGet, Path: "/api/fadepl/{name}", Tags: tags,
		Summary: "Get a FADepl's placement status", Security: secured,
		Description: "`status` is the latest placement (New, Synced, Changed or Failed with `reason`), with the placement of every " +
			"microservice and the bandwidth held on each link; `running` is the placement still running when the latest attempt failed.",
	}, func(ctx context.Context, in *fadeplPath) (*struct{ Body FADeplView }, error) {
		out, err := r.FADepl(caller(ctx), in.Name)
		if err != nil {
			return nil, apiError(err)
		}
		return &struct{ Body FADeplView }{Body: out}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "delete-fadepl", Method: http.MethodDelete, Path: "/api/fadepl/{name}", Tags: tags,
		Summary: "Delete a FADepl", Description: "Removes its services and releases the bandwidth it held on the links.", Security: secured,
	}, func(ctx context.Context, in *fadeplPath) (*struct{}, error) {
		return nil, apiError(r.DeleteFADepl(caller(ctx), in.Name))
	})
}

// topologyError turns the errors of the topology operations into HTTP
// errors: every problem of a bad input is one entry of `errors`.
func topologyError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrForbidden):
		return huma.Error403Forbidden(err.Error())
	case errors.Is(err, topology.ErrInvalid), errors.Is(err, app.ErrInvalid):
		var details []error
		for _, leaf := range problems(err) {
			var de *topology.DocumentError
			if errors.As(leaf, &de) {
				loc := fmt.Sprintf("documents[%d]", de.Index)
				if de.Field != "" {
					loc += "." + de.Field
				}
				details = append(details, &huma.ErrorDetail{Location: loc, Message: de.Error()})
				continue
			}
			details = append(details, &huma.ErrorDetail{Location: "body", Message: leaf.Error()})
		}
		return huma.Error400BadRequest(fmt.Sprintf("invalid topology or application: %d problem(s)", len(details)), details...)
	}
	return apiError(err)
}

// problems flattens joined errors into their separate problems.
func problems(err error) []error {
	var de *topology.DocumentError
	if errors.As(err, &de) && err == error(de) {
		return []error{err}
	}
	// Only a join (errors.Join: the messages of its parts, one a line) is a
	// list of problems; fmt.Errorf with several %w is one problem.
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		parts := j.Unwrap()
		msgs := make([]string, len(parts))
		for i, e := range parts {
			msgs[i] = e.Error()
		}
		if strings.Join(msgs, "\n") == err.Error() {
			var out []error
			for _, e := range parts {
				out = append(out, problems(e)...)
			}
			return out
		}
	}
	return []error{err}
}

package root

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/sla"
)

// maxSLA bounds a submitted descriptor.
const maxSLA = 1 << 20

type submitOutput struct {
	Body struct {
		Applications []api.Application `json:"applications"`
		Services     []api.Service     `json:"services"`
	}
}

type appIDPath struct {
	AppID string `path:"appid" maxLength:"64"`
}

type serviceIDPath struct {
	ID string `path:"id" maxLength:"64"`
}

type instancePath struct {
	ID string `path:"id" maxLength:"64"`
	N  int    `path:"n" minimum:"0"`
}

type scaleBody struct {
	Instances int `json:"instances" minimum:"0" maximum:"1000"`
}

func (r *Root) registerApps(a huma.API) {
	tags := []string{"applications"}
	huma.Register(a, huma.Operation{
		OperationID: "submit-application", Method: http.MethodPost, Path: "/api/application/", Tags: tags,
		Summary: "Deploy applications from an SLA", Security: secured, MaxBodyBytes: maxSLA, SkipValidateBody: true,
		Description: "Takes an Oakestra SLA v2.0 deployment descriptor, as JSON or (with Content-Type application/yaml) YAML. " +
			"Every problem is listed in `errors` with its field path. Each microservice starts `instances` instances (default 1).",
	}, func(ctx context.Context, in *struct {
		RawBody []byte `contentType:"application/json"`
	}) (*submitOutput, error) {
		doc, err := sla.Parse(in.RawBody)
		if err != nil {
			return nil, apiError(err)
		}
		apps, svcs, err := r.Submit(ctx, caller(ctx), doc)
		if err != nil {
			return nil, apiError(err)
		}
		out := &submitOutput{}
		out.Body.Applications, out.Body.Services = apps, svcs
		return out, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "list-applications", Method: http.MethodGet, Path: "/api/applications/", Tags: tags,
		Summary: "List your applications", Security: secured,
	}, func(ctx context.Context, _ *struct{}) (*struct{ Body []api.Application }, error) {
		return &struct{ Body []api.Application }{Body: r.Applications(caller(ctx))}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "get-application", Method: http.MethodGet, Path: "/api/application/{appid}", Tags: tags,
		Summary: "Get an application", Security: secured,
	}, func(ctx context.Context, in *appIDPath) (*struct{ Body api.Application }, error) {
		app, err := r.Application(caller(ctx), in.AppID)
		if err != nil {
			return nil, apiError(err)
		}
		return &struct{ Body api.Application }{Body: app}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "delete-application", Method: http.MethodDelete, Path: "/api/application/{appid}", Tags: tags,
		Summary: "Delete an application", Description: "Removes the application and its services; their instances are stopped.", Security: secured,
	}, func(ctx context.Context, in *appIDPath) (*struct{}, error) {
		return nil, apiError(r.DeleteApplication(caller(ctx), in.AppID))
	})
	huma.Register(a, huma.Operation{
		OperationID: "add-services", Method: http.MethodPost, Path: "/api/service/", Tags: []string{"services"},
		Summary: "Add services to an application", Security: secured, MaxBodyBytes: maxSLA, SkipValidateBody: true,
		Description: "Body: `{\"applicationID\": \"...\", \"microservices\": [...]}` with microservices as in an SLA.",
	}, func(ctx context.Context, in *struct {
		RawBody []byte `contentType:"application/json"`
	}) (*struct{ Body []api.Service }, error) {
		specs, appID, err := sla.ParseServices(in.RawBody)
		if err != nil {
			return nil, apiError(err)
		}
		if appID == "" {
			return nil, huma.Error400BadRequest("applicationID: required", &huma.ErrorDetail{Location: "applicationID", Message: "required"})
		}
		svcs, err := r.AddServices(ctx, caller(ctx), appID, specs)
		if err != nil {
			return nil, apiError(err)
		}
		return &struct{ Body []api.Service }{Body: svcs}, nil
	})
	stags := []string{"services"}
	huma.Register(a, huma.Operation{
		OperationID: "list-services", Method: http.MethodGet, Path: "/api/services/", Tags: stags,
		Summary: "List all your services with their instances", Security: secured,
	}, func(ctx context.Context, _ *struct{}) (*struct{ Body []api.Service }, error) {
		svcs, err := r.Services(caller(ctx), "")
		return &struct{ Body []api.Service }{Body: svcs}, apiError(err)
	})
	huma.Register(a, huma.Operation{
		OperationID: "list-app-services", Method: http.MethodGet, Path: "/api/services/{appid}", Tags: stags,
		Summary: "List the services of an application", Security: secured,
	}, func(ctx context.Context, in *appIDPath) (*struct{ Body []api.Service }, error) {
		svcs, err := r.Services(caller(ctx), in.AppID)
		if err != nil {
			return nil, apiError(err)
		}
		return &struct{ Body []api.Service }{Body: svcs}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "get-service", Method: http.MethodGet, Path: "/api/service/{id}", Tags: stags,
		Summary: "Get a service with its instances", Security: secured,
		Description: "`instance_list` holds each instance's number, status, reason, cluster and node. States: " + stateDoc,
	}, func(ctx context.Context, in *serviceIDPath) (*struct{ Body api.Service }, error) {
		s, err := r.Service(caller(ctx), in.ID)
		if err != nil {
			return nil, apiError(err)
		}
		return &struct{ Body api.Service }{Body: s}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "delete-service", Method: http.MethodDelete, Path: "/api/service/{id}", Tags: stags,
		Summary: "Delete a service", Security: secured,
	}, func(ctx context.Context, in *serviceIDPath) (*struct{}, error) {
		return nil, apiError(r.DeleteService(caller(ctx), in.ID))
	})
	huma.Register(a, huma.Operation{
		OperationID: "add-instance", Method: http.MethodPost, Path: "/api/service/{id}/instance", Tags: stags,
		Summary: "Deploy one more instance", Security: secured,
	}, func(ctx context.Context, in *serviceIDPath) (*struct{ Body api.Instance }, error) {
		inst, err := r.AddInstance(caller(ctx), in.ID)
		if err != nil {
			return nil, apiError(err)
		}
		return &struct{ Body api.Instance }{Body: inst}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "delete-instance", Method: http.MethodDelete, Path: "/api/service/{id}/instance/{n}", Tags: stags,
		Summary: "Stop and remove one instance", Security: secured,
	}, func(ctx context.Context, in *instancePath) (*struct{}, error) {
		return nil, apiError(r.DeleteInstance(caller(ctx), in.ID, in.N))
	})
	huma.Register(a, huma.Operation{
		OperationID: "scale-service", Method: http.MethodPut, Path: "/api/service/{id}/scale", Tags: stags,
		Summary: "Set the number of instances", Security: secured,
		Description: "New instances are requested; when scaling down, the highest-numbered instances are removed.",
	}, func(ctx context.Context, in *struct {
		ID   string `path:"id" maxLength:"64"`
		Body scaleBody
	}) (*struct{ Body api.Service }, error) {
		s, err := r.Scale(caller(ctx), in.ID, in.Body.Instances)
		if err != nil {
			return nil, apiError(err)
		}
		return &struct{ Body api.Service }{Body: s}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "instance-logs", Method: http.MethodGet, Path: "/api/service/{id}/instance/{n}/logs", Tags: stags,
		Summary: "Read an instance's output", Security: secured,
		Description: "The last `tail` bytes of the instance's combined stdout and stderr, fetched from its worker through its cluster.",
	}, func(ctx context.Context, in *struct {
		ID   string `path:"id" maxLength:"64"`
		N    int    `path:"n" minimum:"0"`
		Tail int    `query:"tail" minimum:"0" maximum:"16777216" default:"65536"`
	}) (*struct {
		ContentType string `header:"Content-Type"`
		Body        []byte
	}, error) {
		b, err := r.Logs(ctx, caller(ctx), in.ID, in.N, in.Tail)
		if err != nil {
			return nil, apiError(err)
		}
		return &struct {
			ContentType string `header:"Content-Type"`
			Body        []byte
		}{ContentType: "text/plain; charset=utf-8", Body: b}, nil
	})
}

var stateDoc = strings.Join([]string{
	fmt.Sprintf("`%s` accepted, not placed yet", api.StateRequested),
	fmt.Sprintf("`%s` no cluster or node fits (reason says why; retried)", api.StateUnschedulable),
	fmt.Sprintf("`%s` placed on a cluster", api.StateScheduled),
	fmt.Sprintf("`%s` placed on a node", api.StateNodeScheduled),
	fmt.Sprintf("`%s` being started", api.StateStarting),
	fmt.Sprintf("`%s`", api.StateRunning),
	fmt.Sprintf("`%s` one_shot instance exited 0", api.StateCompleted),
	fmt.Sprintf("`%s` exited non-zero or failed to start (restarted with backoff)", api.StateFailed),
	fmt.Sprintf("`%s` its node or cluster stopped reporting (being moved)", api.StateDead),
}, "; ")

func (r *Root) registerInfra(a huma.API) {
	tags := []string{"infrastructure"}
	huma.Register(a, huma.Operation{
		OperationID: "list-clusters", Method: http.MethodGet, Path: "/api/clusters/", Tags: tags,
		Summary: "List clusters", Security: secured,
	}, func(ctx context.Context, _ *struct{}) (*struct{ Body []api.Cluster }, error) {
		return &struct{ Body []api.Cluster }{Body: r.Clusters(false)}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "list-active-clusters", Method: http.MethodGet, Path: "/api/clusters/active", Tags: tags,
		Summary: "List active clusters with aggregated resources", Security: secured,
	}, func(ctx context.Context, _ *struct{}) (*struct{ Body []api.Cluster }, error) {
		return &struct{ Body []api.Cluster }{Body: r.Clusters(true)}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "list-nodes", Method: http.MethodGet, Path: "/api/nodes/", Tags: tags,
		Summary: "List the nodes of every cluster", Security: secured,
	}, func(ctx context.Context, _ *struct{}) (*struct{ Body []api.Node }, error) {
		return &struct{ Body []api.Node }{Body: r.Nodes()}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "list-events", Method: http.MethodGet, Path: "/api/events", Tags: tags,
		Summary: "List node events", Security: secured,
		Description: "Resource-pressure transitions of nodes (normal, limited, tainted) and the actions taken (limit, taint, evict, restore), " +
			"with the metric, value and threshold that caused them; the most recent 100 per cluster, oldest first.",
	}, func(ctx context.Context, _ *struct{}) (*struct{ Body []api.Event }, error) {
		return &struct{ Body []api.Event }{Body: r.Events()}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "control-node", Method: http.MethodPost, Path: "/api/nodes/{id}/{op}", Tags: tags,
		Summary: "Cordon, uncordon or drain a node (Admin)", Security: secured,
		Description: "`cordon`: no new instances are placed on the node. `drain`: cordon, and move the instances it runs " +
			"to other nodes of its cluster (each is stopped with SIGTERM and its grace period, then started elsewhere). " +
			"`uncordon`: undo both. `id` may be the node's id or name.",
	}, func(ctx context.Context, in *struct {
		ID string `path:"id" maxLength:"253"`
		Op string `path:"op" enum:"cordon,uncordon,drain"`
	}) (*struct{ Body api.Node }, error) {
		if err := requireAdmin(ctx); err != nil {
			return nil, err
		}
		n, err := r.ControlNode(in.ID, in.Op)
		if err != nil {
			return nil, apiError(err)
		}
		return &struct{ Body api.Node }{Body: n}, nil
	})
}

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

// serviceView is the input of GET /api/service/{id}: Oakestra's clients read
// each instance's log tail in the view (the default); Hedge's own client,
// which polls the view while it waits, asks without them, since fetching
// every instance's tail from its worker is what a view costs most.
type serviceView struct {
	ID   string `path:"id" maxLength:"64"`
	Logs bool   `query:"logs" default:"true" doc:"include each instance's log tail (instance_list[n].logs)"`
}

type instancePath struct {
	ID string `path:"id" maxLength:"64"`
	N  int    `path:"n" minimum:"0"`
}

// appUpdateBody is what PUT /api/application/{id} reads of the body.
type appUpdateBody struct {
	// The dashboard sends the whole record back; other fields are ignored.
	_           struct{} `json:"-" additionalProperties:"true"`
	Name        string   `json:"application_name,omitempty" maxLength:"64"`
	Namespace   string   `json:"application_namespace,omitempty" maxLength:"64"`
	Description string   `json:"application_desc,omitempty" maxLength:"4096"`
}

// messageOutput is the answer of every DELETE: 200 with {"message": ...},
// which Oakestra's CLI expects.
type messageOutput struct{ Body api.Message }

func message(format string, args ...any) *messageOutput {
	return &messageOutput{Body: api.Message{Message: fmt.Sprintf(format, args...)}}
}

type scaleBody struct {
	Instances int `json:"instances" minimum:"0" maximum:"1000"`
}

func (r *Root) registerApps(a huma.API) {
	tags := []string{"applications"}
	huma.Register(a, huma.Operation{
		OperationID: "submit-application", Method: http.MethodPost, Path: "/api/application/", Tags: tags,
		Summary: "Register (or deploy) applications from an SLA", Security: secured, MaxBodyBytes: maxSLA, SkipValidateBody: true,
		Description: "Takes an Oakestra SLA v2.0 deployment descriptor, as JSON or (with Content-Type application/yaml) YAML. " +
			"Every problem is listed in `errors` with its field path.\n\n" +
			"As in Oakestra, the services are registered and a microservice without Hedge's `instances` field runs no instance " +
			"until `POST /api/service/{id}/instance` deploys one; the answer is the caller's applications (a JSON array). " +
			"With `deploy=true` (Hedge's CLI and Go client), every microservice starts `instances` instances (default 1) at once " +
			"and the answer is `{applications, services}`: what the SLA created.",
	}, func(ctx context.Context, in *struct {
		Deploy  bool   `query:"deploy" doc:"start every microservice's instances (default 1) now, and answer {applications, services}"`
		RawBody []byte `contentType:"application/json"`
	}) (*struct{ Body any }, error) {
		doc, err := sla.Parse(in.RawBody)
		if err != nil {
			return nil, apiError(err)
		}
		if !in.Deploy {
			given := instancesGiven(in.RawBody)
			for i := range doc.Applications {
				for j := range doc.Applications[i].Services {
					if !given.app(i, j) {
						doc.Applications[i].Services[j].Instances = 0
					}
				}
			}
		}
		apps, svcs, err := r.Submit(ctx, caller(ctx), doc, in.Deploy)
		if err != nil {
			return nil, apiError(err)
		}
		if in.Deploy {
			return &struct{ Body any }{Body: api.SubmitResult{Applications: apps, Services: svcs}}, nil
		}
		return &struct{ Body any }{Body: r.Applications(caller(ctx))}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "list-applications", Method: http.MethodGet, Path: "/api/applications/", Tags: tags,
		Summary: "List your applications", Security: secured,
	}, func(ctx context.Context, _ *struct{}) (*struct{ Body []api.Application }, error) {
		return &struct{ Body []api.Application }{Body: r.Applications(caller(ctx))}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "list-user-applications", Method: http.MethodGet, Path: "/api/applications/{userid}", Tags: tags,
		Summary: "List a user's applications", Security: secured,
		Description: "Oakestra's dashboard asks for the applications of the user it logged in as. Users see only their own; Admin sees anyone's.",
	}, func(ctx context.Context, in *struct {
		UserID string `path:"userid" maxLength:"64"`
	}) (*struct{ Body []api.Application }, error) {
		who := caller(ctx)
		if !who.Admin && who.User != in.UserID {
			return nil, huma.Error403Forbidden("userid: you may list only your own applications")
		}
		return &struct{ Body []api.Application }{Body: r.Applications(Caller{User: in.UserID, UserID: r.userID(in.UserID)})}, nil
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
		OperationID: "update-application", Method: http.MethodPut, Path: "/api/application/{appid}", Tags: tags,
		Summary: "Update an application", Security: secured,
		Description: "Changes application_desc, and application_name or application_namespace while the application has no services. " +
			"Other fields of the body (as Oakestra's dashboard sends the whole record) are ignored.",
	}, func(ctx context.Context, in *struct {
		AppID string `path:"appid" maxLength:"64"`
		Body  appUpdateBody
	}) (*struct{ Body api.Application }, error) {
		app, err := r.UpdateApplication(caller(ctx), in.AppID, in.Body.Name, in.Body.Namespace, in.Body.Description)
		if err != nil {
			return nil, apiError(err)
		}
		return &struct{ Body api.Application }{Body: app}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "delete-application", Method: http.MethodDelete, Path: "/api/application/{appid}", Tags: tags,
		Summary: "Delete an application", Description: "Removes the application and its services; their instances are stopped.", Security: secured,
	}, func(ctx context.Context, in *appIDPath) (*messageOutput, error) {
		if err := r.DeleteApplication(caller(ctx), in.AppID); err != nil {
			return nil, apiError(err)
		}
		return message("application %s deleted", in.AppID), nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "add-services", Method: http.MethodPost, Path: "/api/service/", Tags: []string{"services"},
		Summary: "Add services to an application", Security: secured, MaxBodyBytes: maxSLA, SkipValidateBody: true,
		Description: "Body: `{\"applicationID\": \"...\", \"microservices\": [...]}` with microservices as in an SLA " +
			"(`applicationID` may instead be given as a query parameter), or a whole SLA whose `applications[0].applicationID` " +
			"names the application, as Oakestra's dashboard sends. As for an SLA, a microservice without `instances` is only " +
			"registered unless `deploy=true`.",
	}, func(ctx context.Context, in *struct {
		Deploy        bool   `query:"deploy" doc:"start every microservice's instances (default 1) now"`
		ApplicationID string `query:"applicationID" maxLength:"64" doc:"the application, when the body does not name it"`
		RawBody       []byte `contentType:"application/json"`
	}) (*struct{ Body []api.Service }, error) {
		specs, appID, err := parseServicesBody(in.RawBody, in.Deploy)
		if err != nil {
			return nil, err
		}
		if appID == "" {
			appID = in.ApplicationID
		}
		if appID == "" {
			return nil, huma.Error400BadRequest("applicationID: required (in the body, as applications[0].applicationID, or as a query parameter)",
				&huma.ErrorDetail{Location: "applicationID", Message: "required"})
		}
		svcs, err := r.AddServices(ctx, caller(ctx), appID, specs, in.Deploy)
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
	}, func(ctx context.Context, in *serviceView) (*struct{ Body api.Service }, error) {
		s, err := r.Service(caller(ctx), in.ID)
		if err != nil {
			return nil, apiError(err)
		}
		if !in.Logs {
			return &struct{ Body api.Service }{Body: s}, nil
		}
		return &struct{ Body api.Service }{Body: r.withLogs(ctx, caller(ctx), s)}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "update-service", Method: http.MethodPut, Path: "/api/service/{id}", Tags: stags,
		Summary: "Update a service", Security: secured, MaxBodyBytes: maxSLA, SkipValidateBody: true,
		Description: "Body: the microservice as in an SLA, or the service record as GET answers it (its read-only fields, " +
			"such as `_id`, `instance_list` and `status`, are ignored). The service keeps its number of instances; " +
			"running ones are replaced by instances of the new spec.",
	}, func(ctx context.Context, in *struct {
		ID      string `path:"id" maxLength:"64"`
		RawBody []byte `contentType:"application/json"`
	}) (*struct{ Body api.Service }, error) {
		spec, err := parseServiceUpdate(in.RawBody)
		if err != nil {
			return nil, err
		}
		s, err := r.UpdateService(caller(ctx), in.ID, spec)
		if err != nil {
			return nil, apiError(err)
		}
		return &struct{ Body api.Service }{Body: s}, nil
	})
	huma.Register(a, huma.Operation{
		OperationID: "delete-service", Method: http.MethodDelete, Path: "/api/service/{id}", Tags: stags,
		Summary: "Delete a service", Security: secured,
	}, func(ctx context.Context, in *serviceIDPath) (*messageOutput, error) {
		if err := r.DeleteService(caller(ctx), in.ID); err != nil {
			return nil, apiError(err)
		}
		return message("service %s deleted", in.ID), nil
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
	}, func(ctx context.Context, in *instancePath) (*messageOutput, error) {
		if err := r.DeleteInstance(caller(ctx), in.ID, in.N); err != nil {
			return nil, apiError(err)
		}
		return message("instance %d of service %s deleted", in.N, in.ID), nil
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

package root

import (
	"encoding/json"
	"fmt"

	"github.com/danielgtaylor/huma/v2"
	"go.yaml.in/yaml/v3"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/sla"
)

// instancesPresence says which microservices of a descriptor carry Hedge's
// `instances` field: Oakestra's workflow registers the others without
// starting any instance.
type instancesPresence struct {
	Applications []struct {
		Microservices []map[string]any `yaml:"microservices"`
	} `yaml:"applications"`
	Microservices []map[string]any `yaml:"microservices"`
}

// instancesGiven reads a descriptor that sla already accepted (JSON is YAML
// too) for the presence of `instances`; a descriptor it cannot read gives
// none.
func instancesGiven(raw []byte) instancesPresence {
	var p instancesPresence
	if err := yaml.Unmarshal(raw, &p); err != nil {
		return instancesPresence{}
	}
	return p
}

func (p instancesPresence) app(i, j int) bool {
	if i >= len(p.Applications) || j >= len(p.Applications[i].Microservices) {
		return false
	}
	_, ok := p.Applications[i].Microservices[j]["instances"]
	return ok
}

func (p instancesPresence) list(j int) bool {
	if j >= len(p.Microservices) {
		return false
	}
	_, ok := p.Microservices[j]["instances"]
	return ok
}

// parseServicesBody reads the body of POST /api/service/: the list form
// {"applicationID", "microservices"}, or a whole SLA whose first application
// names the application by applicationID (Oakestra's dashboard). Without
// deploy, microservices without `instances` get none.
func parseServicesBody(raw []byte, deploy bool) ([]api.ServiceSpec, string, error) {
	var probe map[string]any
	_ = yaml.Unmarshal(raw, &probe) // sla reports what is wrong with the body
	_, whole := probe["applications"]
	if _, list := probe["microservices"]; whole && !list {
		doc, err := sla.Parse(raw)
		if err != nil {
			return nil, "", apiError(err)
		}
		if len(doc.Applications) != 1 {
			return nil, "", huma.Error400BadRequest("applications: must hold exactly one application, the one to add services to",
				&huma.ErrorDetail{Location: "applications", Message: fmt.Sprintf("has %d applications, want 1", len(doc.Applications))})
		}
		app := doc.Applications[0]
		if app.ID == "" {
			return nil, "", huma.Error400BadRequest("applications[0].applicationID: required: the application to add the services to",
				&huma.ErrorDetail{Location: "applications[0].applicationID", Message: "required"})
		}
		if len(app.Services) == 0 {
			return nil, "", huma.Error400BadRequest("applications[0].microservices: must list at least one microservice",
				&huma.ErrorDetail{Location: "applications[0].microservices", Message: "must list at least one microservice"})
		}
		if !deploy {
			given := instancesGiven(raw)
			for j := range app.Services {
				if !given.app(0, j) {
					app.Services[j].Instances = 0
				}
			}
		}
		return app.Services, app.ID, nil
	}
	specs, appID, err := sla.ParseServices(raw)
	if err != nil {
		return nil, "", apiError(err)
	}
	if !deploy {
		given := instancesGiven(raw)
		for j := range specs {
			if !given.list(j) {
				specs[j].Instances = 0
			}
		}
	}
	return specs, appID, nil
}

// readOnlyServiceFields are the fields of a service record, as GET answers
// it, that PUT /api/service/{id} ignores: the dashboard sends the record it
// read back with its changes.
var readOnlyServiceFields = []string{
	"$schema", "_id", "microserviceID", "applicationID", "app_name", "app_ns", "owner", "spec",
	"instance_list", "created_at", "status", "RR_ip", "userId", "owner_id", "next_number",
	"closest_ip", "rr_ip_v6", "names",
}

// parseServiceUpdate reads the body of PUT /api/service/{id} and validates
// it as one microservice of an SLA.
func parseServiceUpdate(raw []byte) (api.ServiceSpec, error) {
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return api.ServiceSpec{}, huma.Error400BadRequest("body: must be a JSON object: the microservice as in an SLA")
	}
	for _, f := range readOnlyServiceFields {
		delete(obj, f)
	}
	wrapped, err := json.Marshal(map[string]any{"microservices": []any{obj}})
	if err != nil {
		return api.ServiceSpec{}, huma.Error400BadRequest("body: " + err.Error())
	}
	specs, _, err := sla.ParseServices(wrapped)
	if err != nil {
		return api.ServiceSpec{}, apiError(err)
	}
	return specs[0], nil
}

package sla

import (
	"encoding/json"
	"fmt"

	"github.com/hedgeorch/hedge/api"
)

// Document is a whole SLA: one or more applications to deploy for a
// customer. Marshalled to JSON it is again an SLA that Parse accepts.
type Document struct {
	// SLAVersion is always "v2.0" after Parse ("v2" is accepted as input).
	SLAVersion   string        `json:"sla_version"`
	CustomerID   string        `json:"customerID"`
	Applications []Application `json:"applications"`
}

// Application is one application of an SLA with its microservices.
type Application struct {
	// ID is the applicationID, empty for a new deployment; Oakestra uses it to
	// edit an existing one.
	ID          string
	Name        string
	Namespace   string
	Description string
	// Services are the microservices in the order written. Their Instances
	// is 1 unless the descriptor said otherwise.
	Services []api.ServiceSpec
}

const slaVersion = "v2.0"

var (
	documentFields    = []string{"sla_version", "customerID", "applications"}
	applicationFields = []string{"applicationID", "application_name", "application_namespace", "application_desc", "microservices"}
	servicesFields    = []string{"applicationID", "microservices"}
)

// Parse reads a whole SLA, JSON or YAML. On any problem it returns nil and a
// *ValidationError listing all of them.
func Parse(data []byte) (*Document, error) {
	tree, problems, ok := decode(data)
	w := newWalker(problems)
	if !ok {
		return nil, newValidationError(w.Problems())
	}
	doc := w.document(tree)
	if len(w.Problems()) > 0 {
		return nil, newValidationError(w.Problems())
	}
	return doc, nil
}

// ParseServices reads the form that adds microservices to an existing
// application, {"applicationID": "...", "microservices": [...]} (the
// applicationID is optional; it is returned as written). Field paths in
// problems start at "microservices[i]".
func ParseServices(data []byte) ([]api.ServiceSpec, string, error) {
	tree, problems, ok := decode(data)
	w := newWalker(problems)
	if !ok {
		return nil, "", newValidationError(w.Problems())
	}
	services, appID := w.serviceList(tree)
	if len(w.Problems()) > 0 {
		return nil, "", newValidationError(w.Problems())
	}
	return services, appID, nil
}

func (w *walker) document(tree any) *Document {
	o, ok := tree.(*object)
	if !ok {
		w.Addf("", "must be an object with sla_version, customerID and applications, got %s", describe(tree))
		return nil
	}
	if o.Has("microservices") && !o.Has("applications") {
		w.Addf("", "this is a list of microservices to add to an existing application, not a whole SLA")
		return nil
	}
	w.CheckFields("", o, documentFields)

	doc := &Document{SLAVersion: slaVersion}
	switch version, ok := w.Str("sla_version", o.Get("sla_version")); {
	case !ok && !w.Bad("sla_version"):
		w.Addf("sla_version", "required (%q)", slaVersion)
	case ok && version != "v2.0" && version != "v2":
		w.Addf("sla_version", "must be %q, got %s", slaVersion, quote(version))
	}
	doc.CustomerID, _ = w.Str("customerID", o.Get("customerID"))

	apps, ok := w.List("applications", o.Get("applications"))
	switch {
	case !ok && !w.Bad("applications"):
		w.Addf("applications", "required")
	case ok && len(apps) == 0:
		w.Addf("applications", "must list at least one application")
	}
	seen := map[[2]string]int{}
	for i, item := range apps {
		path := index("applications", i)
		ao, ok := item.(*object)
		if !ok {
			w.Addf(path, "must be an object, got %s", describe(item))
			continue
		}
		app := w.application(path, ao)
		if app.Name != "" && app.Namespace != "" {
			key := [2]string{app.Name, app.Namespace}
			if j, dup := seen[key]; dup {
				w.Addf(join(path, "application_name"), "application %s.%s is already defined by applications[%d]", app.Name, app.Namespace, j)
			}
			seen[key] = i
		}
		doc.Applications = append(doc.Applications, app)
	}
	if len(apps) > MaxApplications {
		w.Addf("applications", "at most %d applications per SLA, got %d", MaxApplications, len(apps))
	}
	var all []api.ServiceSpec
	for _, a := range doc.Applications {
		all = append(all, a.Services...)
	}
	w.checkTotals("applications", all)
	return doc
}

// Bounds on one SLA as a whole, so that one request cannot ask the root to
// write (and reload at every start) an unbounded number of records. Single
// fields are bounded in validate.go; a service has at most 1000 instances.
const (
	MaxApplications   = 100
	MaxMicroservices  = 100
	MaxTotalInstances = 1000
)

// checkTotals reports services (all those of one SLA, or of one list to
// add) beyond MaxMicroservices, or asking for more than MaxTotalInstances
// instances together.
func (w *walker) checkTotals(field string, services []api.ServiceSpec) {
	if len(services) > MaxMicroservices {
		w.Addf(field, "at most %d microservices per SLA, got %d", MaxMicroservices, len(services))
	}
	total := 0
	for _, s := range services {
		if s.Instances > 0 && s.Instances <= maxInstances { // beyond: reported on the service
			total += s.Instances
		}
	}
	if total > MaxTotalInstances {
		w.Addf(field, "at most %d instances in total per SLA, got %d", MaxTotalInstances, total)
	}
}

func (w *walker) application(path string, o *object) Application {
	w.CheckFields(path, o, applicationFields)
	at := func(name string) (string, any) { return join(path, name), o.Get(name) }
	var app Application
	app.ID, _ = w.Str(at("applicationID"))
	app.Name, _ = w.Str(at("application_name"))
	app.Namespace, _ = w.Str(at("application_namespace"))
	app.Description, _ = w.Str(at("application_desc"))
	for _, f := range []struct{ field, value string }{
		{"application_name", app.Name},
		{"application_namespace", app.Namespace},
	} {
		if msg := checkName(f.value); msg != "" {
			w.AddChecked([]Problem{{Field: join(path, f.field), Message: msg}})
		}
	}
	// An application without microservices is allowed: Oakestra's dashboard
	// creates the application first and adds services to it later.
	items, _ := w.List(at("microservices"))
	app.Services = w.services(path, items, true)
	return app
}

func (w *walker) serviceList(tree any) ([]api.ServiceSpec, string) {
	o, ok := tree.(*object)
	if !ok {
		w.Addf("", "must be an object with microservices, got %s", describe(tree))
		return nil, ""
	}
	if o.Has("applications") && !o.Has("microservices") {
		w.Addf("", "this is a whole SLA, not a list of microservices to add to an application")
		return nil, ""
	}
	w.CheckFields("", o, servicesFields)
	appID, _ := w.Str("applicationID", o.Get("applicationID"))
	items, ok := w.List("microservices", o.Get("microservices"))
	switch {
	case !ok && !w.Bad("microservices"):
		w.Addf("microservices", "required")
	case ok && len(items) == 0:
		w.Addf("microservices", "must list at least one microservice")
	}
	// The services are added to an application that may already have
	// others, which a target_microservice may name.
	services := w.services("", items, false)
	w.checkTotals("microservices", services)
	return services, appID
}

// services reads and validates the list of microservices of the application
// at app ("" for the list form): their names must be unique, and their
// dataflows must name microservices of the list and form no cycle (see
// ValidateConnectivity). complete is false when the list is only some of the
// application's microservices; then a target_microservice not in it is not
// reported.
func (w *walker) services(app string, items []any, complete bool) []api.ServiceSpec {
	path := join(app, "microservices")
	var out []api.ServiceSpec
	var fields []string
	seen := map[string]int{}
	for i, item := range items {
		field := index(path, i)
		o, ok := w.ObjectAt(field, item)
		if !ok {
			continue
		}
		s := w.service(field, o)
		w.AddChecked(ValidateService(field, &s))
		if s.Name != "" {
			if j, dup := seen[s.Name]; dup && !w.Covered(join(field, "microservice_name")) {
				w.Addf(join(field, "microservice_name"), "duplicate microservice name %s (also %s)", quote(s.Name), index("microservices", j))
			} else if !dup {
				seen[s.Name] = i
			}
		}
		out = append(out, s)
		fields = append(fields, field)
	}
	w.AddChecked(checkDataflows(app, fields, out, complete))
	return out
}

// wireService is a ServiceSpec as written in an SLA. It always writes
// instances, so that 0 survives a round trip (ServiceSpec omits it when 0,
// and a descriptor without it means 1).
type wireService struct {
	api.ServiceSpec
	Instances int `json:"instances"`
}

// MarshalJSON writes the application in SLA form.
func (a Application) MarshalJSON() ([]byte, error) {
	services := make([]wireService, len(a.Services))
	for i, s := range a.Services {
		services[i] = wireService{ServiceSpec: s, Instances: s.Instances}
	}
	data, err := json.Marshal(struct {
		ID          string        `json:"applicationID"`
		Name        string        `json:"application_name"`
		Namespace   string        `json:"application_namespace"`
		Description string        `json:"application_desc"`
		Services    []wireService `json:"microservices"`
	}{a.ID, a.Name, a.Namespace, a.Description, services})
	if err != nil {
		return nil, fmt.Errorf("marshal application %s: %w", a.Name, err)
	}
	return data, nil
}

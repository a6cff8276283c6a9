package root

import (
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hedgeorch/hedge/api"
)

// TestOpenAPIMatchesAPITypes keeps the served OpenAPI document and the Go
// client's types (package api) from drifting apart: for every operation
// the client calls, the JSON fields of the api type it decodes (or sends)
// are exactly the properties of the schema the server declares.
func TestOpenAPIMatchesAPITypes(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	status, body := h.do("GET", "/api/openapi.json", "", "", nil)
	if status != 200 {
		t.Fatalf("GET /api/openapi.json: %d", status)
	}
	var doc openAPIDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("OpenAPI document: %v", err)
	}
	ops := doc.operations()

	responses := []struct {
		op   string
		want any
	}{
		{"login", api.TokenPair{}}, {"refresh", api.TokenPair{}}, {"health", api.Health{}},
		{"create-user", api.User{}}, {"list-users", api.User{}}, {"register-user", api.User{}},
		{"get-user", api.User{}}, {"update-user", api.User{}}, {"get-permission", api.Permission{}},
		{"change-password", api.Message{}}, {"delete-user", api.Message{}},
		{"list-organizations", api.Organization{}}, {"create-organization", api.Organization{}},
		{"update-organization", api.Organization{}}, {"delete-organization", api.Message{}},
		{"create-join-token", api.JoinToken{}},
		{"list-applications", api.Application{}}, {"list-user-applications", api.Application{}},
		{"get-application", api.Application{}}, {"update-application", api.Application{}},
		{"delete-application", api.Message{}},
		{"add-services", api.Service{}}, {"list-services", api.Service{}}, {"list-app-services", api.Service{}},
		{"get-service", api.Service{}}, {"update-service", api.Service{}}, {"scale-service", api.Service{}},
		{"delete-service", api.Message{}}, {"add-instance", api.Instance{}}, {"delete-instance", api.Message{}},
		{"list-clusters", api.Cluster{}}, {"list-active-clusters", api.Cluster{}},
		{"list-nodes", api.Node{}}, {"control-node", api.Node{}}, {"list-events", api.Event{}},
		{"list-audit", api.AuditPage{}},
		{"set-namespace-isolation", api.NamespaceIsolation{}}, {"list-namespace-isolation", api.NamespaceIsolation{}},
	}
	for _, tt := range responses {
		t.Run("answer of "+tt.op, func(t *testing.T) {
			op, ok := ops[tt.op]
			if !ok {
				t.Fatalf("no operation %s in the document", tt.op)
			}
			schema := doc.resolve(op.Responses["200"].Content["application/json"].Schema)
			compareFields(t, tt.want, schema)
		})
	}
	requests := []struct {
		op   string
		want any
	}{
		{"login", api.LoginRequest{}}, {"refresh", api.RefreshRequest{}},
		{"create-user", api.CreateUserRequest{}}, {"create-join-token", api.CreateTokenRequest{}},
		{"scale-service", api.ScaleRequest{}}, {"register-user", api.RegisterRequest{}},
		{"update-user", api.UpdateUserRequest{}}, {"change-password", api.ChangePasswordRequest{}},
		{"create-organization", api.OrganizationRequest{}}, {"update-organization", api.OrganizationRequest{}},
		{"set-namespace-isolation", api.IsolationRequest{}},
	}
	for _, tt := range requests {
		t.Run("body of "+tt.op, func(t *testing.T) {
			op, ok := ops[tt.op]
			if !ok || op.RequestBody == nil {
				t.Fatalf("no operation %s with a body in the document", tt.op)
			}
			compareFields(t, tt.want, doc.resolve(op.RequestBody.Content["application/json"].Schema))
		})
	}
}

type openAPISchema struct {
	Ref        string                    `json:"$ref"`
	Type       any                       `json:"type"`
	Items      *openAPISchema            `json:"items"`
	Properties map[string]*openAPISchema `json:"properties"`
}

type openAPIContent map[string]struct {
	Schema *openAPISchema `json:"schema"`
}

type openAPIOp struct {
	OperationID string `json:"operationId"`
	RequestBody *struct {
		Content openAPIContent `json:"content"`
	} `json:"requestBody"`
	Responses map[string]struct {
		Content openAPIContent `json:"content"`
	} `json:"responses"`
}

type openAPIDoc struct {
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]*openAPISchema `json:"schemas"`
	} `json:"components"`
}

func (d *openAPIDoc) operations() map[string]openAPIOp {
	out := map[string]openAPIOp{}
	for _, methods := range d.Paths {
		for _, raw := range methods {
			var op openAPIOp
			if json.Unmarshal(raw, &op) == nil && op.OperationID != "" {
				out[op.OperationID] = op
			}
		}
	}
	return out
}

// resolve follows $ref and, for arrays, goes to the items' schema.
func (d *openAPIDoc) resolve(s *openAPISchema) *openAPISchema {
	for s != nil {
		switch {
		case s.Ref != "":
			s = d.Components.Schemas[strings.TrimPrefix(s.Ref, "#/components/schemas/")]
		case s.Items != nil:
			s = s.Items
		default:
			return s
		}
	}
	return nil
}

// jsonFields lists the JSON names of a struct's fields, embedded structs
// flattened, as encoding/json writes them.
func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func compareFields(t *testing.T, v any, s *openAPISchema) {
	t.Helper()
	if s == nil {
		t.Fatal("no JSON schema")
	}
	var props []string
	for p := range s.Properties {
		if p != "$schema" {
			props = append(props, p)
		}
	}
	sort.Strings(props)
	want := jsonFields(reflect.TypeOf(v))
	if !slices.Equal(props, want) {
		var onlyAPI, onlySchema []string
		for _, f := range want {
			if !slices.Contains(props, f) {
				onlyAPI = append(onlyAPI, f)
			}
		}
		for _, p := range props {
			if !slices.Contains(want, p) {
				onlySchema = append(onlySchema, p)
			}
		}
		t.Errorf("%T and the served schema differ: only in the api type %v, only in the schema %v", v, onlyAPI, onlySchema)
	}
}

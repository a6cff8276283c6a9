package link

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"

	"github.com/hedgeorch/hedge/api"
)

// Assignments go on the wire with each distinct service spec once: the
// items of one service at one generation nearly always share it, and a spec
// is most of an item's size (a service of 10,000 instances would otherwise
// carry the same spec 10,000 times in every revision). MarshalJSON writes
// that form, UnmarshalJSON reads it and the plain one (items with their
// spec inline, as upper tiers from before this form send); the link server
// sends the plain form to peers that do not ask for the shared one
// (specs=shared), so older peers keep working.

// wireService is what the items of one service at one generation with one
// spec share on the wire.
type wireService struct {
	ServiceID  string          `json:"service_id"`
	AppName    string          `json:"app_name"`
	Generation uint64          `json:"generation"`
	Spec       api.ServiceSpec `json:"spec"`
}

// wireAssignment is an item on the wire: either Service, an index into the
// message's services, or (plain form) every field inline.
type wireAssignment struct {
	InstanceID string         `json:"instance_id"`
	Number     int            `json:"number"`
	Service    *int           `json:"service,omitempty"`
	Limit      *api.Resources `json:"limit,omitempty"`

	ServiceID  string           `json:"service_id,omitempty"`
	AppName    string           `json:"app_name,omitempty"`
	Generation uint64           `json:"generation,omitempty"`
	Spec       *api.ServiceSpec `json:"spec,omitempty"`
}

// wireAssignments is Assignments on the wire.
type wireAssignments struct {
	Revision uint64                 `json:"revision"`
	Services []wireService          `json:"services,omitempty"`
	Items    []wireAssignment       `json:"items"`
	Nodes    map[string]NodeControl `json:"nodes,omitempty"`
}

// plainAssignments encodes as Assignments did before MarshalJSON: every
// item with its spec.
type plainAssignments Assignments

// MarshalJSON writes a with each distinct (service, generation, spec) once.
func (a Assignments) MarshalJSON() ([]byte, error) {
	type key struct {
		service, app string
		gen          uint64
	}
	w := wireAssignments{Revision: a.Revision, Nodes: a.Nodes}
	if a.Items != nil {
		w.Items = make([]wireAssignment, len(a.Items))
	}
	refs := make([]int, len(a.Items)) // what the items' Service point to
	groups := map[key][]int{}         // indexes into w.Services
	ref := func(it *Assignment) int {
		k := key{it.ServiceID, it.AppName, it.Generation}
		for _, i := range groups[k] {
			if reflect.DeepEqual(w.Services[i].Spec, it.Spec) {
				return i
			}
		}
		w.Services = append(w.Services, wireService{ServiceID: it.ServiceID, AppName: it.AppName, Generation: it.Generation, Spec: it.Spec})
		groups[k] = append(groups[k], len(w.Services)-1)
		return len(w.Services) - 1
	}
	last := -1
	for i := range a.Items {
		it := &a.Items[i]
		s := last
		// Items come sorted by instance, so a service's often follow each
		// other: try the last one first.
		if s < 0 || w.Services[s].ServiceID != it.ServiceID || w.Services[s].AppName != it.AppName ||
			w.Services[s].Generation != it.Generation || !reflect.DeepEqual(w.Services[s].Spec, it.Spec) {
			s = ref(it)
		}
		last, refs[i] = s, s
		w.Items[i] = wireAssignment{InstanceID: it.InstanceID, Number: it.Number, Service: &refs[i], Limit: it.Limit}
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads Assignments in either form. Items that shared a spec
// on the wire share its slices and maps (clipped, so an append copies):
// treat an item's Spec as read-only.
func (a *Assignments) UnmarshalJSON(b []byte) error {
	var w wireAssignments
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	for i := range w.Services {
		sp := &w.Services[i].Spec
		sp.Cmd, sp.Args, sp.Environment, sp.AddedFiles, sp.Arch = slices.Clip(sp.Cmd), slices.Clip(sp.Args), slices.Clip(sp.Environment), slices.Clip(sp.AddedFiles), slices.Clip(sp.Arch)
		sp.Constraints, sp.Connectivity = slices.Clip(sp.Constraints), slices.Clip(sp.Connectivity)
	}
	out := Assignments{Revision: w.Revision, Nodes: w.Nodes}
	if w.Items != nil {
		out.Items = make([]Assignment, len(w.Items))
	}
	for i, it := range w.Items {
		item := Assignment{InstanceID: it.InstanceID, Number: it.Number, Limit: it.Limit}
		switch {
		case it.Service != nil:
			s := *it.Service
			if s < 0 || s >= len(w.Services) {
				return fmt.Errorf("items[%d].service: %d, want 0 to %d", i, s, len(w.Services)-1)
			}
			ws := &w.Services[s]
			item.ServiceID, item.AppName, item.Generation, item.Spec = ws.ServiceID, ws.AppName, ws.Generation, ws.Spec
		default:
			item.ServiceID, item.AppName, item.Generation = it.ServiceID, it.AppName, it.Generation
			if it.Spec != nil {
				item.Spec = *it.Spec
			}
		}
		out.Items[i] = item
	}
	*a = out
	return nil
}

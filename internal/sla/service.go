package sla

import (
	"slices"
	"strconv"

	"github.com/hedgeorch/hedge/api"
)

// serviceFields are the microservice fields Oakestra documents, plus Hedge's
// instances.
var serviceFields = []string{
	"microserviceID", "microservice_name", "microservice_namespace",
	"virtualization", "code", "cmd", "args", "environment",
	"memory", "vcpus", "vgpus", "vtpus", "bandwidth_in", "bandwidth_out", "storage",
	"state", "port", "addresses", "added_files", "constraints",
	"one_shot", "privileged", "arch", "volumes", "connectivity",
	"instances", "restart_policy", "node_selector", "placement_policy",
	"priority", "pressure_exempt", "raw",
}

var addressFields = []string{"rr_ip", "rr_ip_v6", "closest_ip"}

// constraintFields are the fields each constraint type takes.
var constraintFields = map[string][]string{
	"direct":   {"type", "cluster", "node"},
	"clusters": {"type", "allowed"},
	"latency":  {"type", "area", "threshold"},
	"geo":      {"type", "location", "threshold"},
	"addons":   {"type", "needs"},
}

// service reads one microservice. It only checks types and field names;
// ValidateService checks the values.
func (w *walker) service(path string, o *object) api.ServiceSpec {
	w.CheckFields(path, o, serviceFields)
	at := func(name string) (string, any) { return join(path, name), o.Get(name) }

	s := api.ServiceSpec{Instances: 1}
	w.Str(at("microserviceID")) // set by the root, not the user; only its type matters
	s.Name, _ = w.Str(at("microservice_name"))
	s.Namespace, _ = w.Str(at("microservice_namespace"))
	s.Virtualization, _ = w.Str(at("virtualization"))
	s.Code, _ = w.Str(at("code"))
	s.Cmd = w.StrList(at("cmd"))
	s.Args = w.StrList(at("args"))
	s.Environment = w.StrList(at("environment"))
	s.MemoryMB, _ = w.Integer(at("memory"))
	s.VCPUs, _ = w.Float(at("vcpus"))
	s.VGPUs, _ = w.Int(at("vgpus"))
	s.VTPUs, _ = w.Int(at("vtpus"))
	s.BandwidthIn, _ = w.Integer(at("bandwidth_in"))
	s.BandwidthOut, _ = w.Integer(at("bandwidth_out"))
	s.Storage, _ = w.Integer(at("storage"))
	s.Port = w.port(at("port"))
	s.AddedFiles = w.StrList(at("added_files"))
	s.OneShot, _ = w.Bool(at("one_shot"))
	s.Privileged, _ = w.Bool(at("privileged"))
	s.Raw, _ = w.Bool(at("raw"))
	s.Arch = w.StrList(at("arch"))
	for i, a := range s.Arch {
		if canonical, ok := NormalizeArch(a); ok {
			s.Arch[i] = canonical
		}
	}
	s.RestartPolicy, _ = w.Str(at("restart_policy"))
	s.PlacementPolicy, _ = w.Str(at("placement_policy"))
	s.Priority, _ = w.Int(at("priority"))
	s.PressureExempt, _ = w.Bool(at("pressure_exempt"))
	s.NodeSelector = w.StringMap(at("node_selector"))
	if n, ok := w.Int(at("instances")); ok {
		s.Instances = n
	}
	// Accepted so that Oakestra descriptors load; not used yet.
	w.List(at("volumes"))
	// "state" is Oakestra's status field echoed back in descriptors; ignored.

	s.Addresses = w.addresses(at("addresses"))
	s.Constraints = w.constraints(at("constraints"))
	s.Connectivity = w.connectivity(at("connectivity"))
	return s
}

func (w *walker) addresses(path string, v any) *api.Addresses {
	o, ok := w.Object(path, v)
	if !ok {
		return nil
	}
	w.CheckFields(path, o, addressFields)
	var a api.Addresses
	a.RRIP, _ = w.Str(join(path, "rr_ip"), o.Get("rr_ip"))
	a.RRIPv6, _ = w.Str(join(path, "rr_ip_v6"), o.Get("rr_ip_v6"))
	a.ClosestIP, _ = w.Str(join(path, "closest_ip"), o.Get("closest_ip"))
	if a == (api.Addresses{}) {
		return nil // "addresses": {} asks for nothing
	}
	return &a
}

func (w *walker) constraints(path string, v any) []api.Constraint {
	items, ok := w.List(path, v)
	if !ok || len(items) == 0 {
		return nil
	}
	out := make([]api.Constraint, 0, len(items))
	for i, item := range items {
		field := index(path, i)
		o, ok := w.ObjectAt(field, item)
		if !ok {
			continue
		}
		var c api.Constraint
		c.Type, _ = w.Str(join(field, "type"), o.Get("type"))
		known, ok := constraintFields[c.Type]
		if !ok {
			// ValidateService reports the missing or unknown type; the
			// other fields mean nothing without it.
			out = append(out, c)
			continue
		}
		w.CheckFields(field, o, known)
		before := len(w.Problems())
		at := func(name string) (string, any) {
			if !slices.Contains(known, name) {
				return join(field, name), nil // reported as unknown above
			}
			return join(field, name), o.Get(name)
		}
		c.Cluster, _ = w.Str(at("cluster"))
		c.Node, _ = w.Str(at("node"))
		c.Allowed = w.StrList(at("allowed"))
		c.Area, _ = w.Str(at("area"))
		c.Location, _ = w.Str(at("location"))
		c.Threshold, _ = w.Float(at("threshold"))
		c.Needs = w.StrList(at("needs"))
		if len(w.Problems()) > before {
			// A field of the wrong type reads as unset; checking the rest
			// would report it a second time as missing.
			continue
		}
		out = append(out, c)
	}
	return out
}

// port reads the port field. Besides Oakestra's string it takes a bare
// number, which is what `port: 80` in YAML gives.
func (w *walker) port(field string, v any) string {
	if n, ok := v.(number); ok {
		p, ok := w.Integer(field, n)
		if !ok {
			return ""
		}
		return strconv.FormatInt(p, 10) // ParsePorts checks the range
	}
	s, _ := w.Str(field, v)
	return s
}

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
	"priority", "pressure_exempt",
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
	w.checkFields(path, o, serviceFields)
	at := func(name string) (string, any) { return join(path, name), o.get(name) }

	s := api.ServiceSpec{Instances: 1}
	w.str(at("microserviceID")) // set by the root, not the user; only its type matters
	s.Name, _ = w.str(at("microservice_name"))
	s.Namespace, _ = w.str(at("microservice_namespace"))
	s.Virtualization, _ = w.str(at("virtualization"))
	s.Code, _ = w.str(at("code"))
	s.Cmd = w.strList(at("cmd"))
	s.Args = w.strList(at("args"))
	s.Environment = w.strList(at("environment"))
	s.MemoryMB, _ = w.integer(at("memory"))
	s.VCPUs, _ = w.float(at("vcpus"))
	s.VGPUs, _ = w.intField(at("vgpus"))
	s.VTPUs, _ = w.intField(at("vtpus"))
	s.BandwidthIn, _ = w.integer(at("bandwidth_in"))
	s.BandwidthOut, _ = w.integer(at("bandwidth_out"))
	s.Storage, _ = w.integer(at("storage"))
	s.Port = w.port(at("port"))
	s.AddedFiles = w.strList(at("added_files"))
	s.OneShot, _ = w.boolean(at("one_shot"))
	s.Privileged, _ = w.boolean(at("privileged"))
	s.Arch = w.strList(at("arch"))
	for i, a := range s.Arch {
		if canonical, ok := NormalizeArch(a); ok {
			s.Arch[i] = canonical
		}
	}
	s.RestartPolicy, _ = w.str(at("restart_policy"))
	s.PlacementPolicy, _ = w.str(at("placement_policy"))
	s.Priority, _ = w.intField(at("priority"))
	s.PressureExempt, _ = w.boolean(at("pressure_exempt"))
	s.NodeSelector = w.stringMap(at("node_selector"))
	if n, ok := w.intField(at("instances")); ok {
		s.Instances = n
	}
	// Accepted so that Oakestra descriptors load; not used yet.
	w.list(at("volumes"))
	// "state" is Oakestra's status field echoed back in descriptors; ignored.

	s.Addresses = w.addresses(at("addresses"))
	s.Constraints = w.constraints(at("constraints"))
	s.Connectivity = w.connectivity(at("connectivity"))
	return s
}

func (w *walker) addresses(path string, v any) *api.Addresses {
	o, ok := w.object(path, v)
	if !ok {
		return nil
	}
	w.checkFields(path, o, addressFields)
	var a api.Addresses
	a.RRIP, _ = w.str(join(path, "rr_ip"), o.get("rr_ip"))
	a.RRIPv6, _ = w.str(join(path, "rr_ip_v6"), o.get("rr_ip_v6"))
	a.ClosestIP, _ = w.str(join(path, "closest_ip"), o.get("closest_ip"))
	if a == (api.Addresses{}) {
		return nil // "addresses": {} asks for nothing
	}
	return &a
}

func (w *walker) constraints(path string, v any) []api.Constraint {
	items, ok := w.list(path, v)
	if !ok || len(items) == 0 {
		return nil
	}
	out := make([]api.Constraint, 0, len(items))
	for i, item := range items {
		field := index(path, i)
		o, ok := w.objectAt(field, item)
		if !ok {
			continue
		}
		var c api.Constraint
		c.Type, _ = w.str(join(field, "type"), o.get("type"))
		known, ok := constraintFields[c.Type]
		if !ok {
			// ValidateService reports the missing or unknown type; the
			// other fields mean nothing without it.
			out = append(out, c)
			continue
		}
		w.checkFields(field, o, known)
		before := len(w.problems)
		at := func(name string) (string, any) {
			if !slices.Contains(known, name) {
				return join(field, name), nil // reported as unknown above
			}
			return join(field, name), o.get(name)
		}
		c.Cluster, _ = w.str(at("cluster"))
		c.Node, _ = w.str(at("node"))
		c.Allowed = w.strList(at("allowed"))
		c.Area, _ = w.str(at("area"))
		c.Location, _ = w.str(at("location"))
		c.Threshold, _ = w.float(at("threshold"))
		c.Needs = w.strList(at("needs"))
		if len(w.problems) > before {
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
		p, ok := w.integer(field, n)
		if !ok {
			return ""
		}
		return strconv.FormatInt(p, 10) // ParsePorts checks the range
	}
	s, _ := w.str(field, v)
	return s
}

// stringMap reads an object whose values are all strings (labels).
func (w *walker) stringMap(path string, v any) map[string]string {
	o, ok := w.object(path, v)
	if !ok || len(o.keys) == 0 {
		return nil
	}
	out := make(map[string]string, len(o.keys))
	for _, k := range o.keys {
		if s, ok := w.str(join(path, k), o.get(k)); ok {
			out[k] = s
		}
	}
	return out
}

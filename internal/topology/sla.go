package topology

import (
	"math"

	"github.com/hedgeorch/hedge/api"
)

// HasDataflows reports whether any microservice of an SLA application
// declares connectivity: such an application is placed as a whole over the
// topology's regions, like a FADepl.
func HasDataflows(specs []api.ServiceSpec) bool {
	for _, s := range specs {
		if len(s.Connectivity) > 0 {
			return true
		}
	}
	return false
}

// FromSLA turns an SLA application with dataflows into the FADepl that
// whole-application placement takes (algorithm DAG), so that SLAs and
// FogAtlas files are placed by the same code:
//   - a microservice runs `instances` replicas of one container with the
//     SLA's code as image and vcpus / memory as requests;
//   - a `region` node selector pins it to that region (FogAtlas'
//     regionrequired), the other selector labels stay node selectors;
//   - each connectivity entry is a dataflow: to another microservice, to an
//     external endpoint, or from one, with its latency (ms) and bandwidth
//     (bit/s) bounds.
//
// The SLA was validated (internal/sla): names are unique and targets exist.
func FromSLA(name string, specs []api.ServiceSpec) *FADepl {
	a := &FADepl{Name: name, Algorithm: AlgorithmDAG}
	endpoints := map[string]bool{}
	addEndpoint := func(id string) {
		if !endpoints[id] {
			endpoints[id] = true
			a.ExternalEndpoints = append(a.ExternalEndpoints, id)
		}
	}
	for _, s := range specs {
		m := Microservice{Name: s.Name, Deployment: Deployment{
			Name:     s.Name,
			Replicas: max(s.Instances, 1),
			Containers: []Container{{Name: s.Name, Image: s.Code,
				CPUMillis: int64(math.Ceil(s.VCPUs * 1000)), MemoryBytes: s.MemoryMB << 20}},
		}}
		for k, v := range s.NodeSelector {
			if k == LabelRegion {
				m.Regions = append(m.Regions, RegionRequirement{RegionRequired: v})
				continue
			}
			if m.Deployment.NodeSelector == nil {
				m.Deployment.NodeSelector = map[string]string{}
			}
			m.Deployment.NodeSelector[k] = v
		}
		a.Microservices = append(a.Microservices, m)
		for _, c := range s.Connectivity {
			f := Dataflow{SourceID: s.Name}
			switch {
			case c.TargetMicroservice != "":
				f.DestinationID = c.TargetMicroservice
			case c.TargetEndpoint != "":
				f.DestinationID = c.TargetEndpoint
				addEndpoint(c.TargetEndpoint)
			case c.SourceEndpoint != "":
				f.SourceID, f.DestinationID = c.SourceEndpoint, s.Name
				addEndpoint(c.SourceEndpoint)
			}
			for _, cc := range c.Constraints {
				switch cc.Type {
				case api.ConLatency:
					f.Latency = cc.Threshold
				case api.ConBandwidth:
					f.BandwidthRequired = int64(math.Ceil(cc.Threshold))
				}
			}
			a.Dataflows = append(a.Dataflows, f)
		}
	}
	return a
}

package pressure

import "github.com/hedgeorch/hedge/api"

// MaxReportedEvents bounds the events a cluster sends up per report.
const MaxReportedEvents = 100

// APIEvents turns the controller's events into the API's, at most the
// newest MaxReportedEvents, tagged with the cluster that recorded them.
func APIEvents(evs []Event, cluster string) []api.Event {
	if len(evs) > MaxReportedEvents {
		evs = evs[len(evs)-MaxReportedEvents:]
	}
	out := make([]api.Event, len(evs))
	for i, e := range evs {
		out[i] = api.Event{At: e.At, Cluster: cluster, Node: e.Node, From: e.From.String(), To: e.To.String(),
			Metric: e.Metric, Value: e.Value, Threshold: e.Threshold, Action: e.Action, Instance: e.Instance, Error: e.Error}
	}
	return out
}

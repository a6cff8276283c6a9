package root

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"net/http"
	"sort"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/sse"

	"github.com/hedgeorch/hedge/internal/sla"
	"github.com/hedgeorch/hedge/internal/topology"
)

// changePoll is how often the change stream compares what the caller sees
// with what it last sent; the console promises changes within a second.
const changePoll = 250 * time.Millisecond

// changeKeepAlive is how long the stream stays silent at most, so proxies
// and the browser see it alive.
const changeKeepAlive = 15 * time.Second

// ChangeEvent says that what the caller can see has changed since the last
// event: its applications, services and instances, or the clusters, nodes,
// node controls, pressure events and topology. Mark is opaque and changes
// with any of them.
type ChangeEvent struct {
	Mark string    `json:"mark"`
	At   time.Time `json:"at"`
}

// Validation is the answer of POST /api/validate for a valid descriptor.
type Validation struct {
	Kind          string `json:"kind" doc:"sla or fogatlas"`
	Applications  int    `json:"applications"`
	Microservices int    `json:"microservices"`
	Objects       int    `json:"objects" doc:"FogAtlas documents (regions, links, endpoints, FADepls)"`
}

// registerConsole adds what the web console needs beside the REST API: a
// stream of change notices, and a check of a descriptor that applies
// nothing.
func (r *Root) registerConsole(a huma.API) {
	sse.Register(a, huma.Operation{
		OperationID: "watch-changes", Method: http.MethodGet, Path: "/api/changes", Tags: []string{"system"},
		Summary: "Stream change notices (server-sent events)", Security: secured,
		Description: "A `change` event at once, then one within a second of any change to what the caller can see " +
			"(its applications, services and instances; clusters, nodes, node controls, pressure events, topology), " +
			"and at least every 15 s. The web console refetches the page it shows on each.",
	}, map[string]any{"change": ChangeEvent{}}, func(ctx context.Context, _ *struct{}, send sse.Sender) {
		who := caller(ctx)
		tick := time.NewTicker(changePoll)
		defer tick.Stop()
		last, sent := "", time.Time{}
		for {
			mark := r.changeMark(who)
			now := time.Now()
			if mark != last || now.Sub(sent) >= changeKeepAlive {
				if send.Data(ChangeEvent{Mark: mark, At: r.cfg.Now().UTC()}) != nil {
					return
				}
				last, sent = mark, now
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	huma.Register(a, huma.Operation{
		OperationID: "validate-descriptor", Method: http.MethodPost, Path: "/api/validate", Tags: []string{"applications"},
		Summary: "Check an SLA or FogAtlas documents without applying them", Security: secured,
		MaxBodyBytes: maxTopology, SkipValidateBody: true, Metadata: map[string]any{metaChangesNothing: true},
		Description: "Takes what POST /api/application/ or POST /api/topology takes (JSON or YAML; FogAtlas documents are " +
			"recognised by their apiVersion) and answers 200 with a summary when it is well formed, or 400 listing every " +
			"problem with its field path. Nothing is stored or placed (whether it fits is decided when it is applied), " +
			"and the call is not written to the audit log.",
	}, func(ctx context.Context, in *struct {
		RawBody []byte `contentType:"application/json"`
	}) (*struct{ Body Validation }, error) {
		if len(bytes.TrimSpace(in.RawBody)) == 0 {
			return nil, huma.Error400BadRequest("body: a descriptor is required (SLA v2.0 or FogAtlas documents)")
		}
		if bytes.Contains(in.RawBody, []byte("fogatlas.fbk.eu/")) {
			objs, err := topology.ParseDocuments(in.RawBody)
			if err != nil {
				return nil, topologyError(err)
			}
			return &struct{ Body Validation }{Body: Validation{Kind: "fogatlas", Objects: len(objs)}}, nil
		}
		doc, err := sla.Parse(in.RawBody)
		if err != nil {
			return nil, apiError(err)
		}
		v := Validation{Kind: "sla", Applications: len(doc.Applications)}
		for _, app := range doc.Applications {
			v.Microservices += len(app.Services)
		}
		return &struct{ Body Validation }{Body: v}, nil
	})
}

// changeMark digests what who can see and what moves on the console's
// pages; it changes when any of it does. Resource figures (cpu, memory),
// which change with every report, are left out: pages that show them
// refresh them on their own.
func (r *Root) changeMark(who Caller) string {
	h := fnv.New64a()
	w := func(parts ...any) {
		for _, p := range parts {
			fmt.Fprint(h, p, "\x00")
		}
	}
	r.mu.Lock()
	ids := make([]string, 0, len(r.apps))
	for id, app := range r.apps {
		if who.owns(app.OwnerID) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		w("app", id, r.apps[id].Name)
	}
	ids = ids[:0]
	for id, s := range r.svcs {
		if who.owns(s.OwnerID) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		w("svc", id, r.svcs[id].Spec.Instances)
	}
	// One pass over the instances, whatever the number of services.
	ids = ids[:0]
	for id, in := range r.insts {
		if s := r.svcs[in.ServiceID]; s != nil && who.owns(s.OwnerID) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		in := r.insts[id]
		st := in.Status
		w(id, st.State, st.Reason, st.NodeID, st.Restarts, st.Limited, in.ClusterID)
	}
	ids = ids[:0]
	for id := range r.clusters {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		c := r.clusters[id]
		w("cluster", id, c.info.State, len(c.events))
		if n := len(c.events); n > 0 {
			w(c.events[n-1].At.UnixNano())
		}
		for _, n := range c.nodes {
			w(n.ID, n.State, n.Pressure, n.Instances, r.nodeCtl[n.ID].Cordoned, r.nodeCtl[n.ID].Drained)
		}
	}
	if st, err := r.loadTopoLocked(); err == nil {
		for _, g := range st.regions {
			w(g.ID, g.Name, g.Location)
		}
		for _, l := range st.links {
			w(l.ID, l.BWAllocated, l.Bandwidth, l.Latency, l.Status)
		}
	}
	r.mu.Unlock()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], h.Sum64())
	return fmt.Sprintf("%x", b)
}

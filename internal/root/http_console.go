package root

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"net/http"
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
//
// Every open console asks four times a second, under the root's lock, so it
// must stay cheap with 100,000 instances and 10,000 nodes: each member is
// hashed on its own and the hashes are summed (markSum), which needs no
// sorting of the maps' keys and no formatting.
func (r *Root) changeMark(who Caller) string {
	m := newMarkSum()
	r.mu.Lock()
	for id, app := range r.apps {
		if who.owns(app.OwnerID) {
			m.str("app").str(id).str(app.Name).end()
		}
	}
	for id, s := range r.svcs {
		if who.owns(s.OwnerID) {
			m.str("svc").str(id).num(int64(s.Spec.Instances)).end()
		}
	}
	for id, in := range r.insts {
		if s := r.svcs[in.ServiceID]; s != nil && who.owns(s.OwnerID) {
			st := in.Status
			m.str(id).str(string(st.State)).str(st.Reason).str(st.NodeID).num(int64(st.Restarts)).flag(st.Limited).str(in.ClusterID).end()
		}
	}
	for id, c := range r.clusters {
		m.str("cluster").str(id).str(string(c.info.State)).num(int64(len(c.events)))
		if n := len(c.events); n > 0 {
			m.num(c.events[n-1].At.UnixNano())
		}
		m.end()
		for _, n := range c.nodes {
			ctl := r.nodeCtl[n.ID]
			m.str("node").str(n.ID).str(string(n.State)).str(n.Pressure).num(int64(n.Instances)).flag(ctl.Cordoned).flag(ctl.Drained).end()
		}
	}
	if st, err := r.loadTopoLocked(); err == nil {
		for _, g := range st.regions {
			m.str("region").str(fmt.Sprint(g.ID, g.Name, g.Location)).end()
		}
		for _, l := range st.links {
			m.str("link").str(fmt.Sprint(l.ID, l.BWAllocated, l.Bandwidth, l.Latency, l.Status)).end()
		}
	}
	r.mu.Unlock()
	return m.mark()
}

// markSeed seeds the hashes of change marks: a mark is only compared with
// marks of the same process.
var markSeed = maphash.MakeSeed()

// markSum digests a set of members in any order: the sum of the members'
// hashes, and their count.
type markSum struct {
	h      maphash.Hash
	sum, n uint64
}

func newMarkSum() *markSum {
	m := &markSum{}
	m.h.SetSeed(markSeed)
	return m
}

func (m *markSum) str(v string) *markSum {
	_, _ = m.h.WriteString(v)
	_ = m.h.WriteByte(0)
	return m
}

func (m *markSum) num(v int64) *markSum {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(v))
	_, _ = m.h.Write(b[:])
	return m
}

func (m *markSum) flag(v bool) *markSum {
	if v {
		return m.num(1)
	}
	return m.num(0)
}

// end closes the member being written.
func (m *markSum) end() {
	m.sum += m.h.Sum64()
	m.n++
	m.h.Reset()
}

func (m *markSum) mark() string { return fmt.Sprintf("%x.%x", m.sum, m.n) }

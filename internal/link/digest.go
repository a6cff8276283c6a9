package link

import (
	"encoding/binary"
	"encoding/json"
	"hash/fnv"
	"math"
	"strconv"
	"time"

	"github.com/hedgeorch/hedge/api"
)

// Digest returns a short hash of instance statuses, as sent in a report that
// says its instances are unchanged (Report.Unchanged). Every field of
// InstanceStatus counts.
func Digest(sts []InstanceStatus) string {
	h := fnv.New64a()
	var b [8]byte
	num := func(v uint64) {
		binary.LittleEndian.PutUint64(b[:], v)
		_, _ = h.Write(b[:])
	}
	str := func(s string) {
		num(uint64(len(s)))
		_, _ = h.Write([]byte(s))
	}
	num(uint64(len(sts)))
	for _, st := range sts {
		str(st.InstanceID)
		num(st.Generation)
		str(string(st.State))
		str(st.Reason)
		if st.ExitCode != nil {
			num(1)
			num(uint64(int64(*st.ExitCode)))
		} else {
			num(0)
		}
		num(uint64(int64(st.Restarts)))
		num(uint64(int64(st.PID)))
		if st.StartedAt != nil {
			num(1)
			num(uint64(st.StartedAt.UnixNano()))
		} else {
			num(0)
		}
		str(st.NodeID)
		str(st.NodeName)
		num(math.Float64bits(st.CPU))
		num(uint64(st.MemoryMB))
		if st.Limited {
			num(1)
		} else {
			num(0)
		}
		str(st.IP)
	}
	return strconv.FormatUint(h.Sum64(), 16)
}

// NodesDigest returns a short hash of a cluster's nodes without what changes
// on every heartbeat (their metrics and last-seen times), as sent in a
// cluster report whose nodes changed in nothing else
// (ClusterReport.NodesUnchanged). Every other field counts, including
// fields added later.
func NodesDigest(nodes []api.Node) string {
	h := fnv.New64a()
	enc := json.NewEncoder(h)
	for _, n := range nodes {
		n.Metrics, n.LastSeen = api.HostMetrics{}, time.Time{}
		// A node of plain fields always encodes.
		_ = enc.Encode(n)
	}
	return strconv.FormatUint(h.Sum64(), 16) + "." + strconv.Itoa(len(nodes))
}

package placement

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Diagnosis counts, per reason, how many candidates the filters rejected, so
// that a user sees why an instance is not placed ("2 insufficient memory")
// instead of a bare "no fit".
type Diagnosis struct {
	// Rejected maps a reason to the number of candidates it rejected. Each
	// rejected candidate is counted once, under the first filter that
	// rejected it. Nil when nothing was rejected.
	Rejected map[string]int
	// Total is the number of candidates considered.
	Total int
	// Level names the candidates in String: clusters or nodes.
	Level Level
}

// Available returns how many candidates passed every filter.
func (d Diagnosis) Available() int {
	n := d.Total
	for _, c := range d.Rejected {
		n -= c
	}
	return n
}

// String returns e.g. "0/3 clusters available: 2 insufficient memory, 1
// runtime process not available": the largest counts first, equal counts in
// reason order, so the same situation always reads the same.
func (d Diagnosis) String() string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(d.Available()))
	b.WriteByte('/')
	b.WriteString(strconv.Itoa(d.Total))
	b.WriteByte(' ')
	b.WriteString(d.Level.candidates())
	b.WriteString(" available")
	type entry struct {
		reason string
		count  int
	}
	entries := make([]entry, 0, len(d.Rejected))
	for r, c := range d.Rejected {
		entries = append(entries, entry{r, c})
	}
	slices.SortFunc(entries, func(a, b entry) int {
		if c := cmp.Compare(b.count, a.count); c != 0 {
			return c
		}
		return strings.Compare(a.reason, b.reason)
	})
	for i, e := range entries {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(e.count))
		b.WriteByte(' ')
		b.WriteString(e.reason)
	}
	return b.String()
}

// UnschedulableError is the error Place returns when no candidate fits. Its
// message is the diagnosis; errors.Is(err, ErrUnschedulable) holds, and
// errors.As gives callers the counts.
type UnschedulableError struct {
	Diagnosis Diagnosis
}

// Error returns Diagnosis.String().
func (e *UnschedulableError) Error() string { return e.Diagnosis.String() }

// Unwrap returns ErrUnschedulable.
func (e *UnschedulableError) Unwrap() error { return ErrUnschedulable }

// tally counts rejections during one Place call without a map: the distinct
// reasons are few, so a linear scan of a small array (on the stack) beats
// hashing every rejected candidate, and since plugins return shared statuses
// the scan compares pointers before strings. Reasons beyond the array go to
// more.
type tally struct {
	fixed [8]reasonCount
	n     int // used entries of fixed
	more  []reasonCount
}

type reasonCount struct {
	reason string
	count  int
	status *Status // a status with this reason, or nil
}

// addStatus counts one rejection by st.
func (t *tally) addStatus(st *Status) {
	for i := 0; i < t.n; i++ {
		if t.fixed[i].status == st {
			t.fixed[i].count++
			return
		}
	}
	t.add(st.Reason, 1)
	for i := 0; i < t.n; i++ {
		if t.fixed[i].status == nil && t.fixed[i].reason == st.Reason {
			t.fixed[i].status = st
			return
		}
	}
}

// add counts n rejections for reason.
func (t *tally) add(reason string, n int) {
	for i := 0; i < t.n; i++ {
		if t.fixed[i].reason == reason {
			t.fixed[i].count += n
			return
		}
	}
	if t.n < len(t.fixed) {
		t.fixed[t.n] = reasonCount{reason: reason, count: n}
		t.n++
		return
	}
	for i := range t.more {
		if t.more[i].reason == reason {
			t.more[i].count += n
			return
		}
	}
	t.more = append(t.more, reasonCount{reason: reason, count: n})
}

// items returns the counts in the order reasons were first seen.
func (t *tally) items() []reasonCount {
	if len(t.more) == 0 {
		return t.fixed[:t.n]
	}
	return append(t.fixed[:t.n:t.n], t.more...)
}

func (t *tally) rejected() map[string]int {
	if t.n == 0 {
		return nil
	}
	m := make(map[string]int, t.n+len(t.more))
	for _, it := range t.fixed[:t.n] {
		m[it.reason] = it.count
	}
	for _, it := range t.more {
		m[it.reason] = it.count
	}
	return m
}

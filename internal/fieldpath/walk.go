package fieldpath

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Walker reads typed values out of a decoded tree and collects a problem for
// every value of the wrong type. Getters treat nil (absent or null) as "not
// set" without a problem; whether a field is required is decided by the
// caller. A Walker is not safe for concurrent use.
type Walker struct {
	problems []Problem
	// bad holds the fields that already have a problem, so that a later
	// check does not report the same field twice (a name of the wrong type is
	// not also "required").
	bad map[string]bool
	// partial holds the objects one of whose fields has a problem that
	// leaves it unset (a connectivity entry whose target is not a string):
	// a semantic check of the object as a whole, such as "needs one of a,
	// b or c", would report that field again and is left out. Checks of
	// its other fields are not.
	partial map[string]bool
	// aliases maps the path of a field that was read from another name
	// (target_microservice, written as Oakestra's target_microservice_id)
	// to the path as written, so that semantic checks, which know only the
	// api field, point at what the user wrote.
	aliases map[string]string
}

// NewWalker returns a Walker that starts with problems (those found while
// decoding).
func NewWalker(problems []Problem) *Walker {
	w := &Walker{bad: map[string]bool{}, partial: map[string]bool{}, aliases: map[string]string{}}
	w.Add(problems...)
	return w
}

// Problems returns every problem found so far, in the order found.
func (w *Walker) Problems() []Problem { return w.problems }

// Bad reports whether field itself has a problem.
func (w *Walker) Bad(field string) bool { return w.bad[field] }

// MarkPartial records that the object at path has a field whose problem
// leaves it unset, so AddChecked leaves out problems about the object as a
// whole.
func (w *Walker) MarkPartial(path string) { w.partial[path] = true }

// Alias records that the field at path was read from the name written at
// written, so AddChecked reports problems where the user wrote them.
func (w *Walker) Alias(path, written string) { w.aliases[path] = written }

// Add records problems.
func (w *Walker) Add(problems ...Problem) {
	for _, p := range problems {
		w.problems = append(w.problems, p)
		w.bad[p.Field] = true
	}
}

func (w *Walker) Addf(field, format string, args ...any) {
	w.Add(Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

// AddChecked adds the problems found by a semantic check, leaving out those
// about a field (or a part of a field) that already has a problem, and those
// about a partial object as a whole. Fields read from an alias are renamed
// to it.
func (w *Walker) AddChecked(problems []Problem) {
	var keep []Problem
	for _, p := range problems {
		if written, ok := w.aliases[p.Field]; ok {
			p.Field = written
		}
		if !w.Covered(p.Field) && !w.partial[p.Field] {
			keep = append(keep, p)
		}
	}
	w.Add(keep...)
}

// Covered reports whether field or one of its parents has a problem.
func (w *Walker) Covered(field string) bool {
	for field != "" {
		if w.bad[field] {
			return true
		}
		i := strings.LastIndexAny(field, ".[")
		if i <= 0 {
			return false
		}
		field = field[:i]
	}
	return false
}

// CheckFields reports each field of o that is not in known, in the order the
// user wrote them, with a suggestion when it looks like a typo.
func (w *Walker) CheckFields(path string, o *Object, known []string) {
	for _, key := range o.keys {
		if slices.Contains(known, key) {
			continue
		}
		if guess := Closest(key, known); guess != "" {
			w.Addf(Join(path, key), "unknown field (did you mean %q?)", guess)
		} else {
			w.Addf(Join(path, key), "unknown field")
		}
	}
}

func (w *Walker) Str(field string, v any) (string, bool) {
	switch v := v.(type) {
	case nil:
		return "", false
	case string:
		return v, true
	}
	w.Addf(field, "must be a string, got %s", Describe(v))
	return "", false
}

func (w *Walker) Bool(field string, v any) (bool, bool) {
	switch v := v.(type) {
	case nil:
		return false, false
	case bool:
		return v, true
	}
	w.Addf(field, "must be a boolean, got %s", Describe(v))
	return false, false
}

func (w *Walker) List(field string, v any) ([]any, bool) {
	switch v := v.(type) {
	case nil:
		return nil, false
	case []any:
		return v, true
	}
	w.Addf(field, "must be a list, got %s", Describe(v))
	return nil, false
}

func (w *Walker) Object(field string, v any) (*Object, bool) {
	switch v := v.(type) {
	case nil:
		return nil, false
	case *Object:
		return v, true
	}
	w.Addf(field, "must be an object, got %s", Describe(v))
	return nil, false
}

func (w *Walker) Float(field string, v any) (float64, bool) {
	n, ok := v.(Number)
	if !ok {
		if v != nil {
			w.Addf(field, "must be a number, got %s", Describe(v))
		}
		return 0, false
	}
	switch {
	case math.IsNaN(n.Value):
		w.Addf(field, "must be a finite number, got %s", Describe(v))
		return 0, false
	case math.IsInf(n.Value, 0):
		w.Addf(field, "is out of range, got %s", Describe(v))
		return 0, false
	}
	return n.Value, true
}

// Integer reads a whole number. 100.0 is fine (JSON does not tell them
// apart), 100.5 is not.
func (w *Walker) Integer(field string, v any) (int64, bool) {
	f, ok := w.Float(field, v)
	if !ok {
		return 0, false
	}
	switch {
	case f != math.Trunc(f):
		w.Addf(field, "must be a whole number, got %s", Describe(v))
		return 0, false
	case f >= math.MaxInt64 || f <= math.MinInt64:
		w.Addf(field, "is out of range, got %s", Describe(v))
		return 0, false
	}
	return int64(f), true
}

// Int is Integer for fields of type int.
func (w *Walker) Int(field string, v any) (int, bool) {
	n, ok := w.Integer(field, v)
	return int(max(min(n, math.MaxInt), math.MinInt)), ok
}

// StrList reads a list of strings. An empty list reads as nil so that a
// parsed document does not depend on whether the user wrote [] or nothing.
func (w *Walker) StrList(field string, v any) []string {
	items, ok := w.List(field, v)
	if !ok || len(items) == 0 {
		return nil
	}
	out := make([]string, 0, len(items))
	for i, item := range items {
		s, ok := item.(string)
		if !ok {
			w.Addf(Index(field, i), "must be a string, got %s", Describe(item))
		}
		out = append(out, s)
	}
	return out
}

// Closest returns the known name that name is probably a misspelling of:
// within two edits, or one extending the other; "" if none is.
func Closest(name string, known []string) string {
	if len(name) < 3 || len(name) > 64 {
		return ""
	}
	lower := strings.ToLower(name)
	best, bestDist := "", 3
	for _, k := range known {
		if d := editDistance(lower, strings.ToLower(k)); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best != "" {
		return best
	}
	// A longer or shorter spelling: "application_description" for
	// "application_desc".
	for _, k := range known {
		if len(k) >= 4 && (strings.HasPrefix(lower, strings.ToLower(k)) || strings.HasPrefix(strings.ToLower(k), lower)) {
			return k
		}
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// ObjectAt returns a list item as an object, or reports at field that it
// is not one.
func (w *Walker) ObjectAt(field string, item any) (*Object, bool) {
	o, ok := item.(*Object)
	if !ok {
		w.Addf(field, "must be an object, got %s", Describe(item))
	}
	return o, ok
}

// StringMap reads an object whose values are all strings (labels, node
// selectors); nil when it is absent or empty.
func (w *Walker) StringMap(path string, v any) map[string]string {
	o, ok := w.Object(path, v)
	if !ok || len(o.Keys()) == 0 {
		return nil
	}
	out := make(map[string]string, len(o.Keys()))
	for _, k := range o.Keys() {
		if s, ok := w.Str(Join(path, k), o.Get(k)); ok {
			out[k] = s
		}
	}
	return out
}

// Text reads a scalar written as a string or a number and returns it as the
// user wrote it, for fields that Kubernetes-style documents write either way
// (`tier: 0`, `tier: "0"`, `bandwidth: 10M`). ok is false when v is absent.
func (w *Walker) Text(field string, v any) (string, bool) {
	switch v := v.(type) {
	case nil:
		return "", false
	case string:
		return v, true
	case Number:
		return v.Text, true
	}
	w.Addf(field, "must be a string or a number, got %s", Describe(v))
	return "", false
}

package sla

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// walker reads typed values out of a decoded tree and collects a problem for
// every value of the wrong type. Getters treat nil (absent or null) as "not
// set" without a problem; whether a field is required is decided by the
// caller or by ValidateService.
type walker struct {
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

func newWalker(problems []Problem) *walker {
	w := &walker{bad: map[string]bool{}, partial: map[string]bool{}, aliases: map[string]string{}}
	w.add(problems...)
	return w
}

func (w *walker) add(problems ...Problem) {
	for _, p := range problems {
		w.problems = append(w.problems, p)
		w.bad[p.Field] = true
	}
}

func (w *walker) addf(field, format string, args ...any) {
	w.add(Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

// addChecked adds the problems found by a semantic check, leaving out those
// about a field (or a part of a field) that already has a problem, and those
// about a partial object as a whole. Fields read from an alias are renamed
// to it.
func (w *walker) addChecked(problems []Problem) {
	var keep []Problem
	for _, p := range problems {
		if written, ok := w.aliases[p.Field]; ok {
			p.Field = written
		}
		if !w.covered(p.Field) && !w.partial[p.Field] {
			keep = append(keep, p)
		}
	}
	w.add(keep...)
}

// covered reports whether field or one of its parents has a problem.
func (w *walker) covered(field string) bool {
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

// checkFields reports each field of o that is not in known, in the order the
// user wrote them, with a suggestion when it looks like a typo.
func (w *walker) checkFields(path string, o *object, known []string) {
	for _, key := range o.keys {
		if slices.Contains(known, key) {
			continue
		}
		if guess := closest(key, known); guess != "" {
			w.addf(join(path, key), "unknown field (did you mean %q?)", guess)
		} else {
			w.addf(join(path, key), "unknown field")
		}
	}
}

func (w *walker) str(field string, v any) (string, bool) {
	switch v := v.(type) {
	case nil:
		return "", false
	case string:
		return v, true
	}
	w.addf(field, "must be a string, got %s", describe(v))
	return "", false
}

func (w *walker) boolean(field string, v any) (bool, bool) {
	switch v := v.(type) {
	case nil:
		return false, false
	case bool:
		return v, true
	}
	w.addf(field, "must be a boolean, got %s", describe(v))
	return false, false
}

func (w *walker) list(field string, v any) ([]any, bool) {
	switch v := v.(type) {
	case nil:
		return nil, false
	case []any:
		return v, true
	}
	w.addf(field, "must be a list, got %s", describe(v))
	return nil, false
}

func (w *walker) object(field string, v any) (*object, bool) {
	switch v := v.(type) {
	case nil:
		return nil, false
	case *object:
		return v, true
	}
	w.addf(field, "must be an object, got %s", describe(v))
	return nil, false
}

func (w *walker) float(field string, v any) (float64, bool) {
	n, ok := v.(number)
	if !ok {
		if v != nil {
			w.addf(field, "must be a number, got %s", describe(v))
		}
		return 0, false
	}
	switch {
	case math.IsNaN(n.value):
		w.addf(field, "must be a finite number, got %s", describe(v))
		return 0, false
	case math.IsInf(n.value, 0):
		w.addf(field, "is out of range, got %s", describe(v))
		return 0, false
	}
	return n.value, true
}

// integer reads a whole number. 100.0 is fine (JSON does not tell them
// apart), 100.5 is not.
func (w *walker) integer(field string, v any) (int64, bool) {
	f, ok := w.float(field, v)
	if !ok {
		return 0, false
	}
	switch {
	case f != math.Trunc(f):
		w.addf(field, "must be a whole number, got %s", describe(v))
		return 0, false
	case f >= math.MaxInt64 || f <= math.MinInt64:
		w.addf(field, "is out of range, got %s", describe(v))
		return 0, false
	}
	return int64(f), true
}

// intField is integer for fields of type int.
func (w *walker) intField(field string, v any) (int, bool) {
	n, ok := w.integer(field, v)
	return int(max(min(n, math.MaxInt), math.MinInt)), ok
}

// strList reads a list of strings. An empty list reads as nil so that a
// parsed document does not depend on whether the user wrote [] or nothing.
func (w *walker) strList(field string, v any) []string {
	items, ok := w.list(field, v)
	if !ok || len(items) == 0 {
		return nil
	}
	out := make([]string, 0, len(items))
	for i, item := range items {
		s, ok := item.(string)
		if !ok {
			w.addf(index(field, i), "must be a string, got %s", describe(item))
		}
		out = append(out, s)
	}
	return out
}

// closest returns the known name that name is probably a misspelling of:
// within two edits, or one extending the other; "" if none is.
func closest(name string, known []string) string {
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

// objectAt returns a list item as an object, or reports at field that it
// is not one.
func (w *walker) objectAt(field string, item any) (*object, bool) {
	o, ok := item.(*object)
	if !ok {
		w.addf(field, "must be an object, got %s", describe(item))
	}
	return o, ok
}

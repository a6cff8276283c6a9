package sla

import "github.com/hedgeorch/hedge/internal/fieldpath"

// MaxSize is the largest descriptor accepted, in bytes. Real SLAs are a few
// KiB; the limit keeps a hostile upload from costing memory and CPU.
const MaxSize = 1 << 20

// walker is the shared field-path checker with the SLA's own readers
// (applications, services, constraints, connectivity) as methods.
type walker struct{ *fieldpath.Walker }

func newWalker(problems []Problem) *walker { return &walker{fieldpath.NewWalker(problems)} }

// decode reads a descriptor into a tree (see fieldpath.Decode).
func decode(data []byte) (any, []Problem, bool) { return fieldpath.Decode(data, "descriptor", MaxSize) }

type (
	object = fieldpath.Object
	number = fieldpath.Number
)

var (
	join     = fieldpath.Join
	index    = fieldpath.Index
	describe = fieldpath.Describe
	quote    = fieldpath.Quote
	closest  = fieldpath.Closest
)

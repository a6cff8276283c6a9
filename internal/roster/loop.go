package roster

import (
	"context"
	"sort"
	"time"

	"github.com/hedgeorch/hedge/internal/link"
	"github.com/hedgeorch/hedge/internal/placement"
)

// Loop is a tier's placement loop: a pass runs after every Trigger and every
// second, so instances that were UNSCHEDULABLE are tried again as capacity
// comes and goes.
type Loop struct {
	kick  chan struct{}
	every time.Duration
}

// NewLoop returns a loop that also runs a pass every second.
func NewLoop() *Loop { return &Loop{kick: make(chan struct{}, 1), every: time.Second} }

// Trigger asks for a pass soon. It never blocks; triggers coalesce.
func (l *Loop) Trigger() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// Run calls tick every second (on the link.Beat) and then pass, and pass after every Trigger,
// until ctx ends.
func (l *Loop) Run(ctx context.Context, tick func(), pass func(context.Context)) {
	beat := link.NewBeat(l.every)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			beat.Next()
			tick()
		case <-l.kick:
		}
		pass(ctx)
	}
}

// Pending returns the items of m that need a place, ordered by key, so that
// placement is deterministic.
func Pending[T any](m map[string]T, unplaced func(T) bool) []T {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		if unplaced(v) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := make([]T, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out
}

// Placer places one item at a time over the tier's candidates.
type Placer[T any] struct {
	FW *placement.Framework
	// Request describes an item to place; nil skips the item.
	Request func(T) *placement.Request
	// Placed is told where an item goes (a candidate of the lists given to
	// Place); it must take the item's demand off the candidate's free
	// capacity, so the next item sees it.
	Placed func(T, *placement.Candidate)
	// Failed is told why an item fits nowhere.
	Failed func(T, error)
}

// Place places the items in order. Each is tried over the candidate lists in
// turn (for example calm nodes first, then all of them) until one fits.
func (p Placer[T]) Place(ctx context.Context, items []T, lists ...[]*placement.Candidate) {
	for _, it := range items {
		req := p.Request(it)
		if req == nil {
			continue
		}
		var res placement.Result
		var err error
		for _, l := range lists {
			if res, err = p.FW.Place(ctx, req, l); err == nil {
				break
			}
		}
		if err != nil {
			p.Failed(it, err)
			continue
		}
		p.Placed(it, res.Chosen)
	}
}

package link

import "time"

// Beat is a periodic timer whose ticks fall on the multiples of its period
// on the wall clock (whole seconds for a period of a second). Every periodic
// loop of Hedge (reports, placement passes, usage samples) uses one, so the
// loops of the tiers in one process, and of the tiers on one machine, wake
// together once a period instead of each at its own phase: one wake-up of
// the process and of the CPU instead of several.
type Beat struct {
	// C receives a tick at each multiple of the period; after each receive
	// call Next.
	C     <-chan time.Time
	t     *time.Timer
	every time.Duration
}

// NewBeat returns a beat of period every (> 0), armed for the next multiple.
func NewBeat(every time.Duration) *Beat {
	b := &Beat{every: every}
	b.t = time.NewTimer(untilNext(time.Now(), every))
	b.C = b.t.C
	return b
}

// Next arms the beat for the next multiple of its period after now.
func (b *Beat) Next() { b.t.Reset(untilNext(time.Now(), b.every)) }

// Stop stops the beat.
func (b *Beat) Stop() { b.t.Stop() }

// untilNext is the time from now to the next multiple of every, at least a
// tenth of every so that a tick handled late does not fire twice at once.
func untilNext(now time.Time, every time.Duration) time.Duration {
	d := now.Truncate(every).Add(every).Sub(now)
	if d < every/10 {
		d += every
	}
	return d
}

package roster

// Desired is a member's desired set as its long-polls see it: a revision that
// moves on every change, and a channel closed on that change. The zero value
// is not ready for use; use NewDesired. Guarded by the owner's lock.
type Desired struct {
	rev  uint64
	wake chan struct{}
}

// NewDesired starts a desired set at revision epoch. An epoch taken from the
// clock at start keeps revisions moving forward across restarts.
func NewDesired(epoch uint64) Desired {
	return Desired{rev: epoch, wake: make(chan struct{})}
}

// Bump publishes a change: the revision moves and waiting long-polls wake.
func (d *Desired) Bump() {
	d.rev++
	close(d.wake)
	d.wake = make(chan struct{})
}

// Revision returns the current revision and the channel closed on the next
// change.
func (d *Desired) Revision() (uint64, <-chan struct{}) { return d.rev, d.wake }

package link

import (
	"fmt"
	"slices"
	"strings"
)

// byInstanceID orders statuses canonically, as Digest takes them.
func byInstanceID(a, b InstanceStatus) int { return strings.Compare(a.InstanceID, b.InstanceID) }

// sortStatuses puts sts in canonical order.
func sortStatuses(sts []InstanceStatus) {
	if !slices.IsSortedFunc(sts, byInstanceID) {
		slices.SortFunc(sts, byInstanceID)
	}
}

// checkUnique fails, naming field, if sorted sts name an instance twice.
func checkUnique(field string, sts []InstanceStatus) error {
	for i := 1; i < len(sts); i++ {
		if sts[i].InstanceID == sts[i-1].InstanceID {
			return fmt.Errorf("%w: %s: instance %q appears twice", ErrInvalid, field, sts[i].InstanceID)
		}
	}
	return nil
}

// sameStatus reports whether a and b agree in every field Digest counts.
func sameStatus(a, b *InstanceStatus) bool {
	pa, pb := *a, *b
	pa.ExitCode, pb.ExitCode, pa.StartedAt, pb.StartedAt = nil, nil, nil, nil
	if pa != pb {
		return false
	}
	if (a.ExitCode == nil) != (b.ExitCode == nil) || (a.ExitCode != nil && *a.ExitCode != *b.ExitCode) {
		return false
	}
	if (a.StartedAt == nil) != (b.StartedAt == nil) || (a.StartedAt != nil && a.StartedAt.UnixNano() != b.StartedAt.UnixNano()) {
		return false
	}
	return true
}

// diff returns what a peer whose upper tier holds old (in canonical order)
// sends so that it holds cur (in canonical order): the statuses new or
// changed, in canonical order, and the ids of the instances gone.
func diff(old, cur []InstanceStatus) (changed []InstanceStatus, removed []string) {
	i, j := 0, 0
	for i < len(old) || j < len(cur) {
		switch {
		case j == len(cur) || (i < len(old) && old[i].InstanceID < cur[j].InstanceID):
			removed = append(removed, old[i].InstanceID)
			i++
		case i == len(old) || cur[j].InstanceID < old[i].InstanceID:
			changed = append(changed, cur[j])
			j++
		default:
			if !sameStatus(&old[i], &cur[j]) {
				changed = append(changed, cur[j])
			}
			i++
			j++
		}
	}
	return changed, removed
}

// applyDelta returns a new set: held (in canonical order) with the statuses
// of changed put in and the instances named in removed taken out. It neither
// keeps nor modifies held. It fails with ErrInvalid, naming the field, for a
// delta that does not fit held: an instance twice, or the removal of one
// held does not hold.
func applyDelta(held, changed []InstanceStatus, removed []string) ([]InstanceStatus, error) {
	sortStatuses(changed)
	if err := checkUnique("instances", changed); err != nil {
		return nil, err
	}
	gone := make(map[string]bool, len(removed))
	for _, id := range removed {
		if gone[id] {
			return nil, fmt.Errorf("%w: removed: instance %q appears twice", ErrInvalid, id)
		}
		if _, ok := slices.BinarySearchFunc(held, id, func(s InstanceStatus, id string) int { return strings.Compare(s.InstanceID, id) }); !ok {
			return nil, fmt.Errorf("%w: removed: instance %q is not in the acknowledged set", ErrInvalid, id)
		}
		if _, ok := slices.BinarySearchFunc(changed, id, func(s InstanceStatus, id string) int { return strings.Compare(s.InstanceID, id) }); ok {
			return nil, fmt.Errorf("%w: removed: instance %q is also in instances", ErrInvalid, id)
		}
		gone[id] = true
	}
	out := make([]InstanceStatus, 0, len(held)+len(changed)-len(removed))
	i, j := 0, 0
	for i < len(held) || j < len(changed) {
		switch {
		case j == len(changed) || (i < len(held) && held[i].InstanceID < changed[j].InstanceID):
			if !gone[held[i].InstanceID] {
				out = append(out, held[i])
			}
			i++
		case i == len(held) || changed[j].InstanceID < held[i].InstanceID:
			out = append(out, changed[j])
			j++
		default:
			out = append(out, changed[j])
			i++
			j++
		}
	}
	return out, nil
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hedgeorch/hedge/api"
)

// waitTarget is a service to wait for and how many of its instances must be
// RUNNING (or COMPLETED, for one-shot services).
type waitTarget struct {
	id   string
	name string
	want int
}

// waiter polls services until their instances are up, printing a progress
// line per service whenever it changes.
type waiter struct {
	client   *api.Client
	progress io.Writer
	poll     time.Duration
	grace    time.Duration
	now      func() time.Time
}

type instanceKey struct {
	service string
	number  int
}

// wait returns nil once every target has exactly want active instances, all
// ready. It fails when an instance stays FAILED or UNSCHEDULABLE for longer
// than the grace period (the error carries its reason), or when timeout
// passes.
func (w *waiter) wait(ctx context.Context, targets []waitTarget, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	lines := make(map[string]string)
	badSince := make(map[instanceKey]time.Time)
	var lastErr error
	ticker := time.NewTicker(w.poll)
	defer ticker.Stop()
	for {
		done, err := w.check(ctx, targets, lines, badSince)
		switch {
		case err == nil && done:
			return nil
		case err == nil:
			lastErr = nil
		case ctx.Err() != nil:
			// The poll failed because time ran out: report the timeout.
		case errors.As(err, new(*retryError)):
			lastErr = errors.Unwrap(err)
		default:
			return err
		}
		select {
		case <-ctx.Done():
			if parent := context.Cause(ctx); !errors.Is(parent, context.DeadlineExceeded) {
				return parent
			}
			return w.timeoutError(targets, lines, timeout, lastErr)
		case <-ticker.C:
		}
	}
}

func (w *waiter) timeoutError(targets []waitTarget, lines map[string]string, timeout time.Duration, lastErr error) error {
	var pending []string
	for _, t := range targets {
		if l, ok := lines[t.id]; ok {
			pending = append(pending, l)
		} else {
			pending = append(pending, t.name)
		}
	}
	msg := fmt.Sprintf("timed out after %s waiting for %s", timeout, strings.Join(pending, "; "))
	if lastErr != nil {
		return fmt.Errorf("%s (last error: %w)", msg, lastErr)
	}
	return errors.New(msg)
}

// retryError marks a failed poll that is worth repeating.
type retryError struct{ err error }

func (e *retryError) Error() string { return e.err.Error() }
func (e *retryError) Unwrap() error { return e.err }

// transient reports whether a failed poll is worth repeating: the root was
// unreachable or answered 5xx or 429, rather than refusing the request.
func transient(err error) bool {
	var apiErr *api.Error
	if errors.As(err, &apiErr) {
		return apiErr.Status >= 500 || apiErr.Status == 429
	}
	return true
}

// check polls every target once; done is true when all of them are ready.
func (w *waiter) check(ctx context.Context, targets []waitTarget, lines map[string]string, badSince map[instanceKey]time.Time) (bool, error) {
	now := w.now()
	allDone := true
	for _, t := range targets {
		svc, err := w.client.GetService(ctx, t.id)
		if errors.Is(err, api.ErrNotFound) {
			return false, fmt.Errorf("service %s was deleted while waiting for it", t.name)
		}
		if err != nil && transient(err) {
			return false, &retryError{err: err}
		}
		if err != nil {
			return false, err
		}
		p := summarize(svc, t.want)
		if line := serviceName(svc) + ": " + p.line; line != lines[t.id] {
			lines[t.id] = line
			fmt.Fprintln(w.progress, line)
		}
		allDone = allDone && p.done
		for _, inst := range svc.Instances {
			key := instanceKey{service: svc.ID, number: inst.Number}
			if inst.Status != api.StateFailed && inst.Status != api.StateUnschedulable {
				delete(badSince, key)
				continue
			}
			since, seen := badSince[key]
			if !seen {
				badSince[key] = now
				continue
			}
			if now.Sub(since) >= w.grace {
				reason := inst.Reason
				if reason == "" {
					reason = "no reason given"
				}
				return false, fmt.Errorf("%s instance %d is %s: %s", serviceName(svc), inst.Number, inst.Status, reason)
			}
		}
	}
	return allDone, nil
}

// progress is the state of one service while waiting.
type progress struct {
	line string // "1/3 1 RUNNING, 2 STARTING"
	done bool
}

// stateOrder sorts states in the order an instance passes through them, so
// that progress lines read from "behind" to "ahead".
var stateOrder = []api.InstanceState{
	api.StateRequested, api.StateUnschedulable, api.StateScheduled, api.StateNodeScheduled, api.StateStarting,
	api.StateRunning, api.StateCompleted, api.StateFailed, api.StateDead, api.StateUndeployed,
}

func ready(s api.InstanceState) bool {
	return s == api.StateRunning || s == api.StateCompleted
}

// summarize counts a service's active (not undeployed) instances by state.
func summarize(svc api.Service, want int) progress {
	counts := make(map[api.InstanceState]int)
	active, readyN := 0, 0
	var reason string
	for _, inst := range svc.Instances {
		if inst.Status == api.StateUndeployed {
			continue
		}
		active++
		counts[inst.Status]++
		if ready(inst.Status) {
			readyN++
		}
		if reason == "" && (inst.Status == api.StateFailed || inst.Status == api.StateUnschedulable) {
			reason = inst.Reason
		}
	}
	states := slices.Collect(maps.Keys(counts))
	slices.SortFunc(states, func(x, y api.InstanceState) int {
		return rank(x) - rank(y)
	})
	var b strings.Builder
	fmt.Fprintf(&b, "%d/%d", readyN, want)
	switch {
	case active == 0:
		b.WriteString(" no instances")
	case len(states) == 1:
		b.WriteString(" " + string(states[0]))
	default:
		parts := make([]string, len(states))
		for i, s := range states {
			parts[i] = strconv.Itoa(counts[s]) + " " + string(s)
		}
		b.WriteString(" " + strings.Join(parts, ", "))
	}
	if reason != "" {
		b.WriteString(" (" + reason + ")")
	}
	return progress{line: b.String(), done: active == want && readyN == want}
}

func rank(s api.InstanceState) int {
	if i := slices.Index(stateOrder, s); i >= 0 {
		return i
	}
	return len(stateOrder)
}

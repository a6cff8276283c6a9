package placement

import (
	"errors"
	"fmt"

	"github.com/hedgeorch/hedge/internal/errdefs"
)

// Code is the outcome of a plugin call.
type Code int

const (
	// Success: the candidate fits (a nil *Status means the same).
	Success Code = iota
	// Unschedulable: the candidate does not fit this request. Not an error:
	// another candidate may fit.
	Unschedulable
	// Error: the plugin could not decide (bad input, broken invariant). The
	// whole placement fails; retrying with the same input will not help.
	Error
)

// String returns the code's name.
func (c Code) String() string {
	switch c {
	case Success:
		return "Success"
	case Unschedulable:
		return "Unschedulable"
	case Error:
		return "Error"
	default:
		return fmt.Sprintf("Code(%d)", int(c))
	}
}

// Status is what a plugin says about a candidate. A nil *Status is success.
// Keeping "does not fit" (Unschedulable) apart from "broke" (Error) lets Place
// report the first as a diagnosis and the second as a failure.
type Status struct {
	Code   Code
	Plugin string
	Reason string
}

// NewStatus returns a status from plugin with the given code and reason.
func NewStatus(code Code, plugin, reason string) *Status {
	return &Status{Code: code, Plugin: plugin, Reason: reason}
}

// IsSuccess reports whether s is nil or has Code Success.
func (s *Status) IsSuccess() bool { return s == nil || s.Code == Success }

// String returns "Plugin: Code: reason"; a nil status prints as "Success".
func (s *Status) String() string {
	if s == nil {
		return Success.String()
	}
	return fmt.Sprintf("%s: %s: %s", s.Plugin, s.Code, s.Reason)
}

// AsError returns nil for success, an error wrapping ErrUnschedulable for
// Unschedulable and one wrapping ErrPluginFailed for Error.
func (s *Status) AsError() error {
	switch {
	case s.IsSuccess():
		return nil
	case s.Code == Unschedulable:
		return fmt.Errorf("%s: %s: %w", s.Plugin, s.Reason, ErrUnschedulable)
	default:
		return fmt.Errorf("%w: %s: %s", ErrPluginFailed, s.Plugin, s.Reason)
	}
}

var (
	// ErrUnschedulable: no candidate passed every filter. The error's message
	// is the Diagnosis; placement is worth retrying when candidates change.
	ErrUnschedulable = errdefs.New(errdefs.ErrUnschedulable, "unschedulable")
	// ErrPluginFailed: a plugin returned Code Error, for example an unknown
	// score policy. Retrying with the same request will not help.
	ErrPluginFailed = errors.New("placement plugin failed")
	// ErrInvalidRequest: Place was called with a nil request or candidate.
	ErrInvalidRequest = errdefs.New(errdefs.ErrInvalid, "invalid placement request")
)

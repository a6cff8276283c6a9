package sla

import (
	"fmt"
	"strings"

	"github.com/hedgeorch/hedge/internal/errdefs"
	"github.com/hedgeorch/hedge/internal/fieldpath"
)

// ErrInvalid is matched (errors.Is) by every error this package returns for a
// descriptor the user must fix; the API edge turns it into 400.
var ErrInvalid = errdefs.New(errdefs.ErrInvalid, "invalid descriptor")

// maxProblems caps a ValidationError so that a huge broken descriptor does not
// produce a huge response; the rest are summarised in one last problem.
const maxProblems = 100

// Problem is one thing wrong with a descriptor, located by field path, e.g.
// Field "applications[0].microservices[1].memory", Message "must be >= 0".
// Field is "" for problems with the descriptor as a whole.
type Problem = fieldpath.Problem

// ValidationError lists every problem found in a descriptor (not just the
// first), so a user can fix them all in one round. errors.Is(err, ErrInvalid)
// is true.
type ValidationError struct {
	Problems []Problem
}

// Error renders "field: message; field: message".
func (e *ValidationError) Error() string {
	if len(e.Problems) == 0 {
		return ErrInvalid.Error()
	}
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// newValidationError wraps problems, keeping the first maxProblems.
func newValidationError(problems []Problem) *ValidationError {
	if len(problems) > maxProblems {
		rest := len(problems) - maxProblems
		problems = append(problems[:maxProblems:maxProblems],
			Problem{Message: fmt.Sprintf("%d more problems not shown", rest)})
	}
	return &ValidationError{Problems: problems}
}

// invalidError is a one-message error that matches ErrInvalid. Helpers such as
// ParsePorts return it so that callers can use the message as a Problem's
// Message without an "invalid descriptor" prefix in the middle.
type invalidError struct{ msg string }

func (e *invalidError) Error() string           { return e.msg }
func (e *invalidError) Is(target error) bool    { return target == ErrInvalid }
func invalidf(format string, args ...any) error { return &invalidError{fmt.Sprintf(format, args...)} }

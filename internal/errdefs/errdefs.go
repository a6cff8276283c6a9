package errdefs

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
)

// The kinds of error. Domain sentinels wrap one of them (see New), so that
// errors.Is(err, sla.ErrInvalid) and errors.Is(err, errdefs.ErrInvalid) both
// hold.
var (
	ErrInvalid       = errors.New("invalid")
	ErrNotFound      = errors.New("not found")
	ErrConflict      = errors.New("conflict")
	ErrUnauthorized  = errors.New("unauthorized")
	ErrForbidden     = errors.New("forbidden")
	ErrRateLimited   = errors.New("rate limited")
	ErrUnavailable   = errors.New("unavailable")
	ErrUnschedulable = errors.New("unschedulable")
)

// sentinel is a domain sentinel: its own message, and a kind it wraps.
type sentinel struct {
	msg  string
	kind error
}

func (s *sentinel) Error() string { return s.msg }
func (s *sentinel) Unwrap() error { return s.kind }

// New returns a domain sentinel with message msg, of the given kind: the
// error says msg, and errors.Is(err, kind) holds.
func New(kind error, msg string) error { return &sentinel{msg: msg, kind: kind} }

// statuses maps every kind to its HTTP status; the client's api.Error.Is
// maps these statuses back.
var statuses = []struct {
	kind   error
	status int
}{
	{ErrInvalid, http.StatusBadRequest},
	{ErrNotFound, http.StatusNotFound},
	{ErrConflict, http.StatusConflict},
	{ErrUnauthorized, http.StatusUnauthorized},
	{ErrForbidden, http.StatusForbidden},
	{ErrRateLimited, http.StatusTooManyRequests},
	{ErrUnavailable, http.StatusServiceUnavailable},
	{ErrUnschedulable, http.StatusUnprocessableEntity},
}

// Status returns the HTTP status of err's kind, and false when err has no
// kind (an internal error, 500).
func Status(err error) (int, bool) {
	for _, s := range statuses {
		if errors.Is(err, s.kind) {
			return s.status, true
		}
	}
	return http.StatusInternalServerError, false
}

// HTTP maps err to an HTTP status and a message safe to answer with. An
// error of a known kind says what it says (it was written for the user). Any
// other error is internal: it is logged to log with a fresh request id, and
// the answer is "internal error" and that id, never the error itself.
func HTTP(log *slog.Logger, err error) (status int, msg string) {
	if status, ok := Status(err); ok {
		return status, err.Error()
	}
	id := NewRequestID()
	log.Error("internal error", "request_id", id, "err", err)
	return http.StatusInternalServerError, "internal error (request id " + id + ")"
}

// NewRequestID returns a random id that ties an answer to its log line.
func NewRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Sentinel errors a caller can test an *Error against with errors.Is, so that
// code reacting to "not found" or "log in again" does not compare status codes.
var (
	ErrInvalid      = errors.New("invalid request")
	ErrUnauthorized = errors.New("unauthorized")
	ErrForbidden    = errors.New("forbidden")
	ErrNotFound     = errors.New("not found")
	ErrConflict     = errors.New("conflict")
)

// Problem is one entry of an error answer's "errors" list: which part of the
// request was wrong (Location, e.g. "applications[0].microservices[0].memory")
// and why.
type Problem struct {
	Location string `json:"location,omitempty"`
	Message  string `json:"message"`
}

// Error is an error answer of the Hedge API (an RFC 9457 problem document as
// huma writes it). Status is the HTTP status code of the answer.
type Error struct {
	Status   int       `json:"status"`
	Title    string    `json:"title"`
	Detail   string    `json:"detail,omitempty"`
	Problems []Problem `json:"errors,omitempty"`
}

// Error renders the answer for a person: status, title, detail, then every
// problem as "location: message", so a CLI can print it as it is.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", e.Status, e.title())
	var parts []string
	if e.Detail != "" && e.Detail != e.title() {
		parts = append(parts, e.Detail)
	}
	for _, p := range e.Problems {
		if p.Location == "" {
			parts = append(parts, p.Message)
			continue
		}
		parts = append(parts, p.Location+": "+p.Message)
	}
	if len(parts) > 0 {
		b.WriteString(": ")
		b.WriteString(strings.Join(parts, "; "))
	}
	return b.String()
}

func (e *Error) title() string {
	if e.Title != "" {
		return e.Title
	}
	if t := http.StatusText(e.Status); t != "" {
		return t
	}
	return "Error"
}

// Is maps the status code to the package's sentinels, so that
// errors.Is(err, api.ErrNotFound) holds for a 404 answer.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrInvalid:
		return e.Status == http.StatusBadRequest || e.Status == http.StatusUnprocessableEntity
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case ErrForbidden:
		return e.Status == http.StatusForbidden
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrConflict:
		return e.Status == http.StatusConflict
	}
	return false
}

// decodeError builds an *Error from an answer with a status >= 400. A body that
// is not a problem document (a proxy's HTML page, plain text) becomes Detail,
// so the person still sees what the server said.
func decodeError(status int, body []byte) *Error {
	e := &Error{}
	if err := json.Unmarshal(body, e); err != nil || (e.Title == "" && e.Detail == "" && len(e.Problems) == 0) {
		e = &Error{Detail: strings.TrimSpace(string(body))}
		if len(e.Detail) > 512 {
			e.Detail = e.Detail[:512] + "..."
		}
	}
	// The status line is authoritative; a body may omit or misstate it.
	e.Status = status
	return e
}

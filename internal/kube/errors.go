package kube

import "errors"

// Sentinel errors; the API edge turns them into status codes.
var (
	// ErrInvalid: the request is malformed (the message names the field).
	ErrInvalid = errors.New("invalid")
	// ErrNotFound: no such cluster, repository or enabler.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the name is taken, or a second cloud cluster was asked for.
	ErrConflict = errors.New("conflict")
	// ErrUnschedulable: no Kubernetes cluster can take the enabler.
	ErrUnschedulable = errors.New("unschedulable")
	// ErrUnavailable: a cluster or chart repository could not be reached.
	ErrUnavailable = errors.New("unavailable")
)

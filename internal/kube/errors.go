package kube

import (
	"github.com/hedgeorch/hedge/internal/errdefs"
)

// Sentinel errors; the API edge turns them into status codes.
var (
	// ErrInvalid: the request is malformed (the message names the field).
	ErrInvalid = errdefs.New(errdefs.ErrInvalid, "invalid")
	// ErrNotFound: no such cluster, repository or enabler.
	ErrNotFound = errdefs.New(errdefs.ErrNotFound, "not found")
	// ErrConflict: the name is taken, or a second cloud cluster was asked for.
	ErrConflict = errdefs.New(errdefs.ErrConflict, "conflict")
	// ErrUnschedulable: no Kubernetes cluster can take the enabler.
	ErrUnschedulable = errdefs.New(errdefs.ErrUnschedulable, "unschedulable")
	// ErrUnavailable: a cluster or chart repository could not be reached.
	ErrUnavailable = errdefs.New(errdefs.ErrUnavailable, "unavailable")
)

package auth

import (
	"fmt"

	"github.com/hedgeorch/hedge/internal/errdefs"
	"github.com/hedgeorch/hedge/internal/store"
)

// Sentinel errors, checked with errors.Is. The API edge turns them into status
// codes (401, 403, 400, 409, 404, 429).
var (
	// ErrUnauthorized: the caller is not who it claims, or its token or
	// credential is not (or no longer) valid. Deliberately vague: it never
	// says whether the user name or the password was wrong.
	ErrUnauthorized = errdefs.New(errdefs.ErrUnauthorized, "unauthorized")
	// ErrForbidden: the caller is known but its roles do not allow the action.
	ErrForbidden = errdefs.New(errdefs.ErrForbidden, "forbidden")
	// ErrInvalid: the input is malformed; the message names the field.
	ErrInvalid = errdefs.New(errdefs.ErrInvalid, "invalid")
	// ErrRateLimited: too many failed logins from this remote, or for this
	// user from this remote; wait for the window to pass.
	ErrRateLimited = errdefs.New(errdefs.ErrRateLimited, "rate limited")
	// ErrBusy: the password hashing limit is reached; retry shortly. The
	// API answers 429 with Retry-After.
	ErrBusy = errdefs.New(errdefs.ErrRateLimited, "busy")
	// ErrQuota: the user's quota does not allow the request. It wraps
	// ErrForbidden, so the API answers 403; the message names the quota.
	ErrQuota = fmt.Errorf("quota exceeded: %w", ErrForbidden)
	// ErrConflict is store.ErrConflict, so a conflict from either package
	// matches both.
	ErrConflict = store.ErrConflict
	// ErrNotFound is store.ErrNotFound.
	ErrNotFound = store.ErrNotFound
)

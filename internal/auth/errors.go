package auth

import (
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
	// ErrRateLimited: too many failed logins for this user from this remote;
	// wait for the window to pass.
	ErrRateLimited = errdefs.New(errdefs.ErrRateLimited, "rate limited")
	// ErrConflict is store.ErrConflict, so a conflict from either package
	// matches both.
	ErrConflict = store.ErrConflict
	// ErrNotFound is store.ErrNotFound.
	ErrNotFound = store.ErrNotFound
)

package pressure

import (
	"github.com/hedgeorch/hedge/internal/errdefs"
)

// ErrInvalid is wrapped by every error about bad input: a policy that cannot
// work or a nodes file that does not parse. The message names the field.
var ErrInvalid = errdefs.New(errdefs.ErrInvalid, "invalid")

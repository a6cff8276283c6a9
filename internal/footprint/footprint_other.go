//go:build !linux

package footprint

import "errors"

// ErrUnsupported is returned where the mappings cannot be read or trimmed.
var ErrUnsupported = errors.New("footprint: not supported here")

// Trim does nothing outside Linux.
func Trim() (int64, error) { return 0, ErrUnsupported }

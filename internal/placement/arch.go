package placement

import (
	"context"
	"strings"
)

// Arch filters out candidates that have none of the architectures the
// request allows. Common aliases count as the same architecture (x86_64 is
// amd64, aarch64 is arm64), because workers and SLAs spell them both ways.
type Arch struct{}

var (
	_ FilterPlugin    = Arch{}
	_ PreFilterPlugin = Arch{}
)

func init() { registerFilter(500, func(Level) FilterPlugin { return Arch{} }) }

// Name returns "Arch".
func (Arch) Name() string { return "Arch" }

// Filter rejects a candidate with no architecture in r.Arch. An empty r.Arch
// allows any; a candidate that reports no architecture fits only that.
func (Arch) Filter(_ context.Context, r *Request, c *Candidate) *Status {
	if len(r.Arch) == 0 || archAllowed(r.Arch, c.Arch) {
		return nil
	}
	return archStatus(r.Arch)
}

// PreFilter canonicalises the allowed architectures and builds the reason
// once per request.
func (Arch) PreFilter(_ context.Context, r *Request) (FilterPlugin, *Status) {
	if len(r.Arch) == 0 {
		return nil, nil
	}
	want := make([]string, len(r.Arch))
	for i, a := range r.Arch {
		want[i] = canonicalArch(a)
	}
	return &archFor{want: want, reject: archStatus(r.Arch)}, nil
}

func archStatus(allowed []string) *Status {
	return NewStatus(Unschedulable, "Arch", "arch "+strings.Join(allowed, "/")+" not available")
}

func archAllowed(allowed, have []string) bool {
	for _, h := range have {
		ch := canonicalArch(h)
		for _, a := range allowed {
			if canonicalArch(a) == ch {
				return true
			}
		}
	}
	return false
}

// canonicalArch maps the usual spellings to Go's GOARCH names.
func canonicalArch(a string) string {
	switch a {
	case "x86_64", "x86-64", "x64", "AMD64":
		return "amd64"
	case "aarch64", "arm64v8", "ARM64":
		return "arm64"
	case "armv7", "armv7l", "armhf", "arm32":
		return "arm"
	case "i386", "i686", "x86":
		return "386"
	}
	return a
}

// archFor is Arch bound to one request; want is canonical.
type archFor struct {
	want   []string
	reject *Status
}

func (*archFor) Name() string { return "Arch" }

func (b *archFor) Filter(_ context.Context, _ *Request, c *Candidate) *Status {
	for _, h := range c.Arch {
		ch := canonicalArch(h)
		for _, w := range b.want {
			if w == ch {
				return nil
			}
		}
	}
	return b.reject
}

package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/hedgeorch/hedge/api"
)

// ambiguousError says that a name matched more than one object, and lists
// them so the user can pick one by a more precise name or by ID.
type ambiguousError struct {
	kind, ref  string
	candidates []string
	hint       string
}

func (e *ambiguousError) Error() string {
	return fmt.Sprintf("%s %q is ambiguous, it matches %s; %s", e.kind, e.ref, strings.Join(e.candidates, ", "), e.hint)
}

// serviceName is how the CLI names a service: application/microservice.
func serviceName(s api.Service) string {
	return s.AppName + "/" + s.Spec.Name
}

// resolveService finds the service ref names: an ID, "app/service", or a
// microservice name that only one of the caller's services has.
func resolveService(ctx context.Context, c *api.Client, ref string) (api.Service, error) {
	svcs, err := c.ListServices(ctx)
	if err != nil {
		return api.Service{}, err
	}
	return findService(svcs, ref)
}

func findService(svcs []api.Service, ref string) (api.Service, error) {
	for _, s := range svcs {
		if s.ID == ref {
			return s, nil
		}
	}
	var matches []api.Service
	app, name, qualified := strings.Cut(ref, "/")
	for _, s := range svcs {
		if qualified && s.AppName == app && s.Spec.Name == name || !qualified && s.Spec.Name == ref {
			matches = append(matches, s)
		}
	}
	switch len(matches) {
	case 0:
		return api.Service{}, fmt.Errorf("service %q %w", ref, api.ErrNotFound)
	case 1:
		return matches[0], nil
	}
	e := &ambiguousError{kind: "service", ref: ref, hint: "name it as application/service or by ID"}
	if qualified {
		e.hint = "name it by ID"
	}
	for _, s := range matches {
		e.candidates = append(e.candidates, fmt.Sprintf("%s (ID %s, owner %s)", serviceName(s), s.ID, s.Owner))
	}
	slices.Sort(e.candidates)
	return api.Service{}, e
}

// resolveApp finds the application ref names: an ID or a name that only one
// of the caller's applications has.
func resolveApp(ctx context.Context, c *api.Client, ref string) (api.Application, error) {
	apps, err := c.ListApplications(ctx)
	if err != nil {
		return api.Application{}, err
	}
	return findApp(apps, ref)
}

func findApp(apps []api.Application, ref string) (api.Application, error) {
	var matches []api.Application
	for _, a := range apps {
		if a.ID == ref {
			return a, nil
		}
		if a.Name == ref {
			matches = append(matches, a)
		}
	}
	switch len(matches) {
	case 0:
		return api.Application{}, fmt.Errorf("application %q %w", ref, api.ErrNotFound)
	case 1:
		return matches[0], nil
	}
	e := &ambiguousError{kind: "application", ref: ref, hint: "name it by ID"}
	for _, a := range matches {
		e.candidates = append(e.candidates, fmt.Sprintf("%s (ID %s, namespace %s, owner %s)", a.Name, a.ID, a.Namespace, a.Owner))
	}
	slices.Sort(e.candidates)
	return api.Application{}, e
}

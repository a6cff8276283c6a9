package topology

import (
	"errors"
	"testing"
)

// FuzzParseDocuments checks that no input makes ParseDocuments panic or hang,
// that every failure is an ErrInvalid naming a document, and that what it
// accepts keeps the invariants placement relies on.
func FuzzParseDocuments(f *testing.F) {
	for _, name := range []string{"region.yaml", "link.yaml", "externalendpoint.yaml", "nodes.yaml",
		"fadepl-silly.yaml", "fadepl-resourcebased.yaml", "fadepl-dag.yaml"} {
		f.Add(readTestdata(f, name))
	}
	f.Add([]byte("---\n---\n"))
	f.Add([]byte("kind: Link\nspec: {bandwidth: 1e30}\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := ParseDocuments(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			var de *DocumentError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a *DocumentError", err)
			}
			return
		}
		for _, o := range objs {
			if o == nil || o.ObjectID() == "" {
				t.Fatalf("accepted an object without id: %#v", o)
			}
			switch o := o.(type) {
			case *Link:
				if o.Bandwidth < 0 || o.Latency < 0 || o.EndpointA == o.EndpointB {
					t.Fatalf("accepted an invalid link %+v", o)
				}
			case *FADepl:
				if len(o.Microservices) == 0 {
					t.Fatalf("accepted an application without microservices")
				}
				for _, m := range o.Microservices {
					if m.Deployment.Replicas < 1 || len(m.Deployment.Containers) == 0 {
						t.Fatalf("accepted microservice %+v", m)
					}
				}
			}
		}
	})
}

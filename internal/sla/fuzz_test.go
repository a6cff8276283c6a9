package sla

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// FuzzParse checks, for any input, that Parse and ParseServices never panic,
// that they either succeed or return a *ValidationError with at least one
// problem, each with a message, and that an accepted document survives a
// marshal and re-parse unchanged. Interesting inputs are a few KiB, so run it
// with a short -fuzzminimizetime (e.g. 5s) or minimising eats the budget.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"clientsrvr.json", "clientsrvr.yaml", "unikernel-nginx.json", "dashboard-microservices.json",
		"dataflows.json", "dataflows.yaml"} {
		f.Add(readTestdata(f, name))
	}
	// Every address field, valid (the service networking's inputs).
	f.Add([]byte(`{"sla_version":"v2.0","customerID":"Admin","applications":[{"application_name":"app","application_namespace":"test",` +
		`"microservices":[{"microservice_name":"web","microservice_namespace":"test","virtualization":"container","code":"docker.io/library/nginx:latest",` +
		`"memory":100,"vcpus":1,"addresses":{"rr_ip":"10.30.55.55","closest_ip":"10.30.55.56","rr_ip_v6":"fdff:2000::55:55"}}]}]}`))
	for _, c := range append(invalidCases(f), connectivityCases(f)...) {
		if len(c.input) <= 64<<10 {
			f.Add(c.input)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Parse(data)
		checkOutcome(t, doc != nil, err)
		if doc != nil {
			out, err := json.Marshal(doc)
			if err != nil {
				t.Fatalf("marshal accepted document: %v", err)
			}
			again, err := Parse(out)
			if err != nil {
				t.Fatalf("re-parse of marshalled document: %v\n%s", err, out)
			}
			if !reflect.DeepEqual(doc, again) {
				t.Fatalf("round trip changed the document:\n%s\nbecame\n%s", dump(doc), dump(again))
			}
		}

		services, _, err := ParseServices(data)
		checkOutcome(t, services != nil, err)
	})
}

func checkOutcome(t *testing.T, accepted bool, err error) {
	t.Helper()
	if accepted == (err != nil) {
		t.Fatalf("accepted = %v with error %v; want exactly one of them", accepted, err)
	}
	if err == nil {
		return
	}
	var ve *ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("error %T %v is not a *ValidationError matching ErrInvalid", err, err)
	}
	if len(ve.Problems) == 0 {
		t.Fatal("ValidationError without problems")
	}
	for _, p := range ve.Problems {
		if p.Message == "" {
			t.Fatalf("problem at %q without a message", p.Field)
		}
	}
}

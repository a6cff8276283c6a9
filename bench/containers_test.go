package main

import (
	"slices"
	"testing"

	"github.com/hedgeorch/hedge/api"
	"github.com/hedgeorch/hedge/internal/sla"
)

// The containers scenario's SLA must pass Hedge's own validation and ask for
// what its figures assume: one container of the bench image running the same
// script, with the same memory limit, as the bare engine's container.
func TestContainerSLAPassesValidation(t *testing.T) {
	ref := "127.0.0.1:5000/hedge-bench/sleep:abc"
	doc, err := sla.Parse(containerSLA("ctr000", ref, "HEDGE_BENCH_RUN=abc"))
	if err != nil {
		t.Fatalf("Hedge rejects the scenario's SLA: %v", err)
	}
	if len(doc.Applications) != 1 || len(doc.Applications[0].Services) != 1 {
		t.Fatalf("SLA holds %+v; want one application with one service", doc.Applications)
	}
	s := doc.Applications[0].Services[0]
	if s.Virtualization != api.VirtContainer || s.Code != ref || s.MemoryMB != containerMemoryMB {
		t.Errorf("service = %s %s %d MB; want container %s %d MB", s.Virtualization, s.Code, s.MemoryMB, ref, containerMemoryMB)
	}
	if !slices.Equal(s.Cmd, []string{"sh", "-c", containerScript}) {
		t.Errorf("cmd = %q; want the script the bare containers run", s.Cmd)
	}
	if !slices.Contains(s.Environment, "HEDGE_BENCH_RUN=abc") {
		t.Errorf("environment %v lacks the run's marker", s.Environment)
	}
}

package role

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/hedgeorch/hedge/internal/pressure"
)

// FRACTAL's nodes.yaml: gimli (docker), aragorn (kubernetes), legolas
// (watched only). A cluster watches gimli and legolas; aragorn is the
// root's, which reads its Glances at the file's address.
func TestPressureConfigSplitsTheNodesFile(t *testing.T) {
	p := PressureConfig{Enabled: true, Policy: pressure.DefaultPolicy(),
		NodesFile: filepath.Join("..", "pressure", "testdata", "nodes.yaml"), StateDir: t.TempDir()}
	_, targets, err := p.build(context.Background(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tg := range targets {
		names = append(names, tg.Node)
	}
	if len(names) != 2 || names[0] != "gimli" || names[1] != "legolas" {
		t.Errorf("cluster targets %v, want gimli and legolas", names)
	}
	kp, err := p.kubePressure("tok")
	if err != nil {
		t.Fatal(err)
	}
	if len(kp.GlancesURLs) != 1 || kp.GlancesURLs["aragorn"] != "http://192.168.0.111:61208" || kp.Token != "tok" {
		t.Errorf("kubernetes pressure %+v, want aragorn's Glances", kp)
	}

	if kp, err := (PressureConfig{}).kubePressure(""); kp != nil || err != nil {
		t.Errorf("disabled: %+v, %v", kp, err)
	}
	bad := PressureConfig{Enabled: true, Policy: pressure.DefaultPolicy(), NodesFile: "/nonexistent/nodes.yaml"}
	if _, err := bad.kubePressure(""); err == nil {
		t.Error("a missing nodes file was accepted")
	}
}

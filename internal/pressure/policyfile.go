package pressure

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"
)

// PolicyFile is the YAML form of thresholds an operator gives Hedge
// (`hedge cluster --pressure-policy FILE`): a default and per-node overrides.
//
//	default: {cpu: 80, memory: 80, load_per_core: 2, disk: 90}
//	nodes:
//	  edge-3: {cpu: 60}
//
// A node entry replaces the default thresholds as a whole; 0 (or absent)
// means the resource is not watched on that node.
type PolicyFile struct {
	Default *ThresholdsYAML           `yaml:"default"`
	Nodes   map[string]ThresholdsYAML `yaml:"nodes"`
}

// ThresholdsYAML are Thresholds with YAML names.
type ThresholdsYAML struct {
	CPU         float64 `yaml:"cpu"`
	Memory      float64 `yaml:"memory"`
	LoadPerCore float64 `yaml:"load_per_core"`
	Disk        float64 `yaml:"disk"`
}

func (t ThresholdsYAML) thresholds() Thresholds {
	return Thresholds{CPUPercent: t.CPU, MemoryPercent: t.Memory, LoadPerCore: t.LoadPerCore, DiskPercent: t.Disk}
}

// ApplyPolicyFile reads a policy file and returns base with its thresholds
// applied. Unknown fields and invalid values are errors naming the field.
func ApplyPolicyFile(base Policy, data []byte) (Policy, error) {
	var f PolicyFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return Policy{}, fmt.Errorf("pressure policy: %v: %w", err, ErrInvalid)
	}
	if f.Default != nil {
		base.Default = f.Default.thresholds()
	}
	if len(f.Nodes) > 0 {
		base.PerNode = map[string]Thresholds{}
		for name, t := range f.Nodes {
			base.PerNode[name] = t.thresholds()
		}
	}
	if err := base.Validate(); err != nil {
		return Policy{}, fmt.Errorf("pressure policy: %w", err)
	}
	return base, nil
}

package glances

import (
	"math"
	"testing"
)

func TestUnitPyFloat(t *testing.T) {
	tests := []struct {
		name string
		in   float64
		want string
	}{
		{"zero", 0, "0.0"},
		{"negative zero", math.Copysign(0, -1), "-0.0"},
		{"whole", 3, "3.0"},
		{"one decimal", 3.2, "3.2"},
		{"shortest repr", 0.06859609733094255, "0.06859609733094255"},
		{"large whole", 2096016000, "2096016000.0"},
		{"just below exponent form", 1e15, "1000000000000000.0"},
		{"exponent form from 1e16", 1e16, "1e+16"},
		{"small", 0.0001, "0.0001"},
		{"exponent form below 1e-4", 0.000015, "1.5e-05"},
		{"negative", -10.5, "-10.5"},
		{"nan", math.NaN(), "null"},
		{"inf", math.Inf(1), "null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pyFloat(tt.in); got != tt.want {
				t.Errorf("pyFloat(%v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestUnitEncodeTree(t *testing.T) {
	type inner struct {
		N uint64 `json:"n"`
	}
	type outer struct {
		A       float64  `json:"a"`
		B       int      `json:"b"`
		S       string   `json:"s"`
		P       *string  `json:"p"`
		L       []inner  `json:"l"`
		Empty   []string `json:"empty"`
		Skipped string   `json:"-"`
		hidden  int
		T       bool
	}
	got := string(marshal(tree(outer{A: 1, B: 2, S: "<x>\"", L: []inner{{N: 3}}, hidden: 4, T: true})))
	want := `{"a":1.0,"b":2,"s":"\u003cx\u003e\"","p":null,"l":[{"n":3}],"empty":[],"T":true}`
	if got != want {
		t.Errorf("marshal =\n %s\nwant\n %s", got, want)
	}
}

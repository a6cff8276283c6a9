package topology

import "testing"

func TestParseQuantity(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		parse func(string) (int64, error)
		want  int64
	}{
		{"bandwidth mega", "10M", ParseBandwidth, 10_000_000},
		{"bandwidth kilo", "100k", ParseBandwidth, 100_000},
		{"bandwidth giga", "1G", ParseBandwidth, 1_000_000_000},
		{"bandwidth plain", "5000000", ParseBandwidth, 5_000_000},
		{"bandwidth fraction", "1.5M", ParseBandwidth, 1_500_000},
		{"bandwidth exponent", "5e6", ParseBandwidth, 5_000_000},
		{"bandwidth exponent upper", "5E6", ParseBandwidth, 5_000_000},
		{"bandwidth exponent signed", "5e+3", ParseBandwidth, 5_000},
		{"bandwidth rounds up", "0.5", ParseBandwidth, 1},
		{"bandwidth leading plus", "+2k", ParseBandwidth, 2_000},
		{"bandwidth leading dot", ".5k", ParseBandwidth, 500},
		{"bandwidth exa", "1E", ParseBandwidth, 1_000_000_000_000_000_000},
		{"cpu cores", "2", ParseMilliCPU, 2000},
		{"cpu millis", "500m", ParseMilliCPU, 500},
		{"cpu fraction", "0.1", ParseMilliCPU, 100},
		{"cpu micro rounds up", "1u", ParseMilliCPU, 1},
		{"cpu nano rounds up", "1500000n", ParseMilliCPU, 2},
		{"memory gibi", "4Gi", ParseBytes, 4 << 30},
		{"memory mebi", "512Mi", ParseBytes, 512 << 20},
		{"memory kibi", "1Ki", ParseBytes, 1024},
		{"memory decimal", "1G", ParseBytes, 1_000_000_000},
		{"memory fractional mebi", "1.5Mi", ParseBytes, 3 << 19},
		{"zero", "0", ParseBytes, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.parse(tt.in)
			if err != nil {
				t.Fatalf("parse %q: %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("parse %q = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseQuantityErrors(t *testing.T) {
	tests := []struct {
		name, in string
	}{
		{"empty", ""},
		{"negative", "-1"},
		{"unknown suffix", "10X"},
		{"lowercase mega is milli-something", "10mi"},
		{"no number", "M"},
		{"bare dot", "."},
		{"two dots", "1.2.3"},
		{"exponent without digits", "1e"},
		{"exponent junk", "1e3x"},
		{"exponent too large", "1e31"},
		{"overflow", "10E"},
		{"space inside", "10 M"},
		{"too long", "1000000000000000000000000000000000000000000000000000000000000000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if v, err := ParseBandwidth(tt.in); err == nil {
				t.Fatalf("ParseBandwidth(%q) = %d, want an error", tt.in, v)
			}
		})
	}
}

func TestFormatQuantity(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"bandwidth mega", FormatBandwidth(5_000_000), "5M"},
		{"bandwidth kilo", FormatBandwidth(100_000), "100k"},
		{"bandwidth odd", FormatBandwidth(1_500), "1500"},
		{"bandwidth zero", FormatBandwidth(0), "0"},
		{"cpu cores", FormatMilliCPU(2000), "2"},
		{"cpu millis", FormatMilliCPU(1500), "1500m"},
		{"memory mebi", FormatBytes(400 << 20), "400Mi"},
		{"memory gibi", FormatBytes(4 << 30), "4Gi"},
		{"memory bytes", FormatBytes(1000), "1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestFormatParseRoundTrip(t *testing.T) {
	for _, v := range []int64{0, 1, 999, 1000, 5_000_000, 123_456_789, 1 << 40} {
		got, err := ParseBandwidth(FormatBandwidth(v))
		if err != nil || got != v {
			t.Fatalf("bandwidth %d -> %q -> %d, %v", v, FormatBandwidth(v), got, err)
		}
		got, err = ParseBytes(FormatBytes(v))
		if err != nil || got != v {
			t.Fatalf("bytes %d -> %q -> %d, %v", v, FormatBytes(v), got, err)
		}
		got, err = ParseMilliCPU(FormatMilliCPU(v))
		if err != nil || got != v {
			t.Fatalf("cpu %d -> %q -> %d, %v", v, FormatMilliCPU(v), got, err)
		}
	}
}

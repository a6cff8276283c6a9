package sla

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParsePorts(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []PortMapping
		wantErr string
	}{
		{name: "empty", in: "", want: nil},
		{name: "blank", in: "  ", want: nil},
		{name: "pair", in: "80:80", want: []PortMapping{{80, 80, "tcp"}}},
		{name: "pair with protocol", in: "8080:80/tcp", want: []PortMapping{{8080, 80, "tcp"}}},
		{name: "bare port", in: "80", want: []PortMapping{{80, 80, "tcp"}}},
		{name: "bare port udp", in: "53/udp", want: []PortMapping{{53, 53, "udp"}}},
		{name: "protocol upper case", in: "53:5353/UDP", want: []PortMapping{{53, 5353, "udp"}}},
		{name: "several", in: "80:8080/tcp; 53:53/udp;443", want: []PortMapping{{80, 8080, "tcp"}, {53, 53, "udp"}, {443, 443, "tcp"}}},
		{name: "same port tcp and udp", in: "53/tcp;53/udp", want: []PortMapping{{53, 53, "tcp"}, {53, 53, "udp"}}},
		{name: "extremes", in: "1:65535", want: []PortMapping{{1, 65535, "tcp"}}},

		{name: "zero", in: "0", wantErr: "host port: 0 is outside 1-65535"},
		{name: "too high", in: "80:65536", wantErr: "container port: 65536 is outside 1-65535"},
		{name: "letters", in: "http", wantErr: `"http" is not a port number`},
		{name: "negative", in: "-1:80", wantErr: `host port: "-1" is not a port number`},
		{name: "plus sign", in: "+80", wantErr: "is not a port number"},
		{name: "missing container", in: "80:", wantErr: `container port: "" is not a port number`},
		{name: "missing host", in: ":80", wantErr: `host port: "" is not a port number`},
		{name: "three parts", in: "1:2:3", wantErr: `container port: "2:3" is not a port number`},
		{name: "bad protocol", in: "80/sctp", wantErr: `protocol "sctp" must be tcp or udp`},
		{name: "empty protocol", in: "80/", wantErr: `protocol "" must be tcp or udp`},
		{name: "two protocols", in: "80/tcp/udp", wantErr: `protocol "tcp/udp" must be tcp or udp`},
		{name: "trailing separator", in: "80:80;", wantErr: "entry 2 of \"80:80;\" is empty"},
		{name: "comma separated", in: "80:80,81:81", wantErr: "is not a port number"},
		{name: "host port twice", in: "80:80;80:81", wantErr: "host port 80/tcp is mapped twice"},
		{name: "long number", in: "000080", wantErr: "is not a port number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePorts(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParsePorts(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("ParsePorts(%q) error does not match ErrInvalid", tt.in)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePorts(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParsePorts(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

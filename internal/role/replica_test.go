package role

import (
	"os"
	"strings"
	"testing"
)

func TestUnitAdvertiseURL(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cfg     RootConfig
		want    string
		wantErr string
	}{
		{name: "from the API address", cfg: RootConfig{Addr: "10.0.0.5:10000"}, want: "https://10.0.0.5:10000"},
		{name: "no host: the host name", cfg: RootConfig{Addr: ":10000"}, want: "https://" + host + ":10000"},
		{name: "any address: the host name", cfg: RootConfig{Addr: "0.0.0.0:10000"}, want: "https://" + host + ":10000"},
		{name: "plain HTTP API", cfg: RootConfig{Addr: "10.0.0.5:10000", TLS: TLSConfig{InsecureHTTP: true}}, want: "http://10.0.0.5:10000"},
		{name: "given", cfg: RootConfig{Addr: ":10000", AdvertiseURL: "https://root-a.example:443"}, want: "https://root-a.example:443"},
		{name: "given without a scheme", cfg: RootConfig{AdvertiseURL: "root-a:10000"}, wantErr: "--advertise-url"},
		{name: "a port chosen by the system", cfg: RootConfig{Addr: "127.0.0.1:0"}, wantErr: "fixed port"},
		{name: "no port", cfg: RootConfig{Addr: "127.0.0.1"}, wantErr: "--api-addr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := advertiseURL(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("advertiseURL = %q, %v; want an error naming %s", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("advertiseURL = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

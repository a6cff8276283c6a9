package sla

import (
	"fmt"
	"strconv"
	"strings"
)

// PortMapping is one entry of a service's port field: traffic to Host on the
// node goes to Container in the instance.
type PortMapping struct {
	Host      int    `json:"host"`
	Container int    `json:"container"`
	Protocol  string `json:"protocol"` // tcp or udp
}

// ParsePorts parses Oakestra's port field: entries "host:container[/proto]"
// separated by ";", where an entry may also be a bare "port[/proto]" that maps
// a port to itself. The protocol defaults to tcp. "" gives no mappings. The
// error matches ErrInvalid and its message names the bad entry.
func ParsePorts(s string) ([]PortMapping, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	type hostPort struct {
		port  int
		proto string
	}
	seen := map[hostPort]bool{}
	var out []PortMapping
	for i, raw := range strings.Split(s, ";") {
		entry := strings.TrimSpace(raw)
		if entry == "" {
			return nil, invalidf("entry %d of %s is empty; entries are host:container[/proto] separated by \";\"", i+1, quote(s))
		}
		m, err := parsePortEntry(entry)
		if err != nil {
			return nil, invalidf("entry %s: %s", quote(entry), err)
		}
		key := hostPort{m.Host, m.Protocol}
		if seen[key] {
			return nil, invalidf("host port %d/%s is mapped twice", m.Host, m.Protocol)
		}
		seen[key] = true
		out = append(out, m)
	}
	return out, nil
}

func parsePortEntry(entry string) (PortMapping, error) {
	ports, proto, hasProto := strings.Cut(entry, "/")
	m := PortMapping{Protocol: "tcp"}
	if hasProto {
		m.Protocol = strings.ToLower(proto)
		if m.Protocol != "tcp" && m.Protocol != "udp" {
			return m, fmt.Errorf("protocol %s must be tcp or udp", quote(proto))
		}
	}
	hostText, containerText, pair := strings.Cut(ports, ":")
	if !pair {
		containerText = hostText
	}
	var err error
	if m.Host, err = parsePort(hostText); err != nil {
		return m, fmt.Errorf("host port: %w", err)
	}
	if m.Container, err = parsePort(containerText); err != nil {
		return m, fmt.Errorf("container port: %w", err)
	}
	return m, nil
}

func parsePort(s string) (int, error) {
	if s == "" || len(s) > 5 || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("%s is not a port number", quote(s))
	}
	n, _ := strconv.Atoi(s) // at most five digits
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("%d is outside 1-65535", n)
	}
	return n, nil
}

package sla

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// The grammar of an OCI image reference, as in the distribution/reference
// package: [domain[:port]/]path[:tag][@digest].
var (
	domainRE = regexp.MustCompile(
		`^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$`)
	pathComponentRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	tagRE           = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)
	digestRE        = regexp.MustCompile(`^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$`)
)

const maxImageNameLen = 255

// checkImageRef reports why ref is not a container image reference, or nil.
// It catches what a user gets wrong (spaces, upper case, a URL, a stray
// colon) before a worker tries to pull it.
func checkImageRef(ref string) error {
	name, digest, hasDigest := strings.Cut(ref, "@")
	if hasDigest && !digestRE.MatchString(digest) {
		return fmt.Errorf("digest %s is malformed", quote(digest))
	}
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		tag := name[i+1:]
		name = name[:i]
		if !tagRE.MatchString(tag) {
			return fmt.Errorf("tag %s is malformed", quote(tag))
		}
	}
	if name == "" {
		return errors.New("the repository name is missing")
	}
	if len(name) > maxImageNameLen {
		return fmt.Errorf("the repository name is longer than %d characters", maxImageNameLen)
	}
	parts := strings.Split(name, "/")
	if first := parts[0]; len(parts) > 1 &&
		(strings.ContainsAny(first, ".:") || first == "localhost" || strings.ToLower(first) != first) {
		if !domainRE.MatchString(first) {
			return fmt.Errorf("registry %s is malformed", quote(first))
		}
		parts = parts[1:]
	}
	for _, p := range parts {
		if !pathComponentRE.MatchString(p) {
			return fmt.Errorf("path component %s must be lower-case letters and digits, separated by '.', '_' or '-'", quote(p))
		}
	}
	return nil
}

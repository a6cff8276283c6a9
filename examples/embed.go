// Package examples holds the descriptors bundled with Hedge; `hedge up --demo`
// deploys Hello.
package examples

import _ "embed"

// Hello is examples/hello.yaml: a process service with two instances.
//
//go:embed hello.yaml
var Hello []byte

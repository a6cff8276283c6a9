package process

import "github.com/hedgeorch/hedge/internal/runtime/process/sandboxinit"

// InitArg is the hidden first argument on which a program runs as a
// sandbox's init (sandboxinit.RunInit).
const InitArg = sandboxinit.InitArg

// RunInitIfAsked runs the sandbox's init and exits when this program was
// started as one; otherwise it returns at once. hedge calls it first thing
// (it is the init when cmd/hedge-init is not installed beside it), and so
// do test binaries whose driver uses the default init.
func RunInitIfAsked() { sandboxinit.RunInitIfAsked() }

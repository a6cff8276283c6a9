// Command hedge-init is the init of a process instance's sandbox: the
// worker starts it, in the instance's new namespaces, for every process
// instance (ADR 012). It is the same code as `hedge sandbox-init`, in a
// program of about 2 MB that starts in a millisecond, where re-running the
// whole hedge binary costs tens of milliseconds and ~20 MB for each
// instance. Install it beside hedge; without it the worker uses hedge.
package main

import (
	"fmt"
	"os"

	"github.com/hedgeorch/hedge/internal/runtime/process/sandboxinit"
)

func main() {
	sandboxinit.RunInitIfAsked()
	fmt.Fprintln(os.Stderr, "hedge-init: the init of a process instance's sandbox, started by hedge worker; not for use by hand")
	os.Exit(2)
}

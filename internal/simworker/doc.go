// Package simworker runs simulated workers, many in one process, for
// measuring the root and clusters at a size no test machine could run with
// real workers. Each simulated worker is a peer of the real link protocol:
// it joins its cluster with a real join token over TLS (trusting the CA the
// token pins), has its own identity and credential, and runs link.Run, so it
// reports, heartbeats and long-polls as a worker does. What it does not do
// is run anything: an instance assigned to it is STARTING, then RUNNING
// after a short simulated delay, with no process behind it.
package simworker

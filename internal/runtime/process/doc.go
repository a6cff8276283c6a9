// Package process is Hedge's embedded runtime driver: it runs each instance as a
// plain child process (fork/exec) in its own process group, limited by a
// cgroup per instance. It is built to be dense: the worker supervises its
// instances itself, with no helper process and at most one parked goroutine per
// instance (waiting on a pidfd through the Go netpoller, so no OS thread is held
// either), while output goes straight from the child into a file that one
// driver-wide goroutine keeps bounded. Instances survive a worker restart and
// are re-attached by Recover from the handle the worker kept (pid, process
// group, kernel start time).
package process

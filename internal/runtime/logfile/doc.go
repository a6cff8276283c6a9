// Package logfile keeps an instance's output file bounded and reads its tail.
// The process and containerd drivers let each instance write its stdout and
// stderr straight into a file (a pipe would need a copying goroutine per
// instance, and would kill the instance with SIGPIPE when the worker dies), so
// nothing bounds the file as it is written: the worker trims it afterwards,
// every few seconds, from one goroutine for all its instances.
package logfile

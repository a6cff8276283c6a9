// Package footprint keeps a long-running Hedge process's resident memory to
// what it uses once started. Start-up runs the init code of every package
// linked into the one hedge binary and, through the kernel's fault-around,
// maps most of the executable; Trim drops those mappings of the executable's
// read-only segments so that only the pages the process touches afterwards
// are mapped again (see docs/adr/010-idle-footprint.md).
package footprint

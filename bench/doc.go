// Command bench measures the figures of Hedge's core that a user quotes:
// how fast a submitted process instance is RUNNING, how many instances a
// worker starts per second, and what each tier costs in memory and CPU when
// idle, how long a container takes to start through Hedge next to the bare
// engine (containers), and how fast placement decides (placement, in
// process). It builds (or takes) the hedge binary, runs it as real OS
// processes on loopback exactly as a user would, drives it through the
// public REST API and reads the processes' cost from /proc, so the figures
// can be compared run to run and quoted in the README.
//
//	go run ./bench                     # every scenario
//	go run ./bench -scenario latency -n 200 -json
//
// See bench/README.md for what each figure means.
package main

package process

import "github.com/hedgeorch/hedge/internal/runtime/logfile"

// trimLoop is the one goroutine that keeps every running instance's log
// bounded. Children write their output straight into their log file (see
// package logfile for why), keeping an O_APPEND descriptor, so they go on
// writing at the new end after a trim.
func (d *Driver) trimLoop() {
	defer d.wg.Done()
	logfile.Keeper{Limit: d.logLimit, Every: d.logEvery, IDs: d.busyIDs, Path: d.logPath, Log: d.log}.Run(d.ctx.Done())
}

// busyIDs lists the instances whose logs may have grown: none while no
// instance has run since the last look (writing takes CPU time), else every
// one with a task.
func (d *Driver) busyIDs() []string {
	if d.cg.enabled() && d.trimQuiet.still(d.cg, 0) {
		return nil
	}
	return d.tasks.IDs()
}

package process

import "github.com/hedgeorch/hedge/internal/runtime/logfile"

// trimLoop is the one goroutine that keeps every running instance's log
// bounded. Children write their output straight into their log file (see
// package logfile for why), keeping an O_APPEND descriptor, so they go on
// writing at the new end after a trim.
func (d *Driver) trimLoop() {
	defer d.wg.Done()
	logfile.Keeper{Limit: d.logLimit, Every: d.logEvery, IDs: d.taskIDs, Path: d.logPath, Log: d.log}.Run(d.ctx.Done())
}

// taskIDs lists the instances the driver supervises.
func (d *Driver) taskIDs() []string {
	return d.tasks.IDs()
}

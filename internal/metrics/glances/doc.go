// Package glances shows the host a Hedge tier runs on the way Glances does, so
// that anything written against `glances -w` (FRACTAL's resource manager, the
// pressure controller, dashboards) can read a Hedge worker unchanged, and so
// Hedge can read real Glances hosts with the same code.
//
// It has three parts. A Sampler measures the host through a Source (HostSource
// uses gopsutil) when a reader asks, at most once per MaxAge (2 s, Glances'
// refresh) however many readers there are, and reads the process table only
// for readers of processlist, processcount or all; its Run loop only keeps a
// slow baseline for the cpu percentages, so an idle worker costs nothing. NewHandler serves that Sample under /api/3 and /api/4 with Glances'
// plugin names, field names, units and JSON types (floats always carry a
// decimal point, as Python writes them). Client reads any Glances-compatible
// endpoint into the typed plugin structs.
//
// Differences from glances 3.3.1.1, each on purpose or for lack of data (the
// real-Glances tests in real_test.go show everything else agrees):
//   - Only the plugins in Plugins are served (no sensors, docker, diskio...).
//   - An unknown plugin answers 404 (Glances: 400), and every error body is
//     JSON {"detail": "..."} as Glances 4 writes it (Glances 3: an HTML page).
//   - /api/3/status answers 200 with an empty body as Glances 3 does;
//     /api/4/status answers {"version": ...} as Glances 4 does. Otherwise /api/4
//     serves the Glances 3 field shapes (Glances 4 renamed the network
//     fields), plus Glances 4's /<plugin>/<item>/<key> and
//     /<plugin>/<item>/value/<value> routes.
//   - Path segments may be URL-escaped, so /api/3/fs/mnt_point/%2F finds "/".
//   - Limits are the numeric thresholds of Debian's default glances.conf; its
//     config echoes (cpu_disable: ["False"], fs_hide, ...) are left out.
//   - processlist entries have Glances' base fields, not the extended stats
//     Glances adds to its top process.
//   - fs lists gopsutil's partitions (from /proc/1/mountinfo), which skips
//     bind mounts psutil lists again (e.g. /var/lib/docker on the root disk).
//   - processlist reads at most DefaultMaxProcesses processes (the lowest
//     pids), so one request cannot cost without bound on a crowded host.
//   - network lists every interface from the first sample, with rx/tx 0 until
//     the second one (Glances lists none until its second update).
package glances

package glances

// Limits are the alert thresholds Glances serves under /<plugin>/limits: the
// numeric values of Debian's default /etc/glances/glances.conf (glances
// 3.3.1.1), so a client that colours or alerts on them behaves the same
// against Hedge. Percent thresholds are in %, load in load average per core,
// ctx_switches in switches per second.

// historySize is what Glances reports for history_size with its default
// configuration.
const historySize = 1200.0

// thresholds returns name_careful, name_warning, name_critical in order.
func thresholds(name string, careful, warning, critical float64) object {
	return object{{name + "_careful", careful}, {name + "_warning", warning}, {name + "_critical", critical}}
}

func limitsOf(parts ...object) object {
	o := object{{"history_size", historySize}}
	for _, p := range parts {
		o = append(o, p...)
	}
	return o
}

// defaultLimits is keyed by plugin name.
func defaultLimits() map[string]object {
	return map[string]object{
		"core": limitsOf(),
		"cpu": limitsOf(
			thresholds("cpu_total", 65, 75, 85),
			thresholds("cpu_user", 50, 70, 90),
			thresholds("cpu_system", 50, 70, 90),
			thresholds("cpu_steal", 50, 70, 90),
			thresholds("cpu_iowait", 40, 45, 50),
			thresholds("cpu_ctx_switches", 80000, 90000, 100000),
		),
		"fs":      limitsOf(thresholds("fs", 50, 70, 90)),
		"load":    limitsOf(thresholds("load", 0.7, 1.0, 5.0)),
		"mem":     limitsOf(thresholds("mem", 50, 70, 90)),
		"memswap": limitsOf(thresholds("memswap", 50, 70, 90)),
		"network": limitsOf(thresholds("network_rx", 70, 80, 90), thresholds("network_tx", 70, 80, 90)),
		"now":     limitsOf(),
		"percpu": limitsOf(
			thresholds("percpu_user", 50, 70, 90),
			thresholds("percpu_iowait", 50, 70, 90),
			thresholds("percpu_system", 50, 70, 90),
		),
		"processcount": limitsOf(),
		"processlist":  limitsOf(thresholds("processlist_cpu", 50, 70, 90), thresholds("processlist_mem", 50, 70, 90)),
		"quicklook": limitsOf(
			thresholds("quicklook_cpu", 50, 70, 90),
			thresholds("quicklook_mem", 50, 70, 90),
			thresholds("quicklook_swap", 50, 70, 90),
		),
		"system": limitsOf(object{{"system_refresh", int64(60)}}),
		"uptime": limitsOf(),
	}
}

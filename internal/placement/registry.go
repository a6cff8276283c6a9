package placement

import (
	"cmp"
	"slices"
)

// The default plugin set. Each plugin file that should run by default
// registers itself from an init function, so adding a plugin is a one-file
// change: write the plugin, its assertions and its registration together.
// Plugins that need data from outside (topology, traffic) are not defaults;
// callers pass them to New with WithFilter and WithScore.
//
// Filters run in order; a candidate is counted under the first filter that
// rejects it, so the cheap checks that explain most rejections come first:
//
//	100 NodeReady           not ready / cordoned
//	200 DirectConstraint    SLA "direct"
//	300 ClustersConstraint  SLA "clusters" (root only)
//	400 Runtime             virtualization
//	500 Arch                architecture
//	900 ResourcesFit        free cpu and memory
//
// Leave gaps: topology filters (latency, geo, links, regions, labels) belong
// between 500 and 900.

// filterRegistration builds a default filter for a level; build returns nil
// when the plugin has nothing to do at that level.
type filterRegistration struct {
	order int
	build func(Level) FilterPlugin
}

// policyRegistration builds the score plugin behind a policy name.
type policyRegistration struct {
	name  string
	build func(Level) ScorePlugin
}

// Written only by init functions of this package, read only by New.
var (
	registeredFilters  []filterRegistration
	registeredPolicies []policyRegistration
)

// registerFilter adds a filter to the default set at the given order.
func registerFilter(order int, build func(Level) FilterPlugin) {
	registeredFilters = append(registeredFilters, filterRegistration{order, build})
}

// registerPolicy makes a score plugin selectable by Request.Policy.
func registerPolicy(name string, build func(Level) ScorePlugin) {
	registeredPolicies = append(registeredPolicies, policyRegistration{name, build})
}

// defaultFilters returns the default filters for level, in run order.
func defaultFilters(level Level) []FilterPlugin {
	regs := slices.Clone(registeredFilters)
	slices.SortStableFunc(regs, func(a, b filterRegistration) int { return cmp.Compare(a.order, b.order) })
	var out []FilterPlugin
	for _, reg := range regs {
		if p := reg.build(level); p != nil {
			out = append(out, p)
		}
	}
	return out
}

// defaultPolicies returns the registered policies for level by name.
func defaultPolicies(level Level) map[string]ScorePlugin {
	out := make(map[string]ScorePlugin, len(registeredPolicies))
	for _, reg := range registeredPolicies {
		if p := reg.build(level); p != nil {
			out[reg.name] = p
		}
	}
	return out
}

// Package placement decides where an instance runs. It is a framework of small
// filter and score plugins in the style of the Kubernetes scheduler framework,
// and the same framework runs at both tiers that place work: at the root over
// clusters (LevelRoot) and in each cluster over its nodes (LevelCluster).
//
// A Place call runs every filter on every candidate, scores the survivors with
// the score plugins (by default the policy the request names: best-fit or
// worst-fit) and returns the best one, or an error wrapping ErrUnschedulable
// whose message says how many candidates each reason rejected. Adding a plugin
// is a one-file change: the file declares the plugin and, if it should run by
// default, registers it from an init function (see registry.go).
//
// Place sits on the hot path of every deployment, so plugins that depend on
// the request do that work once per call (PreFilterPlugin, PreScorePlugin) and
// the per-candidate path allocates nothing.
package placement

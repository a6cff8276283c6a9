// Package root is Hedge's control plane: it owns applications, services and
// which cluster runs each instance. It validates and stores what users submit
// through the REST API, places instances on clusters from their aggregates,
// moves them when a cluster goes silent, and shows the state that flows up.
package root

// Package api holds Hedge's wire types: what the REST API accepts and returns,
// and the domain vocabulary (service specs, instance states, resources) shared by
// every tier. It has no dependencies beyond the standard library, so a client
// program can import it without pulling in the server.
package api

// Package sla reads Oakestra SLA v2.0 deployment descriptors (JSON or YAML)
// into api.ServiceSpec values, so that a user can submit the same files to
// Hedge that they submit to Oakestra.
//
// Descriptors come from users, so the package decodes them into a generic tree
// and walks it itself: every wrong type, unknown field and out-of-range value is
// reported by its path in one ValidationError, instead of stopping at the first
// decode error. ValidateService holds the rules for a single service, and
// ValidateConnectivity those for the dataflows between the services of one
// application, so that code paths that receive an api.ServiceSpec directly
// check the same things.
package sla

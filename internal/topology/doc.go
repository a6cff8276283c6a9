// Package topology reads and holds the infrastructure that topology-aware
// placement works on, in FogAtlas's terms: regions (tiers from the cloud, 0,
// toward the edge), links between regions with bandwidth and latency,
// external endpoints (cameras, sensors) attached to regions, the nodes that
// give a region its capacity, and FADepl applications to place on it.
//
// ParseDocuments reads the multi-document YAML FogAtlas uses (apiVersion
// fogatlas.fbk.eu/v1alpha1, plus a small `kind: Node`) and reports every
// problem with the document, kind, name and field it is in. Build turns the
// objects into a Topology, which routes traffic between regions along the
// path of least latency; package placement/app decides where an application
// runs on it.
package topology

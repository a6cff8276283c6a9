// Package app places whole applications (FogAtlas FADepl) on a topology of
// regions and links: it decides, for every microservice, the region it runs
// in, so that the dataflows between microservices and external endpoints
// meet their latency bounds and fit the links' free bandwidth, and the nodes
// of each region can hold what is put there, using as little network and
// compute as possible.
//
// Small applications are solved exactly as a 0/1 optimisation problem with
// the gophersat pseudo-boolean solver; larger ones with a greedy heuristic and
// local improvement. Per-node checks reuse the filters of package placement
// (ResourcesFit) plus this package's NodeSelector. The objective and its
// tie-breaks are defined in docs/placement.md.
package app

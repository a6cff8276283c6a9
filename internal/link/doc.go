// Package link is the protocol between a lower tier and the tier above it:
// workers to their cluster, clusters to the root. The lower tier always dials
// (so edge machines behind NAT work), joins once with a join token, and then
// authenticates every request with the per-peer credential it was issued.
//
// The protocol is level-triggered: the upper tier publishes the whole set of
// assignments for a peer under a revision, and the peer long-polls for a
// revision other than the one it holds; the peer reports its whole state (its
// instances by value, or by digest when the upper tier acknowledged them and
// they did not change, ADR 010, or as a delta against the set the upper tier
// acknowledged, which the upper tier makes whole again). A lost message
// therefore never loses state, and a peer that was cut off simply converges
// on the next exchange. Requests that need an answer from below (logs) are
// relayed through a second long-poll. The instance network's map
// (netmap.go) is long-polled by revision as the assignments are, by peers
// that take part in it. Reports of many instances go in pages of PageSize,
// and a desired set carries each service's spec once (assign.go), so that no
// request grows past maxBody however many instances a peer has. See
// docs/adr/002-tier-link.md.
package link

// Package roster is what the root and a cluster share as the upper tier of
// their peers: a Roster of members that join with a token and authenticate
// with a credential, go NOT_READY when they fall silent, and each have a
// revisioned desired set whose change wakes their long-polls; and a Loop
// that places what has no member yet, on a trigger and every second.
package roster

// Package audit keeps the root's audit trail: who changed what through the
// API, when, from where and with what outcome, appended to a bounded log in
// the root's store and read back by Admin, newest first.
//
// The log lives in the root's bbolt store rather than in a file of its own:
// an entry is committed with the same durability as the state it describes,
// a backup of the store carries it, keys from the bucket's sequence are
// monotonic across restarts, and trimming the oldest entry is one delete in
// the append's own transaction, with no rotation to get wrong. Entries never
// hold request bodies, so no password or token reaches the log.
package audit

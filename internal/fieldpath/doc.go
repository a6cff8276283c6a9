// Package fieldpath is the one checker behind every descriptor Hedge reads
// (Oakestra SLAs, FogAtlas topology documents and FADepls, FRACTAL's nodes
// file). It decodes JSON or YAML into an ordered tree that remembers how each
// value was written, and a Walker reads typed values out of it, reporting
// every problem with the field path the user wrote ("spec.links[2].latency:
// must be a number, got list"), so that all problems come back in one round
// and hostile input (deep nesting, alias bombs, huge scalars) costs little.
package fieldpath

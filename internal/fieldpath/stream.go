package fieldpath

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"
)

// Document is one document of a YAML stream.
type Document struct {
	// Tree is the decoded document (nil for an empty one).
	Tree any
	// Problems were found while decoding (duplicate keys, bad scalars).
	Problems []Problem
}

// DecodeStream decodes a stream of YAML documents separated by "---", as
// Kubernetes-style files are written, each into a tree as Decode does. It
// stops at the first document the parser cannot read (it cannot
// resynchronise after a syntax error) and then returns the documents before
// it and an error naming the problem; the bad document is number
// len(docs)+1. maxDocs bounds how many documents are read.
func DecodeStream(data []byte, noun string, maxSize, maxDocs int) (docs []Document, err error) {
	if len(data) > maxSize {
		return nil, fmt.Errorf("%s is %d bytes; the limit is %d (%s)", noun, len(data), maxSize, sizeName(maxSize))
	}
	// The YAML parser is third-party code fed hostile input; a panic in it
	// must become a rejected document, not a crashed process.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("invalid YAML: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return docs, yamlError(err)
		}
		if len(docs) == maxDocs {
			return docs, fmt.Errorf("more than %d documents", maxDocs)
		}
		if n.Kind == 0 { // "---" with nothing after it
			docs = append(docs, Document{})
			continue
		}
		c := &yamlConverter{noun: noun, budget: maxNodes}
		tree, err := c.convert(&n, "", 0)
		if err != nil {
			return docs, err
		}
		docs = append(docs, Document{Tree: tree, Problems: c.problems})
	}
}

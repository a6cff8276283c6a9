package fieldpath

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

const (
	// maxDepth bounds nesting. An SLA is about six levels deep; the bound
	// keeps recursion shallow on hostile input.
	maxDepth = 64
	// maxNodes bounds the values a YAML document may expand to through
	// aliases (the "billion laughs" attack).
	maxNodes = 1 << 20
)

// The decoded tree holds: nil (null or absent), string, bool, Number, []any
// and *Object.

// Object is a decoded mapping that remembers key order, so that problems are
// reported in the order the user wrote the fields.
type Object struct {
	keys   []string
	values map[string]any
}

// NewObject returns an empty Object.
func NewObject() *Object { return &Object{values: map[string]any{}} }

// Get returns the value of key, nil when it is absent or null.
func (o *Object) Get(key string) any { return o.values[key] }

// Has reports whether key was written, even as null.
func (o *Object) Has(key string) bool {
	_, ok := o.values[key]
	return ok
}

// Keys returns the keys in the order they were written.
func (o *Object) Keys() []string { return o.keys }

// Set sets key, keeping its first position if it was already set.
func (o *Object) Set(key string, v any) {
	if !o.Has(key) {
		o.keys = append(o.keys, key)
	}
	o.values[key] = v
}

// Number is a numeric scalar: its value and the text it was written as, which
// messages quote.
type Number struct {
	Value float64
	Text  string
}

// Decode turns one JSON or YAML document into a tree. noun names the
// document in messages ("descriptor is empty"); maxSize bounds its length in
// bytes. ok is false when the input could not be read at all; problems may be
// non-empty either way (a duplicate key, say, does not stop decoding).
func Decode(data []byte, noun string, maxSize int) (tree any, problems []Problem, ok bool) {
	fatal := func(format string, args ...any) (any, []Problem, bool) {
		return nil, []Problem{{Message: fmt.Sprintf(format, args...)}}, false
	}
	if len(data) > maxSize {
		return fatal("%s is %d bytes; the limit is %d (%s)", noun, len(data), maxSize, sizeName(maxSize))
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // UTF-8 byte order mark
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return fatal("%s is empty", noun)
	}
	if trimmed[0] == '{' || trimmed[0] == '[' {
		tree, problems, err := decodeJSON(data, noun)
		if err == nil {
			return tree, problems, true
		}
		// A YAML flow mapping also starts with "{"; only if it is not YAML
		// either is the JSON error the better message.
		if ytree, yproblems, yerr := decodeYAML(data, noun); yerr == nil {
			return ytree, yproblems, true
		}
		return fatal("%s", err)
	}
	tree, problems, err := decodeYAML(data, noun)
	if err != nil {
		return fatal("%s", err)
	}
	return tree, problems, true
}

// jsonBuilder builds a tree from JSON tokens. It goes token by token instead
// of unmarshalling into a map so that it keeps key order and notices
// duplicate keys, which encoding/json silently lets the last one win.
type jsonBuilder struct {
	dec      *json.Decoder
	noun     string
	problems []Problem
}

func decodeJSON(data []byte, noun string) (any, []Problem, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	b := &jsonBuilder{dec: dec, noun: noun}
	tree, err := b.value("", 0)
	if err == nil {
		if _, err = dec.Token(); err == nil {
			line, col := position(data, dec.InputOffset())
			return nil, nil, fmt.Errorf("invalid JSON at line %d, column %d: unexpected data after the top-level value", line, col)
		} else if errors.Is(err, io.EOF) {
			err = nil
		}
	}
	if err != nil {
		return nil, nil, jsonError(data, err)
	}
	return tree, b.problems, nil
}

func (b *jsonBuilder) value(path string, depth int) (any, error) {
	tok, err := b.dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		if depth >= maxDepth {
			return nil, tooDeep(b.noun)
		}
		if t == '{' {
			return b.object(path, depth)
		}
		return b.list(path, depth)
	case json.Number:
		f, _ := strconv.ParseFloat(string(t), 64) // out of range gives ±Inf, reported by the walker
		return Number{Value: f, Text: string(t)}, nil
	default: // string, bool, nil
		return t, nil
	}
}

func (b *jsonBuilder) object(path string, depth int) (any, error) {
	o := NewObject()
	for b.dec.More() {
		tok, err := b.dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string) // the decoder only yields strings as keys
		field := Join(path, key)
		v, err := b.value(field, depth+1)
		if err != nil {
			return nil, err
		}
		if o.Has(key) {
			b.problems = append(b.problems, Problem{Field: field, Message: "duplicate field"})
		}
		o.Set(key, v)
	}
	_, err := b.dec.Token() // '}'
	return o, err
}

func (b *jsonBuilder) list(path string, depth int) (any, error) {
	items := []any{}
	for i := 0; b.dec.More(); i++ {
		v, err := b.value(Index(path, i), depth+1)
		if err != nil {
			return nil, err
		}
		items = append(items, v)
	}
	_, err := b.dec.Token() // ']'
	return items, err
}

// errTooDeep is wrapped by the error for a document nested deeper than
// maxDepth.
var errTooDeep = errors.New("nests too deep")

type tooDeepError struct{ noun string }

func (e *tooDeepError) Error() string {
	return fmt.Sprintf("%s nests deeper than %d levels", e.noun, maxDepth)
}
func (e *tooDeepError) Unwrap() error { return errTooDeep }

func tooDeep(noun string) error { return &tooDeepError{noun} }

// sizeName renders a byte count for a message: "1 MiB", "512 KiB".
func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// jsonError rewrites a decoder error with a line and column, which is what a
// user needs to find the mistake in a hand-written file.
func jsonError(data []byte, err error) error {
	var syntax *json.SyntaxError
	switch {
	case errors.As(err, &syntax):
		line, col := position(data, syntax.Offset)
		return fmt.Errorf("invalid JSON at line %d, column %d: %s", line, col, syntax.Error())
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("invalid JSON: unexpected end of input")
	case errors.Is(err, errTooDeep):
		return err
	}
	return fmt.Errorf("invalid JSON: %w", err)
}

// position converts a byte offset into a 1-based line and column.
func position(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

// yamlConverter turns a yaml.Node tree into the generic tree, resolving
// aliases and merge keys within a budget.
type yamlConverter struct {
	noun     string
	budget   int
	problems []Problem
}

func decodeYAML(data []byte, noun string) (tree any, problems []Problem, err error) {
	// The YAML parser is third-party code fed hostile input; a panic in it
	// must become a rejected descriptor, not a crashed root.
	defer func() {
		if r := recover(); r != nil {
			tree, problems, err = nil, nil, fmt.Errorf("invalid YAML: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, fmt.Errorf("%s is empty", noun)
		}
		return nil, nil, yamlError(err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, nil, errors.New("invalid YAML: more than one document")
	case !errors.Is(err, io.EOF):
		return nil, nil, yamlError(err)
	}
	c := &yamlConverter{noun: noun, budget: maxNodes}
	tree, err = c.convert(&doc, "", 0)
	if err != nil {
		return nil, nil, err
	}
	return tree, c.problems, nil
}

func yamlError(err error) error {
	return fmt.Errorf("invalid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
}

func (c *yamlConverter) problem(field, format string, args ...any) {
	c.problems = append(c.problems, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (c *yamlConverter) convert(n *yaml.Node, path string, depth int) (any, error) {
	if depth >= maxDepth {
		return nil, tooDeep(c.noun)
	}
	if c.budget--; c.budget < 0 {
		return nil, fmt.Errorf("invalid YAML: aliases expand to more than %d values", maxNodes)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.convert(n.Content[0], path, depth)
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, errors.New("invalid YAML: unresolved alias")
		}
		return c.convert(n.Alias, path, depth+1)
	case yaml.SequenceNode:
		items := make([]any, 0, len(n.Content))
		for i, item := range n.Content {
			v, err := c.convert(item, Index(path, i), depth+1)
			if err != nil {
				return nil, err
			}
			items = append(items, v)
		}
		return items, nil
	case yaml.MappingNode:
		return c.mapping(n, path, depth)
	case yaml.ScalarNode:
		return c.scalar(n, path), nil
	}
	return nil, fmt.Errorf("invalid YAML: unexpected node kind %d at line %d", n.Kind, n.Line)
}

func (c *yamlConverter) mapping(n *yaml.Node, path string, depth int) (any, error) {
	o := NewObject()
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			c.problem(path, "line %d: keys must be plain strings", k.Line)
			continue
		}
		field := Join(path, k.Value)
		if !utf8.ValidString(k.Value) {
			c.problem(field, "field name is not valid UTF-8")
			continue
		}
		if o.Has(k.Value) {
			c.problem(field, "duplicate field")
		}
		val, err := c.convert(v, field, depth+1)
		if err != nil {
			return nil, err
		}
		o.Set(k.Value, val)
	}
	// Merge keys ("<<: *defaults") add the fields the mapping does not set
	// itself; in a list of merged mappings the earlier one wins.
	for _, m := range merges {
		sources := []*yaml.Node{m}
		if target := resolveAlias(m); target.Kind == yaml.SequenceNode {
			sources = target.Content
		}
		for _, src := range sources {
			if resolveAlias(src).Kind != yaml.MappingNode {
				c.problem(path, "line %d: a merge key (<<) needs a mapping or a list of mappings", src.Line)
				continue
			}
			merged, err := c.convert(src, path, depth+1)
			if err != nil {
				return nil, err
			}
			mo := merged.(*Object) // a mapping converts to an object
			for _, key := range mo.Keys() {
				if !o.Has(key) {
					o.Set(key, mo.Get(key))
				}
			}
		}
	}
	return o, nil
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < maxDepth; i++ {
		n = n.Alias
	}
	return n
}

func (c *yamlConverter) scalar(n *yaml.Node, path string) any {
	switch tag := n.ShortTag(); tag {
	case "!!null":
		return nil
	case "!!str", "!!timestamp":
		if !utf8.ValidString(n.Value) {
			c.problem(path, "line %d: string is not valid UTF-8", n.Line)
			return nil
		}
		return n.Value
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			c.problem(path, "line %d: %q is not a boolean", n.Line, n.Value)
			return nil
		}
		return b
	case "!!int", "!!float":
		var v any
		if err := n.Decode(&v); err != nil {
			c.problem(path, "line %d: %q is not a number", n.Line, n.Value)
			return nil
		}
		switch v := v.(type) {
		case int:
			return Number{Value: float64(v), Text: n.Value}
		case int64:
			return Number{Value: float64(v), Text: n.Value}
		case uint64:
			return Number{Value: float64(v), Text: n.Value}
		case float64:
			return Number{Value: v, Text: n.Value}
		}
		c.problem(path, "line %d: %q is not a number", n.Line, n.Value)
		return nil
	default:
		c.problem(path, "line %d: unsupported YAML tag %s", n.Line, tag)
		return nil
	}
}

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

// Join appends a field name to a path: "a" + "b" gives "a.b". Names that
// would make the path ambiguous are quoted: a["my key"].
func Join(path, name string) string {
	if !plainKey.MatchString(name) {
		return path + "[" + strconv.Quote(name) + "]"
	}
	if path == "" {
		return name
	}
	return path + "." + name
}

// Index appends a list index to a path: "a" + 2 gives "a[2]".
func Index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// Describe names a tree value's type, with the value for scalars, for
// messages such as `must be a number, got string "abc"`.
func Describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return "string " + Quote(v)
	case bool:
		return "boolean " + strconv.FormatBool(v)
	case Number:
		return "number " + Shorten(v.Text)
	case []any:
		return "list"
	case *Object:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// Quote quotes s for a message, shortened so that a huge value does not
// make a huge message.
func Quote(s string) string { return strconv.Quote(Shorten(s)) }

// Shorten cuts s to 40 characters and an ellipsis, for messages.
func Shorten(s string) string {
	const limit = 40
	if utf8.RuneCountInString(s) > limit {
		s = string([]rune(s)[:limit]) + "..."
	}
	return s
}

package fieldpath

import (
	"reflect"
	"strings"
	"testing"
)

func TestUnitDecodeAndWalk(t *testing.T) {
	tests := []struct {
		name string
		in   string
		read func(w *Walker, o *Object)
		want []string // problems as "field: message"
	}{
		{name: "json types named by path", in: `{"a": [1], "b": {"c": "x"}}`,
			read: func(w *Walker, o *Object) {
				w.Str("a", o.Get("a"))
				b, _ := w.Object("b", o.Get("b"))
				w.Integer(Join("b", "c"), b.Get("c"))
			},
			want: []string{"a: must be a string, got list", `b.c: must be a number, got string "x"`}},
		{name: "yaml duplicate key", in: "a: 1\na: 2\n", want: []string{"a: duplicate field"}},
		{name: "unknown field with a guess", in: "naem: x\n",
			read: func(w *Walker, o *Object) { w.CheckFields("", o, []string{"name"}) },
			want: []string{`naem: unknown field (did you mean "name"?)`}},
		{name: "text takes numbers as written", in: "tier: 0\nbw: 10M\nbad: [1]\n",
			read: func(w *Walker, o *Object) {
				if s, _ := w.Text("tier", o.Get("tier")); s != "0" {
					t.Errorf("tier = %q, want 0", s)
				}
				if s, _ := w.Text("bw", o.Get("bw")); s != "10M" {
					t.Errorf("bw = %q, want 10M", s)
				}
				w.Text("bad", o.Get("bad"))
			},
			want: []string{"bad: must be a string or a number, got list"}},
		{name: "whole number", in: `{"n": 1.5}`,
			read: func(w *Walker, o *Object) { w.Integer("n", o.Get("n")) },
			want: []string{"n: must be a whole number, got number 1.5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree, problems, ok := Decode([]byte(tt.in), "doc", 1<<20)
			if !ok {
				t.Fatalf("Decode failed: %v", problems)
			}
			w := NewWalker(problems)
			if tt.read != nil {
				tt.read(w, tree.(*Object))
			}
			var got []string
			for _, p := range w.Problems() {
				got = append(got, p.String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("problems = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestUnitDecodeRefuses(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty", "  \n", "doc is empty"},
		{"too big", strings.Repeat("a", 2048), "doc is 2048 bytes; the limit is 1024 (1 KiB)"},
		{"json syntax", `[1, 2`, "invalid JSON: unexpected end of input"},
		{"too deep", strings.Repeat("[", 100) + strings.Repeat("]", 100), "doc nests deeper than 64 levels"},
		{"alias bomb", "a: &a [x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n", "aliases expand to more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, problems, ok := Decode([]byte(tt.in), "doc", 1024)
			if tt.name == "alias bomb" {
				_, problems, ok = Decode([]byte(tt.in), "doc", 1<<20)
			}
			if ok || len(problems) != 1 || !strings.Contains(problems[0].Message, tt.want) {
				t.Fatalf("Decode = ok %v, %v; want a refusal containing %q", ok, problems, tt.want)
			}
		})
	}
}

func TestUnitDecodeStream(t *testing.T) {
	docs, err := DecodeStream([]byte("---\na: 1\n---\n---\nb: [\n"), "input", 1<<20, 10)
	if err == nil || !strings.Contains(err.Error(), "invalid YAML") {
		t.Fatalf("err = %v, want the syntax error of the last document", err)
	}
	if len(docs) != 2 || docs[1].Tree != nil {
		t.Fatalf("docs = %+v, want a document and an empty one before the bad one", docs)
	}
	if _, err := DecodeStream([]byte("a: 1\n---\nb: 2\n---\nc: 3\n"), "input", 1<<20, 2); err == nil || !strings.Contains(err.Error(), "more than 2 documents") {
		t.Fatalf("err = %v, want the document limit", err)
	}
}

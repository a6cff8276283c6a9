package kube

import (
	"errors"
	"testing"
)

const index = `apiVersion: v1
entries:
  web:
  - name: web
    version: 1.0.0
    appVersion: "1.25"
    description: a web server
    urls: [charts/web-1.0.0.tgz]
  - name: web
    version: 1.2.0
    urls: [https://cdn.example.org/web-1.2.0.tgz]
  - name: web
    version: 0.9.0
  broker:
  - name: broker
    version: 2.0.0
    urls: [broker-2.0.0.tgz]
generated: "2026-11-23T00:00:00Z"
`

func TestParseIndexUnit(t *testing.T) {
	idx, err := ParseIndex([]byte(index))
	if err != nil {
		t.Fatal(err)
	}
	got := Charts("stable", idx)
	want := []string{"broker 2.0.0", "web 1.2.0", "web 1.0.0"} // by name, newest first, entries without URLs dropped
	if len(got) != len(want) {
		t.Fatalf("charts %+v, want %v", got, want)
	}
	for i, c := range got {
		if c.Name+" "+c.Version != want[i] || c.Repo != "stable" {
			t.Errorf("chart %d = %+v, want %s", i, c, want[i])
		}
	}
	cv, err := idx.Get("web", "")
	if err != nil || cv.Version != "1.2.0" {
		t.Fatalf("newest web = %v, %v", cv, err)
	}
	u, err := resolveChartURL("http://repo.example.org/stable", "charts/web-1.0.0.tgz")
	if err != nil || u != "http://repo.example.org/stable/charts/web-1.0.0.tgz" {
		t.Fatalf("resolve = %s, %v", u, err)
	}
	if u, _ := resolveChartURL("http://repo.example.org/stable/", "https://cdn.example.org/web-1.2.0.tgz"); u != "https://cdn.example.org/web-1.2.0.tgz" {
		t.Fatalf("absolute url resolved to %s", u)
	}
}

func TestParseIndexRejectsUnit(t *testing.T) {
	for _, tt := range []struct{ name, doc string }{
		{"not yaml", "{{"},
		{"no apiVersion", "entries: {}\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseIndex([]byte(tt.doc)); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

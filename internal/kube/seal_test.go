package kube

import (
	"bytes"
	"testing"

	"github.com/hedgeorch/hedge/internal/store"
)

func TestSealRoundTripUnit(t *testing.T) {
	st := store.NewMemory()
	s, err := loadSealer(st)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("apiVersion: v1\nusers: [{name: a, user: {token: s3cret}}]")
	sealed, err := s.Seal("cluster-1", secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("s3cret")) {
		t.Fatal("sealed secret holds the plain text")
	}
	// A second load finds the same key, so secrets survive a restart.
	s2, err := loadSealer(st)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s2.Open("cluster-1", sealed)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("open = %q, %v", got, err)
	}
	if _, err := s2.Open("cluster-2", sealed); err == nil {
		t.Error("a secret sealed for cluster-1 opened for cluster-2")
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := s2.Open("cluster-1", sealed); err == nil {
		t.Error("an altered secret opened")
	}
	other, err := loadSealer(store.NewMemory())
	if err != nil {
		t.Fatal(err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := other.Open("cluster-1", sealed); err == nil {
		t.Error("a secret opened with another store's key")
	}
}

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestCommittedSampleIsCurrent fails when config/samples/council differs from what the generator
// writes, or when the sample no longer supports what the make run tour says (checked with the
// policy engine, so a change of the engine's figures shows here first).
func TestCommittedSampleIsCurrent(t *testing.T) {
	councils, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	files := render(councils)
	dir := filepath.Join("..", "..", "config", "samples", "council")
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is out of date (%v): run make samples and commit it", name, err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if _, ok := files[e.Name()]; !ok {
			t.Errorf("%s is not written by the generator: remove it or generate it", e.Name())
		}
	}
}

// TestGenerationIsDeterministic: the same seed writes the same bytes.
func TestGenerationIsDeterministic(t *testing.T) {
	a, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	b, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	fa, fb := render(a), render(b)
	for name := range fa {
		if !bytes.Equal(fa[name], fb[name]) {
			t.Errorf("%s differs between two runs", name)
		}
	}
}

package snapshot

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

func caseAt(rv string) *v1alpha1.Case {
	return &v1alpha1.Case{ObjectMeta: metav1.ObjectMeta{Name: "c", UID: "u", ResourceVersion: rv}}
}

func reaches(p *Progress, rv string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	return p.Reach(ctx, rv) == nil
}

// A store that cannot say how far it has come (client-go with AtomicFIFO off, whose relists reach
// the store one object at a time) never vouches for a watermark, whatever its handlers are handed:
// every decision that needs one is then made from the apiserver.
func TestProgressTrustsTheStoreNotTheHandlers(t *testing.T) {
	p := NewProgress()
	p.Store = func() string { return "" }
	p.Saw(caseAt("40"), false)
	if reaches(p, "12") {
		t.Fatal("a store that says nothing vouched for resourceVersion 12 because a handler was handed 40")
	}
	if !reaches(p, "") {
		t.Fatal("a ledger with no watermark needs no progress")
	}

	at := "12"
	p.Store = func() string { return at }
	if !reaches(p, "12") || reaches(p, "13") {
		t.Fatal("progress is what the store says it has applied")
	}
	// A bookmark moves the store on without handing anything to the handlers.
	at = "30"
	if !reaches(p, "30") {
		t.Fatal("a store moved on by a bookmark was not seen to reach 30")
	}
}

// Without a store (the simulation's caches, which apply changes in order and relist at once),
// progress is the newest object handed on; deletions are remembered with their resourceVersion.
func TestProgressWithoutAStoreFollowsTheHandlers(t *testing.T) {
	p := NewProgress()
	p.Saw(caseAt("7"), false)
	if !reaches(p, "7") || reaches(p, "8") {
		t.Fatal("progress is the newest object handed on")
	}
	p.Saw(caseAt("9"), true)
	if rv, ok := p.Deleted("u"); !ok || rv != 9 {
		t.Fatalf("deletion remembered at %d (%v), want 9", rv, ok)
	}
}

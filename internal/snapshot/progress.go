package snapshot

import (
	"context"
	"fmt"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/ledger"
)

// CaseProgress is how far this replica's cache of Cases has come: the highest resourceVersion
// among the Cases its informer has handed on (an object reaches the handlers only once the
// cache shows it). A ledger's spec.seenThrough says how far the cache that pruned it had come;
// a replica counts that ledger only once its own cache has come as far, so an entry dropped
// because one cache showed its Case is never missing from another replica's count.
//
// resourceVersions are opaque to clients, but an apiserver backed by etcd issues them from one
// increasing counter, and one informer's watch delivers them in order.
type CaseProgress struct {
	mu      sync.Mutex
	through uint64
	moved   chan struct{} // closed, and replaced, whenever through moves on
}

// TrackCases follows the Case informer of c. Cases already in the cache count at once.
func TrackCases(ctx context.Context, c cache.Cache) (*CaseProgress, error) {
	p := &CaseProgress{moved: make(chan struct{})}
	inf, err := c.GetInformer(ctx, &v1alpha1.Case{})
	if err != nil {
		return nil, fmt.Errorf("follow the cache of cases: %w", err)
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    p.saw,
		UpdateFunc: func(_, obj any) { p.saw(obj) },
		DeleteFunc: p.saw,
	}); err != nil {
		return nil, fmt.Errorf("follow the cache of cases: %w", err)
	}
	return p, nil
}

func (p *CaseProgress) saw(obj any) {
	if gone, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = gone.Obj
	}
	o, ok := obj.(metav1.Object)
	if !ok {
		return
	}
	p.advance(ledger.ParseVersion(o.GetResourceVersion()))
}

func (p *CaseProgress) advance(rv uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if rv > p.through {
		p.through = rv
		close(p.moved)
		p.moved = make(chan struct{})
	}
}

// Reach waits until the cache has come as far as rv ("" or "0": at once). It fails when ctx
// ends first; the caller must then not count a ledger that needs the cache to have come so far.
func (p *CaseProgress) Reach(ctx context.Context, rv string) error {
	want := ledger.ParseVersion(rv)
	for {
		p.mu.Lock()
		through, moved := p.through, p.moved
		p.mu.Unlock()
		if through >= want {
			return nil
		}
		select {
		case <-moved:
		case <-ctx.Done():
			return fmt.Errorf("this replica of the operator has caught up with case changes to resourceVersion %d, not yet %d as the ledger needs (%w); if it keeps saying so, its watch of Cases is stuck: restart that replica", through, want, ctx.Err())
		}
	}
}

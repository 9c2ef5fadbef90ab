package snapshot

import (
	"context"
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"caseload.dev/caseload-operator/internal/ledger"
)

// Progress is how far this replica's cache of one kind has come: the highest resourceVersion
// among the objects its informer has handed on (an object reaches the handlers only once the
// cache shows it), and the objects it has seen deleted lately. A ledger's spec.seenThrough says
// how far the cache that pruned it had come; a replica counts that ledger only once its own cache
// has come as far (or reads the team from the apiserver instead), so an entry dropped because one
// cache showed its Case is never missing from another replica's count.
//
// resourceVersions are opaque to clients, but an apiserver backed by etcd issues them from one
// increasing counter, and one informer's watch delivers them in order. After a failed watch the
// informer lists again, and client-go hands the whole list on as one replacement of the cache
// (its AtomicFIFO, on by default since Kubernetes 1.35): docs/admission.md names this among the
// assumptions the ledger rests on.
type Progress struct {
	mu       sync.Mutex
	through  uint64
	moved    chan struct{} // closed, and replaced, whenever through moves on
	deleted  map[types.UID]gone
	lastTrim time.Time
}

type gone struct {
	rv uint64
	at time.Time
}

// NewProgress is a Progress that has seen nothing.
func NewProgress() *Progress {
	return &Progress{moved: make(chan struct{}), deleted: map[types.UID]gone{}}
}

// Track follows the informer of obj's kind in c. Objects already in the cache count at once.
func Track(ctx context.Context, c cache.Cache, obj client.Object) (*Progress, error) {
	p := NewProgress()
	inf, err := c.GetInformer(ctx, obj)
	if err != nil {
		return nil, fmt.Errorf("follow the cache of %T: %w", obj, err)
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { p.Saw(o, false) },
		UpdateFunc: func(_, o any) { p.Saw(o, false) },
		DeleteFunc: func(o any) { p.Saw(o, true) },
	}); err != nil {
		return nil, fmt.Errorf("follow the cache of %T: %w", obj, err)
	}
	return p, nil
}

// Saw records an object the informer handed on; deleted when it was a deletion.
func (p *Progress) Saw(obj any, deleted bool) {
	if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
		deleted = true
	}
	o, ok := obj.(metav1.Object)
	if !ok {
		return
	}
	rv := ledger.ParseVersion(o.GetResourceVersion())
	p.mu.Lock()
	defer p.mu.Unlock()
	if deleted {
		now := time.Now()
		p.deleted[o.GetUID()] = gone{rv: rv, at: now}
		p.trim(now)
	}
	if rv > p.through {
		p.through = rv
		close(p.moved)
		p.moved = make(chan struct{})
	}
}

// trim forgets deletions older than anything could still ask about. p.mu must be held.
func (p *Progress) trim(now time.Time) {
	if now.Sub(p.lastTrim) < ledger.TTL {
		return
	}
	p.lastTrim = now
	for uid, g := range p.deleted {
		if now.Sub(g.at) > 2*ledger.TTL {
			delete(p.deleted, uid)
		}
	}
}

// Deleted reports whether the cache has seen the object with uid deleted lately, and at which
// resourceVersion.
func (p *Progress) Deleted(uid types.UID) (uint64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	g, ok := p.deleted[uid]
	return g.rv, ok
}

// Reach waits until the cache has come as far as rv ("" or "0": at once). It fails when ctx
// ends first; the caller must then not count a ledger that needs the cache to have come so far.
func (p *Progress) Reach(ctx context.Context, rv string) error {
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
			return fmt.Errorf("this replica's cache has come as far as resourceVersion %d, not yet %d (%w)", through, want, ctx.Err())
		}
	}
}

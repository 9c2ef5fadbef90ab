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

// Progress is how far this replica's cache of one kind has come, and the objects it has seen
// deleted lately. A ledger's spec.seenThrough says how far the cache that pruned it had come; a
// replica counts that ledger only once its own cache has come as far (or reads the team from the
// apiserver instead), so an entry dropped because one cache showed its Case is never missing from
// another replica's count.
//
// How far a cache has come is what its informer's store says it has applied
// (LastStoreSyncResourceVersion): each change in the order one watch delivers it, a relist as one
// replacement of the whole store, and the watch's bookmarks, so a quiet kind still moves on.
// client-go reports that only with its AtomicFIFO on (the default since Kubernetes 1.36). With it
// switched off (KUBE_FEATURE_AtomicFIFO=false) a relist reaches the store one object at a time,
// in no order, and the store reports nothing: the cache then never vouches for a watermark, and
// every decision that needs one is made from the apiserver, slower but never wrong. What the
// event handlers hand on is never taken as progress: an object handed on in the middle of such a
// relist says nothing of the objects still to come.
type Progress struct {
	// Store is how far the informer's store has come ("" when it cannot say). Track sets it; a
	// Progress without one goes by the objects handed to Saw, for a cache that applies changes
	// one at a time in resourceVersion order and relists all at once (the simulation's).
	Store func() string

	mu       sync.Mutex
	through  uint64
	moved    chan struct{} // closed, and replaced, whenever the handlers are handed something
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
	store, ok := inf.(interface{ GetStore() toolscache.Store })
	if !ok {
		return nil, fmt.Errorf("follow the cache of %T: its informer (%T) does not show its store", obj, inf)
	}
	p.Store = store.GetStore().LastStoreSyncResourceVersion
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
	p.through = max(p.through, rv)
	close(p.moved)
	p.moved = make(chan struct{})
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
	var poll <-chan time.Time
	if p.Store != nil {
		// A bookmark moves the store on without handing anything to the handlers.
		t := time.NewTicker(bookmarkPoll)
		defer t.Stop()
		poll = t.C
	}
	for {
		through, moved := p.at()
		if through >= want {
			return nil
		}
		select {
		case <-moved:
		case <-poll:
		case <-ctx.Done():
			return fmt.Errorf("this replica's cache has come as far as resourceVersion %d, not yet %d (%w)", through, want, ctx.Err())
		}
	}
}

// bookmarkPoll is how often Reach looks at the store between the changes handed on.
const bookmarkPoll = 5 * time.Millisecond

// at is how far the cache has come, and a channel closed when the handlers are next handed
// something.
func (p *Progress) at() (uint64, <-chan struct{}) {
	p.mu.Lock()
	through, moved := p.through, p.moved
	p.mu.Unlock()
	if p.Store != nil {
		through = ledger.ParseVersion(p.Store())
	}
	return through, moved
}

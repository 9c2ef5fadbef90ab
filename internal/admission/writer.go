// Package admission decides allocations exactly, whatever the number of replicas answering the
// webhook: each decision that may add to a team's allocation ledger is a job in a batch for that
// ledger (Writer), decided against this replica's cache when it has come as far as the ledger
// needs and against the apiserver otherwise (LiveReads), and written with compare-and-swap. The
// webhooks of internal/webhook are its adapters: they say what is decided and for whom; the policy
// engine (internal/policy) says what fits. docs/admission.md states the invariant it keeps.
package admission

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	caseloadv1alpha1 "caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/ledger"
	"caseload.dev/caseload-operator/internal/snapshot"
	"caseload.dev/caseload-operator/internal/words"
)

// The ledger's writes are batched, as Kubernetes' ResourceQuota admission batches the requests
// waiting on one quota. Every decision that may add to a team's ledger (an allocation, a
// practitioner leaving the team) is a job queued for its team's ledger. The request that finds
// no batch running runs one: it takes every job waiting, decides them one after another against
// the ledger as the earlier jobs of the batch leave it, and writes the result once, with
// compare-and-swap on the ledger's resourceVersion. While that write is in flight, new jobs queue
// up for the next batch. So concurrent allocations cost one write between them, and never wait
// for each other's writes one at a time.
//
// The ledger is read from the freshest copy this replica has, its own last write or the
// cache's, whichever is newer. It is re-read from the apiserver only when the write conflicts
// (another replica or the operator wrote first), and then the whole batch is decided again.
// Either way it is decided against this replica's cache only once that cache has come as far as
// the ledger's seenThrough (an entry dropped on being seen is then in the cache); a cache that
// has not, within catchUp, is passed over and the batch decided against the apiserver itself.
// A refusal is always made against the apiserver: a batch with one is decided again from what the
// apiserver holds (snapshot.LoadLive) before anyone is refused, so a cache that has not seen work
// given back, or a change counted twice while it is in flight, never refuses what fits.

// Budget bounds a batch's compare-and-swap retries, inside the webhook's timeoutSeconds
// (15) with room for the apiserver's own overhead.
const Budget = 10 * time.Second

// catchUp bounds the wait for this replica's caches to come as far as a ledger needs. Caches are
// milliseconds apart; one still behind after this (a quiet kind whose watch has nothing newer to
// deliver, or a watch restarting) is passed over for the apiserver.
const catchUp = 100 * time.Millisecond

// A Decider decides against the ledger's spec as it stands (pruned), and returns it as it should
// be: unchanged when it adds nothing (refused, or a dry run). live, when not nil, is where to read
// the team from instead of the cache: the apiserver, each object read once for the whole batch
// (liveReads). It is called again with a fresher spec if the batch's write conflicts, or live
// after a refusal, so it must decide from what it is given.
type Decider func(ctx context.Context, spec caseloadv1alpha1.AllocationLedgerSpec, live client.Reader) (caseloadv1alpha1.AllocationLedgerSpec, error)

// A job is a Decider waiting for its batch, and where its outcome goes.
type job struct {
	decide Decider
	done   chan error
}

// ledgerQueue is the jobs waiting on one team's ledger and the freshest ledger known.
type ledgerQueue struct {
	pending []*job
	running bool
	known   *caseloadv1alpha1.AllocationLedger
}

// Writer batches the writes of every team's ledger.
type Writer struct {
	Cache client.Reader
	// Cases and Practitioners are how far Cache has come with each kind.
	Cases, Practitioners *snapshot.Progress
	Live                 client.Reader
	Client               client.Client
	// Now is this process's clock: entries are timed by when it first saw them (Observed).
	Now      func() time.Time
	Observed *ledger.Observed
	// CatchUp and Pause are catchUp and conflictBackoff unless set (the simulation sets them).
	CatchUp *time.Duration
	Pause   func(attempt int) time.Duration

	mu      sync.Mutex
	ledgers map[types.NamespacedName]*ledgerQueue
}

// queue is the ledger's queue; w.mu must be held.
func (w *Writer) queue(key types.NamespacedName) *ledgerQueue {
	if w.ledgers == nil {
		w.ledgers = map[types.NamespacedName]*ledgerQueue{}
	}
	q := w.ledgers[key]
	if q == nil {
		q = &ledgerQueue{}
		w.ledgers[key] = q
	}
	return q
}

// submit queues a job for the ledger's next batch and waits for its outcome: the job's own
// error, or the batch's when the ledger could not be written. With no batch running, the
// caller runs batches itself until its own job is decided.
func (w *Writer) Submit(ctx context.Context, key types.NamespacedName, decide Decider) error {
	j := &job{decide: decide, done: make(chan error, 1)}
	w.mu.Lock()
	q := w.queue(key)
	q.pending = append(q.pending, j)
	run := !q.running
	q.running = true
	w.mu.Unlock()
	if run {
		w.drain(key, q, j)
	}
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		return Unavailable(fmt.Errorf("waited too long for the allocation ledger of team %s: %w", key.Name, ctx.Err()))
	}
}

// DryRun decides a job as a batch would and writes nothing: from this replica's cache when it
// has come as far as the ledger needs, and again from the apiserver when it has not or when the
// job is refused there (a refusal is made only on what the apiserver holds).
func (w *Writer) DryRun(ctx context.Context, key types.NamespacedName, decide Decider) error {
	l, err := w.Freshest(ctx, key, nil)
	if err != nil {
		return Unavailable(err)
	}
	live := !w.CaughtUp(ctx, l)
	if !live {
		_, err = decide(ctx, l.Spec, nil)
	}
	if live || IsRefusal(err) {
		if l, err = w.LiveLedger(ctx, key); err != nil {
			return Unavailable(err)
		}
		_, err = decide(ctx, l.Spec, NewLiveReads(w.Live))
	}
	return err
}

// drain writes batches for one ledger until the calling request's own job, callerJob, has its
// outcome; jobs still waiting then are left to a goroutine, so that no request waits for batches
// after its own. With callerJob nil it drains until no job waits.
func (w *Writer) drain(key types.NamespacedName, q *ledgerQueue, callerJob *job) {
	for {
		w.mu.Lock()
		batch := q.pending
		q.pending = nil
		if len(batch) == 0 {
			q.running = false
			w.mu.Unlock()
			return
		}
		known := q.known
		w.mu.Unlock()

		written, outcomes, err := w.commit(key, known, batch)
		w.mu.Lock()
		if err == nil && written.ResourceVersion != "" {
			q.known = written
		} else {
			// Only a ledger the apiserver holds is worth keeping: a new one that a batch admitting
			// nothing never wrote carries the watermark of when it was read, and creating it later
			// from that copy (no compare-and-swap guards a create) would count a cache too far
			// behind, should the team's ledger have come and gone meanwhile.
			q.known = nil
		}
		w.mu.Unlock()
		batchSize.Observe(float64(len(batch)))
		answered := false
		for i, j := range batch {
			if err != nil {
				j.done <- err
			} else {
				j.done <- outcomes[i]
			}
			answered = answered || j == callerJob
		}
		if answered {
			w.mu.Lock()
			more := len(q.pending) > 0
			q.running = more
			w.mu.Unlock()
			if more {
				go w.drain(key, q, nil)
			}
			return
		}
	}
}

// commit decides the batch and writes the ledger once, deciding again after a conflict, and from
// the apiserver when a job is refused or the caches have not come as far as the ledger needs. It
// returns the ledger as written (or as read, when nothing changed) and each job's outcome.
func (w *Writer) commit(key types.NamespacedName, known *caseloadv1alpha1.AllocationLedger, batch []*job) (*caseloadv1alpha1.AllocationLedger, []error, error) {
	ctx, cancel := context.WithTimeout(context.Background(), Budget)
	defer cancel()
	current, err := w.Freshest(ctx, key, known)
	if err != nil {
		return nil, nil, Unavailable(err)
	}
	live := false
	// goLive has the batch decided from the apiserver from now on: the team, and the ledger
	// read live (a refusal writes nothing, so no compare-and-swap would catch a stale copy).
	goLive := func() error {
		live = true
		LiveDecisions.Inc()
		current, err = w.LiveLedger(ctx, key)
		return err
	}
	for attempt := 1; ; attempt++ {
		if !live && !w.CaughtUp(ctx, current) {
			// The cache has not come as far as this ledger needs.
			if err := goLive(); err != nil {
				return nil, nil, Unavailable(err)
			}
		}
		next := w.prune(ctx, key, current.Spec, live, w.Now())
		if !live && !w.CaughtUp(ctx, &caseloadv1alpha1.AllocationLedger{Spec: next}) {
			// Pruning dropped an entry that the apiserver, not this cache, shows stored.
			if err := goLive(); err != nil {
				return nil, nil, Unavailable(err)
			}
			continue
		}
		outcomes := make([]error, len(batch))
		refused, added := false, false
		var reads client.Reader
		if live {
			reads = NewLiveReads(w.Live)
		}
		for i, j := range batch {
			decided, err := j.decide(ctx, next, reads)
			outcomes[i] = err
			if err == nil {
				added = added || !equality.Semantic.DeepEqual(decided, next)
				next = decided
			}
			refused = refused || IsRefusal(err)
		}
		if refused && !live {
			// Refuse only on what the apiserver holds: decide the batch again from it.
			if err := goLive(); err != nil {
				return nil, nil, Unavailable(err)
			}
			continue
		}
		if len(next.Reservations) > ledger.MaxEntries || len(next.Departures) > ledger.MaxDepartures {
			return nil, nil, apierrors.NewServiceUnavailable(fmt.Sprintf(
				"team %s has %d allocations in flight, more than its ledger holds (%d): try again in a minute", key.Name, len(next.Reservations), ledger.MaxEntries))
		}
		if !added {
			// Nothing admitted: what pruning found is left to the next write or the operator's
			// ledger reconciler, and nobody's answer waits for a write.
			return current, outcomes, nil
		}
		update := current.DeepCopy()
		update.Spec = next
		if update.ResourceVersion == "" {
			controllerutil.AddFinalizer(update, ledger.Finalizer)
			err = w.Client.Create(ctx, update)
		} else {
			err = w.Client.Update(ctx, update)
		}
		switch {
		case err == nil:
			return update, outcomes, nil
		case (apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) || apierrors.IsNotFound(err)) && ctx.Err() == nil:
			LedgerConflicts.Inc()
			pause := conflictBackoff
			if w.Pause != nil {
				pause = w.Pause
			}
			if d := pause(attempt); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
				}
			}
			if current, err = w.LiveLedger(ctx, key); err != nil {
				return nil, nil, Unavailable(err)
			}
		default:
			return nil, nil, Unavailable(fmt.Errorf("record %s in the ledger of team %s after %s: %w", words.Count(len(batch), "allocation"), key.Name, words.Count(attempt, "attempt"), err))
		}
	}
}

// Unavailable is the answer when the webhook cannot decide: failurePolicy Fail refuses the
// request, and the message says it is worth trying again.
func Unavailable(err error) error {
	return apierrors.NewServiceUnavailable(fmt.Sprintf("caseload admission could not decide, try again: %v", err))
}

// IsRefusal reports whether err is a decision's refusal, as opposed to a failure to decide.
func IsRefusal(err error) bool {
	return err != nil && (apierrors.IsInvalid(err) || apierrors.IsForbidden(err))
}

// prune is the ledger's spec without what no longer needs to count (ledger.Prune), as this
// replica sees it: an entry whose Case its cache (or, deciding live, the apiserver) shows at the
// entry's generation or deleted, and one this replica has seen for ledger.TTL whose change the
// apiserver does not hold.
func (w *Writer) prune(ctx context.Context, key types.NamespacedName, spec caseloadv1alpha1.AllocationLedgerSpec, live bool, now time.Time) caseloadv1alpha1.AllocationLedgerSpec {
	shows := w.Cache
	if live {
		shows = w.Live
	}
	s := snapshot.Sight{Cache: shows, Live: w.Live, Cases: w.Cases, Practitioners: w.Practitioners, Observed: w.Observed}
	return s.Prune(ctx, key, spec, now)
}

// caughtUp reports whether this replica's caches have come as far as l needs, waiting catchUp
// at most: Cases as far as its seenThrough, Practitioners as far as its practitionersSeenThrough.
func (w *Writer) CaughtUp(ctx context.Context, l *caseloadv1alpha1.AllocationLedger) bool {
	wait := catchUp
	if w.CatchUp != nil {
		wait = *w.CatchUp
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	return w.Cases.Reach(ctx, l.Spec.SeenThrough) == nil && w.Practitioners.Reach(ctx, l.Spec.PractitionersSeenThrough) == nil
}

// freshest is the newer of this replica's own last copy of the ledger and the cache's. With
// neither, it is the apiserver's.
func (w *Writer) Freshest(ctx context.Context, key types.NamespacedName, known *caseloadv1alpha1.AllocationLedger) (*caseloadv1alpha1.AllocationLedger, error) {
	cached := &caseloadv1alpha1.AllocationLedger{}
	err := w.Cache.Get(ctx, key, cached)
	switch {
	case apierrors.IsNotFound(err):
		cached = nil
	case err != nil:
		return nil, fmt.Errorf("read the allocation ledger of team %s: %w", key.Name, err)
	}
	switch {
	case cached == nil && known == nil:
		return w.LiveLedger(ctx, key)
	case cached == nil:
		return known.DeepCopy(), nil
	case known != nil && newer(known.ResourceVersion, cached.ResourceVersion):
		return known.DeepCopy(), nil
	}
	return cached, nil
}

// live reads the ledger from the apiserver. When there is none (the team's first allocation, or
// its ledger deleted), it is a new one whose seenThrough is where the apiserver stands now: what
// an earlier ledger of the team may have dropped is then in every cache that counts the new one.
func (w *Writer) LiveLedger(ctx context.Context, key types.NamespacedName) (*caseloadv1alpha1.AllocationLedger, error) {
	l := &caseloadv1alpha1.AllocationLedger{}
	err := w.Live.Get(ctx, key, l)
	if err == nil {
		return l, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("read the allocation ledger of team %s: %w", key.Name, err)
	}
	var list caseloadv1alpha1.AllocationLedgerList
	if err := w.Live.List(ctx, &list, client.InNamespace(key.Namespace), client.Limit(1)); err != nil {
		return nil, fmt.Errorf("read where the apiserver stands: %w", err)
	}
	if list.ResourceVersion == "" {
		return nil, errors.New("the apiserver gave no resourceVersion for a list")
	}
	l = &caseloadv1alpha1.AllocationLedger{}
	l.Namespace, l.Name = key.Namespace, key.Name
	l.Spec.SeenThrough = list.ResourceVersion
	l.Spec.PractitionersSeenThrough = list.ResourceVersion
	return l, nil
}

// newer reports whether resourceVersion a is later than b. resourceVersions are opaque, but an
// apiserver backed by etcd issues increasing integers; anything else counts as not newer, so the
// cache's copy is used and a conflict corrects it.
func newer(a, b string) bool {
	x, y := ledger.ParseVersion(a), ledger.ParseVersion(b)
	return x > 0 && y > 0 && x > y
}

// conflictBackoff is a short random pause before deciding again after a lost race, so that
// racing replicas do not collide again in lockstep.
func conflictBackoff(attempt int) time.Duration {
	ceiling := time.Duration(min(attempt, 8)) * 10 * time.Millisecond
	return time.Duration(rand.Int64N(int64(ceiling))) + time.Millisecond
}

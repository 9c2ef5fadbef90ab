package v1alpha1

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	caseloadv1alpha1 "caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/ledger"
	"caseload.dev/caseload-operator/internal/snapshot"
)

// The ledger's writes are batched, as Kubernetes' ResourceQuota admission batches the requests
// waiting on one quota. Every decision that may change a team's ledger (an allocation, a
// release) is a job queued for its team's ledger. One goroutine per ledger takes every job
// waiting, decides them one after another against the ledger as the earlier jobs of the batch
// leave it, and writes the result once, with compare-and-swap on the ledger's resourceVersion.
// While that write is in flight, new jobs queue up for the next batch. So concurrent allocations
// cost one write between them, and never wait for each other's writes one at a time.
//
// The ledger is read from the freshest copy this replica has, its own last write or the
// cache's, whichever is newer. It is re-read from the apiserver only when the write conflicts
// (another replica or the operator wrote first), and then the whole batch is decided again.
// Either way it is counted only once this replica's cache of Cases has come as far as the
// ledger's seenThrough: an entry another replica dropped on seeing its Case is then seen here too.

// ledgerBudget bounds a batch's compare-and-swap retries, inside the webhook's timeoutSeconds
// (15) with room for the apiserver's own overhead.
const ledgerBudget = 10 * time.Second

// catchUp bounds the wait for this replica's cache of Cases to come as far as a ledger's
// seenThrough. Caches are milliseconds apart; one still behind after this is stuck (its watch
// restarting), and the batch is refused with "try again" rather than decided blind.
const catchUp = 2 * time.Second

// A job decides against the ledger's entries as they stand, and returns them as they should be:
// unchanged when it adds nothing (refused, or a dry run). It is called again with fresher
// entries if the batch's write conflicts, so it must decide from what it is given.
type job struct {
	decide func(ctx context.Context, entries []caseloadv1alpha1.Reservation) ([]caseloadv1alpha1.Reservation, error)
	done   chan error
}

// ledgerQueue is the jobs waiting on one team's ledger, and the freshest ledger known.
type ledgerQueue struct {
	pending []*job
	running bool
	known   *caseloadv1alpha1.AllocationLedger
}

// ledgerWriter batches the writes of every team's ledger.
type ledgerWriter struct {
	Cache  client.Reader
	Seen   *snapshot.CaseProgress
	Live   client.Reader
	Client client.Client
	Now    func() time.Time

	mu      sync.Mutex
	ledgers map[types.NamespacedName]*ledgerQueue
}

// submit queues a job for the ledger's next batch and waits for its outcome: the job's own
// error, or the batch's when the ledger could not be written.
func (w *ledgerWriter) submit(ctx context.Context, key types.NamespacedName, decide func(context.Context, []caseloadv1alpha1.Reservation) ([]caseloadv1alpha1.Reservation, error)) error {
	j := &job{decide: decide, done: make(chan error, 1)}
	w.mu.Lock()
	if w.ledgers == nil {
		w.ledgers = map[types.NamespacedName]*ledgerQueue{}
	}
	q := w.ledgers[key]
	if q == nil {
		q = &ledgerQueue{}
		w.ledgers[key] = q
	}
	q.pending = append(q.pending, j)
	if !q.running {
		q.running = true
		go w.run(key, q)
	}
	w.mu.Unlock()
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		return unavailable(fmt.Errorf("waited too long for the allocation ledger of team %s: %w", key.Name, ctx.Err()))
	}
}

// run writes batches for one ledger until no job waits.
func (w *ledgerWriter) run(key types.NamespacedName, q *ledgerQueue) {
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
		if written != nil {
			q.known = written
		}
		w.mu.Unlock()
		batchSize.Observe(float64(len(batch)))
		for i, j := range batch {
			if err != nil {
				j.done <- err
			} else {
				j.done <- outcomes[i]
			}
		}
	}
}

// commit decides the batch and writes the ledger once, deciding again after a conflict. It
// returns the ledger as written (or as read, when nothing changed) and each job's outcome.
func (w *ledgerWriter) commit(key types.NamespacedName, known *caseloadv1alpha1.AllocationLedger, batch []*job) (*caseloadv1alpha1.AllocationLedger, []error, error) {
	ctx, cancel := context.WithTimeout(context.Background(), ledgerBudget)
	defer cancel()
	current, err := w.freshest(ctx, key, known)
	if err != nil {
		return nil, nil, unavailable(err)
	}
	for attempt := 1; ; attempt++ {
		if err := w.caughtUp(ctx, current); err != nil {
			return nil, nil, err
		}
		now := w.Now()
		pruned := ledger.Prune(current.Spec, snapshot.OpenCases(ctx, w.Cache, key.Namespace), now)
		entries := pruned.Reservations
		outcomes := make([]error, len(batch))
		for i, j := range batch {
			next, err := j.decide(ctx, entries)
			outcomes[i] = err
			if err == nil {
				entries = next
			}
		}
		if len(entries) > ledger.MaxEntries {
			return nil, nil, apierrors.NewServiceUnavailable(fmt.Sprintf(
				"team %s has %d allocations in flight, more than its ledger holds (%d): try again in a minute", key.Name, len(entries), ledger.MaxEntries))
		}
		pruned.Reservations = entries
		if equality.Semantic.DeepEqual(pruned, current.Spec) || (len(entries) == 0 && len(current.Spec.Reservations) == 0) {
			return current, outcomes, nil
		}
		next := current.DeepCopy()
		next.Spec = pruned
		if next.ResourceVersion == "" {
			err = w.Client.Create(ctx, next)
		} else {
			err = w.Client.Update(ctx, next)
		}
		switch {
		case err == nil:
			return next, outcomes, nil
		case (apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)) && ctx.Err() == nil:
			ledgerConflicts.Inc()
			select {
			case <-time.After(conflictBackoff(attempt)):
			case <-ctx.Done():
			}
			if current, err = w.live(ctx, key); err != nil {
				return nil, nil, unavailable(err)
			}
		default:
			return nil, nil, unavailable(fmt.Errorf("record %d allocations in the ledger of team %s after %d attempts: %w", len(batch), key.Name, attempt, err))
		}
	}
}

// caughtUp waits until this replica's cache of Cases shows every Case whose entry l has dropped.
func (w *ledgerWriter) caughtUp(ctx context.Context, l *caseloadv1alpha1.AllocationLedger) error {
	ctx, cancel := context.WithTimeout(ctx, catchUp)
	defer cancel()
	if err := w.Seen.Reach(ctx, l.Spec.SeenThrough); err != nil {
		return unavailable(fmt.Errorf("the allocation ledger of team %s: %w", l.Name, err))
	}
	return nil
}

// freshest is the newer of this replica's own last copy of the ledger and the cache's.
func (w *ledgerWriter) freshest(ctx context.Context, key types.NamespacedName, known *caseloadv1alpha1.AllocationLedger) (*caseloadv1alpha1.AllocationLedger, error) {
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
		// No ledger seen yet: the write creates it, or conflicts and reads the one there is.
		l := &caseloadv1alpha1.AllocationLedger{}
		l.Namespace, l.Name = key.Namespace, key.Name
		return l, nil
	case cached == nil:
		return known.DeepCopy(), nil
	case known != nil && newer(known.ResourceVersion, cached.ResourceVersion):
		return known.DeepCopy(), nil
	}
	return cached, nil
}

// live reads the ledger from the apiserver, after a conflict.
func (w *ledgerWriter) live(ctx context.Context, key types.NamespacedName) (*caseloadv1alpha1.AllocationLedger, error) {
	l := &caseloadv1alpha1.AllocationLedger{}
	err := w.Live.Get(ctx, key, l)
	if apierrors.IsNotFound(err) {
		l.Namespace, l.Name = key.Namespace, key.Name
		return l, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the allocation ledger of team %s: %w", key.Name, err)
	}
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

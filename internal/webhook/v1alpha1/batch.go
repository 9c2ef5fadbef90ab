package v1alpha1

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	caseloadv1alpha1 "caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/ledger"
	"caseload.dev/caseload-operator/internal/policy"
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

//
// On top of that, a replica may hold room in advance (escrow): an allowance in the ledger for a
// few more cases to one practitioner, granted with the write of an allocation that finds plenty
// of room. Every decision counts it as already allocated. The replica then admits cases that
// fit its slots from memory, one slot each, without waiting for a write (take, admitted), and
// writes each such case into the ledger's reservations in place of its slot with its next batch.
// What it holds is in memory (held) and, as of its last write, in the ledger; the ledger is
// written only with what memory holds, so room can be given back but never taken twice.

// ledgerBudget bounds a batch's compare-and-swap retries, inside the webhook's timeoutSeconds
// (15) with room for the apiserver's own overhead.
const ledgerBudget = 10 * time.Second

// catchUp bounds the wait for this replica's cache of Cases to come as far as a ledger's
// seenThrough. Caches are milliseconds apart; one still behind after this is stuck (its watch
// restarting), and the batch is refused with "try again" rather than decided blind.
const catchUp = 2 * time.Second

// convertAfter is how long a case admitted against an allowance waits, at most, for the write
// that puts it into the ledger's reservations in place of its slot: long enough to gather the
// cases admitted meanwhile into that one write (or to ride on a batch written anyway). Until then
// its slot counts for it, so nothing waits on this but the room the slot and the case both hold
// in other replicas' eyes; this replica's own decisions count the case alone (view).
const convertAfter = time.Second

// A decider decides against the ledger's spec as it stands (pruned, with this replica's
// allowances as it holds them), and returns it as it should be: unchanged when it adds nothing
// (refused, or a dry run). It is called again with a fresher spec if the batch's write
// conflicts, so it must decide from what it is given.
type decider func(ctx context.Context, spec caseloadv1alpha1.AllocationLedgerSpec) (caseloadv1alpha1.AllocationLedgerSpec, error)

// A job is a decider waiting for its batch, and where its outcome goes. A kick is a job that
// decides nothing: it only has the ledger written with what this replica holds.
type job struct {
	decide decider
	done   chan error
	kick   bool
}

// held is an allowance this replica holds: as it was last written, how many of its slots are
// used since (set aside for a case being decided, or admitted against), and how many of those
// have admitted a case that is not yet written in their place.
type held struct {
	a       caseloadv1alpha1.Allowance
	used    int32
	pending int32
}

// usable reports whether a slot of h may be taken now.
func (h *held) usable(now time.Time) bool {
	return h.used < h.a.Slots && now.Before(h.a.UsableUntil.Time)
}

// conversion is a case admitted against allowance slots (one per practitioner decided for), to
// be written into the ledger's reservations in place of those slots.
type conversion struct {
	slots  []*held
	change ledger.Change
}

// changes are the ledger changes of converts, in order.
func changes(converts []conversion) []ledger.Change {
	out := make([]ledger.Change, len(converts))
	for i, c := range converts {
		out[i] = c.change
	}
	return out
}

// ledgerQueue is the jobs waiting on one team's ledger, the freshest ledger known, and the room
// this replica holds in it.
type ledgerQueue struct {
	pending []*job
	running bool
	known   *caseloadv1alpha1.AllocationLedger

	held     []*held
	converts []conversion
	timer    bool
}

// ledgerWriter batches the writes of every team's ledger.
type ledgerWriter struct {
	Cache  client.Reader
	Seen   *snapshot.CaseProgress
	Live   client.Reader
	Client client.Client
	Now    func() time.Time
	// Holder names this replica's allowances: different in every process.
	Holder string

	mu      sync.Mutex
	ledgers map[types.NamespacedName]*ledgerQueue
	ids     uint64
}

// queue is the ledger's queue; w.mu must be held.
func (w *ledgerWriter) queue(key types.NamespacedName) *ledgerQueue {
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

// enqueue adds a job to the ledger's next batch, starting its writer if none runs.
func (w *ledgerWriter) enqueue(key types.NamespacedName, j *job) {
	w.mu.Lock()
	defer w.mu.Unlock()
	q := w.queue(key)
	q.pending = append(q.pending, j)
	if !q.running {
		q.running = true
		go w.run(key, q)
	}
}

// submit queues a job for the ledger's next batch and waits for its outcome: the job's own
// error, or the batch's when the ledger could not be written.
func (w *ledgerWriter) submit(ctx context.Context, key types.NamespacedName, decide decider) error {
	j := &job{decide: decide, done: make(chan error, 1)}
	w.enqueue(key, j)
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		return unavailable(fmt.Errorf("waited too long for the allocation ledger of team %s: %w", key.Name, ctx.Err()))
	}
}

// kick has the ledger written, after d, with nothing but what this replica holds: cases admitted
// against its allowances, and allowances to give back.
func (w *ledgerWriter) kick(key types.NamespacedName, d time.Duration) {
	nothing := &job{decide: func(_ context.Context, spec caseloadv1alpha1.AllocationLedgerSpec) (caseloadv1alpha1.AllocationLedgerSpec, error) {
		return spec, nil
	}, done: make(chan error, 1), kick: true}
	if d <= 0 {
		w.enqueue(key, nothing)
		return
	}
	time.AfterFunc(d, func() { w.enqueue(key, nothing) })
}

// run writes batches for one ledger until no job waits. Cases admitted against allowances go
// with the batch; they never start one themselves (see admitted).
func (w *ledgerWriter) run(key types.NamespacedName, q *ledgerQueue) {
	for {
		w.mu.Lock()
		batch, converts := q.pending, q.converts
		q.pending, q.converts = nil, nil
		if len(batch) == 0 {
			q.converts = converts
			q.running = false
			w.mu.Unlock()
			return
		}
		known := q.known
		mine := q.holding(converts, w.Now())
		w.mu.Unlock()

		written, outcomes, err := w.commit(key, known, batch, converts, mine)
		w.mu.Lock()
		if err == nil {
			q.known = written
			w.settle(key, q, written, converts)
		} else {
			q.converts = append(converts, q.converts...)
			w.convertSoon(key, q)
		}
		w.mu.Unlock()
		decided := len(converts)
		for _, j := range batch {
			if !j.kick {
				decided++
			}
		}
		if decided > 0 {
			batchSize.Observe(float64(decided))
		}
		for i, j := range batch {
			if err != nil {
				j.done <- err
			} else {
				j.done <- outcomes[i]
			}
		}
	}
}

// holding is what this replica's allowances are to be written as, with converts written into
// the reservations: their slots fewer by the converted cases. An allowance goes when no slot is
// left, or when it is no longer usable and no slot of it is being decided on. w.mu must be held.
func (q *ledgerQueue) holding(converts []conversion, now time.Time) map[string]caseloadv1alpha1.Allowance {
	converted := map[*held]int32{}
	for _, c := range converts {
		for _, h := range c.slots {
			converted[h]++
		}
	}
	out := map[string]caseloadv1alpha1.Allowance{}
	for _, h := range q.held {
		a := h.a
		a.Slots -= converted[h]
		if a.Slots > 0 && (now.Before(a.UsableUntil.Time) || h.used > converted[h]) {
			out[a.ID] = a
		}
	}
	return out
}

// settle brings what this replica holds in line with the ledger it has written: converted slots
// are gone from memory as from the ledger, and allowances granted in the write are held. An
// allowance not in the written ledger is held no longer. w.mu must be held.
func (w *ledgerWriter) settle(key types.NamespacedName, q *ledgerQueue, written *caseloadv1alpha1.AllocationLedger, converts []conversion) {
	for _, c := range converts {
		for _, h := range c.slots {
			h.used--
			h.pending--
		}
	}
	byID := map[string]*held{}
	for _, h := range q.held {
		byID[h.a.ID] = h
	}
	var kept []*held
	for _, a := range written.Spec.Allowances {
		if a.Holder != w.Holder {
			continue
		}
		h := byID[a.ID]
		if h == nil {
			h = &held{}
			// Give back what is left once it may no longer be used.
			w.kick(key, time.Until(a.UsableUntil.Time)+10*time.Millisecond)
		}
		h.a = a
		kept = append(kept, h)
	}
	q.held = kept
}

// take sets aside one slot for each practitioner decided for, from this replica's allowances in
// the ledger: usable now, in the joiner's role, and with room (fits) for the case. It returns nil,
// taking nothing, unless every joiner has one.
func (w *ledgerWriter) take(key types.NamespacedName, joiners []policy.Joining, fits func(caseloadv1alpha1.Allowance) bool) []*held {
	w.mu.Lock()
	defer w.mu.Unlock()
	q := w.queue(key)
	now := w.Now()
	var slots []*held
	for _, j := range joiners {
		var found *held
		for _, h := range q.held {
			if h.a.Practitioner == j.Name && h.a.Role == j.Role && h.usable(now) && fits(h.a) {
				found = h
				break
			}
		}
		if found == nil {
			for _, h := range slots {
				h.used--
			}
			return nil
		}
		found.used++
		slots = append(slots, found)
	}
	return slots
}

// giveBack returns slots set aside by take for a case that was not admitted against them.
func (w *ledgerWriter) giveBack(slots []*held) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, h := range slots {
		h.used--
	}
}

// admitted records a case admitted against slots: change writes it into the reservations in
// place of them, with the ledger's next write, and at most convertAfter from now.
func (w *ledgerWriter) admitted(key types.NamespacedName, slots []*held, change ledger.Change) {
	w.mu.Lock()
	defer w.mu.Unlock()
	q := w.queue(key)
	for _, h := range slots {
		h.pending++
	}
	q.converts = append(q.converts, conversion{slots: slots, change: change})
	w.convertSoon(key, q)
}

// convertSoon has the ledger written convertAfter from now, unless that is arranged already.
// w.mu must be held.
func (w *ledgerWriter) convertSoon(key types.NamespacedName, q *ledgerQueue) {
	if q.timer {
		return
	}
	q.timer = true
	time.AfterFunc(convertAfter, func() {
		w.mu.Lock()
		q.timer = false
		w.mu.Unlock()
		w.kick(key, 0)
	})
}

// view is the ledger's spec as this replica knows it (asKnown), for deciding a case that taken
// has set slots aside for: those slots are not counted, the case is.
func (w *ledgerWriter) view(ctx context.Context, key types.NamespacedName, taken []*held) (caseloadv1alpha1.AllocationLedgerSpec, error) {
	w.mu.Lock()
	q := w.queue(key)
	known := q.known
	w.mu.Unlock()
	current, err := w.freshest(ctx, key, known)
	if err != nil {
		return caseloadv1alpha1.AllocationLedgerSpec{}, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.asKnown(q, current.Spec, taken), nil
}

// asKnown is spec as this replica knows it: with the cases admitted against its allowances and
// not yet written (q.converts) in the reservations, and its allowances with the slots that
// admitted none of them, less those set aside by taken. A slot set aside for a case still being
// decided elsewhere counts as room held: that case may yet be admitted. w.mu must be held.
func (w *ledgerWriter) asKnown(q *ledgerQueue, spec caseloadv1alpha1.AllocationLedgerSpec, taken []*held) caseloadv1alpha1.AllocationLedgerSpec {
	spec.Reservations = ledger.Apply(spec.Reservations, changes(q.converts))
	remaining := map[string]int32{}
	for _, h := range q.held {
		remaining[h.a.ID] = h.a.Slots - h.pending
	}
	for _, h := range taken {
		remaining[h.a.ID]--
	}
	allowances := spec.Allowances
	spec.Allowances = nil
	for _, a := range allowances {
		if a.Holder == w.Holder {
			if a.Slots = remaining[a.ID]; a.Slots <= 0 {
				continue
			}
		}
		spec.Allowances = append(spec.Allowances, a)
	}
	return spec
}

// grant is spec's allowances with room granted to this replica for more cases like c, for each
// joiner that the cache shows as a member, who has room for at least ledger.MinRoom more and
// no usable allowance of this replica that c fits. snap is the team as decided; its view is
// recounted with spec.
func (w *ledgerWriter) grant(key types.NamespacedName, snap *snapshot.Snapshot, spec caseloadv1alpha1.AllocationLedgerSpec, c policy.Case, joiners []policy.Joining, cached func(string) bool, now time.Time) []caseloadv1alpha1.Allowance {
	out := spec.Allowances
	for _, j := range joiners {
		if j.Raised || !cached(j.Name) || len(out) >= ledger.MaxAllowances || w.holds(key, out, snap.Policies, c, j, now) {
			continue
		}
		snap.WithRoomHeld(caseloadv1alpha1.AllocationLedgerSpec{Reservations: spec.Reservations, Allowances: out}, now)
		room := policy.RoomFor(snap.Policies, snap.View, snap.Day, c, j, 2*ledger.MaxSlots)
		if n := ledger.Slots(room); n > 0 {
			out = append(slices.Clip(out), ledger.Grant(w.newID(), w.Holder, j, c, n, now))
		}
	}
	return out
}

// holds reports whether this replica holds room for j that c fits and that it may still use: a
// slot of an allowance of this batch (granted to an earlier job), or one not yet used of an
// allowance it holds already.
func (w *ledgerWriter) holds(key types.NamespacedName, allowances []caseloadv1alpha1.Allowance, policies []*policy.Policy, c policy.Case, j policy.Joining, now time.Time) bool {
	fits := func(a caseloadv1alpha1.Allowance) bool {
		return a.Practitioner == j.Name && a.Role == j.Role && policy.Within(policies, c, j.Role, ledger.Shape(a, c.Team))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	known := map[string]bool{}
	for _, h := range w.queue(key).held {
		known[h.a.ID] = true
		if h.usable(now) && fits(h.a) {
			return true
		}
	}
	for _, a := range allowances {
		if a.Holder == w.Holder && !known[a.ID] && fits(a) {
			return true
		}
	}
	return false
}

// newID names an allowance among this replica's.
func (w *ledgerWriter) newID() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ids++
	return strconv.FormatUint(w.ids, 36)
}

// commit decides the batch and writes the ledger once, deciding again after a conflict. converts
// are written into the reservations, and this replica's allowances are written as mine holds
// them (an allowance gone from the ledger is not put back). It returns the ledger as written
// (or as read, when nothing changed) and each job's outcome.
func (w *ledgerWriter) commit(key types.NamespacedName, known *caseloadv1alpha1.AllocationLedger, batch []*job, converts []conversion, mine map[string]caseloadv1alpha1.Allowance) (*caseloadv1alpha1.AllocationLedger, []error, error) {
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
		spec := current.Spec
		spec.Reservations = ledger.Apply(spec.Reservations, changes(converts))
		spec.Allowances = nil
		for _, a := range current.Spec.Allowances {
			if a.Holder == w.Holder {
				var ok bool
				if a, ok = mine[a.ID]; !ok {
					continue
				}
			}
			spec.Allowances = append(spec.Allowances, a)
		}
		next := ledger.Prune(spec, snapshot.OpenCases(ctx, w.Cache, key.Namespace), now)
		// The jobs decide against the ledger as this replica knows it (a slot it has used is not
		// room, the case in it is); what is written keeps the slots of cases not yet written in
		// their place (mine), so they stay covered.
		held := next.Allowances
		w.mu.Lock()
		next = w.asKnown(w.queue(key), next, nil)
		w.mu.Unlock()
		outcomes := make([]error, len(batch))
		for i, j := range batch {
			decided, err := j.decide(ctx, next)
			outcomes[i] = err
			if err == nil {
				next = decided
			}
		}
		next.Allowances = withGrants(held, next.Allowances)
		if len(next.Reservations) > ledger.MaxEntries {
			return nil, nil, apierrors.NewServiceUnavailable(fmt.Sprintf(
				"team %s has %d allocations in flight, more than its ledger holds (%d): try again in a minute", key.Name, len(next.Reservations), ledger.MaxEntries))
		}
		if equality.Semantic.DeepEqual(next, current.Spec) || (empty(next) && empty(current.Spec)) {
			return current, outcomes, nil
		}
		update := current.DeepCopy()
		update.Spec = next
		if update.ResourceVersion == "" {
			err = w.Client.Create(ctx, update)
		} else {
			err = w.Client.Update(ctx, update)
		}
		switch {
		case err == nil:
			return update, outcomes, nil
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

// withGrants is held (the allowances as they are to be written) with the allowances that
// decided has and held has not: those the batch granted. A job only ever adds allowances.
func withGrants(held, decided []caseloadv1alpha1.Allowance) []caseloadv1alpha1.Allowance {
	type id struct{ holder, id string }
	had := map[id]bool{}
	for _, a := range held {
		had[id{a.Holder, a.ID}] = true
	}
	out := slices.Clone(held)
	for _, a := range decided {
		if !had[id{a.Holder, a.ID}] {
			out = append(out, a)
		}
	}
	return out
}

// empty reports whether a ledger spec holds nothing in flight.
func empty(spec caseloadv1alpha1.AllocationLedgerSpec) bool {
	return len(spec.Reservations) == 0 && len(spec.Allowances) == 0
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

// ReplicaName names this process among the webhook's replicas: its host name (the pod's name)
// and a number drawn at random, so a restarted replica is never taken for its predecessor.
func ReplicaName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "caseload-operator"
	}
	return fmt.Sprintf("%s/%08x", host, rand.Uint32())
}

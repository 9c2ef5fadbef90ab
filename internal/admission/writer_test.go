package admission

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	caseloadv1alpha1 "caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/ledger"
	"caseload.dev/caseload-operator/internal/snapshot"
)

// Direct tests of the ledger writer's batches against a fake client: what one batch writes, and
// when it is decided again. The simulation (sim_test.go) checks the same code against racing
// replicas and faults; these pin each rule down on its own.

var ledgerKey = types.NamespacedName{Namespace: "council", Name: "north"}

// writerFixture is a ledger writer whose cache and apiserver are one fake client, counting the
// ledger writes that reach it; conflicts makes the next writes conflict.
type writerFixture struct {
	w         *Writer
	writes    int
	conflicts int
	store     string // how far the cache's stores say they have come
}

func newWriterFixture(t *testing.T, objs ...client.Object) *writerFixture {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := caseloadv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	f := &writerFixture{store: "1000"}
	write := func(ctx context.Context, c client.WithWatch, obj client.Object, do func() error) error {
		if _, ok := obj.(*caseloadv1alpha1.AllocationLedger); !ok {
			return do()
		}
		f.writes++
		if f.conflicts > 0 {
			f.conflicts--
			return apierrors.NewConflict(schema.GroupResource{Group: caseloadv1alpha1.GroupVersion.Group, Resource: "allocationledgers"}, obj.GetName(), errors.New("the object has been modified"))
		}
		return do()
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).WithInterceptorFuncs(interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			return write(ctx, c, obj, func() error { return c.Create(ctx, obj, opts...) })
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			return write(ctx, c, obj, func() error { return c.Update(ctx, obj, opts...) })
		},
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if err := c.List(ctx, list, opts...); err != nil {
				return err
			}
			if list.GetResourceVersion() == "" {
				list.SetResourceVersion("42") // where the apiserver stands
			}
			return nil
		},
	}).Build()
	progress := func() *snapshot.Progress {
		p := snapshot.NewProgress()
		p.Store = func() string { return f.store }
		return p
	}
	wait := 5 * time.Millisecond
	f.w = &Writer{Cache: c, Live: c, Client: c, Cases: progress(), Practitioners: progress(), Now: time.Now,
		Observed: &ledger.Observed{}, CatchUp: &wait, Pause: func(int) time.Duration { return 0 }}
	return f
}

// existingLedger is the team's ledger as the apiserver holds it, with entries and a watermark.
func existingLedger(seenThrough string, entries ...caseloadv1alpha1.Reservation) *caseloadv1alpha1.AllocationLedger {
	l := &caseloadv1alpha1.AllocationLedger{ObjectMeta: metav1.ObjectMeta{Namespace: ledgerKey.Namespace, Name: ledgerKey.Name},
		Spec: caseloadv1alpha1.AllocationLedgerSpec{Reservations: entries, SeenThrough: seenThrough}}
	controllerutil.AddFinalizer(l, ledger.Finalizer)
	return l
}

// entry is the ledger entry of case name, admitted by request id.
func entry(name, id string) caseloadv1alpha1.Reservation {
	return caseloadv1alpha1.Reservation{ID: id, Team: ledgerKey.Name, Practitioner: "ada", Case: name, CaseUID: "uid-" + name,
		Role: caseloadv1alpha1.RoleLead, CaseType: "ChildInNeed", Complexity: caseloadv1alpha1.ComplexityStandard, Children: 1,
		Generation: 1, AdmittedAt: metav1.Now()}
}

// admits is a job that adds the entry of case name, and records whether each time it was decided
// it was given the apiserver to read from.
func admits(name string, decided *[]bool) *job {
	return &job{done: make(chan error, 1), decide: func(_ context.Context, spec caseloadv1alpha1.AllocationLedgerSpec, live client.Reader) (caseloadv1alpha1.AllocationLedgerSpec, error) {
		*decided = append(*decided, live != nil)
		spec.Reservations = ledger.Add(spec.Reservations, []caseloadv1alpha1.Reservation{entry(name, "req-"+name)})
		return spec, nil
	}}
}

// refuses is a job refused when decided from the cache (over), and from the apiserver too unless
// fitsLive.
func refuses(fitsLive bool, decided *[]bool) *job {
	return &job{done: make(chan error, 1), decide: func(_ context.Context, spec caseloadv1alpha1.AllocationLedgerSpec, live client.Reader) (caseloadv1alpha1.AllocationLedgerSpec, error) {
		*decided = append(*decided, live != nil)
		if live != nil && fitsLive {
			spec.Reservations = ledger.Add(spec.Reservations, []caseloadv1alpha1.Reservation{entry("fits", "req-fits")})
			return spec, nil
		}
		return spec, apierrors.NewInvalid(schema.GroupKind{Group: caseloadv1alpha1.GroupVersion.Group, Kind: "Case"}, "c-over", field.ErrorList{field.Forbidden(field.NewPath("spec", "allocatedTo"), "over the cap")})
	}}
}

func (f *writerFixture) stored(t *testing.T) *caseloadv1alpha1.AllocationLedger {
	t.Helper()
	var l caseloadv1alpha1.AllocationLedger
	if err := f.w.Live.Get(context.Background(), ledgerKey, &l); err != nil {
		t.Fatal(err)
	}
	return &l
}

func cases(l *caseloadv1alpha1.AllocationLedger) []string {
	var out []string
	for _, r := range l.Spec.Reservations {
		out = append(out, r.Case)
	}
	return out
}

func TestABatchIsWrittenOnce(t *testing.T) {
	f := newWriterFixture(t, existingLedger("7", entry("earlier", "req-earlier")))
	var decided []bool
	batch := []*job{admits("c-1", &decided), admits("c-2", &decided), admits("c-3", &decided)}
	_, outcomes, err := f.w.commit(ledgerKey, nil, batch)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range outcomes {
		if o != nil {
			t.Errorf("job %d: %v", i, o)
		}
	}
	if f.writes != 1 {
		t.Errorf("three allocations cost %d ledger writes, want 1", f.writes)
	}
	if got := fmt.Sprint(cases(f.stored(t))); got != "[earlier c-1 c-2 c-3]" {
		t.Errorf("ledger holds %s, want the earlier entry and the batch's, in order", got)
	}
}

func TestAConflictDecidesTheWholeBatchAgainOnTheApiserversLedger(t *testing.T) {
	f := newWriterFixture(t, existingLedger("7"))
	f.conflicts = 1
	var decided []bool
	_, outcomes, err := f.w.commit(ledgerKey, nil, []*job{admits("c-1", &decided), admits("c-2", &decided)})
	if err != nil || outcomes[0] != nil || outcomes[1] != nil {
		t.Fatalf("commit: %v %v", err, outcomes)
	}
	if f.writes != 2 || len(decided) != 4 {
		t.Errorf("after one conflict: %d writes and %d decisions, want 2 writes and every job decided twice", f.writes, len(decided))
	}
	if got := fmt.Sprint(cases(f.stored(t))); got != "[c-1 c-2]" {
		t.Errorf("ledger holds %s, want each entry once", got)
	}
}

func TestARefusalIsMadeOnlyOnWhatTheApiserverHolds(t *testing.T) {
	t.Run("fits once decided live", func(t *testing.T) {
		f := newWriterFixture(t, existingLedger("7"))
		var decided []bool
		_, outcomes, err := f.w.commit(ledgerKey, nil, []*job{refuses(true, &decided)})
		if err != nil || outcomes[0] != nil {
			t.Fatalf("an allocation that fits what the apiserver holds was refused: %v %v", err, outcomes)
		}
		if fmt.Sprint(decided) != "[false true]" {
			t.Errorf("decided from %v (true: the apiserver), want the cache, then the apiserver", decided)
		}
		if got := fmt.Sprint(cases(f.stored(t))); got != "[fits]" {
			t.Errorf("ledger holds %s", got)
		}
	})
	t.Run("refused on both, nothing written", func(t *testing.T) {
		f := newWriterFixture(t, existingLedger("7"))
		var decided []bool
		_, outcomes, err := f.w.commit(ledgerKey, nil, []*job{refuses(false, &decided), admits("c-2", &decided)})
		if err != nil {
			t.Fatal(err)
		}
		if !IsRefusal(outcomes[0]) || outcomes[1] != nil {
			t.Fatalf("outcomes %v, want the first refused and the second admitted", outcomes)
		}
		if f.writes != 1 {
			t.Errorf("%d writes, want 1 (for the admitted job)", f.writes)
		}
	})
	t.Run("a batch that admits nothing writes nothing", func(t *testing.T) {
		f := newWriterFixture(t, existingLedger("7"))
		var decided []bool
		_, outcomes, err := f.w.commit(ledgerKey, nil, []*job{refuses(false, &decided)})
		if err != nil || !IsRefusal(outcomes[0]) {
			t.Fatalf("%v %v", err, outcomes)
		}
		if f.writes != 0 {
			t.Errorf("a refusal wrote the ledger %d times", f.writes)
		}
	})
}

func TestACacheBehindTheWatermarkIsPassedOverForTheApiserver(t *testing.T) {
	f := newWriterFixture(t, existingLedger("500"))
	f.store = "499"
	var decided []bool
	if _, outcomes, err := f.w.commit(ledgerKey, nil, []*job{admits("c-1", &decided)}); err != nil || outcomes[0] != nil {
		t.Fatalf("%v %v", err, outcomes)
	}
	if fmt.Sprint(decided) != "[true]" {
		t.Errorf("decided from %v, want the apiserver only: the cache has not come as far as the ledger's seenThrough", decided)
	}
	f.store = "500"
	decided = nil
	if _, _, err := f.w.commit(ledgerKey, nil, []*job{admits("c-2", &decided)}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(decided) != "[false]" {
		t.Errorf("decided from %v, want the cache once it has caught up", decided)
	}
}

func TestANewLedgerStartsWhereTheApiserverStandsAndKeepsAFinalizer(t *testing.T) {
	f := newWriterFixture(t)
	var decided []bool
	if _, outcomes, err := f.w.commit(ledgerKey, nil, []*job{admits("c-1", &decided)}); err != nil || outcomes[0] != nil {
		t.Fatalf("%v %v", err, outcomes)
	}
	l := f.stored(t)
	if l.Spec.SeenThrough != "42" || l.Spec.PractitionersSeenThrough != "42" {
		t.Errorf("a new ledger's watermarks are %q and %q, want where the apiserver stands (42)", l.Spec.SeenThrough, l.Spec.PractitionersSeenThrough)
	}
	if !controllerutil.ContainsFinalizer(l, ledger.Finalizer) {
		t.Error("a new ledger has no finalizer: deleting it could lose the allocations in flight")
	}
}

func TestALedgerFullOfAllocationsInFlightAsksToTryAgainAndWritesNothing(t *testing.T) {
	f := newWriterFixture(t, existingLedger("7"))
	full := &job{done: make(chan error, 1), decide: func(_ context.Context, spec caseloadv1alpha1.AllocationLedgerSpec, _ client.Reader) (caseloadv1alpha1.AllocationLedgerSpec, error) {
		for i := range ledger.MaxEntries + 1 {
			spec.Reservations = append(spec.Reservations, entry(fmt.Sprintf("c-%d", i), "req"))
		}
		return spec, nil
	}}
	_, _, err := f.w.commit(ledgerKey, nil, []*job{full})
	if !apierrors.IsServiceUnavailable(err) {
		t.Fatalf("got %v, want a 503 that says to try again", err)
	}
	if f.writes != 0 {
		t.Errorf("wrote %d times", f.writes)
	}
}

// Jobs submitted while a batch is being written wait for the next batch and are written together.
func TestJobsQueuedBehindABatchShareTheNextWrite(t *testing.T) {
	f := newWriterFixture(t, existingLedger("7"))
	release := make(chan struct{})
	started := make(chan struct{})
	first := func(_ context.Context, spec caseloadv1alpha1.AllocationLedgerSpec, _ client.Reader) (caseloadv1alpha1.AllocationLedgerSpec, error) {
		select {
		case <-started:
		default:
			close(started)
		}
		<-release
		spec.Reservations = ledger.Add(spec.Reservations, []caseloadv1alpha1.Reservation{entry("c-0", "req-0")})
		return spec, nil
	}
	done := make(chan error, 4)
	go func() { done <- f.w.Submit(context.Background(), ledgerKey, first) }()
	<-started
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("c-%d", i)
		go func() {
			done <- f.w.Submit(context.Background(), ledgerKey, func(_ context.Context, spec caseloadv1alpha1.AllocationLedgerSpec, _ client.Reader) (caseloadv1alpha1.AllocationLedgerSpec, error) {
				spec.Reservations = ledger.Add(spec.Reservations, []caseloadv1alpha1.Reservation{entry(name, "req-"+name)})
				return spec, nil
			})
		}()
	}
	waitQueued(t, f.w, 3)
	close(release)
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if f.writes != 2 {
		t.Errorf("four allocations, three queued behind the first, cost %d writes, want 2", f.writes)
	}
	if got := len(f.stored(t).Spec.Reservations); got != 4 {
		t.Errorf("ledger holds %d entries, want 4", got)
	}
}

// waitQueued waits until n jobs wait for the ledger's next batch.
func waitQueued(t *testing.T, w *Writer, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		w.mu.Lock()
		queued := len(w.queue(ledgerKey).pending)
		w.mu.Unlock()
		if queued >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%d jobs never queued", n)
}

// A batch that admits nothing on a team with no ledger writes none; the new ledger it read, with
// the watermark of that moment, is not kept to be created from later (no compare-and-swap guards a
// create, and the team's ledger may have come and gone meanwhile).
func TestALedgerNeverWrittenIsNotKept(t *testing.T) {
	f := newWriterFixture(t)
	var decided []bool
	err := f.w.Submit(context.Background(), ledgerKey, refuses(false, &decided).decide)
	if !IsRefusal(err) {
		t.Fatalf("got %v, want the refusal", err)
	}
	if f.writes != 0 {
		t.Errorf("a refusal wrote %d ledgers", f.writes)
	}
	f.w.mu.Lock()
	known := f.w.queue(ledgerKey).known
	f.w.mu.Unlock()
	if known != nil {
		t.Errorf("kept a ledger the apiserver never held (watermark %s) to decide the team's next batch on", known.Spec.SeenThrough)
	}
}

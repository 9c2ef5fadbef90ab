package v1alpha1

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	caseloadv1alpha1 "caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/controllers"
	admit "caseload.dev/caseload-operator/internal/admission"
	"caseload.dev/caseload-operator/internal/ledger"
	"caseload.dev/caseload-operator/internal/policy"
	"caseload.dev/caseload-operator/internal/snapshot"
)

// The simulation of admission (docs/admission.md, "Proof by simulation"): seeded histories of
// replicas deciding allocations through the real CaseValidator, PractitionerValidator, ledger
// writer and ledger reconciler, against a simulated apiserver (resourceVersions, compare-and-swap)
// and caches that lag, stall and catch up, with clocks set minutes apart, replicas that crash and
// restart, ledger writes that fail or land and then time out, requests that fail after admission
// or are stored late, and every operation on cases, practitioners, quotas and ledgers that a
// council makes. Everything happens on one goroutine, in an order drawn from the seed, so a
// failure replays exactly from its seed:
//
//	go test ./internal/webhook/v1alpha1 -run TestSimulation -sim.seed=N -v
//
// It checks, at every answer:
//   - safety: an admitted allocation leaves no one it was decided for, and not the team, past a
//     cap, counting every version of every case that is stored or admitted and may yet be stored
//     (the invariant: a replica counts at least what is stored plus what is admitted and not yet
//     stored, so the load it admits against is never below the real one);
//   - no wrong refusal: a refusal stands against what the apiserver holds at that moment, its
//     ledger included;
//
// and at the end of each history, once every request has ended and every cache has caught up,
// that every ledger has drained.

var (
	simSeeds = flag.Int("sim.seeds", 1000, "how many seeded histories TestSimulation runs")
	simSeed  = flag.Uint64("sim.seed", 0, "run this one seed (and log its history)")
	simSteps = flag.Int("sim.steps", 150, "operations in each history")
	simFirst = flag.Uint64("sim.first", 1, "the first seed TestSimulation runs")
)

func TestSimulation(t *testing.T) {
	ctrl.SetLogger(logr.Discard())
	if *simSeed != 0 {
		if err := simulate(*simSeed, *simSteps, t.Logf); err != nil {
			t.Fatalf("simulation: seed %d: %v", *simSeed, err)
		}
		return
	}
	stats := simStats{}
	conflicts, live := testutil.ToFloat64(admit.LedgerConflicts), testutil.ToFloat64(admit.LiveDecisions)
	for seed := *simFirst; seed < *simFirst+uint64(*simSeeds); seed++ {
		if err := simulateCounting(seed, *simSteps, &stats); err != nil {
			t.Fatalf("simulation: seed %d: %v\nreplay: go test ./internal/webhook/v1alpha1 -run 'TestSimulation$' -sim.seed=%d -v", seed, err, seed)
		}
	}
	stats.conflicts, stats.live = int(testutil.ToFloat64(admit.LedgerConflicts)-conflicts), int(testutil.ToFloat64(admit.LiveDecisions)-live)
	t.Logf("simulation: %d histories of %d steps: %s", *simSeeds, *simSteps, stats)
	// A simulation that never got there proves nothing: each of these must have happened.
	for what, n := range map[string]int{"admitted": stats.admitted, "refused": stats.refused, "ledger conflicts": stats.conflicts,
		"decided from the apiserver": stats.live, "practitioner moves admitted": stats.moves, "ledgers deleted": stats.ledgerDeletes,
		"writes lost after landing": stats.lost, "replica restarts": stats.restarts} {
		if n == 0 && *simSeeds >= 50 {
			t.Errorf("in %d histories nothing was %s", *simSeeds, what)
		}
	}
}

type simStats struct {
	admitted, refused, errors, conflicts, live, moves, ledgerDeletes, lost, restarts int
}

func (s simStats) String() string {
	return fmt.Sprintf("%d admitted, %d refused, %d could not be decided (faults), %d ledger conflicts, %d batches decided from the apiserver, "+
		"%d practitioner moves, %d ledgers deleted, %d ledger writes lost after landing, %d replica restarts",
		s.admitted, s.refused, s.errors, s.conflicts, s.live, s.moves, s.ledgerDeletes, s.lost, s.restarts)
}

func simulate(seed uint64, steps int, logf func(string, ...any)) error {
	var s simStats
	w := newWorld(seed, &s, logf)
	return w.run(steps)
}

func simulateCounting(seed uint64, steps int, s *simStats) error {
	w := newWorld(seed, s, nil)
	return w.run(steps)
}

const simNS = "council"

var (
	simTeams  = []string{"north", "south"}
	simPeople = map[string][2]string{ // name: team, grade
		"ann": {"north", "SocialWorker"}, "bob": {"north", "SocialWorker"}, "cat": {"north", "NewlyQualified"},
		"dan": {"south", "SocialWorker"}, "eve": {"south", "NewlyQualified"}, "fay": {"south", "SocialWorker"},
	}
	simTypes = []string{"ChildInNeed", "ChildProtection", "CareProceedings"}
)

func simQuota(socialWorkerCap string) *caseloadv1alpha1.CaseloadQuota {
	maxCases := int32(5)
	return &caseloadv1alpha1.CaseloadQuota{ObjectMeta: metav1.ObjectMeta{Namespace: simNS, Name: "caps"},
		Spec: caseloadv1alpha1.CaseloadQuotaSpec{
			Weights: caseloadv1alpha1.Weights{
				CaseTypes:       map[string]caseloadv1alpha1.CaseWeight{"ChildInNeed": "1", "ChildProtection": "1.5", "CareProceedings": "2"},
				Complexity:      map[string]caseloadv1alpha1.Multiplier{"High": "1.5"},
				AdditionalChild: "0.5", CoWorkerShare: "0.5",
			},
			PractitionerCaps: []caseloadv1alpha1.PractitionerCap{
				{Grade: "SocialWorker", MaxWeight: caseloadv1alpha1.Decimal(socialWorkerCap), MaxCases: &maxCases},
				{Grade: "NewlyQualified", MaxWeight: "4"},
			},
			TeamCap: &caseloadv1alpha1.TeamCap{MaxWeight: ptr(caseloadv1alpha1.Decimal("12"))},
		}}
}

// A simReplica is one process of the operator: its cache, its webhook's validators and ledger
// writer, its ledger reconciler, and its clock, skewed from the others'.
type simReplica struct {
	name       string
	skew       time.Duration
	atomic     bool // client-go's AtomicFIFO is on
	cache      *simCache
	writer     *admit.Writer
	cases      *CaseValidator
	moves      *PractitionerValidator
	reconciler *controllers.LedgerReconciler
}

type simClock struct {
	w    *world
	skew time.Duration
}

func (c simClock) Now() time.Time                  { return c.w.now.Add(c.skew) }
func (c simClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// A pending change is one admitted and not yet stored: the apiserver stores it, or fails it
// (another admission plugin, a conflict, a timeout), later.
type pending struct {
	obj    client.Object
	create bool
	what   string
	// by is when the request ends at the latest: the apiserver's request timeout (a minute)
	// after admission.
	by time.Time
}

type world struct {
	faults   int             // ledger writes failed or lost so far
	busy     map[string]bool // replicas with a ledger write in flight
	rng      *rand.Rand
	stats    *simStats
	logf     func(string, ...any)
	history  []string
	api      *simAPI
	live     simLive
	now      time.Time
	replicas []*simReplica
	pending  []pending
	names    int
	depth    int
}

func newWorld(seed uint64, stats *simStats, logf func(string, ...any)) *world {
	w := &world{busy: map[string]bool{}, rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), stats: stats, logf: logf, api: newSimAPI(),
		now: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)}
	w.live = simLive{api: w.api}
	for _, t := range simTeams {
		must(w.api.create(&caseloadv1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Namespace: simNS, Name: t}}))
	}
	for _, name := range sortedKeys(simPeople) {
		p := simPeople[name]
		must(w.api.create(&caseloadv1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: simNS, Name: name},
			Spec: caseloadv1alpha1.PractitionerSpec{Team: p[0], Grade: p[1], FTE: "1", Available: ptr(true)}}))
	}
	must(w.api.create(simQuota("6")))
	replicas := 2 + w.rng.IntN(2)
	for i := range replicas {
		skew := time.Duration(w.rng.IntN(7)-3) * time.Minute // clocks up to three minutes apart
		atomic := w.pick(4) != 0                             // KUBE_FEATURE_AtomicFIFO=false on some
		w.replicas = append(w.replicas, w.start(fmt.Sprintf("replica-%d", i), skew, atomic))
	}
	w.api.beforeWrite = w.ledgerWrite
	return w
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func ptr[T any](v T) *T { return &v }

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// start is a replica that has just started: a cache listed afresh, nothing in memory.
func (w *world) start(name string, skew time.Duration, atomic bool) *simReplica {
	cache := newSimCache(w.api, atomic)
	clock := simClock{w: w, skew: skew}
	zero := time.Duration(0)
	live := simLive{api: w.api, who: name}
	writer := &admit.Writer{Cache: cache, Cases: cache.cases, Practitioners: cache.practitioners, Live: live, Client: live,
		Now: clock.Now, Observed: &ledger.Observed{}, CatchUp: &zero, Pause: func(int) time.Duration { return 0 }}
	return &simReplica{
		name: name, skew: skew, atomic: atomic, cache: cache, writer: writer,
		cases: &CaseValidator{Cache: cache, Live: live, Client: live, Ledgers: writer, Calendars: snapshot.Calendars{Default: policy.UTC},
			Now: clock.Now, Log: ctrl.Log.WithName("simulation")},
		moves: &PractitionerValidator{Cache: cache, Ledgers: writer, Live: live},
		reconciler: &controllers.LedgerReconciler{Client: simManagerClient{simLive: simLive{api: w.api}, cache: cache}, Live: live, Clock: clock,
			Cases: cache.cases, Practitioners: cache.practitioners},
	}
}

func (w *world) say(format string, args ...any) {
	line := fmt.Sprintf("%s%s", strings.Repeat("  ", w.depth), fmt.Sprintf(format, args...))
	w.history = append(w.history, line)
	if w.logf != nil {
		w.logf("%s", line)
	}
}

func (w *world) fail(format string, args ...any) error {
	tail := w.history
	if len(tail) > 80 {
		tail = tail[len(tail)-80:]
	}
	return fmt.Errorf("%s\nlast steps:\n%s", fmt.Sprintf(format, args...), strings.Join(tail, "\n"))
}

func (w *world) run(steps int) error {
	for i := range steps {
		if err := w.step(i); err != nil {
			return err
		}
	}
	return w.drain()
}

func (w *world) pick(n int) int { return w.rng.IntN(n) }

func (w *world) replica() *simReplica { return w.replicas[w.pick(len(w.replicas))] }

// step is one thing happening somewhere in the cluster.
func (w *world) step(i int) error {
	w.advance(time.Duration(w.rng.IntN(2000)) * time.Millisecond)
	switch r := w.pick(100); {
	case r < 28:
		return w.allocateNew(w.replica())
	case r < 38:
		return w.changeCase(w.replica(), "reassign")
	case r < 44:
		return w.changeCase(w.replica(), "co-worker")
	case r < 52:
		return w.changeCase(w.replica(), "raise")
	case r < 56:
		return w.changeCase(w.replica(), "unallocate")
	case r < 59:
		return w.changeCase(w.replica(), "close")
	case r < 62:
		return w.changeCase(w.replica(), "reopen")
	case r < 65:
		w.deleteCase()
	case r < 69:
		return w.movePractitioner(w.replica())
	case r < 71:
		w.changeCap()
	case r < 73:
		return w.deleteLedger()
	case r < 85:
		w.deliver(w.replica())
	case r < 89:
		w.endSomeAdmittedRequests()
	case r < 94:
		return w.reconcile(w.replica())
	case r < 97:
		w.advance(time.Duration(30+w.rng.IntN(150)) * time.Second)
		w.say("%d: the clock moves on to %s", i, w.now.Format(time.TimeOnly))
	default:
		w.restart()
	}
	return nil
}

// deliver hands a replica's cache some of the changes it has not seen, or all of them; or
// leaves it stalled.
func (w *world) deliver(r *simReplica) {
	if w.pick(6) == 0 {
		r.cache.listAgain(func(es []simEvent) { w.rng.Shuffle(len(es), func(i, j int) { es[i], es[j] = es[j], es[i] }) })
		w.say("%s's watch fails and it lists again (%s; %d to come)", r.name, map[bool]string{true: "at once", false: "piecemeal"}[r.atomic], r.cache.behind())
		return
	}
	n := 1 + w.pick(6)
	if w.pick(4) == 0 {
		n = r.cache.behind()
	}
	r.cache.deliver(n)
	w.say("%s's cache catches up by %d (%d behind)", r.name, n, r.cache.behind())
}

func (w *world) restart() {
	i := w.pick(len(w.replicas))
	old := w.replicas[i]
	w.replicas[i] = w.start(old.name, old.skew, old.atomic)
	w.stats.restarts++
	w.say("%s crashes and starts again", old.name)
}

// ledgerWrite is the apiserver about to apply a write of a ledger: others act meanwhile, and the
// write may fail, or land and then time out.
func (w *world) ledgerWrite(who string, obj client.Object) (fail, lost error) {
	if who != "" {
		w.busy[who] = true
		defer delete(w.busy, who)
	}
	if w.depth < 2 && w.pick(3) == 0 {
		w.depth++
		w.concurrently()
		w.depth--
	}
	switch w.pick(40) {
	case 0:
		w.faults++
		w.say("the apiserver fails the write of ledger %s", obj.GetName())
		return apierrors.NewServiceUnavailable("etcd is paused"), nil
	case 1:
		w.faults++
		w.stats.lost++
		w.say("the write of ledger %s lands, and its answer is lost", obj.GetName())
		return nil, apierrors.NewTimeoutError("the request timed out", 1)
	}
	return nil, nil
}

// concurrently is something another request or process does while a ledger write is in flight.
func (w *world) concurrently() {
	var free []*simReplica
	for _, r := range w.replicas {
		if !w.busy[r.name] {
			free = append(free, r)
		}
	}
	if len(free) == 0 {
		return
	}
	r := free[w.pick(len(free))]
	var err error
	switch w.pick(7) {
	case 0, 1:
		err = w.allocateNew(r)
	case 2:
		err = w.changeCase(r, "reassign")
	case 3:
		err = w.changeCase(r, "raise")
	case 4:
		err = w.movePractitioner(r)
	case 5:
		err = w.reconcile(r)
	default:
		w.endSomeAdmittedRequests()
	}
	if err != nil {
		panic(simFailure{err})
	}
}

type simFailure struct{ err error }

func (w *world) request(op admissionv1.Operation) context.Context {
	w.names++
	return admission.NewContextWithRequest(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: types.UID(fmt.Sprintf("req-%d", w.names)), Operation: op, DryRun: ptr(false),
		UserInfo: authenticationv1.UserInfo{Username: "manager@council.example"}}})
}

func (w *world) someone() string {
	names := sortedKeys(simPeople)
	return names[w.pick(len(names))]
}

// openCases are the cases the apiserver holds, closed ones too (they can be reopened).
func (w *world) openCases() []*caseloadv1alpha1.Case {
	var list caseloadv1alpha1.CaseList
	must(w.live.List(context.Background(), &list, client.InNamespace(simNS)))
	var out []*caseloadv1alpha1.Case
	for i := range list.Items {
		out = append(out, &list.Items[i])
	}
	return out
}

// allocateNew creates a case allocated to someone, under one of a few names, so that a name is
// now and then used again for a new case after the old one is deleted.
func (w *world) allocateNew(r *simReplica) (err error) {
	defer w.recover(&err)
	c := &caseloadv1alpha1.Case{ObjectMeta: metav1.ObjectMeta{Namespace: simNS, Name: fmt.Sprintf("c-%d", w.pick(14))},
		Spec: caseloadv1alpha1.CaseSpec{Reference: "REF", Team: simTeams[w.pick(2)], Type: simTypes[w.pick(3)], OpenedOn: "2026-12-01",
			Complexity: caseloadv1alpha1.ComplexityStandard, Children: 1, AllocatedTo: w.someone()}}
	if w.pick(5) == 0 {
		c.Spec.CoWorkers = []string{w.someone()}
	}
	c.UID = w.api.newUID() // the apiserver sets it before admission
	c.Generation = 1
	w.say("%s: create %s (%s, uid %s) in %s for %s %v", r.name, c.Name, c.Spec.Type, c.UID, c.Spec.Team, c.Spec.AllocatedTo, c.Spec.CoWorkers)
	faults := w.faults
	_, verr := r.cases.ValidateCreate(w.request(admissionv1.Create), c)
	return w.answered(r, nil, c, verr, true, w.faults > faults)
}

// changeCase updates an existing case as a manager would.
func (w *world) changeCase(r *simReplica, how string) (err error) {
	defer w.recover(&err)
	cases := w.openCases()
	if len(cases) == 0 {
		return nil
	}
	old := cases[w.pick(len(cases))]
	c := old.DeepCopy()
	switch how {
	case "reassign":
		c.Spec.AllocatedTo = w.someone()
	case "co-worker":
		c.Spec.CoWorkers = append(c.Spec.CoWorkers, w.someone())
	case "raise":
		switch w.pick(3) {
		case 0:
			c.Spec.Type = simTypes[w.pick(3)]
		case 1:
			c.Spec.Complexity = caseloadv1alpha1.ComplexityHigh
		default:
			c.Spec.Children++
		}
	case "unallocate":
		c.Spec.AllocatedTo, c.Spec.CoWorkers = "", nil
	case "close":
		c.Spec.ClosedOn = "2026-12-07"
	case "reopen":
		if old.Spec.ClosedOn == "" {
			return nil
		}
		c.Spec.ClosedOn = ""
	}
	if !reflect.DeepEqual(old.Spec, c.Spec) {
		c.Generation = old.Generation + 1 // the apiserver moves it on before admission
	}
	w.say("%s: %s %s (generation %d: %s, %s x%d, lead %s, co-workers %v, closed %q)", r.name, how, c.Name, c.Generation,
		c.Spec.Team, c.Spec.Type, c.Spec.Children, c.Spec.AllocatedTo, c.Spec.CoWorkers, c.Spec.ClosedOn)
	faults := w.faults
	_, verr := r.cases.ValidateUpdate(w.request(admissionv1.Update), old, c)
	return w.answered(r, old, c, verr, false, w.faults > faults)
}

func (w *world) recover(err *error) {
	if p := recover(); p != nil {
		f, ok := p.(simFailure)
		if !ok {
			panic(p)
		}
		*err = f.err
	}
}

// answered checks an answer of the Case webhook and, for an admitted change, has the apiserver
// store it now, later, or never. faulted says whether a ledger write failed meanwhile: only then
// may a request go undecided.
func (w *world) answered(r *simReplica, old, c *caseloadv1alpha1.Case, verr error, create, faulted bool) error {
	switch {
	case verr == nil:
		w.stats.admitted++
		w.say("  admitted")
		if err := w.checkSafe(r, old, c); err != nil {
			return err
		}
		w.store(pending{obj: c, create: create, what: "case " + c.Name})
	case admit.IsRefusal(verr):
		w.stats.refused++
		w.say("  refused: %s", firstLine(verr))
		if err := w.checkRefusal(r, old, c, verr); err != nil {
			return err
		}
	default:
		w.stats.errors++
		w.say("  not decided: %s", firstLine(verr))
		if !faulted {
			return w.fail("%s could not be decided though nothing failed: %v", c.Name, verr)
		}
	}
	return nil
}

func firstLine(err error) string {
	s := err.Error()
	if len(s) > 240 {
		s = s[:240] + "..."
	}
	return s
}

// store has the apiserver store an admitted change at once, later, or never (the request failed
// after admission).
func (w *world) store(p pending) {
	switch w.pick(10) {
	case 0:
		w.say("  the request fails after admission: %s is not stored", p.what)
	case 1, 2, 3:
		p.by = w.now.Add(time.Duration(1+w.pick(60)) * time.Second)
		w.pending = append(w.pending, p)
		w.say("  %s is stored later", p.what)
	default:
		w.apply(p)
	}
}

func (w *world) apply(p pending) {
	obj := p.obj.DeepCopyObject().(client.Object)
	var err error
	if p.create {
		err = w.api.create(obj)
	} else {
		err = w.api.update(obj)
	}
	if err != nil {
		w.say("  %s is not stored: %v", p.what, err)
		return
	}
	w.say("  %s is stored at resourceVersion %s", p.what, obj.GetResourceVersion())
}

// advance moves time on by d, ending first every request whose time is up: no request outlives
// the apiserver's request timeout.
func (w *world) advance(d time.Duration) {
	next := w.now.Add(d)
	for {
		i := slices.IndexFunc(w.pending, func(p pending) bool { return !p.by.After(next) })
		if i < 0 {
			break
		}
		p := w.pending[i]
		w.pending = slices.Delete(w.pending, i, i+1)
		if p.by.After(w.now) {
			w.now = p.by
		}
		w.say("the late request for %s ends at its deadline", p.what)
		w.apply(p)
	}
	w.now = next
}

// endSomeAdmittedRequests ends some requests admitted a while ago: stored, or failed.
func (w *world) endSomeAdmittedRequests() {
	if len(w.pending) == 0 {
		return
	}
	i := w.pick(len(w.pending))
	p := w.pending[i]
	w.pending = slices.Delete(w.pending, i, i+1)
	if w.pick(5) == 0 {
		w.say("the late request for %s fails", p.what)
		return
	}
	w.say("the late request for %s ends", p.what)
	w.apply(p)
}

func (w *world) deleteCase() {
	cases := w.openCases()
	if len(cases) == 0 {
		return
	}
	c := cases[w.pick(len(cases))]
	must(w.api.delete(simKey{"Case", simNS, c.Name}))
	w.say("delete case %s (uid %s)", c.Name, c.UID)
}

// movePractitioner moves someone to the other team, through the Practitioner webhook.
func (w *world) movePractitioner(r *simReplica) (err error) {
	defer w.recover(&err)
	var old caseloadv1alpha1.Practitioner
	must(w.api.get(simKey{"Practitioner", simNS, w.someone()}, &old))
	p := old.DeepCopy()
	p.Spec.Team = simTeams[0]
	if old.Spec.Team == simTeams[0] {
		p.Spec.Team = simTeams[1]
	}
	p.Generation = old.Generation + 1
	w.say("%s: move %s from %s to %s", r.name, p.Name, old.Spec.Team, p.Spec.Team)
	_, verr := r.moves.ValidateUpdate(w.request(admissionv1.Update), &old, p)
	switch {
	case verr == nil:
		w.stats.moves++
		w.say("  admitted")
		w.store(pending{obj: p, what: "the move of " + p.Name})
	case admit.IsRefusal(verr):
		w.say("  refused: %s", firstLine(verr))
	default:
		w.say("  not decided: %s", firstLine(verr))
	}
	return nil
}

// changeCap lowers (or raises back) the social workers' cap: a policy change from git.
func (w *world) changeCap() {
	var q caseloadv1alpha1.CaseloadQuota
	must(w.api.get(simKey{"CaseloadQuota", simNS, "caps"}, &q))
	next := []string{"4", "5", "6"}[w.pick(3)]
	q.Spec = simQuota(next).Spec
	must(w.api.update(&q))
	w.say("the social workers' cap is set to %s", next)
}

// deleteLedger is someone deleting a team's ledger; often the operator's leader, its cache up to
// date, finishes the deletion at once (the ledger held nothing in flight it could not account for).
func (w *world) deleteLedger() (err error) {
	defer w.recover(&err)
	team := simTeams[w.pick(2)]
	if err := w.api.delete(simKey{"AllocationLedger", simNS, team}); err != nil {
		return nil
	}
	w.stats.ledgerDeletes++
	w.say("someone deletes the ledger of %s", team)
	if w.pick(2) == 0 {
		r := w.replica()
		r.cache.deliver(r.cache.behind())
		w.say("%s's cache catches up", r.name)
		for range 2 {
			_, err := r.reconciler.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: simNS, Name: team}})
			w.say("%s's ledger reconciler prunes %s: %v", r.name, team, err)
			w.advance(ledger.TTL)
		}
		w.say("%s's ledger reconciler finishes the deletion of %s's ledger", r.name, team)
	}
	return nil
}

func (w *world) reconcile(r *simReplica) (err error) {
	defer w.recover(&err)
	team := simTeams[w.pick(2)]
	_, rerr := r.reconciler.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: simNS, Name: team}})
	w.say("%s's ledger reconciler prunes %s: %v", r.name, team, rerr)
	return nil
}

// drain ends the history: every request ends, every cache catches up, time passes, and the
// ledger reconcilers run. Every ledger must then be empty.
func (w *world) drain() error {
	w.api.beforeWrite = nil
	for len(w.pending) > 0 {
		p := w.pending[0]
		w.pending = w.pending[1:]
		w.apply(p)
	}
	w.say("drain: every request has ended")
	for round := range 3 {
		for _, r := range w.replicas {
			r.cache.deliver(r.cache.behind())
		}
		for _, r := range w.replicas {
			for _, team := range simTeams {
				if _, err := r.reconciler.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: simNS, Name: team}}); err != nil {
					return w.fail("drain: the ledger reconciler of %s failed on %s: %v", r.name, team, err)
				}
			}
		}
		w.advance(ledger.TTL + time.Duration(round)*time.Second)
	}
	for _, team := range simTeams {
		var l caseloadv1alpha1.AllocationLedger
		if err := w.api.get(simKey{"AllocationLedger", simNS, team}, &l); err != nil {
			continue
		}
		if !ledger.Empty(l.Spec) {
			return w.fail("the ledger of %s did not drain: %d entries, %d departures: %+v", team, len(l.Spec.Reservations), len(l.Spec.Departures), l.Spec)
		}
	}
	return nil
}

// versions are every version of each case that is stored or admitted and not yet stored, by
// name (a name holds one case at a time, whichever uid): any of them may be what the apiserver
// holds once the requests in flight have ended.
func (w *world) versions(extra *caseloadv1alpha1.Case) map[string][]*caseloadv1alpha1.Case {
	out := map[string][]*caseloadv1alpha1.Case{}
	for _, c := range w.openCases() {
		if c.IsOpen() {
			out[c.Name] = append(out[c.Name], c)
		}
	}
	for _, p := range w.pending {
		c, ok := p.obj.(*caseloadv1alpha1.Case)
		if !ok || !c.IsOpen() {
			continue
		}
		var stored caseloadv1alpha1.Case
		if !p.create && (w.api.get(simKey{"Case", simNS, c.Name}, &stored) != nil || stored.ResourceVersion != c.ResourceVersion) {
			continue // an update of a version that is gone: it can only fail
		}
		out[c.Name] = append(out[c.Name], c)
	}
	if extra != nil && extra.IsOpen() {
		out[extra.Name] = append(out[extra.Name], extra)
	}
	return out
}

// holders are who holds a version of a case and in which role.
func holders(v *caseloadv1alpha1.Case) []policy.Holder {
	return policy.Holders(policy.CaseFrom(v, policy.UTC))
}

// checkSafe checks an admitted change of case c against the invariant: with every version that
// may yet be stored counted at its heaviest, no one it was decided for is past their cap, and the
// team is not past its cap, under the quota as the deciding replica saw it; unless the change adds
// nothing to that worst case (a change that lowers a weight, for someone already past a cap that
// a policy change lowered, is recorded, not refused). A practitioner's load counts every case
// they hold, in whatever team.
func (w *world) checkSafe(r *simReplica, old, c *caseloadv1alpha1.Case) error {
	// The replica decided under the quota its cache holds, or, deciding live, the apiserver's:
	// the looser of the two bounds what it may admit.
	var cached, stored caseloadv1alpha1.CaseloadQuota
	must(w.api.get(simKey{"CaseloadQuota", simNS, "caps"}, &stored))
	q := stored
	if r.cache.Get(context.Background(), client.ObjectKey{Namespace: simNS, Name: "caps"}, &cached) == nil && cached.Spec.PractitionerCaps[0].MaxWeight > stored.Spec.PractitionerCaps[0].MaxWeight {
		q = cached
	}
	p := policy.MustFromSpec("caps", q.Spec)
	without, with := w.versions(nil), w.versions(c)
	var before *policy.Case
	if old != nil && old.IsOpen() && old.Spec.Team == c.Spec.Team {
		b := policy.CaseFrom(old, policy.UTC)
		before = &b
	}
	for _, j := range policy.Subjects(before, policy.CaseFrom(c, policy.UTC)) {
		var pr caseloadv1alpha1.Practitioner
		if w.api.get(simKey{"Practitioner", simNS, j.Name}, &pr) != nil {
			continue
		}
		cp, ok := p.Caps[pr.Spec.Grade]
		if !ok {
			continue
		}
		load, cases, counted := worstLoad(p, with, j.Name)
		was, wasCases, _ := worstLoad(p, without, j.Name)
		over := (load > cp.MaxWeight && load > was) || (cp.MaxCases != nil && cases > *cp.MaxCases && cases > wasCases)
		if over {
			w.say("debug: %s", w.describe(r, c.Spec.Team))
			maxCases := "no count"
			if cp.MaxCases != nil {
				maxCases = fmt.Sprint(*cp.MaxCases)
			}
			return w.fail("overshoot: %s admitted %s, and %s may now hold %s in %d cases (%s), past the cap of %s (%s cases)",
				r.name, c.Name, j.Name, load, cases, strings.Join(counted, ", "), cp.MaxWeight, maxCases)
		}
	}
	if p.TeamMaxWeight != nil {
		total, counted := worstTeam(p, with, c.Spec.Team)
		was, _ := worstTeam(p, without, c.Spec.Team)
		if total > *p.TeamMaxWeight && total > was {
			w.say("debug: %s", w.describe(r, c.Spec.Team))
			return w.fail("overshoot: %s admitted %s, and team %s may now carry %s (%s), past its cap of %s", r.name, c.Name, c.Spec.Team, total, strings.Join(counted, ", "), *p.TeamMaxWeight)
		}
	}
	return nil
}

// worstLoad is the most practitioner may hold under p, counting each case at its heaviest
// version for them, and in how many cases.
func worstLoad(p *policy.Policy, versions map[string][]*caseloadv1alpha1.Case, practitioner string) (policy.Milli, int, []string) {
	var load policy.Milli
	cases := 0
	var counted []string
	for _, vs := range versions {
		var most policy.Milli
		held := false
		for _, v := range vs {
			for _, h := range holders(v) {
				if h.Name == practitioner {
					held = true
					most = max(most, p.Carried(policy.CaseFrom(v, policy.UTC), h.Role))
				}
			}
		}
		load += most
		if held {
			cases++
			counted = append(counted, fmt.Sprintf("%s/%s %s", vs[0].Name, vs[0].UID, most))
		}
	}
	slices.Sort(counted)
	return load, cases, counted
}

// worstTeam is the most team may carry under p, counting each case at its heaviest version.
func worstTeam(p *policy.Policy, versions map[string][]*caseloadv1alpha1.Case, team string) (policy.Milli, []string) {
	var total policy.Milli
	var counted []string
	for _, vs := range versions {
		var most policy.Milli
		for _, v := range vs {
			if v.Spec.Team != team {
				continue
			}
			var sum policy.Milli
			for _, h := range holders(v) {
				sum += p.Carried(policy.CaseFrom(v, policy.UTC), h.Role)
			}
			most = max(most, sum)
		}
		total += most
		if most > 0 {
			counted = append(counted, fmt.Sprintf("%s/%s %s", vs[0].Name, vs[0].UID, most))
		}
	}
	slices.Sort(counted)
	return total, counted
}

// describe tells what the apiserver's ledger of team holds and what r's cache shows, for a
// failure's history.
func (w *world) describe(r *simReplica, team string) string {
	var b strings.Builder
	var l caseloadv1alpha1.AllocationLedger
	if w.api.get(simKey{"AllocationLedger", simNS, team}, &l) == nil {
		fmt.Fprintf(&b, "ledger %s at %s (seenThrough %s):", team, l.ResourceVersion, l.Spec.SeenThrough)
		for _, e := range l.Spec.Reservations {
			fmt.Fprintf(&b, " [%s %s/%s gen %d %s]", e.Practitioner, e.Case, e.CaseUID, e.Generation, e.CaseType)
		}
		for _, d := range l.Spec.Departures {
			fmt.Fprintf(&b, " [%s leaving for %s]", d.Practitioner, d.Team)
		}
	}
	fmt.Fprintf(&b, "; practitioners stored:")
	var prs caseloadv1alpha1.PractitionerList
	must(w.live.List(context.Background(), &prs, client.InNamespace(simNS)))
	for _, p := range prs.Items {
		fmt.Fprintf(&b, " %s in %s (gen %d)", p.Name, p.Spec.Team, p.Generation)
	}
	done, cancel := context.WithCancel(context.Background())
	cancel()
	fmt.Fprintf(&b, "; %s's cache is %d behind (%v), cases:", r.name, r.cache.behind(), r.cache.cases.Reach(done, l.Spec.SeenThrough))
	var cases caseloadv1alpha1.CaseList
	must(r.cache.List(context.Background(), &cases, client.InNamespace(simNS)))
	for _, c := range cases.Items {
		fmt.Fprintf(&b, " [%s/%s gen %d rv %s %s lead %s %v closed %q]", c.Name, c.UID, c.Generation, c.ResourceVersion, c.Spec.Type, c.Spec.AllocatedTo, c.Spec.CoWorkers, c.Spec.ClosedOn)
	}
	return b.String()
}

// checkRefusal checks a refusal against what the apiserver holds: the same change decided by the
// engine on the stored objects and the stored ledger's entries (each counted until the apiserver
// holds its case at the entry's generation), with those leaving the team as the ledger lists them.
func (w *world) checkRefusal(r *simReplica, old, c *caseloadv1alpha1.Case, verr error) error {
	ctx := context.Background()
	var q caseloadv1alpha1.CaseloadQuota
	must(w.api.get(simKey{"CaseloadQuota", simNS, "caps"}, &q))
	policies := []*policy.Policy{policy.MustFromSpec(simNS+"/caps", q.Spec)}
	snap, err := snapshot.LoadLive(ctx, w.live, policy.UTC, simNS, c.Spec.Team, w.now)
	if err != nil {
		return w.fail("reading the apiserver: %v", err)
	}
	var before *policy.Case
	if old != nil && old.Spec.Team == c.Spec.Team && old.IsOpen() {
		b := policy.CaseFrom(old, policy.UTC)
		before = &b
	}
	after := policy.CaseFrom(c, policy.UTC)
	after.UID, after.Generation = string(c.UID), c.Generation
	subjects := policy.Subjects(before, after)
	others := map[string]policy.Practitioner{}
	for _, j := range subjects {
		if _, member := snap.View.Member(j.Name); member {
			continue
		}
		var pr caseloadv1alpha1.Practitioner
		if w.api.get(simKey{"Practitioner", simNS, j.Name}, &pr) == nil {
			others[j.Name] = policy.PractitionerFrom(&pr)
		}
	}
	for _, d := range snap.Ledger.Spec.Departures {
		if pr, ok := snap.Without(d.Practitioner); ok {
			pr.Team = d.Team
			others[d.Practitioner] = pr
		}
	}
	d := policy.DecideChange(policies, snap.View, snap.Day, before, after, subjects, others)
	if d.Allowed() {
		w.say("debug: %s", w.describe(r, c.Spec.Team))
		return w.fail("wrong refusal: %s fits what the apiserver holds (its ledger included), but was refused: %v", c.Name, verr)
	}
	return nil
}

package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	caseloadv1alpha1 "caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/testenv"
	"caseload.dev/caseload-operator/test/harness"
)

// TestScale measures what the operator costs as the platform grows, on the real apiserver and
// the real manager binary: BENCH_CASES generated cases (300 in `make test`, as a smoke run so the
// harness cannot rot; `make bench-scale` runs 30,000 unless BENCH_CASES says otherwise and
// records the figures in docs/benchmarks.md). In one run:
//
//  1. the first council (up to 3,000 cases) is loaded and the manager started on it: the work
//     one Case change costs, and the heap, at that size;
//  2. the rest is loaded with the manager stopped, and a first start writes every status;
//  3. a restart, as a rolling update does, until every status is confirmed current (start-up);
//  4. at N: the heap and RSS, the work one Case change costs, in-memory decision times, a policy
//     change over every team, and the admission benchmark beside no webhook and ResourceQuota.
func TestScale(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the manager binary")
	}
	full := os.Getenv("BENCH_SCALE") == "full"
	n, events, decisions := 300, 3, 30
	if full {
		n, events, decisions = 30_000, 10, 400
		if v, err := strconv.Atoi(os.Getenv("BENCH_CASES")); err == nil && v > 0 {
			n = v
		}
	}
	seed := uint64(1)
	if v, err := strconv.ParseUint(os.Getenv("BENCH_SEED"), 10, 64); err == nil {
		seed = v
	}
	profiles := os.Getenv("BENCH_SCALE_PROFILE") // a directory for the manager's profiles
	if profiles != "" {
		if err := os.MkdirAll(profiles, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	started := time.Now()
	councils := world(seed, n)
	adm := admissionSizes(full)
	t.Logf("generated %d cases in %d councils from seed %d", n, len(councils), seed)
	b := startControlPlane(t, []mode{bare, quota, one})
	f := scaleFigures{}

	// 1. One council, the manager started on it.
	f.load = b.load(t, councils[:1])
	small := len(councils[0].cases)
	r := b.startScaleReplica(t, 0)
	b.waitCurrent(t, r, time.Now())
	b.label(t, councils[:1])
	b.replicas = []*harness.Replica{r.Replica}
	b.pointWebhooksAt(t, r.Webhook)
	b.addModes(t, adm)
	heapSmall := r.heapAfterGC(t)
	smallReads, smallTook := b.events(t, r, councils[0].ns, events)
	r.Stop(t)

	// 2. The rest, loaded with the manager stopped; a first start writes every status.
	if len(councils) > 1 {
		f.load += b.load(t, councils[1:])
		b.label(t, councils[1:])
	}
	t0 := time.Now()
	r = b.startScaleReplica(t, 1)
	f.fill = b.waitCurrent(t, r, t0)
	r.Stop(t)

	// 3. A restart with every status current, as after a rolling update.
	t0 = time.Now()
	r = b.launch(t, 2)
	if profiles != "" {
		go r.profile(t, filepath.Join(profiles, "startup.cpu.pprof"), "profile?seconds=30")
	}
	r.WaitReady(t)
	f.ready = time.Since(t0)
	f.startup = b.waitCurrent(t, r, t0)
	f.rss, f.heap = r.rss(t), r.heapAfterGC(t)
	if n > small {
		f.perCase = float64(f.heap-heapSmall) / float64(n-small)
	} else {
		f.perCase = float64(f.heap) / float64(n)
	}
	b.replicas = []*harness.Replica{r.Replica}
	b.pointWebhooksAt(t, r.Webhook)
	b.waitForQuotas(t)
	if profiles != "" {
		r.profile(t, filepath.Join(profiles, "heap.pprof"), "heap?gc=1")
	}

	// 4. At N.
	reads, took := b.events(t, r, councils[0].ns, events)
	f.reads, f.readsRatio = median(reads), median(reads)/median(smallReads)
	f.converge, f.convergeSmall = percentile(took, 50), percentile(smallTook, 50)
	f.decide50, f.decide99, f.decisions = b.decisions(t, r, councils, decisions, seed)
	if profiles != "" {
		go r.profile(t, filepath.Join(profiles, "policy.cpu.pprof"), "profile?seconds=20")
	}
	f.policy, f.policyAll = b.policyChange(t, councils)
	f.admission = b.admission(t, adm)
	f.n, f.small, f.took = n, small, time.Since(started)

	table := f.report()
	t.Log("\n" + table + "\n" + f.admission.report(adm))
	if f.perCase <= 0 {
		t.Errorf("a cached case costs %.0f bytes: the heap was not measured", f.perCase)
	}
	if f.reads == 0 {
		t.Errorf("no object read for a case change: caseload_reconcile_objects_read_total is not counted")
	}
	if full {
		b.record(t, f)
	}
}

// scaleFigures are what one scale run measured.
type scaleFigures struct {
	n, small                   int
	load, fill, ready, startup time.Duration
	rss, heap                  uint64
	perCase                    float64
	reads, readsRatio          float64
	converge, convergeSmall    time.Duration
	decide50, decide99         float64 // seconds
	decisions                  int
	policy, policyAll          time.Duration
	admission                  admissionFigures
	took                       time.Duration
}

// startScaleReplica starts the manager and waits until it serves.
func (b *bench) startScaleReplica(t *testing.T, i int) *scaleReplica {
	t.Helper()
	r := b.launch(t, i)
	r.WaitReady(t)
	return r
}

// launch starts the manager with its profiles served on a free port.
func (b *bench) launch(t *testing.T, i int) *scaleReplica {
	t.Helper()
	pprof := testenv.FreeAddr(t)
	r := harness.StartReplica(t, b.bin, b.dir, i, b.kubeconfig, b.env.Environment.WebhookInstallOptions.LocalServingCertDir, "--pprof-bind-address="+pprof)
	r.MetricsToken = b.metricsToken
	return &scaleReplica{Replica: r, pprof: pprof}
}

// scaleReplica is a replica whose Go profiles the benchmark reads.
type scaleReplica struct {
	*harness.Replica
	pprof string
}

// heapAfterGC is the Go heap in use after a collection, from the replica's own runtime.
func (r *scaleReplica) heapAfterGC(t *testing.T) uint64 {
	t.Helper()
	resp, err := http.Get("http://" + r.pprof + "/debug/pprof/heap?gc=1&debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`# HeapAlloc = (\d+)`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("the heap profile shows no HeapAlloc")
	}
	v, _ := strconv.ParseUint(string(m[1]), 10, 64)
	return v
}

// rss is the replica's resident memory, as the kernel reports it.
func (r *scaleReplica) rss(t *testing.T) uint64 {
	t.Helper()
	return uint64(r.Metrics(t)["process_resident_memory_bytes"])
}

// profile writes one of the replica's Go profiles (a path under /debug/pprof/) to file.
func (r *scaleReplica) profile(t *testing.T, file, path string) {
	var err error
	for range 50 { // the profile server may not listen yet
		var resp *http.Response
		resp, err = http.Get("http://" + r.pprof + "/debug/pprof/" + path)
		if err == nil {
			var data []byte
			data, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil {
				err = os.WriteFile(file, data, 0o644)
			}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Errorf("profile %s: %v", path, err)
	}
}

// label puts the councils' namespaces under our webhook, once they are loaded.
func (b *bench) label(t *testing.T, councils []*council) {
	t.Helper()
	patch := client.RawPatch(types.MergePatchType, []byte(fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, webhookLabel, one.label)))
	for _, c := range councils {
		if err := b.c.Patch(context.Background(), c.setup[0], patch); err != nil {
			t.Fatal(err)
		}
	}
}

// reconciled are the controllers whose every object must be reconciled for the statuses to be
// current, with the kind each reconciles.
var reconciled = map[string]client.ObjectList{
	"case":          &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{APIVersion: "caseload.dev/v1alpha1", Kind: "CaseList"}},
	"practitioner":  &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{APIVersion: "caseload.dev/v1alpha1", Kind: "PractitionerList"}},
	"team":          &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{APIVersion: "caseload.dev/v1alpha1", Kind: "TeamList"}},
	"caseloadquota": &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{APIVersion: "caseload.dev/v1alpha1", Kind: "CaseloadQuotaList"}},
}

// waitCurrent waits until the replica, started at t0, has reconciled every Case, Practitioner,
// Team and CaseloadQuota and its work queues are empty: every status written or confirmed
// current. It returns the time since t0, and then checks every status against its object's
// generation.
func (b *bench) waitCurrent(t *testing.T, r *scaleReplica, t0 time.Time) time.Duration {
	t.Helper()
	counts := map[string]int{}
	for name, list := range reconciled {
		counts[name] = b.count(t, list)
	}
	deadline := time.Now().Add(45 * time.Minute)
	last := time.Now()
	for {
		m, err := r.ReadMetrics()
		pending := ""
		if err != nil {
			pending = " metrics: " + err.Error()
		}
		for name, want := range counts {
			done := sumOf(m, "controller_runtime_reconcile_total{", `controller="`+name+`"`)
			depth := sumOf(m, "workqueue_depth{", `name="`+name+`"`)
			busy := sumOf(m, "controller_runtime_active_workers{", `controller="`+name+`"`)
			if err != nil || int(done) < want || depth > 0 || busy > 0 {
				pending += fmt.Sprintf(" %s: %.0f of %d reconciled, %.0f queued;", name, done, want, depth)
			}
		}
		if pending == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("statuses not current after 45 minutes:%s", pending)
		}
		if time.Since(last) > progressInterval {
			t.Logf("waiting for statuses (%s):%s", time.Since(t0).Round(time.Second), pending)
			last = time.Now()
		}
		// Twice a second: the scrape itself costs the manager CPU (a Prometheus scrapes every
		// 15 to 60 seconds).
		time.Sleep(500 * time.Millisecond)
	}
	took := time.Since(t0)
	b.checkCurrent(t)
	return took
}

// count counts the objects of a kind in the apiserver, a page at a time.
func (b *bench) count(t *testing.T, list client.ObjectList) int {
	t.Helper()
	n, cont := 0, ""
	for {
		l := list.DeepCopyObject().(*metav1.PartialObjectMetadataList)
		if err := b.c.List(context.Background(), l, client.Limit(10_000), client.Continue(cont)); err != nil {
			t.Fatal(err)
		}
		n += len(l.Items)
		if cont = l.Continue; cont == "" {
			return n
		}
	}
}

// checkCurrent checks, from the apiserver, that every status was written for its object's
// current generation.
func (b *bench) checkCurrent(t *testing.T) {
	t.Helper()
	stale := 0
	each(t, b.c, &caseloadv1alpha1.CaseList{}, func(l *caseloadv1alpha1.CaseList) {
		for _, c := range l.Items {
			if c.Status.ObservedGeneration != c.Generation {
				stale++
			}
		}
	})
	each(t, b.c, &caseloadv1alpha1.PractitionerList{}, func(l *caseloadv1alpha1.PractitionerList) {
		for _, p := range l.Items {
			if p.Status.ObservedGeneration != p.Generation {
				stale++
			}
		}
	})
	each(t, b.c, &caseloadv1alpha1.TeamList{}, func(l *caseloadv1alpha1.TeamList) {
		for _, tm := range l.Items {
			if tm.Status.ObservedGeneration != tm.Generation {
				stale++
			}
		}
	})
	each(t, b.c, &caseloadv1alpha1.CaseloadQuotaList{}, func(l *caseloadv1alpha1.CaseloadQuotaList) {
		for _, q := range l.Items {
			if q.Status.ObservedGeneration != q.Generation {
				stale++
			}
		}
	})
	if stale > 0 {
		t.Fatalf("the work queues are empty but %d statuses are not current", stale)
	}
}

// each lists a kind a page at a time and hands each page to fn.
func each[L any, PL interface {
	*L
	client.ObjectList
}](t *testing.T, c client.Client, _ PL, fn func(PL)) {
	t.Helper()
	cont := ""
	for {
		l := PL(new(L))
		if err := c.List(context.Background(), l, client.Limit(5_000), client.Continue(cont)); err != nil {
			t.Fatal(err)
		}
		fn(l)
		if cont = l.GetContinue(); cont == "" {
			return
		}
	}
}

// sumOf adds the series of a metric (prefix includes the opening brace) whose labels hold label.
func sumOf(m map[string]float64, prefix, label string) float64 {
	var v float64
	for k, x := range m {
		if strings.HasPrefix(k, prefix) && strings.Contains(k, label) {
			v += x
		}
	}
	return v
}

// quiet waits until the replica's reconcilers have read nothing for a second.
func (r *scaleReplica) quiet(t *testing.T) float64 {
	t.Helper()
	const metric = "caseload_reconcile_objects_read_total"
	last, since := r.Metrics(t)[metric], time.Now()
	deadline := time.Now().Add(5 * time.Minute)
	for time.Since(since) < time.Second {
		if time.Now().After(deadline) {
			t.Fatalf("the reconcilers never settled")
		}
		time.Sleep(100 * time.Millisecond)
		if v := r.Metrics(t)[metric]; v != last {
			last, since = v, time.Now()
		}
	}
	return last
}

// events moves one case of the council's first team between a member with room and the team's
// new starter, k times through admission, and returns for each move the objects the reconcilers
// read until they settled, and the time until the case and both practitioners' statuses showed
// it.
func (b *bench) events(t *testing.T, r *scaleReplica, ns string, k int) (reads []float64, took []time.Duration) {
	t.Helper()
	ctx := context.Background()
	const team = "team-00"
	newStarter := member(team, membersPerTeam-1)
	var ps caseloadv1alpha1.PractitionerList
	if err := b.c.List(ctx, &ps, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	holder, room := "", math.Inf(-1)
	for _, p := range ps.Items {
		h, _ := strconv.ParseFloat(string(p.Status.Headroom), 64)
		if p.Spec.Team == team && p.Name != newStarter && p.Spec.Grade == "SocialWorker" && p.Status.Cases > 0 && h > room {
			holder, room = p.Name, h
		}
	}
	var cases caseloadv1alpha1.CaseList
	if err := b.c.List(ctx, &cases, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	moved := ""
	for _, c := range cases.Items {
		if c.Spec.AllocatedTo == holder && (moved == "" || c.Spec.Type == "EarlyHelp") {
			moved = c.Name
		}
	}
	if moved == "" {
		t.Fatalf("%s: no member of %s holds a case", ns, team)
	}
	from, to := holder, newStarter
	for range k {
		before := r.quiet(t)
		fromCases, toCases := b.practitioner(t, ns, from).Status.Cases, b.practitioner(t, ns, to).Status.Cases
		patch := client.RawPatch(types.MergePatchType, []byte(fmt.Sprintf(`{"spec":{"allocatedTo":%q}}`, to)))
		t0 := time.Now()
		if err := b.c.Patch(ctx, &caseloadv1alpha1.Case{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: moved}}, patch); err != nil {
			t.Fatalf("moving %s/%s from %s to %s: %v", ns, moved, from, to, err)
		}
		for {
			var c caseloadv1alpha1.Case
			if err := b.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: moved}, &c); err != nil {
				t.Fatal(err)
			}
			if c.Status.Lead == to && c.Status.ObservedGeneration == c.Generation &&
				b.practitioner(t, ns, from).Status.Cases == fromCases-1 && b.practitioner(t, ns, to).Status.Cases == toCases+1 {
				break
			}
			if time.Since(t0) > time.Minute {
				t.Fatalf("moving %s/%s to %s: statuses not current after a minute", ns, moved, to)
			}
			time.Sleep(5 * time.Millisecond)
		}
		took = append(took, time.Since(t0))
		reads = append(reads, r.quiet(t)-before)
		from, to = to, from
	}
	t.Logf("%s: moving %s between %s and %s read %v objects, took %v", ns, moved, holder, newStarter, reads, took)
	return reads, took
}

func (b *bench) practitioner(t *testing.T, ns, name string) *caseloadv1alpha1.Practitioner {
	t.Helper()
	var p caseloadv1alpha1.Practitioner
	if err := b.c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &p); err != nil {
		t.Fatal(err)
	}
	return &p
}

const evaluation = "caseload_admission_evaluation_duration_seconds"

// decisions asks admission k allocations as dry runs (nothing is stored), each to a member of a
// team picked at random across the councils, and returns the p50 and p99 of the replica's
// in-memory decision time over them, from its histogram.
func (b *bench) decisions(t *testing.T, r *scaleReplica, councils []*council, k int, seed uint64) (p50, p99 float64, n int) {
	t.Helper()
	rnd := rand.New(rand.NewPCG(seed, math.MaxUint64))
	before := r.Metrics(t)
	for i := range k {
		c := councils[rnd.IntN(len(councils))]
		team := c.teams[rnd.IntN(len(c.teams))]
		kase := &caseloadv1alpha1.Case{ObjectMeta: metav1.ObjectMeta{Namespace: c.ns, Name: fmt.Sprintf("dry-run-%d", i)},
			Spec: caseloadv1alpha1.CaseSpec{Reference: fmt.Sprintf("DRY-%d", i), Team: team, Type: "ChildInNeed", Complexity: "Standard",
				Children: 1, OpenedOn: caseloadv1alpha1.Date(time.Now().UTC().Format(time.DateOnly)), AllocatedTo: member(team, rnd.IntN(membersPerTeam))}}
		// A refusal is a decision too: only an error that is not one fails the run.
		if err := b.c.Create(context.Background(), kase, client.DryRunAll); err != nil && !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) {
			t.Fatalf("dry-run allocation in %s: %v", c.ns, err)
		}
	}
	after := r.Metrics(t)
	buckets := map[float64]float64{}
	for key, v := range after {
		if le, ok := strings.CutPrefix(key, evaluation+`_bucket{le="`); ok {
			bound, err := strconv.ParseFloat(strings.TrimSuffix(le, `"}`), 64)
			if err != nil {
				bound = math.Inf(1)
			}
			buckets[bound] = v - before[key]
		}
	}
	n = int(after[evaluation+"_count"] - before[evaluation+"_count"])
	if n < k {
		t.Fatalf("%d dry-run allocations, but the replica decided %d", k, n)
	}
	return quantile(buckets, 0.5), quantile(buckets, 0.99), n
}

// quantile estimates a quantile from a histogram's cumulative buckets (upper bound -> count) as
// Prometheus' histogram_quantile does: linearly within the bucket it falls in.
func quantile(buckets map[float64]float64, q float64) float64 {
	bounds := slices.Sorted(func(yield func(float64) bool) {
		for b := range buckets {
			if !yield(b) {
				return
			}
		}
	})
	total := buckets[bounds[len(bounds)-1]]
	rank, lower, below := q*total, 0.0, 0.0
	for _, b := range bounds {
		if buckets[b] >= rank {
			if math.IsInf(b, 1) {
				return lower
			}
			return lower + (b-lower)*(rank-below)/(buckets[b]-below)
		}
		lower, below = b, buckets[b]
	}
	return lower
}

// policyChange raises every council's caps by one, as a GitOps tool applying one commit would
// (16 writes at once), and returns the time until every team's status and every quota's audit
// showed it, and the time until every practitioner's status did too.
func (b *bench) policyChange(t *testing.T, councils []*council) (teamsAndQuotas, all time.Duration) {
	t.Helper()
	ctx := context.Background()
	capacities := func(list client.ObjectList) map[string]string {
		out := map[string]string{}
		switch l := list.(type) {
		case *caseloadv1alpha1.TeamList:
			each(t, b.c, l, func(l *caseloadv1alpha1.TeamList) {
				for _, tm := range l.Items {
					out[tm.Namespace+"/"+tm.Name] = string(tm.Status.Capacity)
				}
			})
		case *caseloadv1alpha1.PractitionerList:
			each(t, b.c, l, func(l *caseloadv1alpha1.PractitionerList) {
				for _, p := range l.Items {
					out[p.Namespace+"/"+p.Name] = string(p.Status.Capacity)
				}
			})
		}
		for k := range out {
			if !strings.HasPrefix(k, "council-") {
				delete(out, k)
			}
		}
		return out
	}
	teamsBefore, practitionersBefore := capacities(&caseloadv1alpha1.TeamList{}), capacities(&caseloadv1alpha1.PractitionerList{})
	work := make(chan *council)
	var wg sync.WaitGroup
	var failed error
	var mu sync.Mutex
	t0 := time.Now()
	for range loaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				var q caseloadv1alpha1.CaseloadQuota
				err := b.c.Get(ctx, client.ObjectKey{Namespace: c.ns, Name: "caps"}, &q)
				if err == nil {
					for i, pc := range q.Spec.PractitionerCaps {
						v, _ := strconv.Atoi(string(pc.MaxWeight))
						q.Spec.PractitionerCaps[i].MaxWeight = caseloadv1alpha1.Decimal(strconv.Itoa(v + 1))
					}
					err = b.c.Update(ctx, &q)
				}
				if err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
				}
			}
		}()
	}
	for _, c := range councils {
		work <- c
	}
	close(work)
	wg.Wait()
	if failed != nil {
		t.Fatalf("changing the policy: %v", failed)
	}
	unchanged := func(before map[string]string, now map[string]string) int {
		n := 0
		for k, v := range before {
			if now[k] == v {
				n++
			}
		}
		return n
	}
	staleQuotas := func() int {
		n := 0
		each(t, b.c, &caseloadv1alpha1.CaseloadQuotaList{}, func(l *caseloadv1alpha1.CaseloadQuotaList) {
			for _, q := range l.Items {
				if strings.HasPrefix(q.Namespace, "council-") && (q.Status.ObservedGeneration != q.Generation || q.Generation < 2) {
					n++
				}
			}
		})
		return n
	}
	// Teams and quotas are read every 100 ms; practitioners, 12 for every team, every second once
	// the teams are done, so that the reading is not what the operator waits for.
	deadline := time.Now().Add(30 * time.Minute)
	for teamsAndQuotas == 0 {
		if staleQuotas() == 0 && unchanged(teamsBefore, capacities(&caseloadv1alpha1.TeamList{})) == 0 {
			teamsAndQuotas = time.Since(t0)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the policy change had not reached every team and quota after 30 minutes")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for all == 0 {
		if unchanged(practitionersBefore, capacities(&caseloadv1alpha1.PractitionerList{})) == 0 {
			all = time.Since(t0)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the policy change had not reached every practitioner's status after 30 minutes")
		}
		time.Sleep(time.Second)
	}
	return teamsAndQuotas, all
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	sort.Float64s(s)
	return s[len(s)/2]
}

// A scaleRun is one run of `make bench-scale`, as docs/benchmarks-scale.json keeps it.
type scaleRun struct {
	Cases   int               `json:"cases"`
	Date    string            `json:"date"`
	Commit  string            `json:"commit"`
	Machine string            `json:"machine"`
	Took    string            `json:"took"`
	Cells   map[string]string `json:"cells"`
}

// scaleRows are the table's rows: what is measured, its target, and how.
var scaleRows = []struct{ key, what, target, method string }{
	{"load", "Loading the generated cases", "", "16 clients create the Cases, no webhook, the manager stopped; councils of 3,000 cases, 16 teams of 12"},
	{"fill", "First start: every status written", "", "the manager started on unreconciled objects, until every Case, Practitioner, Team and CaseloadQuota is reconciled and the work queues are empty (from its metrics), then every status checked against its generation"},
	{"startup", "Start-up, every status current", "under 60 s at 320,000", "SIGTERM, then a new process, until every object is reconciled and the queues are empty; caches synced and webhook serving (readyz) in brackets"},
	{"memory", "Manager memory after start-up", "", "RSS (process_resident_memory_bytes); Go heap after a forced GC (pprof heap?gc=1)"},
	{"perCase", "Manager heap per cached Case", "at most 4 KiB", "(heap at N - heap at the first council) / (N - its cases): everything a case brings, its share of practitioners and teams included; at 300, heap / N"},
	{"reads", "Objects read for one Case change", "at most 1.5x the figure at 3,000", "a case moved between two practitioners of a team through admission, caseload_reconcile_objects_read_total until the reconcilers settle; median of the moves, ratio to the first council in the same run"},
	{"converge", "Time to converge after one Case change", "", "patch to the Case's and both practitioners' statuses showing it (polled every 5 ms), p50; the first council's in brackets"},
	{"decision", "Webhook decision in memory, p50 / p99", "p99 under 1 ms at 320,000", "dry-run allocations to random members of random teams, caseload_admission_evaluation_duration_seconds over them (interpolated within buckets)"},
	{"policy", "Every team's status and quota's audit after a policy change over every team", "under 10 s at 320,000", "every council's caps raised by 1 (16 updates at once) until every quota's audit has the new generation and every team's capacity changed"},
	{"policyAll", "... and every practitioner's status", "", "the same, until every practitioner's capacity changed"},
	{"admCreate", "Admission, one at a time: create p50 (ratio to no webhook; ResourceQuota's)", "within 1.3x, never worse than ResourceQuota", "`make bench-admission`'s harness at N, one replica, in namespaces of their own beside the councils"},
	{"admSpread", "8 clients over 8 teams (share of no webhook; ResourceQuota's)", "at least 0.70", "the same"},
	{"admOneTeam", "8 clients on one team (ratio to ResourceQuota)", "at least 1", "the same"},
	{"overshoot", "Overshoot in the races (room of 5; room of 40)", "0", "the same"},
}

// cells are the run's figures, by row of the table.
func (f scaleFigures) cells() map[string]string {
	mib := func(b float64) string { return fmt.Sprintf("%.0f MiB", b/(1<<20)) }
	secs := func(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }
	adm := f.admission
	c50 := func(m mode) time.Duration { return percentile(adm.oneAtATime[piled].create[m], 50) }
	return map[string]string{
		"load":       fmt.Sprintf("%s (%.0f/s)", secs(f.load), float64(f.n)/f.load.Seconds()),
		"fill":       secs(f.fill),
		"startup":    fmt.Sprintf("%s (%s)", secs(f.startup), secs(f.ready)),
		"memory":     fmt.Sprintf("RSS %s, heap %s", mib(float64(f.rss)), mib(float64(f.heap))),
		"perCase":    fmt.Sprintf("%.2f KiB", f.perCase/1024),
		"reads":      fmt.Sprintf("%.0f (%.2fx)", f.reads, f.readsRatio),
		"converge":   fmt.Sprintf("%.0f ms (%.0f ms)", float64(f.converge.Microseconds())/1000, float64(f.convergeSmall.Microseconds())/1000),
		"decision":   fmt.Sprintf("%.0f µs / %.0f µs (N=%d)", f.decide50*1e6, f.decide99*1e6, f.decisions),
		"policy":     secs(f.policy),
		"policyAll":  secs(f.policyAll),
		"admCreate":  fmt.Sprintf("%s (%.2fx; %.2fx)", ms(c50(one)), float64(c50(one))/float64(c50(bare)), float64(c50(quota))/float64(c50(bare))),
		"admSpread":  fmt.Sprintf("%.2f (%.2f)", adm.overTeams[one]/adm.overTeams[bare], adm.overTeams[quota]/adm.overTeams[bare]),
		"admOneTeam": fmt.Sprintf("%.2f", adm.oneTeam[one]/adm.oneTeam[quota]),
		"overshoot":  fmt.Sprintf("%s; %s", strings.TrimSpace(adm.overshoot[one]), strings.TrimSpace(adm.roomy[one])),
	}
}

// report is the run's figures as a table of their own, for the log.
func (f scaleFigures) report() string {
	var b strings.Builder
	cells := f.cells()
	fmt.Fprintf(&b, "N=%d (first council %d), %s in all\n\n| | figure | target |\n| --- | --- | --- |\n", f.n, f.small, f.took.Round(time.Second))
	for _, r := range scaleRows {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", r.what, cells[r.key], r.target)
	}
	return b.String()
}

// record keeps this run in docs/benchmarks-scale.json, replacing any earlier run of the same N,
// and writes the table of every recorded run into docs/benchmarks.md.
func (b *bench) record(t *testing.T, f scaleFigures) {
	t.Helper()
	path := filepath.Join(b.env.Root, "docs", "benchmarks-scale.json")
	var runs []scaleRun
	if data, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(data, &runs); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	commit, err := exec.Command("git", "-C", b.env.Root, "describe", "--always", "--dirty").Output()
	if err != nil {
		t.Fatalf("git describe: %v", err)
	}
	run := scaleRun{Cases: f.n, Date: time.Now().UTC().Format(time.DateOnly), Commit: strings.TrimSpace(string(commit)),
		Machine: fmt.Sprintf("%s (%d cores), Go %s", cpuModel(), runtime.NumCPU(), runtime.Version()), Took: f.took.Round(time.Second).String(), Cells: f.cells()}
	runs = slices.DeleteFunc(runs, func(r scaleRun) bool { return r.Cases == f.n })
	runs = append(runs, run)
	slices.SortFunc(runs, func(a, b scaleRun) int { return a.Cases - b.Cases })
	data, err := json.MarshalIndent(runs, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	writeSection(t, filepath.Join(b.env.Root, "docs", "benchmarks.md"), "bench-scale", scaleTable(runs))
}

// scaleTable renders the recorded runs side by side, a column per N.
func scaleTable(runs []scaleRun) string {
	var b strings.Builder
	for _, r := range runs {
		fmt.Fprintf(&b, "- N=%d: %s, commit %s, on %s; %s in all.\n", r.Cases, r.Date, r.Commit, r.Machine, r.Took)
	}
	b.WriteString("\n| | target |")
	for _, r := range runs {
		fmt.Fprintf(&b, " %d cases |", r.Cases)
	}
	b.WriteString(" method |\n| --- | --- |")
	for range runs {
		b.WriteString(" --- |")
	}
	b.WriteString(" --- |\n")
	for _, row := range scaleRows {
		fmt.Fprintf(&b, "| %s | %s |", row.what, row.target)
		for _, r := range runs {
			fmt.Fprintf(&b, " %s |", r.Cells[row.key])
		}
		fmt.Fprintf(&b, " %s |\n", row.method)
	}
	return b.String()
}

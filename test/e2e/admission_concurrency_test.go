package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	caseloadv1alpha1 "caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/testenv"
	"caseload.dev/caseload-operator/test/harness"
)

// allocations is how many allocations race for one practitioner with room for exactly three.
const allocations = 50

// leeRoom is the room of a practitioner with plenty to spare, raced for while the leader dies.
const leeRoom = 40

// TestConcurrentAllocationsThroughTwoReplicasNeverOvershoot starts two manager processes
// (leader election on, each with its own webhook server) behind a round-robin TCP proxy on the
// address the apiserver calls, and fires 50 allocations at once to a practitioner with room
// for exactly 3. Each replica decides from its own stale cache; only the team's allocation
// ledger, written with compare-and-swap, stands between them and admitting too many.
func TestConcurrentAllocationsThroughTwoReplicasNeverOvershoot(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the manager binary")
	}
	dir := t.TempDir()
	auditLog := filepath.Join(dir, "audit.log")
	env, err := testenv.Start(testenv.Options{Webhooks: true, AuditLog: auditLog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ctx := context.Background()

	// Two replicas of the real binary.
	bin := harness.BuildManager(t, env, dir)
	kubeconfigPath := harness.OperatorKubeconfig(t, env, dir)
	wio := env.Environment.WebhookInstallOptions
	scraper := harness.MetricsReader(t, env, "prometheus")
	var replicas []*harness.Replica
	for i := range 2 {
		r := harness.StartReplica(t, bin, dir, i, kubeconfigPath, wio.LocalServingCertDir)
		r.MetricsToken = scraper
		replicas = append(replicas, r)
	}
	for _, r := range replicas {
		r.WaitReady(t)
	}

	// Metrics are served over HTTPS to callers the apiserver authenticates and authorises: the
	// scraper bound to caseload-metrics-reader reads them, anyone else is turned away.
	stranger := harness.ServiceAccountToken(t, env, "some-other-pod")
	for _, c := range []struct {
		who, token string
		want       int
	}{{"no token", "", http.StatusUnauthorized}, {"a service account without caseload-metrics-reader", stranger, http.StatusForbidden}, {"the scraper", scraper, http.StatusOK}} {
		resp, err := replicas[0].ScrapeAs(c.token)
		if err != nil {
			t.Fatalf("scraping as %s: %v", c.who, err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("scraping /metrics as %s: %s, want %d", c.who, resp.Status, c.want)
		}
	}

	// The apiserver calls the webhook at wio's host:port; the proxy sends each connection to the
	// next replica in turn.
	var backends []string
	for _, r := range replicas {
		backends = append(backends, r.Webhook)
	}
	proxy := harness.StartProxy(t, net.JoinHostPort(wio.LocalServingHost, strconv.Itoa(wio.LocalServingPort)), backends)

	// The council: one team, one SocialWorker capped at 3 cases of weight 1.
	ns := "walsall"
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&caseloadv1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "north"}},
		&caseloadv1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "jo-bloggs"},
			Spec: caseloadv1alpha1.PractitionerSpec{Team: "north", Grade: "SocialWorker"}},
		// solo, in another team, is allocated to one case at a time, for the figure of an
		// allocation decided alone.
		&caseloadv1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "south"}},
		&caseloadv1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "solo"},
			Spec: caseloadv1alpha1.PractitionerSpec{Team: "south", Grade: "SocialWorker"}},
		// probe has a grade the quota does not cover: a replica refuses them work only once
		// its cache holds the quota.
		&caseloadv1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "probe"},
			Spec: caseloadv1alpha1.PractitionerSpec{Team: "north", Grade: "TeamManager"}},
		&caseloadv1alpha1.CaseloadQuota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "safeguarding"},
			Spec: caseloadv1alpha1.CaseloadQuotaSpec{PractitionerCaps: []caseloadv1alpha1.PractitionerCap{
				{Grade: "SocialWorker", MaxWeight: "3"}, {Grade: "SeniorSocialWorker", MaxWeight: caseloadv1alpha1.Decimal(strconv.Itoa(leeRoom))}}}},
	} {
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}

	for _, r := range replicas {
		r.WaitForQuota(t, wio.LocalServingCAData, ns)
	}

	// One allocation at a time, for comparison.
	var alone []time.Duration
	for i := range 3 {
		c := allocated(ns, fmt.Sprintf("solo-%d", i+1), fmt.Sprintf("LCS-S%d", i+1), "south", "solo")
		t0 := time.Now()
		if err := env.Client.Create(ctx, c); err != nil {
			t.Fatalf("allocating %s to solo alone: %v", c.Name, err)
		}
		alone = append(alone, time.Since(t0))
	}

	// The probes and solo's allocations were decided too: count from here.
	baseline := make([]map[string]float64, len(replicas))
	for i, r := range replicas {
		baseline[i] = r.Metrics(t)
	}

	// 50 allocations at once.
	type outcome struct {
		err  error
		took time.Duration
	}
	outcomes := make([]outcome, allocations)
	var start sync.WaitGroup
	start.Add(1)
	var done sync.WaitGroup
	began := time.Now()
	for i := range allocations {
		done.Add(1)
		go func() {
			defer done.Done()
			c := allocated(ns, fmt.Sprintf("c-%02d", i+1), fmt.Sprintf("LCS-%04d", i+1), "north", "jo-bloggs")
			start.Wait()
			t0 := time.Now()
			err := env.Client.Create(ctx, c)
			outcomes[i] = outcome{err: err, took: time.Since(t0)}
		}()
	}
	start.Done()
	done.Wait()
	wall := time.Since(began)

	admitted, denied := 0, 0
	var took []time.Duration
	for i, o := range outcomes {
		took = append(took, o.took)
		if o.err == nil {
			admitted++
			continue
		}
		// Every refusal must be the capacity denial, with the figures of a full caseload: not a
		// timeout, not a conflict passed on to the client.
		want := fmt.Sprintf(`admission webhook "vcase.caseload.dev" denied the request: Case.caseload.dev "c-%02d" is invalid: spec.allocatedTo: Forbidden: `+
			`case c-%02d (ChildInNeed, weight 1) would take jo-bloggs to 4 of 3 (SocialWorker cap 3 x FTE 1): denied by CaseloadQuota walsall/safeguarding`, i+1, i+1)
		if o.err.Error() != want {
			t.Errorf("allocation %d failed with\n%v\nwant\n%s", i+1, o.err, want)
			continue
		}
		denied++
	}
	if admitted != 3 {
		t.Errorf("admitted %d of %d allocations to a practitioner with room for exactly 3", admitted, allocations)
	}

	// What the apiserver holds agrees: three cases. Each entry left in the ledger names one of
	// them; an entry whose Case a cache has shown is gone, and the ledger's seenThrough says how
	// far that cache had come.
	if held := allocatedTo(t, env, ns, "jo-bloggs"); held != 3 {
		t.Errorf("the apiserver holds %d cases allocated to jo-bloggs, want 3", held)
	}
	var ledger caseloadv1alpha1.AllocationLedger
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "north"}, &ledger); err != nil {
		t.Fatal(err)
	}
	for _, r := range ledger.Spec.Reservations {
		var c caseloadv1alpha1.Case
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: r.Case}, &c); err != nil || c.Spec.AllocatedTo != r.Practitioner {
			t.Errorf("the ledger reserves %s for %s, which holds no such case: %v", r.Case, r.Practitioner, err)
		}
	}
	if len(ledger.Spec.Reservations) < 3 && ledger.Spec.SeenThrough == "" {
		t.Errorf("the ledger dropped entries without saying how far the pruning cache had come: %+v", ledger.Spec)
	}

	// Both replicas decided; their counters add up to every request.
	var conflicts, decided float64
	for i, r := range replicas {
		m := r.Metrics(t)
		for k, v := range baseline[i] {
			m[k] -= v
		}
		served := m[`caseload_admission_decisions_total{result="admitted"}`] + m[`caseload_admission_decisions_total{result="denied"}`] + m[`caseload_admission_decisions_total{result="error"}`]
		if served == 0 {
			t.Errorf("replica %d decided no allocation: the requests were not spread over both replicas", r.Index)
		}
		if m[`caseload_admission_decisions_total{result="error"}`] != 0 {
			t.Errorf("replica %d answered %v allocations with an error", r.Index, m[`caseload_admission_decisions_total{result="error"}`])
		}
		t.Logf("replica %d: decided %v (admitted %v, denied %v), ledger conflicts retried %v, proxy connections %d",
			r.Index, served, m[`caseload_admission_decisions_total{result="admitted"}`], m[`caseload_admission_decisions_total{result="denied"}`],
			m["caseload_admission_ledger_conflicts_total"], proxy.Served[r.Index].Load())
		conflicts += m["caseload_admission_ledger_conflicts_total"]
		decided += served
	}
	if int(decided) != allocations {
		t.Errorf("the replicas decided %v allocations, want %d", decided, allocations)
	}

	// A second race, for kim with room for 3, while the leader is killed (SIGKILL) mid-race.
	// Admission does not depend on the leader: what the dead replica had not answered is refused
	// by failurePolicy Fail, and no allocation past the room is admitted by either replica.
	// At the same time, lee, with room for 40 and a few cases already, is raced for: whichever
	// replica dies, what it admitted is in the ledger or stored, and counts.
	for _, p := range []struct{ name, grade string }{{"kim", "SocialWorker"}, {"lee", "SeniorSocialWorker"}} {
		if err := env.Client.Create(ctx, &caseloadv1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: p.name},
			Spec: caseloadv1alpha1.PractitionerSpec{Team: "north", Grade: p.grade}}); err != nil {
			t.Fatal(err)
		}
	}
	var leeAdmitted atomic.Int64
	var warm sync.WaitGroup
	for i := range 4 {
		warm.Add(1)
		go func() {
			defer warm.Done()
			if env.Client.Create(ctx, allocated(ns, fmt.Sprintf("l-warm-%d", i), fmt.Sprintf("LCS-LW%d", i), "north", "lee")) == nil {
				leeAdmitted.Add(1)
			}
		}()
	}
	warm.Wait()
	var leader, survivor *harness.Replica
	for _, r := range replicas {
		if r.Leads(t) {
			leader = r
		} else {
			survivor = r
		}
	}
	if leader == nil || survivor == nil {
		t.Fatalf("want one leader and one follower among the replicas")
	}
	var racing sync.WaitGroup
	var killedAt time.Time
	var kimAdmitted atomic.Int64
	kimErrs := make([]error, allocations)
	leeErrs := make([]error, allocations)
	for i := range allocations {
		racing.Add(2)
		go func() {
			defer racing.Done()
			c := allocated(ns, fmt.Sprintf("k-%02d", i+1), fmt.Sprintf("LCS-K%04d", i+1), "north", "kim")
			if err := env.Client.Create(ctx, c); err != nil {
				kimErrs[i] = err
				return
			}
			kimAdmitted.Add(1)
		}()
		go func() {
			defer racing.Done()
			c := allocated(ns, fmt.Sprintf("l-%02d", i+1), fmt.Sprintf("LCS-L%04d", i+1), "north", "lee")
			if err := env.Client.Create(ctx, c); err != nil {
				leeErrs[i] = err
				return
			}
			leeAdmitted.Add(1)
		}()
		if i == allocations/4 {
			leader.Kill(t)
			killedAt = time.Now()
		}
	}
	racing.Wait()
	if n := kimAdmitted.Load(); n > 3 {
		t.Errorf("with the leader killed mid-race, %d allocations to kim were admitted, past the room for 3", n)
	}
	if n, held := leeAdmitted.Load(), allocatedTo(t, env, ns, "lee"); n > leeRoom || held > leeRoom {
		t.Errorf("with the leader killed mid-race, %d allocations to lee were admitted (the apiserver holds %d), past the room for %d", n, held, leeRoom)
	}
	for i, err := range leeErrs {
		if err != nil && !strings.Contains(err.Error(), "would take lee to") && !strings.Contains(err.Error(), "failed calling webhook") {
			t.Errorf("allocation l-%02d failed with neither the capacity denial nor the dead replica's failure: %v", i+1, err)
		}
	}
	t.Logf("Race for plenty of room, with the leader killed: lee holds %d of %d", allocatedTo(t, env, ns, "lee"), leeRoom)
	for i, err := range kimErrs {
		if err != nil && !strings.Contains(err.Error(), "would take kim to 4 of 3") && !strings.Contains(err.Error(), "failed calling webhook") {
			t.Errorf("allocation k-%02d failed with neither the capacity denial nor the dead replica's failure: %v", i+1, err)
		}
	}
	// What the survivor answers alone fills the room exactly.
	for i := 0; kimAdmitted.Load() < 3 && i < 20; i++ {
		c := allocated(ns, fmt.Sprintf("k-after-%d", i), fmt.Sprintf("LCS-KA%d", i), "north", "kim")
		if err := env.Client.Create(ctx, c); err == nil {
			kimAdmitted.Add(1)
		}
	}
	kims := allocatedTo(t, env, ns, "kim")
	if kims != 3 {
		t.Errorf("after the race with the leader killed, the apiserver holds %d cases allocated to kim, want 3", kims)
	}
	t.Logf("Race with the leader killed: %d of %d admitted during the race; kim holds %d", kimAdmitted.Load(), allocations, kims)

	// The survivor takes over the reconcilers once the dead leader's lease runs out (15 s), and
	// every status converges on what the apiserver holds: nothing admitted is lost.
	for !survivor.Leads(t) {
		if time.Since(killedAt) > time.Minute {
			t.Fatalf("a minute after the leader was killed, the survivor has not taken over")
		}
		time.Sleep(200 * time.Millisecond)
	}
	takeover := time.Since(killedAt)
	converged := func() bool {
		for _, name := range []string{"kim", "lee"} {
			var p caseloadv1alpha1.Practitioner
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &p); err != nil || int(p.Status.Cases) != allocatedTo(t, env, ns, name) {
				return false
			}
		}
		var team caseloadv1alpha1.Team
		var open caseloadv1alpha1.CaseList
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "north"}, &team); err != nil || env.Client.List(ctx, &open, client.InNamespace(ns)) != nil {
			return false
		}
		north := 0
		for _, c := range open.Items {
			if c.Spec.Team == "north" && c.IsOpen() {
				north++
			}
		}
		return int(team.Status.Cases) == north
	}
	for !converged() {
		if time.Since(killedAt) > 2*time.Minute {
			t.Fatalf("two minutes after the leader was killed, the statuses of kim, lee and team north do not match the cases")
		}
		time.Sleep(200 * time.Millisecond)
	}
	settled := time.Since(killedAt)

	// Then the last replica goes too: the webhook's failurePolicy holds, and an allocation that
	// would fit is refused, not admitted unchecked.
	if err := env.Client.Create(ctx, &caseloadv1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ren"},
		Spec: caseloadv1alpha1.PractitionerSpec{Team: "north", Grade: "SocialWorker"}}); err != nil {
		t.Fatal(err)
	}
	survivor.Kill(t)
	for i := range 5 {
		err := env.Client.Create(ctx, allocated(ns, fmt.Sprintf("r-%d", i), fmt.Sprintf("LCS-R%d", i), "north", "ren"))
		if err == nil || !strings.Contains(err.Error(), "failed calling webhook") {
			t.Errorf("with no replica left, allocation r-%d: %v; want refused, the webhook unreachable", i, err)
		}
	}
	if n := allocatedTo(t, env, ns, "ren"); n != 0 {
		t.Errorf("with no replica left, %d cases were allocated to ren", n)
	}
	t.Logf("Failover: the survivor led %v after the leader was killed (lease 15 s) and every status matched the cases after %v; with both replicas gone, 5 of 5 allocations were refused",
		takeover.Round(100*time.Millisecond), settled.Round(100*time.Millisecond))

	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	p50, p99 := took[len(took)*50/100], took[(len(took)*99+99)/100-1]
	// Both managers ran with the shipped role and nothing else: it granted all they asked, and
	// they used all it grants.
	checkRoleIsWhatTheOperatorUses(t, env, auditLog)

	t.Logf("One allocation at a time: %v", alone)
	t.Logf("Admission under concurrency: N=%d, admitted=%d, denied=%d, ledger conflicts retried=%v, per-request p50=%v p99=%v, all %d in %v",
		allocations, admitted, denied, conflicts, p50.Round(time.Millisecond), p99.Round(time.Millisecond), allocations, wall.Round(time.Millisecond))
}

// allocatedTo counts the cases the apiserver holds allocated to a practitioner.
func allocatedTo(t *testing.T, env *testenv.Env, ns, practitioner string) int {
	t.Helper()
	var cases caseloadv1alpha1.CaseList
	if err := env.Client.List(context.Background(), &cases, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range cases.Items {
		if c.Spec.AllocatedTo == practitioner {
			n++
		}
	}
	return n
}

// allocated is a child-in-need Case of team allocated to practitioner, as a council's front door
// records one.
func allocated(ns, name, reference, team, practitioner string) *caseloadv1alpha1.Case {
	return &caseloadv1alpha1.Case{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: caseloadv1alpha1.CaseSpec{Reference: reference, Team: team, Type: "ChildInNeed", OpenedOn: "2026-11-02", AllocatedTo: practitioner}}
}

// Package bench measures what admission costs, side by side with what a platform team would use
// without the operator and with the floor of any webhook (one that allows everything), on the
// real apiserver and the real manager binary. `make test` runs it
// small (a smoke run, so the harness cannot rot, with every count asserted); `make
// bench-admission` runs it in full and writes the table into docs/benchmarks.md.
package bench

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	caseloadv1alpha1 "caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/testenv"
	"caseload.dev/caseload-operator/test/harness"
)

// A mode is one way of admitting a Case, each in a namespace of its own.
type mode struct {
	name, ns string
	// label selects the namespace into a webhook configuration: one of our two, or the allow-all
	// webhook's ("" for none).
	label string
}

var (
	bare = mode{"no webhook", "bench-bare", ""}
	// allowAll is the floor of any webhook: one TLS round trip and one AdmissionReview per Case
	// create and update, always allowed. No webhook that decides anything can be faster.
	allowAll = mode{"allow-all webhook (the floor)", "bench-floor", "allow-all"}
	quota    = mode{"ResourceQuota (count/cases)", "bench-rq", ""}
	one      = mode{"our webhook, 1 replica", "bench-one", "one"}
	two      = mode{"our webhook, 2 replicas", "bench-two", "two"}
	modes    = []mode{bare, allowAll, quota, one, two}
)

// A pattern is where consecutive one-at-a-time allocations go.
type pattern string

const (
	// piled: each team's cases go to its first member, so 8 practitioners take them all.
	piled pattern = "piled"
	// spread: consecutive allocations go to different practitioners, round every member of every
	// team, as a council's front door allocates (128 practitioners in the full run).
	spread pattern = "spread"
)

var patterns = []pattern{piled, spread}

// to is the team and member the i-th allocation of the pattern goes to, with members in a team.
// Both patterns take the teams in turn, so only who within the team differs.
func (p pattern) to(i, members int) (team, member int) {
	if p == spread {
		return i % teams, (i / teams) % members
	}
	return i % teams, 0
}

func teamName(team int) string { return fmt.Sprintf("team-%d", team) }

func practitionerName(team, member int) string { return fmt.Sprintf("team-%d-%d", team, member) }

const (
	teams        = 8
	clients      = 8
	webhookLabel = "bench.caseload.dev/webhook"
	// racerRoom is how many cases of weight 1 a Racer may hold: the overshoot race's room.
	racerRoom = 5
	// roomyRoom is a RoomyRacer's: a practitioner with plenty of room, raced for by more
	// allocations than fit.
	roomyRoom = 40
)

type sizes struct {
	sequential, throughput, rounds, race int
	// members is each team's practitioners: the spread pattern goes round all of them.
	members int
}

func TestAdmissionSideBySide(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the manager binary")
	}
	full := os.Getenv("BENCH_ADMISSION") == "full"
	n := admissionSizes(full)
	b := setUp(t, n)
	table := b.admission(t, n).report(n) + b.inside(t)
	t.Log("\n" + table)
	if full {
		writeSection(t, filepath.Join(b.env.Root, "docs", "benchmarks.md"), "bench-admission", table)
	}
}

// admissionSizes are the smoke run's sizes, or the full run's (BENCH_ADMISSION_N sets the
// sequential and throughput counts).
func admissionSizes(full bool) sizes {
	if !full {
		return sizes{sequential: 12, throughput: 24, rounds: 1, race: 15, members: 2}
	}
	n := sizes{sequential: 200, throughput: 240, rounds: 3, race: 50, members: 16}
	if v, err := strconv.Atoi(os.Getenv("BENCH_ADMISSION_N")); err == nil && v > 0 {
		n.sequential, n.throughput = v, v
	}
	return n
}

// admissionFigures are what one admission run measured, by mode.
type admissionFigures struct {
	oneAtATime         map[pattern]oneAtATime
	overTeams, oneTeam map[mode]float64
	// cpuOverTeams and cpuOneTeam are the processor time each allocation cost in those blocks.
	cpuOverTeams, cpuOneTeam map[mode]cpuUse
	// requestsOverTeams are the requests the apiserver answered per allocation over 8 teams, by
	// verb and resource.
	requestsOverTeams map[mode]map[string]float64
	overshoot, roomy  map[mode]string
	modes             []mode
	took              time.Duration
}

// oneAtATime are one pattern's client-side times, by mode: creating allocated Cases, then
// re-allocating each of them.
type oneAtATime struct {
	create, realloc map[mode][]time.Duration
}

// admission measures the bench's modes side by side: one at a time in both patterns, 8 clients
// over 8 teams and on one team, and the races, asserting that ours admits exactly the room.
func (b *bench) admission(t *testing.T, n sizes) admissionFigures {
	started := time.Now()
	f := admissionFigures{modes: b.modes}
	f.oneAtATime = b.sequential(t, n)
	f.overTeams, f.cpuOverTeams, f.requestsOverTeams = b.throughput(t, n, func(client, i int) int { return client % teams })
	// BENCH_APISERVER_PPROF=FILE writes a CPU profile of the kube-apiserver taken while 8 clients
	// allocate to one team, to see what it spends the two cores on.
	if path := os.Getenv("BENCH_APISERVER_PPROF"); path != "" {
		go b.apiserverProfile(t, path, 10*time.Second)
	}
	f.oneTeam, f.cpuOneTeam, _ = b.throughput(t, n, func(client, i int) int { return 0 })
	if b.floor != nil {
		// One AdmissionReview for every Case create and update in the floor's namespace: no
		// request skipped that ours is asked.
		want := int64(2*len(patterns)*n.sequential + 2*n.rounds*n.throughput)
		if got := b.floor.reviews.Load(); got != want {
			t.Errorf("%s: answered %d AdmissionReviews for %d Case creates and updates", allowAll.name, got, want)
		}
	}
	f.overshoot, f.roomy = map[mode]string{}, map[mode]string{}
	for _, m := range b.modes {
		if m == bare || m == allowAll {
			continue
		}
		for r := range n.rounds {
			admitted := b.race(t, m, fmt.Sprintf("racer-%d", r), "Racer", n.race)
			// Ours must never overshoot. Kubernetes' own quota is measured, not judged: the
			// table reports what it did.
			if m != quota && admitted > racerRoom {
				t.Errorf("%s: %d of %d racing allocations admitted where there is room for %d", m.name, admitted, n.race, racerRoom)
			}
			if m != quota && admitted < racerRoom {
				t.Errorf("%s: only %d of %d racing allocations admitted where there is room for %d: allocations that fit were refused", m.name, admitted, n.race, racerRoom)
			}
			f.overshoot[m] += fmt.Sprintf("%d/%d ", admitted-racerRoom, n.race)
		}
	}
	// A practitioner with plenty of room, raced for by more than fit: exactly the room is
	// admitted, through one replica or two.
	for _, m := range b.modes {
		if m != one && m != two {
			continue
		}
		for r := range n.rounds {
			raced := roomyRoom + n.race
			admitted := b.race(t, m, fmt.Sprintf("roomy-%d", r), "RoomyRacer", raced)
			if admitted > roomyRoom {
				t.Errorf("%s: %d of %d racing allocations admitted where there is room for %d", m.name, admitted, raced, roomyRoom)
			}
			if admitted < roomyRoom {
				t.Errorf("%s: only %d of %d racing allocations admitted where there is room for %d: allocations that fit were refused", m.name, admitted, raced, roomyRoom)
			}
			f.roomy[m] += fmt.Sprintf("%d/%d ", admitted-roomyRoom, raced)
		}
	}
	f.took = time.Since(started)
	return f
}

// bench is the control plane, the replicas and a client fast enough not to be the bottleneck.
type bench struct {
	env      *testenv.Env
	c        client.Client
	seq      atomic.Int64
	replicas []*harness.Replica
	// modes are the ways of admitting a Case this bench compares.
	modes []mode
	// dir holds the manager binary, its kubeconfig and the replicas' logs.
	dir, bin, kubeconfig string
	// metricsToken reads the replicas' /metrics.
	metricsToken string
	// webhookAt is the address envtest's webhook configuration calls, as the bench last set it.
	webhookAt string
	// floor is the allow-all webhook, when the bench compares it.
	floor *allowAllWebhook
}

// setUp starts the control plane, the allow-all webhook and two replicas, and makes each mode's
// namespace.
func setUp(t *testing.T, n sizes) *bench {
	t.Helper()
	b := startControlPlane(t, modes)
	// BENCH_PPROF=1 serves each replica's profiles on 127.0.0.1:6060 and :6061, to profile a run.
	pprof := func(i int) []string {
		if os.Getenv("BENCH_PPROF") == "" {
			return nil
		}
		return []string{fmt.Sprintf("--pprof-bind-address=127.0.0.1:%d", 6060+i)}
	}
	r0 := b.startReplica(t, 0, pprof(0)...)
	r1 := b.startReplica(t, 1, pprof(1)...)
	b.replicas = []*harness.Replica{r0, r1}
	b.pointWebhooksAt(t, r0.Webhook)
	// A copy of the configuration calls a proxy that takes turns between both replicas, as a
	// Service would (in userspace, on the same two cores: the two-replica figures pay for it).
	second := testenv.FreeAddr(t)
	harness.StartProxy(t, second, []string{r0.Webhook, r1.Webhook})
	b.copyWebhooks(t, two.label, second)
	b.floor = b.startAllowAll(t, allowAll.label)
	b.addModes(t, n)
	return b
}

// startControlPlane starts envtest with the webhook configuration installed but judging only
// the namespaces labelled for our webhook, builds the manager binary and makes the mode
// namespaces' webhook-free parts ready.
func startControlPlane(t *testing.T, ms []mode) *bench {
	t.Helper()
	// BENCH_AUDIT=FILE has the apiserver write its audit log there, to count who writes what.
	env, err := testenv.Start(testenv.Options{Webhooks: true, AuditLog: os.Getenv("BENCH_AUDIT")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = 5000, 5000 // the client's own rate limit must not be what is measured
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	wio := env.Environment.WebhookInstallOptions
	b := &bench{env: env, c: c, modes: ms, dir: t.TempDir(),
		webhookAt: net.JoinHostPort(wio.LocalServingHost, strconv.Itoa(wio.LocalServingPort))}
	b.bin = harness.BuildManager(t, env, b.dir)
	b.kubeconfig = harness.OperatorKubeconfig(t, env, b.dir)
	b.metricsToken = harness.MetricsReader(t, env, "bench-scraper")
	// The configuration envtest installed judges only namespaces labelled for replica "one".
	ctx := context.Background()
	var vwcs admissionregistrationv1.ValidatingWebhookConfigurationList
	if err := c.List(ctx, &vwcs); err != nil {
		t.Fatal(err)
	}
	for _, vwc := range vwcs.Items {
		for i := range vwc.Webhooks {
			vwc.Webhooks[i].NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{webhookLabel: one.label}}
		}
		if err := c.Update(ctx, &vwc); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// startReplica starts replica i of the manager binary and waits until it serves.
func (b *bench) startReplica(t *testing.T, i int, extraArgs ...string) *harness.Replica {
	t.Helper()
	r := harness.StartReplica(t, b.bin, b.dir, i, b.kubeconfig, b.env.Environment.WebhookInstallOptions.LocalServingCertDir, extraArgs...)
	r.MetricsToken = b.metricsToken
	r.WaitReady(t)
	return r
}

// pointWebhooksAt has envtest's webhook configuration call addr: the replica that judges the
// namespaces labelled "one".
func (b *bench) pointWebhooksAt(t *testing.T, addr string) {
	t.Helper()
	ctx := context.Background()
	var vwcs admissionregistrationv1.ValidatingWebhookConfigurationList
	if err := b.c.List(ctx, &vwcs); err != nil {
		t.Fatal(err)
	}
	for _, vwc := range vwcs.Items {
		if vwc.Webhooks[0].NamespaceSelector.MatchLabels[webhookLabel] != one.label {
			continue
		}
		for i := range vwc.Webhooks {
			u := strings.Replace(*vwc.Webhooks[i].ClientConfig.URL, b.webhookAt, addr, 1)
			vwc.Webhooks[i].ClientConfig.URL = &u
		}
		if err := b.c.Update(ctx, &vwc); err != nil {
			t.Fatal(err)
		}
	}
	b.webhookAt = addr
}

// copyWebhooks adds a copy of our webhook configuration (the one that judges the namespaces
// labelled "one") that calls addr for the namespaces labelled label.
func (b *bench) copyWebhooks(t *testing.T, label, addr string) {
	t.Helper()
	ctx := context.Background()
	var vwcs admissionregistrationv1.ValidatingWebhookConfigurationList
	if err := b.c.List(ctx, &vwcs); err != nil {
		t.Fatal(err)
	}
	for _, vwc := range vwcs.Items {
		if vwc.Webhooks[0].NamespaceSelector.MatchLabels[webhookLabel] != one.label {
			continue
		}
		copyOf := vwc.DeepCopy()
		copyOf.ObjectMeta = metav1.ObjectMeta{Name: vwc.Name + "-" + label}
		for i := range copyOf.Webhooks {
			w := &copyOf.Webhooks[i]
			u := strings.Replace(*w.ClientConfig.URL, b.webhookAt, addr, 1)
			w.ClientConfig.URL = &u
			w.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{webhookLabel: label}}
		}
		if err := b.c.Create(ctx, copyOf); err != nil {
			t.Fatal(err)
		}
	}
}

// addModes makes each mode's namespace, teams (n.members practitioners each), the racers' and
// the probe's, and quota, and waits until every replica judges with the quota.
func (b *bench) addModes(t *testing.T, n sizes) {
	t.Helper()
	ctx := context.Background()
	for _, m := range b.modes {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: m.ns}}
		if m.label != "" {
			ns.Labels = map[string]string{webhookLabel: m.label}
		}
		objs := []client.Object{ns}
		for i := range teams {
			objs = append(objs, &caseloadv1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Namespace: m.ns, Name: teamName(i)}})
			for k := range n.members {
				objs = append(objs, &caseloadv1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: m.ns, Name: practitionerName(i, k)},
					Spec: caseloadv1alpha1.PractitionerSpec{Team: teamName(i), Grade: "SocialWorker"}})
			}
		}
		objs = append(objs,
			&caseloadv1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Namespace: m.ns, Name: "north"}},
			&caseloadv1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: m.ns, Name: "probe"},
				Spec: caseloadv1alpha1.PractitionerSpec{Team: "north", Grade: "TeamManager"}},
			// Room for everything but the races: every allocation of the timed runs, piled or
			// spread, fits (no maxCases, a weight no run comes near), so none may be refused.
			&caseloadv1alpha1.CaseloadQuota{ObjectMeta: metav1.ObjectMeta{Namespace: m.ns, Name: "caps"},
				Spec: caseloadv1alpha1.CaseloadQuotaSpec{PractitionerCaps: []caseloadv1alpha1.PractitionerCap{
					{Grade: "SocialWorker", MaxWeight: "999999"}, {Grade: "Racer", MaxWeight: caseloadv1alpha1.Decimal(strconv.Itoa(racerRoom))},
					{Grade: "RoomyRacer", MaxWeight: caseloadv1alpha1.Decimal(strconv.Itoa(roomyRoom))}}}})
		for _, o := range objs {
			if err := b.c.Create(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Kubernetes' own quota: an object count with the admission plugin the apiserver runs by
	// default. envtest runs no quota controller, so its status is primed by hand.
	b.resourceQuota(t, quota.ns, "cases", 1_000_000)
	b.waitForQuotas(t)
}

// waitForQuotas waits until every replica judges the modes' namespaces with their quota.
func (b *bench) waitForQuotas(t *testing.T) {
	t.Helper()
	caPEM := b.env.Environment.WebhookInstallOptions.LocalServingCAData
	for _, r := range b.replicas {
		for _, m := range b.modes {
			if m == one || m == two {
				r.WaitForQuota(t, caPEM, m.ns)
			}
		}
	}
}

func (b *bench) resourceQuota(t *testing.T, ns, name string, hard int64) {
	t.Helper()
	ctx := context.Background()
	count := corev1.ResourceName("count/cases.caseload.dev")
	rq := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{count: *resource.NewQuantity(hard, resource.DecimalSI)}}}
	if err := b.c.Create(ctx, rq); err != nil {
		t.Fatal(err)
	}
	rq.Status = corev1.ResourceQuotaStatus{Hard: rq.Spec.Hard, Used: corev1.ResourceList{count: *resource.NewQuantity(0, resource.DecimalSI)}}
	if err := b.c.Status().Update(ctx, rq); err != nil {
		t.Fatal(err)
	}
}

// allocate creates a Case allocated to a practitioner, and says how long it took.
func (b *bench) allocate(ctx context.Context, ns, team, practitioner string) (string, time.Duration, error) {
	name := fmt.Sprintf("c-%d", b.seq.Add(1))
	c := &caseloadv1alpha1.Case{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: caseloadv1alpha1.CaseSpec{
		Reference: "REF-" + name, Team: team, Type: "ChildInNeed", OpenedOn: "2026-11-02", AllocatedTo: practitioner}}
	t0 := time.Now()
	err := b.c.Create(ctx, c)
	return name, time.Since(t0), err
}

// sequential creates n.sequential allocated Cases one at a time in each pattern, taking the
// patterns and the modes in turn so that each sees the same machine, then re-allocates each of
// them the same way to the next member of its team. Every allocation fits: a refusal fails the
// test.
func (b *bench) sequential(t *testing.T, n sizes) map[pattern]oneAtATime {
	ctx := context.Background()
	out := map[pattern]oneAtATime{}
	made := map[pattern]map[mode][]string{}
	for _, p := range patterns {
		out[p] = oneAtATime{create: map[mode][]time.Duration{}, realloc: map[mode][]time.Duration{}}
		made[p] = map[mode][]string{}
	}
	for i := range n.sequential {
		for k := range patterns {
			p := patterns[(i+k)%len(patterns)]
			team, member := p.to(i, n.members)
			for j := range b.modes {
				m := b.modes[(i+j)%len(b.modes)]
				name, took, err := b.allocate(ctx, m.ns, teamName(team), practitionerName(team, member))
				if err != nil {
					t.Fatalf("%s: allocating one case (%s) to %s, who has room for it: %v", m.name, p, practitionerName(team, member), err)
				}
				out[p].create[m] = append(out[p].create[m], took)
				made[p][m] = append(made[p][m], name)
			}
		}
	}
	for i := range n.sequential {
		for k := range patterns {
			p := patterns[(i+k)%len(patterns)]
			team, member := p.to(i, n.members)
			to := practitionerName(team, (member+1)%n.members)
			patch := client.RawPatch(types.MergePatchType, []byte(fmt.Sprintf(`{"spec":{"allocatedTo":%q}}`, to)))
			for j := range b.modes {
				m := b.modes[(i+j)%len(b.modes)]
				name := made[p][m][i]
				t0 := time.Now()
				if err := b.c.Patch(ctx, &caseloadv1alpha1.Case{ObjectMeta: metav1.ObjectMeta{Namespace: m.ns, Name: name}}, patch); err != nil {
					t.Fatalf("%s: re-allocating %s (%s) to %s, who has room for it: %v", m.name, name, p, to, err)
				}
				out[p].realloc[m] = append(out[p].realloc[m], time.Since(t0))
			}
		}
	}
	return out
}

// throughput has 8 clients create n allocated Cases between them, as fast as they are admitted,
// in each mode in turn (rounds times), and returns allocations per second by mode.
func (b *bench) throughput(t *testing.T, n sizes, teamOf func(client, i int) int) (map[mode]float64, map[mode]cpuUse, map[mode]map[string]float64) {
	done := map[mode]int{}
	took := map[mode]time.Duration{}
	used := map[mode]cpuUse{}
	asked := map[mode]map[string]float64{}
	for r := range n.rounds {
		for j := range b.modes {
			m := b.modes[(r+j)%len(b.modes)]
			var wg sync.WaitGroup
			var failed atomic.Value
			before, requests := b.cpu(t), b.apiserverRequests(t)
			start := time.Now()
			for k := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := k; i < n.throughput; i += clients {
						team := teamOf(k, i)
						if _, _, err := b.allocate(context.Background(), m.ns, teamName(team), practitionerName(team, i%2)); err != nil {
							failed.Store(err)
						}
					}
				}()
			}
			wg.Wait()
			took[m] += time.Since(start)
			used[m] = used[m].add(b.cpu(t).since(before))
			if asked[m] == nil {
				asked[m] = map[string]float64{}
			}
			for what, v := range b.apiserverRequests(t) {
				asked[m][what] += v - requests[what]
			}
			done[m] += n.throughput
			if err := failed.Load(); err != nil {
				t.Fatalf("%s: an allocation with room to spare failed: %v", m.name, err)
			}
		}
	}
	out := map[mode]float64{}
	for m, d := range took {
		out[m] = float64(done[m]) / d.Seconds()
		used[m] = used[m].per(done[m])
		for what := range asked[m] {
			asked[m][what] /= float64(done[m])
		}
	}
	return out, used, asked
}

// cpuUse is processor time: the kube-apiserver's, etcd's, the manager replicas' and the bench
// process's own (its clients, and the allow-all webhook's server).
type cpuUse struct {
	apiserver, etcd, replicas, bench time.Duration
}

func (c cpuUse) add(d cpuUse) cpuUse {
	return cpuUse{c.apiserver + d.apiserver, c.etcd + d.etcd, c.replicas + d.replicas, c.bench + d.bench}
}

func (c cpuUse) since(d cpuUse) cpuUse {
	return cpuUse{c.apiserver - d.apiserver, c.etcd - d.etcd, c.replicas - d.replicas, c.bench - d.bench}
}

func (c cpuUse) per(n int) cpuUse {
	k := time.Duration(max(n, 1))
	return cpuUse{c.apiserver / k, c.etcd / k, c.replicas / k, c.bench / k}
}

func (c cpuUse) total() time.Duration { return c.apiserver + c.etcd + c.replicas + c.bench }

// cpu is the processor time every process of the bench has used so far.
func (b *bench) cpu(t *testing.T) cpuUse {
	t.Helper()
	var u cpuUse
	var err error
	if u.apiserver, u.etcd, err = b.env.CPU(); err != nil {
		t.Fatal(err)
	}
	for _, r := range b.replicas {
		d, err := testenv.ProcessCPU(r.Pid())
		if err != nil {
			t.Fatal(err)
		}
		u.replicas += d
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	u.bench = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return u
}

// race fires n allocations at once to a new practitioner of the grade (for the built-in quota: a
// namespace whose count quota has room for racerRoom) and returns how many were admitted.
func (b *bench) race(t *testing.T, m mode, racer, grade string, n int) int {
	ctx := context.Background()
	ns := m.ns
	if m == quota {
		ns = "bench-rq-" + racer
		if err := b.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
		b.resourceQuota(t, ns, "race", racerRoom)
	} else {
		if err := b.c.Create(ctx, &caseloadv1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: racer},
			Spec: caseloadv1alpha1.PractitionerSpec{Team: teamName(0), Grade: grade}}); err != nil {
			t.Fatal(err)
		}
	}
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := b.allocate(ctx, ns, teamName(0), racer); err == nil {
				admitted.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(admitted.Load())
}

// inside is what the replicas say of their own part, from their metrics: the mean time from the
// webhook call to the answer (waiting for the batch, deciding, writing the ledger), the mean
// batch, the conflicts between replicas, and the batches decided from the apiserver.
func (b *bench) inside(t *testing.T) string {
	var out strings.Builder
	out.WriteString("\nInside the webhook (from each replica's metrics, whole run):")
	for _, r := range b.replicas {
		m := r.Metrics(t)
		n := m["caseload_admission_decision_duration_seconds_count"]
		batches := m["caseload_admission_ledger_batch_size_count"]
		if n == 0 || batches == 0 {
			continue
		}
		const handler = `{webhook="/validate-caseload-dev-v1alpha1-case"}`
		fmt.Fprintf(&out, " replica %d answered %.0f Case webhook calls, mean %.2f ms in the handler; it decided %.0f allocations, mean %.1f ms each, in %.0f ledger writes (mean batch %.1f), %.0f conflicts, %.0f batches decided from the apiserver;",
			r.Index, m["controller_runtime_webhook_latency_seconds_count"+handler], 1000*m["controller_runtime_webhook_latency_seconds_sum"+handler]/m["controller_runtime_webhook_latency_seconds_count"+handler],
			n, 1000*m["caseload_admission_decision_duration_seconds_sum"]/n, batches,
			m["caseload_admission_ledger_batch_size_sum"]/batches, m["caseload_admission_ledger_conflicts_total"], m["caseload_admission_live_decisions_total"])
	}
	ledgerWrites, caseWrites := b.apiserverWrites(t)
	return fmt.Sprintf("%s. The apiserver took %.0f writes of allocation ledgers (the operator's pruning included) for %.0f Case creates and updates in all modes.\n",
		strings.TrimSuffix(out.String(), ";"), ledgerWrites, caseWrites)
}

// apiserverWrites counts, from the apiserver's own metrics, the writes of allocation ledgers
// and of Cases it has served.
// apiserverRequests counts, from the apiserver's own metrics, the requests it has answered with
// success so far, by verb and resource ("PUT allocationledgers", "PUT practitioners/status"),
// watches left out.
func (b *bench) apiserverRequests(t *testing.T) map[string]float64 {
	t.Helper()
	rc, err := rest.RESTClientFor(restConfigFor(b.env.Config))
	if err != nil {
		t.Fatal(err)
	}
	data, err := rc.Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	label := func(line, name string) string {
		i := strings.Index(line, name+`="`)
		if i < 0 {
			return ""
		}
		rest := line[i+len(name)+2:]
		return rest[:strings.IndexByte(rest, '"')]
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "apiserver_request_total{") || !strings.Contains(line, `code="20`) {
			continue
		}
		verb := label(line, "verb")
		if verb == "WATCH" || verb == "CONNECT" {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			continue
		}
		what := verb + " " + label(line, "resource")
		if sub := label(line, "subresource"); sub != "" {
			what += "/" + sub
		}
		out[what] += v
	}
	return out
}

func (b *bench) apiserverWrites(t *testing.T) (ledgers, cases float64) {
	for what, n := range b.apiserverRequests(t) {
		verb, resource, _ := strings.Cut(what, " ")
		if verb != "POST" && verb != "PUT" && verb != "PATCH" {
			continue
		}
		switch resource {
		case "allocationledgers":
			ledgers += n
		case "cases":
			cases += n
		}
	}
	return ledgers, cases
}

// apiserverProfile writes a CPU profile of the apiserver over d to path.
func (b *bench) apiserverProfile(t *testing.T, path string, d time.Duration) {
	rc, err := rest.RESTClientFor(restConfigFor(b.env.Config))
	if err != nil {
		t.Error(err)
		return
	}
	data, err := rc.Get().AbsPath("/debug/pprof/profile").Param("seconds", strconv.Itoa(int(d.Seconds()))).Timeout(d + time.Minute).DoRaw(context.Background())
	if err == nil {
		err = os.WriteFile(path, data, 0o644)
	}
	if err != nil {
		t.Errorf("profiling the apiserver: %v", err)
	}
}

// restConfigFor is cfg for a plain REST client of the apiserver's own paths.
func restConfigFor(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.GroupVersion = &schema.GroupVersion{}
	c.APIPath = "/"
	c.NegotiatedSerializer = serializer.NewCodecFactory(k8sruntime.NewScheme()).WithoutConversion()
	return c
}

func percentile(ds []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)*p+99)/100-1]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// report is the admission tables: every figure with its ratio to no webhook in the same run and,
// for the one-at-a-time p50s and the throughputs, to the allow-all webhook (the floor), when the
// run measured it.
func (f admissionFigures) report(n sizes) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Measured %s on %s (%d cores), Go %s, by `make bench-admission`: one at a time N=%d per mode and pattern "+
		"(piled: each team's cases to its first member, %d practitioners; spread: round all %d practitioners, %d teams of %d), "+
		"throughput %d allocations per mode per round x %d rounds with %d clients, race of %d for room of %d per round, and for ours of %d for room of %d; %s in all.\n",
		time.Now().UTC().Format(time.DateOnly), cpuModel(), runtime.NumCPU(), runtime.Version(), n.sequential, teams, teams*n.members, teams, n.members,
		n.throughput, n.rounds, clients, n.race, racerRoom, roomyRoom+n.race, roomyRoom, f.took.Round(time.Second))
	floor := slices.Contains(f.modes, allowAll)
	if floor {
		b.WriteString("In brackets: the ratio to no webhook; after \"floor\", the ratio to the allow-all webhook (the ratio to no webhook divided by the allow-all webhook's).\n")
	}
	// latency is a percentile of one mode's times, with its ratios.
	latency := func(m mode, ds map[mode][]time.Duration, p int) string {
		d := percentile(ds[m], p)
		if m == bare {
			return ms(d)
		}
		s := fmt.Sprintf("%s (%.2fx", ms(d), float64(d)/float64(percentile(ds[bare], p)))
		if floor && p == 50 && m != allowAll {
			s += fmt.Sprintf("; floor %.2fx", float64(d)/float64(percentile(ds[allowAll], p)))
		}
		return s + ")"
	}
	rate := func(m mode, r map[mode]float64) string {
		if m == bare {
			return fmt.Sprintf("%.0f/s", r[m])
		}
		s := fmt.Sprintf("%.0f/s (%.2f", r[m], r[m]/r[bare])
		if floor && m != allowAll {
			s += fmt.Sprintf("; floor %.2f", r[m]/r[allowAll])
		}
		return s + ")"
	}
	races := func(m mode, r map[mode]string) string {
		if r[m] == "" {
			return "-"
		}
		return strings.TrimSpace(r[m])
	}

	b.WriteString("\n|")
	for _, p := range patterns {
		fmt.Fprintf(&b, " | %s: create, p50 | %[1]s: create, p99 | %[1]s: re-allocate, p50 | %[1]s: re-allocate, p99", p)
	}
	b.WriteString(" |\n| ---" + strings.Repeat(" | --- | --- | --- | ---", len(patterns)) + " |\n")
	for _, m := range f.modes {
		b.WriteString("| " + m.name)
		for _, p := range patterns {
			at := f.oneAtATime[p]
			fmt.Fprintf(&b, " | %s | %s | %s | %s", latency(m, at.create, 50), latency(m, at.create, 99), latency(m, at.realloc, 50), latency(m, at.realloc, 99))
		}
		b.WriteString(" |\n")
	}

	fmt.Fprintf(&b, "\n| | %d clients over %d teams | %d clients on one team | overshoot, room of %d (admitted past the room / raced) | overshoot, room of %d |\n",
		clients, teams, clients, racerRoom, roomyRoom)
	b.WriteString("| --- | --- | --- | --- | --- |\n")
	for _, m := range f.modes {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", m.name, rate(m, f.overTeams), rate(m, f.oneTeam), races(m, f.overshoot), races(m, f.roomy))
	}

	// With every core busy, throughput is the cores over the processor time an allocation costs:
	// where that time goes says what limits each mode.
	fmt.Fprintf(&b, "\nProcessor time per allocation in the %d-clients blocks (over %d teams; on one team), all processes on the machine's %d cores:\n\n", clients, teams, runtime.NumCPU())
	b.WriteString("| | kube-apiserver | etcd | manager replicas | bench process (clients; the allow-all webhook) | in all |\n| --- | --- | --- | --- | --- | --- |\n")
	both := func(a, o time.Duration) string { return fmt.Sprintf("%s; %s", ms(a), ms(o)) }
	for _, m := range f.modes {
		a, o := f.cpuOverTeams[m], f.cpuOneTeam[m]
		total := both(a.total(), o.total())
		if m != bare {
			total += fmt.Sprintf(" (%.2fx; %.2fx no webhook's)", float64(a.total())/float64(f.cpuOverTeams[bare].total()), float64(o.total())/float64(f.cpuOneTeam[bare].total()))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", m.name, both(a.apiserver, o.apiserver), both(a.etcd, o.etcd), both(a.replicas, o.replicas), both(a.bench, o.bench), total)
	}

	fmt.Fprintf(&b, "\nRequests the apiserver answered per allocation in the blocks over %d teams (watches left out; those made 0.05 times an allocation or more):\n\n", teams)
	for _, m := range f.modes {
		var parts []string
		for what, v := range f.requestsOverTeams[m] {
			if v >= 0.05 {
				parts = append(parts, fmt.Sprintf("%.2f %s", v, what))
			}
		}
		slices.SortFunc(parts, func(x, y string) int {
			var a, b float64
			fmt.Sscan(x, &a)
			fmt.Sscan(y, &b)
			return cmp.Compare(b, a)
		})
		fmt.Fprintf(&b, "- %s: %s\n", m.name, strings.Join(parts, ", "))
	}
	return b.String()
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOOS + "/" + runtime.GOARCH
	}
	if m := regexp.MustCompile(`model name\s*:\s*(.*)`).FindSubmatch(data); m != nil {
		return strings.TrimSpace(string(m[1]))
	}
	return runtime.GOOS + "/" + runtime.GOARCH
}

// writeSection replaces the text between a benchmark's markers in docs/benchmarks.md.
func writeSection(t *testing.T, path, name, table string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	begin, end := "<!-- "+name+":begin -->", "<!-- "+name+":end -->"
	s := string(data)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("%s has no %s ... %s section for the table", path, begin, end)
	}
	s = s[:i+len(begin)] + "\n" + table + s[j:]
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

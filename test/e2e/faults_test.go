package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	caseloadv1alpha1 "caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/ledger"
	"caseload.dev/caseload-operator/internal/policy"
	"caseload.dev/caseload-operator/internal/testenv"
	"caseload.dev/caseload-operator/test/harness"
)

// The storm: clients making every kind of change a council makes to its cases and people at once,
// through both replicas, while the control plane and the replicas fail under them.
const (
	stormNamespace = "wolverhampton"
	stormQuota     = "safeguarding"
	// stormClients make requests at once, each one after another, for stormFor or stormMaxOps
	// requests between them, whichever comes first.
	stormClients = 6
	stormFor     = 80 * time.Second
	stormMaxOps  = 8000
	// stormRequestTimeout bounds each request, past the apiserver's own timeout for a stalled one.
	stormRequestTimeout = 70 * time.Second
	// stormStatusesWithin bounds how long, once the ledgers have drained, the statuses may take
	// to show the stored cases.
	stormStatusesWithin = time.Minute
	// stormLedgersWithin bounds how long after the storm the ledgers may take to drain: an entry
	// whose request died with a replica, or stalled in the etcd pause, goes only once the replica
	// pruning it has seen it for ledger.TTL by its own clock.
	stormLedgersWithin = ledger.TTL + time.Minute
	// stormClockSkew is how far ahead of the others one replica's clock runs: past ledger.TTL, so
	// that judging an entry's age by the clock of the replica that admitted it would drop it at
	// once, and a ledger entry's admittedAt from the other replica looks minutes old.
	stormClockSkew = ledger.TTL + 3*time.Minute
)

// stormMembers are the council's practitioners, in two teams at first; the storm moves them
// between the teams. probe (team north, a grade the quota does not cap) is only for
// harness.WaitForQuota, and is never allocated.
var stormMembers = []struct{ name, team, grade string }{
	{"asha", "north", "SocialWorker"}, {"ben", "north", "SocialWorker"}, {"cara", "north", "NewlyQualified"},
	{"dev", "south", "SocialWorker"}, {"ela", "south", "NewlyQualified"}, {"finn", "south", "NewlyQualified"},
}

var stormTeams = []string{"north", "south"}

// stormQuotaSpec caps are small, so that the storm presses against them: a SocialWorker 5 (4
// cases), a NewlyQualified 3 (3 cases), each team 8, below the 13 its first members' caps add up
// to. A co-worker carries half the weight.
func stormQuotaSpec() caseloadv1alpha1.CaseloadQuotaSpec {
	return caseloadv1alpha1.CaseloadQuotaSpec{
		EnforcementAction: caseloadv1alpha1.EnforcementDeny,
		Weights: caseloadv1alpha1.Weights{
			CaseTypes:       map[string]caseloadv1alpha1.CaseWeight{"ChildInNeed": "1", "ChildProtection": "1.5", "LookedAfter": "2", "EarlyHelp": "0.5"},
			Complexity:      map[string]caseloadv1alpha1.Multiplier{"Low": "0.5", "High": "1.5"},
			AdditionalChild: "0.25",
			CoWorkerShare:   "0.5",
		},
		PractitionerCaps: []caseloadv1alpha1.PractitionerCap{
			{Grade: "SocialWorker", MaxWeight: "5", MaxCases: ptr.To[int32](4)},
			{Grade: "NewlyQualified", MaxWeight: "3", MaxCases: ptr.To[int32](3)},
		},
		TeamCap: &caseloadv1alpha1.TeamCap{MaxWeight: ptr.To[caseloadv1alpha1.Decimal]("8")},
	}
}

// Case types from the lightest to the heaviest under the quota, and complexities likewise.
var (
	stormTypes        = []string{"EarlyHelp", "ChildInNeed", "ChildProtection", "LookedAfter"}
	stormComplexities = []caseloadv1alpha1.Complexity{"Low", "Standard", "High"}
)

// TestAStormOfAllocationsThroughFaultsLeavesEveryoneWithinTheirCaps runs two replicas of the
// real manager behind a round-robin proxy on the address the apiserver calls, and six clients
// that create allocated cases, reassign them, add co-workers, make held cases heavier, take
// people off cases, close cases and move practitioners between teams, for 80 seconds. Meanwhile,
// one after another: etcd stops for five seconds (SIGSTOP, SIGCONT); the kube-apiserver is
// stopped and started again; one replica is restarted with its clock minutes ahead; the leader is
// killed (SIGKILL) and started again. A replica that exits on its own (a manager whose lease
// renewals fail while the control plane is away) is started again, as its Deployment would.
// Refusals and "could not decide" are the webhook doing its job, and are counted. Afterwards, what the apiserver stores leaves every practitioner within
// their caps and every team within its teamCap, every status shows it, and every ledger drains.
func TestAStormOfAllocationsThroughFaultsLeavesEveryoneWithinTheirCaps(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the manager binary")
	}
	dir := t.TempDir()
	env, err := testenv.Start(testenv.Options{Webhooks: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	// Allocations reaching Amber are admitted with a warning, which the client would log.
	ctrllog.SetLogger(logr.Discard())

	bin := harness.BuildManager(t, env, dir)
	kubeconfig := harness.OperatorKubeconfig(t, env, dir)
	scraper := harness.MetricsReader(t, env, "prometheus")
	wio := env.Environment.WebhookInstallOptions
	f := &fleet{t: t}
	var backends []string
	for i := range 2 {
		r := harness.StartReplica(t, bin, dir, i, kubeconfig, wio.LocalServingCertDir)
		r.MetricsToken = scraper
		f.replicas = append(f.replicas, r)
		backends = append(backends, r.Webhook)
	}
	for _, r := range f.replicas {
		r.WaitReady(t)
	}
	f.proxy = harness.StartProxy(t, net.JoinHostPort(wio.LocalServingHost, strconv.Itoa(wio.LocalServingPort)), backends)
	f.down = make([]bool, len(f.replicas))
	cal := setUpStormCouncil(t, env, f.replicas)

	s := &storm{c: env.Client, ns: stormNamespace, openedOn: cal.DayOf(time.Now()).AddDays(-7).String(), closedOn: cal.DayOf(time.Now()).String(),
		tallies: map[string]*tally{}, reasons: map[string]int{}, errors: map[string][]string{}}
	s.refresh(context.Background())
	stop := make(chan struct{})
	stopStorm := sync.OnceFunc(func() { close(stop) })
	t.Cleanup(stopStorm) // a test that fails mid-storm stops its clients before the control plane
	var clients, viewer sync.WaitGroup
	viewer.Add(1)
	go func() {
		defer viewer.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
				s.refresh(context.Background())
			}
		}
	}()
	seed := time.Now().UnixNano()
	f.began = time.Now()
	for i := range stormClients {
		clients.Add(1)
		go func() {
			defer clients.Done()
			s.run(stop, rand.New(rand.NewPCG(uint64(seed), uint64(i))))
		}()
	}
	stormOver := make(chan struct{})
	go func() { clients.Wait(); close(stormOver) }()

	// The faults, one after another, while the storm runs; a replica that exits on its own (its
	// lease lost while the control plane was away) is started again, as its Deployment would.
	faults := []struct {
		at  time.Duration
		run func()
	}{
		{8 * time.Second, func() {
			const pause = 5 * time.Second
			f.note("etcd paused (SIGSTOP) for %v", pause)
			if err := env.PauseEtcd(pause); err != nil {
				t.Fatal(err)
			}
			f.note("etcd resumed (SIGCONT)")
		}},
		{20 * time.Second, func() {
			const grace = 5 * time.Second
			f.note("kube-apiserver stopped (SIGTERM, SIGKILL after %v), to start again on the same address", grace)
			killed, err := env.RestartAPIServer(grace)
			if err != nil {
				t.Fatal(err)
			}
			f.note("kube-apiserver serving again (it was killed at the end of its grace period: %v)", killed)
		}},
		{38 * time.Second, func() {
			_, follower := f.roles()
			f.note("replica %d (following) stopped (SIGTERM), to start again with its clock %v ahead", follower, stormClockSkew)
			f.stop(follower)
			f.start(follower, "--clock-offset="+stormClockSkew.String())
			f.note("replica %d serving again, its clock %v ahead", follower, stormClockSkew)
		}},
		{52 * time.Second, func() {
			leader, _ := f.roles()
			f.note("replica %d (leading) killed (SIGKILL)", leader)
			f.kill(leader)
			time.Sleep(3 * time.Second)
			f.start(leader)
			f.note("replica %d serving again", leader)
		}},
	}
	over := func() bool {
		select {
		case <-stormOver:
			return true
		default:
			return time.Since(f.began) >= stormFor
		}
	}
	for next := 0; next < len(faults) || !over(); {
		if next < len(faults) && time.Since(f.began) >= faults[next].at {
			faults[next].run()
			next++
			continue
		}
		f.keep()
		time.Sleep(200 * time.Millisecond)
	}
	stopStorm()
	<-stormOver
	viewer.Wait()
	ended := time.Now()
	f.note("storm over: %d requests", s.attempted.Load())
	f.keep()
	for i, r := range f.replicas {
		if r.Exited() {
			t.Fatalf("replica %d is not running after the storm", i)
		}
	}
	s.summarise(t, f)
	// The storm reached both replicas to the end: each decided allocations since its last start.
	for i, r := range f.replicas {
		if m, err := r.ReadMetrics(); err == nil && decisionsOf(m) == 0 {
			t.Errorf("replica %d decided no allocation after its last start: the storm did not race two replicas to the end", i)
		}
	}

	// What the apiserver stores is within every cap: no allocation was admitted past one, whatever
	// failed around it.
	w := readStormWorld(t, env, cal)
	for _, v := range w.breaches() {
		t.Errorf("after the storm: %s", v)
	}
	t.Logf("After the storm, stored:\n%s", strings.Join(w.figures(), "\n"))

	// Every ledger drains, and then every status shows the stored cases (statuses count what the
	// ledgers hold in flight).
	if left := waitForLedgersToDrain(t, env, stormNamespace, ended.Add(stormLedgersWithin)); len(left) > 0 {
		t.Logf("At the end of the storm the ledgers held %d entries:\n  %s", len(left), strings.Join(left, "\n  "))
	}
	t.Logf("The ledgers drained %v after the storm", time.Since(ended).Round(time.Second))
	practitioners, teams := w.shown()
	waitForStatuses(t, env, stormNamespace, stormStatusesWithin, practitioners, teams)
}

// fleet is the operator's replicas as their Deployment keeps them, behind the proxy that stands
// for their Service, with what happened to them and when.
type fleet struct {
	t        *testing.T
	replicas []*harness.Replica
	proxy    *harness.Proxy
	// down[i] is set while replica i is down on purpose: keep leaves it alone.
	down   []bool
	began  time.Time
	events []string
}

// note records an event at its time since the storm began.
func (f *fleet) note(format string, args ...any) {
	e := fmt.Sprintf("%5.1fs  %s", time.Since(f.began).Seconds(), fmt.Sprintf(format, args...))
	f.events = append(f.events, e)
	f.t.Log(e)
}

// stop ends replica i as a rolling update does (SIGTERM), out of the proxy's rotation first.
func (f *fleet) stop(i int) {
	f.down[i] = true
	f.proxy.Route(i, false)
	f.replicas[i].Stop(f.t)
}

// kill ends replica i at once (SIGKILL), as a node failure does; the proxy goes on sending it
// connections until it is taken out of the rotation, as endpoints lag a pod that died.
func (f *fleet) kill(i int) {
	f.down[i] = true
	f.replicas[i].Kill(f.t)
	f.proxy.Route(i, false)
}

// start starts replica i again on its webhook address with its arguments and extraArgs, and
// puts it back in the rotation once it is ready. The apiserver's connections through the proxy
// are then reset, so that both replicas decide again, not only the one that stayed.
func (f *fleet) start(i int, extraArgs ...string) {
	f.replicas[i] = f.replicas[i].Restart(f.t, extraArgs...)
	f.replicas[i].WaitReady(f.t)
	f.proxy.Route(i, true)
	f.proxy.Reset()
	f.down[i] = false
}

// keep starts again every replica that has exited on its own.
func (f *fleet) keep() {
	for i, r := range f.replicas {
		if !f.down[i] && r.Exited() {
			f.proxy.Route(i, false)
			f.note("replica %d exited on its own (a manager whose lease renewal fails exits); starting it again", i)
			f.start(i)
			f.note("replica %d serving again", i)
		}
	}
}

// roles says which replica leads and which follows, by their metrics; while no replica leads
// (the lease changing hands), it waits for one.
func (f *fleet) roles() (leader, follower int) {
	deadline := time.Now().Add(45 * time.Second)
	for {
		f.keep()
		for i, r := range f.replicas {
			m, err := r.ReadMetrics()
			if err != nil {
				continue
			}
			for k, v := range m {
				if strings.HasPrefix(k, "leader_election_master_status{") && v == 1 {
					return i, 1 - i
				}
			}
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("no replica has led for 45s")
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// setUpStormCouncil creates the namespace, its two teams, their members and the quota, and waits
// until every replica applies the quota. It returns the council's calendar.
func setUpStormCouncil(t *testing.T, env *testenv.Env, replicas []*harness.Replica) policy.Calendar {
	t.Helper()
	ctx := context.Background()
	const zone = "Europe/London"
	objs := []client.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: stormNamespace, Annotations: map[string]string{caseloadv1alpha1.TimeZoneAnnotation: zone}}}}
	for _, team := range stormTeams {
		objs = append(objs, &caseloadv1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Namespace: stormNamespace, Name: team}, Spec: caseloadv1alpha1.TeamSpec{Service: "Child protection"}})
	}
	for _, mb := range stormMembers {
		objs = append(objs, &caseloadv1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: stormNamespace, Name: mb.name},
			Spec: caseloadv1alpha1.PractitionerSpec{Team: mb.team, Grade: mb.grade, FTE: "1"}})
	}
	objs = append(objs,
		&caseloadv1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: stormNamespace, Name: "probe"},
			Spec: caseloadv1alpha1.PractitionerSpec{Team: "north", Grade: "TeamManager", FTE: "1"}},
		&caseloadv1alpha1.CaseloadQuota{ObjectMeta: metav1.ObjectMeta{Namespace: stormNamespace, Name: stormQuota}, Spec: stormQuotaSpec()})
	for _, o := range objs {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
	for _, r := range replicas {
		r.WaitForQuota(t, env.Environment.WebhookInstallOptions.LocalServingCAData, stormNamespace)
	}
	cal, err := policy.LoadCalendar(zone)
	if err != nil {
		t.Fatal(err)
	}
	return cal
}

// storm is the clients' shared state: what they last saw of the namespace, and what became of
// their requests.
type storm struct {
	c                  client.Client
	ns                 string
	openedOn, closedOn string
	view               atomic.Pointer[stormView]
	cases              atomic.Int64 // new cases' numbers
	attempted          atomic.Int64

	mu      sync.Mutex
	tallies map[string]*tally   // by kind of request
	reasons map[string]int      // refusals by the rule that refused them
	errors  map[string][]string // the first few errors of each outcome but admitted
}

// tally counts what became of one kind of request.
type tally struct{ attempted, admitted, refused, undecided, failed int }

// stormView is the namespace as a client last listed it: what its next request is chosen from.
type stormView struct {
	cases []caseloadv1alpha1.Case
	prs   []caseloadv1alpha1.Practitioner
}

// refresh lists the namespace again; a list that fails leaves the last view.
func (s *storm) refresh(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var cases caseloadv1alpha1.CaseList
	var prs caseloadv1alpha1.PractitionerList
	if s.c.List(ctx, &cases, client.InNamespace(s.ns)) != nil || s.c.List(ctx, &prs, client.InNamespace(s.ns)) != nil {
		return
	}
	s.view.Store(&stormView{cases: cases.Items, prs: prs.Items})
}

// run makes requests one after another until stop is closed or the storm has made stormMaxOps.
func (s *storm) run(stop <-chan struct{}, rng *rand.Rand) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		kind, request := s.pick(rng, s.view.Load())
		if request == nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if s.attempted.Add(1) > stormMaxOps {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), stormRequestTimeout)
		err := request(ctx)
		cancel()
		if outcome := s.record(kind, err); outcome == "failed" || outcome == "undecided" {
			time.Sleep(200 * time.Millisecond) // the control plane or a replica is away: do not spin
		} else {
			time.Sleep(time.Duration(10+rng.IntN(40)) * time.Millisecond)
		}
	}
}

// record counts a request's outcome: admitted (stored), refused by a webhook, undecided (the
// webhook could not decide, or could not be called), or failed otherwise (the apiserver away, a
// request timed out, a change made invalid by another client's since the view was listed).
func (s *storm) record(kind string, err error) string {
	outcome := "admitted"
	switch msg := fmt.Sprint(err); {
	case err == nil:
	case strings.Contains(msg, "denied the request"):
		outcome = "refused"
	case strings.Contains(msg, "could not decide") || strings.Contains(msg, "failed calling webhook"):
		outcome = "undecided"
	default:
		outcome = "failed"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tl := s.tallies[kind]
	if tl == nil {
		tl = &tally{}
		s.tallies[kind] = tl
	}
	tl.attempted++
	switch outcome {
	case "admitted":
		tl.admitted++
	case "refused":
		tl.refused++
		s.reasons[refusedFor(err.Error())]++
	case "undecided":
		tl.undecided++
	default:
		tl.failed++
	}
	if err != nil && len(s.errors[outcome]) < 4 {
		msg := err.Error()
		if len(msg) > 300 {
			msg = msg[:300] + "..."
		}
		s.errors[outcome] = append(s.errors[outcome], kind+": "+msg)
	}
	return outcome
}

// refusedFor names the rule a refusal gives.
func refusedFor(msg string) string {
	switch {
	case strings.Contains(msg, "would take team"):
		return "teamCap"
	case strings.Contains(msg, "open cases; a"):
		return "maxCases"
	case strings.Contains(msg, "would take"):
		return "capacity"
	case strings.Contains(msg, "still holds"):
		return "a move while holding cases"
	case strings.Contains(msg, "belongs to team"):
		return "a practitioner of another team"
	default:
		return "other"
	}
}

// pick chooses the next request from the view: its kind, and the request; nil when the view
// offers nothing of that kind.
func (s *storm) pick(rng *rand.Rand, v *stormView) (string, func(context.Context) error) {
	if v == nil {
		return "", nil
	}
	teamOf := map[string]string{}
	var members []string
	for _, p := range v.prs {
		if p.Name != "probe" {
			teamOf[p.Name] = p.Spec.Team
			members = append(members, p.Name)
		}
	}
	var open, held []*caseloadv1alpha1.Case
	for i := range v.cases {
		c := &v.cases[i]
		if !c.IsOpen() {
			continue
		}
		open = append(open, c)
		if c.Spec.AllocatedTo != "" || len(c.Spec.CoWorkers) > 0 {
			held = append(held, c)
		}
	}
	// Someone of team who is neither of the case's holders.
	other := func(team string, c *caseloadv1alpha1.Case) string {
		var out []string
		for _, m := range members {
			if teamOf[m] == team && (c == nil || (m != c.Spec.AllocatedTo && !slices.Contains(c.Spec.CoWorkers, m))) {
				out = append(out, m)
			}
		}
		if len(out) == 0 {
			return ""
		}
		return out[rng.IntN(len(out))]
	}
	patch := func(c *caseloadv1alpha1.Case, spec map[string]any) func(context.Context) error {
		return func(ctx context.Context) error {
			return s.c.Patch(ctx, &caseloadv1alpha1.Case{ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: c.Name}},
				client.RawPatch(types.MergePatchType, mergePatch(spec)))
		}
	}

	switch n := rng.IntN(100); {
	case n < 28: // a new case, allocated, now and then with a co-worker
		if len(members) == 0 {
			return "", nil
		}
		lead := members[rng.IntN(len(members))]
		i := s.cases.Add(1)
		c := &caseloadv1alpha1.Case{ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: fmt.Sprintf("s-%05d", i)},
			Spec: caseloadv1alpha1.CaseSpec{Reference: fmt.Sprintf("LCS-S%05d", i), Team: teamOf[lead], Type: stormTypes[rng.IntN(len(stormTypes))],
				Complexity: stormComplexities[rng.IntN(len(stormComplexities))], Children: int32(1 + rng.IntN(3)),
				OpenedOn: caseloadv1alpha1.Date(s.openedOn), AllocatedTo: lead}}
		if rng.IntN(4) == 0 {
			if cw := other(teamOf[lead], c); cw != "" {
				c.Spec.CoWorkers = []string{cw}
			}
		}
		return "create", func(ctx context.Context) error { return s.c.Create(ctx, c) }
	case n < 42: // a reassignment
		if len(held) == 0 {
			return "", nil
		}
		c := held[rng.IntN(len(held))]
		to := other(c.Spec.Team, c)
		if to == "" {
			return "", nil
		}
		return "reassign", patch(c, map[string]any{"allocatedTo": to})
	case n < 52: // a co-worker added
		if len(open) == 0 {
			return "", nil
		}
		c := open[rng.IntN(len(open))]
		cw := other(c.Spec.Team, c)
		if cw == "" || len(c.Spec.CoWorkers) >= 5 {
			return "", nil
		}
		return "co-worker", patch(c, map[string]any{"coWorkers": append(slices.Clone(c.Spec.CoWorkers), cw)})
	case n < 66: // a held case made heavier: its type, complexity or number of children
		if len(held) == 0 {
			return "", nil
		}
		c := held[rng.IntN(len(held))]
		t, cx := slices.Index(stormTypes, c.Spec.Type), slices.Index(stormComplexities, c.Spec.Complexity)
		switch k := rng.IntN(3); {
		case k == 0 && t >= 0 && t < len(stormTypes)-1:
			return "raise", patch(c, map[string]any{"type": stormTypes[t+1+rng.IntN(len(stormTypes)-t-1)]})
		case k == 1 && cx >= 0 && cx < len(stormComplexities)-1:
			return "raise", patch(c, map[string]any{"complexity": stormComplexities[cx+1]})
		case max(c.Spec.Children, 1) < 4:
			return "raise", patch(c, map[string]any{"children": max(c.Spec.Children, 1) + 1})
		default:
			return "", nil
		}
	case n < 78: // someone taken off a case: its lead, or a co-worker
		if len(held) == 0 {
			return "", nil
		}
		c := held[rng.IntN(len(held))]
		if len(c.Spec.CoWorkers) > 0 && (c.Spec.AllocatedTo == "" || rng.IntN(2) == 0) {
			cws := slices.Clone(c.Spec.CoWorkers)
			i := rng.IntN(len(cws))
			cws = slices.Delete(cws, i, i+1)
			return "unallocate", patch(c, map[string]any{"coWorkers": cws})
		}
		return "unallocate", patch(c, map[string]any{"allocatedTo": nil})
	case n < 90: // a case closed
		if len(open) == 0 {
			return "", nil
		}
		return "close", patch(open[rng.IntN(len(open))], map[string]any{"closedOn": s.closedOn})
	default: // a practitioner moved to the other team, mostly one who holds nothing there
		if len(members) == 0 {
			return "", nil
		}
		candidates := members
		if rng.IntN(10) < 7 {
			var free []string
			for _, m := range members {
				if !slices.ContainsFunc(open, func(c *caseloadv1alpha1.Case) bool {
					return c.Spec.AllocatedTo == m || slices.Contains(c.Spec.CoWorkers, m)
				}) {
					free = append(free, m)
				}
			}
			if len(free) > 0 {
				candidates = free
			}
		}
		p := candidates[rng.IntN(len(candidates))]
		to := stormTeams[0]
		if teamOf[p] == to {
			to = stormTeams[1]
		}
		return "move", func(ctx context.Context) error {
			return s.c.Patch(ctx, &caseloadv1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: p}},
				client.RawPatch(types.MergePatchType, mergePatch(map[string]any{"team": to})))
		}
	}
}

// mergePatch is a JSON merge patch of spec.
func mergePatch(spec map[string]any) []byte {
	var b strings.Builder
	b.WriteString(`{"spec":{`)
	keys := make([]string, 0, len(spec))
	for k := range spec {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "%q:", k)
		switch v := spec[k].(type) {
		case nil:
			b.WriteString("null")
		case string:
			fmt.Fprintf(&b, "%q", v)
		case caseloadv1alpha1.Complexity:
			fmt.Fprintf(&b, "%q", string(v))
		case int32:
			fmt.Fprintf(&b, "%d", v)
		case []string:
			b.WriteString("[")
			for j, s := range v {
				if j > 0 {
					b.WriteString(",")
				}
				fmt.Fprintf(&b, "%q", s)
			}
			b.WriteString("]")
		default:
			panic(fmt.Sprintf("mergePatch: %T", v))
		}
	}
	b.WriteString("}}")
	return []byte(b.String())
}

// summarise logs what the storm asked, what became of it, and the faults with their times.
func (s *storm) summarise(t *testing.T, f *fleet) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var total tally
	var lines []string
	kinds := make([]string, 0, len(s.tallies))
	for k := range s.tallies {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		tl := s.tallies[k]
		lines = append(lines, fmt.Sprintf("  %-10s attempted %5d  admitted %5d  refused %5d  undecided %4d  failed %4d", k, tl.attempted, tl.admitted, tl.refused, tl.undecided, tl.failed))
		total.attempted += tl.attempted
		total.admitted += tl.admitted
		total.refused += tl.refused
		total.undecided += tl.undecided
		total.failed += tl.failed
	}
	lines = append(lines, fmt.Sprintf("  %-10s attempted %5d  admitted %5d  refused %5d  undecided %4d  failed %4d", "all", total.attempted, total.admitted, total.refused, total.undecided, total.failed))
	for _, outcome := range []string{"refused", "undecided", "failed"} {
		for _, e := range s.errors[outcome] {
			lines = append(lines, fmt.Sprintf("  e.g. %s %s", outcome, e))
		}
	}
	var reasons []string
	for r, n := range s.reasons {
		reasons = append(reasons, fmt.Sprintf("%s %d", r, n))
	}
	sort.Strings(reasons)
	var served []string
	for i, r := range f.replicas {
		served = append(served, fmt.Sprintf("replica %d: %d connections", i, f.proxy.Served[i].Load()))
		if m, err := r.ReadMetrics(); err == nil {
			served[i] += fmt.Sprintf(", since its last start decided %v: admitted %v, denied %v, could not decide %v", decisionsOf(m),
				m[`caseload_admission_decisions_total{result="admitted"}`], m[`caseload_admission_decisions_total{result="denied"}`], m[`caseload_admission_decisions_total{result="error"}`])
		}
	}
	t.Logf("Storm of %d clients over %v (it stops at %v or %d requests):\n%s\n  refused for: %s\nThrough the proxy:\n  %s\nFaults and restarts:\n  %s",
		stormClients, time.Since(f.began).Round(100*time.Millisecond), stormFor, stormMaxOps, strings.Join(lines, "\n"), strings.Join(reasons, ", "),
		strings.Join(served, "\n  "), strings.Join(f.events, "\n  "))
}

// decisionsOf is how many allocations a replica has decided since it started, by its metrics.
func decisionsOf(m map[string]float64) float64 {
	return m[`caseload_admission_decisions_total{result="admitted"}`] + m[`caseload_admission_decisions_total{result="denied"}`] +
		m[`caseload_admission_decisions_total{result="error"}`]
}

// stormWorld is the namespace as the apiserver stores it, weighed by the policy engine.
type stormWorld struct {
	ns    string
	pol   *policy.Policy
	day   policy.Day
	prs   []policy.Practitioner
	cases []policy.Case // open cases
}

// readStormWorld reads the quota, practitioners and cases from the apiserver (no cache).
func readStormWorld(t *testing.T, env *testenv.Env, cal policy.Calendar) *stormWorld {
	t.Helper()
	ctx := context.Background()
	var q caseloadv1alpha1.CaseloadQuota
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: stormNamespace, Name: stormQuota}, &q); err != nil {
		t.Fatal(err)
	}
	pol, errs := policy.FromSpec(stormNamespace+"/"+stormQuota, q.Spec)
	if len(errs) > 0 {
		t.Fatalf("the engine cannot apply quota %s: %v", stormQuota, errs.ToAggregate())
	}
	w := &stormWorld{ns: stormNamespace, pol: pol, day: cal.DayOf(time.Now())}
	var prs caseloadv1alpha1.PractitionerList
	var cases caseloadv1alpha1.CaseList
	if err := env.Client.List(ctx, &prs, client.InNamespace(stormNamespace)); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.List(ctx, &cases, client.InNamespace(stormNamespace)); err != nil {
		t.Fatal(err)
	}
	for i := range prs.Items {
		w.prs = append(w.prs, policy.PractitionerFrom(&prs.Items[i]))
	}
	for i := range cases.Items {
		if c := &cases.Items[i]; c.IsOpen() {
			w.cases = append(w.cases, policy.CaseFrom(c, cal))
		}
	}
	return w
}

// load is what a practitioner carries: every open case that names them, whichever its team.
func (w *stormWorld) load(name string) policy.Load {
	return w.pol.LoadOf(policy.HoldingsOf(name, w.cases))
}

// team is a team's members with what they hold of its cases, and its open cases.
func (w *stormWorld) team(name string) ([]policy.Member, []policy.Case) {
	var prs []policy.Practitioner
	for _, pr := range w.prs {
		if pr.Team == name {
			prs = append(prs, pr)
		}
	}
	var cases []policy.Case
	for _, c := range w.cases {
		if c.Team == name {
			cases = append(cases, c)
		}
	}
	return policy.MembersOf(prs, cases), cases
}

// breaches lists every way the stored cases break a cap: a practitioner over their weight or
// number of cases, a case held by someone of another team (whose weight the team's cap would
// not see), a team over its teamCap. The storm lowers no cap and changes no one's grade, FTE
// or availability, so none of these may happen.
func (w *stormWorld) breaches() []string {
	var out []string
	for _, pr := range w.prs {
		c := w.pol.CapacityOf(pr, w.day)
		if !c.Capped {
			continue
		}
		l := w.load(pr.Name)
		if l.Weight > c.Value {
			out = append(out, fmt.Sprintf("%s carries %s, over their capacity %s (%s)", pr.Name, l.Weight, c.Value, c.Explanation))
		}
		if c.Cap.MaxCases != nil && l.Cases > *c.Cap.MaxCases {
			out = append(out, fmt.Sprintf("%s holds %d open cases, over the %s maxCases %d", pr.Name, l.Cases, pr.Grade, *c.Cap.MaxCases))
		}
	}
	teamOf := map[string]string{}
	for _, pr := range w.prs {
		teamOf[pr.Name] = pr.Team
	}
	for _, c := range w.cases {
		for _, h := range append([]string{c.AllocatedTo}, c.CoWorkers...) {
			if h != "" && teamOf[h] != c.Team {
				out = append(out, fmt.Sprintf("%s holds case %s of team %s while a member of team %q", h, c.Name, c.Team, teamOf[h]))
			}
		}
	}
	for _, team := range stormTeams {
		members, _ := w.team(team)
		tc, _ := w.pol.TeamCapacityOf(members, w.day)
		if w.pol.TeamMaxWeight != nil && tc.Load.Weight > *w.pol.TeamMaxWeight {
			out = append(out, fmt.Sprintf("team %s carries %s, over its teamCap.maxWeight %s", team, tc.Load.Weight, *w.pol.TeamMaxWeight))
		}
	}
	return out
}

// shown is what every practitioner's and team's status should show, from the stored cases.
func (w *stormWorld) shown() (practitioners, teams map[string]shown) {
	practitioners, teams = map[string]shown{}, map[string]shown{}
	for _, mb := range stormMembers {
		l := w.load(mb.name)
		practitioners[mb.name] = shown{l.Weight, l.Cases}
	}
	for _, team := range stormTeams {
		members, cases := w.team(team)
		tc, _ := w.pol.TeamCapacityOf(members, w.day)
		teams[team] = shown{tc.Load.Weight, len(cases)}
	}
	return practitioners, teams
}

// figures are each practitioner's and team's stored load against their capacity, for the log.
func (w *stormWorld) figures() []string {
	var out []string
	for _, team := range stormTeams {
		members, cases := w.team(team)
		tc, _ := w.pol.TeamCapacityOf(members, w.day)
		out = append(out, fmt.Sprintf("  team %s: weight %s of %s (%s), %d open cases", team, tc.Load.Weight, tc.Value, tc.Explanation, len(cases)))
		for _, m := range members {
			c := w.pol.CapacityOf(m.Practitioner, w.day)
			if !c.Capped {
				continue
			}
			l := w.load(m.Practitioner.Name)
			out = append(out, fmt.Sprintf("    %-5s %-14s weight %5s of %s, %d of %d cases", m.Practitioner.Name, m.Practitioner.Grade, l.Weight, c.Value, l.Cases, *c.Cap.MaxCases))
		}
	}
	return out
}

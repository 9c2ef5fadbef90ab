package e2e

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
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
	"caseload.dev/caseload-operator/internal/policy"
	"caseload.dev/caseload-operator/internal/testenv"
	"caseload.dev/caseload-operator/test/harness"
)

// The council a new user tried admission on: a team of four, a Deny quota that weighs case types and complexity,
// caps each grade by weight and by number of cases, and caps the team below the sum of its
// members' caps.
const (
	// northTeam is the team's name: harness.WaitForQuota probes team north.
	northTeam = "north"
	// quotaName is the CaseloadQuota's name; denials name it as namespace/name.
	quotaName = "safeguarding"
	// bulkCases are applied together, bulkInFlight requests at a time, as a directory of
	// manifests reaches the apiserver from a GitOps tool or a script applying it in parallel.
	bulkCases    = 30
	bulkInFlight = 8
	// settleWithin bounds how long statuses may take to show the stored cases, and the ledgers
	// to hold no more reservations.
	settleWithin = 30 * time.Second
)

// northMembers are team north. probe holds a grade the quota does not cap: harness.WaitForQuota asks
// each replica to allocate probe a case until it refuses, which shows its cache holds the quota.
var northMembers = []struct{ name, grade string }{
	{"amir", "SocialWorker"}, {"bea", "SocialWorker"}, {"cal", "NewlyQualified"}, {"dee", "NewlyQualified"},
	{"probe", "TeamManager"},
}

// safeguarding is the quota: SocialWorker 15 (18 cases), NewlyQualified 12 (12 cases), the
// team 45 where its members' caps add up to 54.
func safeguarding() caseloadv1alpha1.CaseloadQuotaSpec {
	return caseloadv1alpha1.CaseloadQuotaSpec{
		EnforcementAction: caseloadv1alpha1.EnforcementDeny,
		Weights: caseloadv1alpha1.Weights{
			CaseTypes:       map[string]caseloadv1alpha1.CaseWeight{"ChildInNeed": "1", "ChildProtection": "1.5", "LookedAfter": "2", "EarlyHelp": "0.5"},
			Complexity:      map[string]caseloadv1alpha1.Multiplier{"Low": "0.5", "High": "1.5"},
			AdditionalChild: "0.25",
		},
		PractitionerCaps: []caseloadv1alpha1.PractitionerCap{
			{Grade: "SocialWorker", MaxWeight: "15", MaxCases: ptr.To[int32](18)},
			{Grade: "NewlyQualified", MaxWeight: "12", MaxCases: ptr.To[int32](12)},
		},
		TeamCap: &caseloadv1alpha1.TeamCap{MaxWeight: ptr.To[caseloadv1alpha1.Decimal]("45")},
	}
}

// shape is what a case weighs by: its type, complexity and number of children.
type shape struct {
	caseType   string
	complexity caseloadv1alpha1.Complexity
	children   int32
}

// bulkShapes are the cases of the applied directory, in turn; topUps are what a manager
// allocates afterwards, from 3 down to 0.25 under the quota, so any room left in quarters can
// be filled exactly.
var (
	bulkShapes = []shape{{"ChildInNeed", "Standard", 1}, {"EarlyHelp", "Standard", 1}, {"ChildProtection", "Standard", 1},
		{"ChildInNeed", "Low", 1}, {"LookedAfter", "Low", 1}, {"EarlyHelp", "High", 1}, {"ChildProtection", "Standard", 2}}
	topUps = []shape{{"LookedAfter", "High", 1}, {"ChildProtection", "High", 1}, {"LookedAfter", "Standard", 1},
		{"ChildProtection", "Standard", 2}, {"ChildInNeed", "Standard", 1}, {"EarlyHelp", "High", 1}, {"ChildInNeed", "Low", 1},
		{"EarlyHelp", "Low", 1}}
)

// TestWithinCapAllocationsAfterABulkApplyAreAllAdmitted reproduces what a new user saw: after
// a bulk apply of cases, allocations made one at a time that fit every cap were refused, and the
// refusal said "try again". With one replica and with two behind a round-robin proxy, every
// allocation and reassignment that fits the practitioner's weight and case caps and the team's
// cap must be admitted, up to exactly each cap; the one past a cap is refused with the case, the
// practitioner, the figures and the quota, and no "try again"; and afterwards what the
// apiserver stores is within every cap, every status shows it, and every ledger drains.
func TestWithinCapAllocationsAfterABulkApplyAreAllAdmitted(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the manager binary")
	}
	dir := t.TempDir()
	env, err := testenv.Start(testenv.Options{Webhooks: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	bin := harness.BuildManager(t, env, dir)
	kubeconfig := harness.OperatorKubeconfig(t, env, dir)
	// Allocations reaching Amber are admitted with a warning, which the client would log.
	ctrllog.SetLogger(logr.Discard())

	for _, tc := range []struct {
		name      string
		replicas  int
		namespace string
	}{
		{"one replica", 1, "dudley"},
		{"two replicas behind a proxy", 2, "sandwell"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			replicas := startOperator(t, env, bin, kubeconfig, tc.replicas)
			m := setUpCouncil(t, env, tc.namespace, replicas)

			p, bulk, over := planFor(t, m)
			for i, s := range p.steps {
				t.Logf("plan %2d: %s", i+1, s.what)
			}

			// 1. The bulk apply: every case fits, in whatever order the requests land, since each
			// adds weight and the last state is within every cap.
			var wg sync.WaitGroup
			inFlight := make(chan struct{}, bulkInFlight)
			errs := make([]error, bulk)
			for i, s := range p.steps[:bulk] {
				wg.Add(1)
				go func() {
					defer wg.Done()
					inFlight <- struct{}{}
					defer func() { <-inFlight }()
					errs[i] = send(ctx, env, s)
				}()
			}
			wg.Wait()
			refused := 0
			for i, err := range errs {
				if err != nil {
					refused++
					t.Errorf("%s: refused though it fits every cap:\n%v", p.steps[i].what, err)
				}
			}

			// 2. One at a time, allocations and reassignments up to exactly each cap. A refusal is
			// wrong when the engine admits the same change on the cases the apiserver stores; after
			// a wrong refusal the plan's later steps may no longer fit, and are judged the same way.
			for _, s := range p.steps[bulk:] {
				err := send(ctx, env, s)
				if err == nil {
					continue
				}
				refused++
				stored := storedCaseload(t, env, m)
				before := stored.find(s.c.Name)
				switch {
				case s.move && before == nil:
					t.Logf("%s: not made, since %s was never stored", s.what, s.c.Name)
				case stored.decide(before, s.c).Allowed():
					t.Errorf("%s: refused though it fits every cap:\n%v", s.what, err)
				default:
					t.Logf("%s: refused, as the engine refuses it on the cases stored after the wrong refusals above:\n%v", s.what, err)
				}
			}

			// 3. One past amir's cap (and the team's): refused, saying why, and not to try again.
			if refused > 0 {
				t.Errorf("%d of %d requests were refused, so the caps may not be reached: the allocation past amir's cap is not tried", refused, len(p.steps))
			} else {
				checkRefusedPastCap(t, env.Client.Create(ctx, over.DeepCopy()), p.caseload, over)
			}

			// 4. What the apiserver stores is within every cap, and the statuses and ledgers settle.
			stored := storedCaseload(t, env, m)
			for _, f := range stored.pol.Audit(stored.view(), stored.day) {
				t.Errorf("the stored cases break the quota: %s", f)
			}
			practitioners, teams := stored.shown()
			waitForStatuses(t, env, tc.namespace, settleWithin, practitioners, teams)
			waitForLedgersToDrain(t, env, tc.namespace, time.Now().Add(settleWithin))
		})
	}
}

// planFor plans the requests, each decided by the policy engine before anything is sent: the
// bulk apply (the first bulk steps), then allocations and reassignments one at a time up to
// exactly amir's cap, dee's maxCases and the team's cap; and over, one case past amir's cap.
func planFor(t *testing.T, m *caseload) (p *plan, bulk int, over *caseloadv1alpha1.Case) {
	t.Helper()
	p = &plan{t: t, caseload: m}
	for i := range bulkCases {
		p.allocate(northMembers[i%4].name, bulkShapes[i%len(bulkShapes)], "bulk apply")
	}
	bulk = len(p.steps)
	amir := p.capacity("amir").Value
	p.fillWeight("amir", amir)                          // amir to exactly the SocialWorker cap
	p.fillCases("dee", *p.capacity("dee").Cap.MaxCases) // dee to exactly the NewlyQualified maxCases
	p.move("amir", "bea")                               // a reassignment gives amir room back,
	p.fillWeight("amir", amir)                          // and amir is filled to the cap again
	p.fillTeam("bea", "cal")                            // the team to exactly teamCap.maxWeight
	p.move("bea", "cal")                                // reassignments with the team at its cap
	p.move("dee", "cal")
	if got, tc := p.load("amir").Weight, p.team(); got != amir || tc.Load.Weight != tc.Value {
		t.Fatalf("the plan leaves amir at %s of %s and the team at %s of %s: it should end at both caps", got, amir, tc.Load.Weight, tc.Value)
	}
	over = p.newCase("amir", shape{"ChildInNeed", "Standard", 1})
	if p.decide(nil, over).Allowed() {
		t.Fatalf("the engine admits %s to amir at the cap: the plan does not end at it", over.Name)
	}
	return p, bulk, over
}

// checkRefusedPastCap checks err, the answer to allocating over to a practitioner at their cap:
// a refusal naming the case, the practitioner, the figures and the quota, which does not ask the
// manager to try again.
func checkRefusedPastCap(t *testing.T, err error, m *caseload, over *caseloadv1alpha1.Case) {
	t.Helper()
	who := over.Spec.AllocatedTo
	c := m.capacity(who)
	if err == nil {
		t.Errorf("%s, past %s's cap of %s, was admitted", over.Name, who, c.Value)
		return
	}
	after := m.load(who).Weight + m.weight(over)
	for _, w := range []string{"case " + over.Name, fmt.Sprintf("would take %s to %s of %s", who, after, c.Value), c.Explanation, "CaseloadQuota " + m.pol.Name} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("the refusal of %s does not say %q:\n%v", over.Name, w, err)
		}
	}
	for _, w := range []string{"held in advance", "try again"} {
		if strings.Contains(err.Error(), w) {
			t.Errorf("the refusal of %s, past a cap, says %q:\n%v", over.Name, w, err)
		}
	}
}

// startOperator starts n replicas of the manager and, on the address the apiserver calls, a
// round-robin proxy in front of them. They stop when the test ends.
func startOperator(t *testing.T, env *testenv.Env, bin, kubeconfig string, n int) []*harness.Replica {
	t.Helper()
	wio := env.Environment.WebhookInstallOptions
	dir := t.TempDir()
	var replicas []*harness.Replica
	var backends []string
	for i := range n {
		r := harness.StartReplica(t, bin, dir, i, kubeconfig, wio.LocalServingCertDir)
		replicas = append(replicas, r)
		backends = append(backends, r.Webhook)
	}
	for _, r := range replicas {
		r.WaitReady(t)
	}
	harness.StartProxy(t, net.JoinHostPort(wio.LocalServingHost, strconv.Itoa(wio.LocalServingPort)), backends)
	return replicas
}

// setUpCouncil creates a namespace in the council's time zone with team north, its members and
// the quota, waits until every replica applies the quota, and returns the team as the
// apiserver stores it (with the schema's defaults), weighed by the engine.
func setUpCouncil(t *testing.T, env *testenv.Env, ns string, replicas []*harness.Replica) *caseload {
	t.Helper()
	ctx := context.Background()
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Annotations: map[string]string{caseloadv1alpha1.TimeZoneAnnotation: "Europe/London"}}},
		&caseloadv1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: northTeam}, Spec: caseloadv1alpha1.TeamSpec{Service: "Child protection"}},
	}
	for _, mb := range northMembers {
		objs = append(objs, &caseloadv1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: mb.name},
			Spec: caseloadv1alpha1.PractitionerSpec{Team: northTeam, Grade: mb.grade, FTE: "1"}})
	}
	objs = append(objs, &caseloadv1alpha1.CaseloadQuota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: quotaName}, Spec: safeguarding()})
	for _, o := range objs {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
	for _, r := range replicas {
		r.WaitForQuota(t, env.Environment.WebhookInstallOptions.LocalServingCAData, ns)
	}

	var q caseloadv1alpha1.CaseloadQuota
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: quotaName}, &q); err != nil {
		t.Fatal(err)
	}
	pol, errs := policy.FromSpec(ns+"/"+quotaName, q.Spec)
	if len(errs) > 0 {
		t.Fatalf("the engine cannot apply quota %s: %v", quotaName, errs.ToAggregate())
	}
	cal, err := policy.LoadCalendar("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	m := &caseload{ns: ns, pol: pol, cal: cal, day: cal.DayOf(time.Now())}
	var prs caseloadv1alpha1.PractitionerList
	if err := env.Client.List(ctx, &prs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for i := range prs.Items {
		m.prs = append(m.prs, policy.PractitionerFrom(&prs.Items[i]))
	}
	return m
}

// caseload is team north as the test expects the apiserver to hold it, weighed and decided by
// the policy engine: the figures and decisions the webhook and the reconcilers reach.
type caseload struct {
	ns    string
	pol   *policy.Policy
	cal   policy.Calendar
	day   policy.Day
	prs   []policy.Practitioner
	cases []*caseloadv1alpha1.Case
}

// shown is what every member's and the team's status should show, from the cases in m.
func (m *caseload) shown() (practitioners, teams map[string]shown) {
	practitioners = map[string]shown{}
	for _, mb := range northMembers {
		l := m.load(mb.name)
		practitioners[mb.name] = shown{l.Weight, l.Cases}
	}
	return practitioners, map[string]shown{northTeam: {m.team().Load.Weight, len(m.engineCases())}}
}

func (m *caseload) engineCases() []policy.Case {
	out := make([]policy.Case, 0, len(m.cases))
	for _, c := range m.cases {
		if c.IsOpen() {
			out = append(out, policy.CaseFrom(c, m.cal))
		}
	}
	return out
}

// find is the case of that name; nil when there is none.
func (m *caseload) find(name string) *caseloadv1alpha1.Case {
	for _, c := range m.cases {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (m *caseload) view() policy.TeamView {
	cases := m.engineCases()
	return policy.TeamView{Name: northTeam, Members: policy.MembersOf(m.prs, cases), Cases: cases}
}

func (m *caseload) practitioner(name string) policy.Practitioner {
	for _, pr := range m.prs {
		if pr.Name == name {
			return pr
		}
	}
	panic("no practitioner " + name)
}

func (m *caseload) load(name string) policy.Load {
	return m.pol.LoadOf(policy.HoldingsOf(name, m.engineCases()))
}

func (m *caseload) capacity(name string) policy.Capacity {
	return m.pol.CapacityOf(m.practitioner(name), m.day)
}

// team is the team's capacity, the bound that sets it, and its weight (Load.Weight).
func (m *caseload) team() policy.TeamCapacity {
	tc, _ := m.pol.TeamCapacityOf(m.view().Members, m.day)
	return tc
}

// weight is what the case's lead carries.
func (m *caseload) weight(c *caseloadv1alpha1.Case) policy.Milli {
	return m.pol.Carried(policy.CaseFrom(c, m.cal), caseloadv1alpha1.RoleLead)
}

// decide is the engine's decision on changing a case from before (nil for a new case) to after.
func (m *caseload) decide(before, after *caseloadv1alpha1.Case) policy.Decision {
	var b *policy.Case
	if before != nil {
		bc := policy.CaseFrom(before, m.cal)
		b = &bc
	}
	a := policy.CaseFrom(after, m.cal)
	return policy.DecideChange([]*policy.Policy{m.pol}, m.view(), m.day, b, a, policy.Subjects(b, a), nil)
}

// step is one request of the plan: a new case, or a case given to another practitioner.
type step struct {
	what string
	c    *caseloadv1alpha1.Case // the case as the step leaves it
	move bool
}

// plan builds the requests one after another on a caseload, each admitted by the engine on what
// the steps before it leave.
type plan struct {
	t *testing.T
	*caseload
	steps []step
}

// newCase is the plan's next case, shaped s and allocated to practitioner.
func (p *plan) newCase(practitioner string, s shape) *caseloadv1alpha1.Case {
	name := fmt.Sprintf("c-%02d", len(p.cases)+1)
	return &caseloadv1alpha1.Case{ObjectMeta: metav1.ObjectMeta{Namespace: p.ns, Name: name},
		Spec: caseloadv1alpha1.CaseSpec{Reference: "LCS-" + strings.ToUpper(name), Team: northTeam, Type: s.caseType,
			Complexity: s.complexity, Children: s.children, OpenedOn: caseloadv1alpha1.Date(p.day.AddDays(-7).String()), AllocatedTo: practitioner}}
}

// admit adds the change to the plan if the engine admits it, and reports whether it did.
func (p *plan) admit(before, after *caseloadv1alpha1.Case, why string) bool {
	if !p.decide(before, after).Allowed() {
		return false
	}
	to := after.Spec.AllocatedTo
	children := ""
	if after.Spec.Children > 1 {
		children = fmt.Sprintf(", %d children", after.Spec.Children)
	}
	what := fmt.Sprintf("%s (%s, %s%s, weight %s) to %s", after.Name, after.Spec.Type, after.Spec.Complexity, children, p.weight(after), to)
	if before != nil {
		what = fmt.Sprintf("%s moved from %s to %s (weight %s)", after.Name, before.Spec.AllocatedTo, to, p.weight(after))
		p.cases[slices.Index(p.cases, before)] = after
	} else {
		p.cases = append(p.cases, after)
	}
	l, c, tc := p.load(to), p.capacity(to), p.team()
	p.steps = append(p.steps, step{c: after, move: before != nil,
		what: fmt.Sprintf("%s: %s, takes %s to %s of %s (%d of %d cases), team %s of %s", why, what, to, l.Weight, c.Value, l.Cases, *c.Cap.MaxCases, tc.Load.Weight, tc.Value)})
	return true
}

// allocate adds a new case for practitioner, which the engine must admit.
func (p *plan) allocate(practitioner string, s shape, why string) {
	p.t.Helper()
	if c := p.newCase(practitioner, s); !p.admit(nil, c, why) {
		p.t.Fatalf("the plan does not fit: the engine refuses %s to %s: %s", c.Name, practitioner, p.decide(nil, c).Reason())
	}
}

// fillWeight allocates new cases to practitioner, the heaviest that fit first, until they carry
// exactly target.
func (p *plan) fillWeight(practitioner string, target policy.Milli) {
	p.t.Helper()
	for p.load(practitioner).Weight < target {
		if !p.topUp([]string{practitioner}, target-p.load(practitioner).Weight, "to the cap") {
			p.t.Fatalf("the plan cannot take %s from %s to exactly %s", practitioner, p.load(practitioner).Weight, target)
		}
	}
}

// fillTeam allocates new cases to the practitioners, the heaviest that fit first, until the team
// carries exactly its capacity.
func (p *plan) fillTeam(practitioners ...string) {
	p.t.Helper()
	for tc := p.team(); tc.Load.Weight < tc.Value; tc = p.team() {
		if !p.topUp(practitioners, tc.Value-tc.Load.Weight, "team to its cap") {
			p.t.Fatalf("the plan cannot take the team from %s to exactly %s", tc.Load.Weight, tc.Value)
		}
	}
}

// topUp allocates to one of the practitioners the heaviest case weighing at most room that the
// engine admits.
func (p *plan) topUp(practitioners []string, room policy.Milli, why string) bool {
	shapes := slices.Clone(topUps)
	slices.SortStableFunc(shapes, func(a, b shape) int { return int(p.weightOf(b) - p.weightOf(a)) })
	for _, s := range shapes {
		for _, pr := range practitioners {
			if p.weightOf(s) <= room && p.admit(nil, p.newCase(pr, s), why) {
				return true
			}
		}
	}
	return false
}

func (p *plan) weightOf(s shape) policy.Milli { return p.weight(p.newCase("", s)) }

// fillCases allocates the lightest cases to practitioner until they hold exactly n.
func (p *plan) fillCases(practitioner string, n int) {
	p.t.Helper()
	lightest := slices.MinFunc(topUps, func(a, b shape) int { return int(p.weightOf(a) - p.weightOf(b)) })
	for p.load(practitioner).Cases < n {
		p.allocate(practitioner, lightest, "to maxCases")
	}
}

// move gives the heaviest case from leads that to can take (the engine admits it) to to.
func (p *plan) move(from, to string) {
	p.t.Helper()
	var held []*caseloadv1alpha1.Case
	for _, c := range p.cases {
		if c.Spec.AllocatedTo == from {
			held = append(held, c)
		}
	}
	slices.SortStableFunc(held, func(a, b *caseloadv1alpha1.Case) int { return int(p.weight(b) - p.weight(a)) })
	for _, c := range held {
		moved := c.DeepCopy()
		moved.Spec.AllocatedTo = to
		if p.admit(c, moved, "reassignment") {
			return
		}
	}
	p.t.Fatalf("the plan has no case of %s that %s has room for", from, to)
}

// send makes the step's request as a manager would: a create, or a patch of spec.allocatedTo.
func send(ctx context.Context, env *testenv.Env, s step) error {
	if !s.move {
		return env.Client.Create(ctx, s.c.DeepCopy())
	}
	patch := fmt.Appendf(nil, `{"spec":{"allocatedTo":%q}}`, s.c.Spec.AllocatedTo)
	return env.Client.Patch(ctx, &caseloadv1alpha1.Case{ObjectMeta: metav1.ObjectMeta{Namespace: s.c.Namespace, Name: s.c.Name}},
		client.RawPatch(types.MergePatchType, patch))
}

// storedCaseload is m with the cases the apiserver stores, read from it (no cache).
func storedCaseload(t *testing.T, env *testenv.Env, m *caseload) *caseload {
	t.Helper()
	var cases caseloadv1alpha1.CaseList
	if err := env.Client.List(context.Background(), &cases, client.InNamespace(m.ns)); err != nil {
		t.Fatal(err)
	}
	stored := *m
	stored.cases = nil
	for i := range cases.Items {
		stored.cases = append(stored.cases, &cases.Items[i])
	}
	return &stored
}

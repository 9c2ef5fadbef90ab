package v1alpha1_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	caseloadv1alpha1 "caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/builders"
	"caseload.dev/caseload-operator/internal/manifest"
	"caseload.dev/caseload-operator/internal/operator"
	"caseload.dev/caseload-operator/internal/testenv"
	"caseload.dev/caseload-operator/internal/testenv/inprocess"
)

// The tests run the operator's manager (reconcilers and webhooks) in-process against a real
// kube-apiserver, which calls the webhooks over TLS as a cluster would.

var (
	env   *testenv.Env
	cache client.Client // the manager's cached client, to wait until it has seen an object
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Getenv("CASELOAD_SIMULATION_ONLY") != "" {
		return m.Run() // the simulation needs no control plane (make sim)
	}
	var err error
	env, err = testenv.Start(testenv.Options{Webhooks: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mgr, err := inprocess.Start(ctx, env, operator.Options{ExceptionApproverServiceAccounts: []string{"default/listed-approver"}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cache = mgr.GetClient()
	return m.Run()
}

// warnings collects the admission warnings a client receives, as kubectl prints them.
type warnings struct {
	mu   sync.Mutex
	seen []string
}

func (w *warnings) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen = append(w.seen, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.seen
	w.seen = nil
	return out
}

// council is one namespace with team north (and south), its practitioners and its quotas.
type council struct {
	t        *testing.T
	ns       string
	c        client.Client // as the cluster admin, collecting warnings
	warnings *warnings
}

var councils int

func newCouncil(t *testing.T) *council {
	t.Helper()
	councils++
	ns := fmt.Sprintf("council-%d", councils)
	w := &warnings{}
	cfg := rest.CopyConfig(env.Config)
	cfg.WarningHandlerWithContext = w
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	k := &council{t: t, ns: ns, c: c, warnings: w}
	k.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	k.create(builders.MakeTeam("north").Namespace(ns).Obj())
	k.create(builders.MakeTeam("south").Namespace(ns).Obj())
	return k
}

func (k *council) create(obj client.Object) {
	k.t.Helper()
	if err := k.c.Create(context.Background(), obj); err != nil {
		k.t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}

// quota creates a quota and waits until the webhook's cache has it.
func (k *council) quota(name string, spec caseloadv1alpha1.CaseloadQuotaSpec) {
	k.t.Helper()
	k.create(&caseloadv1alpha1.CaseloadQuota{ObjectMeta: metav1.ObjectMeta{Namespace: k.ns, Name: name}, Spec: spec})
	eventually(k.t, "the cache shows quota "+name, func() bool {
		return cache.Get(context.Background(), client.ObjectKey{Namespace: k.ns, Name: name}, &caseloadv1alpha1.CaseloadQuota{}) == nil
	})
}

func (k *council) practitioner(name, team, grade string, edit ...func(*caseloadv1alpha1.PractitionerSpec)) {
	k.t.Helper()
	p := builders.MakePractitioner(name, team, grade).Namespace(k.ns).Obj()
	for _, e := range edit {
		e(&p.Spec)
	}
	k.create(p)
}

func newCase(ns, name, typ, to string, coWorkers ...string) *caseloadv1alpha1.Case {
	return builders.MakeCase(name).Namespace(ns).Team("north").Type(typ).OpenedOn("2026-10-01").Lead(to).CoWorkers(coWorkers...).Obj()
}

// allocate creates a case allocated to a practitioner and returns the refusal, if any.
func (k *council) allocate(name, typ, to string, coWorkers ...string) error {
	return k.c.Create(context.Background(), newCase(k.ns, name, typ, to, coWorkers...))
}

func (k *council) mustAllocate(name, typ, to string, coWorkers ...string) {
	k.t.Helper()
	if err := k.allocate(name, typ, to, coWorkers...); err != nil {
		k.t.Fatalf("allocating %s to %s was refused: %v", name, to, err)
	}
}

// update changes a case as kubectl edit would, reading it again if the operator wrote its
// status in between.
func (k *council) update(name string, edit func(*caseloadv1alpha1.Case)) error {
	return k.updateAs(k.c, name, edit)
}

// updateAs is update as the user of client c.
func (k *council) updateAs(c client.Client, name string, edit func(*caseloadv1alpha1.Case)) error {
	for {
		var kase caseloadv1alpha1.Case
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: k.ns, Name: name}, &kase); err != nil {
			return err
		}
		edit(&kase)
		err := c.Update(context.Background(), &kase)
		if !apierrors.IsConflict(err) {
			return err
		}
	}
}

func (k *council) team(name string) *caseloadv1alpha1.Team {
	k.t.Helper()
	var t caseloadv1alpha1.Team
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: k.ns, Name: name}, &t); err != nil {
		k.t.Fatal(err)
	}
	return &t
}

// get reads a case from the apiserver.
func (k *council) get(name string) *caseloadv1alpha1.Case {
	k.t.Helper()
	var c caseloadv1alpha1.Case
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: k.ns, Name: name}, &c); err != nil {
		k.t.Fatal(err)
	}
	return &c
}

// reservations are the entries of team north's allocation ledger, read from the apiserver.
func (k *council) reservations() []caseloadv1alpha1.Reservation {
	k.t.Helper()
	var l caseloadv1alpha1.AllocationLedger
	err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: k.ns, Name: "north"}, &l)
	if err != nil && !apierrors.IsNotFound(err) {
		k.t.Fatal(err)
	}
	return l.Spec.Reservations
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// refusal is the message kubectl prints for a Case the webhook refused.
func refusal(name string, causes ...string) string {
	msg := causes[0]
	if len(causes) > 1 {
		msg = "[" + strings.Join(causes, ", ") + "]"
	}
	return fmt.Sprintf(`admission webhook "vcase.caseload.dev" denied the request: Case.caseload.dev %q is invalid: %s`, name, msg)
}

func wantRefusal(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("admitted; want refused with\n%s", want)
	}
	if err.Error() != want {
		t.Errorf("refused with\n%s\nwant\n%s", err, want)
	}
}

// safeguarding: ChildProtection weighs 1.5, EarlyHelp 0.5, the rest 1; a SocialWorker carries
// 3 in at most 4 cases, a NewlyQualified 2 and never leads ChildProtection.
func safeguarding(action caseloadv1alpha1.EnforcementAction) caseloadv1alpha1.CaseloadQuotaSpec {
	return builders.MakeQuota("safeguarding").Action(action).
		Weigh("ChildProtection", "1.5").Weigh("EarlyHelp", "0.5").
		Cap("SocialWorker", "3").MaxCases("SocialWorker", 4).
		Cap("NewlyQualified", "2", "ChildProtection").
		Obj().Spec
}

// withExceptions lets a manager approve up to 120% of a cap for at most 14 days.
func withExceptions(spec caseloadv1alpha1.CaseloadQuotaSpec) caseloadv1alpha1.CaseloadQuotaSpec {
	spec.Exceptions = &caseloadv1alpha1.Exceptions{MaxPercent: 120, MaxDays: 14}
	return spec
}

func TestEachDenialNamesTheCasePractitionerFiguresAndRule(t *testing.T) {
	k := newCouncil(t)
	k.quota("safeguarding", safeguarding(caseloadv1alpha1.EnforcementDeny))
	k.practitioner("jo-bloggs", "north", "SocialWorker")
	k.practitioner("mo", "north", "SocialWorker")
	k.practitioner("sam", "north", "NewlyQualified")
	k.practitioner("ali", "north", "SocialWorker", func(s *caseloadv1alpha1.PractitionerSpec) { f := false; s.Available = &f })
	k.practitioner("kim", "north", "TeamManager")
	k.practitioner("pat", "south", "SocialWorker")
	q := k.ns + "/safeguarding"

	t.Run("over capacity", func(t *testing.T) {
		k.mustAllocate("c-1", "ChildProtection", "jo-bloggs")
		k.mustAllocate("c-2", "ChildProtection", "jo-bloggs") // 3 of 3: fits exactly
		wantRefusal(t, k.allocate("c-1042", "ChildProtection", "jo-bloggs"), refusal("c-1042",
			"spec.allocatedTo: Forbidden: case c-1042 (ChildProtection, weight 1.5) would take jo-bloggs to 4.5 of 3 (SocialWorker cap 3 x FTE 1): denied by CaseloadQuota "+q))
	})
	t.Run("over maxCases", func(t *testing.T) {
		for i := 1; i <= 4; i++ {
			k.mustAllocate(fmt.Sprintf("eh-%d", i), "EarlyHelp", "mo")
		}
		wantRefusal(t, k.allocate("eh-5", "EarlyHelp", "mo"), refusal("eh-5",
			"spec.allocatedTo: Forbidden: case eh-5 would give mo 5 open cases; a SocialWorker holds at most 4: denied by CaseloadQuota "+q))
	})
	t.Run("type the grade may hold only as co-worker", func(t *testing.T) {
		wantRefusal(t, k.allocate("cp-sam", "ChildProtection", "sam"), refusal("cp-sam",
			"spec.allocatedTo: Forbidden: case cp-sam is ChildProtection, which a NewlyQualified may hold only as a co-worker: sam cannot lead it: denied by CaseloadQuota "+q))
	})
	t.Run("unavailable", func(t *testing.T) {
		wantRefusal(t, k.allocate("c-ali", "ChildInNeed", "ali"), refusal("c-ali",
			"spec.allocatedTo: Forbidden: ali is unavailable (spec.available is false): no new allocations until they return"))
	})
	t.Run("unknown practitioner, as a co-worker", func(t *testing.T) {
		wantRefusal(t, k.allocate("c-who", "ChildInNeed", "sam", "nobody"), refusal("c-who",
			"spec.coWorkers[0]: Forbidden: case c-who cannot be allocated to nobody: there is no Practitioner nobody in this namespace"))
	})
	t.Run("practitioner of another team", func(t *testing.T) {
		wantRefusal(t, k.allocate("c-pat", "ChildInNeed", "pat"), refusal("c-pat",
			"spec.allocatedTo: Forbidden: case c-pat belongs to team north but pat is in team south: move the case or the practitioner first"))
	})
	t.Run("grade no cap covers", func(t *testing.T) {
		wantRefusal(t, k.allocate("c-kim", "ChildInNeed", "kim"), refusal("c-kim",
			"spec.allocatedTo: Forbidden: case c-kim cannot be allocated to kim: grade TeamManager has no cap in this quota, so it allows them no new allocations: denied by CaseloadQuota "+q))
	})
	t.Run("allocating by update is decided the same way", func(t *testing.T) {
		k.create(newCase(k.ns, "c-later", "ChildProtection", ""))
		wantRefusal(t, k.update("c-later", func(c *caseloadv1alpha1.Case) { c.Spec.AllocatedTo = "jo-bloggs" }), refusal("c-later",
			"spec.allocatedTo: Forbidden: case c-later (ChildProtection, weight 1.5) would take jo-bloggs to 4.5 of 3 (SocialWorker cap 3 x FTE 1): denied by CaseloadQuota "+q))
		// Giving a case up is never refused, and frees the room at once, even while the
		// reservation of c-1 would still be counting.
		if err := k.update("c-1", func(c *caseloadv1alpha1.Case) { c.Spec.AllocatedTo = "" }); err != nil {
			t.Errorf("unallocating a case was refused: %v", err)
		}
		if err := k.update("c-later", func(c *caseloadv1alpha1.Case) { c.Spec.AllocatedTo = "jo-bloggs" }); err != nil {
			t.Errorf("after jo gave c-1 up, c-later fits (1.5 + 1.5 = 3 of 3) but was refused: %v", err)
		}
	})
}

func TestTeamCaps(t *testing.T) {
	k := newCouncil(t)
	k.quota("team-ceiling", builders.MakeQuota("team-ceiling").TeamMaxWeight("3").Obj().Spec)
	k.quota("team-average", builders.MakeQuota("team-average").TeamMaxAveragePerFTE("1.2").Obj().Spec)
	k.practitioner("jo", "north", "SocialWorker")
	k.practitioner("ali", "north", "SocialWorker")
	k.mustAllocate("c-1", "ChildInNeed", "jo")
	k.mustAllocate("c-2", "ChildInNeed", "ali")
	wantRefusal(t, k.allocate("c-3", "ChildInNeed", "jo"), refusal("c-3",
		"spec.allocatedTo: Forbidden: case c-3 (ChildInNeed, weight 1) would take team north to an average of 1.5 per FTE available, over 1.2 (3 over 2 FTE available): denied by CaseloadQuota "+k.ns+"/team-average"))
	// Adding only a co-worker to a held case: the team-wide refusal points at the co-worker.
	wantRefusal(t, k.update("c-1", func(c *caseloadv1alpha1.Case) { c.Spec.CoWorkers = []string{"ali"} }), refusal("c-1",
		"spec.coWorkers[0]: Forbidden: case c-1 (ChildInNeed, weight 1) would take team north to an average of 1.25 per FTE available, over 1.2 (2.5 over 2 FTE available): denied by CaseloadQuota "+k.ns+"/team-average"))
}

func TestWarnAndDryRunQuotasAdmit(t *testing.T) {
	k := newCouncil(t)
	k.quota("trial-warn", safeguarding(caseloadv1alpha1.EnforcementWarn))
	k.quota("trial-dryrun", safeguarding(caseloadv1alpha1.EnforcementDryRun))
	k.practitioner("jo", "north", "SocialWorker")
	k.mustAllocate("c-1", "ChildProtection", "jo")
	k.mustAllocate("c-2", "ChildProtection", "jo")
	k.warnings.take()
	k.mustAllocate("c-3", "ChildProtection", "jo")
	got := k.warnings.take()
	want := "case c-3 (ChildProtection, weight 1.5) would take jo to 4.5 of 3 (SocialWorker cap 3 x FTE 1): warned by CaseloadQuota " + k.ns + "/trial-warn"
	if len(got) != 1 || got[0] != want {
		t.Errorf("admission warnings = %q, want only %q (the DryRun quota is silent)", got, want)
	}
}

func TestAmberIsWarnedEvenWhenAdmitted(t *testing.T) {
	k := newCouncil(t)
	k.quota("safeguarding", safeguarding(caseloadv1alpha1.EnforcementDeny))
	k.practitioner("jo", "north", "SocialWorker")
	k.mustAllocate("c-1", "ChildProtection", "jo")
	if got := k.warnings.take(); len(got) != 0 {
		t.Errorf("1.5 of 3 is Green, yet warned: %q", got)
	}
	k.mustAllocate("c-2", "ChildProtection", "jo")
	want := "case c-2 takes jo to 3 of 3 (100%): Amber under CaseloadQuota " + k.ns + "/safeguarding"
	if got := k.warnings.take(); len(got) != 1 || got[0] != want {
		t.Errorf("admission warnings = %q, want %q", got, want)
	}
}

func TestEveryQuotaMustHold(t *testing.T) {
	k := newCouncil(t)
	generous := safeguarding(caseloadv1alpha1.EnforcementDeny)
	generous.PractitionerCaps[0].MaxWeight = "10"
	k.quota("a-generous", generous)
	k.quota("b-strict", safeguarding(caseloadv1alpha1.EnforcementDeny))
	k.practitioner("jo", "north", "SocialWorker")
	k.mustAllocate("c-1", "ChildProtection", "jo")
	k.mustAllocate("c-2", "ChildProtection", "jo")
	wantRefusal(t, k.allocate("c-3", "ChildProtection", "jo"), refusal("c-3",
		"spec.allocatedTo: Forbidden: case c-3 (ChildProtection, weight 1.5) would take jo to 4.5 of 3 (SocialWorker cap 3 x FTE 1): denied by CaseloadQuota "+k.ns+"/b-strict"))
}

func TestLedgerRecordsEachAdmittedAllocationAndDryRunWritesNothing(t *testing.T) {
	k := newCouncil(t)
	k.quota("safeguarding", safeguarding(caseloadv1alpha1.EnforcementDeny))
	k.practitioner("jo", "north", "SocialWorker")
	k.practitioner("ali", "north", "SocialWorker")

	// A server-side dry run gets the real decision and leaves no reservation.
	dry := newCase(k.ns, "c-dry", "ChildProtection", "jo")
	if err := k.c.Create(context.Background(), dry, client.DryRunAll); err != nil {
		t.Fatalf("dry run of a fitting allocation refused: %v", err)
	}
	if rs := k.reservations(); len(rs) != 0 {
		t.Fatalf("a dry run wrote the ledger: %+v", rs)
	}

	before := time.Now()
	k.mustAllocate("c-1", "ChildProtection", "jo", "ali")
	rs := k.reservations()
	if len(rs) != 2 {
		t.Fatalf("want a reservation for the lead and the co-worker, got %+v", rs)
	}
	for _, r := range rs {
		if r.ID == "" || r.Case != "c-1" || r.CaseType != "ChildProtection" || r.Children != 1 {
			t.Errorf("reservation %+v", r)
		}
		if stored := k.get("c-1"); r.CaseUID == "" || r.CaseUID != string(stored.UID) || r.Generation != stored.Generation {
			t.Errorf("reservation for %s generation %d, want the stored case's uid %s and generation %d", r.CaseUID, r.Generation, stored.UID, stored.Generation)
		}
		if at := r.AdmittedAt.Time; at.Before(before.Truncate(time.Second)) || at.After(time.Now()) {
			t.Errorf("reservation admitted at %v, want just now", at)
		}
		switch r.Practitioner {
		case "jo":
			if r.Role != caseloadv1alpha1.RoleLead || r.Weight != "1.5" {
				t.Errorf("jo's reservation %+v, want Lead weighing 1.5", r)
			}
		case "ali":
			if r.Role != caseloadv1alpha1.RoleCoWorker || r.Weight != "0.75" {
				t.Errorf("ali's reservation %+v, want CoWorker weighing 0.75", r)
			}
		default:
			t.Errorf("reservation for %s", r.Practitioner)
		}
	}

	// jo now holds 1.5 of 3; a dry run over the cap is refused as the real thing would be.
	k.mustAllocate("c-2", "ChildProtection", "jo")
	over := newCase(k.ns, "c-3", "ChildProtection", "jo")
	wantRefusal(t, k.c.Create(context.Background(), over, client.DryRunAll), refusal("c-3",
		"spec.allocatedTo: Forbidden: case c-3 (ChildProtection, weight 1.5) would take jo to 4.5 of 3 (SocialWorker cap 3 x FTE 1): denied by CaseloadQuota "+k.ns+"/safeguarding"))
}

// TestDeletingACaseGivesItsRoomBack: a case allocated by mistake and deleted at once does not
// keep weighing on its holder: its entry goes once a cache has seen it stored or deleted, and a
// refusal is decided on what the apiserver holds.
func TestDeletingACaseGivesItsRoomBack(t *testing.T) {
	k := newCouncil(t)
	k.quota("safeguarding", safeguarding(caseloadv1alpha1.EnforcementDeny))
	k.practitioner("jo", "north", "SocialWorker")
	k.mustAllocate("c-1", "ChildProtection", "jo")
	k.mustAllocate("c-wrong", "ChildProtection", "jo") // 3 of 3
	if err := k.c.Delete(context.Background(), newCase(k.ns, "c-wrong", "ChildProtection", "jo")); err != nil {
		t.Fatal(err)
	}
	k.mustAllocate("c-right", "ChildProtection", "jo")
}

// TestClosedCasesAllocateNoWork: recording a closed case with the worker who held it is not
// an allocation, even if that worker has left or was over their cap.
func TestClosedCasesAllocateNoWork(t *testing.T) {
	k := newCouncil(t)
	k.quota("safeguarding", safeguarding(caseloadv1alpha1.EnforcementDeny))
	c := newCase(k.ns, "c-2019-001", "ChildProtection", "left-in-2020")
	c.Spec.OpenedOn, c.Spec.ClosedOn = "2019-01-07", "2019-09-30"
	if err := k.c.Create(context.Background(), c); err != nil {
		t.Errorf("a closed case held by a worker who has left was refused: %v", err)
	}
	// Reopening a closed case gives its worker the work again, and is decided as an allocation.
	k.practitioner("jo", "north", "SocialWorker")
	k.mustAllocate("c-1", "ChildProtection", "jo")
	k.mustAllocate("c-2", "ChildProtection", "jo") // 3 of 3
	closed := newCase(k.ns, "c-old", "ChildProtection", "jo")
	closed.Spec.ClosedOn = "2026-10-20"
	k.create(closed)
	wantRefusal(t, k.update("c-old", func(c *caseloadv1alpha1.Case) { c.Spec.ClosedOn = "" }), refusal("c-old",
		"spec.allocatedTo: Forbidden: case c-old (ChildProtection, weight 1.5) would take jo to 4.5 of 3 (SocialWorker cap 3 x FTE 1): denied by CaseloadQuota "+k.ns+"/safeguarding"))

	c = newCase(k.ns, "c-lost-team", "ChildInNeed", "")
	c.Spec.Team, c.Spec.ClosedOn = "gone", "2026-10-31"
	wantRefusal(t, k.c.Create(context.Background(), c), refusal("c-lost-team",
		`spec.team: Invalid value: "gone": there is no Team gone in namespace `+k.ns+": create the Team first, or correct the name"))
}

// userClient is a client authenticated as a user that RBAC knows only through the Role bound to it.
func userClient(t *testing.T, name string) client.Client {
	t.Helper()
	u, err := env.Environment.AddUser(envtest.User{Name: name}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(u.Config(), client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// installPeopleRoles creates the shipped caseload-viewer, -editor and -approver ClusterRoles
// (config/rbac, without kustomize's name prefix), as a council's cluster has them.
func installPeopleRoles(t *testing.T) {
	t.Helper()
	for _, file := range []string{"viewer_role.yaml", "editor_role.yaml", "approver_role.yaml"} {
		objs, err := manifest.DecodeFile(filepath.Join(env.Root, "config", "rbac", file))
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			o.SetName("caseload-" + o.GetName())
			if err := env.Client.Create(context.Background(), o); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
		}
	}
}

func TestExceptionsNeedAnApprover(t *testing.T) {
	k := newCouncil(t)
	spec := withExceptions(safeguarding(caseloadv1alpha1.EnforcementDeny))
	k.quota("safeguarding", spec)
	k.practitioner("jo", "north", "SocialWorker")
	k.mustAllocate("c-1", "ChildProtection", "jo")
	k.mustAllocate("c-2", "ChildInNeed", "jo") // 2.5 of 3

	// Both may allocate cases; only the manager may approve exceptions.
	allocator := []rbacv1.PolicyRule{{APIGroups: []string{"caseload.dev"}, Resources: []string{"cases"}, Verbs: []string{"create", "get", "update"}}}
	k.create(&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: k.ns, Name: "allocator"}, Rules: allocator})
	k.create(&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: k.ns, Name: "approver"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"caseload.dev"}, Resources: []string{"caseloadquotas"}, Verbs: []string{"approve"}}}})
	bind := func(role, user string) {
		k.create(&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: k.ns, Name: role + "-" + user},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role},
			Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: user}}})
	}
	bind("allocator", "duty-worker")
	bind("allocator", "team-manager")
	bind("approver", "team-manager")
	worker, manager := userClient(t, "duty-worker"), userClient(t, "team-manager")
	// The shipped people roles: the manager approves with caseload-approver, and a viewer holds
	// caseload-viewer alone.
	installPeopleRoles(t)
	for user, role := range map[string]string{"team-manager": "caseload-approver", "case-viewer": "caseload-viewer"} {
		k.create(&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: k.ns, Name: role + "-" + user},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: user}}})
	}
	viewer := userClient(t, "case-viewer")

	over := func(name string) *caseloadv1alpha1.Case {
		c := newCase(k.ns, name, "ChildInNeed", "jo") // 3.5 of 3: 117%, within 120%
		c.Annotations = map[string]string{caseloadv1alpha1.ExceptionReasonAnnotation: "court deadline; cover until jo's cases transfer"}
		return c
	}
	denied := "spec.allocatedTo: Forbidden: case %s (ChildInNeed, weight 1) would take jo to 3.5 of 3 (SocialWorker cap 3 x FTE 1): denied by CaseloadQuota " + k.ns + "/safeguarding"
	approver := "a user who may approve caseloadquotas in namespace " + k.ns + ` (RBAC verb "approve" on caseloadquotas.caseload.dev; usually the team manager)`

	t.Run("without the annotation the denial says an exception is possible", func(t *testing.T) {
		c := over("c-plain")
		c.Annotations = nil
		wantRefusal(t, manager.Create(context.Background(), c), refusal("c-plain",
			fmt.Sprintf(denied, "c-plain")+"; this is within the exceptions the quota allows: "+approver+" can admit it with the annotation caseload.dev/exception-reason giving the reason"))
	})
	t.Run("refused for a user who may not approve", func(t *testing.T) {
		wantRefusal(t, worker.Create(context.Background(), over("c-worker")), refusal("c-worker",
			fmt.Sprintf(denied, "c-worker"),
			`metadata.annotations[caseload.dev/exception-reason]: Forbidden: caseload.dev/exception-reason asks for an exception, but duty-worker may not approve exceptions here: ask `+approver+" to make this allocation"))
	})
	t.Run("admitted for a user who may approve, and recorded", func(t *testing.T) {
		start := time.Now()
		if err := manager.Create(context.Background(), over("c-manager")); err != nil {
			t.Fatalf("the team manager's exception was refused: %v", err)
		}
		var ex *caseloadv1alpha1.CaseException
		for _, r := range k.reservations() {
			if r.Case == "c-manager" {
				ex = r.Exception
			}
		}
		if ex == nil || ex.ApprovedBy != "team-manager" || ex.Reason != "court deadline; cover until jo's cases transfer" {
			t.Fatalf("ledger exception = %+v", ex)
		}
		if days := ex.ExpiresAt.Sub(ex.ApprovedAt.Time).Hours() / 24; days != 14 {
			t.Errorf("exception lasts %v days, want the quota's maxDays 14", days)
		}
		if ex.ApprovedAt.Time.Before(start.Add(-time.Second)) {
			t.Errorf("approvedAt %v is before the request", ex.ApprovedAt)
		}
		// The operator copies the exception from the ledger into the Case's status, without its
		// reason, and consumes the annotation: the reason is in the exception's record, which
		// the approver may read and someone who may only view the case may not.
		eventually(t, "the Case's status records the exception, and the reason's annotation is gone", func() bool {
			var c caseloadv1alpha1.Case
			return env.Client.Get(context.Background(), client.ObjectKey{Namespace: k.ns, Name: "c-manager"}, &c) == nil &&
				c.Status.Exception != nil && c.Status.Exception.ApprovedBy == "team-manager" && c.Status.Exception.Reason == "" &&
				c.Annotations[caseloadv1alpha1.ExceptionReasonAnnotation] == ""
		})
		var records caseloadv1alpha1.ExceptionApprovalList
		if err := manager.List(context.Background(), &records, client.InNamespace(k.ns)); err != nil {
			t.Fatalf("the approver cannot read the exceptions' records: %v", err)
		}
		if len(records.Items) != 1 || records.Items[0].Spec.Reason != "court deadline; cover until jo's cases transfer" || records.Items[0].Spec.ApprovedBy != "team-manager" {
			t.Errorf("the exceptions' records: %+v", records.Items)
		}
		var seen caseloadv1alpha1.Case
		if err := viewer.Get(context.Background(), client.ObjectKey{Namespace: k.ns, Name: "c-manager"}, &seen); err != nil || seen.Status.Exception == nil {
			t.Errorf("a viewer does not see that an exception stands: %v %+v", err, seen.Status.Exception)
		}
		if err := viewer.List(context.Background(), &caseloadv1alpha1.ExceptionApprovalList{}, client.InNamespace(k.ns)); !apierrors.IsForbidden(err) {
			t.Errorf("a viewer listing the exceptions' reasons: %v, want forbidden", err)
		}
		eventually(t, "an ExceptionApproved event about jo", func() bool {
			var evs eventsv1.EventList
			if err := env.Client.List(context.Background(), &evs, client.InNamespace(k.ns)); err != nil {
				return false
			}
			for _, e := range evs.Items {
				if e.Reason == "ExceptionApproved" && e.Regarding.Kind == "Practitioner" && e.Regarding.Name == "jo" &&
					strings.Contains(e.Note, "case c-manager allocated to jo above the cap by exception approved by team-manager") {
					return true
				}
			}
			return false
		})
	})
	t.Run("not beyond maxPercent, whoever asks", func(t *testing.T) {
		c := over("c-too-far") // jo is at 3.5 now: 4.5 is 150%
		err := manager.Create(context.Background(), c)
		wantRefusal(t, err, refusal("c-too-far",
			"spec.allocatedTo: Forbidden: case c-too-far (ChildInNeed, weight 1) would take jo to 4.5 of 3 (SocialWorker cap 3 x FTE 1): denied by CaseloadQuota "+k.ns+"/safeguarding"))
	})
}

func TestDeleteProtection(t *testing.T) {
	k := newCouncil(t)
	k.practitioner("jo", "north", "SocialWorker")
	k.practitioner("ali", "north", "SocialWorker")
	for i := 1; i <= 12; i++ {
		k.mustAllocate(fmt.Sprintf("c-%02d", i), "ChildInNeed", "jo")
	}
	k.mustAllocate("c-co", "ChildInNeed", "ali", "jo")
	eventually(t, "the cache shows jo's 13 cases", func() bool {
		var cs caseloadv1alpha1.CaseList
		return cache.List(context.Background(), &cs, client.InNamespace(k.ns)) == nil && len(cs.Items) == 13
	})
	ctx := context.Background()

	err := k.c.Delete(ctx, &caseloadv1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: k.ns, Name: "jo"}})
	want := `admission webhook "vpractitioner.caseload.dev" denied the request: practitioners.caseload.dev "jo" is forbidden: ` +
		"jo still holds 13 open cases: reallocate or close them first, so that no case is left without its worker: " +
		"c-01 (lead), c-02 (lead), c-03 (lead), c-04 (lead), c-05 (lead), c-06 (lead), c-07 (lead), c-08 (lead), c-09 (lead), c-10 (lead) and 3 more"
	if err == nil || err.Error() != want {
		t.Errorf("deleting jo: %v\nwant %s", err, want)
	}

	err = k.c.Delete(ctx, &caseloadv1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Namespace: k.ns, Name: "north"}})
	want = `admission webhook "vteam.caseload.dev" denied the request: teams.caseload.dev "north" is forbidden: ` +
		"team north still has 2 practitioners (ali, jo) and 13 open cases (c-01, c-02, c-03, c-04, c-05, c-06, c-07, c-08, c-09, c-10 and 3 more): move them to another team or close the cases first"
	if err == nil || err.Error() != want {
		t.Errorf("deleting team north: %v\nwant %s", err, want)
	}

	// Moving to another team while holding its cases would leave them held from another team.
	var ali caseloadv1alpha1.Practitioner
	if err := k.c.Get(ctx, client.ObjectKey{Namespace: k.ns, Name: "ali"}, &ali); err != nil {
		t.Fatal(err)
	}
	ali.Spec.Team = "south"
	err = k.c.Update(ctx, &ali)
	want = `admission webhook "vpractitioner.caseload.dev" denied the request: practitioners.caseload.dev "ali" is forbidden: ` +
		"ali still holds 1 open case of team north: reallocate or close them before moving ali to team south: c-co (lead)"
	if err == nil || err.Error() != want {
		t.Errorf("moving ali to team south: %v\nwant %s", err, want)
	}

	// An empty team and a practitioner with no cases go.
	if err := k.c.Delete(ctx, &caseloadv1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Namespace: k.ns, Name: "south"}}); err != nil {
		t.Errorf("deleting the empty team south: %v", err)
	}
	k.practitioner("new-starter", "north", "SocialWorker")
	if err := k.c.Delete(ctx, &caseloadv1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: k.ns, Name: "new-starter"}}); err != nil {
		t.Errorf("deleting a practitioner with no cases: %v", err)
	}
}

func TestObjectsMustNameAnExistingTeam(t *testing.T) {
	k := newCouncil(t)
	ctx := context.Background()
	err := k.c.Create(ctx, builders.MakePractitioner("jo", "nroth", "SocialWorker").Namespace(k.ns).Obj())
	want := `admission webhook "vpractitioner.caseload.dev" denied the request: Practitioner.caseload.dev "jo" is invalid: spec.team: Invalid value: "nroth": there is no Team nroth in namespace ` + k.ns + ": create the Team first, or correct the name"
	if err == nil || err.Error() != want {
		t.Errorf("practitioner in a missing team: %v\nwant %s", err, want)
	}
	c := newCase(k.ns, "c-1", "ChildInNeed", "")
	c.Spec.Team = "nroth"
	err = k.c.Create(ctx, c)
	want = `admission webhook "vcase.caseload.dev" denied the request: Case.caseload.dev "c-1" is invalid: spec.team: Invalid value: "nroth": there is no Team nroth in namespace ` + k.ns + ": create the Team first, or correct the name"
	if err == nil || err.Error() != want {
		t.Errorf("case in a missing team: %v\nwant %s", err, want)
	}
	// A Team and its members applied together (kubectl apply -f dir/): the cache may not
	// have the Team yet, and the webhook asks the apiserver before refusing.
	k.create(builders.MakeTeam("east").Namespace(k.ns).Obj())
	k.practitioner("ana", "east", "SocialWorker")
}

func TestQuotaThatCannotBeAppliedIsRefused(t *testing.T) {
	k := newCouncil(t)
	err := k.c.Create(context.Background(), &caseloadv1alpha1.CaseloadQuota{ObjectMeta: metav1.ObjectMeta{Namespace: k.ns, Name: "bad"},
		Spec: caseloadv1alpha1.CaseloadQuotaSpec{TeamSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "caseload.dev/service", Operator: "Near", Values: []string{"safeguarding"}}}}}})
	want := `admission webhook "vcaseloadquota.caseload.dev" denied the request: CaseloadQuota.caseload.dev "bad" is invalid: spec.teamSelector: Invalid value:`
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), `"Near" is not a valid label selector operator`) {
		t.Errorf("quota with a selector that does not parse: %v", err)
	}
}

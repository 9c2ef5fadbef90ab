package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/builders"
)

// Builders for the objects of a test council.

func team(ns, name string) *v1alpha1.Team {
	return builders.MakeTeam(name).Namespace(ns).DisplayName("North CP").Service("safeguarding", "Child protection").Obj()
}

func practitioner(ns, name, teamName, grade, fte string) *v1alpha1.Practitioner {
	return builders.MakePractitioner(name, teamName, grade).Namespace(ns).FTE(fte).Obj()
}

func kase(ns, name, teamName, typ string, children int32, lead string, opened string) *v1alpha1.Case {
	return builders.MakeCase(name).Namespace(ns).Team(teamName).Type(typ).Children(children).OpenedOn(opened).Lead(lead).Obj()
}

// walsallQuota caps an experienced worker at sweCap and a newly qualified one at 12, who may
// not lead child protection; looked-after children wait at most 2 days for a worker.
func walsallQuota(ns, sweCap string) *v1alpha1.CaseloadQuota {
	return builders.MakeQuota("walsall").Namespace(ns).SelectService("safeguarding").
		Weigh("ChildInNeed", "1").Weigh("ChildProtection", "1.5").Weigh("LookedAfter", "1.25").AdditionalChild("0.5").
		Cap("SocialWorker", sweCap).Cap("NewlyQualified", "12", "ChildProtection").
		Timescale("ChildInNeed", 270).AllocationDeadline("LookedAfter", 2).
		Obj()
}

func create(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := env.Client.Create(context.Background(), o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
}

func get[T client.Object](t *testing.T, obj T, ns, name string) T {
	t.Helper()
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, obj); err != nil {
		t.Fatalf("get %s: %v", name, err)
	}
	return obj
}

// practitionerFigures is what `kubectl get prac -o wide` shows for one practitioner.
func practitionerFigures(p *v1alpha1.Practitioner) string {
	s := p.Status
	return fmt.Sprintf("cases=%d weight=%s capacity=%s headroom=%s util=%d band=%s cover=%d",
		s.Cases, s.Weight, s.Capacity, s.Headroom, s.UtilisationPercent, s.Band, s.CasesNeedingCover)
}

func expectPractitioner(t *testing.T, ns, name, want string) {
	t.Helper()
	eventually(t, 20*time.Second, func() error {
		p := get(t, &v1alpha1.Practitioner{}, ns, name)
		if got := practitionerFigures(p); got != want {
			return fmt.Errorf("%s: %s, want %s", name, got, want)
		}
		return nil
	})
}

func violations(q *v1alpha1.CaseloadQuota) []string {
	var out []string
	for _, v := range q.Status.ViolationList {
		out = append(out, v.Kind+" "+v.Name+" "+v.Rule+": "+v.Message)
	}
	return out
}

func expectViolations(t *testing.T, ns string, want ...string) {
	t.Helper()
	eventually(t, 20*time.Second, func() error {
		q := get(t, &v1alpha1.CaseloadQuota{}, ns, "walsall")
		got := violations(q)
		if q.Status.Violations != int32(len(want)) || strings.Join(got, "\n") != strings.Join(want, "\n") {
			return fmt.Errorf("quota violations (%d):\n%s\nwant:\n%s", q.Status.Violations, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		return nil
	})
}

func expectEvent(t *testing.T, ns, reason, noteContains string) {
	t.Helper()
	eventually(t, 20*time.Second, func() error {
		var list eventsv1.EventList
		if err := env.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			return err
		}
		var seen []string
		for _, e := range list.Items {
			if e.Reason == reason && strings.Contains(e.Note, noteContains) {
				return nil
			}
			seen = append(seen, e.Reason+": "+e.Note)
		}
		return fmt.Errorf("no %s event saying %q; events: %q", reason, noteContains, seen)
	})
}

// TestACouncilsWeek drives a child-protection team through a week: allocations, a closed case,
// a worker off sick, a tighter policy from git, a reduction ending and a looked-after child
// waiting past the deadline. Every figure is one a team manager can check by hand.
func TestACouncilsWeek(t *testing.T) {
	ctx := context.Background()
	ns := "council-week"
	create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	testClock.SetTime(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))

	sam := practitioner(ns, "sam", "north-cp", "NewlyQualified", "1")
	sam.Spec.Reductions = []v1alpha1.Reduction{{Reason: v1alpha1.ReductionNewlyQualified, Percent: 10, Until: "2026-11-25"}}
	create(t, team(ns, "north-cp"), walsallQuota(ns, "18"),
		practitioner(ns, "jo", "north-cp", "SocialWorker", "1"),
		practitioner(ns, "ali", "north-cp", "SocialWorker", "0.6"), sam)
	// jo: 10 children in need (10) and two child-protection sibling pairs (1.5 + 0.5 each): 14.
	for i := range 10 {
		create(t, kase(ns, fmt.Sprintf("jo-cin-%d", i), "north-cp", "ChildInNeed", 1, "jo", "2026-10-01"))
	}
	create(t, kase(ns, "jo-cp-1", "north-cp", "ChildProtection", 2, "jo", "2026-10-01"),
		kase(ns, "jo-cp-2", "north-cp", "ChildProtection", 2, "jo", "2026-10-01"))
	// ali, 0.6 FTE: 8 children in need and one child-protection case: 9.5.
	for i := range 8 {
		create(t, kase(ns, fmt.Sprintf("ali-cin-%d", i), "north-cp", "ChildInNeed", 1, "ali", "2026-10-01"))
	}
	create(t, kase(ns, "ali-cp-1", "north-cp", "ChildProtection", 1, "ali", "2026-10-01"))
	// sam: 6 children in need.
	for i := range 6 {
		create(t, kase(ns, fmt.Sprintf("sam-cin-%d", i), "north-cp", "ChildInNeed", 1, "sam", "2026-10-01"))
	}

	t.Run("Monday: statuses show load, capacity and headroom", func(t *testing.T) {
		expectPractitioner(t, ns, "jo", "cases=12 weight=14 capacity=18 headroom=4 util=77 band=Green cover=0")
		expectPractitioner(t, ns, "ali", "cases=9 weight=9.5 capacity=10.8 headroom=1.3 util=87 band=Green cover=0")
		// 12 x 1 x (1 - 10%) = 10.8 while the newly qualified reduction lasts.
		expectPractitioner(t, ns, "sam", "cases=6 weight=6 capacity=10.8 headroom=4.8 util=55 band=Green cover=0")
		eventually(t, 20*time.Second, func() error {
			tm := get(t, &v1alpha1.Team{}, ns, "north-cp")
			s := tm.Status
			got := fmt.Sprintf("practitioners=%d available=%d cases=%d children=%d unallocated=%d weight=%s capacity=%s headroom=%s util=%d band=%s quota=%s",
				s.Practitioners, s.AvailablePractitioners, s.Cases, s.Children, s.Unallocated, s.Weight, s.Capacity, s.Headroom, s.UtilisationPercent, s.Band, s.Quota)
			want := "practitioners=3 available=3 cases=27 children=29 unallocated=0 weight=29.5 capacity=39.6 headroom=10.1 util=74 band=Green quota=walsall"
			if got != want {
				return fmt.Errorf("team: %s, want %s", got, want)
			}
			return nil
		})
		eventually(t, 20*time.Second, func() error {
			c := get(t, &v1alpha1.Case{}, ns, "jo-cp-1")
			want := "ChildProtection 1.5 + 1 more child x 0.5 = 2 (CaseloadQuota walsall)"
			if c.Status.Weight != "2" || c.Status.WeightBreakdown != want || c.Status.Lead != "jo" || c.Status.AllocatedSince == nil {
				return fmt.Errorf("case jo-cp-1 status: %+v", c.Status)
			}
			if c.Status.DueBy != "" {
				return fmt.Errorf("a child-protection case has no timescale in this policy, got due %s", c.Status.DueBy)
			}
			cin := get(t, &v1alpha1.Case{}, ns, "jo-cin-0")
			if cin.Status.DueBy != "2027-06-28" || cin.Status.Overdue {
				return fmt.Errorf("a child in need opened 2026-10-01 is due 270 days later, 2027-06-28: %+v", cin.Status)
			}
			return nil
		})
		expectViolations(t, ns)
	})

	t.Run("a closed case weighs nothing", func(t *testing.T) {
		c := get(t, &v1alpha1.Case{}, ns, "jo-cin-9")
		c.Spec.ClosedOn = "2026-11-23"
		if err := env.Client.Update(ctx, c); err != nil {
			t.Fatal(err)
		}
		expectPractitioner(t, ns, "jo", "cases=11 weight=13 capacity=18 headroom=5 util=72 band=Green cover=0")
		eventually(t, 20*time.Second, func() error {
			c := get(t, &v1alpha1.Case{}, ns, "jo-cin-9")
			if c.Status.Weight != "0" {
				return fmt.Errorf("closed case weighs %s", c.Status.Weight)
			}
			return nil
		})
	})

	t.Run("Tuesday: jo goes off sick, nothing is moved", func(t *testing.T) {
		testClock.SetTime(time.Date(2026, 11, 24, 8, 30, 0, 0, time.UTC))
		jo := get(t, &v1alpha1.Practitioner{}, ns, "jo")
		off := false
		jo.Spec.Available = &off
		if err := env.Client.Update(ctx, jo); err != nil {
			t.Fatal(err)
		}
		expectPractitioner(t, ns, "jo", "cases=11 weight=13 capacity=0 headroom=-13 util=0 band=Away cover=11")
		expectEvent(t, ns, "NeedsCover", "jo is away and holds 11 open cases that need cover")
		var cases v1alpha1.CaseList
		if err := env.Client.List(ctx, &cases, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		held := 0
		for _, c := range cases.Items {
			if c.Spec.AllocatedTo == "jo" && c.IsOpen() {
				held++
			}
		}
		if held != 11 {
			t.Errorf("jo still holds all 11 open cases while away; the API shows %d", held)
		}
		// Away is not over capacity: jo's cases need cover, which is not jo's breach.
		jo = get(t, &v1alpha1.Practitioner{}, ns, "jo")
		cover := meta.FindStatusCondition(jo.Status.Conditions, v1alpha1.ConditionNeedsCover)
		if jo.Status.OverCapacitySince != nil || jo.Status.Available || cover == nil || cover.Status != metav1.ConditionTrue ||
			cover.Message != "jo is unavailable (spec.available is false) and holds 11 open cases that need cover; nothing is reassigned" {
			t.Errorf("jo away: overCapacitySince %v, available %v, NeedsCover %+v", jo.Status.OverCapacitySince, jo.Status.Available, cover)
		}
		expectViolations(t, ns)
		eventually(t, 20*time.Second, func() error {
			tm := get(t, &v1alpha1.Team{}, ns, "north-cp")
			if tm.Status.CasesNeedingCover != 11 || tm.Status.OverCapacityPractitioners != 0 {
				return fmt.Errorf("team north-cp: %d cases needing cover, %d over capacity; want 11 and 0", tm.Status.CasesNeedingCover, tm.Status.OverCapacityPractitioners)
			}
			return nil
		})
	})

	t.Run("Wednesday: the policy in git lowers the experienced cap from 18 to 15", func(t *testing.T) {
		testClock.SetTime(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
		q := get(t, &v1alpha1.CaseloadQuota{}, ns, "walsall")
		q.Spec.PractitionerCaps[0].MaxWeight = "15"
		if err := env.Client.Update(ctx, q); err != nil {
			t.Fatal(err)
		}
		expectViolations(t, ns,
			"Practitioner ali practitionerCaps.maxWeight: ali carries 9.5 of 9 (SocialWorker cap 15 x FTE 0.6)")
		expectPractitioner(t, ns, "ali", "cases=9 weight=9.5 capacity=9 headroom=-0.5 util=105 band=Red cover=0")
		expectEvent(t, ns, "OverCapacity", "ali is Red")
		q = get(t, &v1alpha1.CaseloadQuota{}, ns, "walsall")
		if c := meta.FindStatusCondition(q.Status.Conditions, v1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue {
			t.Errorf("violations are findings, never a failure: Ready is %+v", c)
		}
		if c := meta.FindStatusCondition(q.Status.Conditions, v1alpha1.ConditionPolicyViolated); c == nil || c.Status != metav1.ConditionTrue {
			t.Errorf("PolicyViolated is True with 2 violations: %+v", c)
		}
		var aliCases v1alpha1.CaseList
		if err := env.Client.List(ctx, &aliCases, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		for _, c := range aliCases.Items {
			if strings.HasPrefix(c.Name, "ali-") && c.Spec.AllocatedTo != "ali" {
				t.Errorf("case %s was moved off ali", c.Name)
			}
		}
	})

	t.Run("Thursday: sam's newly qualified reduction ends on its date", func(t *testing.T) {
		r := &PractitionerReconciler{Client: mgrClient, Clock: testClock, Calendars: &calendars{}, Status: statusWriter{Client: mgrClient}}
		req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: "sam"}}
		res, err := r.Reconcile(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		boundary := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
		if want := boundary.Sub(testClock.Now()); res.RequeueAfter != want {
			t.Errorf("the reconciler waits for the reduction's end: RequeueAfter %s, want %s", res.RequeueAfter, want)
		}
		testClock.SetTime(boundary.Add(time.Second))
		if _, err := r.Reconcile(ctx, req); err != nil {
			t.Fatal(err)
		}
		expectPractitioner(t, ns, "sam", "cases=6 weight=6 capacity=12 headroom=6 util=50 band=Green cover=0")
	})

	t.Run("a looked-after child waits past the 2-day allocation deadline", func(t *testing.T) {
		create(t, kase(ns, "la-waiting", "north-cp", "LookedAfter", 1, "", "2026-11-26"))
		eventually(t, 20*time.Second, func() error {
			c := get(t, &v1alpha1.Case{}, ns, "la-waiting")
			if c.Status.UnallocatedSince == nil || c.Status.Overdue {
				return fmt.Errorf("a new unallocated case waits, within its deadline: %+v", c.Status)
			}
			return nil
		})
		r := &CaseReconciler{Client: mgrClient, Clock: testClock, Calendars: &calendars{}, Status: statusWriter{Client: mgrClient}, Recorder: nil}
		req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: "la-waiting"}}
		res, err := r.Reconcile(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
		if want := deadline.Sub(testClock.Now()); res.RequeueAfter != want {
			t.Errorf("the reconciler waits for the deadline: RequeueAfter %s, want %s", res.RequeueAfter, want)
		}

		testClock.SetTime(time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC))
		r.Recorder = recorderFor(t)
		if _, err := r.Reconcile(ctx, req); err != nil {
			t.Fatal(err)
		}
		c := get(t, &v1alpha1.Case{}, ns, "la-waiting")
		cond := meta.FindStatusCondition(c.Status.Conditions, v1alpha1.ConditionOverdue)
		if !c.Status.Overdue || cond == nil || cond.Reason != ReasonPastDeadline {
			t.Errorf("3 days unallocated is past the 2-day deadline: %+v", c.Status)
		}
		expectEvent(t, ns, "AllocationDeadlinePassed", "case la-waiting (LookedAfter) is unallocated past its allocation deadline")

		// A new referral on Sunday brings the team's figures and the audit up to date.
		create(t, kase(ns, "sam-cin-new", "north-cp", "ChildInNeed", 1, "sam", "2026-11-29"))
		expectViolations(t, ns,
			"Case la-waiting allocationDeadlines: case la-waiting (LookedAfter) has waited 3 days unallocated; its deadline is 2 days",
			"Practitioner ali practitionerCaps.maxWeight: ali carries 9.5 of 9 (SocialWorker cap 15 x FTE 0.6)")
		eventually(t, 20*time.Second, func() error {
			s := get(t, &v1alpha1.Team{}, ns, "north-cp").Status
			if s.Unallocated != 1 || s.OldestUnallocatedDays != 3 || s.OverdueCases != 1 || s.AvailablePractitioners != 2 {
				return fmt.Errorf("team: unallocated %d, oldest %d days, overdue %d, available %d; want 1, 3, 1, 2",
					s.Unallocated, s.OldestUnallocatedDays, s.OverdueCases, s.AvailablePractitioners)
			}
			return nil
		})
	})

	t.Run("every kind is Current to kstatus, as Flux and Argo CD see it", func(t *testing.T) {
		for _, o := range []struct{ kind, name string }{
			{"Team", "north-cp"}, {"Practitioner", "jo"}, {"Practitioner", "ali"}, {"Case", "jo-cp-1"}, {"Case", "la-waiting"}, {"CaseloadQuota", "walsall"},
		} {
			eventually(t, 20*time.Second, func() error {
				u := &unstructured.Unstructured{}
				u.SetAPIVersion("caseload.dev/v1alpha1")
				u.SetKind(o.kind)
				if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: o.name}, u); err != nil {
					return err
				}
				res, err := status.Compute(u)
				if err != nil {
					return err
				}
				if res.Status != status.CurrentStatus {
					return fmt.Errorf("%s %s is %s to kstatus: %s", o.kind, o.name, res.Status, res.Message)
				}
				return nil
			})
		}
	})

	t.Run("the controller writes status only, never spec (Argo CD and Flux would see drift)", func(t *testing.T) {
		lists := []client.ObjectList{&v1alpha1.CaseList{}, &v1alpha1.PractitionerList{}, &v1alpha1.TeamList{}, &v1alpha1.CaseloadQuotaList{}}
		statusWrites := 0
		for _, list := range lists {
			if err := env.Client.List(ctx, list, client.InNamespace(ns)); err != nil {
				t.Fatal(err)
			}
			if err := meta.EachListItem(list, func(o runtime.Object) error {
				obj := o.(client.Object)
				for _, f := range obj.GetManagedFields() {
					if f.Manager != FieldOwner {
						continue
					}
					if f.Subresource != "status" {
						t.Errorf("%T %s: the operator wrote %q fields outside status", obj, obj.GetName(), f.Operation)
					}
					statusWrites++
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		if statusWrites == 0 {
			t.Fatalf("no managedFields entry of %s: the check would see no write at all", FieldOwner)
		}
	})
}

// TestAMissingTeamStallsItsMembers: a practitioner naming a team that does not exist is Stalled,
// which kstatus and Argo CD report as a failure a person must fix.
func TestAMissingTeamStallsItsMembers(t *testing.T) {
	ns := "missing-team"
	create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, practitioner(ns, "lost", "no-such-team", "SocialWorker", "1"))
	eventually(t, 20*time.Second, func() error {
		p := get(t, &v1alpha1.Practitioner{}, ns, "lost")
		stalled := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionStalled)
		ready := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionReady)
		if stalled == nil || ready == nil || ready.Status != metav1.ConditionFalse || !strings.Contains(stalled.Message, "team no-such-team does not exist") {
			return fmt.Errorf("conditions: %+v", p.Status.Conditions)
		}
		obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(p)
		if err != nil {
			return err
		}
		res, err := status.Compute(&unstructured.Unstructured{Object: obj})
		if err != nil {
			return err
		}
		if res.Status != status.FailedStatus {
			return fmt.Errorf("kstatus says %s, want Failed", res.Status)
		}
		return nil
	})
}

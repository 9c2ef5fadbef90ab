package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/snapshot"
)

// TestLedgerReservationsAreFoldedAndExceptionsRecorded plays the webhook's part by hand: it
// writes reservations into the team's ledger and checks that the reconcilers count them until
// the case is seen, drop them once expired, and copy an approved exception into the Case's status.
func TestLedgerReservationsAreFoldedAndExceptionsRecorded(t *testing.T) {
	ctx := context.Background()
	ns := "ledger"
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	testClock.SetTime(now)
	create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, team(ns, "north-cp"), walsallQuota(ns, "15"),
		practitioner(ns, "kim", "north-cp", "SocialWorker", "1"))
	for i := range 14 {
		create(t, kase(ns, fmt.Sprintf("kim-cin-%d", i), "north-cp", "ChildInNeed", 1, "kim", "2026-10-01"))
	}
	expectPractitioner(t, ns, "kim", "cases=14 weight=14 capacity=15 headroom=1 util=93 band=Amber cover=0")

	// Admission let two allocations through that no cache shows yet: one racing allocation of a
	// child-protection case, and one above the cap under a manager's exception.
	approved := metav1.NewTime(now)
	exception := &v1alpha1.CaseException{ApprovedBy: "manager@council.example", Reason: "sibling of a child kim already holds",
		ApprovedAt: approved, ExpiresAt: metav1.NewTime(now.Add(28 * 24 * time.Hour))}
	// The sibling's Case exists, unallocated, and the allocation to kim (its generation 2) is
	// admitted but not yet stored; the racing case's create is admitted and never stored.
	create(t, kase(ns, "sibling-cin", "north-cp", "ChildInNeed", 1, "", "2026-12-01"))
	sibling := get(t, &v1alpha1.Case{}, ns, "sibling-cin")
	admitted := metav1.NewTime(now)
	ledger := &v1alpha1.AllocationLedger{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "north-cp"}, Spec: v1alpha1.AllocationLedgerSpec{
		Reservations: []v1alpha1.Reservation{
			{ID: "uid-racing", Team: "north-cp", Practitioner: "kim", Case: "racing-cp", CaseUID: "uid-of-racing-cp", Generation: 1, Role: v1alpha1.RoleLead,
				CaseType: "ChildProtection", Complexity: v1alpha1.ComplexityStandard, Children: 1, Weight: "1.5", AdmittedAt: admitted},
			{ID: "uid-exception", Team: "north-cp", Practitioner: "kim", Case: "sibling-cin", CaseUID: string(sibling.UID), Generation: sibling.Generation + 1, Role: v1alpha1.RoleLead,
				CaseType: "ChildInNeed", Complexity: v1alpha1.ComplexityStandard, Children: 1, Weight: "1", AdmittedAt: admitted, Exception: exception},
		}}}
	if err := env.Client.Create(ctx, ledger); err != nil {
		t.Fatal(err)
	}
	// 14 held + 1.5 + 1 reserved: whenever the practitioner is reconciled, the figures count what
	// admission has promised. (A ledger change does not requeue the practitioner by itself: the
	// Case follows a moment later and does.)
	p := &PractitionerReconciler{Client: mgrClient, Clock: testClock, Calendars: &calendars{}, Status: statusWriter{Client: mgrClient}}
	eventually(t, 20*time.Second, func() error {
		if err := mgrClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "north-cp"}, &v1alpha1.AllocationLedger{}); err != nil {
			return err // the cache has not seen the ledger yet
		}
		_, err := p.Reconcile(ctx, reqFor(ns, "kim"))
		return err
	})
	expectPractitioner(t, ns, "kim", "cases=16 weight=16.5 capacity=15 headroom=-1.5 util=110 band=Red cover=0")

	// The ledger reconciler sees both entries now, by its own clock.
	l := &LedgerReconciler{Client: mgrClient, Live: env.Client, Clock: testClock, Cases: snapshot.NewProgress(), Practitioners: snapshot.NewProgress()}
	if _, err := l.Reconcile(ctx, reqFor(ns, "north-cp")); err != nil {
		t.Fatal(err)
	}

	// The allocation is stored; it counts once, not twice.
	eventually(t, 20*time.Second, func() error {
		c := get(t, &v1alpha1.Case{}, ns, "sibling-cin")
		c.Spec.AllocatedTo = "kim"
		return env.Client.Update(ctx, c) // again if the operator wrote its status meanwhile
	})
	expectPractitioner(t, ns, "kim", "cases=16 weight=16.5 capacity=15 headroom=-1.5 util=110 band=Red cover=0")
	eventually(t, 20*time.Second, func() error {
		c := get(t, &v1alpha1.Case{}, ns, "sibling-cin")
		if c.Status.Exception == nil || c.Status.Exception.ApprovedBy != "manager@council.example" || c.Status.Exception.Reason != "" {
			return fmt.Errorf("the exception is recorded in the case's status, without its reason: %+v", c.Status.Exception)
		}
		// The reason is kept in the exception's record, which only approvers read.
		var records v1alpha1.ExceptionApprovalList
		if err := env.Client.List(ctx, &records, client.InNamespace(ns)); err != nil {
			return err
		}
		if len(records.Items) != 1 || records.Items[0].Spec.Reason != exception.Reason || records.Items[0].Spec.Case != "sibling-cin" ||
			records.Items[0].Spec.Practitioner != "kim" || records.Items[0].Name != "sibling-cin-"+now.Format("20060102-150405") {
			return fmt.Errorf("the exception's record: %+v", records.Items)
		}
		return nil
	})

	// Three minutes on by the reconciler's own clock, the racing allocation's request has ended
	// and the apiserver has no such case: it no longer counts. The exception is recorded, so its
	// entry goes: both in one write of the ledger.
	testClock.SetTime(now.Add(3 * time.Minute))
	if _, err := l.Reconcile(ctx, reqFor(ns, "north-cp")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() error {
		l := get(t, &v1alpha1.AllocationLedger{}, ns, "north-cp")
		if len(l.Spec.Reservations) != 0 {
			return fmt.Errorf("expired reservations are dropped: %+v", l.Spec.Reservations)
		}
		return nil
	})
	if _, err := p.Reconcile(ctx, reqFor(ns, "kim")); err != nil {
		t.Fatal(err)
	}
	expectPractitioner(t, ns, "kim", "cases=15 weight=15 capacity=15 headroom=0 util=100 band=Amber cover=0")

	// The exception lapses after its 28 days; the case's status stops showing it.
	testClock.SetTime(now.Add(29 * 24 * time.Hour))
	c := &CaseReconciler{Client: mgrClient, Clock: testClock, Calendars: &calendars{}, Status: statusWriter{Client: mgrClient}}
	if _, err := c.Reconcile(ctx, reqFor(ns, "sibling-cin")); err != nil {
		t.Fatal(err)
	}
	if got := get(t, &v1alpha1.Case{}, ns, "sibling-cin").Status.Exception; got != nil {
		t.Errorf("a lapsed exception is cleared: %+v", got)
	}
}

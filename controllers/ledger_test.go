package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

// TestLedgerReservationsAreFoldedAndExceptionsRecorded plays the webhook's part by hand: it
// writes reservations into the Team's ledger and checks that the reconcilers count them until
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
	tm := get(t, &v1alpha1.Team{}, ns, "north-cp")
	tm.Status.Reservations = []v1alpha1.Reservation{
		{ID: "uid-racing", Practitioner: "kim", Case: "racing-cp", Role: v1alpha1.RoleLead, CaseType: "ChildProtection",
			Complexity: v1alpha1.ComplexityStandard, Children: 1, Weight: "1.5", ExpiresAt: metav1.NewTime(now.Add(2 * time.Minute))},
		{ID: "uid-exception", Practitioner: "kim", Case: "sibling-cin", Role: v1alpha1.RoleLead, CaseType: "ChildInNeed",
			Complexity: v1alpha1.ComplexityStandard, Children: 1, Weight: "1", ExpiresAt: metav1.NewTime(now.Add(2 * time.Minute)), Exception: exception},
	}
	if err := env.Client.Status().Update(ctx, tm); err != nil {
		t.Fatal(err)
	}
	// 14 held + 1.5 + 1 reserved: the figures count what admission has promised.
	expectPractitioner(t, ns, "kim", "cases=16 weight=16.5 capacity=15 headroom=-1.5 util=110 band=Red cover=0")

	// The allocated case arrives; it counts once, not twice.
	create(t, kase(ns, "sibling-cin", "north-cp", "ChildInNeed", 1, "kim", "2026-12-01"))
	expectPractitioner(t, ns, "kim", "cases=16 weight=16.5 capacity=15 headroom=-1.5 util=110 band=Red cover=0")
	eventually(t, 20*time.Second, func() error {
		c := get(t, &v1alpha1.Case{}, ns, "sibling-cin")
		if c.Status.Exception == nil || c.Status.Exception.ApprovedBy != "manager@council.example" || c.Status.Exception.Reason != exception.Reason {
			return fmt.Errorf("the exception is recorded in the case's status: %+v", c.Status.Exception)
		}
		return nil
	})

	// Three minutes on, both reservations have expired: the racing allocation never arrived (its
	// request failed later), so it no longer counts; the exception is recorded, so its entry goes.
	testClock.SetTime(now.Add(3 * time.Minute))
	create(t, kase(ns, "kim-cin-late", "north-cp", "ChildInNeed", 1, "", "2026-12-01")) // an event for the team
	eventually(t, 20*time.Second, func() error {
		s := get(t, &v1alpha1.Team{}, ns, "north-cp").Status
		if len(s.Reservations) != 0 {
			return fmt.Errorf("expired reservations are dropped: %+v", s.Reservations)
		}
		return nil
	})
	p := &PractitionerReconciler{Client: mgrClient, Clock: testClock, Calendars: &calendars{}, Status: statusWriter{Client: mgrClient}}
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

// TestKeptReservations: a reservation carrying an exception outlives its expiry until the case's
// status records the exception, so an approval is never lost while the operator was away.
func TestKeptReservations(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	ex := &v1alpha1.CaseException{ApprovedAt: metav1.NewTime(now.Add(-time.Hour)), ExpiresAt: metav1.NewTime(now.Add(24 * time.Hour))}
	expired := metav1.NewTime(now.Add(-time.Minute))
	rs := []v1alpha1.Reservation{
		{ID: "live", Case: "a", ExpiresAt: metav1.NewTime(now.Add(time.Minute))},
		{ID: "expired", Case: "b", ExpiresAt: expired},
		{ID: "exception-unrecorded", Case: "c", ExpiresAt: expired, Exception: ex},
		{ID: "exception-recorded", Case: "d", ExpiresAt: expired, Exception: ex},
		{ID: "exception-case-gone", Case: "e", ExpiresAt: expired, Exception: ex},
	}
	open := []v1alpha1.Case{{}, {}}
	open[0].Name = "c"
	open[1].Name = "d"
	open[1].Status.Exception = ex.DeepCopy()
	var got []string
	for _, r := range keptReservations(rs, open, now) {
		got = append(got, r.ID)
	}
	if fmt.Sprint(got) != "[live exception-unrecorded]" {
		t.Errorf("kept %v, want [live exception-unrecorded]", got)
	}
}

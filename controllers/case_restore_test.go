package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/builders"
	"caseload.dev/caseload-operator/internal/policy"
)

// TestARestoredCaseKeepsItsException: a Case re-created from a backup has no ledger entry for the
// exception it was held under; its ExceptionApproval, older than the re-created Case, gives the
// status back, without the reason, until it lapses or the case changes hands.
func TestARestoredCaseKeepsItsException(t *testing.T) {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	approvedAt := metav1.NewTime(now.AddDate(0, 0, -3))
	approval := v1alpha1.ExceptionApproval{
		ObjectMeta: metav1.ObjectMeta{Namespace: "walsall", Name: "c-1-20261120-090000"},
		Spec: v1alpha1.ExceptionApprovalSpec{Case: "c-1", CaseException: v1alpha1.CaseException{
			Practitioner: "jo", ApprovedBy: "manager", Reason: "only jo knows the family",
			ApprovedAt: approvedAt, ExpiresAt: metav1.NewTime(now.AddDate(0, 0, 11)),
		}},
	}
	restored := func(change func(*v1alpha1.Case)) *v1alpha1.Case {
		c := builders.MakeCase("c-1").Namespace("walsall").Generation(1).Created(now.Add(-time.Hour)).
			Team("north").Type("ChildInNeed").OpenedOn("2026-11-01").Lead("jo").Obj()
		if change != nil {
			change(c)
		}
		return c
	}
	for _, tc := range []struct {
		name      string
		c         *v1alpha1.Case
		approvals []v1alpha1.ExceptionApproval
		now       time.Time
		want      bool
	}{
		{"restored, held by the practitioner it took over the cap", restored(nil), []v1alpha1.ExceptionApproval{approval}, now, true},
		{"no approval names it", restored(nil), nil, now, false},
		{"the approval names another case", restored(func(c *v1alpha1.Case) { c.Name = "c-2" }), []v1alpha1.ExceptionApproval{approval}, now, false},
		{"approved after the case was created: admission's own record, not a restore",
			restored(func(c *v1alpha1.Case) { c.CreationTimestamp = metav1.NewTime(approvedAt.Add(-time.Minute)) }), []v1alpha1.ExceptionApproval{approval}, now, false},
		{"changed since it was created: admission decided afresh", restored(func(c *v1alpha1.Case) { c.Generation = 3 }), []v1alpha1.ExceptionApproval{approval}, now, false},
		{"another practitioner holds it", restored(func(c *v1alpha1.Case) { c.Spec.AllocatedTo = "sam" }), []v1alpha1.ExceptionApproval{approval}, now, false},
		{"lapsed", restored(nil), []v1alpha1.ExceptionApproval{approval}, now.AddDate(0, 0, 12), false},
		{"closed", restored(func(c *v1alpha1.Case) { c.Spec.ClosedOn = "2026-11-20" }), []v1alpha1.ExceptionApproval{approval}, now, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, _, _ := caseStatus(tc.c, caseInput{Team: &v1alpha1.Team{}, Approvals: tc.approvals, Now: tc.now, Calendar: policy.UTC})
			if got := st.Exception != nil; got != tc.want {
				t.Fatalf("exception in status: %v, want %v (%+v)", got, tc.want, st.Exception)
			}
			if st.Exception == nil {
				return
			}
			if st.Exception.Reason != "" {
				t.Errorf("the status shows the reason %q: it is for approvers only", st.Exception.Reason)
			}
			if st.Exception.ApprovedBy != "manager" || st.Exception.Practitioner != "jo" || !st.Exception.ApprovedAt.Equal(&approvedAt) ||
				!st.Exception.ExpiresAt.Equal(&approval.Spec.ExpiresAt) {
				t.Errorf("status shows %+v, want the approval's record %+v", st.Exception, approval.Spec.CaseException)
			}
		})
	}
}

package controllers

import (
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/policy"
	"caseload.dev/caseload-operator/internal/words"
)

// caseInput is everything a case's status is computed from.
type caseInput struct {
	// Team is nil when the case's team does not exist.
	Team     *v1alpha1.Team
	Policies []*policy.Policy
	// Ledger is the entries of the team's allocation ledger.
	Ledger []v1alpha1.Reservation
	// Approvals are the ExceptionApprovals that name the case, read only for a case that may
	// have been re-created from a backup (see restoredException).
	Approvals []v1alpha1.ExceptionApproval
	Now       time.Time
	// Calendar is the council's; ZoneProblem says why it is UTC when its zone is unknown.
	Calendar    policy.Calendar
	ZoneProblem string
}

// caseStatus computes a case's status. It returns the status, whether the case has just passed
// an allocation deadline it must not pass, and when the status next changes with no event.
func caseStatus(c *v1alpha1.Case, in caseInput) (st v1alpha1.CaseStatus, deadlinePassed bool, next time.Time) {
	prev := c.Status
	cal := in.Calendar
	day := cal.DayOf(in.Now)
	gen := c.Generation
	st = v1alpha1.CaseStatus{ObservedGeneration: gen, Conditions: append([]metav1.Condition(nil), prev.Conditions...)}
	ec := policy.CaseFrom(c, cal)
	now := metav1.NewTime(in.Now)

	statusQuota := ""
	if in.Team != nil {
		statusQuota = in.Team.Status.Quota
	}
	p := policy.WeighingPolicy(in.Policies, statusQuota)
	w := p.Weigh(ec)
	source := "default weights: no CaseloadQuota selects the team"
	if p != policy.Default {
		source = "CaseloadQuota " + p.QuotaName()
	}
	if c.IsOpen() {
		st.Weight = v1alpha1.Figure(w.Value.String())
		st.WeightBreakdown = fmt.Sprintf("%s (%s)", w.Breakdown, source)
	} else {
		st.Weight = "0"
		st.WeightBreakdown = fmt.Sprintf("closed on %s: a closed case weighs nothing", c.Spec.ClosedOn)
	}

	// Who holds the case, and since when.
	switch lead := c.Spec.AllocatedTo; {
	case lead != "" && lead == prev.Lead && prev.AllocatedSince != nil:
		st.Lead, st.AllocatedSince = lead, prev.AllocatedSince
	case lead != "":
		st.Lead, st.AllocatedSince = lead, &now
	case prev.UnallocatedSince != nil && prev.Lead == "":
		st.UnallocatedSince = prev.UnallocatedSince
	case prev.Lead != "":
		st.UnallocatedSince = &now // it has just lost its lead
	default:
		// Never allocated: it has waited since it opened.
		opened := metav1.NewTime(cal.Start(ec.OpenedOn))
		st.UnallocatedSince = &opened
	}
	if st.UnallocatedSince != nil {
		ec.UnallocatedSince = cal.DayOf(st.UnallocatedSince.Time)
	}

	// Timing, by the strictest quota.
	timing := policy.Set(in.Policies).Timing(ec, day)
	st.DueBy = v1alpha1.Date(timing.DueBy.String())
	st.Overdue = timing.Overdue
	switch {
	case timing.PastAllocationDeadline:
		finding(&st.Conditions, gen, v1alpha1.ConditionOverdue, true, ReasonPastDeadline,
			fmt.Sprintf("unallocated since %s; a %s case may wait at most %s", ec.WaitingSince(), ec.Type, deadlineText(timing.MaxUnallocatedDays)))
	case timing.PastTimescale:
		finding(&st.Conditions, gen, v1alpha1.ConditionOverdue, true, ReasonPastTimescale,
			fmt.Sprintf("open past its timescale: due by %s", timing.DueBy))
	default:
		finding(&st.Conditions, gen, v1alpha1.ConditionOverdue, false, ReasonOnTime, "within its timescale and allocation deadline")
	}
	wasPast := false
	for _, cond := range prev.Conditions {
		if cond.Type == v1alpha1.ConditionOverdue && cond.Reason == ReasonPastDeadline && cond.Status == metav1.ConditionTrue {
			wasPast = true
		}
	}
	deadlinePassed = timing.PastAllocationDeadline && !wasPast

	// An exception admitted above the cap: recorded from the team's ledger, kept until it lapses
	// or the practitioner it took over the cap no longer holds the case.
	st.Exception = prev.Exception
	if in.Team != nil {
		for _, r := range in.Ledger {
			if r.Case == c.Name && r.Exception != nil {
				ex := *r.Exception
				if ex.Practitioner == "" {
					ex.Practitioner = r.Practitioner
				}
				ex.Reason = "" // kept in the exception's ExceptionApproval, for approvers only
				st.Exception = &ex
			}
		}
	}
	if st.Exception == nil {
		st.Exception = restoredException(c, in.Approvals)
	}
	if ex := st.Exception; ex != nil && !policy.ExceptionInForce(ec, *ex, in.Now) {
		st.Exception = nil
	}
	if st.Exception != nil && (next.IsZero() || st.Exception.ExpiresAt.Time.Before(next)) {
		next = st.Exception.ExpiresAt.Time
	}
	if change := cal.Start(timing.NextChange); !change.IsZero() && (next.IsZero() || change.Before(next)) {
		next = change
	}

	if in.Team == nil {
		kstatus(&st.Conditions, gen, ReasonTeamNotFound, "",
			fmt.Sprintf("team %s does not exist in this namespace: create it or change spec.team", c.Spec.Team))
	} else {
		kstatus(&st.Conditions, gen, stalledByZone(in.ZoneProblem), "", in.ZoneProblem)
	}
	return st, deadlinePassed, next
}

// deadlineText says how long a case may wait unallocated, as the strictest policy's timing gives it.
func deadlineText(days int) string {
	if days == 0 {
		return "0 days: it must never be unallocated"
	}
	return words.Count(days, "day")
}

// exceptionRecord is the ExceptionApproval for the exception of ledger entry r on case c,
// named after the case and the moment of approval, so that recording it again changes nothing.
func exceptionRecord(c *v1alpha1.Case, r v1alpha1.Reservation) *v1alpha1.ExceptionApproval {
	ex := *r.Exception
	if ex.Practitioner == "" {
		ex.Practitioner = r.Practitioner
	}
	suffix := "-" + ex.ApprovedAt.UTC().Format("20060102-150405")
	name := c.Name
	if len(name)+len(suffix) > 253 {
		name = strings.TrimRight(name[:253-len(suffix)], ".-")
	}
	return &v1alpha1.ExceptionApproval{
		ObjectMeta: metav1.ObjectMeta{Namespace: c.Namespace, Name: name + suffix},
		Spec:       v1alpha1.ExceptionApprovalSpec{Case: c.Name, CaseException: ex},
	}
}

// mayBeRestored reports whether case c may have been re-created from a backup under an exception
// that still stands: it is held, as it was created (generation 1), and its status records no
// exception. Only for such a case are its ExceptionApprovals read.
func mayBeRestored(c *v1alpha1.Case) bool {
	return c.Generation == 1 && c.Status.Exception == nil && c.IsOpen() && (c.Spec.AllocatedTo != "" || len(c.Spec.CoWorkers) > 0)
}

// restoredException is the exception of a case re-created from a backup (kubectl caseload
// restore, or Velero), which has no ledger entry for it: the latest ExceptionApproval naming the
// case that was approved before this Case object was created, as status shows it (no reason).
// It counts only while the case is as it was created: once the case changes, admission decides
// afresh, so an approval cannot come back for a later allocation. Whether it still stands (in
// date, the practitioner still holding the case) is judged as for any exception.
func restoredException(c *v1alpha1.Case, approvals []v1alpha1.ExceptionApproval) *v1alpha1.CaseException {
	if !mayBeRestored(c) {
		return nil
	}
	var found *v1alpha1.CaseException
	for _, a := range approvals {
		if a.Spec.Case != c.Name || !a.Spec.ApprovedAt.Before(&c.CreationTimestamp) {
			continue
		}
		if found == nil || found.ApprovedAt.Before(&a.Spec.ApprovedAt) {
			ex := a.Spec.CaseException
			ex.Reason = "" // kept in the ExceptionApproval, for approvers only
			found = &ex
		}
	}
	return found
}

// unrecordedExceptions are the exceptions the ledger holds for case c that its status has not
// recorded yet.
func unrecordedExceptions(c *v1alpha1.Case, ledger []v1alpha1.Reservation) []v1alpha1.Reservation {
	var out []v1alpha1.Reservation
	for _, r := range ledger {
		if r.Case == c.Name && r.Exception != nil &&
			(c.Status.Exception == nil || !c.Status.Exception.ApprovedAt.Equal(&r.Exception.ApprovedAt)) {
			out = append(out, r)
		}
	}
	return out
}

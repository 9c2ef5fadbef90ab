package controllers

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/policy"
	"caseload.dev/caseload-operator/internal/words"
)

// practitionerInput is everything a practitioner's status is computed from.
type practitionerInput struct {
	Practitioner policy.Practitioner
	// Holdings include the unexpired reservations of the team's ledger.
	Holdings   []policy.Holding
	Policies   []*policy.Policy
	TeamExists bool
	Now        time.Time
	// Calendar is the council's; ZoneProblem says why it is UTC when its zone is unknown.
	Calendar    policy.Calendar
	ZoneProblem string
}

// practitionerStatus computes a practitioner's status. It returns the status and when it next
// changes with no event (a reduction ending, an absence beginning or ending); zero when nothing
// is due. A practitioner who is away has no capacity: the cases they hold need cover, which is
// not their breach, so they are not OverCapacity (their band is Red while they hold cases).
func practitionerStatus(prev v1alpha1.PractitionerStatus, generation int64, in practitionerInput) (v1alpha1.PractitionerStatus, time.Time) {
	day := in.Calendar.DayOf(in.Now)
	pr := in.Practitioner
	st := v1alpha1.PractitionerStatus{
		ObservedGeneration: generation,
		Conditions:         append([]metav1.Condition(nil), prev.Conditions...),
		Available:          pr.AvailableOn(day),
	}
	ps := policy.Set(in.Policies).Practitioner(policy.Member{Practitioner: pr, Holdings: in.Holdings}, day)
	f := ps.Figures
	st.Cases, st.Children = int32(f.Cases), int32(f.Children)
	st.Weight = v1alpha1.Figure(f.Weight.String())
	away := ps.Away
	if away != "" {
		st.CasesNeedingCover = int32(f.Cases)
	}

	over := ps.OverCapacity
	switch {
	case ps.Capped:
		st.Quota = ps.Policy.QuotaName()
		st.Capacity = v1alpha1.Figure(f.Capacity.String())
		st.Headroom = v1alpha1.SignedFigure(f.Headroom.String())
		st.UtilisationPercent = f.UtilisationPercent
		st.Band = f.Band
		msg := fmt.Sprintf("carries %s of %s (%s)", f.Weight, f.Capacity, ps.Capacity.Explanation)
		switch {
		case away != "":
			finding(&st.Conditions, generation, v1alpha1.ConditionOverCapacity, false, ReasonAway, msg+": the cases held need cover")
		default:
			reason := ReasonWithinCapacity
			if over {
				reason = ReasonOverCapacity
			}
			finding(&st.Conditions, generation, v1alpha1.ConditionOverCapacity, over, reason, msg)
		}
	default:
		finding(&st.Conditions, generation, v1alpha1.ConditionOverCapacity, false, ReasonNoCap,
			fmt.Sprintf("no quota selecting team %s caps grade %s", pr.Team, pr.Grade))
	}
	if away != "" && f.Cases > 0 {
		finding(&st.Conditions, generation, v1alpha1.ConditionNeedsCover, true, ReasonNeedsCover,
			fmt.Sprintf("%s is %s and holds %s that need cover; nothing is reassigned", pr.Name, away, words.Count(f.Cases, "open case")))
	} else {
		finding(&st.Conditions, generation, v1alpha1.ConditionNeedsCover, false, ReasonCovered, "no case held needs cover")
	}
	switch {
	case !over:
		st.OverCapacitySince = nil
	case prev.OverCapacitySince != nil:
		st.OverCapacitySince = prev.OverCapacitySince
	default:
		t := metav1.NewTime(in.Now)
		st.OverCapacitySince = &t
	}

	switch {
	case !in.TeamExists:
		kstatus(&st.Conditions, generation, ReasonTeamNotFound, "",
			fmt.Sprintf("team %s does not exist in this namespace: create it or change spec.team", pr.Team))
	default:
		kstatus(&st.Conditions, generation, stalledByZone(in.ZoneProblem), "", in.ZoneProblem)
	}
	return st, in.Calendar.Start(policy.NextCapacityChange(pr, day))
}

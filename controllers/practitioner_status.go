package controllers

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/policy"
)

// practitionerInput is everything a practitioner's status is computed from.
type practitionerInput struct {
	Practitioner policy.Practitioner
	// Holdings include the unexpired reservations of the team's ledger.
	Holdings   []policy.Holding
	Policies   []*policy.Policy
	TeamExists bool
	Now        time.Time
}

// practitionerStatus computes a practitioner's status. It returns the status and when it next
// changes with no event (a reduction ending); zero when nothing is due.
func practitionerStatus(prev v1alpha1.PractitionerStatus, generation int64, in practitionerInput) (v1alpha1.PractitionerStatus, time.Time) {
	day := policy.DayOf(in.Now)
	st := v1alpha1.PractitionerStatus{
		ObservedGeneration: generation,
		Conditions:         append([]metav1.Condition(nil), prev.Conditions...),
	}
	gov, capped := policy.GoverningForPractitioner(in.Policies, in.Practitioner, in.Holdings, day)
	weigher := gov
	if !capped {
		weigher = policy.Weigher(in.Policies, "")
	}
	load := weigher.LoadOf(in.Holdings)
	st.Cases, st.Children = int32(load.Cases), int32(load.Children)
	st.Weight = v1alpha1.Decimal(load.Weight.String())
	if !in.Practitioner.Available {
		st.CasesNeedingCover = int32(load.Cases)
	}

	over := false
	if capped {
		f := gov.PractitionerFigures(in.Practitioner, in.Holdings, day)
		capacity := gov.CapacityOf(in.Practitioner, day)
		st.Quota = gov.QuotaName()
		st.Capacity = v1alpha1.Decimal(f.Capacity.String())
		st.Headroom = v1alpha1.SignedDecimal(f.Headroom.String())
		st.UtilisationPercent = f.UtilisationPercent
		st.Band = f.Band
		over = f.Weight > f.Capacity
		msg := fmt.Sprintf("carries %s of %s (%s)", f.Weight, f.Capacity, capacity.Explanation)
		reason := ReasonWithinCapacity
		if over {
			reason = ReasonOverCapacity
		}
		finding(&st.Conditions, generation, v1alpha1.ConditionOverCapacity, over, reason, msg)
	} else {
		finding(&st.Conditions, generation, v1alpha1.ConditionOverCapacity, false, ReasonNoCap,
			fmt.Sprintf("no quota selecting team %s caps grade %s", in.Practitioner.Team, in.Practitioner.Grade))
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

	if in.TeamExists {
		kstatus(&st.Conditions, generation, "", "", "")
	} else {
		kstatus(&st.Conditions, generation, ReasonTeamNotFound, "",
			fmt.Sprintf("team %s does not exist in this namespace: create it or change spec.team", in.Practitioner.Team))
	}
	return st, policy.NextReductionChange(in.Practitioner, day)
}

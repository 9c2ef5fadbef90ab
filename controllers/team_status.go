package controllers

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/policy"
	"caseload.dev/caseload-operator/internal/snapshot"
	"caseload.dev/caseload-operator/internal/words"
)

// teamStatus computes a team's status from its snapshot (whose view counts the ledger's
// unexpired reservations). It returns the status and when it next changes with no event: the
// council's next midnight (day counts move on, absences begin and end). zoneProblem, when set,
// is why the council's calendar is UTC.
func teamStatus(prev v1alpha1.TeamStatus, generation int64, s *snapshot.Snapshot, zoneProblem string) (v1alpha1.TeamStatus, time.Time) {
	day := s.Day
	st := v1alpha1.TeamStatus{
		ObservedGeneration: generation,
		Conditions:         append([]metav1.Condition(nil), prev.Conditions...),
	}
	next := s.Calendar.Start(day.AddDays(1))

	// The figures come from the quota that governs the team's capacity; where none caps it,
	// from the quota that weighs its cases, with no capacity. Overdue counts every quota's
	// timescales: the strictest wins.
	tf := policy.Set(s.Policies).Team(s.View, day)
	st.Quota = tf.Policy.QuotaName()
	st.Practitioners = int32(tf.Practitioners)
	st.AvailablePractitioners = int32(tf.AvailablePractitioners)
	st.Cases = int32(tf.Cases)
	st.Children = int32(tf.Children)
	st.Unallocated = int32(tf.Unallocated)
	st.OldestUnallocatedDays = int32(tf.OldestUnallocatedDays)
	st.OverdueCases = int32(tf.OverdueCases)
	st.CasesNeedingCover = int32(tf.CasesNeedingCover)
	st.AvailableFTE = v1alpha1.Figure(tf.TeamCapacity.Load.AvailableFTE.String())
	st.Weight = v1alpha1.Figure(tf.Weight.String())
	if tf.Capped {
		tc := tf.TeamCapacity
		st.OverCapacityPractitioners = int32(tf.OverCapacityPractitioners)
		st.Capacity = v1alpha1.Figure(tf.Capacity.String())
		st.CapacitySource = tc.Source
		st.Headroom = v1alpha1.SignedFigure(tf.Headroom.String())
		st.UtilisationPercent = tf.UtilisationPercent
		st.Band = tf.Band
		over := tf.OverCapacity()
		reason := ReasonWithinCapacity
		if over {
			reason = ReasonOverCapacity
		}
		finding(&st.Conditions, generation, v1alpha1.ConditionOverCapacity, over, reason,
			fmt.Sprintf("team carries %s of %s (%s); %d available practitioners over their capacity", tf.Weight, tf.Capacity, tc.Explanation, tf.OverCapacityPractitioners))
	} else {
		finding(&st.Conditions, generation, v1alpha1.ConditionOverCapacity, false, ReasonNoCap, "no CaseloadQuota selecting this team caps practitioners or the team")
	}
	away := tf.Practitioners - tf.AvailablePractitioners
	if tf.CasesNeedingCover > 0 {
		finding(&st.Conditions, generation, v1alpha1.ConditionNeedsCover, true, ReasonNeedsCover,
			fmt.Sprintf("%s away today hold %s that need cover; nothing is reassigned", words.Count(away, "practitioner"), words.Count(tf.CasesNeedingCover, "open case")))
	} else {
		finding(&st.Conditions, generation, v1alpha1.ConditionNeedsCover, false, ReasonCovered,
			fmt.Sprintf("no open case is held by a practitioner away today (%d away)", away))
	}
	kstatus(&st.Conditions, generation, stalledByZone(zoneProblem), "", zoneProblem)
	return st, next
}

// stalledByZone is the Stalled reason for an unknown time zone, empty when there is none.
func stalledByZone(problem string) string {
	if problem == "" {
		return ""
	}
	return ReasonUnknownTimeZone
}

// teamAudits computes every selecting quota's audit of the team, keyed by quota.
func teamAudits(s *snapshot.Snapshot) map[types.NamespacedName]TeamAudit {
	out := map[types.NamespacedName]TeamAudit{}
	for i, q := range s.Quotas {
		key := types.NamespacedName{Namespace: q.Namespace, Name: q.Name}
		p := policyFor(s, i)
		if p == nil {
			out[key] = TeamAudit{Generation: q.Generation, Practitioners: len(s.View.Members)}
			continue
		}
		tf := p.TeamFiguresOf(s.View, s.Day)
		out[key] = TeamAudit{
			Generation:    q.Generation,
			Practitioners: len(s.View.Members),
			Weight:        tf.Weight,
			Capped:        tf.Capped,
			Capacity:      tf.Capacity,
			Findings:      p.Audit(s.View, s.Day),
		}
	}
	return out
}

// policyFor is the parsed policy of the snapshot's i-th quota, nil when it did not parse.
func policyFor(s *snapshot.Snapshot, i int) *policy.Policy {
	name := s.Quotas[i].Namespace + "/" + s.Quotas[i].Name
	for _, p := range s.Policies {
		if p.Name == name {
			return p
		}
	}
	return nil
}

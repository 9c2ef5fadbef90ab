package controllers

import (
	"fmt"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/policy"
	"caseload.dev/caseload-operator/internal/words"
)

// maxListedViolations is how many violations a quota's status lists; the count covers them all.
const maxListedViolations = 20

// quotaStatus adds up a quota's audits of the teams it selects. invalid is the reason the spec
// cannot be applied (empty when it can); teams are the names of the selected teams.
func quotaStatus(q *v1alpha1.CaseloadQuota, invalid string, teams []string, audits map[string]TeamAudit) v1alpha1.CaseloadQuotaStatus {
	prev := q.Status
	gen := q.Generation
	st := v1alpha1.CaseloadQuotaStatus{ObservedGeneration: gen, Conditions: append([]metav1.Condition(nil), prev.Conditions...)}
	if invalid != "" {
		st.Teams = int32(len(teams))
		kstatus(&st.Conditions, gen, ReasonInvalidPolicy, "", invalid)
		return st
	}

	var findings []policy.Finding
	var weight, capacity policy.Milli
	capped := false
	waiting := 0
	sort.Strings(teams)
	for _, t := range teams {
		a, ok := audits[t]
		if !ok || a.Generation != gen {
			waiting++
			continue
		}
		st.Practitioners += int32(a.Practitioners)
		weight += a.Weight
		capacity += a.Capacity
		capped = capped || a.Capped
		findings = append(findings, a.Findings...)
	}
	st.Teams = int32(len(teams))
	if waiting > 0 {
		// Keep the figures managers read until every team has been audited under this spec.
		st = prev
		st.Teams = int32(len(teams))
		st.Conditions = append([]metav1.Condition(nil), prev.Conditions...)
		kstatus(&st.Conditions, gen, "", ReasonWaitingForAudits, fmt.Sprintf("waiting for %d of %s to be audited", waiting, words.Count(len(teams), "team")))
		return st
	}

	policy.SortFindings(findings)
	st.Totals = v1alpha1.QuotaTotals{Weight: v1alpha1.Figure(weight.String())}
	if capped {
		st.Totals.Capacity = v1alpha1.Figure(capacity.String())
		st.Totals.Headroom = v1alpha1.SignedFigure((capacity - weight).String())
	}
	st.Violations = int32(len(findings))
	for i, f := range findings {
		if i == maxListedViolations {
			break
		}
		st.ViolationList = append(st.ViolationList, v1alpha1.Violation{Kind: f.Kind, Name: f.Name, Rule: f.Rule, Message: f.Message})
	}
	if len(findings) > 0 {
		finding(&st.Conditions, gen, v1alpha1.ConditionPolicyViolated, true, ReasonViolationsFound,
			fmt.Sprintf("%s across %s (enforcementAction %s)", words.Count(len(findings), "violation"), words.Count(len(teams), "team"), enforcement(q)))
	} else {
		finding(&st.Conditions, gen, v1alpha1.ConditionPolicyViolated, false, ReasonNoViolations, fmt.Sprintf("no violations across %s", words.Count(len(teams), "team")))
	}
	kstatus(&st.Conditions, gen, "", "", "")
	return st
}

func enforcement(q *v1alpha1.CaseloadQuota) v1alpha1.EnforcementAction {
	if q.Spec.EnforcementAction == "" {
		return v1alpha1.EnforcementDeny
	}
	return q.Spec.EnforcementAction
}

// violationsByRule counts findings per rule, for metrics; never nil.
func violationsByRule(audits map[string]TeamAudit) map[string]int {
	out := map[string]int{}
	for _, a := range audits {
		for _, f := range a.Findings {
			out[f.Rule]++
		}
	}
	return out
}

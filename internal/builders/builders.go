// Package builders makes the objects of a test council in a line each: a Team, its
// Practitioners, their Cases and the CaseloadQuotas that govern them, as a manager would write
// them in git. Each Make function starts an object with the fields every valid one has; each
// method sets one field and returns the builder; Obj returns the object.
//
//	builders.MakeCase("c-1").Team("north").Type("ChildProtection").Lead("ada").Obj()
//
// Only tests import this package: the manager, the webhook and the plugin never link it.
package builders

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

// ServiceLabel is the label the sample quotas select teams by.
const ServiceLabel = "caseload.dev/service"

// TeamWrapper builds a Team.
type TeamWrapper struct{ v1alpha1.Team }

// MakeTeam starts a Team with no labels, no members and no status.
func MakeTeam(name string) *TeamWrapper {
	return &TeamWrapper{v1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Name: name}}}
}

// Obj returns the Team built so far.
func (w *TeamWrapper) Obj() *v1alpha1.Team { return &w.Team }

// Namespace puts the team in a council's namespace.
func (w *TeamWrapper) Namespace(ns string) *TeamWrapper { w.ObjectMeta.Namespace = ns; return w }

// Label sets a label, which quotas select teams by.
func (w *TeamWrapper) Label(key, value string) *TeamWrapper {
	if w.Labels == nil {
		w.Labels = map[string]string{}
	}
	w.Labels[key] = value
	return w
}

// Service sets spec.service and the caseload.dev/service label a quota selects it by (e.g.
// "safeguarding" for the label, "Child protection" for the text).
func (w *TeamWrapper) Service(label, text string) *TeamWrapper {
	w.Spec.Service = text
	return w.Label(ServiceLabel, label)
}

// DisplayName sets spec.displayName.
func (w *TeamWrapper) DisplayName(name string) *TeamWrapper { w.Spec.DisplayName = name; return w }

// StatusQuota records in status the quota whose figures the team shows.
func (w *TeamWrapper) StatusQuota(quota string) *TeamWrapper { w.Status.Quota = quota; return w }

// PractitionerWrapper builds a Practitioner.
type PractitionerWrapper struct{ v1alpha1.Practitioner }

// MakePractitioner starts a full-time practitioner of a team and grade, available, with no
// reductions or absences.
func MakePractitioner(name, team, grade string) *PractitionerWrapper {
	return &PractitionerWrapper{v1alpha1.Practitioner{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       v1alpha1.PractitionerSpec{Team: team, Grade: grade},
	}}
}

// Obj returns the Practitioner built so far.
func (w *PractitionerWrapper) Obj() *v1alpha1.Practitioner { return &w.Practitioner }

// Namespace puts the practitioner in a council's namespace.
func (w *PractitionerWrapper) Namespace(ns string) *PractitionerWrapper {
	w.ObjectMeta.Namespace = ns
	return w
}

// FTE sets the practitioner's full-time equivalent, e.g. "0.6".
func (w *PractitionerWrapper) FTE(fte string) *PractitionerWrapper { w.Spec.FTE = fte; return w }

// Unavailable records the practitioner as on leave or absent with no dates (available: false).
func (w *PractitionerWrapper) Unavailable() *PractitionerWrapper {
	no := false
	w.Spec.Available = &no
	return w
}

// Reduction adds a reduction of capacity; until is a date, or "" for one with no end.
func (w *PractitionerWrapper) Reduction(reason v1alpha1.ReductionReason, percent int32, until string) *PractitionerWrapper {
	w.Spec.Reductions = append(w.Spec.Reductions, v1alpha1.Reduction{Reason: reason, Percent: percent, Until: v1alpha1.Date(until)})
	return w
}

// Absence adds an absence from a date; until is its last day, or "" while its end is unknown.
func (w *PractitionerWrapper) Absence(reason v1alpha1.AbsenceReason, from, until string) *PractitionerWrapper {
	w.Spec.Absences = append(w.Spec.Absences, v1alpha1.Absence{Reason: reason, From: v1alpha1.Date(from), Until: v1alpha1.Date(until)})
	return w
}

// MaxWeight sets the manager's personal ceiling for the practitioner.
func (w *PractitionerWrapper) MaxWeight(max string) *PractitionerWrapper {
	d := v1alpha1.Decimal(max)
	w.Spec.MaxWeight = &d
	return w
}

// Generation sets metadata.generation, as the apiserver counts changes of the spec.
func (w *PractitionerWrapper) Generation(g int64) *PractitionerWrapper {
	w.ObjectMeta.Generation = g
	return w
}

// CaseWrapper builds a Case.
type CaseWrapper struct{ v1alpha1.Case }

// MakeCase starts an open, unallocated case of one child with standard complexity, and a
// pseudonymous reference made from its name. Set its team, type and opening date.
func MakeCase(name string) *CaseWrapper {
	return &CaseWrapper{v1alpha1.Case{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       v1alpha1.CaseSpec{Reference: "LCS-" + name, Children: 1},
	}}
}

// Obj returns the Case built so far.
func (w *CaseWrapper) Obj() *v1alpha1.Case { return &w.Case }

// Namespace puts the case in a council's namespace.
func (w *CaseWrapper) Namespace(ns string) *CaseWrapper { w.ObjectMeta.Namespace = ns; return w }

// Team sets the team the case belongs to.
func (w *CaseWrapper) Team(team string) *CaseWrapper { w.Spec.Team = team; return w }

// Type sets the case type, e.g. ChildProtection.
func (w *CaseWrapper) Type(typ string) *CaseWrapper { w.Spec.Type = typ; return w }

// Complexity sets the case's complexity.
func (w *CaseWrapper) Complexity(c v1alpha1.Complexity) *CaseWrapper { w.Spec.Complexity = c; return w }

// Children sets how many children the case covers (a sibling group is one case).
func (w *CaseWrapper) Children(n int32) *CaseWrapper { w.Spec.Children = n; return w }

// OpenedOn sets the date the case opened.
func (w *CaseWrapper) OpenedOn(day string) *CaseWrapper {
	w.Spec.OpenedOn = v1alpha1.Date(day)
	return w
}

// ClosedOn closes the case on a date.
func (w *CaseWrapper) ClosedOn(day string) *CaseWrapper {
	w.Spec.ClosedOn = v1alpha1.Date(day)
	return w
}

// Lead allocates the case to a practitioner as its lead.
func (w *CaseWrapper) Lead(practitioner string) *CaseWrapper {
	w.Spec.AllocatedTo = practitioner
	return w
}

// CoWorkers names the case's co-workers.
func (w *CaseWrapper) CoWorkers(practitioners ...string) *CaseWrapper {
	w.Spec.CoWorkers = practitioners
	return w
}

// ExceptionReason asks for an allocation above the cap, with the manager's reason.
func (w *CaseWrapper) ExceptionReason(reason string) *CaseWrapper {
	if w.Annotations == nil {
		w.Annotations = map[string]string{}
	}
	w.Annotations[v1alpha1.ExceptionReasonAnnotation] = reason
	return w
}

// UID sets metadata.uid, as the apiserver gives it.
func (w *CaseWrapper) UID(uid string) *CaseWrapper { w.ObjectMeta.UID = types.UID(uid); return w }

// Generation sets metadata.generation, as the apiserver counts changes of the spec.
func (w *CaseWrapper) Generation(g int64) *CaseWrapper { w.ObjectMeta.Generation = g; return w }

// Created sets the moment the apiserver created the object.
func (w *CaseWrapper) Created(t time.Time) *CaseWrapper {
	w.CreationTimestamp = metav1.NewTime(t)
	return w
}

// StatusLead records in status who has led the case since when.
func (w *CaseWrapper) StatusLead(practitioner string, since time.Time) *CaseWrapper {
	t := metav1.NewTime(since)
	w.Status.Lead, w.Status.AllocatedSince = practitioner, &t
	return w
}

// StatusUnallocatedSince records in status since when the case has waited for a worker.
func (w *CaseWrapper) StatusUnallocatedSince(since time.Time) *CaseWrapper {
	t := metav1.NewTime(since)
	w.Status.UnallocatedSince = &t
	return w
}

// StatusException records in status an exception admitted above the cap.
func (w *CaseWrapper) StatusException(ex v1alpha1.CaseException) *CaseWrapper {
	w.Status.Exception = &ex
	return w
}

// QuotaWrapper builds a CaseloadQuota.
type QuotaWrapper struct{ v1alpha1.CaseloadQuota }

// MakeQuota starts an enforcing quota that selects every team of its namespace, weighs every
// case 1 and caps nothing.
func MakeQuota(name string) *QuotaWrapper {
	return &QuotaWrapper{v1alpha1.CaseloadQuota{ObjectMeta: metav1.ObjectMeta{Name: name}}}
}

// Obj returns the CaseloadQuota built so far.
func (w *QuotaWrapper) Obj() *v1alpha1.CaseloadQuota { return &w.CaseloadQuota }

// Namespace puts the quota in a council's namespace.
func (w *QuotaWrapper) Namespace(ns string) *QuotaWrapper { w.ObjectMeta.Namespace = ns; return w }

// Generation sets metadata.generation, as the apiserver counts changes of the spec.
func (w *QuotaWrapper) Generation(g int64) *QuotaWrapper { w.ObjectMeta.Generation = g; return w }

// SelectService selects the teams labelled with a service (see TeamWrapper.Service).
func (w *QuotaWrapper) SelectService(label string) *QuotaWrapper {
	return w.Select(ServiceLabel, label)
}

// Select selects the teams with a label.
func (w *QuotaWrapper) Select(key, value string) *QuotaWrapper {
	if w.Spec.TeamSelector == nil {
		w.Spec.TeamSelector = &metav1.LabelSelector{MatchLabels: map[string]string{}}
	}
	w.Spec.TeamSelector.MatchLabels[key] = value
	return w
}

// Action sets spec.enforcementAction: Deny, Warn or DryRun.
func (w *QuotaWrapper) Action(a v1alpha1.EnforcementAction) *QuotaWrapper {
	w.Spec.EnforcementAction = a
	return w
}

// Weigh sets the weight of a case type.
func (w *QuotaWrapper) Weigh(caseType, weight string) *QuotaWrapper {
	if w.Spec.Weights.CaseTypes == nil {
		w.Spec.Weights.CaseTypes = map[string]v1alpha1.CaseWeight{}
	}
	w.Spec.Weights.CaseTypes[caseType] = v1alpha1.CaseWeight(weight)
	return w
}

// DefaultWeight sets the weight of a case whose type is not listed.
func (w *QuotaWrapper) DefaultWeight(weight string) *QuotaWrapper {
	w.Spec.Weights.Default = v1alpha1.CaseWeight(weight)
	return w
}

// ComplexityMultiplier sets what a complexity level multiplies a case's weight by.
func (w *QuotaWrapper) ComplexityMultiplier(level, multiplier string) *QuotaWrapper {
	if w.Spec.Weights.Complexity == nil {
		w.Spec.Weights.Complexity = map[string]v1alpha1.Multiplier{}
	}
	w.Spec.Weights.Complexity[level] = v1alpha1.Multiplier(multiplier)
	return w
}

// AdditionalChild sets the weight added per child beyond the first.
func (w *QuotaWrapper) AdditionalChild(weight string) *QuotaWrapper {
	w.Spec.Weights.AdditionalChild = v1alpha1.CaseWeight(weight)
	return w
}

// CoWorkerShare sets the share of a case's weight each co-worker carries.
func (w *QuotaWrapper) CoWorkerShare(share string) *QuotaWrapper {
	w.Spec.Weights.CoWorkerShare = v1alpha1.Decimal(share)
	return w
}

// Cap caps a grade at a weight; the grade may hold the excluded case types only as a co-worker.
func (w *QuotaWrapper) Cap(grade, maxWeight string, excluded ...string) *QuotaWrapper {
	w.Spec.PractitionerCaps = append(w.Spec.PractitionerCaps, v1alpha1.PractitionerCap{
		Grade: grade, MaxWeight: v1alpha1.Decimal(maxWeight), ExcludedCaseTypes: excluded,
	})
	return w
}

// MaxCases caps the number of cases of a grade already capped with Cap.
func (w *QuotaWrapper) MaxCases(grade string, n int32) *QuotaWrapper {
	for i := range w.Spec.PractitionerCaps {
		if w.Spec.PractitionerCaps[i].Grade == grade {
			w.Spec.PractitionerCaps[i].MaxCases = &n
			return w
		}
	}
	panic("builders: MaxCases for grade " + grade + " before its Cap")
}

// TeamMaxWeight caps the sum of the team's weights.
func (w *QuotaWrapper) TeamMaxWeight(max string) *QuotaWrapper {
	d := v1alpha1.Decimal(max)
	w.teamCap().MaxWeight = &d
	return w
}

// TeamMaxAveragePerFTE caps the team's weight per available FTE.
func (w *QuotaWrapper) TeamMaxAveragePerFTE(max string) *QuotaWrapper {
	d := v1alpha1.Decimal(max)
	w.teamCap().MaxAveragePerFTE = &d
	return w
}

func (w *QuotaWrapper) teamCap() *v1alpha1.TeamCap {
	if w.Spec.TeamCap == nil {
		w.Spec.TeamCap = &v1alpha1.TeamCap{}
	}
	return w.Spec.TeamCap
}

// Bands sets the amber and red thresholds, in percent of capacity.
func (w *QuotaWrapper) Bands(amber, red int32) *QuotaWrapper {
	w.Spec.Bands = v1alpha1.Bands{AmberPercent: amber, RedPercent: red}
	return w
}

// Exceptions allows approved allocations up to maxPercent of the cap, for maxDays.
func (w *QuotaWrapper) Exceptions(maxPercent, maxDays int32) *QuotaWrapper {
	w.Spec.Exceptions = &v1alpha1.Exceptions{MaxPercent: maxPercent, MaxDays: maxDays}
	return w
}

// Timescale sets how long a case of a type may stay open before it is overdue.
func (w *QuotaWrapper) Timescale(caseType string, maxOpenDays int32) *QuotaWrapper {
	if w.Spec.Timescales == nil {
		w.Spec.Timescales = map[string]v1alpha1.Timescale{}
	}
	w.Spec.Timescales[caseType] = v1alpha1.Timescale{MaxOpenDays: maxOpenDays}
	return w
}

// AllocationDeadline sets how long a case of a type may wait for a worker (0: never).
func (w *QuotaWrapper) AllocationDeadline(caseType string, maxUnallocatedDays int32) *QuotaWrapper {
	if w.Spec.AllocationDeadlines == nil {
		w.Spec.AllocationDeadlines = map[string]v1alpha1.AllocationDeadline{}
	}
	w.Spec.AllocationDeadlines[caseType] = v1alpha1.AllocationDeadline{MaxUnallocatedDays: maxUnallocatedDays}
	return w
}

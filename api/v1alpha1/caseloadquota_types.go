package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// EnforcementAction says what admission does with an allocation that breaks the quota.
// +kubebuilder:validation:Enum=Deny;Warn;DryRun
type EnforcementAction string

const (
	// EnforcementDeny refuses the allocation.
	EnforcementDeny EnforcementAction = "Deny"
	// EnforcementWarn admits it and returns admission warnings, which kubectl prints.
	EnforcementWarn EnforcementAction = "Warn"
	// EnforcementDryRun admits it silently; the quota's status records the violation.
	EnforcementDryRun EnforcementAction = "DryRun"
)

// Weights say how much each case counts towards a caseload.
// Case weight = caseTypes[type] (or default) x complexity[level] (x 1 for a level not listed)
// + additionalChild x (children - 1).
type Weights struct {
	// caseTypes maps a case type to its weight, e.g. ChildProtection: "1.5".
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^[A-Za-z][A-Za-z0-9]{0,62}$'))",message="case types are names of letters and digits, such as ChildProtection"
	CaseTypes map[string]CaseWeight `json:"caseTypes,omitempty"`

	// default is the weight of a case whose type caseTypes does not list.
	// +optional
	// +kubebuilder:default="1"
	Default CaseWeight `json:"default,omitempty"`

	// complexity maps a complexity level (Low, Standard, High) to a multiplier.
	// +optional
	// +kubebuilder:validation:MaxProperties=3
	// +kubebuilder:validation:XValidation:rule="self.all(k, k in ['Low', 'Standard', 'High'])",message="complexity levels are Low, Standard and High"
	Complexity map[string]Multiplier `json:"complexity,omitempty"`

	// additionalChild is added to a case's weight for each child beyond the first.
	// +optional
	AdditionalChild CaseWeight `json:"additionalChild,omitempty"`

	// coWorkerShare is the share of a case's weight that each co-worker carries, from 0 to 1;
	// the lead always carries all of it.
	// +optional
	// +kubebuilder:default="0.5"
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0([.][0-9]{1,3})?|1([.]0{1,3})?)$')",message="coWorkerShare is a share from 0 to 1, such as \"0.5\""
	CoWorkerShare Decimal `json:"coWorkerShare,omitempty"`
}

// PractitionerCap is the policy's ceiling for one grade.
type PractitionerCap struct {
	// grade is the Practitioner spec.grade this cap covers.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9]*$`
	Grade string `json:"grade"`

	// maxWeight is the weighted caseload a full-time practitioner of this grade may carry.
	// +required
	MaxWeight Decimal `json:"maxWeight"`

	// maxCases optionally caps the raw number of open cases held, whatever their weight.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MaxCases *int32 `json:"maxCases,omitempty"`

	// excludedCaseTypes are case types this grade may hold only as a co-worker, never as lead.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=63
	ExcludedCaseTypes []string `json:"excludedCaseTypes,omitempty"`
}

// TeamCap is the policy's ceiling for a whole team.
type TeamCap struct {
	// maxWeight caps the sum of the members' weights.
	// +optional
	MaxWeight *Decimal `json:"maxWeight,omitempty"`

	// maxAveragePerFTE caps the sum of the members' weights divided by the sum of their FTE.
	// +optional
	MaxAveragePerFTE *Decimal `json:"maxAveragePerFTE,omitempty"`
}

// Bands set the thresholds of the Green, Amber and Red bands as percentages of capacity.
// +kubebuilder:validation:XValidation:rule="self.amberPercent <= self.redPercent",message="amberPercent cannot be above redPercent"
type Bands struct {
	// amberPercent is where Amber starts.
	// +optional
	// +kubebuilder:default=90
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	AmberPercent int32 `json:"amberPercent,omitempty"`

	// redPercent is the top of Amber: above it is Red.
	// +optional
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	RedPercent int32 `json:"redPercent,omitempty"`
}

// Exceptions let a manager allocate above the cap, within limits.
// +kubebuilder:validation:XValidation:rule="self.maxPercent == 0 || self.maxPercent >= 100",message="maxPercent is 0 (no exceptions) or at least 100, a percentage of the cap"
type Exceptions struct {
	// maxPercent is the highest percentage of capacity an exception may reach, e.g. 120;
	// 0 means no exceptions.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=200
	MaxPercent int32 `json:"maxPercent"`

	// maxDays is how long an exception lasts before the allocation must come back within the cap.
	// +optional
	// +kubebuilder:default=28
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=366
	MaxDays int32 `json:"maxDays,omitempty"`
}

// Timescale is how long a case of one type may stay open.
type Timescale struct {
	// maxOpenDays is how many days a case may stay open; longer is overdue.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=7300
	MaxOpenDays int32 `json:"maxOpenDays"`
}

// AllocationDeadline is how long a case of one type may wait for a practitioner.
type AllocationDeadline struct {
	// maxUnallocatedDays is how many days a case may stay unallocated; 0 means never.
	// +required
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=365
	MaxUnallocatedDays int32 `json:"maxUnallocatedDays"`
}

// CaseloadQuotaSpec is a council's caseload policy for the teams it selects.
type CaseloadQuotaSpec struct {
	// teamSelector selects the Teams in this namespace the quota applies to; empty selects all.
	// Every quota that selects a team must hold: the strictest wins.
	// +optional
	TeamSelector *metav1.LabelSelector `json:"teamSelector,omitempty"`

	// enforcementAction is Deny (refuse breaching allocations), Warn (admit with a warning) or
	// DryRun (admit silently and record the violation in status).
	// +optional
	// +kubebuilder:default=Deny
	EnforcementAction EnforcementAction `json:"enforcementAction,omitempty"`

	// weights say how much each case counts.
	// +optional
	Weights Weights `json:"weights,omitempty"`

	// practitionerCaps are ceilings per grade. A quota with practitionerCaps covers the grades it
	// lists: a grade it does not list gets no new allocations under it. A quota without
	// practitionerCaps caps only teams.
	// +optional
	// +listType=map
	// +listMapKey=grade
	// +kubebuilder:validation:MaxItems=32
	PractitionerCaps []PractitionerCap `json:"practitionerCaps,omitempty"`

	// teamCap caps whole teams.
	// +optional
	TeamCap *TeamCap `json:"teamCap,omitempty"`

	// bands set the Amber and Red thresholds.
	// +optional
	// +kubebuilder:default={amberPercent: 90, redPercent: 100}
	Bands Bands `json:"bands,omitempty"`

	// exceptions let a manager allocate above the cap, within limits.
	// +optional
	Exceptions *Exceptions `json:"exceptions,omitempty"`

	// timescales map a case type to how long it may stay open.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Timescales map[string]Timescale `json:"timescales,omitempty"`

	// allocationDeadlines map a case type to how long it may wait unallocated.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	AllocationDeadlines map[string]AllocationDeadline `json:"allocationDeadlines,omitempty"`
}

// Violation is one finding of a quota's audit.
type Violation struct {
	// kind is the kind of the object in breach: Practitioner, Team or Case.
	// +required
	Kind string `json:"kind"`

	// name is the name of the object in breach.
	// +required
	Name string `json:"name"`

	// rule is the rule broken, e.g. practitionerCaps.maxWeight or allocationDeadlines.
	// +required
	Rule string `json:"rule"`

	// message gives the figures, e.g. "jo-bloggs carries 17.5 of 15 (SocialWorker cap 15 x FTE 1)".
	// +required
	Message string `json:"message"`
}

// QuotaTotals are the figures over every team a quota selects.
type QuotaTotals struct {
	// weight is the sum of the selected teams' weights under this quota.
	// +optional
	Weight Figure `json:"weight,omitempty"`

	// capacity is the sum of the selected teams' capacities under this quota; empty when the
	// quota caps neither practitioners nor teams (only timescales or deadlines).
	// +optional
	Capacity Figure `json:"capacity,omitempty"`

	// headroom is capacity minus weight; empty with capacity.
	// +optional
	Headroom SignedFigure `json:"headroom,omitempty"`
}

// CaseloadQuotaStatus is the quota's audit as the operator last ran it.
type CaseloadQuotaStatus struct {
	// observedGeneration is the generation of the spec this status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// teams is the number of Teams the quota selects.
	// +optional
	Teams int32 `json:"teams"`

	// practitioners is the number of Practitioners in those teams.
	// +optional
	Practitioners int32 `json:"practitioners"`

	// totals are the figures over the selected teams.
	// +optional
	Totals QuotaTotals `json:"totals,omitempty"`

	// violations is the number of findings, whatever the enforcementAction.
	// +optional
	Violations int32 `json:"violations"`

	// violationList is the first 20 findings, sorted by kind, name and rule.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	ViolationList []Violation `json:"violationList,omitempty"`

	// conditions are Ready, Reconciling, Stalled and PolicyViolated.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// CaseloadQuota is a caseload policy kept in git: weights, caps per grade and per team, bands,
// exceptions, timescales and allocation deadlines for the Teams it selects.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=clq,categories=caseload
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.enforcementAction`
// +kubebuilder:printcolumn:name="Teams",type=integer,JSONPath=`.status.teams`
// +kubebuilder:printcolumn:name="Violations",type=integer,JSONPath=`.status.violations`
// +kubebuilder:printcolumn:name="Weight",type=string,JSONPath=`.status.totals.weight`,priority=1
// +kubebuilder:printcolumn:name="Capacity",type=string,JSONPath=`.status.totals.capacity`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type CaseloadQuota struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the object's metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the policy.
	// +required
	Spec CaseloadQuotaSpec `json:"spec"`

	// status is the quota's audit as the operator last ran it.
	// +optional
	Status CaseloadQuotaStatus `json:"status,omitempty"`
}

// CaseloadQuotaList is a list of CaseloadQuotas.
// +kubebuilder:object:root=true
type CaseloadQuotaList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []CaseloadQuota `json:"items"`
}

func init() {
	SchemeBuilder.Register(&CaseloadQuota{}, &CaseloadQuotaList{})
}

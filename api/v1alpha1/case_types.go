package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Complexity scales a case's weight by the quota's complexity multipliers.
// +kubebuilder:validation:Enum=Low;Standard;High
type Complexity string

const (
	ComplexityLow      Complexity = "Low"
	ComplexityStandard Complexity = "Standard"
	ComplexityHigh     Complexity = "High"
)

// The bounds of a Case's spec that tools check before the apiserver does (the importer checks
// every row of an extract against them, so that a file is judged whole before anything is
// written). The kubebuilder markers on CaseSpec cannot name Go constants: a test holds these
// to the generated CRD.
const (
	// ReferencePattern is the shape of spec.reference, a pseudonymous token.
	ReferencePattern = `^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`
	// TypePattern is the shape of spec.type (at most MaxTypeLength), and of a grade.
	TypePattern   = `^[A-Za-z][A-Za-z0-9]*$`
	MaxTypeLength = 63
	// MinChildren and MaxChildren bound spec.children.
	MinChildren = 1
	MaxChildren = 20
)

// CaseSpec describes a case by pseudonymous reference only. The API has no field for a name,
// an address, a date of birth or any health detail, and the schema prunes or (with kubectl's
// strict field validation) rejects any field it does not define.
// +kubebuilder:validation:XValidation:rule="!has(self.closedOn) || self.closedOn >= self.openedOn",message="closedOn cannot be before openedOn"
// +kubebuilder:validation:XValidation:rule="!has(self.allocatedTo) || !has(self.coWorkers) || !(self.allocatedTo in self.coWorkers)",message="the allocated practitioner cannot also be a co-worker of the same case"
type CaseSpec struct {
	// reference is the pseudonymous token of the case in the council's case-management system.
	// It is never a name, an address or a date of birth, and it cannot change.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$')",message="reference must be a pseudonymous token of letters, digits, '.', '_' or '-' (at most 63, starting with a letter or digit), never a name"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="reference cannot change: create a new Case instead"
	Reference string `json:"reference"`

	// team is the name of the Team that owns the case, in the same namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Team string `json:"team"`

	// type is the kind of case, weighed by the quota's weights.caseTypes, e.g. ChildInNeed,
	// ChildProtection, LookedAfter, CareProceedings, CareLeaver, EarlyHelp, AdultAssessment,
	// AdultReview or AdultSafeguarding.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9]*$`
	Type string `json:"type"`

	// complexity is Low, Standard or High.
	// +optional
	// +kubebuilder:default=Standard
	Complexity Complexity `json:"complexity,omitempty"`

	// children is the number of children in the case: a sibling group is one case.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=20
	Children int32 `json:"children,omitempty"`

	// openedOn is the day the case was opened.
	// +required
	OpenedOn Date `json:"openedOn"`

	// closedOn is the day the case was closed. A closed case weighs nothing.
	// +optional
	ClosedOn Date `json:"closedOn,omitempty"`

	// allocatedTo is the name of the lead Practitioner; empty means unallocated.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	AllocatedTo string `json:"allocatedTo,omitempty"`

	// coWorkers are the names of Practitioners who co-work the case.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=5
	// +kubebuilder:validation:items:MaxLength=253
	CoWorkers []string `json:"coWorkers,omitempty"`
}

// CaseException records an allocation admitted above the cap by a manager's exception.
type CaseException struct {
	// practitioner is the Practitioner the exception took above the cap. The exception ends
	// when they no longer hold the case.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Practitioner string `json:"practitioner,omitempty"`

	// approvedBy is the user whose request carried the exception.
	// +required
	ApprovedBy string `json:"approvedBy"`

	// reason is the manager's reason, from the caseload.dev/exception-reason annotation. The
	// allocation ledger and the ExceptionApproval keep it; a Case's status.exception never
	// shows it.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Reason string `json:"reason,omitempty"`

	// approvedAt is when the exception was admitted.
	// +required
	ApprovedAt metav1.Time `json:"approvedAt"`

	// expiresAt is when the exception lapses (exceptions.maxDays after approval).
	// +required
	ExpiresAt metav1.Time `json:"expiresAt"`
}

// CaseStatus is the case's weight and timing as the operator last computed them.
type CaseStatus struct {
	// observedGeneration is the generation of the spec this status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// weight is the case's weight under the quota that governs its team.
	// +optional
	Weight Figure `json:"weight,omitempty"`

	// weightBreakdown says how the weight was computed, e.g.
	// "ChildProtection 1.5 x High 1.5 + 2 more children x 0.5 = 3.25 (CaseloadQuota walsall)".
	// +optional
	// +kubebuilder:validation:MaxLength=512
	WeightBreakdown string `json:"weightBreakdown,omitempty"`

	// lead is the practitioner that allocatedSince refers to.
	// +optional
	Lead string `json:"lead,omitempty"`

	// allocatedSince is when the current lead was allocated.
	// +optional
	AllocatedSince *metav1.Time `json:"allocatedSince,omitempty"`

	// unallocatedSince is when the case was last left without a lead.
	// +optional
	UnallocatedSince *metav1.Time `json:"unallocatedSince,omitempty"`

	// dueBy is the day the case's timescale ends.
	// +optional
	DueBy Date `json:"dueBy,omitempty"`

	// overdue is true when the case is open past dueBy, or unallocated past its deadline.
	// +optional
	Overdue bool `json:"overdue"`

	// exception records an allocation admitted above the cap, while it lasts.
	// +optional
	Exception *CaseException `json:"exception,omitempty"`

	// conditions are Ready, Reconciling, Stalled and Overdue.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Case is one piece of work held by a team, known by pseudonymous reference only.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=caseload
// +kubebuilder:selectablefield:JSONPath=`.spec.team`
// +kubebuilder:printcolumn:name="Reference",type=string,JSONPath=`.spec.reference`,priority=1
// +kubebuilder:printcolumn:name="Team",type=string,JSONPath=`.spec.team`
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Complexity",type=string,JSONPath=`.spec.complexity`,priority=1
// +kubebuilder:printcolumn:name="Children",type=integer,JSONPath=`.spec.children`,priority=1
// +kubebuilder:printcolumn:name="Allocated",type=string,JSONPath=`.spec.allocatedTo`
// +kubebuilder:printcolumn:name="Weight",type=string,JSONPath=`.status.weight`
// +kubebuilder:printcolumn:name="Due",type=string,JSONPath=`.status.dueBy`
// +kubebuilder:printcolumn:name="Overdue",type=boolean,JSONPath=`.status.overdue`
// +kubebuilder:printcolumn:name="Closed",type=string,JSONPath=`.spec.closedOn`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Case struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the object's metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec describes the case.
	// +required
	Spec CaseSpec `json:"spec"`

	// status is the case's weight and timing as the operator last computed them.
	// +optional
	Status CaseStatus `json:"status,omitempty"`
}

// IsOpen reports whether the case has no closedOn date.
func (c *Case) IsOpen() bool { return c.Spec.ClosedOn == "" }

// CaseList is a list of Cases.
// +kubebuilder:object:root=true
type CaseList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Case `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Case{}, &CaseList{})
}

package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ReductionReason is the category of a capacity reduction. It is a category only, never a
// diagnosis or any other health detail.
// +kubebuilder:validation:Enum=NewlyQualified;PhasedReturn;TradeUnion;ReasonableAdjustment;Secondment;Other
type ReductionReason string

const (
	ReductionNewlyQualified       ReductionReason = "NewlyQualified"
	ReductionPhasedReturn         ReductionReason = "PhasedReturn"
	ReductionTradeUnion           ReductionReason = "TradeUnion"
	ReductionReasonableAdjustment ReductionReason = "ReasonableAdjustment"
	ReductionSecondment           ReductionReason = "Secondment"
	ReductionOther                ReductionReason = "Other"
)

// Reduction lowers a practitioner's capacity by a percentage until a date.
type Reduction struct {
	// reason is the category of the reduction.
	// +required
	Reason ReductionReason `json:"reason"`

	// percent is how much of the capacity the reduction takes away, 1 to 100.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Percent int32 `json:"percent"`

	// until is the last day the reduction applies. Without it the reduction applies until it
	// is removed.
	// +optional
	Until Date `json:"until,omitempty"`
}

// AbsenceReason is the category of an absence. It is a category only, never a diagnosis or any
// other health detail.
// +kubebuilder:validation:Enum=Sickness;ParentalLeave;AnnualLeave;Training;Other
type AbsenceReason string

const (
	AbsenceSickness      AbsenceReason = "Sickness"
	AbsenceParentalLeave AbsenceReason = "ParentalLeave"
	AbsenceAnnualLeave   AbsenceReason = "AnnualLeave"
	AbsenceTraining      AbsenceReason = "Training"
	AbsenceOther         AbsenceReason = "Other"
)

// Absence is a planned or current absence. On the days it covers the practitioner has no
// capacity and takes no new allocations; the cases they hold are reported as needing cover and
// stay with them.
// +kubebuilder:validation:XValidation:rule="!has(self.until) || self.until >= self.from",message="an absence's until (its last day) cannot be before its from"
type Absence struct {
	// from is the first day of the absence.
	// +required
	From Date `json:"from"`

	// until is the last day of the absence. Without it the absence is open-ended: it lasts
	// until a date is set or the absence is removed.
	// +optional
	Until Date `json:"until,omitempty"`

	// reason is the category of the absence.
	// +required
	Reason AbsenceReason `json:"reason"`
}

// PractitionerSpec describes a practitioner and what they can carry.
type PractitionerSpec struct {
	// team is the name of the practitioner's Team in the same namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Team string `json:"team"`

	// grade is matched by the quota's practitionerCaps, e.g. NewlyQualified, SocialWorker,
	// SeniorSocialWorker, Consultant, TeamManager or SocialWorkAssistant.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9]*$`
	Grade string `json:"grade"`

	// fte is the practitioner's share of full time, more than 0 and at most 1.
	// +optional
	// +kubebuilder:default="1"
	// +kubebuilder:validation:MaxLength=5
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0[.][0-9]{1,3}|1([.]0{1,3})?)$') && !self.matches('^0[.]0+$')",message="fte is the share of full time: more than 0 and at most 1, with at most three decimals, such as \"0.6\""
	FTE string `json:"fte,omitempty"`

	// reductions lower capacity for a while, e.g. 10% for a newly qualified worker's first year.
	// Their percentages add up, to at most 100%.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10
	Reductions []Reduction `json:"reductions,omitempty"`

	// available is false while the practitioner is on leave or absent: no new allocations, and
	// the cases they hold are reported as needing cover. Nothing is reassigned.
	// +optional
	// +kubebuilder:default=true
	Available *bool `json:"available,omitempty"`

	// absences are planned or current absences with their dates. On the days an absence covers,
	// it has the same effect as available: false.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:XValidation:rule="self.all(a, self.exists_one(b, a.from <= (has(b.until) ? b.until : timestamp('9999-12-31T00:00:00Z')) && b.from <= (has(a.until) ? a.until : timestamp('9999-12-31T00:00:00Z'))))",message="absences cannot overlap: end one before the next begins, or merge them into one"
	Absences []Absence `json:"absences,omitempty"`

	// maxWeight is a personal ceiling set by the manager. It can only lower the policy's cap.
	// +optional
	MaxWeight *Decimal `json:"maxWeight,omitempty"`
}

// PractitionerStatus is the practitioner's caseload as the operator last computed it.
type PractitionerStatus struct {
	// observedGeneration is the generation of the spec this status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// quota names the CaseloadQuota these figures come from.
	// +optional
	Quota string `json:"quota,omitempty"`

	// cases is the number of open cases held, as lead or co-worker.
	// +optional
	Cases int32 `json:"cases"`

	// children is the number of children in the open cases held as lead.
	// +optional
	Children int32 `json:"children"`

	// weight is the weighted caseload: the full weight of cases led, and the co-worker share of
	// cases co-worked. Closed cases weigh nothing.
	// +optional
	Weight Figure `json:"weight,omitempty"`

	// capacity is the effective capacity: grade cap x FTE x (1 - active reductions), lowered by
	// spec.maxWeight; 0 while unavailable or absent.
	// +optional
	Capacity Figure `json:"capacity,omitempty"`

	// headroom is capacity minus weight; negative when over capacity.
	// +optional
	Headroom SignedFigure `json:"headroom,omitempty"`

	// utilisationPercent is weight as a whole percentage of capacity.
	// +optional
	UtilisationPercent int32 `json:"utilisationPercent"`

	// band is Green, Amber or Red by utilisation, or Away on a day the practitioner is absent or
	// unavailable: then the cases they hold need cover (condition NeedsCover), and they are not
	// over capacity.
	// +optional
	Band Band `json:"band,omitempty"`

	// overCapacitySince is when the weight first went over a capacity the practitioner has;
	// empty when within it, and while absent (their cases then need cover instead).
	// +optional
	OverCapacitySince *metav1.Time `json:"overCapacitySince,omitempty"`

	// available is false while spec.available is false or an absence covers today.
	// +optional
	Available bool `json:"available"`

	// casesNeedingCover is the number of open cases held while unavailable or absent.
	// +optional
	CasesNeedingCover int32 `json:"casesNeedingCover"`

	// conditions are Ready, Reconciling, Stalled, OverCapacity and NeedsCover.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Practitioner is a social worker or other practitioner who holds cases. The API knows them by
// object name only: it has no field for a person's name or any personal detail.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=prac,categories=caseload
// +kubebuilder:selectablefield:JSONPath=`.spec.team`
// +kubebuilder:printcolumn:name="Team",type=string,JSONPath=`.spec.team`
// +kubebuilder:printcolumn:name="Grade",type=string,JSONPath=`.spec.grade`
// +kubebuilder:printcolumn:name="FTE",type=string,JSONPath=`.spec.fte`,priority=1
// +kubebuilder:printcolumn:name="Available",type=boolean,JSONPath=`.status.available`,priority=1
// +kubebuilder:printcolumn:name="Cases",type=integer,JSONPath=`.status.cases`
// +kubebuilder:printcolumn:name="Weight",type=string,JSONPath=`.status.weight`
// +kubebuilder:printcolumn:name="Capacity",type=string,JSONPath=`.status.capacity`
// +kubebuilder:printcolumn:name="Headroom",type=string,JSONPath=`.status.headroom`
// +kubebuilder:printcolumn:name="Utilisation",type=integer,JSONPath=`.status.utilisationPercent`,priority=1
// +kubebuilder:printcolumn:name="Band",type=string,JSONPath=`.status.band`
// +kubebuilder:printcolumn:name="Cover",type=integer,JSONPath=`.status.casesNeedingCover`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Practitioner struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the object's metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec describes the practitioner.
	// +required
	Spec PractitionerSpec `json:"spec"`

	// status is the practitioner's caseload as the operator last computed it.
	// +optional
	Status PractitionerStatus `json:"status,omitempty"`
}

// IsAvailable reports whether the practitioner can take new work (spec.available, default true).
func (p *Practitioner) IsAvailable() bool {
	return p.Spec.Available == nil || *p.Spec.Available
}

// PractitionerList is a list of Practitioners.
// +kubebuilder:object:root=true
type PractitionerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Practitioner `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Practitioner{}, &PractitionerList{})
}

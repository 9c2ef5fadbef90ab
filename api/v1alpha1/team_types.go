package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TeamSpec describes a social-work team. Labels on the Team select it into CaseloadQuotas.
type TeamSpec struct {
	// displayName is the team's name as staff know it, e.g. "North Locality CP Team".
	// +optional
	// +kubebuilder:validation:MaxLength=128
	DisplayName string `json:"displayName,omitempty"`

	// service is the service the team belongs to, in free text, e.g. "Child protection" or
	// "Adults LD".
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Service string `json:"service,omitempty"`
}

// CapacitySource names the bound that sets a team's capacity: the tightest of those that apply.
// +kubebuilder:validation:Enum=Members;TeamMaxWeight;AveragePerFTE
type CapacitySource string

const (
	// CapacityFromMembers is the sum of the members' effective capacities that day (0 for a member
	// who is away).
	CapacityFromMembers CapacitySource = "Members"
	// CapacityFromTeamMaxWeight is the quota's teamCap.maxWeight.
	CapacityFromTeamMaxWeight CapacitySource = "TeamMaxWeight"
	// CapacityFromAveragePerFTE is the quota's teamCap.maxAveragePerFTE times the FTE of the
	// members available that day.
	CapacityFromAveragePerFTE CapacitySource = "AveragePerFTE"
)

// TeamStatus is the team's caseload as the operator last computed it.
type TeamStatus struct {
	// observedGeneration is the generation of the spec this status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// quota names the CaseloadQuota these figures come from: the enforcing quota that leaves the
	// team the least headroom.
	// +optional
	Quota string `json:"quota,omitempty"`

	// practitioners is the number of practitioners in the team.
	// +optional
	Practitioners int32 `json:"practitioners"`

	// availablePractitioners is the number of practitioners available for new work.
	// +optional
	AvailablePractitioners int32 `json:"availablePractitioners"`

	// cases is the number of open cases of the team.
	// +optional
	Cases int32 `json:"cases"`

	// children is the number of children in the team's open cases.
	// +optional
	Children int32 `json:"children"`

	// unallocated is the number of open cases with no allocated practitioner.
	// +optional
	Unallocated int32 `json:"unallocated"`

	// oldestUnallocatedDays is how many days the longest-waiting unallocated case has waited.
	// +optional
	OldestUnallocatedDays int32 `json:"oldestUnallocatedDays"`

	// overdueCases is the number of open cases past their timescale or allocation deadline.
	// +optional
	OverdueCases int32 `json:"overdueCases"`

	// casesNeedingCover is the number of open cases held by members who are unavailable or
	// absent today.
	// +optional
	CasesNeedingCover int32 `json:"casesNeedingCover"`

	// availableFTE is the FTE of the members available today.
	// +optional
	AvailableFTE Figure `json:"availableFTE,omitempty"`

	// weight is the sum of the members' weights.
	// +optional
	Weight Figure `json:"weight,omitempty"`

	// capacity is the team's capacity today: the tightest of the quota's teamCap.maxWeight,
	// teamCap.maxAveragePerFTE x availableFTE, and the sum of the members' effective capacities.
	// Empty when no quota selecting the team caps it.
	// +optional
	Capacity Figure `json:"capacity,omitempty"`

	// capacitySource names the bound that sets capacity: Members, TeamMaxWeight or AveragePerFTE.
	// +optional
	CapacitySource CapacitySource `json:"capacitySource,omitempty"`

	// headroom is capacity minus weight; negative when the team is over capacity.
	// +optional
	Headroom SignedFigure `json:"headroom,omitempty"`

	// utilisationPercent is weight as a whole percentage of capacity.
	// +optional
	UtilisationPercent int32 `json:"utilisationPercent"`

	// band is Green, Amber or Red by utilisation; a team is never Away.
	// +optional
	Band Band `json:"band,omitempty"`

	// overCapacityPractitioners is the number of members over their capacity.
	// +optional
	OverCapacityPractitioners int32 `json:"overCapacityPractitioners"`

	// conditions are Ready, Reconciling, Stalled, OverCapacity and NeedsCover.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Team is a social-work team. Practitioners and Cases name it in spec.team.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=tm,categories=caseload
// +kubebuilder:printcolumn:name="Service",type=string,JSONPath=`.spec.service`,priority=1
// +kubebuilder:printcolumn:name="Cases",type=integer,JSONPath=`.status.cases`
// +kubebuilder:printcolumn:name="Unallocated",type=integer,JSONPath=`.status.unallocated`
// +kubebuilder:printcolumn:name="Overdue",type=integer,JSONPath=`.status.overdueCases`,priority=1
// +kubebuilder:printcolumn:name="Weight",type=string,JSONPath=`.status.weight`
// +kubebuilder:printcolumn:name="Capacity",type=string,JSONPath=`.status.capacity`
// +kubebuilder:printcolumn:name="Capacity Source",type=string,JSONPath=`.status.capacitySource`,priority=1
// +kubebuilder:printcolumn:name="Cover",type=integer,JSONPath=`.status.casesNeedingCover`,priority=1
// +kubebuilder:printcolumn:name="Utilisation",type=integer,JSONPath=`.status.utilisationPercent`
// +kubebuilder:printcolumn:name="Band",type=string,JSONPath=`.status.band`
// +kubebuilder:printcolumn:name="Quota",type=string,JSONPath=`.status.quota`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Team struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the object's metadata; labels select the team into quotas.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec describes the team.
	// +optional
	Spec TeamSpec `json:"spec,omitempty"`

	// status is the team's caseload as the operator last computed it.
	// +optional
	Status TeamStatus `json:"status,omitempty"`
}

// TeamList is a list of Teams.
// +kubebuilder:object:root=true
type TeamList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Team `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Team{}, &TeamList{})
}

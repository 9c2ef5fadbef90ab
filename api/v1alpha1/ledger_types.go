package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ReservationRole says whether a reservation holds a case as its lead or as a co-worker.
// +kubebuilder:validation:Enum=Lead;CoWorker
type ReservationRole string

const (
	// RoleLead is the allocated practitioner, who carries the whole weight.
	RoleLead ReservationRole = "Lead"
	// RoleCoWorker is a co-worker, who carries the quota's coWorkerShare of the weight.
	RoleCoWorker ReservationRole = "CoWorker"
)

// Reservation is one entry of the allocation ledger: an allocation that admission has let
// through and that the operator's caches may not show yet. It records the facts each quota
// needs to weigh the case, so every quota that selects the team can count it.
type Reservation struct {
	// team is the Team of the Case.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Team string `json:"team"`

	// id is the UID of the admission request that made the reservation.
	// +required
	// +kubebuilder:validation:MaxLength=64
	ID string `json:"id"`

	// practitioner is the name of the Practitioner the case was allocated to.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Practitioner string `json:"practitioner"`

	// case is the name of the Case.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Case string `json:"case"`

	// caseUID is the Case's metadata.uid (the apiserver sets it before admission, for a create
	// too): a Case deleted and created again under the same name is another case.
	// +required
	// +kubebuilder:validation:MaxLength=64
	CaseUID string `json:"caseUID"`

	// role is Lead or CoWorker.
	// +required
	Role ReservationRole `json:"role"`

	// caseType is the case's spec.type when it was admitted.
	// +required
	// +kubebuilder:validation:MaxLength=63
	CaseType string `json:"caseType"`

	// complexity is the case's spec.complexity when it was admitted.
	// +required
	Complexity Complexity `json:"complexity"`

	// children is the case's spec.children when it was admitted.
	// +required
	// +kubebuilder:validation:Minimum=1
	Children int32 `json:"children"`

	// generation is the Case's metadata.generation that the admitted change gives it. The entry
	// counts, on top of what a cache shows, until a cache shows the Case (by uid) at this
	// generation or a later one, or shows it deleted.
	// +required
	// +kubebuilder:validation:Minimum=1
	Generation int64 `json:"generation"`

	// weight is what the reservation weighs under the quota named in the Team's status.quota.
	// +optional
	Weight Figure `json:"weight,omitempty"`

	// admittedAt is when admission let the allocation through, by the admitting replica's clock:
	// for people to read. How long an entry counts is timed by each replica's own observation,
	// never by comparing this with another clock.
	// +required
	AdmittedAt metav1.Time `json:"admittedAt"`

	// exception is set when the allocation was admitted above the cap by a manager's exception;
	// the operator copies it into the Case's status.exception.
	// +optional
	Exception *CaseException `json:"exception,omitempty"`
}

// Departure fences a practitioner's move out of the team: admission wrote it, with
// compare-and-swap, when it let the move through, so that no allocation to the practitioner in this
// team is admitted from a cache that still shows them here. It goes once a cache of Practitioners
// shows the move (see practitionersSeenThrough).
type Departure struct {
	// id is the UID of the admission request that let the move through: a move that failed and
	// one tried again are two departures, though they give the Practitioner the same generation.
	// +required
	// +kubebuilder:validation:MaxLength=64
	ID string `json:"id"`

	// practitioner is the name of the Practitioner leaving the team.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Practitioner string `json:"practitioner"`

	// uid is the Practitioner's metadata.uid.
	// +required
	// +kubebuilder:validation:MaxLength=64
	UID string `json:"uid"`

	// generation is the Practitioner's metadata.generation that the move gives it.
	// +required
	// +kubebuilder:validation:Minimum=1
	Generation int64 `json:"generation"`

	// team is the Team the practitioner is moving to.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Team string `json:"team"`
}

// AllocationLedgerSpec holds a team's allocations in flight.
type AllocationLedgerSpec struct {
	// reservations are the allocations admitted to the team that the operator's caches may not
	// show yet, one per practitioner decided for. Admission adds them, a batch of concurrent
	// allocations at a time, with compare-and-swap, and never removes one: an entry goes only once
	// a cache shows its Case at the entry's generation or later, or deleted (see seenThrough), or
	// once its request has certainly ended without storing it (docs/admission.md).
	// The list is atomic: only the operator writes it, always whole, so the apiserver need not
	// track who owns each entry (which would cost more than the write itself).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=2000
	Reservations []Reservation `json:"reservations,omitempty"`

	// seenThrough is how far the cache of Cases that last dropped an entry on seeing its Case
	// had come: the highest resourceVersion among those Cases. An entry may go as soon as one
	// cache shows its Case, because a replica counts this ledger only once its own cache of
	// Cases has come as far as this (or reads the team from the apiserver instead).
	// +optional
	// +kubebuilder:validation:MaxLength=20
	// +kubebuilder:validation:Pattern=`^[0-9]*$`
	SeenThrough string `json:"seenThrough,omitempty"`

	// departures are the practitioners admission has let leave the team whose move some cache
	// may not show yet: no allocation to them in this team is admitted while they are listed.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=500
	Departures []Departure `json:"departures,omitempty"`

	// practitionersSeenThrough is, for departures, what seenThrough is for reservations: the
	// highest resourceVersion among the Practitioners whose move, seen in a cache, dropped their
	// departure. A replica counts the departures only once its cache of Practitioners has come as
	// far.
	// +optional
	// +kubebuilder:validation:MaxLength=20
	// +kubebuilder:validation:Pattern=`^[0-9]*$`
	PractitionersSeenThrough string `json:"practitionersSeenThrough,omitempty"`
}

// AllocationLedger is the operator's record of allocations in flight to one team: admitted by the
// webhook, not yet seen by every cache. There is one per Team, with the Team's name; the
// admission webhook and the operator write it, and nobody else should. One per team keeps each
// ledger short and lets the teams of a council be allocated to in parallel. It is not
// in the caseload category: `kubectl get caseload` shows what councils write, and people who
// read those need not read this.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AllocationLedger struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the object's metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec holds the allocations in flight.
	// +optional
	Spec AllocationLedgerSpec `json:"spec,omitempty"`
}

// AllocationLedgerList is a list of AllocationLedgers.
// +kubebuilder:object:root=true
type AllocationLedgerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AllocationLedger `json:"items"`
}

func init() {
	SchemeBuilder.Register(&AllocationLedger{}, &AllocationLedgerList{})
}

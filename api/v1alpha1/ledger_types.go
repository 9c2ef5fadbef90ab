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

	// generation is the Case's metadata.generation as admitted. The reservation counts in place
	// of what a cache shows of the case until the cache shows this generation or a later one.
	// +optional
	Generation int64 `json:"generation,omitempty"`

	// weight is what the reservation weighs under the quota named in the Team's status.quota.
	// +optional
	Weight Figure `json:"weight,omitempty"`

	// admittedAt is when admission let the allocation through.
	// +required
	AdmittedAt metav1.Time `json:"admittedAt"`

	// expiresAt is when the reservation lapses even if no cache has shown the Case (its create
	// or update failed after admission). One the caches show is dropped well before.
	// +required
	ExpiresAt metav1.Time `json:"expiresAt"`

	// exception is set when the allocation was admitted above the cap by a manager's exception;
	// the operator copies it into the Case's status.exception.
	// +optional
	Exception *CaseException `json:"exception,omitempty"`
}

// Allowance is room a webhook replica holds in advance for a few more allocations to one
// practitioner, so that it can admit them from memory instead of writing the ledger for each
// (escrow). Every decision counts it as `slots` cases of its shape held by the practitioner in its
// role. Only its holder admits against it, one case per slot, and only a case that weighs no more
// than the shape under every quota; the holder writes each case it admits into reservations in
// place of its slot a moment later. Room is granted only while the practitioner and team have
// plenty to spare, so the last of anyone's room is always decided one allocation at a time.
type Allowance struct {
	// id names the allowance among its holder's.
	// +required
	// +kubebuilder:validation:MaxLength=32
	ID string `json:"id"`

	// holder is the webhook replica that may admit against the allowance: its host name and a
	// number drawn when it started, so a restarted replica never uses its predecessor's room.
	// +required
	// +kubebuilder:validation:MaxLength=128
	Holder string `json:"holder"`

	// practitioner is the name of the Practitioner the room is for.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Practitioner string `json:"practitioner"`

	// role is Lead or CoWorker: the room is for holding cases in that role.
	// +required
	Role ReservationRole `json:"role"`

	// caseType, complexity and children are the shape of the case the room is measured in: a
	// case fits a slot when it weighs no more than this shape under every quota.
	// +required
	// +kubebuilder:validation:MaxLength=63
	CaseType string `json:"caseType"`
	// +required
	Complexity Complexity `json:"complexity"`
	// +required
	// +kubebuilder:validation:Minimum=1
	Children int32 `json:"children"`

	// slots is how many more cases of at most that weight the holder may admit.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=64
	Slots int32 `json:"slots"`

	// usableUntil is when the holder stops admitting against the allowance.
	// +required
	UsableUntil metav1.Time `json:"usableUntil"`

	// expiresAt is when the allowance stops counting even if its holder never wrote it away (the
	// replica stopped): the reservation lifetime after usableUntil, so that every case admitted
	// against it is stored, and counted by the caches, before its room is given back.
	// +required
	ExpiresAt metav1.Time `json:"expiresAt"`
}

// AllocationLedgerSpec holds a team's allocations in flight.
type AllocationLedgerSpec struct {
	// reservations are the allocations admitted to the team that the operator's caches may not
	// show yet, one per practitioner decided for. Admission writes them, a batch of
	// concurrent allocations at a time, with compare-and-swap; an entry goes once a cache shows its
	// Case (see seenThrough), or when it expires.
	// The list is atomic: only the operator writes it, always whole, so the apiserver need not
	// track who owns each entry (which would cost more than the write itself).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=2000
	Reservations []Reservation `json:"reservations,omitempty"`

	// seenThrough is how far the cache of Cases that last dropped an entry on seeing its Case
	// had come: the highest resourceVersion among those Cases. An entry may go as soon as one
	// cache shows its Case, because a replica counts this ledger only once its own cache of
	// Cases has come as far as this.
	// +optional
	// +kubebuilder:validation:MaxLength=20
	// +kubebuilder:validation:Pattern=`^[0-9]*$`
	SeenThrough string `json:"seenThrough,omitempty"`

	// allowances are the room webhook replicas hold in advance for allocations they will admit
	// without a write each: counted by every decision as if already allocated.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=500
	Allowances []Allowance `json:"allowances,omitempty"`
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

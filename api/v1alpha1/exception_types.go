package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ExceptionApprovalSpec is the record of one exception: which allocation it admitted above the
// cap, for whom, who approved it, until when, and why.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="an exception's record is never changed"
// +kubebuilder:validation:XValidation:rule="has(self.practitioner) && has(self.reason)",message="an exception's record names the practitioner and keeps the reason"
type ExceptionApprovalSpec struct {
	// case is the name of the Case the exception admitted.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Case string `json:"case"`

	// The exception as the ledger recorded it, reason included.
	CaseException `json:",inline"`
}

// ExceptionApproval keeps the reason for an exception where only approvers read it. The
// operator writes one for each exception it records, named after the case and the moment of
// approval, and removes the reason's annotation from the Case: the Case's status.exception
// shows everyone who may read the case that an exception stands, who approved it and until
// when, never why (a reason often says something about a family). The caseload-approver role
// reads these; caseload-viewer and caseload-editor do not. Not in the caseload category, so
// `kubectl get caseload` works for those who may not read them.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced
// +kubebuilder:printcolumn:name="Case",type=string,JSONPath=`.spec.case`
// +kubebuilder:printcolumn:name="Practitioner",type=string,JSONPath=`.spec.practitioner`
// +kubebuilder:printcolumn:name="Approved by",type=string,JSONPath=`.spec.approvedBy`
// +kubebuilder:printcolumn:name="Expires",type=string,JSONPath=`.spec.expiresAt`
type ExceptionApproval struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the object's metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the record.
	// +required
	Spec ExceptionApprovalSpec `json:"spec"`
}

// ExceptionApprovalList is a list of ExceptionApprovals.
// +kubebuilder:object:root=true
type ExceptionApprovalList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ExceptionApproval `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ExceptionApproval{}, &ExceptionApprovalList{})
}

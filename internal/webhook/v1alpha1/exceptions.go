package v1alpha1

import (
	"context"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	caseloadv1alpha1 "caseload.dev/caseload-operator/api/v1alpha1"
)

// ApproveVerb is the RBAC verb on caseloadquotas that lets a user admit an allocation above the
// cap as an exception. RBAC, not the operator, decides who the approvers are: a council grants
// it to its team managers with a Role such as
//
//	rules:
//	- apiGroups: ["caseload.dev"]
//	  resources: ["caseloadquotas"]
//	  verbs: ["approve"]
const ApproveVerb = "approve"

// Approvals asks the apiserver whether a user may approve exceptions in a namespace.
type Approvals struct {
	// Client creates SubjectAccessReviews.
	Client client.Client
}

// MayApprove reports whether the user who made an admission request may approve caseloadquotas
// in the namespace: a SubjectAccessReview for verb approve, with the user's groups and extras,
// so that RBAC bound to a group works as it does for kubectl.
func (a Approvals) MayApprove(ctx context.Context, user authenticationv1.UserInfo, namespace string) (bool, error) {
	extra := make(map[string]authorizationv1.ExtraValue, len(user.Extra))
	for k, v := range user.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   user.Username,
		UID:    user.UID,
		Groups: user.Groups,
		Extra:  extra,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: namespace,
			Verb:      ApproveVerb,
			Group:     caseloadv1alpha1.GroupVersion.Group,
			Resource:  "caseloadquotas",
		},
	}}
	if err := a.Client.Create(ctx, sar); err != nil {
		return false, fmt.Errorf("ask the apiserver whether %s may approve exceptions: %w", user.Username, err)
	}
	return sar.Status.Allowed, nil
}

// approvedException is the record of an exception: who approved it, why, and until when.
func approvedException(user, reason string, days int, now time.Time) *caseloadv1alpha1.CaseException {
	return &caseloadv1alpha1.CaseException{
		ApprovedBy: user,
		Reason:     reason,
		ApprovedAt: metav1.NewTime(now),
		ExpiresAt:  metav1.NewTime(now.AddDate(0, 0, days)),
	}
}

// whoMayApprove completes a denial that an exception could have admitted, for the person who
// now has to find an approver.
func whoMayApprove(namespace string) string {
	return fmt.Sprintf("a user who may approve caseloadquotas in namespace %s (RBAC verb %q on caseloadquotas.caseload.dev), such as the team manager", namespace, ApproveVerb)
}

// exceptionHint is added to a denial that an exception could admit when none was asked for.
func exceptionHint(namespace string) string {
	return fmt.Sprintf("this is within the exceptions the quota allows: %s can admit it with the annotation %s giving the reason",
		whoMayApprove(namespace), caseloadv1alpha1.ExceptionReasonAnnotation)
}

// notApprover is the denial when an exception was asked for by someone who may not approve it.
func notApprover(user, namespace string) string {
	return fmt.Sprintf("%s asks for an exception, but %s may not approve exceptions here: ask %s to make this allocation",
		caseloadv1alpha1.ExceptionReasonAnnotation, user, whoMayApprove(namespace))
}

package v1alpha1

import (
	"context"
	"fmt"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
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

// Approvals decides who may approve exceptions in a namespace.
type Approvals struct {
	// Client creates SubjectAccessReviews.
	Client client.Client
	// ServiceAccounts are the service accounts (as "namespace/name") that may approve where RBAC
	// lets them. Every other service account is refused whatever RBAC says: an exception is a
	// named manager's decision, and a GitOps controller applying an annotation committed to git,
	// or any workload with a wildcard role, is not one.
	ServiceAccounts map[string]bool
}

// Refusal says why the user who made an admission request may not approve exceptions in the
// namespace; "" when they may. A person may when RBAC lets them approve caseloadquotas there (a
// SubjectAccessReview for verb approve, with the user's groups and extras, so that RBAC bound to
// a group works as it does for kubectl); a service account only when it is listed as well.
func (a Approvals) Refusal(ctx context.Context, user authenticationv1.UserInfo, namespace string) (string, error) {
	if sa, ok := strings.CutPrefix(user.Username, serviceAccountPrefix); ok && !a.ServiceAccounts[strings.Replace(sa, ":", "/", 1)] {
		return fmt.Sprintf("%s is a service account, and service accounts do not approve exceptions unless the operator lists them "+
			"(--exception-approver-service-accounts): ask %s to make this allocation", user.Username, whoMayApprove(namespace)), nil
	}
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
		return "", fmt.Errorf("ask the apiserver whether %s may approve exceptions: %w", user.Username, err)
	}
	if !sar.Status.Allowed {
		return notApprover(user.Username, namespace), nil
	}
	return "", nil
}

// serviceAccountPrefix begins the username of every service account.
const serviceAccountPrefix = "system:serviceaccount:"

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
	return fmt.Sprintf("a user who may approve caseloadquotas in namespace %s (RBAC verb %q on caseloadquotas.caseload.dev; usually the team manager)", namespace, ApproveVerb)
}

// exceptionHint is added to a denial that an exception could admit when none was asked for.
func exceptionHint(namespace string) string {
	return fmt.Sprintf("this is within the exceptions the quota allows: %s can admit it with the annotation %s giving the reason",
		whoMayApprove(namespace), caseloadv1alpha1.ExceptionReasonAnnotation)
}

// reusedReason is the denial when the reason on the Case is the one an earlier allocation of it
// was admitted with.
func reusedReason() string {
	return fmt.Sprintf("%s still holds the reason given for an earlier allocation of this case, and an exception is approved for one allocation: "+
		"give the reason for this one, or remove the annotation", caseloadv1alpha1.ExceptionReasonAnnotation)
}

// reasonTooLong refuses a reason longer than the exception's record holds.
func reasonTooLong(c *caseloadv1alpha1.Case, reason string) error {
	return apierrors.NewInvalid(caseKind, c.Name, field.ErrorList{field.Invalid(reasonPath, fmt.Sprintf("%d bytes", len(reason)),
		fmt.Sprintf("a reason may be at most %d bytes, as the exception's record holds: shorten it", caseloadv1alpha1.MaxExceptionReason))})
}

// reasonPath is where the reason for an exception is given.
var reasonPath = field.NewPath("metadata", "annotations").Key(caseloadv1alpha1.ExceptionReasonAnnotation)

// notApprover is the denial when an exception was asked for by someone who may not approve it.
func notApprover(user, namespace string) string {
	return fmt.Sprintf("%s asks for an exception, but %s may not approve exceptions here: ask %s to make this allocation",
		caseloadv1alpha1.ExceptionReasonAnnotation, user, whoMayApprove(namespace))
}

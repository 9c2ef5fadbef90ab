package v1alpha1

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	caseloadv1alpha1 "caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/policy"
)

// +kubebuilder:webhook:path=/validate-caseload-dev-v1alpha1-caseloadquota,mutating=false,failurePolicy=fail,sideEffects=None,groups=caseload.dev,resources=caseloadquotas,verbs=create;update,versions=v1alpha1,name=vcaseloadquota.caseload.dev,admissionReviewVersions=v1,timeoutSeconds=10,matchPolicy=Equivalent

var quotaKind = schema.GroupKind{Group: caseloadv1alpha1.GroupVersion.Group, Kind: "CaseloadQuota"}

// CaseloadQuotaValidator refuses a quota the policy engine cannot apply (two caps for one
// grade, amber above red, exceptions below 100%, a selector that does not parse), with the
// field paths of what is wrong. A quota that is valid but puts people over their cap is never
// refused: the violations show in status.
type CaseloadQuotaValidator struct{}

var _ admission.Validator[*caseloadv1alpha1.CaseloadQuota] = &CaseloadQuotaValidator{}

// ValidateCreate checks that the engine can apply the quota.
func (v *CaseloadQuotaValidator) ValidateCreate(_ context.Context, q *caseloadv1alpha1.CaseloadQuota) (admission.Warnings, error) {
	return nil, quotaErrors(q)
}

// ValidateUpdate checks that the engine can apply the quota as changed.
func (v *CaseloadQuotaValidator) ValidateUpdate(_ context.Context, _, q *caseloadv1alpha1.CaseloadQuota) (admission.Warnings, error) {
	return nil, quotaErrors(q)
}

// ValidateDelete allows deleting a quota.
func (v *CaseloadQuotaValidator) ValidateDelete(context.Context, *caseloadv1alpha1.CaseloadQuota) (admission.Warnings, error) {
	return nil, nil
}

func quotaErrors(q *caseloadv1alpha1.CaseloadQuota) error {
	_, errs := policy.FromSpec(q.Namespace+"/"+q.Name, q.Spec)
	if q.Spec.TeamSelector != nil {
		if _, err := metav1.LabelSelectorAsSelector(q.Spec.TeamSelector); err != nil {
			errs = append(errs, field.Invalid(field.NewPath("spec", "teamSelector"), q.Spec.TeamSelector, err.Error()))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return apierrors.NewInvalid(quotaKind, q.Name, errs)
}

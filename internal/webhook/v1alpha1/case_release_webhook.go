package v1alpha1

import (
	"context"
	"net/http"

	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	caseloadv1alpha1 "caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/policy"
)

// A Case deleted soon after it was allocated (created by mistake, say) would leave its
// reservations counting against its holders until they expire, and the corrected Case could be
// refused for the weight of the deleted one. This webhook releases them. It never refuses, and
// failurePolicy Ignore means a webhook that is down never blocks a delete: the reservations
// then lapse after ReservationTTL.
// +kubebuilder:webhook:path=/release-caseload-dev-v1alpha1-case,mutating=false,failurePolicy=ignore,sideEffects=NoneOnDryRun,groups=caseload.dev,resources=cases,verbs=delete,versions=v1alpha1,name=vcaserelease.caseload.dev,admissionReviewVersions=v1,timeoutSeconds=5,matchPolicy=Equivalent

// CaseReleasePath is where the release webhook is served.
const CaseReleasePath = "/release-caseload-dev-v1alpha1-case"

// CaseReleaser releases the ledger's reservations of a Case being deleted.
type CaseReleaser struct {
	Cases   *CaseValidator
	Decoder admission.Decoder
}

var _ admission.Handler = &CaseReleaser{}

// Handle allows the delete, after releasing what the Case's holders had reserved for it.
func (h *CaseReleaser) Handle(ctx context.Context, req admission.Request) admission.Response {
	var c caseloadv1alpha1.Case
	if err := h.Decoder.DecodeRaw(req.OldObject, &c); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if holders := policy.Holders(policy.CaseFrom(&c)); len(holders) > 0 {
		h.Cases.release(admission.NewContextWithRequest(ctx, req), &c, holders)
	}
	return admission.Allowed("")
}

package v1alpha1

import (
	"context"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	caseloadv1alpha1 "caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/policy"
)

// A Case deleted soon after it was allocated (created by mistake, say), unallocated or closed
// would leave its reservations counting against its holders until they expire, and the next
// allocation could be refused for the weight of the one given up. This webhook releases them,
// for deletes and for updates that give work up and add none (the Case webhook handles updates
// that do both). It never refuses, and failurePolicy Ignore means a webhook that is down never
// blocks a delete or a release: the reservations then lapse after ledger.TTL.
// +kubebuilder:webhook:path=/release-caseload-dev-v1alpha1-case,mutating=false,failurePolicy=ignore,sideEffects=NoneOnDryRun,groups=caseload.dev,resources=cases,verbs=update;delete,versions=v1alpha1,name=vcaserelease.caseload.dev,admissionReviewVersions=v1,timeoutSeconds=5,matchPolicy=Equivalent,patch=`{"matchConditions":[{"name":"gives-up-work","expression":"request.operation == 'DELETE' || (has(oldObject.spec.allocatedTo) && (!has(object.spec.allocatedTo) || object.spec.allocatedTo != oldObject.spec.allocatedTo)) || (has(oldObject.spec.coWorkers) && oldObject.spec.coWorkers.exists(w, !has(object.spec.coWorkers) || !(w in object.spec.coWorkers))) || (has(object.spec.closedOn) && !has(oldObject.spec.closedOn))"},{"name":"adds-no-weight","expression":"request.operation == 'DELETE' || !(oldObject.spec.team != object.spec.team || (!has(object.spec.closedOn) && (has(oldObject.spec.closedOn) || (has(object.spec.allocatedTo) && (!has(oldObject.spec.allocatedTo) || oldObject.spec.allocatedTo != object.spec.allocatedTo)) || (has(object.spec.coWorkers) && object.spec.coWorkers.exists(w, !has(oldObject.spec.coWorkers) || !(w in oldObject.spec.coWorkers))) || oldObject.spec.type != object.spec.type || (has(oldObject.spec.complexity) ? oldObject.spec.complexity : 'Standard') != (has(object.spec.complexity) ? object.spec.complexity : 'Standard') || (has(oldObject.spec.children) ? oldObject.spec.children : 1) != (has(object.spec.children) ? object.spec.children : 1))))"}]}`

// CaseReleasePath is where the release webhook is served.
const CaseReleasePath = "/release-caseload-dev-v1alpha1-case"

// CaseReleaser releases the ledger's reservations of a Case being deleted.
type CaseReleaser struct {
	Cases   *CaseValidator
	Decoder admission.Decoder
}

var _ admission.Handler = &CaseReleaser{}

// Handle allows the delete or update, after releasing what the practitioners it takes off the
// Case had reserved for it.
func (h *CaseReleaser) Handle(ctx context.Context, req admission.Request) admission.Response {
	var old caseloadv1alpha1.Case
	if err := h.Decoder.DecodeRaw(req.OldObject, &old); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	before := policy.CaseFrom(&old, policy.UTC)
	leavers := policy.Holders(before)
	if req.Operation == admissionv1.Update {
		var c caseloadv1alpha1.Case
		if err := h.Decoder.DecodeRaw(req.Object, &c); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		leavers = policy.Leavers(&before, policy.CaseFrom(&c, policy.UTC))
	}
	if len(leavers) > 0 {
		h.Cases.release(admission.NewContextWithRequest(ctx, req), &old, leavers)
	}
	return admission.Allowed("")
}

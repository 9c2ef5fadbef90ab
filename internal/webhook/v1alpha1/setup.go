// Package v1alpha1 holds the admission webhooks of caseload.dev/v1alpha1: the Case validator
// that decides allocations against the policy engine and the Team's allocation ledger, the
// exceptions a manager may approve, and the validators that keep Practitioners, Teams and
// CaseloadQuotas consistent. The webhooks fetch, ask internal/policy and write the ledger;
// they decide nothing themselves.
package v1alpha1

import (
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"

	caseloadv1alpha1 "caseload.dev/caseload-operator/api/v1alpha1"
)

// EventSource is the reporting controller of the webhook's Events.
const EventSource = "caseload-admission"

// Setup registers every validator with the manager's webhook server, and a readiness check
// that passes once the server is serving its certificate. The indexes of package index must be
// set up first.
func Setup(mgr ctrl.Manager) error {
	cases := &CaseValidator{
		Cache:     mgr.GetClient(),
		Live:      mgr.GetAPIReader(),
		Client:    mgr.GetClient(),
		Approvals: Approvals{Client: mgr.GetClient()},
		Events:    mgr.GetEventRecorder(EventSource),
		Log:       ctrl.Log.WithName("admission").WithName("case"),
	}
	if err := ctrl.NewWebhookManagedBy(mgr, &caseloadv1alpha1.Case{}).WithValidator(cases).Complete(); err != nil {
		return fmt.Errorf("case webhook: %w", err)
	}
	practitioners := &PractitionerValidator{Cache: mgr.GetClient(), Live: mgr.GetAPIReader()}
	if err := ctrl.NewWebhookManagedBy(mgr, &caseloadv1alpha1.Practitioner{}).WithValidator(practitioners).Complete(); err != nil {
		return fmt.Errorf("practitioner webhook: %w", err)
	}
	teams := &TeamValidator{Cache: mgr.GetClient(), Live: mgr.GetAPIReader()}
	if err := ctrl.NewWebhookManagedBy(mgr, &caseloadv1alpha1.Team{}).WithValidator(teams).Complete(); err != nil {
		return fmt.Errorf("team webhook: %w", err)
	}
	if err := ctrl.NewWebhookManagedBy(mgr, &caseloadv1alpha1.CaseloadQuota{}).WithValidator(&CaseloadQuotaValidator{}).Complete(); err != nil {
		return fmt.Errorf("caseloadquota webhook: %w", err)
	}
	if err := mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker()); err != nil {
		return fmt.Errorf("webhook readiness check: %w", err)
	}
	return nil
}

// Package v1alpha1 holds the admission webhooks of caseload.dev/v1alpha1: the Case validator
// that decides allocations against the policy engine and the team's allocation ledger, the
// exceptions a manager may approve, and the validators that keep Practitioners, Teams and
// CaseloadQuotas consistent. The webhooks fetch, ask internal/policy and write the ledger;
// they decide nothing themselves.
package v1alpha1

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	clientfeatures "k8s.io/client-go/features"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	caseloadv1alpha1 "caseload.dev/caseload-operator/api/v1alpha1"
	admit "caseload.dev/caseload-operator/internal/admission"
	"caseload.dev/caseload-operator/internal/ledger"
	"caseload.dev/caseload-operator/internal/policy"
	"caseload.dev/caseload-operator/internal/snapshot"
)

// EventSource is the reporting controller of the webhook's Events.
const EventSource = "caseload-admission"

// Setup registers every validator with the manager's webhook server once certsReady is closed
// (at once if it already is: certificates from a directory; after the operator has issued
// them, if it rotates its own), and a readiness check that passes only when the server is
// serving its certificate. The indexes of package index must be set up first.
// opts are the settings of admission.
func Setup(mgr ctrl.Manager, certsReady <-chan struct{}, opts Options) error {
	if err := mgr.AddReadyzCheck("webhook", func(req *http.Request) error {
		select {
		case <-certsReady:
		default:
			return errors.New("the webhook's serving certificate is not ready yet")
		}
		return mgr.GetWebhookServer().StartedChecker()(req)
	}); err != nil {
		return fmt.Errorf("webhook readiness check: %w", err)
	}
	select {
	case <-certsReady:
		return register(mgr, opts)
	default:
	}
	// The webhook server reads its certificate when it starts, so it must not start before the
	// certificate is there: register (which adds the server to the manager) once it is.
	log := ctrl.Log.WithName("admission")
	go func() {
		<-certsReady
		if err := register(mgr, opts); err != nil {
			log.Error(err, "webhooks not served")
			return
		}
		log.Info("serving certificate ready: webhooks registered")
	}()
	return nil
}

// caseCache is the reader the Case validator decides from: the manager's cache. The tests put
// a lag in front of it, to race allocations against a cache that has not seen a practitioner.
var caseCache = func(mgr ctrl.Manager) client.Reader { return mgr.GetClient() }

// Options are admission's settings.
type Options struct {
	// Calendar is the calendar of a council whose namespace names no time zone.
	Calendar policy.Calendar
	// ServiceAccountApprovers are the service accounts ("namespace/name") that may approve
	// exceptions where RBAC lets them; no other service account may (see Approvals).
	ServiceAccountApprovers []string
	// Now is this process's clock: the day a decision is made on, and when ledger entries were
	// first seen; time.Now when nil.
	Now func() time.Time
}

// newLedgerWriter is the writer of the teams' ledgers that decisions read through cache: it
// follows how far the manager's caches of Cases and Practitioners have come.
func newLedgerWriter(mgr ctrl.Manager, cache client.Reader, now func() time.Time) (*admit.Writer, error) {
	ctx := context.Background()
	cases, err := snapshot.Track(ctx, mgr.GetCache(), &caseloadv1alpha1.Case{})
	if err != nil {
		return nil, err
	}
	practitioners, err := snapshot.Track(ctx, mgr.GetCache(), &caseloadv1alpha1.Practitioner{})
	if err != nil {
		return nil, err
	}
	if !clientfeatures.FeatureGates().Enabled(clientfeatures.AtomicFIFO) {
		mgr.GetLogger().Info("client-go's AtomicFIFO is switched off (KUBE_FEATURE_AtomicFIFO=false): the caches cannot say how far they " +
			"have come, so every allocation is decided from the apiserver; unset it to decide from the caches")
	}
	return &admit.Writer{Cache: cache, Cases: cases, Practitioners: practitioners, Live: mgr.GetAPIReader(), Client: mgr.GetClient(),
		Now: now, Observed: &ledger.Observed{}}, nil
}

func register(mgr ctrl.Manager, opts Options) error {
	approvers := map[string]bool{}
	for _, sa := range opts.ServiceAccountApprovers {
		approvers[sa] = true
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	ledgers, err := newLedgerWriter(mgr, caseCache(mgr), now)
	if err != nil {
		return err
	}
	cases := &CaseValidator{
		Cache:     caseCache(mgr),
		Ledgers:   ledgers,
		Live:      mgr.GetAPIReader(),
		Client:    mgr.GetClient(),
		Approvals: Approvals{Client: mgr.GetClient(), ServiceAccounts: approvers},
		Calendars: snapshot.Calendars{Default: opts.Calendar},
		Events:    mgr.GetEventRecorder(EventSource),
		Now:       now,
		Log:       ctrl.Log.WithName("admission").WithName("case"),
	}
	if err := ctrl.NewWebhookManagedBy(mgr, &caseloadv1alpha1.Case{}).WithValidator(cases).Complete(); err != nil {
		return fmt.Errorf("case webhook: %w", err)
	}
	practitioners := &PractitionerValidator{Cache: mgr.GetClient(), Ledgers: ledgers, Live: mgr.GetAPIReader()}
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
	return nil
}

// Package controllers holds one reconciler per kind with status. Each fetches what it needs
// through the indexes, asks the policy engine for the figures (computed by the pure functions of
// the *_status.go files) and writes status once, only when it changed. None of them writes spec:
// the specs belong to the council's git repository. The Case reconciler's two other writes are
// records of its own: an ExceptionApproval per exception, and removing the consumed
// caseload.dev/exception-reason annotation.
package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/policy"
	"caseload.dev/caseload-operator/internal/snapshot"
)

// Workers per reconciler. Each reconciles one object at a time and most of its time is the round
// trip of a status write, so a few in parallel keep the apiserver busy on a platform of hundreds
// of thousands of cases (a first start writes every status); the work queue never hands the same
// object to two at once. The quota reconciler keeps one: it adds up audits other reconcilers make.
const (
	caseWorkers         = 4
	practitionerWorkers = 2
	teamWorkers         = 2
)

// FieldOwner is the field manager of every write the reconcilers make. They write the status
// subresource, and remove one annotation (which takes no ownership), so in an object's
// managedFields this name never owns spec or metadata: the specs belong to the council's git
// repository and its GitOps tool.
const FieldOwner = "caseload-operator"

// Options are the reconcilers' settings.
type Options struct {
	// PractitionerMetrics publishes per-practitioner metric series (opt-in).
	PractitionerMetrics bool
	// Clock tells the time; the real clock when nil. Tests set a fake one.
	Clock clock.PassiveClock
	// Client reads and writes; the manager's client, writing as FieldOwner, when nil. Every
	// object read through it is counted in caseload_reconcile_objects_read_total.
	Client client.Client
	// Calendar is the calendar of a council whose namespace names no time zone (--time-zone).
	Calendar policy.Calendar
}

// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

// Setup adds every reconciler to the manager. The indexes of package index must be set up first.
func Setup(mgr ctrl.Manager, opts Options) error {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Client == nil {
		opts.Client = client.WithFieldOwner(mgr.GetClient(), FieldOwner)
	}
	opts.Client = countedReads{opts.Client}
	m := mapper{c: opts.Client}
	audits := newAuditStore()
	changed := make(chan event.TypedGenericEvent[*v1alpha1.CaseloadQuota], 1024)
	rec := mgr.GetEventRecorder("caseload-operator")
	cals := &calendars{Calendars: snapshot.Calendars{Default: opts.Calendar}, Recorder: rec}
	status := statusWriter{Client: opts.Client, Recorder: rec}

	if err := (&PractitionerReconciler{Client: opts.Client, Clock: opts.Clock, Recorder: rec, Calendars: cals, Status: status,
		Metrics: opts.PractitionerMetrics}).SetupWithManager(mgr, m); err != nil {
		return err
	}
	if err := (&TeamReconciler{Client: opts.Client, Clock: opts.Clock, Calendars: cals, Status: status, Audits: audits, Quotas: changed}).SetupWithManager(mgr, m); err != nil {
		return err
	}
	if err := (&CaseReconciler{Client: opts.Client, Clock: opts.Clock, Recorder: rec, Calendars: cals, Status: status}).SetupWithManager(mgr, m); err != nil {
		return err
	}
	cases, err := snapshot.Track(context.Background(), mgr.GetCache(), &v1alpha1.Case{})
	if err != nil {
		return err
	}
	practitioners, err := snapshot.Track(context.Background(), mgr.GetCache(), &v1alpha1.Practitioner{})
	if err != nil {
		return err
	}
	if err := (&LedgerReconciler{Client: opts.Client, Live: mgr.GetAPIReader(), Clock: opts.Clock, Cases: cases, Practitioners: practitioners}).SetupWithManager(mgr); err != nil {
		return err
	}
	return (&CaseloadQuotaReconciler{Client: opts.Client, Recorder: rec, Status: status, Audits: audits, Changed: changed}).SetupWithManager(mgr)
}

// countedReads counts every object read through it in caseload_reconcile_objects_read_total: one
// per Get, one per item a List returns.
type countedReads struct {
	client.Client
}

func (c countedReads) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	objectsRead.Inc()
	return c.Client.Get(ctx, key, obj, opts...)
}

func (c countedReads) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	err := c.Client.List(ctx, list, opts...)
	if err == nil {
		objectsRead.Add(float64(meta.LenList(list)))
	}
	return err
}

package controllers

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/controller"

	"sigs.k8s.io/controller-runtime/pkg/predicate"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/index"
	"caseload.dev/caseload-operator/internal/snapshot"
)

// CaseReconciler keeps a Case's status current: its weight and how it was reached, who holds it
// and since when, its due date, whether it is overdue, and any exception it was admitted under.
type CaseReconciler struct {
	Client    client.Client
	Clock     clock.PassiveClock
	Recorder  events.EventRecorder
	Calendars *calendars
	Status    statusWriter
}

// +kubebuilder:rbac:groups=caseload.dev,resources=cases,verbs=get;list;watch
// +kubebuilder:rbac:groups=caseload.dev,resources=cases;cases/status,verbs=patch
// +kubebuilder:rbac:groups=caseload.dev,resources=exceptionapprovals,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=caseload.dev,resources=caseloadquotas,verbs=get;list;watch

// Reconcile computes and writes one case's status.
func (r *CaseReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var c v1alpha1.Case
	if err := r.Client.Get(ctx, req.NamespacedName, &c); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	now := r.Clock.Now()
	cal, zoneProblem, err := r.Calendars.of(ctx, r.Client, c.Namespace)
	if err != nil {
		return ctrl.Result{}, err
	}
	team, policies, err := snapshot.TeamPolicies(ctx, r.Client, c.Namespace, c.Spec.Team)
	if err != nil {
		return ctrl.Result{}, err
	}
	l, err := snapshot.Ledger(ctx, r.Client, c.Namespace, c.Spec.Team)
	if err != nil {
		return ctrl.Result{}, err
	}
	in := caseInput{Team: team, Policies: policies, Ledger: l.Spec.Reservations, Now: now, Calendar: cal, ZoneProblem: zoneProblem}
	if mayBeRestored(&c) {
		var approvals v1alpha1.ExceptionApprovalList
		if err := r.Client.List(ctx, &approvals, client.InNamespace(c.Namespace), client.MatchingFields{index.ExceptionApprovalByCase: c.Name}); err != nil {
			return ctrl.Result{}, err
		}
		in.Approvals = approvals.Items
	}

	// An exception's reason is kept where only approvers read it before the status says the
	// exception stands (the ledger keeps the entry until then, so a failure here is retried).
	for _, e := range unrecordedExceptions(&c, l.Spec.Reservations) {
		if err := r.Client.Create(ctx, exceptionRecord(&c, e)); err != nil && !apierrors.IsAlreadyExists(err) {
			return ctrl.Result{}, fmt.Errorf("record the exception of case %s: %w", c.Name, err)
		}
	}
	st, deadlinePassed, next := caseStatus(&c, in)
	if deadlinePassed && r.Recorder != nil {
		r.Recorder.Eventf(&c, nil, corev1.EventTypeWarning, "AllocationDeadlinePassed", "Audit",
			"case %s (%s) is unallocated past its allocation deadline: allocate it now", c.Name, c.Spec.Type)
	}
	if !equality.Semantic.DeepEqual(c.Status, st) {
		before := c.DeepCopy()
		c.Status = st
		if err := r.Status.write(ctx, &c, before, false); err != nil {
			return ctrl.Result{}, err
		}
	}
	if err := r.consumeReason(ctx, &c); err != nil {
		return ctrl.Result{}, err
	}
	return requeueAt(now, next), nil
}

// SetupWithManager watches cases, their team's labels and governing quota, the quotas that
// select their team, the exceptions their team's ledger records for them, and the
// ExceptionApprovals that name them (restored from a backup before the case, or after it).
func (r *CaseReconciler) SetupWithManager(mgr ctrl.Manager, m mapper) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("case").
		WithOptions(controller.Options{MaxConcurrentReconciles: caseWorkers}).
		For(&v1alpha1.Case{}, builder.WithPredicates(predicate.Or[client.Object](specChanged, carriesReason))).
		Watches(&v1alpha1.Team{}, handler.EnqueueRequestsFromMapFunc(m.teamCases), builder.WithPredicates(teamInputsChanged)).
		Watches(&v1alpha1.AllocationLedger{}, ledgerExceptions(), builder.WithPredicates(specChanged)).
		Watches(&v1alpha1.ExceptionApproval{}, handler.EnqueueRequestsFromMapFunc(approvalCase)).
		Watches(&v1alpha1.CaseloadQuota{}, handler.EnqueueRequestsFromMapFunc(m.then(m.teamCases)), builder.WithPredicates(caseRulesChanged)).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(m.namespaceCases), builder.OnlyMetadata, builder.WithPredicates(timeZoneChanged)).
		Complete(r)
}

// approvalCase is the Case an ExceptionApproval names.
func approvalCase(_ context.Context, o client.Object) []reconcile.Request {
	a, ok := o.(*v1alpha1.ExceptionApproval)
	if !ok || a.Spec.Case == "" {
		return nil
	}
	return []reconcile.Request{request(a.Namespace, a.Spec.Case)}
}

// consumeReason removes the caseload.dev/exception-reason annotation from a stored Case, the one
// change the operator makes outside a status. Admission has decided the change it came with:
// an exception it approved carries the reason in the team's ledger, from which an
// ExceptionApproval records it, and a reason that approved nothing has no further use. Left on
// the Case, it would be readable by everyone who may read the case, and could be taken for the
// reason of the next allocation.
func (r *CaseReconciler) consumeReason(ctx context.Context, c *v1alpha1.Case) error {
	if _, ok := c.Annotations[v1alpha1.ExceptionReasonAnnotation]; !ok {
		return nil
	}
	patch := client.RawPatch(types.MergePatchType, []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:null}}}`, v1alpha1.ExceptionReasonAnnotation)))
	return client.IgnoreNotFound(r.Client.Patch(ctx, c, patch))
}

package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/ledger"
	"caseload.dev/caseload-operator/internal/snapshot"
)

// LedgerReconciler keeps a team's allocation ledger short: in one write, it drops every entry
// whose Case the cache shows stored (or deleted), and every entry this process has seen for
// ledger.TTL whose change the apiserver does not hold (ledger.Prune, through snapshot.Sight),
// keeping an exception until the Case's status records it. Admission prunes the same way whenever
// it writes; this covers the quiet hours in between, and leaves a ledger admission is busy with
// alone (Observed.QuietFrom). A ledger being deleted keeps its finalizer until it holds nothing in
// flight: its entries are the only record of allocations some cache may not show.
type LedgerReconciler struct {
	Client client.Client
	// Live reads what the apiserver holds, for an entry whose request has ended.
	Live  client.Reader
	Clock clock.PassiveClock
	// Cases and Practitioners are how far the cache has come with each kind.
	Cases, Practitioners *snapshot.Progress
	Observed             ledger.Observed
}

// +kubebuilder:rbac:groups=caseload.dev,resources=allocationledgers,verbs=get;list;watch;update

// Reconcile prunes one ledger and asks to come back while anything in it waits.
func (r *LedgerReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var l v1alpha1.AllocationLedger
	if err := r.Client.Get(ctx, req.NamespacedName, &l); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	now := r.Clock.Now()
	r.Observed.See(req.String(), l.Spec, now)
	if quiet := r.Observed.QuietFrom(req.String()); now.Before(quiet) && l.DeletionTimestamp == nil {
		return requeueAt(now, quiet), nil
	}
	sight := snapshot.Sight{Cache: r.Client, Live: r.Live, Cases: r.Cases, Practitioners: r.Practitioners, Observed: &r.Observed}
	pruned := sight.Prune(ctx, req.NamespacedName, l.Spec, now)
	changed := !equality.Semantic.DeepEqual(pruned, l.Spec)
	l.Spec = pruned
	if l.DeletionTimestamp != nil && ledger.Empty(pruned) {
		changed = controllerutil.RemoveFinalizer(&l, ledger.Finalizer) || changed
	}
	if changed {
		// An update with the version read: an allocation admitted meanwhile is never lost.
		if err := r.Client.Update(ctx, &l); err != nil {
			if apierrors.IsConflict(err) {
				return ctrl.Result{Requeue: true}, nil
			}
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}
	if ledger.Empty(pruned) {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{RequeueAfter: ledger.Recheck}, nil
}

// SetupWithManager watches the ledgers (marking one for deletion changes its generation too).
func (r *LedgerReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("allocationledger").
		For(&v1alpha1.AllocationLedger{}, builder.WithPredicates(specChanged)).
		Complete(r)
}

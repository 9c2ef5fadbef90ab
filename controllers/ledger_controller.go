package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/ledger"
	"caseload.dev/caseload-operator/internal/snapshot"
)

// LedgerReconciler keeps a team's allocation ledger short: in one write, it drops every entry
// that has expired or whose Case the cache shows (ledger.Prune), keeping an exception until the
// Case's status records it. Admission prunes the same way whenever it writes; this covers the
// quiet hours in between, and leaves a ledger admission is busy with alone (ledger.QuietFrom).
type LedgerReconciler struct {
	Client client.Client
	Clock  clock.PassiveClock
}

// +kubebuilder:rbac:groups=caseload.dev,resources=allocationledgers,verbs=get;list;watch;update

// Reconcile prunes one ledger and asks to come back when the next entry may go.
func (r *LedgerReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var l v1alpha1.AllocationLedger
	if err := r.Client.Get(ctx, req.NamespacedName, &l); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	now := r.Clock.Now()
	if quiet := ledger.QuietFrom(l.Spec.Reservations); now.Before(quiet) {
		return requeueAt(now, quiet), nil
	}
	pruned := ledger.Prune(l.Spec, snapshot.OpenCases(ctx, r.Client, l.Namespace), now)
	if !equality.Semantic.DeepEqual(pruned, l.Spec) {
		l.Spec = pruned
		// An update with the version read: an allocation admitted meanwhile is never lost.
		if err := r.Client.Update(ctx, &l); err != nil {
			if apierrors.IsConflict(err) {
				return ctrl.Result{Requeue: true}, nil
			}
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}
	return requeueAt(now, ledger.NextChange(pruned, now)), nil
}

// SetupWithManager watches the ledgers.
func (r *LedgerReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("allocationledger").
		For(&v1alpha1.AllocationLedger{}, builder.WithPredicates(specChanged)).
		Complete(r)
}

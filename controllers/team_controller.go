package controllers

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/controller"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/policy"
	"caseload.dev/caseload-operator/internal/snapshot"
)

// TeamReconciler keeps a Team's status current: its totals, capacity and the bound that sets it,
// unallocated and overdue work, cases needing cover, and every selecting quota's audit of it.
type TeamReconciler struct {
	Client    client.Client
	Clock     clock.PassiveClock
	Calendars *calendars
	Status    statusWriter
	Audits    *auditStore
	// Quotas receives the quotas whose audits changed, for the CaseloadQuota reconciler.
	Quotas chan<- event.TypedGenericEvent[*v1alpha1.CaseloadQuota]
}

// +kubebuilder:rbac:groups=caseload.dev,resources=teams,verbs=get;list;watch
// +kubebuilder:rbac:groups=caseload.dev,resources=teams/status,verbs=patch

// Reconcile computes and writes one team's status and audits.
func (r *TeamReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var t v1alpha1.Team
	if err := r.Client.Get(ctx, req.NamespacedName, &t); err != nil {
		if apierrors.IsNotFound(err) {
			r.notify(r.Audits.SetTeam(req.Namespace, req.Name, nil))
			forgetTeam(req.Namespace, req.Name)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	now := r.Clock.Now()
	cal, zoneProblem, err := r.Calendars.of(ctx, r.Client, t.Namespace)
	if err != nil {
		return ctrl.Result{}, err
	}
	s, err := snapshot.Load(ctx, r.Client, cal, t.Namespace, t.Name, now)
	if err != nil {
		return ctrl.Result{}, err
	}
	st, next := teamStatus(t.Status, t.Generation, s, zoneProblem)
	r.notify(r.Audits.SetTeam(t.Namespace, t.Name, teamAudits(s)))

	if !equality.Semantic.DeepEqual(t.Status, st) {
		before := t.DeepCopy()
		t.Status = st
		if err := r.Status.write(ctx, &t, before, false); err != nil {
			return ctrl.Result{}, err
		}
	}
	recordTeam(t.Namespace, t.Name, &t.Status, policy.Set(s.Policies).BandCounts(s.View, s.Day))
	return requeueAt(now, next), nil
}

// notify hands the quotas whose audits changed to the CaseloadQuota reconciler without blocking.
func (r *TeamReconciler) notify(quotas []types.NamespacedName) {
	for _, q := range quotas {
		obj := &v1alpha1.CaseloadQuota{}
		obj.Namespace, obj.Name = q.Namespace, q.Name
		ev := event.TypedGenericEvent[*v1alpha1.CaseloadQuota]{Object: obj}
		select {
		case r.Quotas <- ev:
		default:
			go func() { r.Quotas <- ev }()
		}
	}
}

// SetupWithManager watches teams, their practitioners and cases, and the quotas that select them.
func (r *TeamReconciler) SetupWithManager(mgr ctrl.Manager, m mapper) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("team").
		WithOptions(controller.Options{MaxConcurrentReconciles: teamWorkers}).
		For(&v1alpha1.Team{}, builder.WithPredicates(teamInputsChanged)).
		Watches(&v1alpha1.Practitioner{}, handler.EnqueueRequestsFromMapFunc(m.practitionerTeam), builder.WithPredicates(specChanged)).
		Watches(&v1alpha1.Case{}, handler.EnqueueRequestsFromMapFunc(m.caseTeam), builder.WithPredicates(caseInputsChanged)).
		Watches(&v1alpha1.AllocationLedger{}, ledgerEntriesLeft(true), builder.WithPredicates(specChanged)).
		Watches(&v1alpha1.CaseloadQuota{}, handler.EnqueueRequestsFromMapFunc(m.quotaTeams), builder.WithPredicates(specChanged)).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(m.namespaceTeams), builder.OnlyMetadata, builder.WithPredicates(timeZoneChanged)).
		Complete(r)
}

package controllers

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/policy"
	"caseload.dev/caseload-operator/internal/snapshot"
	"caseload.dev/caseload-operator/internal/words"
)

// +kubebuilder:rbac:groups=caseload.dev,resources=caseloadquotas/status,verbs=patch

// CaseloadQuotaReconciler writes a quota's audit: the violations across every team it selects,
// whatever its enforcementAction. It adds up the per-team audits the Team reconciler keeps, so it
// never reads a case itself.
type CaseloadQuotaReconciler struct {
	Client   client.Client
	Recorder events.EventRecorder
	Status   statusWriter
	Audits   *auditStore
	// Changed carries the quotas whose team audits changed.
	Changed <-chan event.TypedGenericEvent[*v1alpha1.CaseloadQuota]

	// confirmed maps a quota to the generation for which every selected team has been audited.
	// Until then the reconciler lists the namespace's teams to know which it waits for; after,
	// the audit store's teams are the selected ones (the Team reconciler adds and removes them),
	// so a nudge about one team costs the same in a council of 3 teams or of 300.
	confirmed sync.Map
}

// waitForAudits is how soon a quota looks again while some of its teams have not been audited
// under its current spec. The Team reconciler nudges it sooner when it gets there.
const waitForAudits = 30 * time.Second

// Reconcile adds up one quota's audits and writes its status.
func (r *CaseloadQuotaReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var q v1alpha1.CaseloadQuota
	if err := r.Client.Get(ctx, req.NamespacedName, &q); err != nil {
		if client.IgnoreNotFound(err) == nil {
			r.Audits.ForgetQuota(req.NamespacedName)
			r.confirmed.Delete(req.NamespacedName)
			recordQuota(req.Namespace, req.Name, 0, nil)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	invalid := ""
	if _, errs := policy.FromSpec(q.Namespace+"/"+q.Name, q.Spec); len(errs) > 0 {
		invalid = "the policy cannot be applied: " + errs.ToAggregate().Error()
	}
	key := types.NamespacedName{Namespace: q.Namespace, Name: q.Name}
	audits := r.Audits.Quota(key)
	var names []string
	if gen, ok := r.confirmed.Load(key); ok && gen == q.Generation {
		for t := range audits {
			names = append(names, t)
		}
	} else {
		var teams v1alpha1.TeamList
		if err := r.Client.List(ctx, &teams, client.InNamespace(q.Namespace)); err != nil {
			return ctrl.Result{}, err
		}
		for i := range teams.Items {
			if snapshot.Selects(&q, &teams.Items[i]) {
				names = append(names, teams.Items[i].Name)
			}
		}
	}
	st := quotaStatus(&q, invalid, names, audits)
	waiting := meta.IsStatusConditionTrue(st.Conditions, v1alpha1.ConditionReconciling)
	if !waiting {
		r.confirmed.Store(key, q.Generation)
	}
	if !waiting && invalid == "" {
		r.announce(&q, st)
		recordQuota(q.Namespace, q.Name, q.Generation, violationsByRule(audits))
	}
	if !equality.Semantic.DeepEqual(q.Status, st) {
		before := q.DeepCopy()
		q.Status = st
		if err := r.Status.write(ctx, &q, before, false); err != nil {
			return ctrl.Result{}, err
		}
	}
	if waiting {
		return ctrl.Result{RequeueAfter: waitForAudits}, nil
	}
	return ctrl.Result{}, nil
}

// announce records an Event when violations appear or clear.
func (r *CaseloadQuotaReconciler) announce(q *v1alpha1.CaseloadQuota, st v1alpha1.CaseloadQuotaStatus) {
	if r.Recorder == nil {
		return
	}
	switch {
	case q.Status.Violations == 0 && st.Violations > 0:
		first := st.ViolationList[0]
		r.Recorder.Eventf(q, nil, corev1.EventTypeWarning, "ViolationsFound", "Audit",
			"%s (enforcementAction %s), first: %s %s breaks %s: %s", words.Count(int(st.Violations), "violation"), enforcement(q), first.Kind, first.Name, first.Rule, first.Message)
	case q.Status.Violations > 0 && st.Violations == 0:
		r.Recorder.Eventf(q, nil, corev1.EventTypeNormal, "ViolationsCleared", "Audit", "no violations across %s", words.Count(int(st.Teams), "team"))
	}
}

// SetupWithManager watches quotas and the nudges of the Team reconciler.
func (r *CaseloadQuotaReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("caseloadquota").
		For(&v1alpha1.CaseloadQuota{}, builder.WithPredicates(specChanged)).
		WatchesRawSource(source.Channel(r.Changed, &handler.TypedEnqueueRequestForObject[*v1alpha1.CaseloadQuota]{})).
		Complete(r)
}

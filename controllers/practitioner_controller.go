package controllers

import (
	"context"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/controller"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/index"
	"caseload.dev/caseload-operator/internal/policy"
	"caseload.dev/caseload-operator/internal/snapshot"
	"caseload.dev/caseload-operator/internal/words"
)

// PractitionerReconciler keeps a Practitioner's status current: cases, weight, capacity,
// headroom, band, and the cases needing cover while they are away. It reads the practitioner's
// own cases through the index, never the whole team.
type PractitionerReconciler struct {
	Client    client.Client
	Clock     clock.PassiveClock
	Recorder  events.EventRecorder
	Calendars *calendars
	Status    statusWriter
	// Metrics publishes per-practitioner series (opt-in).
	Metrics bool
}

// +kubebuilder:rbac:groups=caseload.dev,resources=practitioners,verbs=get;list;watch
// +kubebuilder:rbac:groups=caseload.dev,resources=practitioners/status,verbs=patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile computes and writes one practitioner's status.
func (r *PractitionerReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var p v1alpha1.Practitioner
	if err := r.Client.Get(ctx, req.NamespacedName, &p); err != nil {
		if apierrors.IsNotFound(err) {
			forgetPractitioner(req.Namespace, req.Name)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	now := r.Clock.Now()
	cal, zoneProblem, err := r.Calendars.of(ctx, r.Client, p.Namespace)
	if err != nil {
		return ctrl.Result{}, err
	}
	team, policies, err := snapshot.TeamPolicies(ctx, r.Client, p.Namespace, p.Spec.Team)
	if err != nil {
		return ctrl.Result{}, err
	}
	in := practitionerInput{Practitioner: policy.PractitionerFrom(&p), Policies: policies, TeamExists: team != nil,
		Now: now, Calendar: cal, ZoneProblem: zoneProblem}

	var cases v1alpha1.CaseList
	if err := r.Client.List(ctx, &cases, client.InNamespace(p.Namespace), client.MatchingFields{index.OpenCaseByPractitioner: p.Name}); err != nil {
		return ctrl.Result{}, err
	}
	engineCases := make([]policy.Case, len(cases.Items))
	for i := range cases.Items {
		engineCases[i] = policy.CaseFrom(&cases.Items[i], cal)
	}
	self := policy.TeamView{Members: []policy.Member{{Practitioner: in.Practitioner, Holdings: policy.HoldingsOf(p.Name, engineCases)}}, Cases: engineCases}
	if team != nil {
		l, err := snapshot.Ledger(ctx, r.Client, p.Namespace, team.Name)
		if err != nil {
			return ctrl.Result{}, err
		}
		self = policy.WithReservations(self, snapshot.Reservations(l.Spec.Reservations, team.Name))
	}
	in.Holdings = self.Members[0].Holdings

	st, next := practitionerStatus(p.Status, p.Generation, in)
	r.announce(&p, st)
	if !equality.Semantic.DeepEqual(p.Status, st) {
		before := p.DeepCopy()
		p.Status = st
		if err := r.Status.write(ctx, &p, before, false); err != nil {
			return ctrl.Result{}, err
		}
	}
	if r.Metrics {
		recordPractitioner(p.Namespace, p.Name, &p.Status, p.Spec.Team)
	}
	return requeueAt(now, next), nil
}

// announce records an Event when the practitioner goes Red or comes back from it, or goes away
// holding cases that then need cover (which is not coming back within capacity).
func (r *PractitionerReconciler) announce(p *v1alpha1.Practitioner, st v1alpha1.PractitionerStatus) {
	if r.Recorder == nil || p.Status.Band == st.Band {
		return
	}
	switch {
	case st.Band == v1alpha1.BandAway:
		if st.CasesNeedingCover > 0 {
			r.Recorder.Eventf(p, nil, corev1.EventTypeWarning, "NeedsCover", "Audit",
				"%s is away and holds %s that need cover; nothing is reassigned", p.Name, words.Count(int(st.CasesNeedingCover), "open case"))
		}
	case st.Band == v1alpha1.BandRed:
		r.Recorder.Eventf(p, nil, corev1.EventTypeWarning, "OverCapacity", "Audit",
			"%s is Red: weight %s of capacity %s (CaseloadQuota %s)", p.Name, st.Weight, st.Capacity, st.Quota)
	case p.Status.Band == v1alpha1.BandRed && st.Band != v1alpha1.BandAway:
		r.Recorder.Eventf(p, nil, corev1.EventTypeNormal, "BackWithinCapacity", "Audit",
			"%s is back to %s: weight %s of capacity %s (CaseloadQuota %s)", p.Name, st.Band, st.Weight, st.Capacity, st.Quota)
	}
}

// SetupWithManager watches practitioners, the cases they hold, their teams' labels and ledger,
// and the quotas that select their teams.
func (r *PractitionerReconciler) SetupWithManager(mgr ctrl.Manager, m mapper) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("practitioner").
		WithOptions(controller.Options{MaxConcurrentReconciles: practitionerWorkers}).
		For(&v1alpha1.Practitioner{}, builder.WithPredicates(specChanged)).
		Watches(&v1alpha1.Case{}, handler.EnqueueRequestsFromMapFunc(m.casePractitioners), builder.WithPredicates(specChanged)).
		Watches(&v1alpha1.AllocationLedger{}, ledgerEntriesLeft(false), builder.WithPredicates(specChanged)).
		Watches(&v1alpha1.Team{}, handler.EnqueueRequestsFromMapFunc(m.teamPractitioners), builder.WithPredicates(teamInputsChanged)).
		Watches(&v1alpha1.CaseloadQuota{}, handler.EnqueueRequestsFromMapFunc(m.then(m.teamPractitioners)), builder.WithPredicates(specChanged)).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(m.namespacePractitioners), builder.OnlyMetadata, builder.WithPredicates(timeZoneChanged)).
		Complete(r)
}

// requeueAt asks to be called again at the next boundary (a reduction or absence beginning or
// ending, midnight, a reservation expiring), so day-dependent figures change on the day without
// polling.
func requeueAt(now, next time.Time) ctrl.Result {
	if next.IsZero() {
		return ctrl.Result{}
	}
	d := next.Sub(now)
	if d < time.Second {
		d = time.Second
	}
	return ctrl.Result{RequeueAfter: d}
}

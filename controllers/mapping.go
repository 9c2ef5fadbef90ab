package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/index"
	"caseload.dev/caseload-operator/internal/snapshot"
)

// Each map function turns an event on one object into requests for the objects whose status
// depends on it, through the indexes. controller-runtime calls a map function with both the old
// and the new object on an update, so a case moving from one practitioner to another reaches both.

// mapper holds the cache the map functions read.
type mapper struct{ c client.Reader }

func request(ns, name string) reconcile.Request {
	return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}
}

// casePractitioners: a case -> its lead and co-workers.
func (m mapper) casePractitioners(_ context.Context, obj client.Object) []reconcile.Request {
	c, ok := obj.(*v1alpha1.Case)
	if !ok {
		return nil
	}
	var out []reconcile.Request
	if c.Spec.AllocatedTo != "" {
		out = append(out, request(c.Namespace, c.Spec.AllocatedTo))
	}
	for _, cw := range c.Spec.CoWorkers {
		out = append(out, request(c.Namespace, cw))
	}
	return out
}

// caseTeam: a case -> its team. practitionerTeam: a practitioner -> its team.
func (m mapper) caseTeam(_ context.Context, obj client.Object) []reconcile.Request {
	if c, ok := obj.(*v1alpha1.Case); ok && c.Spec.Team != "" {
		return []reconcile.Request{request(c.Namespace, c.Spec.Team)}
	}
	return nil
}

func (m mapper) practitionerTeam(_ context.Context, obj client.Object) []reconcile.Request {
	if p, ok := obj.(*v1alpha1.Practitioner); ok && p.Spec.Team != "" {
		return []reconcile.Request{request(p.Namespace, p.Spec.Team)}
	}
	return nil
}

// teamPractitioners: a team -> its practitioners.
func (m mapper) teamPractitioners(ctx context.Context, obj client.Object) []reconcile.Request {
	var list v1alpha1.PractitionerList
	if err := m.c.List(ctx, &list, client.InNamespace(obj.GetNamespace()), client.MatchingFields{index.PractitionerByTeam: obj.GetName()}); err != nil {
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for _, p := range list.Items {
		out = append(out, request(p.Namespace, p.Name))
	}
	return out
}

// teamCases: a team -> its open cases.
func (m mapper) teamCases(ctx context.Context, obj client.Object) []reconcile.Request {
	var list v1alpha1.CaseList
	if err := m.c.List(ctx, &list, client.InNamespace(obj.GetNamespace()), client.MatchingFields{index.OpenCaseByTeam: obj.GetName()}); err != nil {
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for _, c := range list.Items {
		out = append(out, request(c.Namespace, c.Name))
	}
	return out
}

// quotaTeams: a quota -> the teams it selects.
func (m mapper) quotaTeams(ctx context.Context, obj client.Object) []reconcile.Request {
	q, ok := obj.(*v1alpha1.CaseloadQuota)
	if !ok {
		return nil
	}
	var teams v1alpha1.TeamList
	if err := m.c.List(ctx, &teams, client.InNamespace(q.Namespace)); err != nil {
		return nil
	}
	var out []reconcile.Request
	for i := range teams.Items {
		if snapshot.Selects(q, &teams.Items[i]) {
			out = append(out, request(q.Namespace, teams.Items[i].Name))
		}
	}
	return out
}

// then chains a map function after quotaTeams: a quota -> its teams -> f of each team.
func (m mapper) then(f func(context.Context, client.Object) []reconcile.Request) func(context.Context, client.Object) []reconcile.Request {
	return func(ctx context.Context, obj client.Object) []reconcile.Request {
		var out []reconcile.Request
		for _, t := range m.quotaTeams(ctx, obj) {
			team := &v1alpha1.Team{}
			team.Namespace, team.Name = t.Namespace, t.Name
			out = append(out, f(ctx, team)...)
		}
		return out
	}
}

// namespaceTeams, namespacePractitioners, namespaceCases: a council's namespace -> every object
// of a kind in it, whose day boundaries move when its time zone does (a rare event).
func (m mapper) namespaceTeams(ctx context.Context, obj client.Object) []reconcile.Request {
	return m.inNamespace(ctx, obj.GetName(), &v1alpha1.TeamList{})
}

func (m mapper) namespacePractitioners(ctx context.Context, obj client.Object) []reconcile.Request {
	return m.inNamespace(ctx, obj.GetName(), &v1alpha1.PractitionerList{})
}

func (m mapper) namespaceCases(ctx context.Context, obj client.Object) []reconcile.Request {
	return m.inNamespace(ctx, obj.GetName(), &v1alpha1.CaseList{})
}

func (m mapper) inNamespace(ctx context.Context, ns string, list client.ObjectList) []reconcile.Request {
	if err := m.c.List(ctx, list, client.InNamespace(ns)); err != nil {
		return nil
	}
	var out []reconcile.Request
	_ = meta.EachListItem(list, func(o runtime.Object) error {
		if obj, ok := o.(client.Object); ok {
			out = append(out, request(obj.GetNamespace(), obj.GetName()))
		}
		return nil
	})
	return out
}

// timeZoneChanged passes a Namespace whose caseload.dev/time-zone annotation was set, changed or
// removed.
var timeZoneChanged = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		return e.ObjectOld.GetAnnotations()[v1alpha1.TimeZoneAnnotation] != e.ObjectNew.GetAnnotations()[v1alpha1.TimeZoneAnnotation]
	},
}

// carriesReason passes a Case that carries the caseload.dev/exception-reason annotation, which
// the Case reconciler consumes.
var carriesReason = predicate.NewPredicateFuncs(func(o client.Object) bool {
	_, ok := o.GetAnnotations()[v1alpha1.ExceptionReasonAnnotation]
	return ok
})

// specChanged passes creations, deletions and changes of spec (metadata.generation).
var specChanged = predicate.GenerationChangedPredicate{}

// teamInputsChanged passes a Team update that changes what others compute from it: its labels
// (which quotas select it) or its governing quota.
var teamInputsChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*v1alpha1.Team)
		n, ok2 := e.ObjectNew.(*v1alpha1.Team)
		if !ok1 || !ok2 {
			return true
		}
		return o.Generation != n.Generation ||
			!equality.Semantic.DeepEqual(o.Labels, n.Labels) ||
			o.Status.Quota != n.Status.Quota
	},
}

// caseRulesChanged passes a CaseloadQuota change that can change a case's status: anything but
// its caps and bands, which weigh on practitioners and teams, not on cases. Lowering a cap across
// a council is the usual policy change; it must not revisit every one of its cases.
var caseRulesChanged = predicate.And[client.Object](specChanged, predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*v1alpha1.CaseloadQuota)
		n, ok2 := e.ObjectNew.(*v1alpha1.CaseloadQuota)
		if !ok1 || !ok2 {
			return true
		}
		return !equality.Semantic.DeepEqual(caseRules(o.Spec), caseRules(n.Spec))
	},
})

// caseRules is a quota's spec without what no case's status reads.
func caseRules(s v1alpha1.CaseloadQuotaSpec) v1alpha1.CaseloadQuotaSpec {
	s.PractitionerCaps, s.TeamCap, s.Bands = nil, nil, v1alpha1.Bands{}
	return s
}

// caseInputsChanged passes a Case update that changes its team's figures: its spec, or the
// waiting time and exception its status records.
var caseInputsChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*v1alpha1.Case)
		n, ok2 := e.ObjectNew.(*v1alpha1.Case)
		if !ok1 || !ok2 {
			return true
		}
		return o.Generation != n.Generation ||
			!equality.Semantic.DeepEqual(o.Status.UnallocatedSince, n.Status.UnallocatedSince) ||
			!equality.Semantic.DeepEqual(o.Status.Exception, n.Status.Exception)
	},
}

// ledgerExceptions turns a change of a team's allocation ledger into requests for the Cases
// whose exceptions the entries that came, went or changed carry, and for nothing else. The
// practitioners and team an entry names are not requeued: its Case reaches their reconcilers a
// moment later, and an entry whose Case never comes must not change their figures meanwhile. So
// an allocation costs the same reconciles in a team of 5 as in a team of 500, and a pruning pass
// none for entries without an exception.
func ledgerExceptions() handler.EventHandler {
	enqueue := func(q workqueue.TypedRateLimitingInterface[reconcile.Request], ns string, old, new []v1alpha1.Reservation) {
		for _, r := range changedEntries(old, new) {
			if r.Exception != nil {
				q.Add(request(ns, r.Case))
			}
		}
	}
	entries := func(o client.Object) []v1alpha1.Reservation {
		if l, ok := o.(*v1alpha1.AllocationLedger); ok {
			return l.Spec.Reservations
		}
		return nil
	}
	return handler.Funcs{
		CreateFunc: func(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(q, e.Object.GetNamespace(), nil, entries(e.Object))
		},
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(q, e.ObjectNew.GetNamespace(), entries(e.ObjectOld), entries(e.ObjectNew))
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(q, e.Object.GetNamespace(), entries(e.Object), nil)
		},
	}
}

// changedEntries are the entries in one list and not the other, or changed between them.
func changedEntries(old, new []v1alpha1.Reservation) []v1alpha1.Reservation {
	type key struct{ id, practitioner string }
	was := make(map[key]v1alpha1.Reservation, len(old))
	for _, r := range old {
		was[key{r.ID, r.Practitioner}] = r
	}
	var out []v1alpha1.Reservation
	for _, r := range new {
		k := key{r.ID, r.Practitioner}
		if prev, ok := was[k]; !ok || !equality.Semantic.DeepEqual(prev, r) {
			out = append(out, r)
		}
		delete(was, k)
	}
	for _, r := range was {
		out = append(out, r)
	}
	return out
}

// ledgerEntriesLeft turns a change of a team's allocation ledger into requests for whatever the
// entries that left it were counted in: their practitioners (team false) or their team. Statuses
// count the entries whose Case no cache shows yet; an entry whose change was never stored leaves
// without any event of its Case, and the figures it was counted in must not keep it.
func ledgerEntriesLeft(team bool) handler.EventHandler {
	enqueue := func(q workqueue.TypedRateLimitingInterface[reconcile.Request], ns string, old, new []v1alpha1.Reservation) {
		stays := map[string]bool{}
		for _, r := range new {
			stays[r.ID+"/"+r.Practitioner] = true
		}
		for _, r := range old {
			if stays[r.ID+"/"+r.Practitioner] {
				continue
			}
			if team {
				q.Add(request(ns, r.Team))
			} else {
				q.Add(request(ns, r.Practitioner))
			}
		}
	}
	entries := func(o client.Object) []v1alpha1.Reservation {
		if l, ok := o.(*v1alpha1.AllocationLedger); ok {
			return l.Spec.Reservations
		}
		return nil
	}
	return handler.Funcs{
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(q, e.ObjectNew.GetNamespace(), entries(e.ObjectOld), entries(e.ObjectNew))
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(q, e.Object.GetNamespace(), entries(e.Object), nil)
		},
	}
}

package offline

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/index"
)

// worldReader serves a World to package snapshot as the operator's cache serves a cluster: Get
// by name, List by namespace or through the operator's indexes (package index). Built once, it
// answers each list from its indexes, so a plan over 320,000 cases reads each team's cases, not
// every case, for each team. What it returns shares its contents with the World: read only.
type worldReader struct {
	namespaces    map[string]*corev1.Namespace
	teams         map[client.ObjectKey]*v1alpha1.Team
	practitioners map[client.ObjectKey]*v1alpha1.Practitioner
	cases         map[client.ObjectKey]*v1alpha1.Case
	quotas        map[string][]v1alpha1.CaseloadQuota
	// by index name, then "namespace/value": the positions in the World's lists.
	caseIndex         map[string]map[string][]*v1alpha1.Case
	practitionerIndex map[string]map[string][]*v1alpha1.Practitioner
}

var _ client.Reader = (*worldReader)(nil)

func newWorldReader(w *World) *worldReader {
	r := &worldReader{
		namespaces:        map[string]*corev1.Namespace{},
		teams:             map[client.ObjectKey]*v1alpha1.Team{},
		practitioners:     map[client.ObjectKey]*v1alpha1.Practitioner{},
		cases:             map[client.ObjectKey]*v1alpha1.Case{},
		quotas:            map[string][]v1alpha1.CaseloadQuota{},
		caseIndex:         map[string]map[string][]*v1alpha1.Case{index.OpenCaseByTeam: {}, index.OpenCaseByPractitioner: {}},
		practitionerIndex: map[string]map[string][]*v1alpha1.Practitioner{index.PractitionerByTeam: {}},
	}
	for i := range w.Namespaces {
		r.namespaces[w.Namespaces[i].Name] = &w.Namespaces[i]
	}
	for i := range w.Teams {
		r.teams[client.ObjectKeyFromObject(&w.Teams[i])] = &w.Teams[i]
	}
	for i := range w.Practitioners {
		p := &w.Practitioners[i]
		r.practitioners[client.ObjectKeyFromObject(p)] = p
		for _, v := range index.PractitionerTeam(p) {
			k := p.Namespace + "/" + v
			r.practitionerIndex[index.PractitionerByTeam][k] = append(r.practitionerIndex[index.PractitionerByTeam][k], p)
		}
	}
	for i := range w.Cases {
		c := &w.Cases[i]
		r.cases[client.ObjectKeyFromObject(c)] = c
		for name, extract := range map[string]client.IndexerFunc{index.OpenCaseByTeam: index.CaseTeam, index.OpenCaseByPractitioner: index.CasePractitioners} {
			for _, v := range extract(c) {
				k := c.Namespace + "/" + v
				r.caseIndex[name][k] = append(r.caseIndex[name][k], c)
			}
		}
	}
	for _, q := range w.Quotas {
		r.quotas[q.Namespace] = append(r.quotas[q.Namespace], q)
	}
	return r
}

func (r *worldReader) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	found := false
	switch o := obj.(type) {
	case *metav1.PartialObjectMetadata:
		if ns, ok := r.namespaces[key.Name]; ok && o.GetObjectKind().GroupVersionKind().Kind == "Namespace" {
			o.ObjectMeta, found = *ns.ObjectMeta.DeepCopy(), true
		}
	case *corev1.Namespace:
		if ns, ok := r.namespaces[key.Name]; ok {
			*o, found = *ns.DeepCopy(), true
		}
	case *v1alpha1.Team:
		if t, ok := r.teams[key]; ok {
			*o, found = *t.DeepCopy(), true
		}
	case *v1alpha1.Practitioner:
		if p, ok := r.practitioners[key]; ok {
			*o, found = *p.DeepCopy(), true
		}
	case *v1alpha1.Case:
		if c, ok := r.cases[key]; ok {
			*o, found = *c.DeepCopy(), true
		}
	case *v1alpha1.AllocationLedger:
		// A snapshot holds no allocations in flight.
	default:
		return fmt.Errorf("a snapshot holds no %T", obj)
	}
	if !found {
		return apierrors.NewNotFound(schema.GroupResource{Resource: fmt.Sprintf("%T", obj)}, key.Name)
	}
	return nil
}

func (r *worldReader) List(_ context.Context, list client.ObjectList, opts ...client.ListOption) error {
	var lo client.ListOptions
	lo.ApplyOptions(opts)
	indexName, value := "", ""
	if lo.FieldSelector != nil && !lo.FieldSelector.Empty() {
		reqs := lo.FieldSelector.Requirements()
		if len(reqs) != 1 {
			return fmt.Errorf("a snapshot answers one field index at a time, not %s", lo.FieldSelector)
		}
		indexName, value = reqs[0].Field, reqs[0].Value
	}
	key := lo.Namespace + "/" + value
	switch l := list.(type) {
	case *v1alpha1.CaseList:
		if indexName == "" {
			return fmt.Errorf("a snapshot lists cases through an index")
		}
		idx, ok := r.caseIndex[indexName]
		if !ok {
			return fmt.Errorf("a snapshot has no index %s of cases", indexName)
		}
		l.Items = make([]v1alpha1.Case, 0, len(idx[key]))
		for _, c := range idx[key] {
			l.Items = append(l.Items, *c)
		}
	case *v1alpha1.PractitionerList:
		idx, ok := r.practitionerIndex[indexName]
		if !ok {
			return fmt.Errorf("a snapshot has no index %q of practitioners", indexName)
		}
		l.Items = make([]v1alpha1.Practitioner, 0, len(idx[key]))
		for _, p := range idx[key] {
			l.Items = append(l.Items, *p)
		}
	case *v1alpha1.CaseloadQuotaList:
		l.Items = append([]v1alpha1.CaseloadQuota(nil), r.quotas[lo.Namespace]...)
	default:
		return fmt.Errorf("a snapshot lists no %T", list)
	}
	return nil
}

package v1alpha1

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	caseloadv1alpha1 "caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/index"
	"caseload.dev/caseload-operator/internal/ledger"
	"caseload.dev/caseload-operator/internal/snapshot"
)

// The simulation's apiserver: one increasing resourceVersion for every write, compare-and-swap
// on update, generations that move with the spec, uids set on create, finalizers, and a log of
// every change in order, from which each replica's cache is fed as far as the simulation lets it.
// It holds objects of the kinds admission reads, and answers as the real one does: NotFound,
// AlreadyExists, Conflict, and lists at a resourceVersion.

type simKey struct {
	kind, namespace, name string
}

type simEvent struct {
	kind    string
	obj     client.Object
	deleted bool
}

type simAPI struct {
	rv   uint64
	uids int
	objs map[simKey]client.Object
	log  []simEvent
	// beforeWrite runs before the apiserver applies a write of an AllocationLedger: the
	// simulation lets other actors go on there, and may fail the write (fail), or apply it and
	// then answer with an error as a request that timed out would (lost).
	beforeWrite func(who string, obj client.Object) (fail, lost error)
}

func newSimAPI() *simAPI { return &simAPI{objs: map[simKey]client.Object{}} }

func kindOf(obj runtime.Object) string {
	switch obj.(type) {
	case *caseloadv1alpha1.Team, *caseloadv1alpha1.TeamList:
		return "Team"
	case *caseloadv1alpha1.Practitioner, *caseloadv1alpha1.PractitionerList:
		return "Practitioner"
	case *caseloadv1alpha1.Case, *caseloadv1alpha1.CaseList:
		return "Case"
	case *caseloadv1alpha1.CaseloadQuota, *caseloadv1alpha1.CaseloadQuotaList:
		return "CaseloadQuota"
	case *caseloadv1alpha1.AllocationLedger, *caseloadv1alpha1.AllocationLedgerList:
		return "AllocationLedger"
	}
	return fmt.Sprintf("%T", obj)
}

func resourceOf(kind string) schema.GroupResource {
	return schema.GroupResource{Group: caseloadv1alpha1.GroupVersion.Group, Resource: kind}
}

// copyInto copies src into dst, both of the same kind.
func copyInto(dst, src client.Object) {
	reflect.ValueOf(dst).Elem().Set(reflect.ValueOf(src.DeepCopyObject()).Elem())
}

func specOf(obj client.Object) any {
	return reflect.ValueOf(obj).Elem().FieldByName("Spec").Interface()
}

func (a *simAPI) get(key simKey, obj client.Object) error {
	stored, ok := a.objs[key]
	if !ok {
		return apierrors.NewNotFound(resourceOf(key.kind), key.name)
	}
	copyInto(obj, stored)
	return nil
}

func (a *simAPI) record(obj client.Object, deleted bool) {
	a.log = append(a.log, simEvent{kind: kindOf(obj), obj: obj.DeepCopyObject().(client.Object), deleted: deleted})
}

func (a *simAPI) create(obj client.Object) error {
	key := simKey{kindOf(obj), obj.GetNamespace(), obj.GetName()}
	if _, ok := a.objs[key]; ok {
		return apierrors.NewAlreadyExists(resourceOf(key.kind), key.name)
	}
	a.rv++
	if obj.GetUID() == "" {
		obj.SetUID(a.newUID())
	}
	obj.SetResourceVersion(fmt.Sprint(a.rv))
	obj.SetGeneration(1)
	a.objs[key] = obj.DeepCopyObject().(client.Object)
	a.record(obj, false)
	return nil
}

func (a *simAPI) newUID() types.UID {
	a.uids++
	return types.UID(fmt.Sprintf("uid-%d", a.uids))
}

func (a *simAPI) update(obj client.Object) error {
	key := simKey{kindOf(obj), obj.GetNamespace(), obj.GetName()}
	stored, ok := a.objs[key]
	if !ok {
		return apierrors.NewNotFound(resourceOf(key.kind), key.name)
	}
	if obj.GetResourceVersion() != stored.GetResourceVersion() || (obj.GetUID() != "" && obj.GetUID() != stored.GetUID()) {
		return apierrors.NewConflict(resourceOf(key.kind), key.name, errors.New("the object has been modified"))
	}
	next := obj.DeepCopyObject().(client.Object)
	next.SetUID(stored.GetUID())
	next.SetDeletionTimestamp(stored.GetDeletionTimestamp())
	next.SetGeneration(stored.GetGeneration())
	if !reflect.DeepEqual(specOf(next), specOf(stored)) {
		next.SetGeneration(stored.GetGeneration() + 1)
	}
	a.rv++
	next.SetResourceVersion(fmt.Sprint(a.rv))
	if next.GetDeletionTimestamp() != nil && len(next.GetFinalizers()) == 0 {
		delete(a.objs, key)
		a.record(next, true)
	} else {
		a.objs[key] = next
		a.record(next, false)
	}
	copyInto(obj, next)
	return nil
}

func (a *simAPI) delete(key simKey) error {
	stored, ok := a.objs[key]
	if !ok {
		return apierrors.NewNotFound(resourceOf(key.kind), key.name)
	}
	a.rv++
	next := stored.DeepCopyObject().(client.Object)
	next.SetResourceVersion(fmt.Sprint(a.rv))
	if len(next.GetFinalizers()) > 0 {
		if next.GetDeletionTimestamp() == nil {
			now := metav1.Now()
			next.SetDeletionTimestamp(&now)
			next.SetGeneration(next.GetGeneration() + 1)
		}
		a.objs[key] = next
		a.record(next, false)
		return nil
	}
	delete(a.objs, key)
	a.record(next, true)
	return nil
}

// list fills list with the objects of its kind in namespace that keep accepts, sorted by name,
// at the current resourceVersion.
func (a *simAPI) list(objs map[simKey]client.Object, list client.ObjectList, namespace string, keep func(client.Object) bool) error {
	kind := kindOf(list)
	var items []runtime.Object
	var keys []simKey
	for k := range objs {
		if k.kind == kind && (namespace == "" || k.namespace == namespace) {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].name < keys[j].name })
	for _, k := range keys {
		if keep == nil || keep(objs[k]) {
			items = append(items, objs[k].DeepCopyObject())
		}
	}
	if err := meta.SetList(list, items); err != nil {
		return err
	}
	list.(metav1.ListInterface).SetResourceVersion(fmt.Sprint(a.rv))
	return nil
}

// simLive is the apiserver as a client sees it: reads, and the writes admission makes.
type simLive struct {
	client.Client
	api *simAPI
	who string // the replica writing, if any
}

func keyOf(obj client.Object, key client.ObjectKey) simKey {
	return simKey{kindOf(obj), key.Namespace, key.Name}
}

func (l simLive) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	if _, ok := obj.(*metav1.PartialObjectMetadata); ok {
		return apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, key.Name) // every council on the default calendar
	}
	return l.api.get(keyOf(obj, key), obj)
}

func (l simLive) List(_ context.Context, list client.ObjectList, opts ...client.ListOption) error {
	o := &client.ListOptions{}
	o.ApplyOptions(opts)
	var keep func(client.Object) bool
	if o.FieldSelector != nil {
		team, ok := o.FieldSelector.RequiresExactMatch("spec.team")
		if !ok {
			return fmt.Errorf("the apiserver cannot select by %s", o.FieldSelector)
		}
		keep = func(obj client.Object) bool { return teamOf(obj) == team }
	}
	return l.api.list(l.api.objs, list, o.Namespace, keep)
}

func teamOf(obj client.Object) string {
	switch o := obj.(type) {
	case *caseloadv1alpha1.Case:
		return o.Spec.Team
	case *caseloadv1alpha1.Practitioner:
		return o.Spec.Team
	}
	return ""
}

func (l simLive) Create(_ context.Context, obj client.Object, _ ...client.CreateOption) error {
	return l.write(obj, l.api.create)
}

func (l simLive) Update(_ context.Context, obj client.Object, _ ...client.UpdateOption) error {
	return l.write(obj, l.api.update)
}

func (l simLive) write(obj client.Object, apply func(client.Object) error) error {
	if _, ledger := obj.(*caseloadv1alpha1.AllocationLedger); ledger && l.api.beforeWrite != nil {
		fail, lost := l.api.beforeWrite(l.who, obj)
		if fail != nil {
			return fail
		}
		if err := apply(obj); err != nil {
			return err
		}
		return lost
	}
	return apply(obj)
}

// simCache is one replica's informer cache: the apiserver's log applied as far as the simulation
// has delivered it, in order, each change handed on to the replica's Progress as an informer's
// handlers would be. Now and then its watch fails and it lists again. With client-go's
// AtomicFIFO (atomic) the list replaces the store at once and the store says how far it has come;
// without it, the list reaches the store one object at a time, in no order, between deliveries,
// and the store says nothing.
type simCache struct {
	api                  *simAPI
	at                   int // how much of api.log is applied
	objs                 map[simKey]client.Object
	cases, practitioners *snapshot.Progress
	atomic               bool
	store                map[string]uint64 // how far the store of each kind has come
	relist               []simEvent        // the rest of a list reaching the store piecemeal
}

func newSimCache(api *simAPI, atomic bool) *simCache {
	c := &simCache{api: api, objs: map[simKey]client.Object{}, cases: snapshot.NewProgress(), practitioners: snapshot.NewProgress(),
		atomic: atomic, store: map[string]uint64{}}
	c.cases.Store = c.storeOf("Case")
	c.practitioners.Store = c.storeOf("Practitioner")
	c.deliver(len(api.log))
	return c
}

// storeOf is what the informer's store of kind says of how far it has come.
func (c *simCache) storeOf(kind string) func() string {
	return func() string {
		if !c.atomic {
			return ""
		}
		return fmt.Sprint(c.store[kind])
	}
}

// behind is how many changes the cache has not applied yet.
func (c *simCache) behind() int { return len(c.api.log) - c.at + len(c.relist) }

// deliver applies the next n changes: the rest of a list first, then the log.
func (c *simCache) deliver(n int) {
	for ; n > 0 && len(c.relist) > 0; n-- {
		c.apply(c.relist[0])
		c.relist = c.relist[1:]
	}
	for ; n > 0 && len(c.relist) == 0 && c.at < len(c.api.log); n-- {
		e := c.api.log[c.at]
		c.at++
		c.apply(e)
		c.store[e.kind] = ledger.ParseVersion(e.obj.GetResourceVersion())
	}
}

// apply puts one change in the store and hands it on.
func (c *simCache) apply(e simEvent) {
	key := simKey{e.kind, e.obj.GetNamespace(), e.obj.GetName()}
	if e.deleted {
		delete(c.objs, key)
	} else {
		c.objs[key] = e.obj
	}
	switch e.kind {
	case "Case":
		c.cases.Saw(e.obj, e.deleted)
	case "Practitioner":
		c.practitioners.Saw(e.obj, e.deleted)
	}
}

// listAgain is a failed watch: the cache lists everything at the apiserver's current
// resourceVersion. What differs from the store reaches it at once (atomic) or piecemeal in the
// order shuffle leaves it, a deletion as the object last seen (client-go's
// DeletedFinalStateUnknown).
func (c *simCache) listAgain(shuffle func([]simEvent)) {
	var diff []simEvent
	stored, cached := c.api.keys(), c.keys()
	for _, k := range sortedKeys(stored) {
		key := stored[k]
		obj := c.api.objs[key]
		if was, ok := c.objs[key]; !ok || was.GetResourceVersion() != obj.GetResourceVersion() {
			diff = append(diff, simEvent{kind: key.kind, obj: obj.DeepCopyObject().(client.Object)})
		}
	}
	for _, k := range sortedKeys(cached) {
		key := cached[k]
		if _, ok := c.api.objs[key]; !ok {
			diff = append(diff, simEvent{kind: key.kind, obj: c.objs[key], deleted: true})
		}
	}
	c.at, c.relist = len(c.api.log), nil
	if !c.atomic {
		shuffle(diff)
		c.relist = diff
		return
	}
	for _, e := range diff {
		c.apply(e)
	}
	c.store["Case"], c.store["Practitioner"] = c.api.rv, c.api.rv
}

func (c *simCache) keys() map[string]simKey { return keysOf(c.objs) }

func (a *simAPI) keys() map[string]simKey { return keysOf(a.objs) }

func keysOf(objs map[simKey]client.Object) map[string]simKey {
	out := make(map[string]simKey, len(objs))
	for k := range objs {
		out[k.kind+"/"+k.namespace+"/"+k.name] = k
	}
	return out
}

func (c *simCache) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	if _, ok := obj.(*metav1.PartialObjectMetadata); ok {
		return apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, key.Name)
	}
	stored, ok := c.objs[keyOf(obj, key)]
	if !ok {
		return apierrors.NewNotFound(resourceOf(kindOf(obj)), key.Name)
	}
	copyInto(obj, stored)
	return nil
}

func (c *simCache) List(_ context.Context, list client.ObjectList, opts ...client.ListOption) error {
	o := &client.ListOptions{}
	o.ApplyOptions(opts)
	var keep func(client.Object) bool
	if o.FieldSelector != nil {
		for _, ix := range []struct {
			key     string
			extract client.IndexerFunc
		}{{index.OpenCaseByPractitioner, index.CasePractitioners}, {index.OpenCaseByTeam, index.CaseTeam}, {index.PractitionerByTeam, index.PractitionerTeam}} {
			if want, ok := o.FieldSelector.RequiresExactMatch(ix.key); ok {
				keep = func(obj client.Object) bool {
					for _, v := range ix.extract(obj) {
						if v == want {
							return true
						}
					}
					return false
				}
			}
		}
		if keep == nil {
			return fmt.Errorf("the cache has no index for %s", o.FieldSelector)
		}
	}
	return c.api.list(c.objs, list, o.Namespace, keep)
}

// simManagerClient is what the operator's reconcilers use: reads from the cache, writes to the
// apiserver.
type simManagerClient struct {
	simLive
	cache *simCache
}

func (m simManagerClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	return m.cache.Get(ctx, key, obj, opts...)
}

func (m simManagerClient) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	return m.cache.List(ctx, list, opts...)
}

package admission

import (
	"context"
	"fmt"
	"reflect"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// LiveReads reads from the apiserver for one decision of a batch, each object and list once: a
// batch decided from the apiserver costs one read of the team however many jobs it holds. What it
// returns is a copy; a read that failed for another reason than NotFound is not kept.
type LiveReads struct {
	client.Reader
	mu   sync.Mutex
	seen map[string]liveRead
}

type liveRead struct {
	obj runtime.Object
	err error
}

func NewLiveReads(r client.Reader) *LiveReads {
	return &LiveReads{Reader: r, seen: map[string]liveRead{}}
}

func (l *LiveReads) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	return l.once(fmt.Sprintf("get %T %s", obj, key), obj, func() error { return l.Reader.Get(ctx, key, obj, opts...) })
}

func (l *LiveReads) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	o := &client.ListOptions{}
	o.ApplyOptions(opts)
	return l.once(fmt.Sprintf("list %T %s %v %v %d", list, o.Namespace, o.LabelSelector, o.FieldSelector, o.Limit), list,
		func() error { return l.Reader.List(ctx, list, opts...) })
}

func (l *LiveReads) once(key string, into runtime.Object, read func() error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r, ok := l.seen[key]; ok {
		if r.err == nil {
			reflect.ValueOf(into).Elem().Set(reflect.ValueOf(r.obj.DeepCopyObject()).Elem())
		}
		return r.err
	}
	err := read()
	if err == nil || apierrors.IsNotFound(err) {
		l.seen[key] = liveRead{obj: into.DeepCopyObject(), err: err}
	}
	return err
}

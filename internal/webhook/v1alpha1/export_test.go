package v1alpha1

import (
	"context"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	caseloadv1alpha1 "caseload.dev/caseload-operator/api/v1alpha1"
	admit "caseload.dev/caseload-operator/internal/admission"
)

// UnseenPrefix names practitioners the Case validator's cache never shows, as if each had been
// created a moment before every decision about them: the deterministic form of the race
// between creating a practitioner and allocating to them.
const UnseenPrefix = "newcomer-"

func init() {
	caseCache = func(mgr ctrl.Manager) client.Reader { return lagging{mgr.GetClient()} }
}

type lagging struct{ client.Reader }

func (l lagging) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, ok := obj.(*caseloadv1alpha1.Practitioner); ok && strings.HasPrefix(key.Name, UnseenPrefix) {
		return apierrors.NewNotFound(schema.GroupResource{Group: caseloadv1alpha1.GroupVersion.Group, Resource: "practitioners"}, key.Name)
	}
	return l.Reader.Get(ctx, key, obj, opts...)
}

func (l lagging) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if err := l.Reader.List(ctx, list, opts...); err != nil {
		return err
	}
	if _, ok := list.(*caseloadv1alpha1.PractitionerList); !ok {
		return nil
	}
	items, _ := meta.ExtractList(list)
	kept := items[:0]
	for _, o := range items {
		if !strings.HasPrefix(o.(client.Object).GetName(), UnseenPrefix) {
			kept = append(kept, o)
		}
	}
	return meta.SetList(list, append([]runtime.Object(nil), kept...))
}

// ReasonReused lets the tests check the rule without racing the operator, which removes the
// annotation soon after admission.
var ReasonReused = reasonReused

// LiveDecisions is how many batches this process has decided from the apiserver rather than
// its cache.
func LiveDecisions() float64 { return testutil.ToFloat64(admit.LiveDecisions) }

package gitops

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

// runtimeToUnstructured is a typed object as the apiserver returned it, as an unstructured one.
func runtimeToUnstructured(o runtime.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("Case"))
	u.SetManagedFields(nil)
	return u, nil
}

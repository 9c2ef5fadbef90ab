package importer

import (
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"caseload.dev/caseload-operator/api/v1alpha1"
	crds "caseload.dev/caseload-operator/config/crd/bases"
)

// TestImportChecksRowsByTheCaseCRD: the importer judges an extract's rows by the bounds of
// api/v1alpha1 (children, the shape of a reference and of a type) before the apiserver sees them;
// the kubebuilder markers restate them for the CRD. Here the generated CRD holds them to the
// constants, so the two cannot drift apart unseen.
func TestImportChecksRowsByTheCaseCRD(t *testing.T) {
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(crds.Cases, &crd); err != nil {
		t.Fatal(err)
	}
	var spec apiextensionsv1.JSONSchemaProps
	for _, v := range crd.Spec.Versions {
		if v.Name == v1alpha1.GroupVersion.Version {
			spec = v.Schema.OpenAPIV3Schema.Properties["spec"]
		}
	}
	children := spec.Properties["children"]
	if children.Minimum == nil || *children.Minimum != v1alpha1.MinChildren || children.Maximum == nil || *children.Maximum != v1alpha1.MaxChildren {
		t.Errorf("the CRD bounds spec.children by %v and %v; the importer by %d and %d", children.Minimum, children.Maximum, v1alpha1.MinChildren, v1alpha1.MaxChildren)
	}
	typ := spec.Properties["type"]
	if typ.Pattern != v1alpha1.TypePattern || typ.MaxLength == nil || *typ.MaxLength != v1alpha1.MaxTypeLength {
		t.Errorf("the CRD's spec.type is %q of at most %v; the importer's %q of at most %d", typ.Pattern, typ.MaxLength, v1alpha1.TypePattern, v1alpha1.MaxTypeLength)
	}
	ref, found := spec.Properties["reference"], false
	for _, rule := range ref.XValidations {
		found = found || strings.Contains(rule.Rule, "'"+v1alpha1.ReferencePattern+"'")
	}
	if !found {
		t.Errorf("no rule of the CRD's spec.reference matches the importer's pattern %s: %+v", v1alpha1.ReferencePattern, ref.XValidations)
	}

	// And the importer applies them: the first and last number of children pass, the next does not.
	for n, ok := range map[string]bool{"0": false, "1": true, "20": true, "21": false} {
		_, problems := rowsOf(t, defaultImportMapping(), "reference,team,type,opened,children", "C-1,north,ChildInNeed,2026-11-02,"+n)
		if got := len(problems) == 0; got != ok {
			t.Errorf("children %s: accepted %v, want %v (%v)", n, got, ok, problems)
		}
	}
}

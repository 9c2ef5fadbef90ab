// Package integration holds the tests of the API against a real kube-apiserver and etcd: what the
// CRD schema and its CEL rules accept and refuse, with the messages a person sees in kubectl.
package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"caseload.dev/caseload-operator/internal/manifest"
	"caseload.dev/caseload-operator/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	var err error
	env, err = testenv.Start(testenv.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

func TestCRDsServeNamesAndColumnsForKubectl(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		plural, short string
		columns       []string
	}{
		{"teams", "tm", []string{"Cases", "Unallocated", "Weight", "Capacity", "Utilisation", "Band"}},
		{"practitioners", "prac", []string{"Team", "Grade", "Cases", "Weight", "Capacity", "Headroom", "Band"}},
		{"cases", "", []string{"Team", "Type", "Allocated", "Weight", "Due", "Overdue"}},
		{"caseloadquotas", "clq", []string{"Mode", "Teams", "Violations", "Ready"}},
	} {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := env.Client.Get(ctx, client.ObjectKey{Name: tc.plural + ".caseload.dev"}, &crd); err != nil {
			t.Fatalf("CRD %s is not installed: %v", tc.plural, err)
		}
		names := crd.Status.AcceptedNames
		if !contains(names.Categories, "caseload") {
			t.Errorf("%s is not in the caseload category (kubectl get caseload): %v", tc.plural, names.Categories)
		}
		if tc.short != "" && !contains(names.ShortNames, tc.short) {
			t.Errorf("%s short names %v lack %q", tc.plural, names.ShortNames, tc.short)
		}
		if crd.Spec.Scope != apiextensionsv1.NamespaceScoped {
			t.Errorf("%s is %s: every kind is namespaced, one council per namespace", tc.plural, crd.Spec.Scope)
		}
		var got []string
		for _, c := range crd.Spec.Versions[0].AdditionalPrinterColumns {
			if c.Priority == 0 {
				got = append(got, c.Name)
			}
		}
		for _, want := range tc.columns {
			if !contains(got, want) {
				t.Errorf("kubectl get %s shows %v, missing %s", tc.plural, got, want)
			}
		}
	}
}

// TestSamplesApply creates every object in config/samples, as `kubectl apply -f config/samples`
// would, with strict field validation.
func TestSamplesApply(t *testing.T) {
	ctx := context.Background()
	objs := readSamples(t, filepath.Join(env.Root, "config", "samples"))
	if len(objs) < 4 {
		t.Fatalf("config/samples holds %d objects; it should hold at least one of each kind", len(objs))
	}
	kinds := map[string]int{}
	for _, o := range objs {
		ensureNamespace(t, o.GetNamespace())
		if err := env.Client.Create(ctx, o, client.FieldValidation("Strict")); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Errorf("sample %s %s/%s is refused: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
		kinds[o.GetKind()]++
	}
	for _, k := range []string{"Team", "Practitioner", "Case", "CaseloadQuota"} {
		if kinds[k] == 0 {
			t.Errorf("config/samples has no %s", k)
		}
	}
}

// TestMalformedObjectsAreRefused checks that the apiserver itself, with no webhook running,
// refuses each kind of bad input with a message a manager can act on.
func TestMalformedObjectsAreRefused(t *testing.T) {
	ns := "schema-refusals"
	ensureNamespace(t, ns)
	team := obj("Team", ns, "north", map[string]any{"displayName": "North"})
	validCase := func(edit func(spec map[string]any)) *unstructured.Unstructured {
		spec := map[string]any{"reference": "LCS-1", "team": "north", "type": "ChildInNeed", "openedOn": "2026-10-01"}
		edit(spec)
		return obj("Case", ns, "c-bad", spec)
	}
	validPractitioner := func(edit func(spec map[string]any)) *unstructured.Unstructured {
		spec := map[string]any{"team": "north", "grade": "SocialWorker"}
		edit(spec)
		return obj("Practitioner", ns, "p-bad", spec)
	}
	validQuota := func(edit func(spec map[string]any)) *unstructured.Unstructured {
		spec := map[string]any{"practitionerCaps": []any{map[string]any{"grade": "SocialWorker", "maxWeight": "15"}}}
		edit(spec)
		return obj("CaseloadQuota", ns, "q-bad", spec)
	}
	if err := env.Client.Create(context.Background(), team); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		obj  *unstructured.Unstructured
		want string
	}{
		{"a name as case reference", validCase(func(s map[string]any) { s["reference"] = "Jo Bloggs" }),
			"reference must be a pseudonymous token"},
		{"fte 0", validPractitioner(func(s map[string]any) { s["fte"] = "0" }), "fte is the share of full time: more than 0 and at most 1"},
		{"fte 0.000", validPractitioner(func(s map[string]any) { s["fte"] = "0.000" }), "fte is the share of full time"},
		{"fte 1.5", validPractitioner(func(s map[string]any) { s["fte"] = "1.5" }), "fte is the share of full time"},
		{"reduction over 100%", validPractitioner(func(s map[string]any) {
			s["reductions"] = []any{map[string]any{"reason": "PhasedReturn", "percent": int64(120)}}
		}), "should be less than or equal to 100"},
		{"a diagnosis as reduction reason", validPractitioner(func(s map[string]any) {
			s["reductions"] = []any{map[string]any{"reason": "Depression", "percent": int64(20)}}
		}), "Unsupported value: \"Depression\""},
		{"an absence ending before it begins", validPractitioner(func(s map[string]any) {
			s["absences"] = []any{map[string]any{"from": "2027-01-10", "until": "2027-01-03", "reason": "Sickness"}}
		}), "an absence's until (its last day) cannot be before its from"},
		{"overlapping absences", validPractitioner(func(s map[string]any) {
			s["absences"] = []any{
				map[string]any{"from": "2027-01-04", "until": "2027-01-15", "reason": "AnnualLeave"},
				map[string]any{"from": "2027-01-15", "reason": "Sickness"},
			}
		}), "absences cannot overlap: end one before the next begins, or merge them into one"},
		{"an open-ended absence with another after it", validPractitioner(func(s map[string]any) {
			s["absences"] = []any{
				map[string]any{"from": "2027-01-04", "reason": "Sickness"},
				map[string]any{"from": "2027-03-01", "until": "2027-03-05", "reason": "Training"},
			}
		}), "absences cannot overlap"},
		{"a diagnosis as absence reason", validPractitioner(func(s map[string]any) {
			s["absences"] = []any{map[string]any{"from": "2027-01-04", "reason": "Flu"}}
		}), "Unsupported value: \"Flu\""},
		{"too many absences", validPractitioner(func(s map[string]any) {
			var many []any
			for i := range 17 {
				many = append(many, map[string]any{"from": fmt.Sprintf("2027-%02d-01", i%12+1), "until": fmt.Sprintf("2027-%02d-02", i%12+1), "reason": "Training"})
			}
			s["absences"] = many
		}), "must have at most 16 items"},
		{"negative personal ceiling", validPractitioner(func(s map[string]any) { s["maxWeight"] = "-3" }), "must be a number of at least 0"},
		{"negative case weight", validQuota(func(s map[string]any) {
			s["weights"] = map[string]any{"caseTypes": map[string]any{"ChildProtection": "-1.5"}}
		}), "must be a weight from 0 to 9999.999 with at most three decimals"},
		{"case weight beyond 9999.999", validQuota(func(s map[string]any) {
			s["weights"] = map[string]any{"caseTypes": map[string]any{"ChildProtection": "10000"}}
		}), "must be a weight from 0 to 9999.999 with at most three decimals"},
		{"complexity multiplier beyond 99.999", validQuota(func(s map[string]any) {
			s["weights"] = map[string]any{"complexity": map[string]any{"High": "150"}}
		}), "must be a multiplier from 0 to 99.999 with at most three decimals"},
		{"weight in milli-units", validQuota(func(s map[string]any) {
			s["weights"] = map[string]any{"default": "1500m"}
		}), "must be a weight from 0 to 9999.999 with at most three decimals"},
		{"two caps for one grade", validQuota(func(s map[string]any) {
			s["practitionerCaps"] = []any{map[string]any{"grade": "SocialWorker", "maxWeight": "15"}, map[string]any{"grade": "SocialWorker", "maxWeight": "18"}}
		}), "Duplicate value"},
		{"amber above red", validQuota(func(s map[string]any) {
			s["bands"] = map[string]any{"amberPercent": int64(110), "redPercent": int64(100)}
		}), "amberPercent cannot be above redPercent"},
		{"exceptions below the cap", validQuota(func(s map[string]any) {
			s["exceptions"] = map[string]any{"maxPercent": int64(80)}
		}), "maxPercent is 0 (no exceptions) or at least 100"},
		{"an unknown enforcement action", validQuota(func(s map[string]any) { s["enforcementAction"] = "Block" }), "Unsupported value: \"Block\""},
		{"children 0", validCase(func(s map[string]any) { s["children"] = int64(0) }), "should be greater than or equal to 1"},
		{"closedOn before openedOn", validCase(func(s map[string]any) { s["closedOn"] = "2026-09-30" }), "closedOn cannot be before openedOn"},
		{"a date that is not a date", validCase(func(s map[string]any) { s["openedOn"] = "2026-13-45" }), "openedOn"},
		{"lead also a co-worker", validCase(func(s map[string]any) { s["allocatedTo"] = "p1"; s["coWorkers"] = []any{"p1"} }),
			"the allocated practitioner cannot also be a co-worker"},
		{"an unknown complexity", validCase(func(s map[string]any) { s["complexity"] = "Extreme" }), "Unsupported value: \"Extreme\""},
		{"a name field", validCase(func(s map[string]any) { s["childName"] = "Jo Bloggs" }), `unknown field "spec.childName"`},
		{"a date-of-birth field", validCase(func(s map[string]any) { s["dateOfBirth"] = "2015-04-01" }), `unknown field "spec.dateOfBirth"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := env.Client.Create(context.Background(), tc.obj, client.FieldValidation("Strict"))
			if err == nil {
				_ = env.Client.Delete(context.Background(), tc.obj)
				t.Fatalf("the apiserver accepted it")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("refused, but the message does not say %q:\n%v", tc.want, err)
			}
		})
	}

	t.Run("personal fields are never stored, even by a lenient client", func(t *testing.T) {
		c := validCase(func(s map[string]any) { s["dateOfBirth"] = "2015-04-01"; s["address"] = "1 High St" })
		c.SetName("c-lenient")
		if err := env.Client.Create(context.Background(), c, client.FieldValidation("Ignore")); err != nil {
			t.Fatal(err)
		}
		var stored unstructured.Unstructured
		stored.SetGroupVersionKind(c.GroupVersionKind())
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(c), &stored); err != nil {
			t.Fatal(err)
		}
		spec, _, _ := unstructured.NestedMap(stored.Object, "spec")
		if _, ok := spec["dateOfBirth"]; ok {
			t.Errorf("the apiserver stored a date of birth: %v", spec)
		}
		if _, ok := spec["address"]; ok {
			t.Errorf("the apiserver stored an address: %v", spec)
		}
	})

	t.Run("a reference cannot change", func(t *testing.T) {
		c := validCase(func(map[string]any) {})
		c.SetName("c-immutable")
		if err := env.Client.Create(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		if err := unstructured.SetNestedField(c.Object, "LCS-2", "spec", "reference"); err != nil {
			t.Fatal(err)
		}
		err := env.Client.Update(context.Background(), c)
		if err == nil || !strings.Contains(err.Error(), "reference cannot change") {
			t.Errorf("changing the reference: %v", err)
		}
	})

	t.Run("defaults are filled in", func(t *testing.T) {
		p := validPractitioner(func(map[string]any) {})
		p.SetName("p-defaults")
		if err := env.Client.Create(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		fte, _, _ := unstructured.NestedString(p.Object, "spec", "fte")
		available, _, _ := unstructured.NestedBool(p.Object, "spec", "available")
		if fte != "1" || !available {
			t.Errorf("a practitioner defaults to fte 1 and available: fte %q, available %v", fte, available)
		}
	})
}

func obj(kind, ns, name string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetAPIVersion("caseload.dev/v1alpha1")
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := env.Client.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// readSamples decodes every object of every YAML file below dir.
func readSamples(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") || d.Name() == "kustomization.yaml" {
			return err
		}
		objs, err := manifest.DecodeFile(path)
		if err != nil {
			return err
		}
		for _, u := range objs {
			if u.GetKind() != "Namespace" {
				out = append(out, u)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

package plan

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

// TestChange: a test's change of a case is its patch (a JSON merge patch), then its team, lead
// and co-workers, and a patch cannot rename the case.
func TestChange(t *testing.T) {
	held := &v1alpha1.Case{ObjectMeta: metav1.ObjectMeta{Namespace: "kirklees", Name: "c-3", ResourceVersion: "7"}, Spec: v1alpha1.CaseSpec{
		Reference: "KL-3", Team: "north", Type: "ChildInNeed", Complexity: "High", Children: 2, OpenedOn: "2026-10-01",
		ClosedOn: "2026-11-20", AllocatedTo: "ben", CoWorkers: []string{"ann", "cy"}}}
	for _, tc := range []struct {
		name string
		test SuiteTest
		want func(*v1alpha1.CaseSpec)
		err  string
	}{
		{name: "reopening removes closedOn", test: SuiteTest{Patch: json.RawMessage(`{"spec":{"closedOn":null}}`)},
			want: func(s *v1alpha1.CaseSpec) { s.ClosedOn = "" }},
		{name: "a patch raises the children and complexity", test: SuiteTest{Patch: json.RawMessage(`{"spec":{"children":3,"complexity":"Standard"}}`)},
			want: func(s *v1alpha1.CaseSpec) { s.Children, s.Complexity = 3, "Standard" }},
		{name: "a list in a patch is the list as it is to be", test: SuiteTest{Patch: json.RawMessage(`{"spec":{"coWorkers":["cy"]}}`)},
			want: func(s *v1alpha1.CaseSpec) { s.CoWorkers = []string{"cy"} }},
		{name: "the patch comes before the team and the lead", test: SuiteTest{Patch: json.RawMessage(`{"spec":{"team":"east","allocatedTo":"dan"}}`), Team: "south", To: "ann"},
			want: func(s *v1alpha1.CaseSpec) { s.Team, s.AllocatedTo, s.CoWorkers = "south", "ann", []string{"cy"} }},
		{name: "co-workers join once, never as the lead", test: SuiteTest{CoWorkers: []string{"ben", "cy", "di"}},
			want: func(s *v1alpha1.CaseSpec) { s.CoWorkers = []string{"ann", "cy", "di"} }},
		{name: "a patch may not rename the case", test: SuiteTest{Patch: json.RawMessage(`{"metadata":{"name":"c-9"}}`)}, err: "may not rename"},
		{name: "a patch is an object", test: SuiteTest{Patch: json.RawMessage(`["closedOn"]`)}, err: "is an object"},
		{name: "a patch of a field a case has not", test: SuiteTest{Patch: json.RawMessage(`{"spec":{"owner":"ann"}}`)}, err: "owner"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.test.Change(held.DeepCopy())
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := held.DeepCopy()
			tc.want(&want.Spec)
			if !reflect.DeepEqual(got.Spec, want.Spec) || got.Name != held.Name || got.ResourceVersion != held.ResourceVersion {
				t.Errorf("got %s %+v, want %+v", got.Name, got.Spec, want.Spec)
			}
		})
	}
}

// TestASuiteNamesFilesFromItsDirectoryUnlessAbsolute: a suite's relative paths are from its own
// directory; an absolute path is taken as it is, not joined onto that directory.
func TestASuiteNamesFilesFromItsDirectoryUnlessAbsolute(t *testing.T) {
	for _, tc := range []struct{ base, path, want string }{
		{"examples/verify", "inventory.yaml", "examples/verify/inventory.yaml"},
		{"examples/verify", "../gitops/snapshots/brookfield.snapshot.yaml", "examples/gitops/snapshots/brookfield.snapshot.yaml"},
		{"examples/verify", "/srv/snapshots/brookfield.snapshot.yaml", "/srv/snapshots/brookfield.snapshot.yaml"},
	} {
		if got := resolve(tc.base, tc.path); got != tc.want {
			t.Errorf("resolve(%q, %q) = %q, want %q", tc.base, tc.path, got, tc.want)
		}
	}
}

package report

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/policy"
	"caseload.dev/caseload-operator/internal/snapshot"
)

// TestOverCapacityIsWeightAboveCapacity: utilisation is rounded down as status shows it, so a
// practitioner carrying 15.1 of 15 shows 100%, as one carrying exactly 15 does; only the first is
// over capacity.
func TestOverCapacityIsWeightAboveCapacity(t *testing.T) {
	p, errs := policy.FromSpec("council/caps", v1alpha1.CaseloadQuotaSpec{
		Weights:          v1alpha1.Weights{CaseTypes: map[string]v1alpha1.CaseWeight{"Over": "15.1", "Full": "15", "Half": "7.5"}},
		PractitionerCaps: []v1alpha1.PractitionerCap{{Grade: "SocialWorker", MaxWeight: "15"}},
	})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	day, _ := policy.ParseDay("2026-12-01")
	var prs []policy.Practitioner
	var cases []policy.Case
	for _, m := range []struct {
		name  string
		types []string
	}{{"over-by-a-tenth", []string{"Over"}}, {"exactly-full", []string{"Full"}}, {"half", []string{"Half"}}} {
		prs = append(prs, policy.Practitioner{Name: m.name, Team: "north", Grade: "SocialWorker", FTE: policy.One, Available: true})
		for i, typ := range m.types {
			cases = append(cases, policy.Case{Name: m.name + "-" + string(rune('a'+i)), Type: typ, Complexity: "Standard", Children: 1, Team: "north", OpenedOn: day, AllocatedTo: m.name})
		}
	}
	s := &snapshot.Snapshot{Day: day, Team: &v1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Name: "north"}}, Policies: []*policy.Policy{p},
		View: policy.TeamView{Name: "north", Members: policy.MembersOf(prs, cases), Cases: cases}}
	tr := teamReportOf(s, policy.UTC.Start(day), func(string) *v1alpha1.CaseException { return nil })
	if tr.OverCapacity != 1 {
		t.Errorf("%d practitioners over capacity, want 1 (15.1 of 15); utilisations %v", tr.OverCapacity, tr.Utilisation)
	}
	if want := []int{50, 100, 100}; len(tr.Utilisation) != 3 || tr.Utilisation[0] != want[0] || tr.Utilisation[1] != want[1] || tr.Utilisation[2] != want[2] {
		t.Errorf("utilisations %v, want %v", tr.Utilisation, want)
	}
}

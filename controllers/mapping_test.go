package controllers

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

// A change to a quota's caps or bands leaves every case's status as it was, so it must not send
// the council's cases to the Case reconciler; a change to anything a case's status reads must.
func TestCaseRulesChanged(t *testing.T) {
	base := v1alpha1.CaseloadQuota{ObjectMeta: metav1.ObjectMeta{Name: "caps", Generation: 1}, Spec: v1alpha1.CaseloadQuotaSpec{
		Weights:          v1alpha1.Weights{CaseTypes: map[string]v1alpha1.CaseWeight{"ChildProtection": "1.5"}},
		PractitionerCaps: []v1alpha1.PractitionerCap{{Grade: "SocialWorker", MaxWeight: "15"}},
		Timescales:       map[string]v1alpha1.Timescale{"ChildInNeed": {MaxOpenDays: 90}},
	}}
	for _, tc := range []struct {
		name   string
		change func(*v1alpha1.CaseloadQuotaSpec)
		passes bool
	}{
		{"a cap lowered", func(s *v1alpha1.CaseloadQuotaSpec) { s.PractitionerCaps[0].MaxWeight = "12" }, false},
		{"a team cap added", func(s *v1alpha1.CaseloadQuotaSpec) {
			s.TeamCap = &v1alpha1.TeamCap{MaxAveragePerFTE: new(v1alpha1.Decimal("18"))}
		}, false},
		{"the bands moved", func(s *v1alpha1.CaseloadQuotaSpec) { s.Bands.AmberPercent = 70 }, false},
		{"a weight changed", func(s *v1alpha1.CaseloadQuotaSpec) { s.Weights.CaseTypes["ChildProtection"] = "2" }, true},
		{"a timescale shortened", func(s *v1alpha1.CaseloadQuotaSpec) { s.Timescales["ChildInNeed"] = v1alpha1.Timescale{MaxOpenDays: 60} }, true},
		{"the teams selected changed", func(s *v1alpha1.CaseloadQuotaSpec) {
			s.TeamSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"area": "north"}}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			changed := base.DeepCopy()
			tc.change(&changed.Spec)
			changed.Generation++
			if got := caseRulesChanged.Update(event.UpdateEvent{ObjectOld: &base, ObjectNew: changed}); got != tc.passes {
				t.Errorf("caseRulesChanged = %v, want %v", got, tc.passes)
			}
		})
	}
	if caseRulesChanged.Update(event.UpdateEvent{ObjectOld: &base, ObjectNew: base.DeepCopy()}) {
		t.Errorf("an update that leaves the generation as it was passes")
	}
}

package policy

import (
	"testing"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

func TestCountsCases(t *testing.T) {
	for _, tc := range []struct {
		name    string
		weights v1alpha1.Weights
		counts  bool
	}{
		{"no weights", v1alpha1.Weights{}, true},
		{"every type 1", v1alpha1.Weights{CaseTypes: map[string]v1alpha1.CaseWeight{"ChildInNeed": "1", "ChildProtection": "1.0"}}, true},
		{"complexity still counts cases", v1alpha1.Weights{Complexity: map[string]v1alpha1.Multiplier{"High": "1.5"}, AdditionalChild: "0.25"}, true},
		{"a heavier type", v1alpha1.Weights{CaseTypes: map[string]v1alpha1.CaseWeight{"ChildInNeed": "1", "ChildProtection": "1.5"}}, false},
		{"a default other than 1", v1alpha1.Weights{Default: "2"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := MustFromSpec("council/q", v1alpha1.CaseloadQuotaSpec{Weights: tc.weights})
			if got := p.CountsCases(); got != tc.counts {
				t.Errorf("CountsCases() = %v, want %v", got, tc.counts)
			}
			want := map[bool]string{true: "weighted cases", false: "points"}[tc.counts]
			if got := p.Unit(); got != want {
				t.Errorf("Unit() = %q, want %q", got, want)
			}
		})
	}
}

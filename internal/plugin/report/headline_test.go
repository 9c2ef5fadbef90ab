package report

import (
	"strings"
	"testing"
)

// TestHeadlineSetsCasesBesideEngland: a council whose quota counts cases (every type weighs 1)
// is set beside England's average caseload, with its source and year; one on points is not.
func TestHeadlineSetsCasesBesideEngland(t *testing.T) {
	hc := sampleCouncils(t)["config/samples/council"]
	const england = "England's average caseload per children's social worker (FTE) was 15.4 (Department for Education, Children's social work workforce statistics, 2024)."
	seen := 0
	for _, c := range hc.Councils {
		text := strings.Join(c.headline(c.disclosure(false), false), "\n")
		if c.CountsCases != strings.Contains(text, england) {
			t.Errorf("%s: counts cases %v, headline:\n%s", c.Namespace, c.CountsCases, text)
		}
		if c.CountsCases {
			seen++
		}
		if first := strings.Split(text, "\n")[0]; !strings.Contains(first, "teams by band") {
			t.Errorf("%s: the headline does not open with the teams by band:\n%s", c.Namespace, text)
		}
	}
	if seen == 0 {
		t.Error("no sample council counts cases: the comparison is untested")
	}
	// The same council on points is not compared.
	c := randomCouncilReport(t)
	if text := strings.Join(c.headline(c.disclosure(false), false), "\n"); strings.Contains(text, "England") || c.CountsCases {
		t.Errorf("a council on points is set beside England:\n%s", text)
	}
}

package report

import "testing"

func TestHumanName(t *testing.T) {
	for name, want := range map[string]string{
		"NewlyQualified":             "Newly qualified",
		"ChildProtection":            "Child protection",
		"ChildInNeed":                "Child in need",
		"SocialWorkAssistant":        "Social work assistant",
		"UASCReferral":               "UASC referral",
		"Level3":                     "Level 3",
		"practitionerCaps.maxWeight": "Practitioner weight cap",
		"teamCap.maxAveragePerFTE":   "Team average per FTE cap",
		"someNewRule.maxThings":      "Some new rule max things",
		"None":                       "Not capped",
		"Green":                      "Green",
		"0-7 days":                   "0-7 days",
	} {
		if got := humanName(name); got != want {
			t.Errorf("humanName(%q) = %q, want %q", name, got, want)
		}
	}
}

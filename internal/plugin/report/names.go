package report

import (
	"strings"
	"unicode"
)

// Names as a head of service reads them. Grades and case types are CamelCase names a council
// chooses ("NewlyQualified", "ChildProtection"); rules are the quota's field paths. The report
// shows each in words, derived here in one place; nameOverrides holds the names that deriving
// would get wrong or leave obscure.

// nameOverrides are the words for names that are not just CamelCase split into words.
var nameOverrides = map[string]string{
	"practitionerCaps.maxWeight":         "Practitioner weight cap",
	"practitionerCaps.maxCases":          "Practitioner case count cap",
	"practitionerCaps.excludedCaseTypes": "Case type the grade may only co-work",
	"teamCap":                            "Team capacity (members' caps)",
	"teamCap.maxWeight":                  "Team weight cap",
	"teamCap.maxAveragePerFTE":           "Team average per FTE cap",
	"allocationDeadlines":                "Allocation deadline",
	"timescales":                         "Timescale",
	"None":                               "Not capped",
}

// acronyms keep their capitals inside a name ("FTE", "CIN", "UASC").
func acronym(word string) bool {
	return len(word) > 1 && strings.ToUpper(word) == word
}

// humanName is a grade, case type, band or rule in words: "NewlyQualified" is "Newly
// qualified", "ChildProtection" "Child protection", "practitionerCaps.maxWeight" "Practitioner
// weight cap". A name already in words is left as it is.
func humanName(name string) string {
	if s, ok := nameOverrides[name]; ok {
		return s
	}
	if strings.ContainsAny(name, " -_") || name == "" {
		return name
	}
	var words []string
	for _, part := range strings.Split(name, ".") {
		words = append(words, splitCamel(part)...)
	}
	for i, w := range words {
		switch {
		case acronym(w):
		case i == 0:
			words[i] = strings.ToUpper(w[:1]) + strings.ToLower(w[1:])
		default:
			words[i] = strings.ToLower(w)
		}
	}
	return strings.Join(words, " ")
}

// splitCamel splits "ChildInNeed" into Child, In, Need and "UASCReferral" into UASC, Referral.
func splitCamel(s string) []string {
	var words []string
	rs := []rune(s)
	start := 0
	for i := 1; i < len(rs); i++ {
		upper, prevUpper := unicode.IsUpper(rs[i]), unicode.IsUpper(rs[i-1])
		nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
		digit, prevDigit := unicode.IsDigit(rs[i]), unicode.IsDigit(rs[i-1])
		if (upper && !prevUpper) || (upper && prevUpper && nextLower) || digit != prevDigit {
			words = append(words, string(rs[start:i]))
			start = i
		}
	}
	return append(words, string(rs[start:]))
}

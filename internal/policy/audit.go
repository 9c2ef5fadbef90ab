package policy

import (
	"fmt"
	"sort"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/words"
)

// AuditRules are the rules an audit can find broken, as Finding.Rule names them: metrics show
// each, at 0 while it holds.
var AuditRules = []string{
	"practitionerCaps.maxWeight", "practitionerCaps.maxCases", "practitionerCaps.excludedCaseTypes",
	"teamCap", "teamCap.maxWeight", "teamCap.maxAveragePerFTE", "allocationDeadlines",
}

// Audit lists every way a team breaks the policy on day d, whatever the policy's
// enforcementAction: practitioners over capacity or maxCases, excluded case types held as lead,
// the team over its capacity (where the policy has a teamCap), and cases left unallocated past
// their deadline. A practitioner who is away is not over capacity: their cases need cover, which
// status counts. Reality is recorded, never refused: an audit finds, it does not decide.
func (p *Policy) Audit(t TeamView, d Day) []Finding {
	var out []Finding
	add := func(kind, name, rule, msg string) {
		out = append(out, Finding{Policy: p.Name, Action: p.Action, Kind: kind, Name: name, Rule: rule, Message: msg})
	}
	for _, m := range t.Members {
		pr := m.Practitioner
		c := p.CapacityOf(pr, d)
		if !c.Capped {
			continue
		}
		load := p.LoadOf(m.Holdings)
		if p.OverCapacity(pr, m.Holdings, d) {
			add("Practitioner", pr.Name, "practitionerCaps.maxWeight",
				fmt.Sprintf("%s carries %s of %s (%s)", pr.Name, load.Weight, c.Value, c.Explanation))
		}
		if c.Cap.MaxCases != nil && load.Cases > *c.Cap.MaxCases {
			add("Practitioner", pr.Name, "practitionerCaps.maxCases",
				fmt.Sprintf("%s holds %d open cases; a %s holds at most %d", pr.Name, load.Cases, pr.Grade, *c.Cap.MaxCases))
		}
		for _, h := range m.Holdings {
			if h.Role == v1alpha1.RoleLead && c.Cap.Excluded[h.Case.Type] {
				add("Practitioner", pr.Name, "practitionerCaps.excludedCaseTypes",
					fmt.Sprintf("%s leads case %s (%s), which a %s may hold only as a co-worker", pr.Name, h.Case.Name, h.Case.Type, pr.Grade))
			}
		}
	}

	if tc, ok := p.TeamCapacityOf(t.Members, d); ok && p.CapsTeams() && tc.Load.Weight > tc.Value {
		msg := fmt.Sprintf("team %s carries %s", t.Name, tc.Over(p, tc.Load.Weight))
		add("Team", t.Name, tc.Rule, msg)
	}

	for _, c := range t.Cases {
		timing := p.Timing(c, d)
		if timing.PastAllocationDeadline {
			waited := d.DaysSince(c.WaitingSince())
			add("Case", c.Name, "allocationDeadlines",
				fmt.Sprintf("case %s (%s) has waited %s unallocated; its deadline is %s", c.Name, c.Type, words.Count(waited, "day"), words.Count(p.AllocationDeadlines[c.Type], "day")))
		}
	}
	SortFindings(out)
	return out
}

// SortFindings orders findings by kind, name, rule and message, so a status list is stable.
func SortFindings(fs []Finding) {
	sort.Slice(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		return a.Message < b.Message
	})
}

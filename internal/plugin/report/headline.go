package report

import (
	"fmt"
	"strings"

	"caseload.dev/caseload-operator/internal/policy"
)

// The headline is what a head of service reads first: at the top of each council, in words and
// figures, how its teams stand, who is over capacity, what is waiting, what is admitted by
// exception, and what has changed since an earlier snapshot. Every count in it is one the
// tables show, suppressed as they suppress it.

// england is the national figure a council that counts cases is set beside: the average
// caseload per children's social worker (FTE) in England, from the Department for Education's
// children's social work workforce statistics for 2024.
var england = struct {
	casesPerFTE        string
	source             string
	year               int
	publishedStatistic string
}{"15.4", "Department for Education, Children's social work workforce", 2024, "average caseload per children's social worker (FTE)"}

// teamBandOrder is the order the headline names teams in: the worst first.
var teamBandOrder = []string{"Red", "Amber", "Green", ""}

type teamsInBand struct {
	band  string
	teams []string
}

// teamsByBand are the council's teams by the band their status shows, Red first; band "" are
// the teams no quota caps.
func (c *councilReport) teamsByBand() []teamsInBand {
	var out []teamsInBand
	for _, b := range teamBandOrder {
		tb := teamsInBand{band: b}
		for _, t := range c.Teams {
			if t.Band == b {
				tb.teams = append(tb.teams, t.Team)
			}
		}
		out = append(out, tb)
	}
	return out
}

// headline is the council's headline, line by line.
func (c *councilReport) headline(d disclosure, publish bool) []string {
	var lines []string
	var parts []string
	for _, tb := range c.teamsByBand() {
		if len(tb.teams) == 0 {
			continue
		}
		name := tb.band
		if name == "" {
			name = "no capacity set"
		}
		parts = append(parts, fmt.Sprintf("%d %s (%s)", len(tb.teams), name, strings.Join(tb.teams, ", ")))
	}
	lines = append(lines, fmt.Sprintf("%s by band: %s.", plural(len(c.Teams), "team", "teams"), strings.Join(parts, "; ")))

	all := c.Total.Team
	over := d.at("over_capacity", all, "", c.Total.OverCapacity)
	measured := d.at("utilisation_measured", all, "", len(c.Total.Utilisation))
	line := fmt.Sprintf("Practitioners over capacity: %s of %s measured", over.Text, measured.Text)
	var byGrade []string
	for _, g := range c.ByGrade {
		if g.OverCapacity == 0 {
			continue
		}
		byGrade = append(byGrade, fmt.Sprintf("%s %s", humanName(g.Name), d.at("fairness_by_grade_over_capacity", all, g.Name, g.OverCapacity).Text))
	}
	if len(byGrade) > 0 {
		line += " (" + strings.Join(byGrade, ", ") + ")"
	}
	lines = append(lines, line+".")

	unallocated := c.Total.unallocated()
	line = fmt.Sprintf("Unallocated cases: %s", d.at("unallocated", all, "", unallocated).Text)
	if unallocated > 0 {
		if publish {
			line += fmt.Sprintf(", the longest waiting %s", waitBand(c.Total.OldestWait))
		} else {
			line += fmt.Sprintf(", the longest waiting %s", plural(c.Total.OldestWait, "day", "days"))
		}
	}
	line += fmt.Sprintf(". Overdue cases: %s.", d.at("overdue", all, "", sum(c.Total.Overdue)).Text)
	lines = append(lines, line)
	lines = append(lines, fmt.Sprintf("Exceptions in force: %s.", d.at("exceptions_in_force", all, "", len(c.Total.Exceptions)).Text))
	lines = append(lines, fmt.Sprintf("Weights, capacities and loads are in %s.", c.unitWords()))
	if c.CountsCases {
		lines = append(lines, fmt.Sprintf("Cases per FTE: %s here; England's %s was %s (%s statistics, %d).",
			perFTE(policy.Milli(c.Total.LeadCases)*policy.One, c.Total.CaseHoldingFTE), england.publishedStatistic, england.casesPerFTE, england.source, england.year))
	}
	if c.Earlier != nil {
		lines = append(lines, c.change(d, publish))
	}
	return lines
}

// change is the headline's change since the earlier snapshot. In a published report a figure's
// change is given only where both reports would show the figure, so that the difference tells a
// reader nothing either report hides.
func (c *councilReport) change(d disclosure, publish bool) string {
	e := c.Earlier
	ed := e.disclosure(publish)
	red := func(cr *councilReport) int {
		n := 0
		for _, t := range cr.Teams {
			if t.Band == "Red" {
				n++
			}
		}
		return n
	}
	all := c.Total.Team
	var parts []string
	for _, f := range []struct {
		name, measure string
		now, then     int
	}{
		{"Red teams", "", red(c), red(e)},
		{"practitioners over capacity", "over_capacity", c.Total.OverCapacity, e.Total.OverCapacity},
		{"unallocated cases", "unallocated", c.Total.unallocated(), e.Total.unallocated()},
		{"overdue cases", "overdue", sum(c.Total.Overdue), sum(e.Total.Overdue)},
		{"exceptions in force", "exceptions_in_force", len(c.Total.Exceptions), len(e.Total.Exceptions)},
	} {
		if f.measure != "" && (d.hidden(f.measure, all, "", f.now) || ed.hidden(f.measure, all, "", f.then)) {
			parts = append(parts, f.name+" c")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %d, was %d (%+d)", f.name, f.now, f.then, f.now-f.then))
	}
	return fmt.Sprintf("Since %s (the snapshot compared with): %s.", c.EarlierAsAt.UTC().Format("2 January 2006"), strings.Join(parts, "; "))
}

// plural is n with its noun, agreeing in number.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

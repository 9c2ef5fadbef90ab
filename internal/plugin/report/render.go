package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"caseload.dev/caseload-operator/internal/policy"
)

// suppressed stands in a published report for a count from 1 to 4, as official statistics do:
// a small count can identify a person.
const suppressed = "c"

// cell is one figure of a report table. Count marks a count of people or cases, which
// disclosure control may suppress.
type cell struct {
	Text  string
	Count bool
}

// reportTable is a table of a report section, the same in Markdown and HTML.
type reportTable struct {
	ID, Title, Note string
	Headers         []string
	Rows            [][]cell
}

// disclosure formats figures for a report, suppressing what a published one must not show.
type disclosure struct{ publish bool }

// count is a count, "c" when it is 1 to 4 in a published report.
func (d disclosure) count(n int) cell {
	if d.publish && n >= 1 && n <= 4 {
		return cell{Text: suppressed, Count: true}
	}
	return cell{Text: strconv.Itoa(n), Count: true}
}

// counts is a row of counts that add up to a total shown beside them. Where one count alone is
// suppressed the total would give it away, so the smallest other non-zero count is suppressed
// too (secondary suppression).
func (d disclosure) counts(ns []int) []cell {
	out := make([]cell, len(ns))
	hidden, smallest := 0, -1
	for i, n := range ns {
		out[i] = d.count(n)
		if out[i].Text == suppressed {
			hidden++
		} else if n > 0 && (smallest < 0 || n < ns[smallest]) {
			smallest = i
		}
	}
	if hidden == 1 && smallest >= 0 {
		out[smallest] = cell{Text: suppressed, Count: true}
	}
	return out
}

// share is part of whole as a percentage, suppressed with the part.
func (d disclosure) share(part, whole int) cell {
	if whole == 0 {
		return cell{Text: "-"}
	}
	if c := d.count(part); c.Text == suppressed {
		return cell{Text: suppressed}
	}
	return cell{Text: fmt.Sprintf("%d%%", (part*100+whole/2)/whole)}
}

// minGroup is the fewest practitioners whose utilisation a published report summarises: with
// fewer, a median or quartile is close to one person's figure.
const minGroup = 5

// spread are a distribution's median, quartiles and (unpublished) range; "c" for a group too
// small to publish.
func (d disclosure) spread(dist distribution) (median, quartiles, rng cell) {
	if dist.N == 0 {
		return cell{Text: "-"}, cell{Text: "-"}, cell{Text: "-"}
	}
	if d.publish && dist.N < minGroup {
		return cell{Text: suppressed}, cell{Text: suppressed}, cell{Text: suppressed}
	}
	median = cell{Text: fmt.Sprintf("%.0f%%", dist.Median)}
	quartiles = cell{Text: fmt.Sprintf("%.0f%% to %.0f%%", dist.P25, dist.P75)}
	rng = cell{Text: fmt.Sprintf("%d%% to %d%%", dist.Min, dist.Max)}
	if d.publish {
		rng = cell{Text: "-"} // the extremes are two people's figures
	}
	return median, quartiles, rng
}

// percent is a distribution's median as a number, for a spreadsheet; "c" where spread hides it.
func (d disclosure) percent(dist distribution) cell {
	if median, _, _ := d.spread(dist); median.Text == suppressed || median.Text == "-" {
		return median
	}
	return text(fmt.Sprintf("%.0f", dist.Median))
}

func text(s string) cell { return cell{Text: s} }

func figureOr(m policy.Milli, ok bool) cell {
	if !ok {
		return text("-")
	}
	return text(m.String())
}

// teamRows are the council's teams and, last, the council as a whole.
func (c *councilReport) teamRows() []*teamReport {
	return append(slices.Clone(c.Teams), c.Total)
}

// sections are the tables of a council's report, in the order they are shown.
func (c *councilReport) sections(d disclosure) []reportTable {
	rows := c.teamRows()
	summary := reportTable{ID: "summary", Title: "Capacity and load",
		Note:    "Weighted load and capacity under the quota each team's status shows. Cases per FTE count the open cases held as lead over the FTE of the practitioners who hold cases, as national workforce statistics do; the weighted figure is the weighted load over the same FTE.",
		Headers: []string{"Team", "Practitioners", "FTE", "Capacity", "Weighted load", "Utilisation", "Open cases", "Cases per FTE", "Weighted per FTE", "Unallocated", "Overdue", "Needing cover", "Exceptions in force"}}
	for _, t := range rows {
		util := text("-")
		if t.Capped && t.Capacity > 0 {
			util = text(fmt.Sprintf("%d%%", policy.PercentOf(t.Weight, t.Capacity)))
		}
		summary.Rows = append(summary.Rows, []cell{text(t.Team), d.count(t.Practitioners), text(t.FTE.String()), figureOr(t.Capacity, t.Capped),
			text(t.Weight.String()), util, d.count(t.OpenCases), text(perFTE(policy.Milli(t.LeadCases)*policy.One, t.CaseHoldingFTE)),
			text(perFTE(t.Weight, t.CaseHoldingFTE)), d.count(t.unallocated()), d.count(sum(t.Overdue)), d.count(t.NeedingCover), d.count(len(t.Exceptions))})
	}

	spread := reportTable{ID: "utilisation", Title: "How utilisation is spread",
		Note:    "Utilisation is weighted load over capacity for each available practitioner with a capacity. The median and quartiles show the spread behind an average; over capacity is a weight above the capacity.",
		Headers: []string{"Team", "Practitioners measured", "Median", "Middle half", "Range", "Over capacity", "Share over capacity"}}
	for _, t := range rows {
		dist := distributionOf(t.Utilisation)
		median, quartiles, rng := d.spread(dist)
		spread.Rows = append(spread.Rows, []cell{text(t.Team), d.count(dist.N), median, quartiles, rng, d.count(t.OverCapacity), d.share(t.OverCapacity, dist.N)})
	}

	bands := reportTable{ID: "bands", Title: "Practitioners by band",
		Note:    "Green, Amber and Red against each practitioner's capacity under their quota's thresholds, as their status shows: one absent or unavailable who still holds cases is Red, their cases needing cover; Away are absent or unavailable and hold none; None are of a grade no quota caps.",
		Headers: append([]string{"Team"}, bandOrder...)}
	grades := reportTable{ID: "grades", Title: "Practitioners by grade", Headers: []string{"Team"}}
	allGrades := slices.Sorted(maps.Keys(c.Total.Grades))
	grades.Headers = append(grades.Headers, allGrades...)
	for _, t := range rows {
		bands.Rows = append(bands.Rows, append([]cell{text(t.Team)}, d.counts(pick(t.Bands, bandOrder))...))
		grades.Rows = append(grades.Rows, append([]cell{text(t.Team)}, d.counts(pick(t.Grades, allGrades))...))
	}

	unallocated := reportTable{ID: "unallocated", Title: "Unallocated cases by type and wait",
		Note:    "Open cases with no lead practitioner, by how long they have waited since they were opened or last lost their lead.",
		Headers: []string{"Team", "Type"}}
	for _, w := range waits {
		unallocated.Headers = append(unallocated.Headers, w.name)
	}
	unallocated.Headers = append(unallocated.Headers, "Total")
	for _, t := range rows {
		for _, typ := range slices.Sorted(maps.Keys(t.Unallocated)) {
			n := t.waiting(typ)
			row := append([]cell{text(t.Team), text(typ)}, d.counts(append(n, sum(t.Unallocated[typ])))...)
			unallocated.Rows = append(unallocated.Rows, row)
		}
	}

	types := slices.Sorted(maps.Keys(c.Total.Overdue))
	overdue := reportTable{ID: "overdue", Title: "Overdue cases by type",
		Note:    "Open cases past their timescale, or unallocated past their allocation deadline, under the strictest quota.",
		Headers: append([]string{"Team"}, types...)}
	rules := slices.Sorted(maps.Keys(c.Total.Violations))
	violations := reportTable{ID: "violations", Title: "Violations by rule",
		Note:    "What the audit of each team's quota finds, whatever its enforcement action: a practitioner over a cap, a team over its capacity, a case past its allocation deadline.",
		Headers: append([]string{"Team"}, rules...)}
	for _, t := range rows {
		if len(types) > 0 {
			overdue.Rows = append(overdue.Rows, append([]cell{text(t.Team)}, d.counts(pick(t.Overdue, types))...))
		}
		if len(rules) > 0 {
			violations.Rows = append(violations.Rows, append([]cell{text(t.Team)}, d.counts(pick(t.Violations, rules))...))
		}
	}

	exceptions := reportTable{ID: "exceptions", Title: "Exceptions in force",
		Note: "Allocations a manager admitted above a cap, with a reason, until they lapse."}
	if d.publish {
		exceptions.Headers = []string{"Team", "In force"}
		for _, t := range rows {
			exceptions.Rows = append(exceptions.Rows, []cell{text(t.Team), d.count(len(t.Exceptions))})
		}
	} else {
		exceptions.Headers = []string{"Team", "Case", "Practitioner", "Expires"}
		for _, t := range c.Teams {
			for _, e := range t.Exceptions {
				exceptions.Rows = append(exceptions.Rows, []cell{text(t.Team), text(e.Case), text(e.Practitioner), text(e.Expires.UTC().Format(time.DateOnly))})
			}
		}
	}

	fair := func(id, title, by string, groups []group) reportTable {
		t := reportTable{ID: id, Title: title, Headers: []string{by, "Practitioners", "Measured", "Median", "Middle half", "Over capacity", "Share over capacity"}}
		for _, g := range groups {
			dist := distributionOf(g.Utilisation)
			median, quartiles, _ := d.spread(dist)
			t.Rows = append(t.Rows, []cell{text(g.Name), d.count(g.Practitioners), d.count(dist.N), median, quartiles, d.count(g.OverCapacity), d.share(g.OverCapacity, dist.N)})
		}
		return t
	}
	byGrade := fair("fairness-grade", "Fairness: utilisation by grade", "Grade", c.ByGrade)
	byGrade.Note = "Across the council. A policy that protects one grade (the newly qualified, say) by loading the others shows here as a gap between the grades' medians."
	byFTE := fair("fairness-fte", "Fairness: utilisation by FTE", "FTE", c.ByFTE)
	byFTE.Note = "Part-time practitioners' capacity is scaled by their FTE; a higher median here means their caseload is not."

	out := []reportTable{summary, spread, bands, grades, unallocated, overdue, exceptions, violations, byGrade, byFTE}
	return slices.DeleteFunc(out, func(t reportTable) bool { return len(t.Rows) == 0 && t.ID != "unallocated" && t.ID != "exceptions" })
}

// numeric reports whether column i holds figures (right-aligned) rather than names.
func (t reportTable) numeric(i int) bool {
	if i == 0 || len(t.Rows) == 0 {
		return false
	}
	c := t.Rows[0][i]
	return c.Count || c.Text == "-" || c.Text == suppressed || (c.Text != "" && c.Text[0] >= '0' && c.Text[0] <= '9')
}

func (t *teamReport) unallocated() int {
	n := 0
	for _, byAge := range t.Unallocated {
		n += sum(byAge)
	}
	return n
}

// waiting are the unallocated cases of a type by wait band, in order.
func (t *teamReport) waiting(typ string) []int {
	var out []int
	for _, w := range waits {
		out = append(out, t.Unallocated[typ][w.name])
	}
	return out
}

func pick(m map[string]int, keys []string) []int {
	out := make([]int, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// calendarLine says which day the council's figures are for, and in which time zone its days
// are counted, as its status counts them.
func (c *councilReport) calendarLine() string {
	return fmt.Sprintf("Figures for %s, counting days in %s.", c.Day, c.Zone)
}

// heading is the report's title and what it covers.
func (h *healthCheck) heading() (title, subtitle string) {
	title = "Caseload health check"
	subtitle = fmt.Sprintf("As at %s, from %s.", h.AsAt.UTC().Format("2 January 2006 15:04 MST"), h.Source)
	if h.Publish {
		subtitle += " Published with disclosure control: counts from 1 to 4 are shown as c, with one more count of the same row where a total would reveal it, and no figure about an individual practitioner."
	}
	return title, subtitle
}

func writeReportMarkdown(w io.Writer, h *healthCheck) error {
	title, subtitle := h.heading()
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n%s\n", title, subtitle)
	d := disclosure{publish: h.Publish}
	for _, c := range h.Councils {
		fmt.Fprintf(&b, "\n## %s\n\n%s\n", c.Namespace, c.calendarLine())
		for _, t := range c.sections(d) {
			fmt.Fprintf(&b, "\n### %s\n\n", t.Title)
			if t.Note != "" {
				fmt.Fprintf(&b, "%s\n\n", t.Note)
			}
			if len(t.Rows) == 0 {
				b.WriteString("None.\n")
				continue
			}
			b.WriteString("| " + strings.Join(t.Headers, " | ") + " |\n|")
			for i := range t.Headers {
				if t.numeric(i) {
					b.WriteString(" ---: |")
				} else {
					b.WriteString(" --- |")
				}
			}
			b.WriteString("\n")
			for _, row := range t.Rows {
				b.WriteString("|")
				for _, c := range row {
					b.WriteString(" " + strings.ReplaceAll(c.Text, "|", "\\|") + " |")
				}
				b.WriteString("\n")
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeReportCSV writes the report tidy: one row per council, team, measure and category.
func writeReportCSV(w io.Writer, h *healthCheck) error {
	out := csv.NewWriter(w)
	if err := out.Write([]string{"council", "team", "measure", "category", "value"}); err != nil {
		return err
	}
	d := disclosure{publish: h.Publish}
	for _, c := range h.Councils {
		// The day the figures are for, its category the time zone the council's days are counted in.
		_ = out.Write([]string{c.Namespace, "", "day", c.Zone, c.Day.String()})
		for _, t := range c.teamRows() {
			row := func(measure, category string, v cell) {
				_ = out.Write([]string{c.Namespace, t.Team, measure, category, v.Text})
			}
			row("practitioners", "", d.count(t.Practitioners))
			row("fte", "", text(t.FTE.String()))
			row("capacity", "", figureOr(t.Capacity, t.Capped))
			row("weighted_load", "", text(t.Weight.String()))
			row("open_cases", "", d.count(t.OpenCases))
			row("cases_per_fte", "", text(perFTE(policy.Milli(t.LeadCases)*policy.One, t.CaseHoldingFTE)))
			row("weighted_per_fte", "", text(perFTE(t.Weight, t.CaseHoldingFTE)))
			dist := distributionOf(t.Utilisation)
			row("utilisation_measured", "", d.count(dist.N))
			row("utilisation_median_percent", "", d.percent(dist))
			if !d.publish || dist.N >= minGroup {
				row("utilisation_p25_percent", "", text(fmt.Sprintf("%.0f", dist.P25)))
				row("utilisation_p75_percent", "", text(fmt.Sprintf("%.0f", dist.P75)))
			}
			row("over_capacity", "", d.count(t.OverCapacity))
			for i, v := range d.counts(pick(t.Bands, bandOrder)) {
				row("practitioners_by_band", bandOrder[i], v)
			}
			grades := slices.Sorted(maps.Keys(t.Grades))
			for i, v := range d.counts(pick(t.Grades, grades)) {
				row("practitioners_by_grade", grades[i], v)
			}
			for _, typ := range slices.Sorted(maps.Keys(t.Unallocated)) {
				for i, v := range d.counts(t.waiting(typ)) {
					row("unallocated", typ+" "+waits[i].name, v)
				}
			}
			types := slices.Sorted(maps.Keys(t.Overdue))
			for i, v := range d.counts(pick(t.Overdue, types)) {
				row("overdue", types[i], v)
			}
			row("needing_cover", "", d.count(t.NeedingCover))
			row("exceptions_in_force", "", d.count(len(t.Exceptions)))
			rules := slices.Sorted(maps.Keys(t.Violations))
			for i, v := range d.counts(pick(t.Violations, rules)) {
				row("violations", rules[i], v)
			}
		}
		for _, by := range []struct {
			name   string
			groups []group
		}{{"grade", c.ByGrade}, {"fte", c.ByFTE}} {
			for _, g := range by.groups {
				dist := distributionOf(g.Utilisation)
				for _, m := range []struct {
					name string
					v    cell
				}{{"practitioners", d.count(g.Practitioners)}, {"utilisation_median_percent", d.percent(dist)}, {"over_capacity", d.count(g.OverCapacity)}} {
					if err := out.Write([]string{c.Namespace, "all teams", "fairness_by_" + by.name + "_" + m.name, g.Name, m.v.Text}); err != nil {
						return err
					}
				}
			}
		}
	}
	out.Flush()
	return out.Error()
}

package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"maps"
	"math"
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

// disclosure formats a council's figures for a report, suppressing what a published one must
// not show: the counts its release (disclosure.go) hides.
type disclosure struct {
	publish bool
	r       *release
}

// disclosure is how the council's figures are shown: as they are, or with disclosure control.
func (c *councilReport) disclosure(publish bool) disclosure {
	if !publish {
		return disclosure{}
	}
	if c.published == nil {
		c.published = c.releaseOf()
	}
	return disclosure{publish: true, r: c.published}
}

// hidden reports whether the count is suppressed. A count the release does not hold is
// suppressed from 1 to 4, as a primary count is.
func (d disclosure) hidden(measure, team, category string, n int) bool {
	if !d.publish {
		return false
	}
	hidden, ok := d.r.hidden(cellKey{measure, team, category})
	return hidden || (!ok && n >= 1 && n <= 4)
}

// at is a count of the release, "c" where it is suppressed.
func (d disclosure) at(measure, team, category string, n int) cell {
	if d.hidden(measure, team, category, n) {
		return cell{Text: suppressed, Count: true}
	}
	return cell{Text: strconv.Itoa(n), Count: true}
}

// fte is a team's FTE, suppressed with its headcount: FTE is never more than the headcount, so
// an FTE of 3.8 beside a suppressed count of practitioners would say it is 4.
func (d disclosure) fte(t *teamReport) cell {
	if d.hidden("practitioners", t.Team, "", t.Practitioners) {
		return cell{Text: suppressed}
	}
	return text(figure(t.FTE))
}

// share is part of whole as a percentage, suppressed with either.
func (d disclosure) share(partMeasure, wholeMeasure, team, category string, part, whole int) cell {
	if whole == 0 {
		return cell{Text: "-"}
	}
	if d.hidden(partMeasure, team, category, part) || d.hidden(wholeMeasure, team, category, whole) {
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
	return text(figure(m))
}

// figure is a weight, capacity or FTE to at most two decimals, as a reader takes it in: 154.875
// is 154.88, 26.25 stays 26.25, 15 stays 15.
func figure(m policy.Milli) string {
	s := strconv.FormatFloat(math.Round(float64(m)/10)/100, 'f', 2, 64)
	return strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
}

// teamRows are the council's teams and, last, the council as a whole.
func (c *councilReport) teamRows() []*teamReport {
	return append(slices.Clone(c.Teams), c.Total)
}

// unitLabel is the council's unit in a column heading: " (points)", or "" where its teams'
// quotas measure in different units (each figure then carries its own).
func (c *councilReport) unitLabel() string {
	if c.Unit == "" {
		return ""
	}
	return " (" + c.Unit + ")"
}

// weighed is a weight or capacity, with its unit where the council's teams differ.
func (c *councilReport) weighed(t *teamReport, s string) cell {
	if c.Unit == "" && t.Unit != "" && s != "-" {
		return text(s + " " + t.Unit)
	}
	return text(s)
}

// teamBand is the team's band as its status shows it, "-" where no quota caps it (and for the
// council as a whole, which has no band of its own).
func teamBand(t *teamReport) cell {
	if t.Band == "" {
		return text("-")
	}
	return text(t.Band)
}

// humanNames are names in words (names.go).
func humanNames(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = humanName(n)
	}
	return out
}

// sections are the tables of a council's report, in the order they are shown.
func (c *councilReport) sections(d disclosure) []reportTable {
	rows := c.teamRows()
	unit := c.unitLabel()
	summary := reportTable{ID: "summary", Title: "Capacity and load",
		Note: "Weighted load and capacity under the quota each team's status shows, in " + c.unitWords() + ". Band is the team's, as its status shows it. " +
			"Cases per FTE count the open cases held as lead over the FTE of the practitioners who hold cases, as national workforce statistics do; the weighted figure is the weighted load over the same FTE.",
		Headers: []string{"Team", "Practitioners", "FTE", "Capacity" + unit, "Weighted load" + unit, "Utilisation", "Band", "Open cases", "Cases per FTE", "Weighted per FTE" + unit, "Unallocated", "Overdue", "Needing cover", "Exceptions in force"}}
	for _, t := range rows {
		util := text("-")
		if t.Capped && t.Capacity > 0 {
			util = text(fmt.Sprintf("%d%%", policy.PercentOf(t.Weight, t.Capacity)))
		}
		summary.Rows = append(summary.Rows, []cell{text(t.Team), d.at("practitioners", t.Team, "", t.Practitioners), d.fte(t), c.weighed(t, figureOr(t.Capacity, t.Capped).Text),
			c.weighed(t, figure(t.Weight)), util, teamBand(t), d.at("open_cases", t.Team, "", t.OpenCases), text(perFTE(policy.Milli(t.LeadCases)*policy.One, t.CaseHoldingFTE)),
			c.weighed(t, perFTE(t.Weight, t.CaseHoldingFTE)), d.at("unallocated", t.Team, "", t.unallocated()), d.at("overdue", t.Team, "", sum(t.Overdue)),
			d.at("needing_cover", t.Team, "", t.NeedingCover), d.at("exceptions_in_force", t.Team, "", len(t.Exceptions))})
	}

	spread := reportTable{ID: "utilisation", Title: "How utilisation is spread",
		Note:    "Utilisation is weighted load over capacity for each available practitioner with a capacity. The median and quartiles show the spread behind an average; over capacity is a weight above the capacity.",
		Headers: []string{"Team", "Team band", "Practitioners measured", "Median", "Middle half", "Range", "Over capacity", "Share over capacity"}}
	for _, t := range rows {
		dist := distributionOf(t.Utilisation)
		median, quartiles, rng := d.spread(dist)
		spread.Rows = append(spread.Rows, []cell{text(t.Team), teamBand(t), d.at("utilisation_measured", t.Team, "", dist.N), median, quartiles, rng,
			d.at("over_capacity", t.Team, "", t.OverCapacity), d.share("over_capacity", "utilisation_measured", t.Team, "", t.OverCapacity, dist.N)})
	}

	bands := reportTable{ID: "bands", Title: "Practitioners by band",
		Note:    "Green, Amber and Red against each practitioner's capacity under their quota's thresholds, as their status shows; Away are absent or unavailable, and the cases they hold need cover; Not capped are of a grade no quota caps.",
		Headers: append([]string{"Team", "Team band"}, humanNames(bandOrder)...)}
	grades := reportTable{ID: "grades", Title: "Practitioners by grade", Headers: []string{"Team", "Team band"}}
	allGrades := slices.Sorted(maps.Keys(c.Total.Grades))
	grades.Headers = append(grades.Headers, humanNames(allGrades)...)
	for _, t := range rows {
		row := []cell{text(t.Team), teamBand(t)}
		for _, b := range bandOrder {
			row = append(row, d.at("practitioners_by_band", t.Team, b, t.Bands[b]))
		}
		bands.Rows = append(bands.Rows, row)
		row = []cell{text(t.Team), teamBand(t)}
		for _, g := range allGrades {
			row = append(row, d.at("practitioners_by_grade", t.Team, g, t.Grades[g]))
		}
		grades.Rows = append(grades.Rows, row)
	}

	unallocated := reportTable{ID: "unallocated", Title: "Unallocated cases by type and wait",
		Note:    "Open cases with no lead practitioner, by how long they have waited since they were opened or last lost their lead.",
		Headers: []string{"Team", "Team band", "Type"}}
	for _, w := range waits {
		unallocated.Headers = append(unallocated.Headers, w.name)
	}
	unallocated.Headers = append(unallocated.Headers, "Total")
	for _, t := range rows {
		for _, typ := range slices.Sorted(maps.Keys(t.Unallocated)) {
			row := []cell{text(t.Team), teamBand(t), text(humanName(typ))}
			for _, w := range waits {
				row = append(row, d.at("unallocated", t.Team, typ+" "+w.name, t.Unallocated[typ][w.name]))
			}
			unallocated.Rows = append(unallocated.Rows, append(row, d.at("unallocated", t.Team, typ, sum(t.Unallocated[typ]))))
		}
	}

	types := slices.Sorted(maps.Keys(c.Total.Overdue))
	overdue := reportTable{ID: "overdue", Title: "Overdue cases by type",
		Note:    "Open cases past their timescale, or unallocated past their allocation deadline, under the strictest quota.",
		Headers: append([]string{"Team", "Team band"}, humanNames(types)...)}
	rules := slices.Sorted(maps.Keys(c.Total.Violations))
	violations := reportTable{ID: "violations", Title: "Violations by rule",
		Note:    "What the audit of each team's quota finds, whatever its enforcement action: a practitioner over a cap, a team over its capacity, a case past its allocation deadline.",
		Headers: append([]string{"Team", "Team band"}, humanNames(rules)...)}
	for _, t := range rows {
		if len(types) > 0 {
			row := []cell{text(t.Team), teamBand(t)}
			for _, typ := range types {
				row = append(row, d.at("overdue", t.Team, typ, t.Overdue[typ]))
			}
			overdue.Rows = append(overdue.Rows, row)
		}
		if len(rules) > 0 {
			row := []cell{text(t.Team), teamBand(t)}
			for _, rule := range rules {
				row = append(row, d.at("violations", t.Team, rule, t.Violations[rule]))
			}
			violations.Rows = append(violations.Rows, row)
		}
	}

	exceptions := reportTable{ID: "exceptions", Title: "Exceptions in force",
		Note: "Allocations a manager admitted above a cap, with a reason, until they lapse."}
	if d.publish {
		exceptions.Headers = []string{"Team", "Team band", "In force"}
		for _, t := range rows {
			exceptions.Rows = append(exceptions.Rows, []cell{text(t.Team), teamBand(t), d.at("exceptions_in_force", t.Team, "", len(t.Exceptions))})
		}
	} else {
		exceptions.Headers = []string{"Team", "Team band", "Case", "Practitioner", "Expires"}
		for _, t := range c.Teams {
			for _, e := range t.Exceptions {
				exceptions.Rows = append(exceptions.Rows, []cell{text(t.Team), teamBand(t), text(e.Case), text(e.Practitioner), text(e.Expires.UTC().Format(time.DateOnly))})
			}
		}
	}

	fair := func(id, title, by string, groups []group) reportTable {
		t := reportTable{ID: id, Title: title, Headers: []string{humanName(by), "Practitioners", "Measured", "Median", "Middle half", "Over capacity", "Share over capacity"}}
		for _, g := range groups {
			dist := distributionOf(g.Utilisation)
			median, quartiles, _ := d.spread(dist)
			people := d.at("fairness_by_"+by+"_practitioners", c.Total.Team, g.Name, g.Practitioners)
			if by == "grade" {
				people = d.at("practitioners_by_grade", c.Total.Team, g.Name, g.Practitioners)
			}
			measured := "fairness_by_" + by + "_measured"
			over := "fairness_by_" + by + "_over_capacity"
			t.Rows = append(t.Rows, []cell{text(humanName(g.Name)), people, d.at(measured, c.Total.Team, g.Name, dist.N), median, quartiles,
				d.at(over, c.Total.Team, g.Name, g.OverCapacity), d.share(over, measured, c.Total.Team, g.Name, g.OverCapacity, dist.N)})
		}
		return t
	}
	byGrade := fair("fairness-grade", "Fairness: utilisation by grade", "grade", c.ByGrade)
	byGrade.Note = "Across the council. A policy that protects one grade (the newly qualified, say) by loading the others shows here as a gap between the grades' medians."
	byFTE := fair("fairness-fte", "Fairness: utilisation by FTE", "fte", c.ByFTE)
	byFTE.Headers[0] = "FTE"
	byFTE.Note = "Part-time practitioners' capacity is scaled by their FTE; a higher median here means their caseload is not."

	out := []reportTable{summary, spread, bands, grades, unallocated, overdue, exceptions, violations, byGrade, byFTE}
	return slices.DeleteFunc(out, func(t reportTable) bool { return len(t.Rows) == 0 && t.ID != "unallocated" && t.ID != "exceptions" })
}

// unitWords says what the council's weights are measured in.
func (c *councilReport) unitWords() string {
	if c.Unit == "" {
		return "the unit of each team's quota"
	}
	return c.Unit
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
		subtitle += " Published with disclosure control: a count from 1 to 4 is shown as c, and so are the counts beside it that would let a reader work it out from the totals or the other tables; no figure is about an individual practitioner."
	}
	return title, subtitle
}

func writeReportMarkdown(w io.Writer, h *healthCheck) error {
	title, subtitle := h.heading()
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n%s\n", title, subtitle)
	for _, c := range h.Councils {
		d := c.disclosure(h.Publish)
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\n### Headline\n\n", c.Namespace, c.calendarLine())
		for _, line := range c.headline(d, h.Publish) {
			fmt.Fprintf(&b, "- %s\n", line)
		}
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
// Categories keep the names the council's objects use (NewlyQualified, practitionerCaps.maxWeight),
// so that a spreadsheet can join them to other data.
func writeReportCSV(w io.Writer, h *healthCheck) error {
	out := csv.NewWriter(w)
	if err := out.Write([]string{"council", "team", "measure", "category", "value"}); err != nil {
		return err
	}
	for _, c := range h.Councils {
		d := c.disclosure(h.Publish)
		// The day the figures are for, its category the time zone the council's days are counted in.
		_ = out.Write([]string{c.Namespace, "", "day", c.Zone, c.Day.String()})
		_ = out.Write([]string{c.Namespace, "", "unit", "", c.unitWords()})
		for _, t := range c.teamRows() {
			row := func(measure, category string, v cell) {
				_ = out.Write([]string{c.Namespace, t.Team, measure, category, v.Text})
			}
			count := func(measure, category string, n int) { row(measure, category, d.at(measure, t.Team, category, n)) }
			row("band", "", teamBand(t))
			count("practitioners", "", t.Practitioners)
			row("fte", "", d.fte(t))
			row("capacity", "", figureOr(t.Capacity, t.Capped))
			row("weighted_load", "", text(figure(t.Weight)))
			count("open_cases", "", t.OpenCases)
			row("cases_per_fte", "", text(perFTE(policy.Milli(t.LeadCases)*policy.One, t.CaseHoldingFTE)))
			row("weighted_per_fte", "", text(perFTE(t.Weight, t.CaseHoldingFTE)))
			dist := distributionOf(t.Utilisation)
			count("utilisation_measured", "", dist.N)
			row("utilisation_median_percent", "", d.percent(dist))
			if !d.publish || dist.N >= minGroup {
				row("utilisation_p25_percent", "", text(fmt.Sprintf("%.0f", dist.P25)))
				row("utilisation_p75_percent", "", text(fmt.Sprintf("%.0f", dist.P75)))
			}
			count("over_capacity", "", t.OverCapacity)
			for _, b := range bandOrder {
				count("practitioners_by_band", b, t.Bands[b])
			}
			for _, g := range keysOf(t.Grades) {
				count("practitioners_by_grade", g, t.Grades[g])
			}
			for _, typ := range keysOf(t.Unallocated) {
				for _, w := range waits {
					count("unallocated", typ+" "+w.name, t.Unallocated[typ][w.name])
				}
			}
			for _, typ := range keysOf(t.Overdue) {
				count("overdue", typ, t.Overdue[typ])
			}
			count("needing_cover", "", t.NeedingCover)
			count("exceptions_in_force", "", len(t.Exceptions))
			for _, rule := range keysOf(t.Violations) {
				count("violations", rule, t.Violations[rule])
			}
		}
		for _, by := range []struct {
			name   string
			groups []group
		}{{"grade", c.ByGrade}, {"fte", c.ByFTE}} {
			for _, g := range by.groups {
				dist := distributionOf(g.Utilisation)
				people := d.at("fairness_by_"+by.name+"_practitioners", c.Total.Team, g.Name, g.Practitioners)
				if by.name == "grade" {
					people = d.at("practitioners_by_grade", c.Total.Team, g.Name, g.Practitioners)
				}
				for _, m := range []struct {
					name string
					v    cell
				}{{"practitioners", people}, {"utilisation_median_percent", d.percent(dist)},
					{"over_capacity", d.at("fairness_by_"+by.name+"_over_capacity", c.Total.Team, g.Name, g.OverCapacity)}} {
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

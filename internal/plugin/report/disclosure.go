package report

import (
	"cmp"
	"maps"
	"math"
	"slices"
)

// Disclosure control of a published report, as the Government Statistical Service's guidance
// and the Department for Education's children's social work workforce releases practise it:
//
//   - Primary suppression: a count from 1 to 4 is shown as c, and so is a figure that sums the
//     caseloads of 1 to 4 practitioners (the cases needing cover of one absent worker).
//   - Secondary (complementary) suppression: no c may be worked out from what is shown. Every
//     count the report publishes, in every table and chart, and every sum that ties counts
//     together, is one release; the report bounds each suppressed count by linear programming
//     (bounds.go) and, while a primary count can be pinned down to fewer than protectionWidth
//     values, suppresses one more count beside it (suppressBeside): a small one of the same
//     row or column before a total, the first of the cheapest few that protects it.
//   - The FTE beside a suppressed headcount is suppressed with it (FTE never exceeds the
//     headcount, so 3.8 FTE beside c would say 4), and a share is suppressed with either of
//     its counts.

// protectionWidth is how many values a reader must be left with for each count suppressed
// because it is small: with 3, a reader who knows every published figure can at best say "1, 2
// or 3".
const protectionWidth = 3

// secondarySuppression can be switched off by a test, to show that the attacker it runs
// recovers counts that primary suppression alone leaves exposed.
var secondarySuppression = true

// cellKey names one published count of a council: what it counts, for which team (or "all
// teams"), and in which category.
type cellKey struct{ measure, team, category string }

// releaseCell is a count of the release, its true value, and whether it is shown.
type releaseCell struct {
	key     cellKey
	value   int
	primary bool
	hidden  bool
}

// relation ties counts together: the parts add up to the total, or (atMost) to no more than it.
type relation struct {
	total  int
	parts  []int
	atMost bool
}

// release is every count of a council's published report and the sums a reader knows hold
// between them.
type release struct {
	cells     []releaseCell
	index     map[cellKey]int
	relations []relation
	// unknown are counts a report asked about that the release does not hold: a test fails on
	// any, as the audit cannot have protected them.
	unknown map[cellKey]bool

	// reader is what a reader knows while which counts are hidden stays as it is: the
	// suppressed counts numbered as variables, and the program that bounds them.
	reader *program
	vars   map[int]int
}

// hide suppresses a count, or shows it again; what a reader knows changes with it.
func (r *release) hide(cell int, hidden bool) {
	r.cells[cell].hidden = hidden
	r.reader = nil
}

func newRelease() *release { return &release{index: map[cellKey]int{}} }

// count adds a count of people or cases (once: a count shown in two tables is one cell),
// primary-suppressed when it is 1 to 4 or small is true.
func (r *release) count(k cellKey, n int, small bool) int {
	if i, ok := r.index[k]; ok {
		return i
	}
	primary := small || (n >= 1 && n <= 4)
	r.cells = append(r.cells, releaseCell{key: k, value: n, primary: primary, hidden: primary})
	r.index[k] = len(r.cells) - 1
	return len(r.cells) - 1
}

func (r *release) sum(total int, parts ...int) {
	r.relations = append(r.relations, relation{total: total, parts: parts})
}

func (r *release) atMost(total int, parts ...int) {
	r.relations = append(r.relations, relation{total: total, parts: parts, atMost: true})
}

// hidden reports whether the count k is suppressed; ok is false for a count the release does
// not hold.
func (r *release) hidden(k cellKey) (hidden, ok bool) {
	i, ok := r.index[k]
	if !ok {
		if r.unknown == nil {
			r.unknown = map[cellKey]bool{}
		}
		r.unknown[k] = true
		return false, false
	}
	return r.cells[i].hidden, true
}

// constraints are the relations as a reader sees them: the shown counts are constants, the
// suppressed ones variables (numbered as vars gives them).
func (r *release) constraints() (vars map[int]int, cons []linear) {
	vars = map[int]int{}
	for i, c := range r.cells {
		if c.hidden {
			vars[i] = len(vars)
		}
	}
	for _, rel := range r.relations {
		var l linear
		l.atMost = rel.atMost
		term := func(cell int, coef float64) {
			if v, ok := vars[cell]; ok {
				l.vars = append(l.vars, v)
				l.coefs = append(l.coefs, coef)
			} else {
				l.rhs -= coef * float64(r.cells[cell].value)
			}
		}
		for _, p := range rel.parts {
			term(p, 1)
		}
		term(rel.total, -1)
		if len(l.vars) > 0 {
			cons = append(cons, l)
		}
	}
	return vars, cons
}

// exposure is a suppressed count and the range a reader can narrow it to.
type exposure struct {
	cell   int
	lo, hi float64
}

// width is how many whole values the range leaves.
func (e exposure) width() float64 {
	if math.IsInf(e.hi, 1) {
		return math.Inf(1)
	}
	return math.Floor(e.hi+1e-6) - math.Ceil(e.lo-1e-6) + 1
}

// audit bounds every primary-suppressed count as a reader who knows every shown count and every
// relation can: the least and the most it can be (LP bounds, rounded to whole counts).
func (r *release) audit() []exposure {
	var out []exposure
	for i, c := range r.cells {
		if c.primary {
			out = append(out, r.exposure(i))
		}
	}
	return out
}

// protect chooses the complementary suppressions: while a primary count is exposed (a reader
// can narrow it to fewer than protectionWidth values), suppress the smallest non-zero shown
// count of a relation it is in (a part before a total, a relation with fewer parts first), and
// bound it again. Suppressing a count only widens what a reader can say of the others, so the
// counts already protected stay so, and each count is settled in one pass.
func (r *release) protect() {
	if !secondarySuppression {
		return
	}
	for i := range r.cells {
		if !r.cells[i].primary {
			continue
		}
		for !r.protected(i) && r.suppressBeside(i) {
		}
	}
}

// exposure bounds one suppressed count as a reader can.
func (r *release) exposure(cell int) exposure {
	lo, hi := r.knowledge().rangeOf(r.vars[cell])
	return exposure{cell: cell, lo: lo, hi: hi}
}

// protected reports whether a reader is left at least protectionWidth values for the count. The
// count itself is one of them, and none is below 1: where the most it can be is far enough
// above it, the least need not be sought.
func (r *release) protected(cell int) bool {
	p := r.knowledge()
	if hi := p.most(r.vars[cell]); hi-float64(r.cells[cell].value) >= protectionWidth-1-1e-6 {
		return true
	}
	return r.exposure(cell).width() >= protectionWidth
}

// knowledge is the program of what a reader knows, as the counts are now hidden.
func (r *release) knowledge() *program {
	if r.reader == nil {
		vars, cons := r.constraints()
		r.vars, r.reader = vars, newProgram(len(vars), cons, 1)
	}
	return r.reader
}

// suppressBeside suppresses one more count near cell. The candidates are the shown non-zero
// counts of a sum it is in or, where every count beside it is already suppressed or zero, of a
// sum one of those suppressed counts is in, and so on outwards; cheapest first, where a total
// costs as much as going two sums further out (a council's total is suppressed only where
// nothing nearer will do), a count tied to the cell only by an inequality one more, and a
// smaller count less than a larger. Of the cheapest few, the first that protects the cell is
// suppressed, else the one that leaves it the widest range. False when there is nothing left to
// suppress: the cell is then as protected as the report can make it.
func (r *release) suppressBeside(cell int) bool {
	type candidate struct {
		cell, cost, value, relSize int
	}
	var found []candidate
	listed := map[int]bool{}
	reached := map[int]bool{cell: true}
	frontier := []int{cell}
	for level := 0; len(frontier) > 0; level++ {
		var next []int
		for _, rel := range r.relations {
			members := append([]int{rel.total}, rel.parts...)
			touches := false
			for _, f := range frontier {
				if slices.Contains(members, f) {
					touches = true
					break
				}
			}
			if !touches {
				continue
			}
			for k, other := range members {
				c := r.cells[other]
				switch {
				case !c.hidden && c.value > 0 && !listed[other]:
					listed[other] = true
					cand := candidate{cell: other, cost: level, value: c.value, relSize: len(rel.parts)}
					if k == 0 {
						cand.cost += 2
					}
					if rel.atMost {
						cand.cost++
					}
					found = append(found, cand)
				case c.hidden && !reached[other]:
					reached[other] = true
					next = append(next, other)
				}
			}
		}
		frontier = next
	}
	if len(found) == 0 {
		return false
	}
	slices.SortFunc(found, func(a, b candidate) int {
		return cmp.Or(cmp.Compare(a.cost, b.cost), cmp.Compare(a.value, b.value), cmp.Compare(a.relSize, b.relSize), cmp.Compare(a.cell, b.cell))
	})
	const tries = 4
	choice, widest := found[0].cell, -1.0
	for _, cand := range found[:min(tries, len(found))] {
		r.hide(cand.cell, true)
		w := r.exposure(cell).width()
		r.hide(cand.cell, false)
		if w >= protectionWidth {
			choice = cand.cell
			break
		}
		if w > widest {
			choice, widest = cand.cell, w
		}
	}
	r.hide(choice, true)
	return true
}

// keysOf are the categories of a map of counts, sorted.
func keysOf[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// bandGroups are the wider categories a published chart of practitioners by band draws, so that
// it shows what the counts allow rather than a row of c.
var bandGroups = []struct {
	name  string
	bands []string
}{{"Green", []string{"Green"}}, {"Amber or Red", []string{"Amber", "Red"}}, {"Away or not capped", []string{"Away", "None"}}}

// waitGroups are the wider categories of a published chart of unallocated cases by wait.
var waitGroups = []struct {
	name  string
	waits []string
}{{"up to 28 days", []string{"0-7 days", "8-28 days"}}, {"over 28 days", []string{"29-90 days", "over 90 days"}}}

// releaseOf is every count the council's published report shows, in its tables, its headline
// and its charts, with the sums that tie them, and which of them are suppressed.
func (c *councilReport) releaseOf() *release {
	r := newRelease()
	rows := c.teamRows()
	grades := keysOf(c.Total.Grades)
	types := keysOf(c.Total.Unallocated)
	overdueTypes := keysOf(c.Total.Overdue)
	rules := keysOf(c.Total.Violations)
	cell := func(measure, team, category string, n int) int {
		return r.count(cellKey{measure, team, category}, n, false)
	}
	// column adds, for each team, a count of measure/category, and ties the council's to their sum.
	column := func(measure, category string, n func(t *teamReport) int) {
		var parts []int
		for _, t := range c.Teams {
			parts = append(parts, cell(measure, t.Team, category, n(t)))
		}
		r.sum(cell(measure, c.Total.Team, category, n(c.Total)), parts...)
	}
	column("practitioners", "", func(t *teamReport) int { return t.Practitioners })
	column("open_cases", "", func(t *teamReport) int { return t.OpenCases })
	column("unallocated", "", func(t *teamReport) int { return t.unallocated() })
	column("overdue", "", func(t *teamReport) int { return sum(t.Overdue) })
	column("exceptions_in_force", "", func(t *teamReport) int { return len(t.Exceptions) })
	column("utilisation_measured", "", func(t *teamReport) int { return len(t.Utilisation) })
	column("over_capacity", "", func(t *teamReport) int { return t.OverCapacity })
	// Cases needing cover are the caseloads of the absent: of one to four people, they are theirs.
	var cover []int
	for _, t := range c.Teams {
		cover = append(cover, r.count(cellKey{"needing_cover", t.Team, ""}, t.NeedingCover, t.CoverHolders >= 1 && t.CoverHolders <= 4))
	}
	r.sum(r.count(cellKey{"needing_cover", c.Total.Team, ""}, c.Total.NeedingCover, c.Total.CoverHolders >= 1 && c.Total.CoverHolders <= 4), cover...)
	for _, b := range bandOrder {
		column("practitioners_by_band", b, func(t *teamReport) int { return t.Bands[b] })
	}
	for _, g := range grades {
		column("practitioners_by_grade", g, func(t *teamReport) int { return t.Grades[g] })
	}
	for _, typ := range types {
		for _, w := range waits {
			column("unallocated", typ+" "+w.name, func(t *teamReport) int { return t.Unallocated[typ][w.name] })
		}
		column("unallocated", typ, func(t *teamReport) int { return sum(t.Unallocated[typ]) })
	}
	for _, typ := range overdueTypes {
		column("overdue", typ, func(t *teamReport) int { return t.Overdue[typ] })
	}
	for _, rule := range rules {
		column("violations", rule, func(t *teamReport) int { return t.Violations[rule] })
	}
	for _, g := range bandGroups {
		if len(g.bands) > 1 {
			column("chart_bands", g.name, func(t *teamReport) int { return sumOf(t.Bands, g.bands) })
		}
	}
	for _, g := range waitGroups {
		column("chart_waits", g.name, func(t *teamReport) int { return t.waitedIn(g.waits) })
	}
	// Each row adds up to its total.
	for _, t := range rows {
		at := func(measure, category string) int { return r.index[cellKey{measure, t.Team, category}] }
		practitioners := at("practitioners", "")
		var parts []int
		for _, b := range bandOrder {
			parts = append(parts, at("practitioners_by_band", b))
		}
		r.sum(practitioners, parts...)
		parts = nil
		for _, g := range grades {
			parts = append(parts, at("practitioners_by_grade", g))
		}
		r.sum(practitioners, parts...)
		r.atMost(practitioners, at("utilisation_measured", ""))
		r.atMost(at("open_cases", ""), at("unallocated", ""))
		var byType []int
		for _, typ := range types {
			parts = nil
			for _, w := range waits {
				parts = append(parts, at("unallocated", typ+" "+w.name))
			}
			r.sum(at("unallocated", typ), parts...)
			byType = append(byType, at("unallocated", typ))
		}
		r.sum(at("unallocated", ""), byType...)
		parts = nil
		for _, typ := range overdueTypes {
			parts = append(parts, at("overdue", typ))
		}
		r.sum(at("overdue", ""), parts...)
		// Under one quota the audit's practitioners over their weight cap are those over
		// capacity, and its cases past an allocation deadline are among those overdue: where
		// that holds, a reader may know it.
		if slices.Contains(rules, "practitionerCaps.maxWeight") && t.Violations["practitionerCaps.maxWeight"] == t.OverCapacity {
			r.sum(at("over_capacity", ""), at("violations", "practitionerCaps.maxWeight"))
		}
		if slices.Contains(rules, "allocationDeadlines") && t.Violations["allocationDeadlines"] <= sum(t.Overdue) {
			r.atMost(at("overdue", ""), at("violations", "allocationDeadlines"))
		}
		for _, g := range bandGroups {
			if len(g.bands) > 1 {
				parts = nil
				for _, b := range g.bands {
					parts = append(parts, at("practitioners_by_band", b))
				}
				r.sum(at("chart_bands", g.name), parts...)
			}
		}
		for _, g := range waitGroups {
			parts = nil
			for _, typ := range types {
				for _, w := range g.waits {
					parts = append(parts, at("unallocated", typ+" "+w))
				}
			}
			r.sum(at("chart_waits", g.name), parts...)
		}
	}
	// The histograms of utilisation: each team's bins add up to those measured, and those above
	// 100% are over capacity.
	for _, t := range c.Teams {
		measured := r.index[cellKey{"utilisation_measured", t.Team, ""}]
		var parts, over []int
		for i, n := range binsOf(publishedBins, t.Utilisation) {
			p := cell("chart_utilisation", t.Team, publishedBins[i].name, n)
			parts = append(parts, p)
			if publishedBins[i].from > 100 {
				over = append(over, p)
			}
		}
		r.sum(measured, parts...)
		r.atMost(r.index[cellKey{"over_capacity", t.Team, ""}], over...)
	}
	// The fairness section: the council's practitioners by grade and by FTE.
	for _, by := range []struct {
		name   string
		groups []group
	}{{"grade", c.ByGrade}, {"fte", c.ByFTE}} {
		var people, measured, over []int
		for _, g := range by.groups {
			p := cell("fairness_by_"+by.name+"_practitioners", c.Total.Team, g.Name, g.Practitioners)
			if by.name == "grade" {
				p = r.index[cellKey{"practitioners_by_grade", c.Total.Team, g.Name}]
			}
			m := cell("fairness_by_"+by.name+"_measured", c.Total.Team, g.Name, len(g.Utilisation))
			people, measured = append(people, p), append(measured, m)
			over = append(over, cell("fairness_by_"+by.name+"_over_capacity", c.Total.Team, g.Name, g.OverCapacity))
			r.atMost(p, m)
		}
		r.sum(r.index[cellKey{"practitioners", c.Total.Team, ""}], people...)
		r.sum(r.index[cellKey{"utilisation_measured", c.Total.Team, ""}], measured...)
		r.sum(r.index[cellKey{"over_capacity", c.Total.Team, ""}], over...)
	}
	// The headline: practitioners over capacity by grade are the fairness section's.
	r.protect()
	return r
}

func sumOf(m map[string]int, keys []string) int {
	n := 0
	for _, k := range keys {
		n += m[k]
	}
	return n
}

// waitedIn counts the team's unallocated cases, of every type, whose wait is in one of waits.
func (t *teamReport) waitedIn(waits []string) int {
	n := 0
	for _, byAge := range t.Unallocated {
		n += sumOf(byAge, waits)
	}
	return n
}

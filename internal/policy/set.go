package policy

import (
	"time"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

// Set is the policies that select one team. Every one of them must hold, so where they disagree
// the strictest wins: the earliest due date, the shortest allocation deadline. The figures a
// manager reads (capacity, headroom, band) come from the one policy that governs them. Status,
// the audit, the health-check report and every command of the kubectl plugin read a team's
// figures through a Set, so that each rule is decided here once.
type Set []*Policy

// Timing places a case against every policy of the set on day d: the earliest due date wins,
// the case is past its allocation deadline if any policy says so, and its deadline is the
// shortest any policy sets.
func (s Set) Timing(c Case, d Day) Timing {
	var out Timing
	for _, p := range s {
		t := p.Timing(c, d)
		if !t.DueBy.IsZero() && (out.DueBy.IsZero() || t.DueBy.Before(out.DueBy)) {
			out.DueBy, out.PastTimescale = t.DueBy, t.PastTimescale
		}
		if !t.AllocationDeadline.IsZero() && (out.AllocationDeadline.IsZero() || t.AllocationDeadline.Before(out.AllocationDeadline)) {
			out.AllocationDeadline, out.MaxUnallocatedDays = t.AllocationDeadline, t.MaxUnallocatedDays
		}
		out.PastAllocationDeadline = out.PastAllocationDeadline || t.PastAllocationDeadline
		out.NextChange = earliest(out.NextChange, t.NextChange)
	}
	out.Overdue = out.PastTimescale || out.PastAllocationDeadline
	return out
}

// Overdue reports whether an open case is overdue on day d under the strictest policy of the set.
func (s Set) Overdue(c Case, d Day) bool { return s.Timing(c, d).Overdue }

// OverdueCases counts the team's open cases that are overdue on day d under the set.
func (s Set) OverdueCases(t TeamView, d Day) int {
	n := 0
	for _, c := range t.Cases {
		if c.Open() && s.Overdue(c, d) {
			n++
		}
	}
	return n
}

// TeamState is what a team's status shows on a day: the figures of the policy that governs it
// (or, where none caps it, of the one that weighs its cases, uncapped), and the cases overdue
// under the strictest policy of the set.
type TeamState struct {
	// Policy is the policy the figures come from; Default when none selects the team.
	Policy *Policy
	TeamFigures
	OverdueCases int
}

// OverCapacity reports whether the team is over its capacity or has an available member over
// theirs; never for an uncapped team.
func (ts TeamState) OverCapacity() bool {
	return ts.Capped && (ts.Weight > ts.Capacity || ts.OverCapacityPractitioners > 0)
}

// Team is the team's state on day d.
func (s Set) Team(t TeamView, d Day) TeamState {
	p, _ := FiguresPolicyForTeam(s, t, d)
	return TeamState{Policy: p, TeamFigures: p.TeamFiguresOf(t, d), OverdueCases: s.OverdueCases(t, d)}
}

// Band counts: a team's practitioners are counted under the band their status shows, Away
// included, and under one more name.
const (
	// CountedNone counts a practitioner whose grade no policy of the set caps: status shows no band.
	CountedNone = "None"
	// CountedAway counts a practitioner who is away, whether or not they hold cases: their band.
	CountedAway = string(v1alpha1.BandAway)
)

// BandCounts are the names a team's practitioners are counted under, in the order to show them.
var BandCounts = []string{string(v1alpha1.BandGreen), string(v1alpha1.BandAmber), string(v1alpha1.BandRed), CountedAway, CountedNone}

// PractitionerState is what a practitioner's status shows on a day.
type PractitionerState struct {
	// Policy is the policy the figures come from; Capped is false when it does not cap the
	// practitioner's grade (no policy of the set does), and then only the load is shown.
	Policy   *Policy
	Capped   bool
	Figures  Figures
	Capacity Capacity
	// Away says why the practitioner is not available that day; empty when they are.
	Away string
	// OverCapacity is true for an available practitioner who carries more than their capacity.
	// One who is away is not: their capacity is 0 and the cases they hold need cover.
	OverCapacity bool
	// CountedAs is the name the practitioner is counted under in a team's band counts: their
	// band (Away for one who is away), or CountedNone.
	CountedAs string
}

// Practitioner is the member's state on day d.
func (s Set) Practitioner(m Member, d Day) PractitionerState {
	pr := m.Practitioner
	p, capped := FiguresPolicyForPractitioner(s, pr, m.Holdings, d)
	st := PractitionerState{Policy: p, Capped: capped, Away: pr.Away(d)}
	load := p.LoadOf(m.Holdings)
	st.Figures = Figures{Cases: load.Cases, Children: load.Children, Weight: load.Weight}
	if !capped {
		st.CountedAs = CountedNone
		return st
	}
	st.Capacity = p.CapacityOf(pr, d)
	st.Figures = p.figures(load, st.Capacity.Value)
	st.OverCapacity = p.OverCapacity(pr, m.Holdings, d)
	if st.Away != "" {
		st.Figures.Band = v1alpha1.BandAway
	}
	st.CountedAs = string(st.Figures.Band)
	return st
}

// BandCounts counts the team's practitioners by the name PractitionerState.CountedAs gives
// them; every name of BandCounts is present, at 0 where nobody is counted under it.
func (s Set) BandCounts(t TeamView, d Day) map[string]int {
	out := make(map[string]int, len(BandCounts))
	for _, name := range BandCounts {
		out[name] = 0
	}
	for _, m := range t.Members {
		out[s.Practitioner(m, d).CountedAs]++
	}
	return out
}

// OverCapacity reports whether the policy finds the practitioner over capacity on day d: it caps
// them, they are available, and they carry more than their capacity. A practitioner who is away
// is never over capacity: the cases they hold need cover, which is not their breach.
func (p *Policy) OverCapacity(pr Practitioner, holdings []Holding, d Day) bool {
	c := p.CapacityOf(pr, d)
	return c.Capped && pr.AvailableOn(d) && p.LoadOf(holdings).Weight > c.Value
}

// ExceptionInForce reports whether an exception recorded for case c still admits its
// practitioner above the cap at the instant now: it has not expired, and it still stands
// (ExceptionStands).
func ExceptionInForce(c Case, ex v1alpha1.CaseException, now time.Time) bool {
	return ex.ExpiresAt.Time.After(now) && ExceptionStands(c, ex.Practitioner)
}

// Week is a team's week ahead as the set projects it: what its members carry on the week's
// first day if every case closes when its timescale says it is due, the capacity that day
// (Capped false when the weighing policy caps nothing), and the weight of the cases due to end
// within the week.
type Week struct {
	From     Day
	Capacity TeamCapacity
	Capped   bool
	Ending   Milli
}

// Weeks projects the team from today for n weeks, weighed by p (WeighingPolicy). A case counts
// until it is due under the strictest policy of the set; one already overdue is open still, and
// nothing says when it will close, so it counts throughout.
func (s Set) Weeks(p *Policy, t TeamView, today Day, n int) []Week {
	out := make([]Week, 0, n)
	for k := range n {
		from, to := today.AddDays(7*k), today.AddDays(7*(k+1))
		wk := Week{From: from}
		members := make([]Member, len(t.Members))
		for i, m := range t.Members {
			var kept []Holding
			for _, h := range m.Holdings {
				due := s.Timing(h.Case, today).DueBy
				if due.IsZero() || due.Before(today) || !due.Before(from) {
					kept = append(kept, h)
					if !due.IsZero() && !due.Before(today) && due.Before(to) {
						wk.Ending += p.Carried(h.Case, h.Role)
					}
				}
			}
			members[i] = Member{Practitioner: m.Practitioner, Holdings: kept}
		}
		wk.Capacity, wk.Capped = p.TeamCapacityOf(members, from)
		out = append(out, wk)
	}
	return out
}

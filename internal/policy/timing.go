package policy

// WaitingSince is when an unallocated case started waiting: UnallocatedSince when known, else
// the day it opened.
func (c Case) WaitingSince() Day {
	if !c.UnallocatedSince.IsZero() {
		return c.UnallocatedSince
	}
	return c.OpenedOn
}

// Timing is where a case stands against the policy's timescales and allocation deadlines.
type Timing struct {
	// DueBy is the last day of the case's timescale; zero when its type has none.
	DueBy Day
	// PastTimescale is true when the case is open after DueBy.
	PastTimescale bool
	// AllocationDeadline is the last day the case may wait unallocated; zero when it is
	// allocated or its type has no deadline.
	AllocationDeadline Day
	// PastAllocationDeadline is true when the case waits unallocated longer than its type may.
	PastAllocationDeadline bool
	// Overdue is either of the two.
	Overdue bool
	// NextChange is the day on which one of the above next changes; zero when nothing will.
	NextChange Day
}

// Timing places an open case on day d against the policy. A type with maxUnallocatedDays 0
// must never wait: it is past its deadline from the first day.
func (p *Policy) Timing(c Case, d Day) Timing {
	var t Timing
	if !c.Open() {
		return t
	}
	next := func(last Day) {
		if at := last.AddDays(1); at.After(d) {
			t.NextChange = earliest(t.NextChange, at)
		}
	}
	if days, ok := p.Timescales[c.Type]; ok && !c.OpenedOn.IsZero() {
		t.DueBy = c.OpenedOn.AddDays(days)
		t.PastTimescale = d.After(t.DueBy)
		next(t.DueBy)
	}
	if days, ok := p.AllocationDeadlines[c.Type]; ok && c.AllocatedTo == "" {
		t.AllocationDeadline = c.WaitingSince().AddDays(days)
		t.PastAllocationDeadline = days == 0 || d.After(t.AllocationDeadline)
		next(t.AllocationDeadline)
	}
	t.Overdue = t.PastTimescale || t.PastAllocationDeadline
	return t
}

// NextCapacityChange is the day after d on which the practitioner's capacity next changes by the
// calendar alone: a reduction ends (the day after its until), an absence begins or ends (the day
// after its until). Zero when none will.
func NextCapacityChange(pr Practitioner, d Day) Day {
	var at Day
	consider := func(day Day) {
		if !day.IsZero() && day.After(d) {
			at = earliest(at, day)
		}
	}
	for _, r := range pr.Reductions {
		if !r.Until.IsZero() {
			consider(r.Until.AddDays(1))
		}
	}
	for _, a := range pr.Absences {
		consider(a.From)
		if !a.Until.IsZero() {
			consider(a.Until.AddDays(1))
		}
	}
	return at
}

// StrictestTiming places a case against every policy that selects its team: the earliest due
// date wins, and the case is past its allocation deadline if any policy says so.
func StrictestTiming(policies []*Policy, c Case, d Day) Timing {
	var out Timing
	for _, p := range policies {
		t := p.Timing(c, d)
		if !t.DueBy.IsZero() && (out.DueBy.IsZero() || t.DueBy.Before(out.DueBy)) {
			out.DueBy, out.PastTimescale = t.DueBy, t.PastTimescale
		}
		if !t.AllocationDeadline.IsZero() && (out.AllocationDeadline.IsZero() || t.AllocationDeadline.Before(out.AllocationDeadline)) {
			out.AllocationDeadline = t.AllocationDeadline
		}
		out.PastAllocationDeadline = out.PastAllocationDeadline || t.PastAllocationDeadline
		out.NextChange = earliest(out.NextChange, t.NextChange)
	}
	out.Overdue = out.PastTimescale || out.PastAllocationDeadline
	return out
}

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
	// MaxUnallocatedDays is how long the case's type may wait unallocated (0: never), where
	// AllocationDeadline is set.
	MaxUnallocatedDays int
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
		t.AllocationDeadline, t.MaxUnallocatedDays = c.WaitingSince().AddDays(days), days
		t.PastAllocationDeadline = days == 0 || d.After(t.AllocationDeadline)
		next(t.AllocationDeadline)
	}
	t.Overdue = t.PastTimescale || t.PastAllocationDeadline
	return t
}

// CapacityChangeKind says what changes a practitioner's capacity on a day by the calendar alone.
type CapacityChangeKind string

const (
	// AbsenceBegins: the practitioner is away from this day.
	AbsenceBegins CapacityChangeKind = "AbsenceBegins"
	// AbsenceEnds: the practitioner is back this day (the day after the absence's until).
	AbsenceEnds CapacityChangeKind = "AbsenceEnds"
	// ReductionEnds: a reduction no longer applies from this day (the day after its until).
	ReductionEnds CapacityChangeKind = "ReductionEnds"
)

// CapacityChange is a day on which a practitioner's capacity changes by the calendar alone,
// and why: Absence or Reduction is the one that begins or ends.
type CapacityChange struct {
	On        Day
	Kind      CapacityChangeKind
	Absence   Absence
	Reduction Reduction
}

// CapacityChanges are the days in [from, to) on which the practitioner's capacity changes by the
// calendar alone, in the order of the practitioner's reductions and then absences; a zero to
// has no end.
func CapacityChanges(pr Practitioner, from, to Day) []CapacityChange {
	var out []CapacityChange
	add := func(c CapacityChange) {
		if !c.On.IsZero() && !c.On.Before(from) && (to.IsZero() || c.On.Before(to)) {
			out = append(out, c)
		}
	}
	for _, r := range pr.Reductions {
		if !r.Until.IsZero() {
			add(CapacityChange{On: r.Until.AddDays(1), Kind: ReductionEnds, Reduction: r})
		}
	}
	for _, a := range pr.Absences {
		add(CapacityChange{On: a.From, Kind: AbsenceBegins, Absence: a})
		if !a.Until.IsZero() {
			add(CapacityChange{On: a.Until.AddDays(1), Kind: AbsenceEnds, Absence: a})
		}
	}
	return out
}

// NextCapacityChange is the day after d on which the practitioner's capacity next changes by the
// calendar alone (CapacityChanges). Zero when none will.
func NextCapacityChange(pr Practitioner, d Day) Day {
	var at Day
	for _, c := range CapacityChanges(pr, d.AddDays(1), Day{}) {
		at = earliest(at, c.On)
	}
	return at
}

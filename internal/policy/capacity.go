package policy

import (
	"fmt"
	"strings"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

// Reduction lowers capacity by Percent until (and including) Until; a zero Until never ends.
type Reduction struct {
	Reason  string
	Percent int
	Until   Day
}

// ActiveOn reports whether the reduction applies on day d.
func (r Reduction) ActiveOn(d Day) bool { return r.Until.IsZero() || !r.Until.Before(d) }

// Absence takes a practitioner's capacity to 0 from From to Until (both included); a zero Until
// never ends.
type Absence struct {
	Reason string
	From   Day
	Until  Day
}

// On reports whether the absence covers day d.
func (a Absence) On(d Day) bool {
	return !d.Before(a.From) && (a.Until.IsZero() || !a.Until.Before(d))
}

// String says when the absence runs, e.g. "Sickness from 2027-01-04 until 2027-01-15".
func (a Absence) String() string {
	if a.Until.IsZero() {
		return fmt.Sprintf("%s from %s, no end date", a.Reason, a.From)
	}
	return fmt.Sprintf("%s from %s until %s", a.Reason, a.From, a.Until)
}

// Practitioner is what the engine needs to know of a practitioner.
type Practitioner struct {
	Name       string
	Team       string
	Grade      string
	FTE        Milli
	Reductions []Reduction
	// Available is spec.available: false is the open-ended switch for leave or absence.
	Available bool
	Absences  []Absence
	// PersonalMax is the manager's personal ceiling; nil when none is set.
	PersonalMax *Milli
}

// AbsenceOn returns the absence that covers day d, if any.
func (pr Practitioner) AbsenceOn(d Day) (Absence, bool) {
	for _, a := range pr.Absences {
		if a.On(d) {
			return a, true
		}
	}
	return Absence{}, false
}

// AvailableOn reports whether the practitioner can take new work on day d: spec.available is
// not false and no absence covers the day.
func (pr Practitioner) AvailableOn(d Day) bool {
	if !pr.Available {
		return false
	}
	_, absent := pr.AbsenceOn(d)
	return !absent
}

// Away says why the practitioner is not available on day d, for a denial or a condition:
// "unavailable (spec.available is false)" or "absent (Sickness from 2027-01-04 until 2027-01-15)".
// It is empty when they are available.
func (pr Practitioner) Away(d Day) string {
	if !pr.Available {
		return "unavailable (spec.available is false)"
	}
	if a, absent := pr.AbsenceOn(d); absent {
		return "absent (" + a.String() + ")"
	}
	return ""
}

// PractitionerFrom reads an API Practitioner. Figures that do not parse fall back to the
// schema's defaults: the schema refuses them before they reach the engine.
func PractitionerFrom(p *v1alpha1.Practitioner) Practitioner {
	out := Practitioner{
		Name:      p.Name,
		Team:      p.Spec.Team,
		Grade:     p.Spec.Grade,
		FTE:       One,
		Available: p.IsAvailable(),
	}
	if p.Spec.FTE != "" {
		if fte, err := ParseMilli(p.Spec.FTE); err == nil && fte > 0 && fte <= One {
			out.FTE = fte
		}
	}
	for _, r := range p.Spec.Reductions {
		red := Reduction{Reason: string(r.Reason), Percent: int(r.Percent)}
		if r.Until != "" {
			red.Until, _ = ParseDay(string(r.Until))
		}
		out.Reductions = append(out.Reductions, red)
	}
	for _, a := range p.Spec.Absences {
		abs := Absence{Reason: string(a.Reason)}
		abs.From, _ = ParseDay(string(a.From))
		if a.Until != "" {
			abs.Until, _ = ParseDay(string(a.Until))
		}
		out.Absences = append(out.Absences, abs)
	}
	if p.Spec.MaxWeight != nil {
		if m, err := ParseMilli(string(*p.Spec.MaxWeight)); err == nil {
			out.PersonalMax = &m
		}
	}
	return out
}

// Capacity is a practitioner's effective capacity under one policy.
type Capacity struct {
	Value Milli
	// Covered is false when the policy has caps per grade and none for this grade: it allows the
	// practitioner no new allocations. A policy with no caps at all covers nobody and caps nobody.
	Covered bool
	// Capped is true when the policy caps this practitioner (it has a cap for the grade).
	Capped bool
	// Explanation reads like "SocialWorker cap 15 x FTE 0.6 x (1 - 10% NewlyQualified)".
	Explanation string
	// Cap is the grade's cap; zero when not Capped.
	Cap Cap
}

// CapacityOf computes effective capacity on day d: the grade's cap x FTE x (1 - the active
// reductions, at most 100%), rounded down to the thousandth, lowered by the personal ceiling;
// 0 while the practitioner is unavailable or absent.
func (p *Policy) CapacityOf(pr Practitioner, d Day) Capacity {
	cp, ok := p.Caps[pr.Grade]
	if !ok {
		if !p.CapsPractitioners() {
			return Capacity{Covered: true, Explanation: "no cap per grade in this quota"}
		}
		return Capacity{Covered: false, Explanation: fmt.Sprintf("grade %s has no cap in this quota", pr.Grade)}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s cap %s x FTE %s", pr.Grade, cp.MaxWeight, pr.FTE)
	reduced := 0
	var parts []string
	for _, r := range pr.Reductions {
		if r.ActiveOn(d) {
			reduced += r.Percent
			parts = append(parts, fmt.Sprintf("%d%% %s", r.Percent, r.Reason))
		}
	}
	reduced = min(reduced, 100)
	if len(parts) > 0 {
		fmt.Fprintf(&b, " x (1 - %s)", strings.Join(parts, " - "))
	}
	value := effective(cp, pr, reduced)
	if pr.PersonalMax != nil && *pr.PersonalMax < value {
		value = *pr.PersonalMax
		fmt.Fprintf(&b, ", lowered to the personal ceiling %s", value)
	}
	if away := pr.Away(d); away != "" {
		value = 0
		b.WriteString(", 0 while " + away)
	}
	return Capacity{Value: value, Covered: true, Capped: true, Explanation: b.String(), Cap: cp}
}

// capacityValue is CapacityOf(pr, d).Value, without the explanation: what a team's capacity
// sums over its members.
func (p *Policy) capacityValue(pr Practitioner, d Day) Milli {
	cp, ok := p.Caps[pr.Grade]
	if !ok || !pr.AvailableOn(d) {
		return 0
	}
	reduced := 0
	for _, r := range pr.Reductions {
		if r.ActiveOn(d) {
			reduced += r.Percent
		}
	}
	value := effective(cp, pr, min(reduced, 100))
	if pr.PersonalMax != nil && *pr.PersonalMax < value {
		value = *pr.PersonalMax
	}
	return value
}

// effective is the grade's cap x FTE x (1 - reduced%), rounded down to the thousandth.
func effective(cp Cap, pr Practitioner, reduced int) Milli {
	return Milli(mulDivDown(int64(cp.MaxWeight)*int64(pr.FTE), int64(100-reduced), 1000*100))
}

// BandOf places a weight against a capacity: Green below amberPercent, Amber from amberPercent
// up to and including redPercent, Red above. With no capacity, any weight is Red.
func (p *Policy) BandOf(weight, capacity Milli) v1alpha1.Band {
	if capacity <= 0 {
		if weight > 0 {
			return v1alpha1.BandRed
		}
		return v1alpha1.BandGreen
	}
	switch {
	case exceeds(p.AmberPercent, int64(capacity), int64(weight), 100):
		return v1alpha1.BandGreen
	case !exceeds(int64(weight), 100, p.RedPercent, int64(capacity)):
		return v1alpha1.BandAmber
	default:
		return v1alpha1.BandRed
	}
}

// Figures are the numbers a status shows for a practitioner or team under one policy.
type Figures struct {
	Cases              int
	Children           int
	Weight             Milli
	Capacity           Milli
	Headroom           Milli
	UtilisationPercent int32
	Band               v1alpha1.Band
}

func (p *Policy) figures(l Load, capacity Milli) Figures {
	return Figures{
		Cases:              l.Cases,
		Children:           l.Children,
		Weight:             l.Weight,
		Capacity:           capacity,
		Headroom:           capacity - l.Weight,
		UtilisationPercent: PercentOf(l.Weight, capacity),
		Band:               p.BandOf(l.Weight, capacity),
	}
}

// PractitionerFigures are a practitioner's figures under the policy on day d.
func (p *Policy) PractitionerFigures(pr Practitioner, holdings []Holding, d Day) Figures {
	return p.figures(p.LoadOf(holdings), p.CapacityOf(pr, d).Value)
}

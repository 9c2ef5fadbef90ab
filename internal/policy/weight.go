package policy

import (
	"fmt"
	"strings"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

// Case is what the engine needs to know of a case.
type Case struct {
	Name       string
	Type       string
	Complexity string
	Children   int
	Team       string
	OpenedOn   Day
	// ClosedOn is zero while the case is open.
	ClosedOn    Day
	AllocatedTo string
	CoWorkers   []string
	// UnallocatedSince is the day the case last lost (or never had) a lead; zero when unknown.
	UnallocatedSince Day
	// UID is the Case's metadata.uid and Generation its metadata.generation: which case, and
	// which version of its spec, this is.
	UID        string
	Generation int64
}

// Open reports whether the case has not been closed.
func (c Case) Open() bool { return c.ClosedOn.IsZero() }

// CaseFrom reads an API Case, placing the instants its status records on the council's
// calendar. Dates that do not parse are left zero: the schema refuses them.
func CaseFrom(c *v1alpha1.Case, cal Calendar) Case {
	out := Case{
		Name:        c.Name,
		UID:         string(c.UID),
		Generation:  c.Generation,
		Type:        c.Spec.Type,
		Complexity:  string(c.Spec.Complexity),
		Children:    int(c.Spec.Children),
		Team:        c.Spec.Team,
		AllocatedTo: c.Spec.AllocatedTo,
		CoWorkers:   c.Spec.CoWorkers,
	}
	if out.Complexity == "" {
		out.Complexity = string(v1alpha1.ComplexityStandard)
	}
	if out.Children < 1 {
		out.Children = 1
	}
	out.OpenedOn, _ = ParseDay(string(c.Spec.OpenedOn))
	if c.Spec.ClosedOn != "" {
		out.ClosedOn, _ = ParseDay(string(c.Spec.ClosedOn))
	}
	if c.Status.UnallocatedSince != nil && c.Spec.AllocatedTo == "" {
		out.UnallocatedSince = cal.DayOf(c.Status.UnallocatedSince.Time)
	}
	return out
}

// Role says how a practitioner holds a case.
type Role = v1alpha1.ReservationRole

// Weight is a case's weight under one policy and how it was reached.
type Weight struct {
	Value Milli
	// Breakdown reads like "ChildProtection 1.5 x High 1.5 + 2 more children x 0.5 = 3.25".
	Breakdown string
}

// weightOf computes a case's weight: caseTypes[type] (or default) x complexity[level] (x 1 for a
// level not listed) + additionalChild x (children - 1), as one exact sum rounded up to the
// thousandth.
func (p *Policy) weightOf(c Case) (value, base, mult Milli, listed bool, extra int) {
	base, listed = p.CaseTypes[c.Type]
	if !listed {
		base = p.DefaultWeight
	}
	mult, ok := p.Complexity[c.Complexity]
	if !ok {
		mult = One
	}
	extra = max(c.Children-1, 0)
	micro := int64(base)*int64(mult) + int64(p.AdditionalChild)*int64(extra)*1000
	return Milli(mulDivUp(micro, 1, 1000)), base, mult, listed, extra
}

// Weigh computes a case's weight and says how it was reached.
func (p *Policy) Weigh(c Case) Weight {
	value, base, mult, listed, extra := p.weightOf(c)
	var b strings.Builder
	if listed {
		fmt.Fprintf(&b, "%s %s", c.Type, base)
	} else {
		fmt.Fprintf(&b, "%s (default) %s", c.Type, base)
	}
	if mult != One {
		fmt.Fprintf(&b, " x %s %s", c.Complexity, mult)
	}
	withChildren := extra > 0 && p.AdditionalChild > 0
	if withChildren {
		noun := "children"
		if extra == 1 {
			noun = "child"
		}
		fmt.Fprintf(&b, " + %d more %s x %s", extra, noun, p.AdditionalChild)
	}
	if mult != One || withChildren {
		fmt.Fprintf(&b, " = %s", value)
	}
	return Weight{Value: value, Breakdown: b.String()}
}

// Carried is the weight a practitioner carries for a case: all of it as lead, the policy's
// coWorkerShare as a co-worker (rounded up). A closed case weighs nothing.
func (p *Policy) Carried(c Case, role Role) Milli {
	if !c.Open() {
		return 0
	}
	w, _, _, _, _ := p.weightOf(c)
	if role == v1alpha1.RoleCoWorker {
		return Milli(mulDivUp(int64(w), int64(p.CoWorkerShare), 1000))
	}
	return w
}

// Holding is a case held by a practitioner in a role.
type Holding struct {
	Case Case
	Role Role
}

// HoldingsOf returns the open cases that name the practitioner as lead or co-worker.
func HoldingsOf(practitioner string, cases []Case) []Holding {
	var out []Holding
	for _, c := range cases {
		if !c.Open() {
			continue
		}
		if c.AllocatedTo == practitioner {
			out = append(out, Holding{Case: c, Role: v1alpha1.RoleLead})
			continue
		}
		for _, cw := range c.CoWorkers {
			if cw == practitioner {
				out = append(out, Holding{Case: c, Role: v1alpha1.RoleCoWorker})
				break
			}
		}
	}
	return out
}

// Load is what a practitioner carries under one policy.
type Load struct {
	Weight Milli
	// Cases counts open cases held as lead or co-worker.
	Cases int
	// Children counts the children of open cases held as lead.
	Children int
}

// LoadOf adds up a practitioner's holdings. Closed cases are skipped.
func (p *Policy) LoadOf(holdings []Holding) Load {
	var l Load
	for _, h := range holdings {
		if !h.Case.Open() {
			continue
		}
		l.Weight += p.Carried(h.Case, h.Role)
		l.Cases++
		if h.Role == v1alpha1.RoleLead {
			l.Children += h.Case.Children
		}
	}
	return l
}

// CountsCases reports whether the policy weighs every case type as one case: each type it lists
// weighs 1, and so does the default for a type it does not list. Its figures are then counts of
// cases (made heavier only by complexity or more children), comparable with national caseload
// statistics; otherwise they are points on the council's own scale.
func (p *Policy) CountsCases() bool {
	if p.DefaultWeight != One {
		return false
	}
	for _, w := range p.CaseTypes {
		if w != One {
			return false
		}
	}
	return true
}

// Unit names what the policy's weights, capacities and loads are measured in: "weighted cases"
// where it counts cases (CountsCases), "points" where its case types weigh differently.
func (p *Policy) Unit() string {
	if p.CountsCases() {
		return "weighted cases"
	}
	return "points"
}

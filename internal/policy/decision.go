package policy

import (
	"fmt"
	"sort"
	"strings"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

// Finding is one reason an allocation breaks a rule, or one violation found by an audit.
type Finding struct {
	// Policy is "namespace/name" of the quota whose rule is broken; empty for rules that hold
	// whatever the policy (an unknown or unavailable practitioner, another team).
	Policy string
	Action Action
	// Kind and Name are the object in breach: Practitioner, Team or Case.
	Kind string
	Name string
	// Rule is the rule broken, as a field path of the quota where it has one.
	Rule    string
	Message string
	// Exceptable is true when a manager's exception can admit the allocation anyway: the breach
	// is of a practitioner's weight or case count and stays within exceptions.maxPercent.
	Exceptable bool
}

// String is the finding as a denial says it.
func (f Finding) String() string {
	if f.Policy == "" {
		return f.Message
	}
	return fmt.Sprintf("%s: %s by CaseloadQuota %s", f.Message, verb(f.Action), f.Policy)
}

func verb(a Action) string {
	switch a {
	case v1alpha1.EnforcementWarn:
		return "warned"
	case v1alpha1.EnforcementDryRun:
		return "recorded"
	}
	return "denied"
}

// Newcomer is a practitioner an allocation adds to a case, in a role. Known is false when no
// Practitioner of that name exists in the namespace.
type Newcomer struct {
	Name         string
	Role         Role
	Known        bool
	Practitioner Practitioner
	// Holdings are the open cases the practitioner holds now, without this case.
	Holdings []Holding
}

// Allocation is a change that gives a case to one or more practitioners.
type Allocation struct {
	// Case is the case as it will be once the allocation is admitted.
	Case Case
	// Newcomers are the practitioners the change adds as lead or co-worker.
	Newcomers []Newcomer
	// Team is the case's team, with every member's current holdings (without this case).
	Team TeamView
	Day  Day
}

// CheckPractitioners applies the rules that hold whatever the policy: a newcomer must exist,
// belong to the case's team and be available.
func CheckPractitioners(a Allocation) []Finding {
	var out []Finding
	for _, n := range a.Newcomers {
		f := Finding{Kind: "Practitioner", Name: n.Name, Action: v1alpha1.EnforcementDeny}
		switch {
		case !n.Known:
			f.Rule = "spec.allocatedTo"
			f.Message = fmt.Sprintf("case %s cannot be allocated to %s: there is no Practitioner %s in this namespace", a.Case.Name, n.Name, n.Name)
		case n.Practitioner.Team != a.Case.Team:
			f.Rule = "spec.team"
			f.Message = fmt.Sprintf("case %s belongs to team %s but %s is in team %s: move the case or the practitioner first", a.Case.Name, a.Case.Team, n.Name, n.Practitioner.Team)
		case !n.Practitioner.Available:
			f.Rule = "spec.available"
			f.Message = fmt.Sprintf("%s is unavailable (spec.available is false): no new allocations until they return", n.Name)
		default:
			continue
		}
		out = append(out, f)
	}
	return out
}

// Check applies one policy to an allocation and returns every rule it breaks. Amber, if the
// allocation is admitted, comes back in warnings.
func (p *Policy) Check(a Allocation) (findings []Finding, warnings []string) {
	w := p.Weigh(a.Case)
	add := func(kind, name, rule, msg string, exceptable bool) {
		findings = append(findings, Finding{Policy: p.Name, Action: p.Action, Kind: kind, Name: name, Rule: rule, Message: msg, Exceptable: exceptable})
	}
	for _, n := range a.Newcomers {
		if !n.Known || !n.Practitioner.Available || n.Practitioner.Team != a.Case.Team {
			continue // CheckPractitioners has said why.
		}
		pr := n.Practitioner
		c := p.CapacityOf(pr, a.Day)
		if !c.Covered {
			add("Practitioner", pr.Name, "practitionerCaps",
				fmt.Sprintf("case %s cannot be allocated to %s: grade %s has no cap in this quota, so it allows them no new allocations", a.Case.Name, pr.Name, pr.Grade), false)
			continue
		}
		if !c.Capped {
			continue
		}
		if n.Role == v1alpha1.RoleLead && c.Cap.Excluded[a.Case.Type] {
			add("Practitioner", pr.Name, "practitionerCaps.excludedCaseTypes",
				fmt.Sprintf("case %s is %s, which a %s may hold only as a co-worker: %s cannot lead it", a.Case.Name, a.Case.Type, pr.Grade, pr.Name), false)
		}
		load := p.LoadOf(n.Holdings)
		carried := p.Carried(a.Case, n.Role)
		after := load.Weight + carried
		share := ""
		if n.Role == v1alpha1.RoleCoWorker {
			share = fmt.Sprintf(", co-worker share %s", carried)
		}
		if after > c.Value {
			add("Practitioner", pr.Name, "practitionerCaps.maxWeight",
				fmt.Sprintf("case %s (%s, weight %s%s) would take %s to %s of %s (%s)", a.Case.Name, a.Case.Type, w.Value, share, pr.Name, after, c.Value, c.Explanation),
				p.ExceptionMaxPercent > 0 && int64(after)*100 <= p.ExceptionMaxPercent*int64(c.Value))
		} else if band := p.BandOf(after, c.Value); band != v1alpha1.BandGreen {
			warnings = append(warnings, fmt.Sprintf("case %s takes %s to %s of %s (%d%%): %s under CaseloadQuota %s", a.Case.Name, pr.Name, after, c.Value, percentOf(after, c.Value), band, p.Name))
		}
		if c.Cap.MaxCases != nil && load.Cases+1 > *c.Cap.MaxCases {
			add("Practitioner", pr.Name, "practitionerCaps.maxCases",
				fmt.Sprintf("case %s would give %s %d open cases; a %s holds at most %d", a.Case.Name, pr.Name, load.Cases+1, pr.Grade, *c.Cap.MaxCases),
				p.ExceptionMaxPercent > 0 && int64(load.Cases+1)*100 <= p.ExceptionMaxPercent*int64(*c.Cap.MaxCases))
		}
	}
	findings = append(findings, p.checkTeam(a, w)...)
	return findings, warnings
}

// checkTeam applies the team caps to the team as it would be after the allocation.
func (p *Policy) checkTeam(a Allocation, w Weight) []Finding {
	if p.TeamMaxWeight == nil && p.TeamMaxAveragePerFTE == nil {
		return nil
	}
	var added Milli
	for _, n := range a.Newcomers {
		if n.Known && n.Practitioner.Team == a.Case.Team {
			added += p.Carried(a.Case, n.Role)
		}
	}
	if added == 0 {
		return nil
	}
	tl := p.teamLoad(a.Team.Members)
	after := tl.Weight + added
	var out []Finding
	if p.TeamMaxWeight != nil && after > *p.TeamMaxWeight {
		out = append(out, Finding{Policy: p.Name, Action: p.Action, Kind: "Team", Name: a.Team.Name, Rule: "teamCap.maxWeight",
			Message: fmt.Sprintf("case %s (%s, weight %s) would take team %s to %s of %s (teamCap.maxWeight)", a.Case.Name, a.Case.Type, w.Value, a.Team.Name, after, *p.TeamMaxWeight)})
	}
	if p.TeamMaxAveragePerFTE != nil && tl.FTE > 0 && int64(after)*1000 > int64(*p.TeamMaxAveragePerFTE)*int64(tl.FTE) {
		avg := Milli(mulDivUp(int64(after), 1000, int64(tl.FTE)))
		out = append(out, Finding{Policy: p.Name, Action: p.Action, Kind: "Team", Name: a.Team.Name, Rule: "teamCap.maxAveragePerFTE",
			Message: fmt.Sprintf("case %s (%s, weight %s) would take team %s to an average of %s per FTE, over %s (%s over %s FTE)", a.Case.Name, a.Case.Type, w.Value, a.Team.Name, avg, *p.TeamMaxAveragePerFTE, after, tl.FTE)})
	}
	return out
}

// Decision is the verdict of every policy on an allocation.
type Decision struct {
	// Denials break an enforcing policy or a rule that holds whatever the policy.
	Denials []Finding
	// Warned break a Warn policy: admitted, with the findings as admission warnings.
	Warned []Finding
	// Recorded break a DryRun policy: admitted silently, counted in the quota's status.
	Recorded []Finding
	// Warnings are the admission warnings: Warn findings and practitioners reaching Amber.
	Warnings []string
}

// Allowed reports whether no rule refuses the allocation.
func (d Decision) Allowed() bool { return len(d.Denials) == 0 }

// Exceptable reports whether a manager's exception could admit it: every denial is of a
// practitioner's cap and stays within the exceptions the policy allows.
func (d Decision) Exceptable() bool {
	if len(d.Denials) == 0 {
		return false
	}
	for _, f := range d.Denials {
		if !f.Exceptable {
			return false
		}
	}
	return true
}

// Reason is the denial message: every reason, one after another.
func (d Decision) Reason() string {
	msgs := make([]string, 0, len(d.Denials))
	for _, f := range d.Denials {
		msgs = append(msgs, f.String())
	}
	return strings.Join(msgs, "; ")
}

// Decide applies the rules that always hold and then every policy that selects the team: each
// must hold, so the strictest wins.
func Decide(policies []*Policy, a Allocation) Decision {
	var d Decision
	d.Denials = CheckPractitioners(a)
	sorted := append([]*Policy(nil), policies...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	for _, p := range sorted {
		findings, warnings := p.Check(a)
		for _, f := range findings {
			switch p.Action {
			case v1alpha1.EnforcementWarn:
				d.Warned = append(d.Warned, f)
				d.Warnings = append(d.Warnings, f.String())
			case v1alpha1.EnforcementDryRun:
				d.Recorded = append(d.Recorded, f)
			default:
				d.Denials = append(d.Denials, f)
			}
		}
		if p.Enforcing() {
			d.Warnings = append(d.Warnings, warnings...)
		}
	}
	return d
}

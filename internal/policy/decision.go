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

// Away reports whether the finding refuses a practitioner because they are away that day
// (spec.available is false, or an absence covers the day): cover, not an exception, answers it.
func (f Finding) Away() bool {
	return f.Kind == "Practitioner" && (f.Rule == RuleAvailable || f.Rule == RuleAbsences)
}

// The rules that hold whatever the policy, as Finding.Rule names them.
const (
	RuleUnknownPractitioner = "spec.allocatedTo"
	RuleOtherTeam           = "spec.team"
	RuleAvailable           = "spec.available"
	RuleAbsences            = "spec.absences"
)

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

// Assignee is a Subject as the team knows them: their Practitioner, the open cases they hold,
// and, for one who holds the case already, the case as it was. An allocation is decided for each.
// Known is false when no Practitioner of that name exists in the namespace.
type Assignee struct {
	Name         string
	Role         Role
	Known        bool
	Practitioner Practitioner
	// Holdings are the open cases the practitioner holds now, without this case.
	Holdings []Holding
	// AlreadyHeld is the case as it was, when the practitioner already held it in this role:
	// the allocation is of what the change adds to its weight. Nil for a practitioner who joins.
	AlreadyHeld *Case
}

// AssigneeFor builds the assignee of a subject: a member of the team (with their holdings), or
// one the namespace has in another team (Practitioner set, no holdings), or nobody (nil).
// before is the case as it was, for a subject that the change raises.
func AssigneeFor(j Subject, t TeamView, other *Practitioner, before *Case) Assignee {
	n := Assignee{Name: j.Name, Role: j.Role}
	if j.Raised {
		n.AlreadyHeld = before
	}
	if m, ok := t.Member(j.Name); ok {
		n.Known, n.Practitioner, n.Holdings = true, m.Practitioner, m.Holdings
	} else if other != nil {
		n.Known, n.Practitioner = true, *other
	}
	return n
}

// Allocation is a change that gives a case to one or more practitioners.
type Allocation struct {
	// Case is the case as it will be once the allocation is admitted.
	Case Case
	// Assignees are who the allocation is decided for: each practitioner it adds as lead or
	// co-worker, and each holder whose share of the case it raises.
	Assignees []Assignee
	// Team is the case's team, with every member's current holdings (without this case).
	Team TeamView
	Day  Day
}

// CheckPractitioners applies the rules that hold whatever the policy: a practitioner who joins a
// case must exist, belong to the case's team and be available that day. (One who already holds
// the case is decided by the policies alone: while they are away their capacity is 0.)
func CheckPractitioners(a Allocation) []Finding {
	var out []Finding
	for _, n := range a.Assignees {
		if n.AlreadyHeld != nil {
			continue
		}
		f := Finding{Kind: "Practitioner", Name: n.Name, Action: v1alpha1.EnforcementDeny}
		switch {
		case !n.Known:
			f.Rule = RuleUnknownPractitioner
			f.Message = fmt.Sprintf("case %s cannot be allocated to %s: there is no Practitioner %s in this namespace", a.Case.Name, n.Name, n.Name)
		case n.Practitioner.Team != a.Case.Team:
			f.Rule = RuleOtherTeam
			f.Message = fmt.Sprintf("case %s belongs to team %s but %s is in team %s: move the case or the practitioner first", a.Case.Name, a.Case.Team, n.Name, n.Practitioner.Team)
		case !n.Practitioner.AvailableOn(a.Day):
			f.Rule = RuleAvailable
			if _, absent := n.Practitioner.AbsenceOn(a.Day); absent && n.Practitioner.Available {
				f.Rule = RuleAbsences
			}
			f.Message = fmt.Sprintf("%s is %s: no new allocations until they return", n.Name, n.Practitioner.Away(a.Day))
		default:
			continue
		}
		out = append(out, f)
	}
	return out
}

// decidedByPolicies reports whether the policies decide for the assignee: CheckPractitioners
// has already refused one who is unknown, of another team, or (joining) away that day.
func decidedByPolicies(n Assignee, a Allocation) bool {
	return n.Known && n.Practitioner.Team == a.Case.Team && (n.AlreadyHeld != nil || n.Practitioner.AvailableOn(a.Day))
}

// describe names the case and its weight for a denial: "case c-1 (ChildProtection, weight 1.5)",
// or, for a change to a case already held, what it was (before) and what it becomes:
// "case c-1 (ChildInNeed -> ChildProtection, weight 1 -> 1.5)".
func (p *Policy) describe(c Case, before *Case) string {
	w := p.Weigh(c).Value
	if before == nil {
		return fmt.Sprintf("case %s (%s, weight %s)", c.Name, c.Type, w)
	}
	typ := c.Type
	if before.Type != c.Type {
		typ = before.Type + " -> " + c.Type
	}
	return fmt.Sprintf("case %s (%s, weight %s -> %s)", c.Name, typ, p.Weigh(*before).Value, w)
}

// Check applies one policy to an allocation and returns every rule it breaks. Amber, if the
// allocation is admitted, comes back in warnings. A practitioner who already holds the case is
// decided only on what the change adds: nothing when their share weighs no more under this
// policy, and no case count, since they hold no more cases.
func (p *Policy) Check(a Allocation) (findings []Finding, warnings []string) {
	add := func(kind, name, rule, msg string, exceptable bool) {
		findings = append(findings, Finding{Policy: p.Name, Action: p.Action, Kind: kind, Name: name, Rule: rule, Message: msg, Exceptable: exceptable})
	}
	for _, n := range a.Assignees {
		if !decidedByPolicies(n, a) {
			continue // CheckPractitioners has said why.
		}
		pr := n.Practitioner
		carried := p.Carried(a.Case, n.Role)
		newType := n.AlreadyHeld == nil || n.AlreadyHeld.Type != a.Case.Type
		if n.AlreadyHeld != nil && carried <= p.Carried(*n.AlreadyHeld, n.Role) && !newType {
			continue
		}
		desc := p.describe(a.Case, n.AlreadyHeld)
		c := p.CapacityOf(pr, a.Day)
		if !c.Covered {
			msg := fmt.Sprintf("case %s cannot be allocated to %s: grade %s has no cap in this quota, so it allows them no new allocations", a.Case.Name, pr.Name, pr.Grade)
			if n.AlreadyHeld != nil {
				msg = fmt.Sprintf("%s would add to what %s carries, but grade %s has no cap in this quota, so it allows them no added weight: "+
					"allocate the case to a practitioner of a grade the quota caps first, or add a cap for %s to the quota", desc, pr.Name, pr.Grade, pr.Grade)
			}
			add("Practitioner", pr.Name, "practitionerCaps", msg, false)
			continue
		}
		if !c.Capped {
			continue
		}
		if n.Role == v1alpha1.RoleLead && newType && c.Cap.Excluded[a.Case.Type] {
			add("Practitioner", pr.Name, "practitionerCaps.excludedCaseTypes",
				fmt.Sprintf("case %s is %s, which a %s may hold only as a co-worker: %s cannot lead it", a.Case.Name, a.Case.Type, pr.Grade, pr.Name), false)
		}
		if n.AlreadyHeld != nil && carried <= p.Carried(*n.AlreadyHeld, n.Role) {
			continue // a new type that weighs no more: only the exclusion applies
		}
		load := p.LoadOf(n.Holdings)
		after := load.Weight + carried
		share := ""
		if n.Role == v1alpha1.RoleCoWorker {
			share = fmt.Sprintf(", co-worker share %s", carried)
			desc = strings.TrimSuffix(desc, ")") + share + ")"
		}
		if after > c.Value {
			msg := fmt.Sprintf("%s would take %s to %s of %s (%s)", desc, pr.Name, after, c.Value, c.Explanation)
			if n.AlreadyHeld != nil && !pr.AvailableOn(a.Day) {
				msg += fmt.Sprintf(": %s cannot take more while away, so allocate the case to someone available before changing it", pr.Name)
			}
			add("Practitioner", pr.Name, "practitionerCaps.maxWeight", msg,
				p.ExceptionMaxPercent > 0 && !exceeds(int64(after), 100, p.ExceptionMaxPercent, int64(c.Value)))
		} else if band := p.BandOf(after, c.Value); band != v1alpha1.BandGreen {
			warnings = append(warnings, fmt.Sprintf("case %s takes %s to %s of %s (%d%%): %s under CaseloadQuota %s", a.Case.Name, pr.Name, after, c.Value, PercentOf(after, c.Value), band, p.Name))
		}
		if n.AlreadyHeld == nil && c.Cap.MaxCases != nil && load.Cases+1 > *c.Cap.MaxCases {
			add("Practitioner", pr.Name, "practitionerCaps.maxCases",
				fmt.Sprintf("case %s would give %s %d open cases; a %s holds at most %d", a.Case.Name, pr.Name, load.Cases+1, pr.Grade, *c.Cap.MaxCases),
				p.ExceptionMaxPercent > 0 && int64(load.Cases+1)*100 <= p.ExceptionMaxPercent*int64(*c.Cap.MaxCases))
		}
	}
	findings = append(findings, p.checkTeam(a)...)
	return findings, warnings
}

// checkTeam applies the team's capacity (TeamCapacityOf) to the team as it would be after the
// allocation, where the policy has a teamCap and the allocation adds weight to the team.
func (p *Policy) checkTeam(a Allocation) []Finding {
	if !p.CapsTeams() {
		return nil
	}
	var added, raised Milli
	for _, n := range a.Assignees {
		if !decidedByPolicies(n, a) {
			continue
		}
		carried := p.Carried(a.Case, n.Role)
		added += carried
		raised += carried
		if n.AlreadyHeld != nil {
			raised -= p.Carried(*n.AlreadyHeld, n.Role)
		}
	}
	if raised <= 0 {
		return nil
	}
	var before *Case
	for _, n := range a.Assignees {
		if n.AlreadyHeld != nil {
			before = n.AlreadyHeld
		}
	}
	tc, _ := p.TeamCapacityOf(a.Team.Members, a.Day)
	after := tc.Load.Weight + added
	if after <= tc.Value {
		return nil
	}
	msg := fmt.Sprintf("%s would take team %s to %s", p.describe(a.Case, before), a.Team.Name, tc.Over(p, after))
	return []Finding{{Policy: p.Name, Action: p.Action, Kind: "Team", Name: a.Team.Name, Rule: tc.Rule, Message: msg}}
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

// OverCap names the practitioner an exception admitting the decision takes above the cap: the
// first practitioner its denials name; empty when they name none.
func (d Decision) OverCap() string {
	for _, f := range d.Denials {
		if f.Kind == "Practitioner" {
			return f.Name
		}
	}
	return ""
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

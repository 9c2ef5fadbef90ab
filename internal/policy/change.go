package policy

import (
	"slices"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

// Subject is a practitioner a change of a case is decided for: a new lead or co-worker, or one
// who keeps the case in the same role while the change may add to its weight. A co-worker
// promoted to lead joins as lead, since the lead carries more.
type Subject struct {
	Name string
	Role Role
	// Raised is true for a practitioner who already held the case in this role: the change
	// alters what the case weighs (its type, complexity or children), and what it adds is
	// decided as an allocation of the difference.
	Raised bool
}

// Holder is a practitioner who holds a case, and the role they hold it in.
type Holder struct {
	Name string
	Role Role
}

// Holders returns every practitioner who holds the case, with their role, each once as
// MembersOf counts them: a lead also named as a co-worker holds it as lead, and a co-worker named
// twice holds it once.
func Holders(c Case) []Holder {
	var out []Holder
	if c.AllocatedTo != "" {
		out = append(out, Holder{Name: c.AllocatedTo, Role: v1alpha1.RoleLead})
	}
	for i, cw := range c.CoWorkers {
		if cw == c.AllocatedTo || slices.Contains(c.CoWorkers[:i], cw) {
			continue
		}
		out = append(out, Holder{Name: cw, Role: v1alpha1.RoleCoWorker})
	}
	return out
}

// WeighsDifferently reports whether two versions of a case may weigh differently under some
// policy: their type, complexity or number of children differ.
func WeighsDifferently(a, b Case) bool {
	return a.Type != b.Type || a.Complexity != b.Complexity || a.Children != b.Children
}

// Subjects returns who a change from before to after is decided for: each holder of after who did
// not hold the case in the same role before, and, when the change alters what the case weighs,
// each holder who keeps it (Raised). before is nil for a new case. A change that only keeps or
// removes people, or changes nothing a weight depends on, is decided for nobody.
func Subjects(before *Case, after Case) []Subject {
	had := map[Holder]bool{}
	raised := false
	if before != nil {
		for _, h := range Holders(*before) {
			had[h] = true
		}
		raised = WeighsDifferently(*before, after)
	}
	var out []Subject
	for _, h := range Holders(after) {
		switch {
		case !had[h]:
			out = append(out, Subject{Name: h.Name, Role: h.Role})
		case raised:
			out = append(out, Subject{Name: h.Name, Role: h.Role, Raised: true})
		}
	}
	return out
}

// Change is a create or update of a Case as admission decides it.
type Change struct {
	// Before is the case as it was, when its holders keep what they held: nil for a new case,
	// a reopened one (its holders take its work on again) and one moved to another team (the
	// new team takes it on whole).
	Before *Case
	// After is the case as it will be.
	After Case
	// MovedTeam is true when the change moves the case to another team.
	MovedTeam bool
	// Subjects are who the change is decided for (Subjects); none when the case is closed after
	// it, since a closed case weighs nothing and gives nobody work.
	Subjects []Subject
}

// ChangeOf is the change from old (nil for a create) to c, with days placed on cal. The
// admission webhook, kubectl caseload verify and suggest, and the importer all decide who a
// change is for with it.
func ChangeOf(old, c *v1alpha1.Case, cal Calendar) Change {
	ch := Change{After: CaseFrom(c, cal), MovedTeam: old != nil && old.Spec.Team != c.Spec.Team}
	if old != nil && !ch.MovedTeam && old.IsOpen() {
		b := CaseFrom(old, cal)
		ch.Before = &b
	}
	if ch.After.Open() {
		ch.Subjects = Subjects(ch.Before, ch.After)
	}
	return ch
}

// Leavers returns who a change from before to after takes off the case: each holder of before
// who does not hold the open case in the same role after. Closing a case makes every holder a
// leaver, since a closed case weighs nothing.
func Leavers(before *Case, after Case) []Holder {
	if before == nil {
		return nil
	}
	stays := map[Holder]bool{}
	if after.Open() {
		for _, h := range Holders(after) {
			stays[h] = true
		}
	}
	var out []Holder
	for _, h := range Holders(*before) {
		if !stays[h] {
			out = append(out, h)
		}
	}
	return out
}

// Rebased returns the team as it is before a change of case c takes effect: the case (by
// name) is taken out of every member's holdings, cached or reserved, and counted again, in its
// new version, for the holders that keep it in the same role and are not decided for (whose
// share of it the change leaves alone). Whatever the cache shows of c (nothing, an older version,
// a reservation from an earlier attempt), c is then counted exactly once per such holder, and
// the subjects' holdings do not include it: Check adds it for them.
func Rebased(t TeamView, before *Case, after Case) TeamView {
	kept := map[string]Role{}
	if before != nil {
		decided := map[string]bool{}
		for _, j := range Subjects(before, after) {
			decided[j.Name] = true
		}
		stays := map[Holder]bool{}
		for _, h := range Holders(after) {
			stays[h] = true
		}
		for _, h := range Holders(*before) {
			if stays[h] && !decided[h.Name] {
				kept[h.Name] = h.Role
			}
		}
	}
	out := TeamView{Name: t.Name, Members: make([]Member, len(t.Members))}
	for _, c := range t.Cases {
		if c.Name != after.Name {
			out.Cases = append(out.Cases, c)
		}
	}
	out.Cases = append(out.Cases, after)
	for i, m := range t.Members {
		var holdings []Holding
		for _, h := range m.Holdings {
			if h.Case.Name != after.Name {
				holdings = append(holdings, h)
			}
		}
		if role, ok := kept[m.Practitioner.Name]; ok {
			holdings = append(holdings, Holding{Case: after, Role: role})
		}
		out.Members[i] = Member{Practitioner: m.Practitioner, Holdings: holdings}
	}
	return out
}

// Member returns the team's member of that name, and whether there is one.
func (t TeamView) Member(name string) (Member, bool) {
	for _, m := range t.Members {
		if m.Practitioner.Name == name {
			return m, true
		}
	}
	return Member{}, false
}

// ExceptionStands reports whether an exception admitted for practitioner still applies to case
// c: the case is open and they still hold it. Once they give it up, the exception ends with them.
// An exception that names nobody (recorded before exceptions named their practitioner) stands
// while the case is open.
func ExceptionStands(c Case, practitioner string) bool {
	if !c.Open() {
		return false
	}
	if practitioner == "" {
		return true
	}
	for _, h := range Holders(c) {
		if h.Name == practitioner {
			return true
		}
	}
	return false
}

// ExceptionDays is how long an exception admitting the decision lasts: the shortest maxDays of
// the policies whose denials it overrides. It is 0 when no policy is involved.
func ExceptionDays(policies []*Policy, d Decision) int {
	involved := map[string]bool{}
	for _, f := range d.Denials {
		involved[f.Policy] = true
	}
	days := 0
	for _, p := range policies {
		if involved[p.Name] && (days == 0 || p.ExceptionMaxDays < days) {
			days = p.ExceptionMaxDays
		}
	}
	return days
}

// DecideChange decides a change of a case from before (nil for a new or reopened case) to after
// for the subjects, on day: the team rebased on the change (Rebased), each subject an assignee of it
// (or of others, the practitioners of the namespace outside the team, by name), then every policy
// (Decide). The admission webhook and the kubectl plugin's verify decide with it alike.
func DecideChange(policies []*Policy, t TeamView, day Day, before *Case, after Case, subjects []Subject, others map[string]Practitioner) Decision {
	view := Rebased(t, before, after)
	assignees := make([]Assignee, len(subjects))
	for i, j := range subjects {
		var other *Practitioner
		if pr, ok := others[j.Name]; ok {
			other = &pr
		}
		assignees[i] = AssigneeFor(j, view, other, before)
	}
	return Decide(policies, Allocation{Case: after, Assignees: assignees, Team: view, Day: day})
}

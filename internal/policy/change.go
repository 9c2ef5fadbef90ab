package policy

import "caseload.dev/caseload-operator/api/v1alpha1"

// Joining is a practitioner that a change of a case adds in a role: the new lead, or a new
// co-worker. A co-worker promoted to lead joins as lead, since the lead carries more.
type Joining struct {
	Name string
	Role Role
}

// Holders returns every practitioner who holds the case, with their role.
func Holders(c Case) []Joining {
	var out []Joining
	if c.AllocatedTo != "" {
		out = append(out, Joining{Name: c.AllocatedTo, Role: v1alpha1.RoleLead})
	}
	for _, cw := range c.CoWorkers {
		out = append(out, Joining{Name: cw, Role: v1alpha1.RoleCoWorker})
	}
	return out
}

// Joiners returns who a change from before to after adds: each holder of after who did not
// hold the case in the same role before. before is nil for a new case. Only joiners are
// decided on: a change that keeps or removes people allocates no new work.
func Joiners(before *Case, after Case) []Joining {
	had := map[Joining]bool{}
	if before != nil {
		for _, h := range Holders(*before) {
			had[h] = true
		}
	}
	var out []Joining
	for _, h := range Holders(after) {
		if !had[h] {
			out = append(out, h)
		}
	}
	return out
}

// Leavers returns who a change from before to after takes off the case: each holder of before
// who does not hold the open case in the same role after. Closing a case makes every holder a
// leaver, since a closed case weighs nothing.
func Leavers(before *Case, after Case) []Joining {
	if before == nil {
		return nil
	}
	stays := map[Joining]bool{}
	if after.Open() {
		for _, h := range Holders(after) {
			stays[h] = true
		}
	}
	var out []Joining
	for _, h := range Holders(*before) {
		if !stays[h] {
			out = append(out, h)
		}
	}
	return out
}

// Rebased returns the team as it is before a change of case c takes effect: the case (by
// name) is taken out of every member's holdings, cached or reserved, and counted again for
// the holders that keep it in the same role. Whatever the cache shows of c (nothing, an older
// version, a reservation from an earlier attempt), c is then counted exactly once per holder
// that keeps it, and the joiners' holdings do not include it.
func Rebased(t TeamView, before *Case, after Case) TeamView {
	kept := map[string]Role{}
	if before != nil {
		stays := map[Joining]bool{}
		for _, h := range Holders(after) {
			stays[h] = true
		}
		for _, h := range Holders(*before) {
			if stays[h] {
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

package policy

// Reserved is an allocation that admission has let through and that the caches may not show
// yet: one entry of the allocation ledger in a Team's status.
type Reserved struct {
	Case         Case
	Practitioner string
	Role         Role
}

// WithReservations returns the team with every reservation counted in its holder's holdings,
// unless the holder already holds that case (the cache has caught up). Counting a reservation
// twice would refuse work that fits; not counting it would let two racing allocations both
// pass. Reservations for practitioners outside the team are ignored.
func WithReservations(t TeamView, rs []Reserved) TeamView {
	if len(rs) == 0 {
		return t
	}
	out := t
	out.Members = make([]Member, len(t.Members))
	for i, m := range t.Members {
		held := map[string]bool{}
		for _, h := range m.Holdings {
			held[h.Case.Name] = true
		}
		holdings := m.Holdings
		for _, r := range rs {
			if r.Practitioner != m.Practitioner.Name || held[r.Case.Name] {
				continue
			}
			held[r.Case.Name] = true
			holdings = append(append([]Holding(nil), holdings...), Holding{Case: r.Case, Role: r.Role})
		}
		out.Members[i] = Member{Practitioner: m.Practitioner, Holdings: holdings}
	}
	return out
}

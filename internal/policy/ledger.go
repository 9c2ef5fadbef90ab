package policy

// Reserved is an allocation that admission has let through and that the caches may not show
// yet: one entry of the allocation ledger. Case is the case as admitted, with the generation the
// change gave it.
type Reserved struct {
	Case         Case
	Practitioner string
	Role         Role
}

// WithReservations returns the team with every reservation counted in its holder's holdings in
// place of what the cache shows of that case for them, until the cache shows the case at the
// reserved generation or later (the cache has caught up, and counting both would refuse work
// that fits). Not counting a reservation would let two racing allocations both pass; counting
// the reserved version of a raised case rather than the cached one makes a weight increase count
// at once. A reservation without a generation stops counting as soon as the cache shows its
// holder holding the case. Reservations for practitioners outside the team are ignored: a
// practitioner the cache does not know yet must be added as a member first.
func WithReservations(t TeamView, rs []Reserved) TeamView {
	if len(rs) == 0 {
		return t
	}
	cached := make(map[string]int64, len(t.Cases))
	for _, c := range t.Cases {
		cached[c.Name] = c.Generation
	}
	out := t
	out.Members = make([]Member, len(t.Members))
	for i, m := range t.Members {
		holdings := m.Holdings
		for _, r := range rs {
			if r.Practitioner != m.Practitioner.Name {
				continue
			}
			holdings = reserve(holdings, r, cached)
		}
		out.Members[i] = Member{Practitioner: m.Practitioner, Holdings: holdings}
	}
	return out
}

// reserve counts one reservation in a member's holdings, if it is newer than what they hold.
func reserve(holdings []Holding, r Reserved, cached map[string]int64) []Holding {
	gen, inCache := cached[r.Case.Name]
	if r.Case.Generation > 0 && inCache && gen >= r.Case.Generation {
		return holdings
	}
	out := make([]Holding, 0, len(holdings)+1)
	for _, h := range holdings {
		if h.Case.Name != r.Case.Name {
			out = append(out, h)
			continue
		}
		if r.Case.Generation == 0 {
			return holdings // an entry with no generation: the cache has it
		}
	}
	return append(out, Holding{Case: r.Case, Role: r.Role})
}

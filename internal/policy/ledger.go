package policy

import (
	"fmt"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

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
	byHolder := map[string][]Reserved{}
	for _, r := range rs {
		byHolder[r.Practitioner] = append(byHolder[r.Practitioner], r)
	}
	out := t
	out.Members = make([]Member, len(t.Members))
	for i, m := range t.Members {
		out.Members[i] = Member{Practitioner: m.Practitioner, Holdings: reserve(m.Holdings, byHolder[m.Practitioner.Name], cached)}
	}
	return out
}

// reserve counts a member's reservations in their holdings, each in place of what they hold of
// its case when it is newer (a later reservation of the same case in place of an earlier one).
// It costs one pass over the holdings, however many reservations there are.
func reserve(holdings []Holding, rs []Reserved, cached map[string]int64) []Holding {
	if len(rs) == 0 {
		return holdings
	}
	var held map[string]bool // the cases held, read only for an entry with no generation
	at := map[string]int{}   // where in extra each reserved case is
	var extra []Holding
	for _, r := range rs {
		name := r.Case.Name
		gen, inCache := cached[name]
		if r.Case.Generation > 0 && inCache && gen >= r.Case.Generation {
			continue // the cache has caught up
		}
		if r.Case.Generation == 0 {
			if held == nil {
				held = make(map[string]bool, len(holdings))
				for _, h := range holdings {
					held[h.Case.Name] = true
				}
			}
			if _, reserved := at[name]; held[name] || reserved {
				continue // an entry with no generation: the cache has it
			}
		}
		if i, ok := at[name]; ok {
			extra[i] = Holding{Case: r.Case, Role: r.Role}
			continue
		}
		at[name] = len(extra)
		extra = append(extra, Holding{Case: r.Case, Role: r.Role})
	}
	if len(extra) == 0 {
		return holdings
	}
	out := make([]Holding, 0, len(holdings)+len(extra))
	for _, h := range holdings {
		if _, replaced := at[h.Case.Name]; !replaced {
			out = append(out, h)
		}
	}
	return append(out, extra...)
}

// Within reports whether case c, held in role, weighs no more than shape held in the same role
// under every policy: a case that may take the place of one the shape held room for.
func Within(policies []*Policy, c Case, role Role, shape Case) bool {
	for _, p := range policies {
		if p.Carried(c, role) > p.Carried(shape, role) {
			return false
		}
	}
	return true
}

// RoomFor is how many more cases shaped like shape the team's member j could take in j's role
// on day, one after another, with no policy refusing, warning or recording any of them (every
// figure stays Green); at most limit. Each is decided as an allocation would be (Decide), so
// every cap, the team's, and the practitioner's availability and grade count.
func RoomFor(policies []*Policy, t TeamView, day Day, shape Case, j Joining, limit int) int {
	fits := func(n int) bool { // can the member hold n of them?
		if n == 0 {
			return true
		}
		held := make([]Reserved, n-1)
		for i := range held {
			held[i] = Reserved{Case: phantom(shape, j, i), Practitioner: j.Name, Role: j.Role}
		}
		view := WithReservations(t, held)
		next := phantom(shape, j, n-1)
		d := Decide(policies, Allocation{Case: next, Newcomers: []Newcomer{NewcomerFor(Joining{Name: j.Name, Role: j.Role}, view, nil, nil)}, Team: view, Day: day})
		return d.Allowed() && len(d.Warnings) == 0 && len(d.Recorded) == 0
	}
	lo, hi := 0, limit // fits(lo); the answer is in [lo, hi]
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if fits(mid) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// phantom is the i-th case shaped like shape held by j, for RoomFor.
func phantom(shape Case, j Joining, i int) Case {
	c := shape
	c.Name = fmt.Sprintf("%s:room:%d", shape.Name, i)
	c.AllocatedTo, c.CoWorkers = "", nil
	if j.Role == v1alpha1.RoleLead {
		c.AllocatedTo = j.Name
	} else {
		c.CoWorkers = []string{j.Name}
	}
	return c
}

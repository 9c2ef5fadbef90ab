package policy

import "slices"

// Reserved is an allocation that admission has let through and that the caches may not show
// yet: one entry of the allocation ledger. Case is the case as admitted, with the generation the
// change gave it.
type Reserved struct {
	Case         Case
	Practitioner string
	Role         Role
}

// WithReservations returns the team with every reservation counted in its holder's holdings,
// on top of what the cache shows, until the cache shows its case (the same uid) at the reserved
// generation or later: the cache has then caught up, and counting both would refuse work that
// fits. Until then both count, each as a holding of its own: the version the cache shows may be
// the one stored (the reserved change may yet fail), the reserved one may be (the cache lags), and
// the engine cannot tell which weighs more under every policy. Counting both over-counts only
// for as long as a change is in flight, and admission checks a refusal against the apiserver
// before making it, so this never refuses what fits. A case (by uid) is counted once per holder
// and generation. Reservations for practitioners outside the team are ignored: a practitioner the
// cache does not know yet must be added as a member first.
func WithReservations(t TeamView, rs []Reserved) TeamView {
	if len(rs) == 0 {
		return t
	}
	type version struct {
		uid        string
		generation int64
	}
	cached := make(map[string]version, len(t.Cases))
	for _, c := range t.Cases {
		cached[c.Name] = version{c.UID, c.Generation}
	}
	type holdingKey struct {
		version
		practitioner string
		role         Role
	}
	counted := map[holdingKey]bool{}
	extra := map[string][]Holding{}
	for _, r := range rs {
		if v, ok := cached[r.Case.Name]; ok && v.uid == r.Case.UID && v.generation >= r.Case.Generation {
			continue // the cache has caught up
		}
		k := holdingKey{version{r.Case.UID, r.Case.Generation}, r.Practitioner, r.Role}
		if counted[k] {
			continue
		}
		counted[k] = true
		extra[r.Practitioner] = append(extra[r.Practitioner], Holding{Case: r.Case, Role: r.Role})
	}
	if len(extra) == 0 {
		return t
	}
	out := t
	out.Members = make([]Member, len(t.Members))
	for i, m := range t.Members {
		out.Members[i] = m
		if e := extra[m.Practitioner.Name]; len(e) > 0 {
			out.Members[i].Holdings = append(slices.Clip(m.Holdings), e...)
		}
	}
	return out
}

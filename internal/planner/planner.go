// Package planner proposes who takes each of a team's waiting cases, all at once, within every
// cap: the duty manager's Monday morning. Each proposal is decided by the engine admission
// decides with (policy.DecideChange), on the team as the proposals before it leave it, so a plan
// applied in order is admitted as planned.
//
// The rule for fairness, as a team manager would put it: the cases nearest or past their
// allocation deadline are placed first, then those that have waited longest; as many are placed
// as the caps allow; and among the ways of placing them, the one whose fullest practitioner is
// least full, then the one whose grades are most evenly loaded. Nobody is taken past a Deny cap,
// and nobody past the highest band allowed (Amber unless asked) unless no one else could take the
// case. Nobody who is away, or whose absence starts within the horizon, is given a case.
package planner

import (
	"cmp"
	"maps"
	"math"
	"math/rand/v2"
	"slices"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/policy"
)

// Options shape a plan.
type Options struct {
	// MaxBand is the highest band a proposal may take someone to while another could take the
	// case within it: Amber when empty.
	MaxBand v1alpha1.Band
	// Horizon is how many days ahead an absence keeps someone from new cases: 7 when 0.
	Horizon int
}

func (o Options) maxBand() v1alpha1.Band {
	if o.MaxBand == "" {
		return v1alpha1.BandAmber
	}
	return o.MaxBand
}

func (o Options) horizon() int {
	if o.Horizon <= 0 {
		return 7
	}
	return o.Horizon
}

// Proposal gives a waiting case to a lead.
type Proposal struct {
	Case string
	Lead string
	// Weight is what the case adds to the lead's load, under the policy their figures are shown
	// under.
	Weight policy.Milli
	// Band and Utilisation are the lead's once they hold the case and the proposals before it.
	Band        v1alpha1.Band
	Utilisation int32
	// PastMaxBand is true when the proposal takes the lead past the highest band allowed,
	// because nobody could take the case within it.
	PastMaxBand bool
	// Warnings are the engine's, as admission would give them.
	Warnings []string
}

// Unplaced is a waiting case no proposal could give to anyone within the caps.
type Unplaced struct {
	Case   string
	Weight policy.Milli
	// Reasons are the engine's refusals of the practitioner who came nearest (the one with the
	// most room), or why nobody could be asked.
	Reasons []string
	// Exception names who an exception could admit the case to, when the quota allows one.
	Exception string
	// CoverFrom is the first day an absent member is back, when someone is away.
	CoverFrom policy.Day
	// Short is the weight of capacity the team lacks for the case: what it weighs beyond the
	// most room anyone eligible has, or the team's own room where that is less.
	Short policy.Milli
}

// Plan is a team's proposals, in the order to make them, and what is left over.
type Plan struct {
	Team      string
	Proposals []Proposal
	Unplaced  []Unplaced
	// MaxUtilisation is the highest utilisation of an eligible member once the plan is made,
	// in percent; Spread is how far apart the grades' average utilisations are, in points.
	MaxUtilisation float64
	Spread         float64
	// Short is the capacity the team lacks for what is left over: its weight beyond the room
	// the team has left (room).
	Short policy.Milli
}

// Waiting is the team's open cases with no lead, in the order they are placed: those past or
// nearest their allocation deadline first (under the strictest policy), then those that have
// waited longest, then by name.
func Waiting(policies []*policy.Policy, t policy.TeamView, day policy.Day) []policy.Case {
	set := policy.Set(policies)
	var out []policy.Case
	for _, c := range t.Cases {
		if c.Open() && c.AllocatedTo == "" {
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, func(a, b policy.Case) int {
		da, db := set.Timing(a, day).AllocationDeadline, set.Timing(b, day).AllocationDeadline
		switch {
		case !da.IsZero() && db.IsZero():
			return -1
		case da.IsZero() && !db.IsZero():
			return 1
		case !da.IsZero() && da != db:
			if da.Before(db) {
				return -1
			}
			return 1
		}
		if wa, wb := a.WaitingSince(), b.WaitingSince(); wa != wb {
			if wa.Before(wb) {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return out
}

// Eligible are the members who may be given new cases: available on day and on every day of the
// horizon after it.
func Eligible(t policy.TeamView, day policy.Day, opts Options) []string {
	var out []string
	for _, m := range t.Members {
		ok := true
		for k := 0; k <= opts.horizon() && ok; k++ {
			ok = m.Practitioner.AvailableOn(day.AddDays(k))
		}
		if ok {
			out = append(out, m.Practitioner.Name)
		}
	}
	return out
}

// Given is waiting case c given to lead, as the allocation is written: lead allocated, and no
// longer among its co-workers if they were one.
func Given(c policy.Case, lead string) policy.Case {
	c.AllocatedTo = lead
	c.CoWorkers = slices.DeleteFunc(slices.Clone(c.CoWorkers), func(w string) bool { return w == lead })
	return c
}

// state is the team as the proposals so far leave it.
type state struct {
	policies []*policy.Policy
	day      policy.Day
	opts     Options
	view     policy.TeamView
	eligible []string
	lead     map[string]string // case -> proposed lead
	budget   int               // decisions left for improvement
	need     map[string]int    // a case's place in the order of need
	chains   bool              // whether improvement gives proposals up to place others by chains
	stuck    []policy.Case     // the cases left over when no chain could place them
	ceiling  float64           // when above 0, the load over capacity no proposal may take its lead to
}

// try decides giving c to lead on the state's team, as admission would: allowed, and the lead's
// band and utilisation after, with the engine's decision.
func (s *state) try(c policy.Case, lead string) (tried, policy.Decision) {
	s.budget--
	after := Given(c, lead)
	d := s.decide(c, after, lead)
	out := tried{lead: lead, allowed: d.Allowed()}
	if !out.allowed {
		return out, d
	}
	// The lead's holdings as admission leaves them: a co-worker who becomes the lead holds the
	// case as its lead alone, not as both.
	var m policy.Member
	if len(c.CoWorkers) > 0 {
		m, _ = applied(s.view, c, after).Member(lead)
	} else {
		m, _ = s.view.Member(lead)
		m.Holdings = append(slices.Clip(m.Holdings), policy.Holding{Case: after, Role: v1alpha1.RoleLead})
	}
	ps := policy.Set(s.policies).Practitioner(m, s.day)
	out.band, out.util, out.ratio = ps.Figures.Band, ps.Figures.UtilisationPercent, ratio(ps)
	out.weight = ps.Policy.Carried(after, v1alpha1.RoleLead)
	out.withinBand = !ps.Capped || rank(ps.Figures.Band) <= rank(s.opts.maxBand())
	out.warnings = d.Warnings
	return out, d
}

// decide is admission's decision (policy.DecideChange) on giving waiting case c to lead, as
// after. A case nobody holds yet is decided without rebasing the team: the state's team never
// counts it for anyone but its proposed lead, so it is already as DecideChange would rebase it.
// A co-worked case goes through DecideChange itself (its co-worker may be the one promoted). A
// test holds the two to the same decisions.
func (s *state) decide(c, after policy.Case, lead string) policy.Decision {
	if len(c.CoWorkers) > 0 {
		return policy.DecideChange(s.policies, s.view, s.day, &c, after, policy.Subjects(&c, after), nil)
	}
	n := policy.AssigneeFor(policy.Subject{Name: lead, Role: v1alpha1.RoleLead}, s.view, nil, nil)
	return policy.Decide(s.policies, policy.Allocation{Case: after, Assignees: []policy.Assignee{n}, Team: s.view, Day: s.day})
}

// applied is team t once the change of a case from before to after is admitted: the holders who
// keep it, and each practitioner it was decided for, holding after.
func applied(t policy.TeamView, before, after policy.Case) policy.TeamView {
	out := policy.Rebased(t, &before, after)
	for _, j := range policy.Subjects(&before, after) {
		for i, m := range out.Members {
			if m.Practitioner.Name == j.Name {
				out.Members[i].Holdings = append(m.Holdings, policy.Holding{Case: after, Role: j.Role})
			}
		}
	}
	return out
}

// tried is one decision of giving a case to a lead.
type tried struct {
	lead                string
	allowed, withinBand bool
	band                v1alpha1.Band
	util                int32
	ratio               float64
	weight              policy.Milli
	warnings            []string
}

func rank(b v1alpha1.Band) int {
	switch b {
	case v1alpha1.BandGreen:
		return 0
	case v1alpha1.BandAmber:
		return 1
	case v1alpha1.BandRed:
		return 2
	}
	return 3
}

// ratio is a practitioner's load over their capacity: 0 with nothing to carry, +Inf with no
// capacity and something to carry, 0 where nothing caps them.
func ratio(ps policy.PractitionerState) float64 {
	f := ps.Figures
	switch {
	case !ps.Capped || f.Weight == 0:
		return 0
	case f.Capacity <= 0:
		return math.Inf(1)
	}
	return float64(f.Weight) / float64(f.Capacity)
}

// give records the proposal of c to lead in the state's team.
func (s *state) give(c policy.Case, lead string) {
	after := Given(c, lead)
	s.lead[c.Name] = lead
	if len(c.CoWorkers) > 0 {
		s.view = applied(s.view, c, after)
		return
	}
	for i, m := range s.view.Members {
		if m.Practitioner.Name == lead {
			s.view.Members[i].Holdings = append(slices.Clip(m.Holdings), policy.Holding{Case: after, Role: v1alpha1.RoleLead})
		}
	}
	for i := range s.view.Cases {
		if s.view.Cases[i].Name == c.Name {
			s.view.Cases[i] = after
		}
	}
}

// take undoes give.
func (s *state) take(c policy.Case) {
	lead := s.lead[c.Name]
	delete(s.lead, c.Name)
	if len(c.CoWorkers) > 0 {
		s.view = applied(s.view, Given(c, lead), c)
		return
	}
	for i, m := range s.view.Members {
		if m.Practitioner.Name == lead {
			s.view.Members[i].Holdings = slices.DeleteFunc(slices.Clone(m.Holdings), func(h policy.Holding) bool { return h.Case.Name == c.Name })
		}
	}
	for i := range s.view.Cases {
		if s.view.Cases[i].Name == c.Name {
			s.view.Cases[i] = c
		}
	}
}

// best is the lead to give c to: of those admission allows within the band, the one left least
// full; where nobody is within it, the least full of those allowed. ok is false when nobody is
// allowed.
func (s *state) best(c policy.Case) (t tried, ok bool) {
	var inBand, any *tried
	for _, name := range s.eligible {
		got, _ := s.try(c, name)
		if !got.allowed || s.ceiling > 0 && got.ratio >= s.ceiling {
			continue
		}
		if any == nil || less(got, *any) {
			g := got
			any = &g
		}
		if got.withinBand && (inBand == nil || less(got, *inBand)) {
			g := got
			inBand = &g
		}
	}
	switch {
	case inBand != nil:
		return *inBand, true
	case any != nil:
		return *any, true
	}
	return tried{}, false
}

func less(a, b tried) bool {
	if a.ratio != b.ratio {
		return a.ratio < b.ratio
	}
	return a.lead < b.lead
}

// score is how fair the state's loads are: the fullest eligible member's utilisation, then the
// spread between grades' averages, then the sum of squares (to prefer evening out below the top).
type score struct{ max, spread, squares float64 }

func (a score) better(b score) bool {
	const eps = 1e-9
	switch {
	case a.max < b.max-eps:
		return true
	case a.max > b.max+eps:
		return false
	case a.spread < b.spread-eps:
		return true
	case a.spread > b.spread+eps:
		return false
	}
	return a.squares < b.squares-eps
}

func (s *state) score() score {
	set := policy.Set(s.policies)
	var out score
	grades := map[string][]float64{}
	for _, name := range s.eligible {
		m, _ := s.view.Member(name)
		ps := set.Practitioner(m, s.day)
		if !ps.Capped {
			continue
		}
		r := ratio(ps)
		out.max = math.Max(out.max, r)
		out.squares += r * r
		grades[m.Practitioner.Grade] = append(grades[m.Practitioner.Grade], r)
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, rs := range grades {
		var sum float64
		for _, r := range rs {
			sum += r
		}
		mean := sum / float64(len(rs))
		lo, hi = math.Min(lo, mean), math.Max(hi, mean)
	}
	if len(grades) > 1 {
		out.spread = hi - lo
	}
	return out
}

// For plans the team's waiting cases on day. It builds plans from several orders of the cases
// (the order of need, the heaviest first, and a few shuffles of it), each placed on the least
// full and then improved by moves and swaps, and keeps the one that places most, leaving the
// neediest cases least often, most fairly. Where that plan leaves cases over, it is improved once
// more by giving proposals up so that more, or needier, cases are placed in their stead; a small
// register's plan, also so that its fullest members are left less full. The proposals come in
// the order of need.
func For(policies []*policy.Policy, t policy.TeamView, day policy.Day, opts Options) Plan {
	waiting := Waiting(policies, t, day)
	need := make(map[string]int, len(waiting))
	for i, c := range waiting {
		need[c.Name] = i
	}
	eligible := Eligible(t, day, opts)
	orders := [][]policy.Case{waiting, heaviestFirst(policies, waiting)}
	r := rand.New(rand.NewPCG(uint64(len(waiting)), 26)) // the same plan every run
	for range shuffles(len(waiting), len(eligible)) {
		o := slices.Clone(waiting)
		r.Shuffle(len(o), func(i, j int) { o[i], o[j] = o[j], o[i] })
		orders = append(orders, o)
	}
	var best *state
	var bestLeft []policy.Case
	for _, order := range orders {
		s := &state{policies: policies, day: day, opts: opts, view: clone(t), eligible: eligible, lead: map[string]string{}, budget: budget, need: need}
		var left []policy.Case
		for _, c := range order {
			if got, ok := s.best(c); ok {
				s.give(c, got.lead)
			} else {
				left = append(left, c)
			}
		}
		for s.budget > 0 && s.improve(order, &left) {
		}
		if best == nil || s.beats(left, best, bestLeft) {
			best, bestLeft = s, left
		}
	}
	// Where the best plan still leaves cases over, or the register is small, it is improved once
	// more with chains, which are costlier: proposals given up so that needier cases can be
	// placed in their stead, or so that the fullest members are left less full.
	if depth, decisions := chains(len(waiting), len(eligible)); len(bestLeft) > 0 || depth > 1 {
		best.chains, best.budget = true, decisions
		for best.budget > 0 && best.improve(waiting, &bestLeft) {
		}
	}
	slices.SortFunc(bestLeft, func(a, b policy.Case) int { return cmp.Compare(need[a.Name], need[b.Name]) })
	return best.plan(waiting, bestLeft)
}

// beats reports whether s, leaving left, is a better plan than o, leaving oLeft: it places more,
// or as many leaving less needy cases, or as many of the same more fairly.
func (s *state) beats(left []policy.Case, o *state, oLeft []policy.Case) bool {
	switch {
	case s.lessNeedy(left, oLeft):
		return true
	case s.lessNeedy(oLeft, left):
		return false
	}
	return s.score().better(o.score())
}

// heaviestFirst is the cases, the heaviest under the weighing policy first: big cases placed
// while there is room for them leave the small ones to fill in.
func heaviestFirst(policies []*policy.Policy, cases []policy.Case) []policy.Case {
	p := policy.WeighingPolicy(policies, "")
	out := slices.Clone(cases)
	slices.SortStableFunc(out, func(a, b policy.Case) int {
		return cmp.Compare(p.Carried(b, v1alpha1.RoleLead), p.Carried(a, v1alpha1.RoleLead))
	})
	return out
}

// shuffles is how many shuffled orders a register of n cases over m eligible members is tried
// in: many for a small one, where they are cheap, none for a council's.
func shuffles(n, m int) int {
	switch {
	case n*m <= 64:
		return 12
	case n*m <= 400:
		return 4
	}
	return 0
}

// budget bounds the decisions one order's improvement makes, so that a council's plan takes
// well under a second.
const budget = 20000

// improve makes the first move that places a case left over or makes the loads fairer, keeping
// every proposal allowed; it reports whether it made one. Moves start from the fullest members,
// which are what fairness is measured by, so that a council's plan stays quick.
func (s *state) improve(waiting []policy.Case, left *[]policy.Case) bool {
	byLoad := s.byLoad()
	// A case left over: placed as it is, or after one of a roomy member's proposals moves on.
	for i, c := range *left {
		if got, ok := s.best(c); ok {
			s.give(c, got.lead)
			*left = slices.Delete(slices.Clone(*left), i, i+1)
			return true
		}
		for _, x := range slices.Backward(byLoad) {
			if s.budget <= 0 {
				return false
			}
			for _, p := range s.proposalsOf(waiting, x) {
				s.take(p)
				for _, to := range s.eligible {
					if to == x {
						continue
					}
					if got, _ := s.try(p, to); !got.allowed || !s.allowedBand(p, got) {
						continue
					}
					s.give(p, to)
					if got, _ := s.try(c, x); got.allowed && s.allowedBand(c, got) {
						s.give(c, x)
						*left = slices.Delete(slices.Clone(*left), i, i+1)
						return true
					}
					s.take(p)
					break // c fits on x without p or not at all, wherever p goes
				}
				s.give(p, x)
			}
		}
	}
	// A case left over traded for a less needy one: placed in its stead, the other placed again
	// if it can be.
	for i, c := range *left {
		for _, q := range waiting {
			if _, placed := s.lead[q.Name]; !placed || s.need[q.Name] < s.need[c.Name] || s.budget <= 0 {
				continue
			}
			from := s.lead[q.Name]
			s.take(q)
			if got, ok := s.best(c); ok {
				s.give(c, got.lead)
				rest := slices.Delete(slices.Clone(*left), i, i+1)
				if got, ok := s.best(q); ok {
					s.give(q, got.lead)
				} else {
					rest = append(rest, q)
				}
				*left = rest
				return true
			}
			s.give(q, from)
		}
	}
	// A proposal given up for two or more cases left over, and placed again if it can be.
	if len(*left) >= 2 {
		for _, q := range waiting {
			from, placed := s.lead[q.Name]
			if !placed || s.budget <= 0 {
				continue
			}
			s.take(q)
			var in, out []policy.Case
			for _, c := range *left {
				if got, ok := s.best(c); ok {
					s.give(c, got.lead)
					in = append(in, c)
				} else {
					out = append(out, c)
				}
			}
			if got, ok := s.best(q); ok {
				s.give(q, got.lead)
			} else {
				out = append(out, q)
			}
			if len(out) < len(*left) {
				*left = out
				return true
			}
			if _, placed := s.lead[q.Name]; placed {
				s.take(q)
			}
			for _, c := range in {
				s.take(c)
			}
			s.give(q, from)
		}
	}
	// Where improvement may use chains: one proposal given up, or on a small register two, the
	// cases left over placed in their stead and the ones given up again if they can be, each as
	// it is or by moving other proposals on in a chain; kept when fewer cases are left over, or
	// as many and less needy ones. A case the others can only be placed around by giving up two
	// is found this way, where a trade of one for one cannot find it.
	if s.chains && len(*left) > 0 && !slices.EqualFunc(*left, s.stuck, func(a, b policy.Case) bool { return a.Name == b.Name }) {
		depth, _ := chains(len(waiting), len(s.eligible))
		placed := s.placedByNeed(waiting)
		for i := range slices.Backward(placed) {
			if s.budget <= 0 {
				return false
			}
			if s.giveUp(waiting, left, depth, placed[i]) {
				return true
			}
		}
		for i := range slices.Backward(placed) {
			for j := i - 1; j >= 0 && depth > 1; j-- {
				if s.budget <= 0 {
					return false
				}
				if s.giveUp(waiting, left, depth, placed[i], placed[j]) {
					return true
				}
			}
		}
		s.stuck = *left
	}
	// Fairer loads: a proposal of one of the fullest members moved to someone else, or swapped
	// with one of theirs.
	now := s.score()
	for _, from := range byLoad[:min(reach, len(byLoad))] {
		for _, p := range s.proposalsOf(waiting, from) {
			s.take(p)
			for _, to := range slices.Backward(byLoad) {
				if to == from {
					continue
				}
				if got, _ := s.try(p, to); !got.allowed || !s.allowedBand(p, got) {
					continue
				}
				s.give(p, to)
				if s.score().better(now) {
					return true
				}
				s.take(p)
			}
			s.give(p, from)
		}
	}
	for _, a := range byLoad[:min(reach, len(byLoad))] {
		for _, p := range s.proposalsOf(waiting, a) {
			for _, b := range slices.Backward(byLoad) {
				if a == b {
					continue
				}
				for _, q := range s.proposalsOf(waiting, b) {
					s.take(p)
					s.take(q)
					if got, _ := s.try(p, b); got.allowed && s.allowedBand(p, got) {
						s.give(p, b)
						if got, _ := s.try(q, a); got.allowed && s.allowedBand(q, got) {
							s.give(q, a)
							if s.score().better(now) {
								return true
							}
							s.take(q)
						}
						s.take(p)
					}
					s.give(p, a)
					s.give(q, b)
				}
			}
		}
	}
	// On a small register, where improvement may use chains: every proposal of the fullest
	// members given up and placed again, the heaviest first, each on someone who is left less
	// full than the fullest were, as it is or by moving other proposals on in a chain one move
	// deeper than for a case left over; failing that, every proposal given up and placed again
	// so. Where the fullest are level, no one move or swap can bring them all down; this can.
	if depth, _ := chains(len(waiting), len(s.eligible)); s.chains && depth > 1 && s.budget > 0 && now.max > 0 {
		set := policy.Set(s.policies)
		var fullest []policy.Case
		for _, x := range byLoad {
			m, _ := s.view.Member(x)
			if ratio(set.Practitioner(m, s.day)) < now.max-1e-9 {
				break
			}
			fullest = append(fullest, s.proposalsOf(waiting, x)...)
		}
		if s.lower(waiting, fullest, depth+1, now) || s.lower(waiting, s.placedByNeed(waiting), depth+1, now) {
			return true
		}
	}
	return false
}

// lower takes back the proposals of qs and places them again, the heaviest first, each on
// someone left less full than now's fullest member, by place up to depth moves deep. It keeps
// the result and reports true when the loads are fairer than now; otherwise the state is as it
// was.
func (s *state) lower(waiting, qs []policy.Case, depth int, now score) bool {
	if len(qs) == 0 || s.budget <= 0 {
		return false
	}
	before := s.save()
	for _, q := range qs {
		s.take(q)
	}
	s.ceiling = now.max - 1e-9
	placed := true
	for _, q := range heaviestFirst(s.policies, qs) {
		if placed = s.place(q, waiting, depth); !placed {
			break // the fullest stay as full
		}
	}
	s.ceiling = 0
	if placed && s.score().better(now) {
		return true
	}
	s.restore(before)
	return false
}

// giveUp takes back the proposals of qs, then places the cases left over, the neediest first,
// and qs after them, each by place. It keeps the result and reports true when it leaves fewer
// cases over, or as many and less needy ones; otherwise the state is as it was.
func (s *state) giveUp(waiting []policy.Case, left *[]policy.Case, depth int, qs ...policy.Case) bool {
	before := s.save()
	for _, q := range qs {
		s.take(q)
	}
	byNeed := func(a, b policy.Case) int { return cmp.Compare(s.need[a.Name], s.need[b.Name]) }
	pool := append(slices.SortedFunc(slices.Values(*left), byNeed), slices.SortedFunc(slices.Values(qs), byNeed)...)
	var out []policy.Case
	for _, c := range pool {
		if len(out) > len(*left) {
			break // leaves more over whatever follows
		}
		if !s.place(c, waiting, depth) {
			out = append(out, c)
		}
	}
	if s.lessNeedy(out, *left) {
		*left = out
		return true
	}
	s.restore(before)
	return false
}

// place gives c to whoever best may take it; failing that, it makes room for c on a member by
// moving one of their proposals on, placed in turn the same way, up to depth moves down the
// chain. It reports whether c is placed; when not, the state is as it was.
func (s *state) place(c policy.Case, cases []policy.Case, depth int) bool {
	if got, ok := s.best(c); ok {
		s.give(c, got.lead)
		return true
	}
	if depth == 0 {
		return false
	}
	for _, x := range slices.Backward(s.byLoad()) {
		for _, p := range s.proposalsOf(cases, x) {
			if s.budget <= 0 {
				return false
			}
			before := s.save()
			s.take(p)
			if got, _ := s.try(c, x); got.allowed && (s.ceiling == 0 || got.ratio < s.ceiling) && s.allowedBand(c, got) {
				s.give(c, x)
				if s.place(p, cases, depth-1) {
					return true
				}
			}
			s.restore(before)
		}
	}
	return false
}

// chains is how many moves deep place looks to make room for a case, and how many decisions
// improving a plan with chains may make, on a register of n cases over m eligible members: two
// moves deep on a small register, one on a larger, and on a council's a fifth of the budget,
// so that a team which cannot take all its waiting cases is still planned in well under a
// second more.
func chains(n, m int) (depth, decisions int) {
	switch {
	case n*m <= 64:
		return 2, budget
	case n*m <= 400:
		return 1, budget
	}
	return 1, budget / 5
}

// placedByNeed are the cases of waiting with a proposal, neediest first.
func (s *state) placedByNeed(waiting []policy.Case) []policy.Case {
	var out []policy.Case
	for _, c := range waiting {
		if _, ok := s.lead[c.Name]; ok {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b policy.Case) int { return cmp.Compare(s.need[a.Name], s.need[b.Name]) })
	return out
}

// lessNeedy reports whether leaving a over is better than leaving b: fewer cases, or as many
// with the neediest of them less needy.
func (s *state) lessNeedy(a, b []policy.Case) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	ranks := func(cs []policy.Case) []int {
		out := make([]int, len(cs))
		for i, c := range cs {
			out[i] = s.need[c.Name]
		}
		slices.Sort(out)
		return out
	}
	return slices.Compare(ranks(a), ranks(b)) > 0
}

// snapshot is a state's team and proposals, to go back to.
type snapshot struct {
	view policy.TeamView
	lead map[string]string
}

func (s *state) save() snapshot { return snapshot{view: clone(s.view), lead: maps.Clone(s.lead)} }

func (s *state) restore(v snapshot) { s.view, s.lead = v.view, v.lead }

// reach is how many of the fullest members a move for fairness starts from.
const reach = 3

// byLoad are the eligible members, fullest first.
func (s *state) byLoad() []string {
	set := policy.Set(s.policies)
	r := map[string]float64{}
	for _, name := range s.eligible {
		m, _ := s.view.Member(name)
		r[name] = ratio(set.Practitioner(m, s.day))
	}
	out := slices.Clone(s.eligible)
	slices.SortStableFunc(out, func(a, b string) int {
		if c := cmp.Compare(r[b], r[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	return out
}

// proposalsOf are the waiting cases proposed to lead.
func (s *state) proposalsOf(waiting []policy.Case, lead string) []policy.Case {
	var out []policy.Case
	for _, c := range waiting {
		if s.lead[c.Name] == lead {
			out = append(out, c)
		}
	}
	return out
}

// allowedBand reports whether a move may take its lead where got says: within the band, or
// past it only when nobody could take the case within it.
func (s *state) allowedBand(c policy.Case, got tried) bool {
	if got.withinBand {
		return true
	}
	best, ok := s.best(c)
	return ok && !best.withinBand
}

// plan is the state as proposals in the order of waiting, and what is left over with what it
// would take.
func (s *state) plan(waiting []policy.Case, left []policy.Case) Plan {
	out := Plan{Team: s.view.Name}
	// The proposals are decided again in order, each on the team as those before it leave it:
	// the figures a manager reads are those admission will see.
	final := maps.Clone(s.lead)
	for _, c := range waiting {
		if _, placed := final[c.Name]; placed {
			s.take(c)
		}
	}
	for _, c := range waiting {
		lead, placed := final[c.Name]
		if !placed {
			continue
		}
		got, _ := s.try(c, lead)
		s.give(c, lead)
		out.Proposals = append(out.Proposals, Proposal{Case: c.Name, Lead: lead, Weight: got.weight, Band: got.band, Utilisation: got.util,
			PastMaxBand: !got.withinBand, Warnings: got.warnings})
	}
	sc := s.score()
	out.MaxUtilisation, out.Spread = 100*sc.max, 100*sc.spread
	var weight policy.Milli
	for _, c := range left {
		out.Unplaced = append(out.Unplaced, s.unplaced(c))
		weight += out.Unplaced[len(out.Unplaced)-1].Weight
	}
	if len(left) > 0 {
		out.Short = max(0, weight-s.room())
	}
	return out
}

// room is what the team could still take on: the room its eligible members have under their
// caps, and no more than its own capacity leaves where the team is capped. A team already past
// its own cap has less than none: what it carries beyond the cap must go before anything fits.
func (s *state) room() policy.Milli {
	set := policy.Set(s.policies)
	var room policy.Milli
	for _, name := range s.eligible {
		m, _ := s.view.Member(name)
		if ps := set.Practitioner(m, s.day); ps.Capped && ps.Figures.Capacity > ps.Figures.Weight {
			room += ps.Figures.Capacity - ps.Figures.Weight
		}
	}
	if ts := set.Team(s.view, s.day); ts.Capped {
		room = min(room, ts.Capacity-ts.Weight)
	}
	return room
}

// unplaced says why nobody could take c, and the nearest remedy.
func (s *state) unplaced(c policy.Case) Unplaced {
	set := policy.Set(s.policies)
	out := Unplaced{Case: c.Name}
	var room policy.Milli = -1
	var nearest []string
	for _, name := range s.eligible {
		_, d := s.try(c, name)
		m, _ := s.view.Member(name)
		ps := set.Practitioner(m, s.day)
		w := ps.Policy.Carried(Given(c, name), v1alpha1.RoleLead)
		out.Weight = max(out.Weight, w)
		if headroom := ps.Figures.Capacity - ps.Figures.Weight; ps.Capped && headroom > room {
			room, nearest = headroom, nil
			for _, f := range d.Denials {
				nearest = append(nearest, f.String())
			}
		}
		if d.Exceptable() && out.Exception == "" {
			out.Exception = d.OverCap()
		}
	}
	out.Reasons = nearest
	if len(s.eligible) == 0 {
		out.Reasons = []string{"nobody in team " + s.view.Name + " is available for new cases within the horizon"}
	}
	room = min(max(room, 0), s.room())
	if out.Weight > room {
		out.Short = out.Weight - room
	}
	for _, m := range s.view.Members {
		for _, ch := range policy.CapacityChanges(m.Practitioner, s.day, s.day.AddDays(366)) {
			if ch.Kind == policy.AbsenceEnds && (out.CoverFrom.IsZero() || ch.On.Before(out.CoverFrom)) {
				out.CoverFrom = ch.On
			}
		}
	}
	return out
}

// clone copies the team so that a plan changes nothing of the caller's.
func clone(t policy.TeamView) policy.TeamView {
	out := policy.TeamView{Name: t.Name, Cases: slices.Clone(t.Cases), Members: make([]policy.Member, len(t.Members))}
	for i, m := range t.Members {
		out.Members[i] = policy.Member{Practitioner: m.Practitioner, Holdings: slices.Clone(m.Holdings)}
	}
	return out
}

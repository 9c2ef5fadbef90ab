package policy

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/words"
)

// Default weighs cases where no quota selects a team: every case weighs 1 and nobody is capped.
var Default = MustFromSpec("", v1alpha1.CaseloadQuotaSpec{})

// QuotaName is the quota's name within its namespace, as status.quota holds it.
func (p *Policy) QuotaName() string {
	if p == nil {
		return ""
	}
	if _, name, ok := strings.Cut(p.Name, "/"); ok {
		return name
	}
	return p.Name
}

// WeighingPolicy is the policy a team's cases are weighed by wherever one weight is shown (a Case's
// status, the ledger's reservations): the quota the Team's status names, whose figures managers
// read; before the team has status, the first enforcing quota by name, else the first; Default
// when no quota selects the team.
func WeighingPolicy(policies []*Policy, statusQuota string) *Policy {
	for _, p := range policies {
		if statusQuota != "" && p.QuotaName() == statusQuota {
			return p
		}
	}
	for _, p := range policies {
		if p.Enforcing() {
			return p
		}
	}
	if len(policies) > 0 {
		return policies[0]
	}
	return Default
}

// Member is a practitioner of a team with the open cases they hold.
type Member struct {
	Practitioner Practitioner
	Holdings     []Holding
}

// TeamView is what the engine needs to know of a team: its members with their holdings, and
// every open case of the team, allocated or not.
type TeamView struct {
	Name    string
	Members []Member
	Cases   []Case
}

// MembersOf builds the members of a team from its practitioners and its cases (any order), with
// each member's holdings as HoldingsOf gives them, in one pass over the cases.
func MembersOf(practitioners []Practitioner, cases []Case) []Member {
	holdings := make(map[string][]Holding, len(practitioners))
	for _, pr := range practitioners {
		holdings[pr.Name] = nil
	}
	for _, c := range cases {
		if !c.Open() {
			continue
		}
		if _, member := holdings[c.AllocatedTo]; member && c.AllocatedTo != "" {
			holdings[c.AllocatedTo] = append(holdings[c.AllocatedTo], Holding{Case: c, Role: v1alpha1.RoleLead})
		}
		for i, cw := range c.CoWorkers {
			if _, member := holdings[cw]; !member || cw == c.AllocatedTo || slices.Contains(c.CoWorkers[:i], cw) {
				continue // led already, or named twice: held once
			}
			holdings[cw] = append(holdings[cw], Holding{Case: c, Role: v1alpha1.RoleCoWorker})
		}
	}
	members := make([]Member, 0, len(practitioners))
	for _, pr := range practitioners {
		members = append(members, Member{Practitioner: pr, Holdings: holdings[pr.Name]})
	}
	sort.Slice(members, func(i, j int) bool { return members[i].Practitioner.Name < members[j].Practitioner.Name })
	return members
}

// CapsTeams reports whether the policy has a teamCap.
func (p *Policy) CapsTeams() bool { return p.TeamMaxWeight != nil || p.TeamMaxAveragePerFTE != nil }

// GovernsCapacity reports whether the policy caps anything: practitioners by grade, or teams. A
// policy of timescales or allocation deadlines alone gives nobody a capacity.
func (p *Policy) GovernsCapacity() bool { return p.CapsPractitioners() || p.CapsTeams() }

// TeamLoad is what a team carries on a day: the sum of its members' weights, and the FTE and
// number of the members available that day.
type TeamLoad struct {
	Weight       Milli
	AvailableFTE Milli
	Members      int
	Away         int
}

func (p *Policy) teamLoad(members []Member, d Day) TeamLoad {
	tl := TeamLoad{Members: len(members)}
	for _, m := range members {
		tl.Weight += p.LoadOf(m.Holdings).Weight
		if m.Practitioner.AvailableOn(d) {
			tl.AvailableFTE += m.Practitioner.FTE
		} else {
			tl.Away++
		}
	}
	return tl
}

// TeamCapacity is a team's capacity under one policy on one day, and the bound that sets it.
type TeamCapacity struct {
	Value  Milli
	Source v1alpha1.CapacitySource
	// Rule is the rule a team over this capacity breaks: the teamCap bound that sets it
	// (teamCap.maxWeight, teamCap.maxAveragePerFTE), or teamCap itself when the sum of the
	// members' capacities is tighter than any of its bounds.
	Rule string
	// Explanation reads like "teamCap.maxAveragePerFTE 18 x 3.6 FTE available; 2 of 5 members away".
	Explanation string
	Load        TeamLoad
}

// Headroom is what the team could still take on under this capacity: negative when it is over.
func (tc TeamCapacity) Headroom() Milli { return tc.Value - tc.Load.Weight }

// TeamCapacityOf is the one rule for a team's capacity, used alike by status, admission and the
// audit: the tightest of the bounds the policy sets, each on the day d,
//   - teamCap.maxWeight;
//   - teamCap.maxAveragePerFTE x the FTE of the members available that day;
//   - the sum of the members' effective capacities, where the policy caps practitioners (a member
//     who is away counts 0, so sickness lowers a capped team too).
//
// Where two bounds are equal, the first in that order is named. ok is false for a policy that
// caps neither practitioners nor teams: it gives the team no capacity at all.
func (p *Policy) TeamCapacityOf(members []Member, d Day) (tc TeamCapacity, ok bool) {
	if !p.GovernsCapacity() {
		return TeamCapacity{}, false
	}
	tc.Load = p.teamLoad(members, d)
	tc.Value = -1
	away := func() string {
		if tc.Load.Away == 0 {
			return ""
		}
		return fmt.Sprintf("; %d of %s away", tc.Load.Away, words.Count(tc.Load.Members, "member"))
	}
	// The explanation is written for the bound that wins only: a decision asks for a team's
	// capacity once per practitioner it weighs, and reads the explanation only in a denial.
	var why func() string
	bound := func(value Milli, source v1alpha1.CapacitySource, rule string, explain func() string) {
		if tc.Value < 0 || value < tc.Value {
			tc.Value, tc.Source, tc.Rule, why = value, source, rule, explain
		}
	}
	if p.TeamMaxWeight != nil {
		bound(*p.TeamMaxWeight, v1alpha1.CapacityFromTeamMaxWeight, "teamCap.maxWeight",
			func() string { return fmt.Sprintf("teamCap.maxWeight %s", *p.TeamMaxWeight) })
	}
	if p.TeamMaxAveragePerFTE != nil {
		bound(Milli(mulDivDown(int64(*p.TeamMaxAveragePerFTE), int64(tc.Load.AvailableFTE), 1000)),
			v1alpha1.CapacityFromAveragePerFTE, "teamCap.maxAveragePerFTE",
			func() string {
				return fmt.Sprintf("teamCap.maxAveragePerFTE %s x %s FTE available%s", *p.TeamMaxAveragePerFTE, tc.Load.AvailableFTE, away())
			})
	}
	if p.CapsPractitioners() {
		var sum Milli
		for _, m := range members {
			sum += p.capacityValue(m.Practitioner, d)
		}
		bound(sum, v1alpha1.CapacityFromMembers, "teamCap", func() string { return "the sum of the members' capacities" + away() })
	}
	tc.Explanation = why()
	return tc, true
}

// Over says a team weight against this capacity, for a denial or a finding: "41 of 40
// (teamCap.maxWeight 40)", or, against an average per FTE, "an average of 1.5 per FTE available,
// over 1.2 (3 over 2 FTE available)".
func (tc TeamCapacity) Over(p *Policy, weight Milli) string {
	if tc.Source != v1alpha1.CapacityFromAveragePerFTE {
		return fmt.Sprintf("%s of %s (%s)", weight, tc.Value, tc.Explanation)
	}
	if tc.Load.AvailableFTE == 0 {
		return fmt.Sprintf("%s with no member available (teamCap.maxAveragePerFTE %s x 0 FTE available)", weight, *p.TeamMaxAveragePerFTE)
	}
	avg := Milli(mulDivUp(int64(weight), 1000, int64(tc.Load.AvailableFTE)))
	return fmt.Sprintf("an average of %s per FTE available, over %s (%s over %s FTE available)", avg, *p.TeamMaxAveragePerFTE, weight, tc.Load.AvailableFTE)
}

// TeamFigures are the team's figures under the policy on day d.
type TeamFigures struct {
	Figures
	// Capped is false when the policy gives the team no capacity (Capacity, Headroom,
	// UtilisationPercent and Band are then zero).
	Capped bool
	// TeamCapacity is the capacity and the bound that sets it; its Load is the team's load
	// (weight, FTE available) whether capped or not.
	TeamCapacity              TeamCapacity
	Practitioners             int
	AvailablePractitioners    int
	OverCapacityPractitioners int
	CasesNeedingCover         int
	Unallocated               int
	OldestUnallocatedDays     int
}

// TeamFiguresOf computes a team's figures under the policy on day d. A member who is away is
// not over capacity (OverCapacity): the cases they hold need cover, and are counted so. How many
// cases are overdue is for every policy that selects the team to say (Set.Team).
func (p *Policy) TeamFiguresOf(t TeamView, d Day) TeamFigures {
	tc, capped := p.TeamCapacityOf(t.Members, d)
	tl := p.teamLoad(t.Members, d)
	tc.Load = tl
	tf := TeamFigures{Figures: Figures{Weight: tl.Weight}, Capped: capped, TeamCapacity: tc, Practitioners: len(t.Members)}
	if capped {
		tf.Figures = p.figures(Load{Weight: tl.Weight}, tc.Value)
	}
	for _, m := range t.Members {
		load := p.LoadOf(m.Holdings)
		if !m.Practitioner.AvailableOn(d) {
			tf.CasesNeedingCover += load.Cases
			continue
		}
		tf.AvailablePractitioners++
		if p.OverCapacity(m.Practitioner, m.Holdings, d) {
			tf.OverCapacityPractitioners++
		}
	}
	for _, c := range t.Cases {
		if !c.Open() {
			continue
		}
		tf.Cases++
		tf.Children += c.Children
		if c.AllocatedTo == "" {
			tf.Unallocated++
			tf.OldestUnallocatedDays = max(tf.OldestUnallocatedDays, d.DaysSince(c.WaitingSince()))
		}
	}
	return tf
}

// leastHeadroom picks, from the policies that select a team, the one whose figures status
// shows: the enforcing (Deny) policy that leaves the least headroom, or, where no enforcing
// policy applies, the one of the others that does. headroom says what a policy leaves and whether
// it applies at all. Ties go to the first by name. ok is false when no policy applies.
func leastHeadroom(policies []*Policy, headroom func(*Policy) (Milli, bool)) (best *Policy, ok bool) {
	var bestRoom Milli
	for _, enforcing := range []bool{true, false} {
		for _, p := range policies {
			if p.Enforcing() != enforcing {
				continue
			}
			room, applies := headroom(p)
			if !applies {
				continue
			}
			if best == nil || room < bestRoom || (room == bestRoom && p.Name < best.Name) {
				best, bestRoom = p, room
			}
		}
		if best != nil {
			return best, true
		}
	}
	return nil, false
}

// FiguresPolicyForPractitioner is the policy a practitioner's figures are shown under, and
// whether it caps them: of the policies that cap the practitioner's grade, the one leaving the
// least headroom (enforcing ones first); where none caps the grade, the one that weighs their
// cases (WeighingPolicy), with no capacity. Status and the health-check report both show these figures.
func FiguresPolicyForPractitioner(policies []*Policy, pr Practitioner, holdings []Holding, d Day) (p *Policy, capped bool) {
	p, capped = leastHeadroom(policies, func(p *Policy) (Milli, bool) {
		c := p.CapacityOf(pr, d)
		if !c.Capped {
			return 0, false
		}
		return c.Value - p.LoadOf(holdings).Weight, true
	})
	if !capped {
		p = WeighingPolicy(policies, "")
	}
	return p, capped
}

// FiguresPolicyForTeam is the policy a team's figures are shown under, and whether it caps the
// team: of the policies that cap something (practitioners or the team), the one leaving the team
// the least headroom (enforcing ones first); where none does, the one that weighs its cases
// (WeighingPolicy), with no capacity.
func FiguresPolicyForTeam(policies []*Policy, t TeamView, d Day) (p *Policy, capped bool) {
	p, capped = leastHeadroom(policies, func(p *Policy) (Milli, bool) {
		tc, ok := p.TeamCapacityOf(t.Members, d)
		return tc.Headroom(), ok
	})
	if !capped {
		p = WeighingPolicy(policies, "")
	}
	return p, capped
}

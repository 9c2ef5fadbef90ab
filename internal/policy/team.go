package policy

import (
	"fmt"
	"sort"
	"strings"

	"caseload.dev/caseload-operator/api/v1alpha1"
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

// Weigher is the policy a team's cases are weighed by wherever one weight is shown (a Case's
// status, the ledger's reservations): the quota the Team's status names, whose figures managers
// read; before the team has status, the first enforcing quota by name, else the first; Default
// when no quota selects the team.
func Weigher(policies []*Policy, statusQuota string) *Policy {
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

// MembersOf builds the members of a team from its practitioners and its cases (any order).
func MembersOf(practitioners []Practitioner, cases []Case) []Member {
	members := make([]Member, 0, len(practitioners))
	for _, pr := range practitioners {
		members = append(members, Member{Practitioner: pr, Holdings: HoldingsOf(pr.Name, cases)})
	}
	sort.Slice(members, func(i, j int) bool { return members[i].Practitioner.Name < members[j].Practitioner.Name })
	return members
}

// TeamLoad is the sum of the members' weights and their FTE.
type TeamLoad struct {
	Weight Milli
	FTE    Milli
}

func (p *Policy) teamLoad(members []Member) TeamLoad {
	var tl TeamLoad
	for _, m := range members {
		tl.Weight += p.LoadOf(m.Holdings).Weight
		tl.FTE += m.Practitioner.FTE
	}
	return tl
}

// TeamCapacity is the tightest of the team's caps: teamCap.maxWeight, and
// teamCap.maxAveragePerFTE x the members' FTE. Without a teamCap it is the sum of the members'
// capacities. The explanation names where it came from.
func (p *Policy) TeamCapacity(members []Member, d Day) (Milli, string) {
	tl := p.teamLoad(members)
	var capacity Milli = -1
	why := ""
	if p.TeamMaxWeight != nil {
		capacity, why = *p.TeamMaxWeight, fmt.Sprintf("teamCap.maxWeight %s", *p.TeamMaxWeight)
	}
	if p.TeamMaxAveragePerFTE != nil {
		byAverage := Milli(mulDivDown(int64(*p.TeamMaxAveragePerFTE), int64(tl.FTE), 1000))
		if capacity < 0 || byAverage < capacity {
			capacity = byAverage
			why = fmt.Sprintf("teamCap.maxAveragePerFTE %s x %s FTE", *p.TeamMaxAveragePerFTE, tl.FTE)
		}
	}
	if capacity >= 0 {
		return capacity, why
	}
	var sum Milli
	for _, m := range members {
		sum += p.CapacityOf(m.Practitioner, d).Value
	}
	return sum, "sum of the members' capacities"
}

// TeamFigures are the team's figures under the policy on day d.
type TeamFigures struct {
	Figures
	Practitioners             int
	AvailablePractitioners    int
	OverCapacityPractitioners int
	Unallocated               int
	OldestUnallocatedDays     int
	OverdueCases              int
}

// TeamFiguresOf computes a team's figures under the policy on day d.
func (p *Policy) TeamFiguresOf(t TeamView, d Day) TeamFigures {
	capacity, _ := p.TeamCapacity(t.Members, d)
	tl := p.teamLoad(t.Members)
	tf := TeamFigures{
		Figures:       p.figures(Load{Weight: tl.Weight}, capacity),
		Practitioners: len(t.Members),
	}
	for _, m := range t.Members {
		if m.Practitioner.Available {
			tf.AvailablePractitioners++
		}
		c := p.CapacityOf(m.Practitioner, d)
		if c.Capped && p.LoadOf(m.Holdings).Weight > c.Value {
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
		if p.Timing(c, d).Overdue {
			tf.OverdueCases++
		}
	}
	return tf
}

// Governing picks, from the policies that select a team, the one whose figures status shows:
// the enforcing (Deny) policy that leaves the least headroom, or, where no enforcing policy
// applies, the one of the others that does. Ties go to the first by name. ok is false when no
// policy applies.
func Governing(policies []*Policy, headroom func(*Policy) (Milli, bool)) (best *Policy, ok bool) {
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

// GoverningForPractitioner is the policy whose figures a practitioner's status shows: among
// those that cap the practitioner's grade, as Governing chooses.
func GoverningForPractitioner(policies []*Policy, pr Practitioner, holdings []Holding, d Day) (*Policy, bool) {
	return Governing(policies, func(p *Policy) (Milli, bool) {
		c := p.CapacityOf(pr, d)
		if !c.Capped {
			return 0, false
		}
		return c.Value - p.LoadOf(holdings).Weight, true
	})
}

// GoverningForTeam is the policy whose figures a team's status shows.
func GoverningForTeam(policies []*Policy, t TeamView, d Day) (*Policy, bool) {
	return Governing(policies, func(p *Policy) (Milli, bool) {
		capacity, _ := p.TeamCapacity(t.Members, d)
		return capacity - p.teamLoad(t.Members).Weight, true
	})
}

package policy

import (
	"fmt"
	"testing"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

// benchTeam is a large team: members practitioners each leading perMember child-in-need cases.
func benchTeam(members, perMember int) TeamView {
	t := TeamView{Name: "north"}
	for i := range members {
		name := fmt.Sprintf("sw-%03d", i)
		h := led(name, perMember, "ChildInNeed")
		t.Members = append(t.Members, Member{Practitioner: worker(name, "SocialWorker", "1"), Holdings: h})
		for _, x := range h {
			t.Cases = append(t.Cases, x.Case)
		}
	}
	return t
}

// BenchmarkDecide: one allocation decided under two quotas in a team of 30 holding 450 cases,
// the work admission does per request once the snapshot is loaded.
func BenchmarkDecide(b *testing.B) {
	team := benchTeam(30, 15)
	policies := []*Policy{wirral(), manchester(v1alpha1.EnforcementDeny)}
	a := Allocation{
		Case:      caseOf("c-new", "ChildProtection"),
		Assignees: []Assignee{{Name: "sw-007", Role: v1alpha1.RoleLead, Known: true, Practitioner: team.Members[7].Practitioner, Holdings: team.Members[7].Holdings}},
		Team:      team,
		Day:       today,
	}
	b.ReportAllocs()
	for b.Loop() {
		if d := Decide(policies, a); len(d.Denials)+len(d.Warnings) < 0 {
			b.Fatal("unreachable")
		}
	}
}

// BenchmarkAudit: one quota's audit of a team of 30 holding 450 cases, the work the Team
// reconciler does per quota per event.
func BenchmarkAudit(b *testing.B) {
	team := benchTeam(30, 15)
	p := walsall()
	b.ReportAllocs()
	for b.Loop() {
		_ = p.Audit(team, today)
	}
}

// BenchmarkWeigh: one case weight with its breakdown.
func BenchmarkWeigh(b *testing.B) {
	p := wirral()
	c := caseOf("c-1", "LookedAfter")
	c.Children = 3
	b.ReportAllocs()
	for b.Loop() {
		_ = p.Weigh(c)
	}
}

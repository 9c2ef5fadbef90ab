package planner

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"caseload.dev/caseload-operator/internal/builders"
	"caseload.dev/caseload-operator/internal/policy"
)

// team is a team of n practitioners (one in five newly qualified, one in ten part-time) holding
// held cases between them, with waiting cases unallocated, under the sample council's kind of
// quota: weights by type and caps by grade, with a team average cap.
func team(name string, n, held, waiting int, r *rand.Rand) ([]*policy.Policy, policy.TeamView) {
	q := builders.MakeQuota("caps").Weigh("ChildProtection", "1.5").Weigh("ChildInNeed", "1").Weigh("EarlyHelp", "0.5").
		Cap("SocialWorker", "18").Cap("NewlyQualified", "12", "ChildProtection").TeamMaxAveragePerFTE("17")
	policies := []*policy.Policy{policy.MustFromSpec("council/caps", q.Obj().Spec)}
	types := []string{"ChildProtection", "ChildInNeed", "EarlyHelp"}
	var prs []policy.Practitioner
	for i := range n {
		grade, fte := "SocialWorker", "1"
		if i%5 == 0 {
			grade = "NewlyQualified"
		}
		if i%10 == 3 {
			fte = "0.5"
		}
		prs = append(prs, policy.PractitionerFrom(builders.MakePractitioner(fmt.Sprintf("%s-%02d", name, i), name, grade).FTE(fte).Obj()))
	}
	var cases []policy.Case
	for i := range held {
		cases = append(cases, policy.CaseFrom(builders.MakeCase(fmt.Sprintf("%s-h%04d", name, i)).Team(name).Type("EarlyHelp").
			OpenedOn("2026-09-01").Lead(prs[i%n].Name).Obj(), policy.UTC))
	}
	for i := range waiting {
		cases = append(cases, policy.CaseFrom(builders.MakeCase(fmt.Sprintf("%s-w%04d", name, i)).Team(name).Type(types[r.IntN(3)]).
			OpenedOn(today.AddDays(-r.IntN(60)).String()).Obj(), policy.UTC))
	}
	return policies, policy.TeamView{Name: name, Members: policy.MembersOf(prs, cases), Cases: cases}
}

// BenchmarkPlanFiftyCasesOverThirty: one team of 30 practitioners holding 300 cases, with 50
// waiting. The target is under a second.
func BenchmarkPlanFiftyCasesOverThirty(b *testing.B) {
	policies, t := team("north", 30, 300, 50, rand.New(rand.NewPCG(1, 2)))
	for b.Loop() {
		For(policies, t, today, Options{})
	}
}

// BenchmarkPlanACouncil: a council of 3,000 cases in 6 teams of 30, 200 of them waiting, planned
// team by team as kubectl caseload allocate plans a council. The target is under a
// second for the whole council.
func BenchmarkPlanACouncil(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	var teams [][]*policy.Policy
	var views []policy.TeamView
	for i := range 6 {
		waiting := 33
		if i < 2 {
			waiting = 34
		}
		p, t := team(fmt.Sprintf("team%d", i), 30, 500-waiting, waiting, r)
		teams, views = append(teams, p), append(views, t)
	}
	for b.Loop() {
		for i := range views {
			For(teams[i], views[i], today, Options{})
		}
	}
}

package planner

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/builders"
	"caseload.dev/caseload-operator/internal/policy"
)

// council is team north under one quota, its practitioners and its cases.
func council(q *builders.QuotaWrapper, prs []*builders.PractitionerWrapper, cases ...*builders.CaseWrapper) ([]*policy.Policy, policy.TeamView) {
	var ps []policy.Practitioner
	for _, p := range prs {
		ps = append(ps, policy.PractitionerFrom(p.Obj()))
	}
	var cs []policy.Case
	for _, c := range cases {
		cs = append(cs, policy.CaseFrom(c.Team("north").Obj(), policy.UTC))
	}
	return []*policy.Policy{policy.MustFromSpec("council/caps", q.Obj().Spec)}, policy.TeamView{Name: "north", Members: policy.MembersOf(ps, cs), Cases: cs}
}

// holding is n early-help cases (weight 1) led by practitioner.
func holding(practitioner string, n int) []*builders.CaseWrapper {
	var out []*builders.CaseWrapper
	for i := range n {
		out = append(out, builders.MakeCase(fmt.Sprintf("%s-held-%d", practitioner, i)).Type("EarlyHelp").OpenedOn("2026-10-01").Lead(practitioner))
	}
	return out
}

func waiting(name, caseType, opened string) *builders.CaseWrapper {
	return builders.MakeCase(name).Type(caseType).OpenedOn(opened)
}

// proposals is the plan's proposals as "case->lead" in order, with "!" for one past the band.
func proposals(p Plan) string {
	var out []string
	for _, pr := range p.Proposals {
		s := pr.Case + "->" + pr.Lead
		if pr.PastMaxBand {
			s += "!"
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

func caps() *builders.QuotaWrapper {
	return builders.MakeQuota("caps").Weigh("ChildProtection", "2").Weigh("EarlyHelp", "1").Cap("SocialWorker", "10").Cap("NewlyQualified", "6", "ChildProtection")
}

func TestPlansForCouncilsBuiltToExerciseEachRule(t *testing.T) {
	sw := func(name string) *builders.PractitionerWrapper {
		return builders.MakePractitioner(name, "north", "SocialWorker")
	}
	nq := func(name string) *builders.PractitionerWrapper {
		return builders.MakePractitioner(name, "north", "NewlyQualified")
	}

	t.Run("the newly qualified do not lead excluded types, and are not spared by loading the experienced", func(t *testing.T) {
		// ann (SW) holds 6 of 10, ben (NQ) 0 of 6. The child protection case can only be ann's;
		// the early help cases go to ben until he is as full as ann.
		policies, team := council(caps(), []*builders.PractitionerWrapper{sw("ann"), nq("ben")},
			append(holding("ann", 6), waiting("cp", "ChildProtection", "2026-12-01"),
				waiting("eh1", "EarlyHelp", "2026-12-02"), waiting("eh2", "EarlyHelp", "2026-12-03"), waiting("eh3", "EarlyHelp", "2026-12-04"))...)
		p := For(policies, team, today, Options{})
		if got, want := proposals(p), "cp->ann eh1->ben eh2->ben eh3->ben"; got != want {
			t.Errorf("proposals %s, want %s", got, want)
		}
		// ann carries 8 of 10 (80%), ben 3 of 6 (50%): a case more for ann would be fuller.
		if p.MaxUtilisation != 80 || len(p.Unplaced) != 0 {
			t.Errorf("fullest %.2f%%, %d left over; want 80%% and none", p.MaxUtilisation, len(p.Unplaced))
		}
	})

	t.Run("a part-timer's cap is their share", func(t *testing.T) {
		// cat works half time: 5 of 5 is as full as dan at 10 of 10. Six cases go four to dan
		// and two to cat, so both end at 80%.
		var cases []*builders.CaseWrapper
		cases = append(cases, holding("dan", 4)...)
		cases = append(cases, holding("cat", 2)...)
		for i := range 6 {
			cases = append(cases, waiting(fmt.Sprintf("w%d", i), "EarlyHelp", "2026-12-01"))
		}
		policies, team := council(caps(), []*builders.PractitionerWrapper{sw("cat").FTE("0.5"), sw("dan")}, cases...)
		p := For(policies, team, today, Options{})
		given := map[string]int{}
		for _, pr := range p.Proposals {
			given[pr.Lead]++
		}
		if given["cat"] != 2 || given["dan"] != 4 || p.MaxUtilisation != 80 {
			t.Errorf("cat %d, dan %d, fullest %.2f%%; want 2, 4 and 80%%", given["cat"], given["dan"], p.MaxUtilisation)
		}
	})

	t.Run("nobody away, or away within the horizon, is given a case", func(t *testing.T) {
		// eve is off sick, fay's leave starts in 3 days, gus's in 10: only gus is eligible
		// within the 7-day horizon, and fay too with a horizon of 2.
		policies, team := council(caps(), []*builders.PractitionerWrapper{
			sw("eve").Absence(v1alpha1.AbsenceSickness, "2026-12-01", "2026-12-20"),
			sw("fay").Absence(v1alpha1.AbsenceAnnualLeave, today.AddDays(3).String(), today.AddDays(10).String()),
			sw("gus").Absence(v1alpha1.AbsenceAnnualLeave, today.AddDays(10).String(), today.AddDays(14).String()),
		}, waiting("a", "EarlyHelp", "2026-12-01"), waiting("b", "EarlyHelp", "2026-12-02"))
		if got := Eligible(team, today, Options{}); !slices.Equal(got, []string{"gus"}) {
			t.Errorf("eligible %v, want gus", got)
		}
		if got := Eligible(team, today, Options{Horizon: 2}); !slices.Equal(got, []string{"fay", "gus"}) {
			t.Errorf("eligible with a 2-day horizon %v, want fay and gus", got)
		}
		if got, want := proposals(For(policies, team, today, Options{})), "a->gus b->gus"; got != want {
			t.Errorf("proposals %s, want %s", got, want)
		}
	})

	t.Run("a team cap leaves cases over, the neediest placed, and says what the team is short of", func(t *testing.T) {
		// The team may carry 12; hal and ivy hold 10 between them. Of three child protection
		// cases (2 each), the one past its deadline is placed and the others are left over:
		// the team is short of 4 (2 for each).
		q := caps().TeamMaxWeight("12").AllocationDeadline("ChildProtection", 5)
		policies, team := council(q, []*builders.PractitionerWrapper{sw("hal"), sw("ivy")},
			append(append(holding("hal", 5), holding("ivy", 5)...),
				waiting("late", "ChildProtection", "2026-11-20"), waiting("new1", "ChildProtection", "2026-12-06"), waiting("new2", "ChildProtection", "2026-12-07"))...)
		p := For(policies, team, today, Options{})
		if len(p.Proposals) != 1 || p.Proposals[0].Case != "late" {
			t.Fatalf("proposals %s, want late only", proposals(p))
		}
		var left []string
		for _, u := range p.Unplaced {
			left = append(left, u.Case)
			if len(u.Reasons) == 0 || !strings.Contains(u.Reasons[0], "would take team north to") {
				t.Errorf("%s left over for %q, want the team cap's refusal", u.Case, u.Reasons)
			}
		}
		if !slices.Equal(left, []string{"new1", "new2"}) || p.Short != 4*policy.One {
			t.Errorf("left over %v, short of %s; want new1 and new2, short of 4", left, p.Short)
		}
	})

	t.Run("a team already past its cap is short of what it carries beyond it too", func(t *testing.T) {
		// The team may carry 9 and carries 10: a case of 2 needs 3 more before it fits.
		policies, team := council(caps().TeamMaxWeight("9"), []*builders.PractitionerWrapper{sw("hal"), sw("ivy")},
			append(append(holding("hal", 5), holding("ivy", 5)...), waiting("new", "ChildProtection", "2026-12-06"))...)
		p := For(policies, team, today, Options{})
		if len(p.Proposals) != 0 || len(p.Unplaced) != 1 {
			t.Fatalf("proposals %s, %d left over; want none and one", proposals(p), len(p.Unplaced))
		}
		if p.Short != 3*policy.One || p.Unplaced[0].Short != 3*policy.One {
			t.Errorf("short of %s (the case %s), want 3", p.Short, p.Unplaced[0].Short)
		}
	})

	t.Run("past the band only when nobody could take the case within it, and said", func(t *testing.T) {
		// Red is above 80%. jon at 7 of 10 and kim at 5 of 10: the first case goes to kim (60%),
		// the second to kim again (70%), the third to whoever it takes least far, past Amber.
		q := caps().Bands(70, 80)
		policies, team := council(q, []*builders.PractitionerWrapper{sw("jon"), sw("kim")},
			append(append(holding("jon", 7), holding("kim", 5)...),
				waiting("a", "EarlyHelp", "2026-12-01"), waiting("b", "EarlyHelp", "2026-12-02"), waiting("c", "EarlyHelp", "2026-12-03"),
				waiting("d", "ChildProtection", "2026-12-04"))...)
		p := For(policies, team, today, Options{})
		past := 0
		for _, pr := range p.Proposals {
			if pr.PastMaxBand {
				past++
				if pr.Band != v1alpha1.BandRed {
					t.Errorf("%s is flagged past the band at %s", pr.Case, pr.Band)
				}
			} else if pr.Band == v1alpha1.BandRed {
				t.Errorf("%s takes %s into Red unflagged", pr.Case, pr.Lead)
			}
		}
		if len(p.Proposals) != 4 || past == 0 {
			t.Errorf("proposals %s: want all four placed, one or more past the band and said", proposals(p))
		}
		// With Red allowed, nothing is past the band.
		for _, pr := range For(policies, team, today, Options{MaxBand: v1alpha1.BandRed}).Proposals {
			if pr.PastMaxBand {
				t.Errorf("--max-band Red: %s flagged past the band", pr.Case)
			}
		}
	})

	t.Run("a case with a co-worker already gets a lead, the co-worker's share counted", func(t *testing.T) {
		// lou (NQ) co-works the child protection case; it needs a lead who is not newly
		// qualified: max, who has room.
		q := caps().CoWorkerShare("0.5")
		policies, team := council(q, []*builders.PractitionerWrapper{nq("lou"), sw("max")},
			waiting("cp", "ChildProtection", "2026-12-01").CoWorkers("lou"))
		p := For(policies, team, today, Options{})
		if got, want := proposals(p), "cp->max"; got != want {
			t.Errorf("proposals %s, want %s", got, want)
		}
	})

	t.Run("a co-worker who becomes the lead carries the case as its lead alone", func(t *testing.T) {
		// pam co-works the child protection case (2, her share 1) and is the only one to lead
		// it: once she does, she carries 2 of 10, not her share and the case both.
		q := caps().CoWorkerShare("0.5")
		policies, team := council(q, []*builders.PractitionerWrapper{sw("pam")},
			waiting("cp", "ChildProtection", "2026-12-01").CoWorkers("pam"))
		p := For(policies, team, today, Options{})
		if got, want := proposals(p), "cp->pam"; got != want {
			t.Fatalf("proposals %s, want %s", got, want)
		}
		if u := p.Proposals[0].Utilisation; u != 20 || p.MaxUtilisation != 20 {
			t.Errorf("pam at %d%% in the proposal, the plan's fullest %.2f%%; want 20%% for both", u, p.MaxUtilisation)
		}
	})

	t.Run("what a case left over would take: an exception, cover, or capacity", func(t *testing.T) {
		// nia is at 9 of 10 and the case weighs 2: refused, but within the exceptions the
		// quota allows (up to 120%); oli is away until the 14th.
		q := caps().Exceptions(120, 28)
		policies, team := council(q, []*builders.PractitionerWrapper{sw("nia"),
			sw("oli").Absence(v1alpha1.AbsenceSickness, "2026-12-01", "2026-12-13")},
			append(holding("nia", 9), waiting("cp", "ChildProtection", "2026-12-01"))...)
		p := For(policies, team, today, Options{})
		if len(p.Unplaced) != 1 {
			t.Fatalf("proposals %s, want cp left over", proposals(p))
		}
		u := p.Unplaced[0]
		if u.Exception != "nia" || u.CoverFrom.String() != "2026-12-14" || u.Short != policy.One || u.Weight != 2*policy.One ||
			len(u.Reasons) != 1 || !strings.Contains(u.Reasons[0], "would take nia to 11 of 10") {
			t.Errorf("left over %+v: want an exception for nia, cover from 2026-12-14, short of 1, weight 2, nia's refusal", u)
		}
	})
}

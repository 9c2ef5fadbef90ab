package policy

import (
	"fmt"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

// Builders keep the tests reading like the policies they encode.

var today = MustParseDay("2026-11-22")

func dec(s string) v1alpha1.Decimal { return v1alpha1.Decimal(s) }

func decp(s string) *v1alpha1.Decimal { d := v1alpha1.Decimal(s); return &d }

func i32(n int32) *int32 { return &n }

// walsall: at most 15 cases for an experienced social worker, 12 for a newly qualified one;
// every case weighs 1.
func walsall() *Policy {
	return MustFromSpec("walsall/children", v1alpha1.CaseloadQuotaSpec{
		PractitionerCaps: []v1alpha1.PractitionerCap{
			{Grade: "SocialWorker", MaxWeight: dec("15")},
			{Grade: "SeniorSocialWorker", MaxWeight: dec("15")},
			{Grade: "NewlyQualified", MaxWeight: dec("12")},
		},
		Exceptions: &v1alpha1.Exceptions{MaxPercent: 120, MaxDays: 28},
	})
}

// wirral: 100 points per full-time worker; case types weigh 4 to 10 points; newly qualified
// workers get 90 points and no child-protection work unless co-worked.
func wirral() *Policy {
	return MustFromSpec("wirral/points", v1alpha1.CaseloadQuotaSpec{
		Weights: v1alpha1.Weights{
			CaseTypes: map[string]v1alpha1.CaseWeight{
				"EarlyHelp": "4", "ChildInNeed": "6", "LookedAfter": "7", "ChildProtection": "8", "CareProceedings": "10",
			},
			Default:         "5",
			AdditionalChild: "1",
			CoWorkerShare:   dec("0.5"),
		},
		PractitionerCaps: []v1alpha1.PractitionerCap{
			{Grade: "SocialWorker", MaxWeight: dec("100")},
			{Grade: "NewlyQualified", MaxWeight: dec("90"), ExcludedCaseTypes: []string{"ChildProtection", "CareProceedings"}},
		},
	})
}

// manchester: bring the team average down to 18 per FTE.
func manchester(action v1alpha1.EnforcementAction) *Policy {
	return MustFromSpec("manchester/average", v1alpha1.CaseloadQuotaSpec{
		EnforcementAction: action,
		TeamCap:           &v1alpha1.TeamCap{MaxAveragePerFTE: decp("18")},
	})
}

func worker(name, grade, fte string) Practitioner {
	return Practitioner{Name: name, Team: "north", Grade: grade, FTE: MustParseMilli(fte), Available: true}
}

// caseOf is an open case of team north.
func caseOf(name, typ string) Case {
	return Case{Name: name, Type: typ, Complexity: "Standard", Children: 1, Team: "north", OpenedOn: MustParseDay("2026-09-01")}
}

// led gives n open cases of one type, led by the practitioner.
func led(pr string, n int, typ string) []Holding {
	out := make([]Holding, n)
	for i := range out {
		c := caseOf(fmt.Sprintf("%s-%s-%d", pr, typ, i+1), typ)
		c.AllocatedTo = pr
		out[i] = Holding{Case: c, Role: v1alpha1.RoleLead}
	}
	return out
}

// allocate builds the allocation of a new case to a practitioner as lead, in a team of members.
func allocate(c Case, to Member, role Role, others ...Member) Allocation {
	members := append([]Member{to}, others...)
	return Allocation{
		Case:      c,
		Newcomers: []Newcomer{{Name: to.Practitioner.Name, Role: role, Known: true, Practitioner: to.Practitioner, Holdings: to.Holdings}},
		Team:      TeamView{Name: "north", Members: members},
		Day:       today,
	}
}

package policy

import (
	"fmt"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/builders"
)

// Builders keep the tests reading like the policies they encode.

var today = MustParseDay("2026-11-22")

func dec(s string) v1alpha1.Decimal { return v1alpha1.Decimal(s) }

func decp(s string) *v1alpha1.Decimal { d := v1alpha1.Decimal(s); return &d }

func i32(n int32) *int32 { return &n }

// walsall: at most 15 cases for an experienced social worker, 12 for a newly qualified one;
// every case weighs 1.
func walsall() *Policy {
	return MustFromSpec("walsall/children", builders.MakeQuota("children").
		Cap("SocialWorker", "15").Cap("SeniorSocialWorker", "15").Cap("NewlyQualified", "12").
		Exceptions(120, 28).
		Obj().Spec)
}

// wirral: 100 points per full-time worker; case types weigh 4 to 10 points; newly qualified
// workers get 90 points and no child-protection work unless co-worked.
func wirral() *Policy {
	return MustFromSpec("wirral/points", builders.MakeQuota("points").
		Weigh("EarlyHelp", "4").Weigh("ChildInNeed", "6").Weigh("LookedAfter", "7").Weigh("ChildProtection", "8").Weigh("CareProceedings", "10").
		DefaultWeight("5").AdditionalChild("1").CoWorkerShare("0.5").
		Cap("SocialWorker", "100").Cap("NewlyQualified", "90", "ChildProtection", "CareProceedings").
		Obj().Spec)
}

// manchester: bring the team average down to 18 per FTE.
func manchester(action v1alpha1.EnforcementAction) *Policy {
	return MustFromSpec("manchester/average", builders.MakeQuota("average").Action(action).TeamMaxAveragePerFTE("18").Obj().Spec)
}

// worker is an available practitioner of team north, read as the engine reads a Practitioner.
func worker(name, grade, fte string) Practitioner {
	return PractitionerFrom(builders.MakePractitioner(name, "north", grade).FTE(fte).Obj())
}

// caseOf is an open case of team north, of one child and standard complexity, read as the engine
// reads a Case.
func caseOf(name, typ string) Case {
	return CaseFrom(builders.MakeCase(name).Team("north").Type(typ).OpenedOn("2026-09-01").Obj(), UTC)
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
		Assignees: []Assignee{{Name: to.Practitioner.Name, Role: role, Known: true, Practitioner: to.Practitioner, Holdings: to.Holdings}},
		Team:      TeamView{Name: "north", Members: members},
		Day:       today,
	}
}

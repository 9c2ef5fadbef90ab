package policy

import (
	"testing"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

// TestWithinComparesUnderEveryPolicy: a case takes the place of room held for a shape only if it
// weighs no more under every policy that selects the team.
func TestWithinComparesUnderEveryPolicy(t *testing.T) {
	policies := []*Policy{wirral(), walsall()}
	protection, proceedings := caseOf("c-1", "ChildProtection"), caseOf("c-2", "CareProceedings")
	if !Within(policies, protection, v1alpha1.RoleLead, proceedings) {
		t.Error("ChildProtection (8 points) should fit room held for CareProceedings (10)")
	}
	if Within(policies, proceedings, v1alpha1.RoleLead, protection) {
		t.Error("CareProceedings (10 points) must not fit room held for ChildProtection (8)")
	}
	siblings := protection
	siblings.Children = 3
	if Within(policies, siblings, v1alpha1.RoleLead, protection) {
		t.Error("two more children add 2 points under wirral: the case must not fit room held for one child")
	}
	if !Within([]*Policy{walsall()}, siblings, v1alpha1.RoleLead, protection) {
		t.Error("under walsall every case weighs 1, children or not")
	}
}

// TestRoomForStopsWhereAnyFigureLeavesGreen: room is counted one case after another, decided as
// allocations are, and ends before any policy would refuse, warn or record, or a practitioner
// reach Amber.
func TestRoomForStopsWhereAnyFigureLeavesGreen(t *testing.T) {
	jo := Member{Practitioner: worker("jo", "SocialWorker", "1"), Holdings: led("jo", 10, "ChildInNeed")}      // 60 of 100 points
	sam := Member{Practitioner: worker("sam", "NewlyQualified", "1"), Holdings: led("sam", 10, "ChildInNeed")} // 60 of 90
	team := TeamView{Name: "north", Members: []Member{jo, sam}}
	protection := caseOf("c-1", "ChildProtection")
	lead := func(name string) Joining { return Joining{Name: name, Role: v1alpha1.RoleLead} }
	co := func(name string) Joining { return Joining{Name: name, Role: v1alpha1.RoleCoWorker} }

	for _, tc := range []struct {
		name     string
		policies []*Policy
		j        Joining
		limit    int
		want     int
	}{
		{"jo reaches Amber (90 of 100) at the fourth case of 8 points", []*Policy{wirral()}, lead("jo"), 32, 3},
		{"never more than the limit", []*Policy{wirral()}, lead("jo"), 2, 2},
		{"a newly qualified worker may not lead child protection", []*Policy{wirral()}, lead("sam"), 32, 0},
		{"but co-works it at 4 points, Amber from 81 of 90", []*Policy{wirral()}, co("sam"), 32, 5},
		{"a team average of 18 per FTE leaves 16 cases for the team", []*Policy{manchester(v1alpha1.EnforcementDeny)}, lead("jo"), 32, 16},
		{"a Warn policy's breach is not room either", []*Policy{manchester(v1alpha1.EnforcementWarn)}, lead("jo"), 32, 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := RoomFor(tc.policies, team, today, protection, tc.j, tc.limit); got != tc.want {
				t.Errorf("RoomFor = %d, want %d", got, tc.want)
			}
		})
	}

	// Of ChildInNeed (6 points), wirral leaves jo room for 4 (84 of 100), walsall for 3 (13 of 15,
	// Amber from 13.5): every policy must hold.
	inNeed := caseOf("c-2", "ChildInNeed")
	if got := RoomFor([]*Policy{wirral()}, team, today, inNeed, lead("jo"), 32); got != 4 {
		t.Errorf("RoomFor under wirral alone = %d, want 4", got)
	}
	if got := RoomFor([]*Policy{wirral(), walsall()}, team, today, inNeed, lead("jo"), 32); got != 3 {
		t.Errorf("RoomFor under wirral and walsall = %d, want 3", got)
	}

	away := team
	away.Members = []Member{{Practitioner: jo.Practitioner, Holdings: jo.Holdings}, sam}
	away.Members[0].Practitioner.Available = false
	if got := RoomFor([]*Policy{wirral()}, away, today, protection, lead("jo"), 32); got != 0 {
		t.Errorf("RoomFor a practitioner who is away = %d, want 0", got)
	}
}

package policy

import (
	"reflect"
	"strings"
	"testing"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

func TestSubjects(t *testing.T) {
	lead, co := v1alpha1.RoleLead, v1alpha1.RoleCoWorker
	with := func(to string, cws ...string) *Case {
		c := caseOf("c-1", "ChildInNeed")
		c.AllocatedTo, c.CoWorkers = to, cws
		return &c
	}
	for _, tc := range []struct {
		name          string
		before, after *Case
		want          []Subject
	}{
		{"a new unallocated case allocates nothing", nil, with(""), nil},
		{"a new case brings its lead and co-workers", nil, with("jo", "ali"), []Subject{{Name: "jo", Role: lead}, {Name: "ali", Role: co}}},
		{"allocating an unallocated case", with(""), with("jo"), []Subject{{Name: "jo", Role: lead}}},
		{"reallocating to someone else", with("jo"), with("sam"), []Subject{{Name: "sam", Role: lead}}},
		{"adding a co-worker leaves the lead alone", with("jo"), with("jo", "ali"), []Subject{{Name: "ali", Role: co}}},
		{"a co-worker promoted to lead joins as lead", with("jo", "ali"), with("ali"), []Subject{{Name: "ali", Role: lead}}},
		{"unallocating adds nobody", with("jo", "ali"), with(""), nil},
		{"no change adds nobody", with("jo", "ali"), with("jo", "ali"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Subjects(tc.before, *tc.after); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Subjects = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLeavers(t *testing.T) {
	lead, co := v1alpha1.RoleLead, v1alpha1.RoleCoWorker
	with := func(to string, cws ...string) *Case {
		c := caseOf("c-1", "ChildInNeed")
		c.AllocatedTo, c.CoWorkers = to, cws
		return &c
	}
	closed := with("jo", "ali")
	closed.ClosedOn = MustParseDay("2026-11-20")
	for _, tc := range []struct {
		name          string
		before, after *Case
		want          []Holder
	}{
		{"a new case has no leavers", nil, with("jo"), nil},
		{"unallocating", with("jo", "ali"), with(""), []Holder{{Name: "jo", Role: lead}, {Name: "ali", Role: co}}},
		{"reallocating", with("jo"), with("sam"), []Holder{{Name: "jo", Role: lead}}},
		{"a lead becoming co-worker leaves the lead role", with("jo"), with("sam", "jo"), []Holder{{Name: "jo", Role: lead}}},
		{"closing the case", with("jo", "ali"), closed, []Holder{{Name: "jo", Role: lead}, {Name: "ali", Role: co}}},
		{"no change", with("jo", "ali"), with("jo", "ali"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Leavers(tc.before, *tc.after); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Leavers = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestRebasedCountsTheCaseOncePerHolderThatKeepsIt: whatever the cache shows of the case, the
// team before the change counts it only for those who keep it, so a reallocation is not refused
// for the weight the old lead is giving up, and a retried create is not counted twice.
func TestRebasedCountsTheCaseOncePerHolderThatKeepsIt(t *testing.T) {
	p := walsall()
	jo, sam, ali := worker("jo", "SocialWorker", "1"), worker("sam", "SocialWorker", "1"), worker("ali", "SocialWorker", "1")
	before := caseOf("c-1", "ChildInNeed")
	before.AllocatedTo, before.CoWorkers = "jo", []string{"ali"}
	after := before
	after.AllocatedTo, after.CoWorkers = "sam", []string{"ali"}

	cases := []Case{before}
	team := TeamView{Name: "north", Members: MembersOf([]Practitioner{jo, sam, ali}, cases), Cases: cases}
	// An earlier attempt at the same change left a reservation for sam.
	team = WithReservations(team, []Reserved{{Case: after, Practitioner: "sam", Role: v1alpha1.RoleLead}})

	got := Rebased(team, &before, after)
	load := func(name string) Load { m, _ := got.Member(name); return p.LoadOf(m.Holdings) }
	if l := load("jo"); l.Cases != 0 {
		t.Errorf("jo gives the case up, but still holds %d", l.Cases)
	}
	if l := load("sam"); l.Cases != 0 {
		t.Errorf("sam is joining: their holdings must not include the case yet, got %d", l.Cases)
	}
	if l := load("ali"); l.Cases != 1 || l.Weight != 500 {
		t.Errorf("ali keeps the case as co-worker: want 1 case weighing 0.5, got %d weighing %s", l.Cases, l.Weight)
	}

	// For a new case, a cached or reserved copy from an earlier attempt is not counted.
	got = Rebased(team, nil, after)
	for _, name := range []string{"jo", "sam", "ali"} {
		if l := load(name); l.Cases != 0 {
			t.Errorf("new case: %s holds %d cases before it exists", name, l.Cases)
		}
	}
}

func TestExceptionDaysIsTheShortestOfThePoliciesOverridden(t *testing.T) {
	short := walsall()
	short.Name, short.ExceptionMaxDays = "walsall/short", 7
	long := walsall()
	long.Name, long.ExceptionMaxDays = "walsall/long", 28
	bystander := walsall()
	bystander.Name, bystander.ExceptionMaxDays = "walsall/bystander", 1
	d := Decision{Denials: []Finding{{Policy: "walsall/short"}, {Policy: "walsall/long"}}}
	if got := ExceptionDays([]*Policy{long, short, bystander}, d); got != 7 {
		t.Errorf("ExceptionDays = %d, want 7 (the bystander policy denied nothing)", got)
	}
	if got := ExceptionDays([]*Policy{long}, Decision{}); got != 0 {
		t.Errorf("ExceptionDays with no denials = %d, want 0", got)
	}
}

func TestAnExceptionStandsWhileItsPractitionerHoldsTheCase(t *testing.T) {
	c := caseOf("c-1", "ChildInNeed")
	c.AllocatedTo, c.CoWorkers = "jo", []string{"ali"}
	closed := c
	closed.ClosedOn = MustParseDay("2026-11-20")
	for _, tc := range []struct {
		name         string
		c            Case
		practitioner string
		want         bool
	}{
		{"the lead it was approved for", c, "jo", true},
		{"a co-worker it was approved for", c, "ali", true},
		{"someone who gave the case up", c, "sam", false},
		{"the case is closed", closed, "jo", false},
		{"an exception naming nobody, on an open case", c, "", true},
		{"an exception naming nobody, on a closed case", closed, "", false},
	} {
		if got := ExceptionStands(tc.c, tc.practitioner); got != tc.want {
			t.Errorf("%s: ExceptionStands = %v, want %v", tc.name, got, tc.want)
		}
	}
	d := Decision{Denials: []Finding{{Kind: "Team", Name: "north"}, {Kind: "Practitioner", Name: "jo"}}}
	if d.OverCap() != "jo" || (Decision{Denials: []Finding{{Kind: "Team", Name: "north"}}}).OverCap() != "" {
		t.Errorf("OverCap names the first practitioner the denials name, and nobody for a team's denial")
	}
}

// TestDecideChangeDecidesForTheSubjectsOnTheRebasedTeam: a lead change is decided for the new lead
// only, on the team without the case's old share, and a subject outside the team is decided as
// one (refused as of another team).
func TestDecideChangeDecidesForTheSubjectsOnTheRebasedTeam(t *testing.T) {
	jo := Member{Practitioner: worker("jo", "SocialWorker", "1"), Holdings: led("jo", 14, "ChildInNeed")}
	sam := Member{Practitioner: worker("sam", "SocialWorker", "1"), Holdings: led("sam", 14, "ChildInNeed")}
	team := TeamView{Name: "north", Members: []Member{jo, sam}}
	before := jo.Holdings[0].Case
	after := before
	after.AllocatedTo = "sam"
	d := DecideChange([]*Policy{walsall()}, team, today, &before, after, Subjects(&before, after), nil)
	if !d.Allowed() {
		t.Errorf("sam at 14 of 15 taking one case from jo: %s", d.Reason())
	}
	after.AllocatedTo = "kim"
	kim := worker("kim", "SocialWorker", "1")
	kim.Team = "south"
	d = DecideChange([]*Policy{walsall()}, team, today, &before, after, Subjects(&before, after), map[string]Practitioner{"kim": kim})
	if d.Allowed() || !strings.Contains(d.Reason(), "kim is in team south") {
		t.Errorf("kim of team south: %s", d.Reason())
	}
}

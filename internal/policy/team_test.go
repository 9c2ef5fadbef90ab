package policy

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/builders"
)

// fiveOfTwelve is a team of five full-time social workers who can hold 12 each.
func fiveOfTwelve(teamCap *v1alpha1.TeamCap) *Policy {
	return MustFromSpec("council/safeguarding", v1alpha1.CaseloadQuotaSpec{
		PractitionerCaps: []v1alpha1.PractitionerCap{{Grade: "SocialWorker", MaxWeight: dec("12")}},
		TeamCap:          teamCap,
	})
}

func members(prs ...Practitioner) []Member {
	out := make([]Member, len(prs))
	for i, pr := range prs {
		out[i] = Member{Practitioner: pr, Holdings: led(pr.Name, 6, "ChildInNeed")}
	}
	return out
}

// away: one with available false, two by absences that begin today.
func threeAway() []Practitioner {
	off := worker("b", "SocialWorker", "1")
	off.Available = false
	sick := worker("c", "SocialWorker", "1")
	sick.Absences = []Absence{{Reason: "Sickness", From: today}}
	leave := worker("d", "SocialWorker", "1")
	leave.Absences = []Absence{{Reason: "AnnualLeave", From: today, Until: today.AddDays(4)}}
	return []Practitioner{worker("a", "SocialWorker", "1"), off, sick, leave, worker("e", "SocialWorker", "1")}
}

func TestTeamCapacityIsTheTightestBound(t *testing.T) {
	all := []Practitioner{worker("a", "SocialWorker", "1"), worker("b", "SocialWorker", "1"), worker("c", "SocialWorker", "1"), worker("d", "SocialWorker", "1"), worker("e", "SocialWorker", "1")}
	partTime := []Practitioner{worker("a", "SocialWorker", "1"), worker("b", "SocialWorker", "0.6")}
	teamOnly := MustFromSpec("council/average", v1alpha1.CaseloadQuotaSpec{TeamCap: &v1alpha1.TeamCap{MaxAveragePerFTE: decp("10"), MaxWeight: decp("100")}})
	for _, tc := range []struct {
		name    string
		p       *Policy
		team    []Practitioner
		want    string
		source  v1alpha1.CapacitySource
		explain string
	}{
		{"no teamCap: the members' capacities", fiveOfTwelve(nil), all, "60", v1alpha1.CapacityFromMembers,
			"the sum of the members' capacities"},
		{"the members are tighter than a generous teamCap", fiveOfTwelve(&v1alpha1.TeamCap{MaxWeight: decp("100"), MaxAveragePerFTE: decp("20")}), all, "60", v1alpha1.CapacityFromMembers,
			"the sum of the members' capacities"},
		{"teamCap.maxWeight", fiveOfTwelve(&v1alpha1.TeamCap{MaxWeight: decp("40")}), all, "40", v1alpha1.CapacityFromTeamMaxWeight,
			"teamCap.maxWeight 40"},
		{"teamCap.maxAveragePerFTE", fiveOfTwelve(&v1alpha1.TeamCap{MaxWeight: decp("100"), MaxAveragePerFTE: decp("9")}), all, "45", v1alpha1.CapacityFromAveragePerFTE,
			"teamCap.maxAveragePerFTE 9 x 5 FTE available"},
		{"sickness under teamCap.maxWeight: 3 of 5 away leave 24", fiveOfTwelve(&v1alpha1.TeamCap{MaxWeight: decp("40")}), threeAway(), "24", v1alpha1.CapacityFromMembers,
			"the sum of the members' capacities; 3 of 5 members away"},
		{"sickness under teamCap.maxAveragePerFTE: only the FTE available counts", fiveOfTwelve(&v1alpha1.TeamCap{MaxAveragePerFTE: decp("9")}), threeAway(), "18", v1alpha1.CapacityFromAveragePerFTE,
			"teamCap.maxAveragePerFTE 9 x 2 FTE available; 3 of 5 members away"},
		{"sickness with a teamCap and no caps per grade", teamOnly, threeAway(), "20", v1alpha1.CapacityFromAveragePerFTE,
			"teamCap.maxAveragePerFTE 10 x 2 FTE available; 3 of 5 members away"},
		{"part-time members: 1.6 FTE", fiveOfTwelve(&v1alpha1.TeamCap{MaxAveragePerFTE: decp("9")}), partTime, "14.4", v1alpha1.CapacityFromAveragePerFTE,
			"teamCap.maxAveragePerFTE 9 x 1.6 FTE available"},
		{"part-time members: 12 + 7.2", fiveOfTwelve(&v1alpha1.TeamCap{MaxAveragePerFTE: decp("15")}), partTime, "19.2", v1alpha1.CapacityFromMembers,
			"the sum of the members' capacities"},
		{"equal bounds: the teamCap is named", fiveOfTwelve(&v1alpha1.TeamCap{MaxWeight: decp("60"), MaxAveragePerFTE: decp("12")}), all, "60", v1alpha1.CapacityFromTeamMaxWeight,
			"teamCap.maxWeight 60"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.p.TeamCapacityOf(members(tc.team...), today)
			if !ok || got.Value.String() != tc.want || got.Source != tc.source || got.Explanation != tc.explain {
				t.Errorf("TeamCapacityOf = %s %s %q (ok %v), want %s %s %q", got.Value, got.Source, got.Explanation, ok, tc.want, tc.source, tc.explain)
			}
		})
	}
}

func TestSicknessLowersACappedTeamAndItsDecisions(t *testing.T) {
	p := fiveOfTwelve(&v1alpha1.TeamCap{MaxWeight: decp("40")})
	team := TeamView{Name: "north", Members: members(threeAway()...)} // 30 held, 6 each
	f := p.TeamFiguresOf(team, today)
	if f.Capacity.String() != "24" || f.Weight.String() != "30" || f.Band != v1alpha1.BandRed || f.TeamCapacity.Source != v1alpha1.CapacityFromMembers {
		t.Errorf("3 of 5 away: capacity %s from %s, weight %s, band %s; want 24 from Members, 30, Red", f.Capacity, f.TeamCapacity.Source, f.Weight, f.Band)
	}
	if f.AvailablePractitioners != 2 || f.CasesNeedingCover != 18 || f.OverCapacityPractitioners != 0 {
		t.Errorf("available %d, needing cover %d, over capacity %d; want 2, 18 (the cases of the three away), 0 (away is not over)",
			f.AvailablePractitioners, f.CasesNeedingCover, f.OverCapacityPractitioners)
	}

	// a has 6 of 12: the old figure (40) would admit a seventh case; the team has 24 today.
	a := team.Members[0]
	d := Decide([]*Policy{p}, allocate(caseOf("c-31", "ChildInNeed"), a, v1alpha1.RoleLead, team.Members[1:]...))
	want := "case c-31 (ChildInNeed, weight 1) would take team north to 31 of 24 (the sum of the members' capacities; 3 of 5 members away): denied by CaseloadQuota council/safeguarding"
	if d.Allowed() || d.Reason() != want || d.Denials[0].Rule != "teamCap" {
		t.Errorf("an allocation past today's team capacity:\n got %q (%+v)\nwant %q", d.Reason(), d.Denials, want)
	}

	// The audit names the team, not the workers who are away: their cases need cover.
	got := audit(t, p, team, today)
	if len(got) != 1 || got[0].Kind != "Team" || got[0].Rule != "teamCap" ||
		got[0].Message != "team north carries 30 of 24 (the sum of the members' capacities; 3 of 5 members away)" {
		t.Errorf("audit = %+v", got)
	}
	// Without a teamCap the team has no team-wide rule to break.
	if got := audit(t, fiveOfTwelve(nil), team, today); len(got) != 0 {
		t.Errorf("with caps per grade only, away workers holding cases are no violation: %+v", got)
	}
	// On the day the absences end, d is back; c has no end date yet, b is still unavailable.
	back := p.TeamFiguresOf(team, today.AddDays(5))
	if back.Capacity.String() != "36" || back.AvailablePractitioners != 3 || back.CasesNeedingCover != 12 {
		t.Errorf("after d's leave: capacity %s, available %d, cover %d; want 36, 3, 12", back.Capacity, back.AvailablePractitioners, back.CasesNeedingCover)
	}
}

func TestTeamAverageCountsOnlyTheFTEAvailable(t *testing.T) {
	p := fiveOfTwelve(&v1alpha1.TeamCap{MaxAveragePerFTE: decp("9")})
	team := TeamView{Name: "north", Members: members(threeAway()...)}
	d := Decide([]*Policy{p}, allocate(caseOf("c-31", "ChildInNeed"), team.Members[0], v1alpha1.RoleLead, team.Members[1:]...))
	want := "case c-31 (ChildInNeed, weight 1) would take team north to an average of 15.5 per FTE available, over 9 (31 over 2 FTE available): denied by CaseloadQuota council/safeguarding"
	if d.Reason() != want || d.Denials[0].Rule != "teamCap.maxAveragePerFTE" {
		t.Errorf("got %q, want %q", d.Reason(), want)
	}
	nobody := members(threeAway()[1:4]...)
	got := audit(t, p, TeamView{Name: "north", Members: nobody}, today)
	if len(got) != 1 || got[0].Message != "team north carries 18 with no member available (teamCap.maxAveragePerFTE 9 x 0 FTE available)" {
		t.Errorf("audit of a team with everyone away: %+v", got)
	}
}

func TestAbsencesBeginAndEnd(t *testing.T) {
	p := walsall()
	jo := worker("jo", "SocialWorker", "1")
	jo.Absences = []Absence{
		{Reason: "ParentalLeave", From: MustParseDay("2026-12-01"), Until: MustParseDay("2026-12-14")},
		{Reason: "Training", From: MustParseDay("2027-01-11")},
	}
	for _, tc := range []struct {
		day, want, away string
	}{
		{"2026-11-30", "15", ""},
		{"2026-12-01", "0", "absent (ParentalLeave from 2026-12-01 until 2026-12-14)"},
		{"2026-12-14", "0", "absent (ParentalLeave from 2026-12-01 until 2026-12-14)"},
		{"2026-12-15", "15", ""},
		{"2027-01-11", "0", "absent (Training from 2027-01-11, no end date)"},
		{"2027-06-30", "0", "absent (Training from 2027-01-11, no end date)"},
	} {
		d := MustParseDay(tc.day)
		c := p.CapacityOf(jo, d)
		if c.Value.String() != tc.want || jo.Away(d) != tc.away || jo.AvailableOn(d) != (tc.away == "") {
			t.Errorf("%s: capacity %s (%s), away %q; want %s, %q", tc.day, c.Value, c.Explanation, jo.Away(d), tc.want, tc.away)
		}
	}
	for _, tc := range []struct{ from, next string }{
		{"2026-11-22", "2026-12-01"}, {"2026-12-01", "2026-12-15"}, {"2026-12-15", "2027-01-11"}, {"2027-01-11", ""},
	} {
		if got := NextCapacityChange(jo, MustParseDay(tc.from)); got.String() != tc.next {
			t.Errorf("NextCapacityChange from %s = %q, want %q", tc.from, got, tc.next)
		}
	}
	// An absent practitioner takes no new allocation, and the denial says until when.
	d := Decide([]*Policy{p}, Allocation{Case: caseOf("c-1", "ChildInNeed"), Day: MustParseDay("2026-12-03"),
		Assignees: []Assignee{{Name: "jo", Role: v1alpha1.RoleLead, Known: true, Practitioner: jo}}, Team: TeamView{Name: "north"}})
	if d.Reason() != "jo is absent (ParentalLeave from 2026-12-01 until 2026-12-14): no new allocations until they return" || d.Denials[0].Rule != "spec.absences" {
		t.Errorf("denial %q (%+v)", d.Reason(), d.Denials)
	}
}

func TestAQuotaWithoutCapsGivesNoCapacity(t *testing.T) {
	deadlines := MustFromSpec("council/deadlines", builders.MakeQuota("deadlines").AllocationDeadline("ChildProtection", 0).Obj().Spec)
	team := TeamView{Name: "north", Members: members(worker("a", "SocialWorker", "1"))}
	if _, ok := deadlines.TeamCapacityOf(team.Members, today); ok {
		t.Errorf("a quota of deadlines alone gives the team a capacity")
	}
	f := deadlines.TeamFiguresOf(team, today)
	if f.Capped || f.Capacity != 0 || f.Band != "" || f.Weight.String() != "6" {
		t.Errorf("figures under a caps-less quota: %+v", f)
	}
	if _, ok := FiguresPolicyForTeam([]*Policy{deadlines}, team, today); ok {
		t.Errorf("a caps-less quota governs the team's capacity")
	}
	if got, ok := FiguresPolicyForTeam([]*Policy{deadlines, walsall()}, team, today); !ok || got.Name != "walsall/children" {
		t.Errorf("with a capping quota beside it, that one governs: %v", got)
	}
	if got := audit(t, deadlines, team, today); len(got) != 0 {
		t.Errorf("the audit of a caps-less quota finds over-capacity: %+v", got)
	}
}

func TestEditsThatAddWeightAreDecided(t *testing.T) {
	lead, co := v1alpha1.RoleLead, v1alpha1.RoleCoWorker
	held := caseOf("c-7", "ChildInNeed")
	held.AllocatedTo, held.CoWorkers = "jo", []string{"ali"}
	raise := func(edit func(*Case)) Case { c := held; edit(&c); return c }
	for _, tc := range []struct {
		name  string
		after Case
		want  []Subject
	}{
		{"complexity raised", raise(func(c *Case) { c.Complexity = "High" }), []Subject{{Name: "jo", Role: lead, Raised: true}, {Name: "ali", Role: co, Raised: true}}},
		{"type changed", raise(func(c *Case) { c.Type = "ChildProtection" }), []Subject{{Name: "jo", Role: lead, Raised: true}, {Name: "ali", Role: co, Raised: true}}},
		{"a sibling joins", raise(func(c *Case) { c.Children = 2 }), []Subject{{Name: "jo", Role: lead, Raised: true}, {Name: "ali", Role: co, Raised: true}}},
		{"a new co-worker with a raise", raise(func(c *Case) { c.Children, c.CoWorkers = 2, []string{"ali", "sam"} }),
			[]Subject{{Name: "jo", Role: lead, Raised: true}, {Name: "ali", Role: co, Raised: true}, {Name: "sam", Role: co}}},
		{"closing decides nobody", raise(func(c *Case) { c.ClosedOn = today }), nil},
		{"unallocating decides nobody", raise(func(c *Case) { c.AllocatedTo, c.CoWorkers = "", nil }), nil},
	} {
		if got := Subjects(&held, tc.after); !equalSubjects(got, tc.want) {
			t.Errorf("%s: Subjects = %+v, want %+v", tc.name, got, tc.want)
		}
	}

	p := MustFromSpec("council/points", v1alpha1.CaseloadQuotaSpec{
		Weights: v1alpha1.Weights{
			CaseTypes:  map[string]v1alpha1.CaseWeight{"ChildProtection": "1.5", "EarlyHelp": "0.5"},
			Complexity: map[string]v1alpha1.Multiplier{"High": "1.5"},
		},
		PractitionerCaps: []v1alpha1.PractitionerCap{
			{Grade: "SocialWorker", MaxWeight: dec("3"), MaxCases: i32(2)},
			{Grade: "NewlyQualified", MaxWeight: dec("3"), ExcludedCaseTypes: []string{"ChildProtection"}},
		},
		Exceptions: &v1alpha1.Exceptions{MaxPercent: 120},
	})
	jo := worker("jo", "SocialWorker", "1")
	other := caseOf("c-1", "ChildProtection") // jo: 1.5 + c-7's 1 = 2.5 of 3, 2 of 2 cases
	other.AllocatedTo = "jo"
	decide := func(after Case) Decision {
		rebased := Rebased(TeamView{Name: "north", Members: MembersOf([]Practitioner{jo}, []Case{other, held})}, &held, after)
		var ns []Assignee
		for _, j := range Subjects(&held, after) {
			if j.Name == "jo" {
				ns = append(ns, AssigneeFor(j, rebased, nil, &held))
			}
		}
		return Decide([]*Policy{p}, Allocation{Case: after, Assignees: ns, Team: rebased, Day: today})
	}
	high := raise(func(c *Case) { c.Complexity = "High" })
	want := "case c-7 takes jo to 3 of 3 (100%): Amber under CaseloadQuota council/points"
	if d := decide(high); !d.Allowed() || len(d.Warnings) != 1 || d.Warnings[0] != want {
		t.Errorf("a raise that fits is admitted, with Amber: %q %q", d.Reason(), d.Warnings)
	}
	cp := raise(func(c *Case) { c.Type, c.Complexity = "ChildProtection", "High" })
	d := decide(cp)
	want = "case c-7 (ChildInNeed -> ChildProtection, weight 1 -> 2.25) would take jo to 3.75 of 3 (SocialWorker cap 15 x FTE 1): denied by CaseloadQuota council/points"
	want = strings.Replace(want, "cap 15", "cap 3", 1)
	if d.Allowed() || d.Reason() != want || len(d.Denials) != 1 {
		t.Errorf("a raise past the cap:\n got %q\nwant %q", d.Reason(), want)
	}
	if d.Exceptable() {
		t.Errorf("3.75 of 3 is 125%%, beyond an exception's 120%%")
	}
	if d := decide(raise(func(c *Case) { c.Children = 2 })); !d.Allowed() {
		t.Errorf("a second child adds nothing under this quota (additionalChild 0), and keeps jo at 2 of 2 cases: %s", d.Reason())
	}
	// A lower weight is never refused, even for a worker already over the cap.
	jo.PersonalMax = new(Milli)
	if d := decide(raise(func(c *Case) { c.Type = "EarlyHelp" })); !d.Allowed() {
		t.Errorf("lowering the weight of a case held over the cap was refused: %s", d.Reason())
	}
	jo.PersonalMax = nil

	// While jo is away, a raise cannot be admitted to them; the denial says what to do instead.
	jo.Available = false
	d = decide(high)
	want = "case c-7 (ChildInNeed, weight 1 -> 1.5) would take jo to 3 of 0 (SocialWorker cap 3 x FTE 1, 0 while unavailable (spec.available is false)): " +
		"jo cannot take more while away, so allocate the case to someone available before changing it: denied by CaseloadQuota council/points"
	if d.Reason() != want {
		t.Errorf("a raise on the case of someone away:\n got %q\nwant %q", d.Reason(), want)
	}
	jo.Available = true
	// A grade the quota does not cap is told how to get the change through.
	jo.Grade = "TeamManager"
	d = decide(high)
	if !strings.HasSuffix(d.Reason(), "so it allows them no added weight: allocate the case to a practitioner of a grade the quota caps first, or add a cap for TeamManager to the quota: denied by CaseloadQuota council/points") {
		t.Errorf("a raise for a grade the quota does not cap: %q", d.Reason())
	}

	// A newly qualified lead may not have the case turned into child protection.
	jo.Grade = "NewlyQualified"
	d = decide(raise(func(c *Case) { c.Type = "ChildProtection" }))
	if d.Allowed() || !strings.Contains(d.Reason(), "case c-7 is ChildProtection, which a NewlyQualified may hold only as a co-worker: jo cannot lead it") {
		t.Errorf("a type change to one the grade may not lead: %q", d.Reason())
	}
}

func equalSubjects(a, b []Subject) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestAReservedRaiseCountsBesideTheCachedVersionUntilTheCacheHasIt(t *testing.T) {
	p := walsall()
	cached := caseOf("c-7", "ChildInNeed")
	cached.AllocatedTo, cached.Generation = "jo", 3
	points := MustFromSpec("council/points", v1alpha1.CaseloadQuotaSpec{Weights: v1alpha1.Weights{Complexity: map[string]v1alpha1.Multiplier{"High": "2"}}})
	raised := cached
	raised.Complexity, raised.Generation = "High", 4
	team := TeamView{Name: "north", Members: MembersOf([]Practitioner{worker("jo", "SocialWorker", "1")}, []Case{cached}), Cases: []Case{cached}}
	ledger := []Reserved{{Case: raised, Practitioner: "jo", Role: v1alpha1.RoleLead}}

	// Until the cache shows generation 4, either version may be the one stored (the raise may
	// yet fail): both count, so neither is missed under any policy.
	got := WithReservations(team, ledger)
	if w := points.LoadOf(got.Members[0].Holdings).Weight.String(); w != "3" {
		t.Errorf("the reserved raise (generation 4, weight 2) counts beside the cached generation 3 (weight 1): weight %s, want 3", w)
	}
	if n := p.LoadOf(got.Members[0].Holdings).Cases; n != 2 {
		t.Errorf("each version counts while the raise is in flight, got %d cases", n)
	}
	again := WithReservations(team, append(ledger, ledger...))
	if n := p.LoadOf(again.Members[0].Holdings).Cases; n != 2 {
		t.Errorf("an entry listed twice counts once, got %d cases", n)
	}
	recreated := raised
	recreated.UID = "another"
	if n := p.LoadOf(WithReservations(team, []Reserved{{Case: recreated, Practitioner: "jo", Role: v1alpha1.RoleLead}}).Members[0].Holdings).Cases; n != 2 {
		t.Errorf("a case created again under the same name is another case: want 2 counted, got %d", n)
	}
	// The cache catches up with generation 4, or moves past it (generation 5 lowers it again).
	for _, gen := range []int64{4, 5} {
		seen := cached
		seen.Generation = gen
		team.Cases, team.Members = []Case{seen}, MembersOf([]Practitioner{worker("jo", "SocialWorker", "1")}, []Case{seen})
		if w := points.LoadOf(WithReservations(team, ledger).Members[0].Holdings).Weight.String(); w != "1" {
			t.Errorf("cache at generation %d: the cache's version counts, weight %s, want 1", gen, w)
		}
	}
}

func TestCouncilCalendarAcrossDaylightSaving(t *testing.T) {
	london, err := LoadCalendar("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCalendar("Europe/Lundon"); err == nil || err.Error() != `"Europe/Lundon" is not a known IANA time zone, such as Europe/London` {
		t.Errorf("an unknown zone: %v", err)
	}
	at := func(s string) time.Time { t, _ := time.Parse(time.RFC3339, s); return t }
	for _, tc := range []struct {
		instant, day string
	}{
		{"2027-03-27T23:59:00Z", "2027-03-27"}, // GMT
		{"2027-03-28T00:30:00Z", "2027-03-28"}, // 00:30 GMT; at 01:00 UTC clocks go forward
		{"2027-03-28T23:00:00Z", "2027-03-29"}, // midnight BST
		{"2027-03-28T22:59:59Z", "2027-03-28"},
		{"2027-10-30T23:00:00Z", "2027-10-31"}, // midnight BST; at 01:00 UTC clocks go back
		{"2027-10-31T23:30:00Z", "2027-10-31"}, // 23:30 GMT
		{"2027-11-01T00:00:00Z", "2027-11-01"},
	} {
		if got := london.DayOf(at(tc.instant)).String(); got != tc.day {
			t.Errorf("DayOf(%s) in London = %s, want %s", tc.instant, got, tc.day)
		}
		if got := UTC.DayOf(at(tc.instant)).String(); got != tc.instant[:10] {
			t.Errorf("DayOf(%s) in UTC = %s", tc.instant, got)
		}
	}
	for _, tc := range []struct {
		day, start string
		hours      float64
	}{
		{"2027-03-28", "2027-03-28T00:00:00Z", 23}, // the short day
		{"2027-03-29", "2027-03-28T23:00:00Z", 24},
		{"2027-10-31", "2027-10-30T23:00:00Z", 25}, // the long day
		{"2027-11-01", "2027-11-01T00:00:00Z", 24},
	} {
		d := MustParseDay(tc.day)
		start := london.Start(d)
		if !start.Equal(at(tc.start)) {
			t.Errorf("Start(%s) = %s, want %s", tc.day, start.UTC().Format(time.RFC3339), tc.start)
		}
		if h := london.Start(d.AddDays(1)).Sub(start).Hours(); h != tc.hours {
			t.Errorf("%s lasts %v hours in London, want %v", tc.day, h, tc.hours)
		}
	}
}

func TestFiguresAsLargeAsTheSchemaAllowsNeverOverflow(t *testing.T) {
	p := MustFromSpec("council/generous", v1alpha1.CaseloadQuotaSpec{
		Weights:          v1alpha1.Weights{Default: "9999.999", Complexity: map[string]v1alpha1.Multiplier{"High": "99.999"}, AdditionalChild: "9999.999"},
		PractitionerCaps: []v1alpha1.PractitionerCap{{Grade: "SocialWorker", MaxWeight: dec("999999.999")}},
		TeamCap:          &v1alpha1.TeamCap{MaxAveragePerFTE: decp("999999.999")},
	})
	big := caseOf("c-big", "ChildInNeed")
	big.Complexity, big.Children = "High", 20
	if w := p.Weigh(big).Value.String(); w != "1189989.882" {
		t.Fatalf("the heaviest case the schema allows weighs 9999.999 x 99.999 + 19 x 9999.999 = 1189989.882 (rounded up), got %s", w)
	}
	// 20,000 members holding 1,000 such cases each: 2.4e13, beyond six digits and well inside int64.
	const n = 20000
	ms := make([]Member, n)
	hold := make([]Holding, 1000)
	for i := range hold {
		hold[i] = Holding{Case: big, Role: v1alpha1.RoleLead}
	}
	for i := range ms {
		ms[i] = Member{Practitioner: worker("w", "SocialWorker", "1"), Holdings: hold}
	}
	f := p.TeamFiguresOf(TeamView{Name: "national", Members: ms}, today)
	if f.Weight.String() != "23799797640000" || f.Capacity.String() != "19999999980" || f.Band != v1alpha1.BandRed || f.UtilisationPercent != 118998 {
		t.Errorf("figures of a very large team: weight %s capacity %s band %s utilisation %d", f.Weight, f.Capacity, f.Band, f.UtilisationPercent)
	}
	if back, err := ParseMilli(f.Weight.String()); err != nil || back != f.Weight {
		t.Errorf("a sixteen-digit figure does not parse back: %v", err)
	}
}

// TestWeeksAheadDropCasesWhenTheStrictestTimescaleSaysTheyAreDue: jo (cap 15) holds three
// child-in-need cases opened on 1 September: one due in 10 days under the strict quota (and later
// under the loose one), one past its timescale already, and one of a type without a timescale.
// The due case ends within week 2 and weighs nothing from week 3; the overdue one and the one
// never due count throughout; a team with no cap has no capacity in any week.
func TestWeeksAheadDropCasesWhenTheStrictestTimescaleSaysTheyAreDue(t *testing.T) {
	opened := today.AddDays(-100)
	strict := MustFromSpec("walsall/strict", builders.MakeQuota("strict").Cap("SocialWorker", "15").Timescale("ChildInNeed", 110).Obj().Spec)
	loose := MustFromSpec("walsall/loose", builders.MakeQuota("loose").Action(v1alpha1.EnforcementDryRun).Timescale("ChildInNeed", 200).Obj().Spec)
	held := func(name, typ string, openedOn Day) Holding {
		c := caseOf(name, typ)
		c.OpenedOn, c.AllocatedTo = openedOn, "jo"
		return Holding{Case: c, Role: v1alpha1.RoleLead}
	}
	team := TeamView{Name: "north", Members: []Member{{Practitioner: worker("jo", "SocialWorker", "1"), Holdings: []Holding{
		held("due", "ChildInNeed", opened), held("overdue", "ChildInNeed", opened.AddDays(-30)), held("never", "EarlyHelp", opened),
	}}}}
	weeks := Set{loose, strict}.Weeks(strict, team, today, 3)
	type figures struct {
		from                   string
		capacity, load, ending string
		capped                 bool
	}
	var got []figures
	for _, w := range weeks {
		got = append(got, figures{w.From.String(), w.Capacity.Value.String(), w.Capacity.Load.Weight.String(), w.Ending.String(), w.Capped})
	}
	want := []figures{
		{"2026-11-22", "15", "3", "0", true},
		{"2026-11-29", "15", "3", "1", true},
		{"2026-12-06", "15", "2", "0", true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("weeks\n got %+v\nwant %+v", got, want)
	}
	if w := (Set{loose}).Weeks(loose, team, today, 1); w[0].Capped {
		t.Errorf("a quota without caps gave week 1 a capacity: %+v", w[0].Capacity)
	}
}

// TestAnAbsentPractitionerIsAwayNotRed: jo, absent, holds two cases with a capacity of 0 while
// away. Their band is Away, as is the name they are counted under, and they are not over
// capacity; the day they are back, the same load is Green again.
func TestAnAbsentPractitionerIsAwayNotRed(t *testing.T) {
	jo := PractitionerFrom(builders.MakePractitioner("jo", "north", "SocialWorker").Absence(v1alpha1.AbsenceSickness, "2026-11-20", "2026-11-27").Obj())
	m := Member{Practitioner: jo, Holdings: led("jo", 2, "ChildInNeed")}
	for _, tc := range []struct {
		day     Day
		band    v1alpha1.Band
		over    bool
		counted string
	}{
		{today, v1alpha1.BandAway, false, CountedAway},
		{MustParseDay("2026-11-28"), v1alpha1.BandGreen, false, string(v1alpha1.BandGreen)},
	} {
		st := Set{walsall()}.Practitioner(m, tc.day)
		if st.Figures.Band != tc.band || st.OverCapacity != tc.over || st.CountedAs != tc.counted || st.Figures.Weight.String() != "2" {
			t.Errorf("%s: band %s, over %t, counted %s, weight %s; want %s, %t, %s, 2", tc.day, st.Figures.Band, st.OverCapacity, st.CountedAs, st.Figures.Weight, tc.band, tc.over, tc.counted)
		}
	}
}

// TestCapacityValueIsCapacityOfWithoutTheWords: what a team's capacity sums is each member's
// CapacityOf value, whatever their grade, FTE, reductions, ceiling or absence.
func TestCapacityValueIsCapacityOfWithoutTheWords(t *testing.T) {
	p := MustFromSpec("council/caps", builders.MakeQuota("caps").Cap("SocialWorker", "15").Cap("NewlyQualified", "12").Obj().Spec)
	for _, b := range []*builders.PractitionerWrapper{
		builders.MakePractitioner("a", "north", "SocialWorker"),
		builders.MakePractitioner("b", "north", "NewlyQualified").FTE("0.6"),
		builders.MakePractitioner("c", "north", "SocialWorker").Reduction(v1alpha1.ReductionPhasedReturn, 40, "2026-12-31").Reduction(v1alpha1.ReductionPhasedReturn, 70, "2026-12-31"),
		builders.MakePractitioner("d", "north", "SocialWorker").MaxWeight("9"),
		builders.MakePractitioner("e", "north", "SocialWorker").Absence(v1alpha1.AbsenceSickness, "2026-11-20", "2026-11-30"),
		builders.MakePractitioner("f", "north", "SocialWorker").Unavailable(),
		builders.MakePractitioner("g", "north", "TeamManager"),
	} {
		pr := PractitionerFrom(b.Obj())
		if got, want := p.capacityValue(pr, today), p.CapacityOf(pr, today).Value; got != want {
			t.Errorf("%s: capacityValue %s, CapacityOf %s", pr.Name, got, want)
		}
	}
}

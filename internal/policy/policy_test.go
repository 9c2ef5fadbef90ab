package policy

import (
	"slices"
	"strings"
	"testing"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/builders"
)

func TestMilliParsesAndPrintsAsManagersWriteIt(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Milli
		out  string
	}{
		{"15", 15000, "15"},
		{"1.5", 1500, "1.5"},
		{"0.6", 600, "0.6"},
		{"15.600", 15600, "15.6"},
		{"0.125", 125, "0.125"},
		{"-2.5", -2500, "-2.5"},
		{"0", 0, "0"},
	} {
		got, err := ParseMilli(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseMilli(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
		if s := got.String(); s != tc.out {
			t.Errorf("Milli(%d).String() = %q, want %q", got, s, tc.out)
		}
	}
	for _, bad := range []string{"", "1.", ".5", "1.2345", "1e3", "15600m", "abc", "12345678901234567", "--1"} {
		if _, err := ParseMilli(bad); err == nil {
			t.Errorf("ParseMilli(%q) accepted a figure that is not a decimal with three places", bad)
		}
	}
}

func TestCaseWeight(t *testing.T) {
	p := MustFromSpec("council/points", v1alpha1.CaseloadQuotaSpec{
		Weights: v1alpha1.Weights{
			CaseTypes:       map[string]v1alpha1.CaseWeight{"ChildProtection": "1.5", "ChildInNeed": "1", "Odd": "1.333"},
			Default:         "1",
			Complexity:      map[string]v1alpha1.Multiplier{"High": "1.5", "Low": "0.75"},
			AdditionalChild: "0.5",
			CoWorkerShare:   dec("0.5"),
		},
	})
	for _, tc := range []struct {
		name       string
		typ        string
		complexity string
		children   int
		want       string
		breakdown  string
	}{
		{"single child protection case", "ChildProtection", "Standard", 1, "1.5", "ChildProtection 1.5"},
		{"sibling group of three", "ChildProtection", "Standard", 3, "2.5", "ChildProtection 1.5 + 2 more children x 0.5 = 2.5"},
		{"high-complexity sibling group of three", "ChildProtection", "High", 3, "3.25", "ChildProtection 1.5 x High 1.5 + 2 more children x 0.5 = 3.25"},
		{"low complexity", "ChildInNeed", "Low", 1, "0.75", "ChildInNeed 1 x Low 0.75 = 0.75"},
		{"type not listed takes the default", "AdultReview", "Standard", 1, "1", "AdultReview (default) 1"},
		{"rounds up, never down: 1.333 x 1.5 = 1.9995", "Odd", "High", 1, "2", "Odd 1.333 x High 1.5 = 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := caseOf("c-1", tc.typ)
			c.Complexity, c.Children = tc.complexity, tc.children
			w := p.Weigh(c)
			if w.Value.String() != tc.want || w.Breakdown != tc.breakdown {
				t.Errorf("Weigh = %s %q, want %s %q", w.Value, w.Breakdown, tc.want, tc.breakdown)
			}
		})
	}

	c := caseOf("c-1", "ChildProtection")
	c.Children = 3
	if got := p.Carried(c, v1alpha1.RoleCoWorker).String(); got != "1.25" {
		t.Errorf("a co-worker carries half of 2.5, got %s", got)
	}
	c.ClosedOn = MustParseDay("2026-11-01")
	if got := p.Carried(c, v1alpha1.RoleLead); got != 0 {
		t.Errorf("a closed case weighs nothing, got %s", got)
	}
}

func TestEffectiveCapacity(t *testing.T) {
	p := walsall()
	nqReduction := Reduction{Reason: "NewlyQualified", Percent: 10, Until: MustParseDay("2026-12-31")}
	expired := Reduction{Reason: "PhasedReturn", Percent: 50, Until: MustParseDay("2026-06-30")}
	endsToday := Reduction{Reason: "TradeUnion", Percent: 20, Until: today}
	ceiling := MustParseMilli("10")

	for _, tc := range []struct {
		name        string
		pr          Practitioner
		want        string
		explanation string
	}{
		{"experienced full-time social worker", worker("jo", "SocialWorker", "1"), "15", "SocialWorker cap 15 x FTE 1"},
		{"newly qualified", worker("sam", "NewlyQualified", "1"), "12", "NewlyQualified cap 12 x FTE 1"},
		{"part-time at 0.6 FTE", worker("ali", "SocialWorker", "0.6"), "9", "SocialWorker cap 15 x FTE 0.6"},
		{"active reduction of 10%", func() Practitioner {
			p := worker("jo", "SocialWorker", "1")
			p.Reductions = []Reduction{nqReduction}
			return p
		}(),
			"13.5", "SocialWorker cap 15 x FTE 1 x (1 - 10% NewlyQualified)"},
		{"expired reduction no longer counts", func() Practitioner {
			p := worker("jo", "SocialWorker", "1")
			p.Reductions = []Reduction{expired}
			return p
		}(),
			"15", "SocialWorker cap 15 x FTE 1"},
		{"a reduction still applies on its last day", func() Practitioner {
			p := worker("jo", "SocialWorker", "1")
			p.Reductions = []Reduction{endsToday}
			return p
		}(),
			"12", "SocialWorker cap 15 x FTE 1 x (1 - 20% TradeUnion)"},
		{"reductions add up to at most 100%", func() Practitioner {
			p := worker("jo", "SocialWorker", "1")
			p.Reductions = []Reduction{{Reason: "Secondment", Percent: 80}, {Reason: "Other", Percent: 40}}
			return p
		}(), "0", "SocialWorker cap 15 x FTE 1 x (1 - 80% Secondment - 40% Other)"},
		{"personal ceiling lowers the cap", func() Practitioner { p := worker("jo", "SocialWorker", "1"); p.PersonalMax = &ceiling; return p }(),
			"10", "SocialWorker cap 15 x FTE 1, lowered to the personal ceiling 10"},
		{"personal ceiling cannot raise it", func() Practitioner { p := worker("ali", "SocialWorker", "0.6"); p.PersonalMax = &ceiling; return p }(),
			"9", "SocialWorker cap 15 x FTE 0.6"},
		{"unavailable means no capacity", func() Practitioner { p := worker("jo", "SocialWorker", "1"); p.Available = false; return p }(),
			"0", "SocialWorker cap 15 x FTE 1, 0 while unavailable (spec.available is false)"},
		{"rounds down, never up: 15 x 0.333", worker("kim", "SocialWorker", "0.333"), "4.995", "SocialWorker cap 15 x FTE 0.333"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := p.CapacityOf(tc.pr, today)
			if c.Value.String() != tc.want || c.Explanation != tc.explanation || !c.Capped {
				t.Errorf("CapacityOf = %s %q (capped %v), want %s %q", c.Value, c.Explanation, c.Capped, tc.want, tc.explanation)
			}
		})
	}

	// The reduction's end is a boundary the reconciler waits for.
	pr := worker("jo", "SocialWorker", "1")
	pr.Reductions = []Reduction{nqReduction, expired}
	if got := NextCapacityChange(pr, today); got.String() != "2027-01-01" {
		t.Errorf("NextCapacityChange = %v, want 2027-01-01", got)
	}
	if got := p.CapacityOf(pr, MustParseDay("2027-01-01")).Value.String(); got != "15" {
		t.Errorf("on 2027-01-01 the reduction has ended and capacity is back to 15, got %s", got)
	}
}

func TestBands(t *testing.T) {
	p := walsall() // amber 90, red 100
	for _, tc := range []struct {
		weight, capacity string
		want             v1alpha1.Band
	}{
		{"13.4", "15", v1alpha1.BandGreen}, // 89.3%
		{"13.5", "15", v1alpha1.BandAmber}, // exactly 90%
		{"15", "15", v1alpha1.BandAmber},   // exactly 100% is still Amber
		{"15.001", "15", v1alpha1.BandRed},
		{"3", "0", v1alpha1.BandRed},   // unavailable but holding cases
		{"0", "0", v1alpha1.BandGreen}, // unavailable and holding nothing
	} {
		if got := p.BandOf(MustParseMilli(tc.weight), MustParseMilli(tc.capacity)); got != tc.want {
			t.Errorf("BandOf(%s of %s) = %s, want %s", tc.weight, tc.capacity, got, tc.want)
		}
	}
	wmt := MustFromSpec("probation/wmt", v1alpha1.CaseloadQuotaSpec{Bands: v1alpha1.Bands{AmberPercent: 100, RedPercent: 110}})
	if got := wmt.BandOf(MustParseMilli("108"), MustParseMilli("100")); got != v1alpha1.BandAmber {
		t.Errorf("probation bands: 108%% is Amber, got %s", got)
	}
}

func TestWalsallCaps(t *testing.T) {
	p := walsall()
	jo := Member{Practitioner: worker("jo-bloggs", "SocialWorker", "1"), Holdings: led("jo-bloggs", 14, "ChildInNeed")}
	d := Decide([]*Policy{p}, allocate(caseOf("c-1042", "ChildInNeed"), jo, v1alpha1.RoleLead))
	if !d.Allowed() {
		t.Fatalf("the 15th case fits the cap of 15: %s", d.Reason())
	}
	if len(d.Warnings) != 1 || !strings.Contains(d.Warnings[0], "takes jo-bloggs to 15 of 15 (100%): Amber") {
		t.Errorf("reaching the cap warns that jo-bloggs is Amber, got %q", d.Warnings)
	}

	jo.Holdings = led("jo-bloggs", 15, "ChildInNeed")
	d = Decide([]*Policy{p}, allocate(caseOf("c-1042", "ChildInNeed"), jo, v1alpha1.RoleLead))
	want := "case c-1042 (ChildInNeed, weight 1) would take jo-bloggs to 16 of 15 (SocialWorker cap 15 x FTE 1): denied by CaseloadQuota walsall/children"
	if d.Allowed() || d.Reason() != want {
		t.Errorf("the 16th case is refused:\n got %q\nwant %q", d.Reason(), want)
	}
	if !d.Exceptable() {
		t.Errorf("16 of 15 is 106%%, within the 120%% an exception may reach")
	}

	sam := Member{Practitioner: worker("sam", "NewlyQualified", "1"), Holdings: led("sam", 12, "ChildInNeed")}
	d = Decide([]*Policy{p}, allocate(caseOf("c-7", "ChildInNeed"), sam, v1alpha1.RoleLead))
	if d.Allowed() || !strings.Contains(d.Reason(), "would take sam to 13 of 12 (NewlyQualified cap 12 x FTE 1)") {
		t.Errorf("a newly qualified worker stops at 12: %q", d.Reason())
	}

	jo.Holdings = led("jo-bloggs", 18, "ChildInNeed")
	if d = Decide([]*Policy{p}, allocate(caseOf("c-1042", "ChildInNeed"), jo, v1alpha1.RoleLead)); d.Exceptable() {
		t.Errorf("19 of 15 is 126%%: beyond what an exception may reach")
	}

	agency := Member{Practitioner: worker("pat", "AgencyWorker", "1")}
	d = Decide([]*Policy{p}, allocate(caseOf("c-9", "ChildInNeed"), agency, v1alpha1.RoleLead))
	if d.Allowed() || !strings.Contains(d.Reason(), "grade AgencyWorker has no cap in this quota, so it allows them no new allocations") {
		t.Errorf("a grade the quota does not list gets no allocations: %q", d.Reason())
	}
}

func TestWirralPointsScheme(t *testing.T) {
	p := wirral()
	// A newly qualified worker: 90 points. 10 child-in-need cases of 6 points = 60; a looked-after
	// sibling group of three: 7 + 2 x 1 = 9 points, total 69.
	nq := Member{Practitioner: worker("nq", "NewlyQualified", "1"), Holdings: led("nq", 10, "ChildInNeed")}
	sibs := caseOf("c-sibs", "LookedAfter")
	sibs.Children = 3
	if got := p.Weigh(sibs).Value.String(); got != "9" {
		t.Fatalf("a looked-after sibling group of three weighs 7 + 2 x 1 = 9, got %s", got)
	}
	if d := Decide([]*Policy{p}, allocate(sibs, nq, v1alpha1.RoleLead)); !d.Allowed() {
		t.Errorf("69 of 90 points fits: %s", d.Reason())
	}

	cp := caseOf("c-cp", "ChildProtection")
	d := Decide([]*Policy{p}, allocate(cp, nq, v1alpha1.RoleLead))
	if d.Allowed() || !strings.Contains(d.Reason(), "case c-cp is ChildProtection, which a NewlyQualified may hold only as a co-worker: nq cannot lead it") {
		t.Errorf("no child-protection work for the newly qualified unless co-worked: %q", d.Reason())
	}
	if d.Exceptable() {
		t.Errorf("an excluded case type is never open to exception")
	}
	if d := Decide([]*Policy{p}, allocate(cp, nq, v1alpha1.RoleCoWorker)); !d.Allowed() {
		t.Errorf("as a co-worker the newly qualified may take child protection: %s", d.Reason())
	}

	// A full-time social worker on 100 points: 12 CP cases (96) + a co-worked CP case (4) = 100.
	sw := Member{Practitioner: worker("sw", "SocialWorker", "1"), Holdings: led("sw", 12, "ChildProtection")}
	if d := Decide([]*Policy{p}, allocate(cp, sw, v1alpha1.RoleCoWorker)); !d.Allowed() {
		t.Errorf("96 + half of 8 = 100 of 100 points fits: %s", d.Reason())
	}
	d = Decide([]*Policy{p}, allocate(cp, sw, v1alpha1.RoleLead))
	if d.Allowed() || !strings.Contains(d.Reason(), "would take sw to 104 of 100 (SocialWorker cap 100 x FTE 1)") {
		t.Errorf("as lead the CP case makes 104 of 100: %q", d.Reason())
	}
}

func TestManchesterTeamAverage(t *testing.T) {
	// Three members at 1, 1 and 0.6 FTE: 2.6 FTE, so at most 46.8 by an average of 18.
	a := Member{Practitioner: worker("a", "SocialWorker", "1"), Holdings: led("a", 20, "ChildInNeed")}
	b := Member{Practitioner: worker("b", "SocialWorker", "1"), Holdings: led("b", 18, "ChildInNeed")}
	c := Member{Practitioner: worker("c", "SocialWorker", "0.6"), Holdings: led("c", 8, "ChildInNeed")}
	p := manchester(v1alpha1.EnforcementDeny)
	tc, _ := p.TeamCapacityOf([]Member{a, b, c}, today)
	if tc.Value.String() != "46.8" || tc.Source != v1alpha1.CapacityFromAveragePerFTE || tc.Explanation != "teamCap.maxAveragePerFTE 18 x 2.6 FTE available" {
		t.Errorf("TeamCapacityOf = %+v, want 46.8 from the average", tc)
	}
	d := Decide([]*Policy{p}, allocate(caseOf("c-47", "ChildInNeed"), c, v1alpha1.RoleLead, a, b))
	want := "case c-47 (ChildInNeed, weight 1) would take team north to an average of 18.077 per FTE available, over 18 (47 over 2.6 FTE available): denied by CaseloadQuota manchester/average"
	if d.Allowed() || d.Reason() != want {
		t.Errorf("the 47th case breaks the average:\n got %q\nwant %q", d.Reason(), want)
	}

	// The same policy on trial: Warn admits with a warning, DryRun admits silently.
	d = Decide([]*Policy{manchester(v1alpha1.EnforcementWarn)}, allocate(caseOf("c-47", "ChildInNeed"), c, v1alpha1.RoleLead, a, b))
	if !d.Allowed() || len(d.Warned) != 1 || !strings.Contains(d.Warnings[0], "warned by CaseloadQuota manchester/average") {
		t.Errorf("a Warn quota admits and warns: allowed %v, warnings %q", d.Allowed(), d.Warnings)
	}
	d = Decide([]*Policy{manchester(v1alpha1.EnforcementDryRun)}, allocate(caseOf("c-47", "ChildInNeed"), c, v1alpha1.RoleLead, a, b))
	if !d.Allowed() || len(d.Recorded) != 1 || len(d.Warnings) != 0 {
		t.Errorf("a DryRun quota admits silently and records: allowed %v, recorded %d, warnings %q", d.Allowed(), len(d.Recorded), d.Warnings)
	}
}

func TestStrictestQuotaWins(t *testing.T) {
	// Walsall's 15 per worker and Manchester's team average 18 both select the team. c (0.6 FTE)
	// holds 8 of their 9: the personal cap allows one more, the team average does not.
	a := Member{Practitioner: worker("a", "SocialWorker", "1"), Holdings: led("a", 15, "ChildInNeed")}
	b := Member{Practitioner: worker("b", "SocialWorker", "1"), Holdings: led("b", 15, "ChildInNeed")}
	c := Member{Practitioner: worker("c", "SocialWorker", "0.6"), Holdings: led("c", 8, "ChildInNeed")}
	// 38 of 46.8 on the average: room. Now lower the average to 14.6 per FTE (37.96 for 2.6 FTE).
	tight := MustFromSpec("council/average", v1alpha1.CaseloadQuotaSpec{TeamCap: &v1alpha1.TeamCap{MaxAveragePerFTE: decp("14.6")}})
	d := Decide([]*Policy{walsall(), tight}, allocate(caseOf("c-39", "ChildInNeed"), c, v1alpha1.RoleLead, a, b))
	if d.Allowed() || len(d.Denials) != 1 || d.Denials[0].Policy != "council/average" {
		t.Errorf("the team average refuses what the personal cap would allow: %q", d.Reason())
	}
	d = Decide([]*Policy{walsall(), manchester(v1alpha1.EnforcementDeny)}, allocate(caseOf("c-39", "ChildInNeed"), c, v1alpha1.RoleLead, a, b))
	if !d.Allowed() {
		t.Errorf("9 of 9 and 39 of 46.8 both fit: %s", d.Reason())
	}
}

func TestRulesThatHoldWhateverThePolicy(t *testing.T) {
	off := worker("off-sick", "SocialWorker", "1")
	off.Available = false
	elsewhere := worker("moved", "SocialWorker", "1")
	elsewhere.Team = "south"
	a := Allocation{
		Case: caseOf("c-1", "ChildInNeed"),
		Assignees: []Assignee{
			{Name: "nobody", Role: v1alpha1.RoleLead},
			{Name: "off-sick", Role: v1alpha1.RoleCoWorker, Known: true, Practitioner: off},
			{Name: "moved", Role: v1alpha1.RoleCoWorker, Known: true, Practitioner: elsewhere},
		},
		Team: TeamView{Name: "north"},
		Day:  today,
	}
	d := Decide([]*Policy{walsall()}, a)
	for _, want := range []string{
		"case c-1 cannot be allocated to nobody: there is no Practitioner nobody in this namespace",
		"off-sick is unavailable (spec.available is false): no new allocations until they return",
		"case c-1 belongs to team north but moved is in team south: move the case or the practitioner first",
	} {
		if !strings.Contains(d.Reason(), want) {
			t.Errorf("denial %q does not say %q", d.Reason(), want)
		}
	}
	if len(d.Denials) != 3 {
		t.Errorf("each assignee is refused once, for its own reason: %d denials", len(d.Denials))
	}
}

func TestAuditAfterPolicyTightening(t *testing.T) {
	// The experienced cap was 18; the policy in git lowers it to 15. Nothing is refused or moved
	// retroactively: the audit lists who is now over.
	jo := Member{Practitioner: worker("jo", "SocialWorker", "1"), Holdings: led("jo", 17, "ChildInNeed")}
	sam := Member{Practitioner: worker("sam", "NewlyQualified", "1"), Holdings: append(led("sam", 3, "ChildInNeed"), led("sam", 1, "ChildProtection")...)}
	cp := caseOf("c-cp-waiting", "ChildProtection")
	cp.UnallocatedSince = MustParseDay("2026-11-20")
	cin := caseOf("c-cin-waiting", "ChildInNeed")
	cin.UnallocatedSince = MustParseDay("2026-11-20")
	team := TeamView{Name: "north", Members: []Member{jo, sam}, Cases: []Case{cp, cin}}

	p := MustFromSpec("walsall/children", v1alpha1.CaseloadQuotaSpec{
		PractitionerCaps: []v1alpha1.PractitionerCap{
			{Grade: "SocialWorker", MaxWeight: dec("15")},
			{Grade: "NewlyQualified", MaxWeight: dec("12"), ExcludedCaseTypes: []string{"ChildProtection"}},
		},
		AllocationDeadlines: map[string]v1alpha1.AllocationDeadline{"ChildProtection": {MaxUnallocatedDays: 0}, "ChildInNeed": {MaxUnallocatedDays: 5}},
	})
	got := audit(t, p, team, today)
	want := []string{
		"Case c-cp-waiting allocationDeadlines: case c-cp-waiting (ChildProtection) has waited 2 days unallocated; its deadline is 0 days",
		"Practitioner jo practitionerCaps.maxWeight: jo carries 17 of 15 (SocialWorker cap 15 x FTE 1)",
		"Practitioner sam practitionerCaps.excludedCaseTypes: sam leads case sam-ChildProtection-1 (ChildProtection), which a NewlyQualified may hold only as a co-worker",
	}
	if len(got) != len(want) {
		t.Fatalf("audit found %d violations, want %d: %+v", len(got), len(want), got)
	}
	for i, f := range got {
		if s := f.Kind + " " + f.Name + " " + f.Rule + ": " + f.Message; s != want[i] {
			t.Errorf("violation %d:\n got %q\nwant %q", i, s, want[i])
		}
	}
}

func TestFiguresAndGoverningQuota(t *testing.T) {
	pr := worker("ali", "SocialWorker", "0.6")
	holdings := led("ali", 8, "ChildInNeed")
	f := walsall().PractitionerFigures(pr, holdings, today)
	if f.Weight.String() != "8" || f.Capacity.String() != "9" || f.Headroom.String() != "1" || f.UtilisationPercent != 88 || f.Band != v1alpha1.BandGreen {
		t.Errorf("ali at 0.6 FTE with 8 cases: %+v", f)
	}

	strict := MustFromSpec("council/strict", builders.MakeQuota("strict").Cap("SocialWorker", "12").Obj().Spec)
	trial := MustFromSpec("council/trial", builders.MakeQuota("trial").Action(v1alpha1.EnforcementDryRun).Cap("SocialWorker", "10").Obj().Spec)
	teamOnly := manchester(v1alpha1.EnforcementDeny)
	got, ok := FiguresPolicyForPractitioner([]*Policy{walsall(), strict, trial, teamOnly}, pr, holdings, today)
	if !ok || got.Name != "council/strict" {
		t.Errorf("the enforcing quota with the least headroom governs (strict: 7.2 - 8), got %v", got)
	}
	got, ok = FiguresPolicyForPractitioner([]*Policy{trial, teamOnly}, pr, holdings, today)
	if !ok || got.Name != "council/trial" {
		t.Errorf("a trial quota shows only where no enforcing quota caps the grade, got %v", got)
	}
}

func TestTiming(t *testing.T) {
	p := MustFromSpec("manchester/timescales", builders.MakeQuota("timescales").Timescale("ChildInNeed", 270).AllocationDeadline("ChildInNeed", 5).Obj().Spec)
	c := caseOf("c-1", "ChildInNeed")
	c.OpenedOn = MustParseDay("2026-02-25")
	c.AllocatedTo = "jo"
	tm := p.Timing(c, today)
	if tm.DueBy.String() != "2026-11-22" || tm.Overdue {
		t.Errorf("opened 2026-02-25 with 270 days: due by 2026-11-22 and not overdue on it, got %+v", tm)
	}
	if tm.NextChange.String() != "2026-11-23" {
		t.Errorf("the case turns overdue at the start of 2026-11-23, got %v", tm.NextChange)
	}
	if !p.Timing(c, MustParseDay("2026-11-23")).PastTimescale {
		t.Errorf("a day later it is overdue")
	}

	c.AllocatedTo = ""
	c.OpenedOn = MustParseDay("2026-11-20")
	if p.Timing(c, today).PastAllocationDeadline {
		t.Errorf("waiting 2 of 5 days is within the deadline")
	}
	if !p.Timing(c, MustParseDay("2026-11-26")).PastAllocationDeadline {
		t.Errorf("waiting 6 of 5 days is past the deadline")
	}
}

func TestFromSpecRefusesWhatASchemaCannotSay(t *testing.T) {
	_, errs := FromSpec("council/bad", v1alpha1.CaseloadQuotaSpec{
		PractitionerCaps: []v1alpha1.PractitionerCap{{Grade: "SocialWorker", MaxWeight: dec("15")}, {Grade: "SocialWorker", MaxWeight: dec("18")}},
		Bands:            v1alpha1.Bands{AmberPercent: 110, RedPercent: 100},
		Exceptions:       &v1alpha1.Exceptions{MaxPercent: 90},
		Weights:          v1alpha1.Weights{Default: "-1"},
	})
	got := errs.ToAggregate().Error()
	for _, want := range []string{
		`spec.practitionerCaps[1].grade: Duplicate value: "SocialWorker"`,
		"spec.bands.amberPercent: Invalid value: 110: cannot be above redPercent",
		"spec.exceptions.maxPercent: Invalid value: 90",
		`spec.weights.default: Invalid value: "-1"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("errors %q do not include %q", got, want)
		}
	}
}

func TestReservationsCountOnceUntilTheCacheCatchesUp(t *testing.T) {
	p := walsall()
	jo := Member{Practitioner: worker("jo", "SocialWorker", "1"), Holdings: led("jo", 13, "ChildInNeed")}
	team := TeamView{Name: "north", Members: []Member{jo}}
	racing := caseOf("c-racing", "ChildInNeed")
	racing.AllocatedTo = "jo"

	// Another replica admitted c-racing a moment ago; this replica's cache has not seen it.
	withLedger := WithReservations(team, []Reserved{{Case: racing, Practitioner: "jo", Role: v1alpha1.RoleLead}, {Case: racing, Practitioner: "someone-else", Role: v1alpha1.RoleLead}})
	if got := p.LoadOf(withLedger.Members[0].Holdings).Weight.String(); got != "14" {
		t.Errorf("the reservation counts until the cache shows the case: 14, got %s", got)
	}
	// Once the cache shows c-racing held by jo, the reservation must not count twice.
	jo.Holdings = append(jo.Holdings, Holding{Case: racing, Role: v1alpha1.RoleLead})
	caught := WithReservations(TeamView{Name: "north", Members: []Member{jo}, Cases: []Case{racing}}, []Reserved{{Case: racing, Practitioner: "jo", Role: v1alpha1.RoleLead}})
	if got := p.LoadOf(caught.Members[0].Holdings).Weight.String(); got != "14" {
		t.Errorf("a reservation the cache already shows counts once: 14, got %s", got)
	}
	if got := p.LoadOf(team.Members[0].Holdings).Weight.String(); got != "13" {
		t.Errorf("WithReservations must not change the team it was given: %s", got)
	}
}

func TestTheWeighingPolicyIsTheQuotaManagersRead(t *testing.T) {
	trial := MustFromSpec("council/a-trial", v1alpha1.CaseloadQuotaSpec{EnforcementAction: v1alpha1.EnforcementDryRun})
	points := wirral() // "wirral/points", Deny
	caps := walsall()  // "walsall/children", Deny
	all := []*Policy{trial, points, caps}
	for _, tc := range []struct {
		name        string
		policies    []*Policy
		statusQuota string
		want        *Policy
	}{
		{"the quota the team's status names", all, "children", caps},
		{"before the team has status: the first enforcing quota", all, "", points},
		{"a status naming a quota that no longer selects the team", all, "gone", points},
		{"only trial quotas: the first", []*Policy{trial}, "", trial},
		{"no quota: every case weighs 1", nil, "", Default},
	} {
		if got := WeighingPolicy(tc.policies, tc.statusQuota); got != tc.want {
			t.Errorf("%s: WeighingPolicy = %q, want %q", tc.name, got.Name, tc.want.Name)
		}
	}
	if got := Default.Weigh(caseOf("c-1", "CareProceedings")).Value.String(); got != "1" {
		t.Errorf("Default weighs every case 1, got %s", got)
	}
	if caps.QuotaName() != "children" || Default.QuotaName() != "" {
		t.Errorf("QuotaName: %q, %q", caps.QuotaName(), Default.QuotaName())
	}
}

// audit runs p.Audit and fails on a finding whose rule AuditRules does not list: the metrics
// publish each listed rule at 0, so an unlisted one would have no series until it is broken.
func audit(t *testing.T, p *Policy, team TeamView, d Day) []Finding {
	t.Helper()
	got := p.Audit(team, d)
	for _, f := range got {
		if !slices.Contains(AuditRules, f.Rule) {
			t.Errorf("finding %q names rule %q, which AuditRules does not list", f.Message, f.Rule)
		}
	}
	return got
}

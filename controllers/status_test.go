package controllers

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/builders"
	"caseload.dev/caseload-operator/internal/policy"
	"caseload.dev/caseload-operator/internal/snapshot"
)

// The status functions are pure: each table below gives a council's objects on Monday
// 2026-11-23 at 09:00 and the status a manager would read for them.

var (
	statusNow = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	// unknownZone is why a council's days are counted in UTC: its annotation names no zone.
	unknownZone = `time zone "Mars/Olympus" in annotation caseload.dev/time-zone is not known: days are counted in UTC`
)

// walsallCaps caps a social worker at 15, weighs child protection 1.5, lets a child-in-need case
// stay open 270 days, allows no child-protection case to wait for a worker, and lets a manager
// approve up to 120% of a cap for 28 days.
func walsallCaps() *builders.QuotaWrapper {
	return builders.MakeQuota("walsall").Namespace("walsall").Generation(1).
		Weigh("ChildInNeed", "1").Weigh("ChildProtection", "1.5").
		Cap("SocialWorker", "15").
		Timescale("ChildInNeed", 270).AllocationDeadline("ChildProtection", 0).
		Exceptions(120, 28)
}

// manchesterTimescales caps nothing; it lets a child-in-need case stay open 180 days only.
func manchesterTimescales() *builders.QuotaWrapper {
	return builders.MakeQuota("manchester").Namespace("walsall").Generation(1).Timescale("ChildInNeed", 180)
}

func policiesOf(t *testing.T, quotas ...*builders.QuotaWrapper) []*policy.Policy {
	t.Helper()
	var qs []v1alpha1.CaseloadQuota
	for _, q := range quotas {
		qs = append(qs, *q.Obj())
	}
	ps, bad := snapshot.ParsePolicies(qs)
	if len(bad) > 0 {
		t.Fatalf("quotas that do not parse: %v", bad)
	}
	return ps
}

// cin is an open child-in-need case of team north, opened on a day.
func cin(name, opened string) *builders.CaseWrapper {
	return builders.MakeCase(name).Namespace("walsall").Team("north").Type("ChildInNeed").OpenedOn(opened)
}

// conditionsLine lists conditions as Type=Status/Reason, by type.
func conditionsLine(cs []metav1.Condition) string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, fmt.Sprintf("%s=%s/%s", c.Type, c.Status, c.Reason))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func conditionMessage(cs []metav1.Condition, typ string) string {
	for _, c := range cs {
		if c.Type == typ {
			return c.Message
		}
	}
	return ""
}

func TestTeamStatus(t *testing.T) {
	sw := func(name string) *builders.PractitionerWrapper {
		return builders.MakePractitioner(name, "north", "SocialWorker").Namespace("walsall")
	}
	for _, tc := range []struct {
		name          string
		quotas        []*builders.QuotaWrapper
		practitioners []*builders.PractitionerWrapper
		cases         []*builders.CaseWrapper
		zoneProblem   string
		want          string
		conditions    string
		// message, when set, is part of the NeedsCover condition's message.
		message string
	}{
		{
			name:          "a team within its capacity",
			quotas:        []*builders.QuotaWrapper{walsallCaps()},
			practitioners: []*builders.PractitionerWrapper{sw("jo")},
			cases:         []*builders.CaseWrapper{cin("c-1", "2026-11-01").Lead("jo"), cin("c-2", "2026-11-01").Lead("jo"), cin("c-3", "2026-11-01").Lead("jo")},
			want:          "quota=walsall practitioners=1/1 cases=3 unallocated=0/0d overdue=0 cover=0 weight=3 capacity=15 headroom=12 util=20 band=Green source=Members over=0",
			conditions:    "NeedsCover=False/NoCoverNeeded OverCapacity=False/WithinCapacity Ready=True/Reconciled",
		},
		{
			name:          "an absent worker holding cases: they need cover and give the team no capacity",
			quotas:        []*builders.QuotaWrapper{walsallCaps()},
			practitioners: []*builders.PractitionerWrapper{sw("jo").Absence(v1alpha1.AbsenceSickness, "2026-11-20", ""), sw("ali")},
			cases:         []*builders.CaseWrapper{cin("c-1", "2026-11-01").Lead("jo"), cin("c-2", "2026-11-01").Lead("jo"), cin("c-3", "2026-11-01").Lead("ali")},
			want:          "quota=walsall practitioners=2/1 cases=3 unallocated=0/0d overdue=0 cover=2 weight=3 capacity=15 headroom=12 util=20 band=Green source=Members over=0",
			conditions:    "NeedsCover=True/CasesNeedCover OverCapacity=False/WithinCapacity Ready=True/Reconciled",
			message:       "1 practitioner away today hold 2 open cases that need cover",
		},
		{
			name:          "a team over its own ceiling",
			quotas:        []*builders.QuotaWrapper{walsallCaps().TeamMaxWeight("2")},
			practitioners: []*builders.PractitionerWrapper{sw("jo")},
			cases:         []*builders.CaseWrapper{cin("c-1", "2026-11-01").Lead("jo"), cin("c-2", "2026-11-01").Lead("jo"), cin("c-3", "2026-11-01").Lead("jo")},
			want:          "quota=walsall practitioners=1/1 cases=3 unallocated=0/0d overdue=0 cover=0 weight=3 capacity=2 headroom=-1 util=150 band=Red source=TeamMaxWeight over=0",
			conditions:    "NeedsCover=False/NoCoverNeeded OverCapacity=True/OverCapacity Ready=True/Reconciled",
		},
		{
			name:          "a case waiting for a worker since it opened: overdue, and no member carries its weight",
			quotas:        []*builders.QuotaWrapper{walsallCaps()},
			practitioners: []*builders.PractitionerWrapper{sw("jo")},
			cases:         []*builders.CaseWrapper{builders.MakeCase("cp-1").Namespace("walsall").Team("north").Type("ChildProtection").OpenedOn("2026-11-20")},
			want:          "quota=walsall practitioners=1/1 cases=1 unallocated=1/3d overdue=1 cover=0 weight=0 capacity=15 headroom=15 util=0 band=Green source=Members over=0",
			conditions:    "NeedsCover=False/NoCoverNeeded OverCapacity=False/WithinCapacity Ready=True/Reconciled",
		},
		{
			name:          "open 236 days: on time under one quota's 270-day timescale",
			quotas:        []*builders.QuotaWrapper{walsallCaps()},
			practitioners: []*builders.PractitionerWrapper{sw("jo")},
			cases:         []*builders.CaseWrapper{cin("c-1", "2026-04-01").Lead("jo")},
			want:          "quota=walsall practitioners=1/1 cases=1 unallocated=0/0d overdue=0 cover=0 weight=1 capacity=15 headroom=14 util=6 band=Green source=Members over=0",
			conditions:    "NeedsCover=False/NoCoverNeeded OverCapacity=False/WithinCapacity Ready=True/Reconciled",
		},
		{
			name:          "open 236 days: overdue under two quotas, the stricter 180 days wins though it caps nothing",
			quotas:        []*builders.QuotaWrapper{walsallCaps(), manchesterTimescales()},
			practitioners: []*builders.PractitionerWrapper{sw("jo")},
			cases:         []*builders.CaseWrapper{cin("c-1", "2026-04-01").Lead("jo")},
			want:          "quota=walsall practitioners=1/1 cases=1 unallocated=0/0d overdue=1 cover=0 weight=1 capacity=15 headroom=14 util=6 band=Green source=Members over=0",
			conditions:    "NeedsCover=False/NoCoverNeeded OverCapacity=False/WithinCapacity Ready=True/Reconciled",
		},
		{
			name:          "no quota selects the team: cases weigh 1 and nothing is capped",
			practitioners: []*builders.PractitionerWrapper{sw("jo")},
			cases:         []*builders.CaseWrapper{cin("c-1", "2026-11-01").Lead("jo").Type("ChildProtection")},
			want:          "quota= practitioners=1/1 cases=1 unallocated=0/0d overdue=0 cover=0 weight=1 capacity= headroom= util=0 band= source= over=0",
			conditions:    "NeedsCover=False/NoCoverNeeded OverCapacity=False/NoCap Ready=True/Reconciled",
		},
		{
			name:          "an unknown time zone stalls the team, figures counted in UTC",
			quotas:        []*builders.QuotaWrapper{walsallCaps()},
			practitioners: []*builders.PractitionerWrapper{sw("jo")},
			cases:         []*builders.CaseWrapper{cin("c-1", "2026-11-01").Lead("jo")},
			zoneProblem:   unknownZone,
			want:          "quota=walsall practitioners=1/1 cases=1 unallocated=0/0d overdue=0 cover=0 weight=1 capacity=15 headroom=14 util=6 band=Green source=Members over=0",
			conditions:    "NeedsCover=False/NoCoverNeeded OverCapacity=False/WithinCapacity Ready=False/UnknownTimeZone Stalled=True/UnknownTimeZone",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			day := policy.UTC.DayOf(statusNow)
			var prs []policy.Practitioner
			for _, p := range tc.practitioners {
				prs = append(prs, policy.PractitionerFrom(p.Obj()))
			}
			var cases []policy.Case
			for _, c := range tc.cases {
				cases = append(cases, policy.CaseFrom(c.Obj(), policy.UTC))
			}
			s := &snapshot.Snapshot{Calendar: policy.UTC, Day: day, Policies: policiesOf(t, tc.quotas...),
				View: policy.TeamView{Name: "north", Members: policy.MembersOf(prs, cases), Cases: cases}}
			st, next := teamStatus(v1alpha1.TeamStatus{}, 3, s, tc.zoneProblem)
			got := fmt.Sprintf("quota=%s practitioners=%d/%d cases=%d unallocated=%d/%dd overdue=%d cover=%d weight=%s capacity=%s headroom=%s util=%d band=%s source=%s over=%d",
				st.Quota, st.Practitioners, st.AvailablePractitioners, st.Cases, st.Unallocated, st.OldestUnallocatedDays, st.OverdueCases, st.CasesNeedingCover,
				st.Weight, st.Capacity, st.Headroom, st.UtilisationPercent, st.Band, st.CapacitySource, st.OverCapacityPractitioners)
			if got != tc.want {
				t.Errorf("status\n got %s\nwant %s", got, tc.want)
			}
			if got := conditionsLine(st.Conditions); got != tc.conditions {
				t.Errorf("conditions\n got %s\nwant %s", got, tc.conditions)
			}
			if tc.message != "" && !strings.Contains(conditionMessage(st.Conditions, v1alpha1.ConditionNeedsCover), tc.message) {
				t.Errorf("NeedsCover says %q, want it to say %q", conditionMessage(st.Conditions, v1alpha1.ConditionNeedsCover), tc.message)
			}
			if st.ObservedGeneration != 3 {
				t.Errorf("observedGeneration %d, want 3", st.ObservedGeneration)
			}
			if want := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC); !next.Equal(want) {
				t.Errorf("next change %s, want the council's next midnight %s", next, want)
			}
		})
	}
}

func TestPractitionerStatus(t *testing.T) {
	earlier := metav1.NewTime(statusNow.Add(-72 * time.Hour))
	for _, tc := range []struct {
		name         string
		practitioner *builders.PractitionerWrapper
		cases        int
		quotas       []*builders.QuotaWrapper
		prev         v1alpha1.PractitionerStatus
		noTeam       bool
		zoneProblem  string
		want         string
		conditions   string
		overSince    *metav1.Time
		next         string
	}{
		{
			name:         "within capacity",
			practitioner: builders.MakePractitioner("jo", "north", "SocialWorker"),
			cases:        3,
			quotas:       []*builders.QuotaWrapper{walsallCaps()},
			want:         "quota=walsall available=true cases=3 weight=3 capacity=15 headroom=12 util=20 band=Green cover=0",
			conditions:   "NeedsCover=False/NoCoverNeeded OverCapacity=False/WithinCapacity Ready=True/Reconciled",
		},
		{
			name:         "part-time, with a reduction that ends: capacity 15 x 0.6 x 80%",
			practitioner: builders.MakePractitioner("jo", "north", "SocialWorker").FTE("0.6").Reduction(v1alpha1.ReductionPhasedReturn, 20, "2026-12-04"),
			cases:        3,
			quotas:       []*builders.QuotaWrapper{walsallCaps()},
			want:         "quota=walsall available=true cases=3 weight=3 capacity=7.2 headroom=4.2 util=41 band=Green cover=0",
			conditions:   "NeedsCover=False/NoCoverNeeded OverCapacity=False/WithinCapacity Ready=True/Reconciled",
			next:         "2026-12-05",
		},
		{
			name:         "over capacity from now",
			practitioner: builders.MakePractitioner("jo", "north", "SocialWorker"),
			cases:        16,
			quotas:       []*builders.QuotaWrapper{walsallCaps()},
			want:         "quota=walsall available=true cases=16 weight=16 capacity=15 headroom=-1 util=106 band=Red cover=0",
			conditions:   "NeedsCover=False/NoCoverNeeded OverCapacity=True/OverCapacity Ready=True/Reconciled",
			overSince:    &metav1.Time{Time: statusNow},
		},
		{
			name:         "over capacity since earlier: the first day is kept",
			practitioner: builders.MakePractitioner("jo", "north", "SocialWorker"),
			cases:        16,
			quotas:       []*builders.QuotaWrapper{walsallCaps()},
			prev:         v1alpha1.PractitionerStatus{OverCapacitySince: &earlier},
			want:         "quota=walsall available=true cases=16 weight=16 capacity=15 headroom=-1 util=106 band=Red cover=0",
			conditions:   "NeedsCover=False/NoCoverNeeded OverCapacity=True/OverCapacity Ready=True/Reconciled",
			overSince:    &earlier,
		},
		{
			name:         "back within capacity: no longer over since",
			practitioner: builders.MakePractitioner("jo", "north", "SocialWorker"),
			cases:        15,
			quotas:       []*builders.QuotaWrapper{walsallCaps()},
			prev:         v1alpha1.PractitionerStatus{OverCapacitySince: &earlier},
			want:         "quota=walsall available=true cases=15 weight=15 capacity=15 headroom=0 util=100 band=Amber cover=0",
			conditions:   "NeedsCover=False/NoCoverNeeded OverCapacity=False/WithinCapacity Ready=True/Reconciled",
		},
		{
			name:         "absent and holding cases: Away, the cases need cover, and it is not their breach",
			practitioner: builders.MakePractitioner("jo", "north", "SocialWorker").Absence(v1alpha1.AbsenceSickness, "2026-11-20", "2026-11-27"),
			cases:        2,
			quotas:       []*builders.QuotaWrapper{walsallCaps()},
			want:         "quota=walsall available=false cases=2 weight=2 capacity=0 headroom=-2 util=0 band=Away cover=2",
			conditions:   "NeedsCover=True/CasesNeedCover OverCapacity=False/Away Ready=True/Reconciled",
			next:         "2026-11-28",
		},
		{
			name:         "on leave holding nothing: Away, no cover needed",
			practitioner: builders.MakePractitioner("jo", "north", "SocialWorker").Unavailable(),
			quotas:       []*builders.QuotaWrapper{walsallCaps()},
			want:         "quota=walsall available=false cases=0 weight=0 capacity=0 headroom=0 util=0 band=Away cover=0",
			conditions:   "NeedsCover=False/NoCoverNeeded OverCapacity=False/Away Ready=True/Reconciled",
		},
		{
			name:         "a grade no quota caps: load only",
			practitioner: builders.MakePractitioner("jo", "north", "TeamManager"),
			cases:        2,
			quotas:       []*builders.QuotaWrapper{walsallCaps()},
			want:         "quota= available=true cases=2 weight=2 capacity= headroom= util=0 band= cover=0",
			conditions:   "NeedsCover=False/NoCoverNeeded OverCapacity=False/NoCap Ready=True/Reconciled",
		},
		{
			name:         "a team that does not exist stalls the practitioner",
			practitioner: builders.MakePractitioner("jo", "north", "SocialWorker"),
			quotas:       []*builders.QuotaWrapper{walsallCaps()},
			noTeam:       true,
			want:         "quota=walsall available=true cases=0 weight=0 capacity=15 headroom=15 util=0 band=Green cover=0",
			conditions:   "NeedsCover=False/NoCoverNeeded OverCapacity=False/WithinCapacity Ready=False/TeamNotFound Stalled=True/TeamNotFound",
		},
		{
			name:         "an unknown time zone stalls the practitioner",
			practitioner: builders.MakePractitioner("jo", "north", "SocialWorker"),
			cases:        1,
			quotas:       []*builders.QuotaWrapper{walsallCaps()},
			zoneProblem:  unknownZone,
			want:         "quota=walsall available=true cases=1 weight=1 capacity=15 headroom=14 util=6 band=Green cover=0",
			conditions:   "NeedsCover=False/NoCoverNeeded OverCapacity=False/WithinCapacity Ready=False/UnknownTimeZone Stalled=True/UnknownTimeZone",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr := policy.PractitionerFrom(tc.practitioner.Obj())
			var cases []policy.Case
			for i := range tc.cases {
				cases = append(cases, policy.CaseFrom(cin(fmt.Sprintf("c-%d", i), "2026-11-01").Lead(pr.Name).Obj(), policy.UTC))
			}
			holdings := policy.MembersOf([]policy.Practitioner{pr}, cases)[0].Holdings
			st, next := practitionerStatus(tc.prev, 2, practitionerInput{Practitioner: pr, Holdings: holdings, Policies: policiesOf(t, tc.quotas...),
				TeamExists: !tc.noTeam, Now: statusNow, Calendar: policy.UTC, ZoneProblem: tc.zoneProblem})
			got := fmt.Sprintf("quota=%s available=%t cases=%d weight=%s capacity=%s headroom=%s util=%d band=%s cover=%d",
				st.Quota, st.Available, st.Cases, st.Weight, st.Capacity, st.Headroom, st.UtilisationPercent, st.Band, st.CasesNeedingCover)
			if got != tc.want {
				t.Errorf("status\n got %s\nwant %s", got, tc.want)
			}
			if got := conditionsLine(st.Conditions); got != tc.conditions {
				t.Errorf("conditions\n got %s\nwant %s", got, tc.conditions)
			}
			switch {
			case tc.overSince == nil && st.OverCapacitySince != nil:
				t.Errorf("over capacity since %s, want never", st.OverCapacitySince)
			case tc.overSince != nil && (st.OverCapacitySince == nil || !st.OverCapacitySince.Equal(tc.overSince)):
				t.Errorf("over capacity since %v, want %s", st.OverCapacitySince, tc.overSince)
			}
			want := time.Time{}
			if tc.next != "" {
				want = policy.UTC.Start(policy.MustParseDay(tc.next))
			}
			if !next.Equal(want) {
				t.Errorf("next change %s, want %s", next, want)
			}
		})
	}
}

func TestCaseStatus(t *testing.T) {
	hour := time.Hour
	day := 24 * hour
	exception := func(practitioner string, approved, expires time.Time) v1alpha1.CaseException {
		return v1alpha1.CaseException{Practitioner: practitioner, ApprovedBy: "manager@walsall.example", Reason: "no one else has capacity this week",
			ApprovedAt: metav1.NewTime(approved), ExpiresAt: metav1.NewTime(expires)}
	}
	inForce := exception("jo", statusNow.Add(-2*day), statusNow.Add(5*day))
	approval := func(ex v1alpha1.CaseException) v1alpha1.ExceptionApproval {
		return v1alpha1.ExceptionApproval{Spec: v1alpha1.ExceptionApprovalSpec{Case: "c-1", CaseException: ex}}
	}
	team := builders.MakeTeam("north").Namespace("walsall").StatusQuota("walsall").Obj()
	// dueSoonest is the day after a child-in-need case opened on 2026-11-01 passes its 270 days.
	dueSoonest := time.Date(2027, 7, 30, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name        string
		c           *builders.CaseWrapper
		quotas      []*builders.QuotaWrapper
		noTeam      bool
		ledger      []v1alpha1.Reservation
		approvals   []v1alpha1.ExceptionApproval
		zoneProblem string
		want        string
		conditions  string
		// exception is who the exception in status names and until when; empty for none.
		exception      string
		deadlinePassed bool
		next           time.Time
	}{
		{
			name:       "allocated and weighed by the quota the team's status names",
			c:          cin("c-1", "2026-11-01").Type("ChildProtection").Lead("jo"),
			quotas:     []*builders.QuotaWrapper{walsallCaps()},
			want:       "weight=1.5 lead=jo allocatedSince=now unallocatedSince= dueBy= overdue=false",
			conditions: "Overdue=False/OnTime Ready=True/Reconciled",
		},
		{
			name:       "closed: weighs nothing",
			c:          cin("c-1", "2026-11-01").Lead("jo").ClosedOn("2026-11-20"),
			quotas:     []*builders.QuotaWrapper{walsallCaps()},
			want:       "weight=0 lead=jo allocatedSince=now unallocatedSince= dueBy= overdue=false",
			conditions: "Overdue=False/OnTime Ready=True/Reconciled",
		},
		{
			name:           "child protection unallocated since it opened: past a deadline of 0 days",
			c:              builders.MakeCase("c-1").Team("north").Type("ChildProtection").OpenedOn("2026-11-20"),
			quotas:         []*builders.QuotaWrapper{walsallCaps()},
			want:           "weight=1.5 lead= allocatedSince= unallocatedSince=2026-11-20 dueBy= overdue=true",
			conditions:     "Overdue=True/PastAllocationDeadline Ready=True/Reconciled",
			deadlinePassed: true,
		},
		{
			name:       "open 236 days: due by the 270-day timescale of the one quota",
			c:          cin("c-1", "2026-04-01").Lead("jo"),
			quotas:     []*builders.QuotaWrapper{walsallCaps()},
			want:       "weight=1 lead=jo allocatedSince=now unallocatedSince= dueBy=2026-12-27 overdue=false",
			conditions: "Overdue=False/OnTime Ready=True/Reconciled",
			next:       time.Date(2026, 12, 28, 0, 0, 0, 0, time.UTC),
		},
		{
			name:       "open 236 days under two quotas: overdue by the stricter 180 days",
			c:          cin("c-1", "2026-04-01").Lead("jo"),
			quotas:     []*builders.QuotaWrapper{walsallCaps(), manchesterTimescales()},
			want:       "weight=1 lead=jo allocatedSince=now unallocatedSince= dueBy=2026-09-28 overdue=true",
			conditions: "Overdue=True/PastTimescale Ready=True/Reconciled",
			next:       time.Date(2026, 12, 28, 0, 0, 0, 0, time.UTC), // when the other quota's timescale passes too
		},
		{
			name:       "an exception the ledger holds is in force, without its reason",
			c:          cin("c-1", "2026-11-01").Lead("jo"),
			quotas:     []*builders.QuotaWrapper{walsallCaps()},
			ledger:     []v1alpha1.Reservation{{Case: "c-1", Practitioner: "jo", Role: v1alpha1.RoleLead, Exception: &inForce}},
			want:       "weight=1 lead=jo allocatedSince=now unallocatedSince= dueBy=2027-07-29 overdue=false",
			conditions: "Overdue=False/OnTime Ready=True/Reconciled",
			exception:  "jo until 2026-11-28",
			next:       statusNow.Add(5 * day),
		},
		{
			name:       "an exception that has lapsed is cleared",
			c:          cin("c-1", "2026-11-01").Lead("jo").StatusLead("jo", statusNow.Add(-30*day)).StatusException(exception("jo", statusNow.Add(-30*day), statusNow.Add(-hour))),
			quotas:     []*builders.QuotaWrapper{walsallCaps()},
			want:       "weight=1 lead=jo allocatedSince=earlier unallocatedSince= dueBy=2027-07-29 overdue=false",
			conditions: "Overdue=False/OnTime Ready=True/Reconciled",
			next:       dueSoonest,
		},
		{
			name:       "an exception ends with the practitioner it took over the cap, once they give the case up",
			c:          cin("c-1", "2026-11-01").Lead("sam").StatusException(inForce),
			quotas:     []*builders.QuotaWrapper{walsallCaps()},
			want:       "weight=1 lead=sam allocatedSince=now unallocatedSince= dueBy=2027-07-29 overdue=false",
			conditions: "Overdue=False/OnTime Ready=True/Reconciled",
			next:       dueSoonest,
		},
		{
			name:       "restored from a backup: the approval given before it was created stands",
			c:          cin("c-1", "2026-11-01").Lead("jo").Generation(1).Created(statusNow.Add(-hour)),
			quotas:     []*builders.QuotaWrapper{walsallCaps()},
			approvals:  []v1alpha1.ExceptionApproval{approval(inForce)},
			want:       "weight=1 lead=jo allocatedSince=now unallocatedSince= dueBy=2027-07-29 overdue=false",
			conditions: "Overdue=False/OnTime Ready=True/Reconciled",
			exception:  "jo until 2026-11-28",
			next:       statusNow.Add(5 * day),
		},
		{
			name:       "restored, but changed since: admission decided it afresh, the old approval does not come back",
			c:          cin("c-1", "2026-11-01").Lead("jo").Generation(2).Created(statusNow.Add(-hour)),
			quotas:     []*builders.QuotaWrapper{walsallCaps()},
			approvals:  []v1alpha1.ExceptionApproval{approval(inForce)},
			want:       "weight=1 lead=jo allocatedSince=now unallocatedSince= dueBy=2027-07-29 overdue=false",
			conditions: "Overdue=False/OnTime Ready=True/Reconciled",
			next:       dueSoonest,
		},
		{
			name:       "restored, with an approval given after it was created: not its own",
			c:          cin("c-1", "2026-11-01").Lead("jo").Generation(1).Created(statusNow.Add(-3 * day)),
			quotas:     []*builders.QuotaWrapper{walsallCaps()},
			approvals:  []v1alpha1.ExceptionApproval{approval(inForce)},
			want:       "weight=1 lead=jo allocatedSince=now unallocatedSince= dueBy=2027-07-29 overdue=false",
			conditions: "Overdue=False/OnTime Ready=True/Reconciled",
			next:       dueSoonest,
		},
		{
			name:       "its team does not exist: stalled, weighed by default",
			c:          cin("c-1", "2026-11-01").Type("ChildProtection").Lead("jo"),
			noTeam:     true,
			want:       "weight=1 lead=jo allocatedSince=now unallocatedSince= dueBy= overdue=false",
			conditions: "Overdue=False/OnTime Ready=False/TeamNotFound Stalled=True/TeamNotFound",
		},
		{
			name:        "an unknown time zone stalls the case",
			c:           cin("c-1", "2026-11-01").Lead("jo"),
			quotas:      []*builders.QuotaWrapper{walsallCaps()},
			zoneProblem: unknownZone,
			want:        "weight=1 lead=jo allocatedSince=now unallocatedSince= dueBy=2027-07-29 overdue=false",
			conditions:  "Overdue=False/OnTime Ready=False/UnknownTimeZone Stalled=True/UnknownTimeZone",
			next:        dueSoonest,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := caseInput{Team: team, Policies: policiesOf(t, tc.quotas...), Ledger: tc.ledger, Approvals: tc.approvals,
				Now: statusNow, Calendar: policy.UTC, ZoneProblem: tc.zoneProblem}
			if tc.noTeam {
				in.Team = nil
			}
			c := tc.c.Obj()
			st, deadlinePassed, next := caseStatus(c, in)
			when := func(t *metav1.Time) string {
				switch {
				case t == nil:
					return ""
				case t.Time.Equal(statusNow):
					return "now"
				case t.Time.Before(statusNow) && c.Spec.AllocatedTo != "":
					return "earlier"
				}
				return policy.UTC.DayOf(t.Time).String()
			}
			got := fmt.Sprintf("weight=%s lead=%s allocatedSince=%s unallocatedSince=%s dueBy=%s overdue=%t",
				st.Weight, st.Lead, when(st.AllocatedSince), when(st.UnallocatedSince), st.DueBy, st.Overdue)
			if got != tc.want {
				t.Errorf("status\n got %s\nwant %s", got, tc.want)
			}
			if got := conditionsLine(st.Conditions); got != tc.conditions {
				t.Errorf("conditions\n got %s\nwant %s", got, tc.conditions)
			}
			gotException := ""
			if ex := st.Exception; ex != nil {
				gotException = fmt.Sprintf("%s until %s", ex.Practitioner, policy.UTC.DayOf(ex.ExpiresAt.Time))
				if ex.Reason != "" {
					t.Errorf("status shows the exception's reason %q: it is for approvers only", ex.Reason)
				}
			}
			if gotException != tc.exception {
				t.Errorf("exception %q, want %q", gotException, tc.exception)
			}
			if deadlinePassed != tc.deadlinePassed {
				t.Errorf("deadline just passed: %t, want %t", deadlinePassed, tc.deadlinePassed)
			}
			if !next.Equal(tc.next) {
				t.Errorf("next change %s, want %s", next, tc.next)
			}
		})
	}
}

func TestQuotaStatus(t *testing.T) {
	finding := func(name string) policy.Finding {
		return policy.Finding{Kind: "Practitioner", Name: name, Rule: "practitionerCaps.maxWeight", Message: name + " carries 16 of 15"}
	}
	var many []policy.Finding
	for i := 25; i > 0; i-- {
		many = append(many, finding(fmt.Sprintf("sw-%02d", i)))
	}
	shown := v1alpha1.CaseloadQuotaStatus{ObservedGeneration: 1, Teams: 2, Practitioners: 4, Totals: v1alpha1.QuotaTotals{Weight: "9", Capacity: "45", Headroom: "36"}, Violations: 1}
	for _, tc := range []struct {
		name       string
		quota      *builders.QuotaWrapper
		prev       v1alpha1.CaseloadQuotaStatus
		invalid    string
		teams      []string
		audits     map[string]TeamAudit
		want       string
		conditions string
		listed     []string
	}{
		{
			name:  "the figures of every team it selects, added up",
			quota: walsallCaps(),
			teams: []string{"south", "north"},
			audits: map[string]TeamAudit{
				"north": {Generation: 1, Practitioners: 2, Weight: policy.MustParseMilli("3"), Capped: true, Capacity: policy.MustParseMilli("30")},
				"south": {Generation: 1, Practitioners: 1, Weight: policy.MustParseMilli("16.5"), Capped: true, Capacity: policy.MustParseMilli("15"), Findings: []policy.Finding{finding("kim")}},
			},
			want:       "teams=2 practitioners=3 weight=19.5 capacity=45 headroom=25.5 violations=1",
			conditions: "PolicyViolated=True/ViolationsFound Ready=True/Reconciled",
			listed:     []string{"Practitioner/kim"},
		},
		{
			name:       "a quota of timescales alone: no capacity to total",
			quota:      manchesterTimescales(),
			teams:      []string{"north"},
			audits:     map[string]TeamAudit{"north": {Generation: 1, Practitioners: 2, Weight: policy.MustParseMilli("3")}},
			want:       "teams=1 practitioners=2 weight=3 capacity= headroom= violations=0",
			conditions: "PolicyViolated=False/NoViolations Ready=True/Reconciled",
		},
		{
			name:       "at most 20 violations listed, sorted; all of them counted",
			quota:      walsallCaps(),
			teams:      []string{"north"},
			audits:     map[string]TeamAudit{"north": {Generation: 1, Practitioners: 25, Weight: policy.MustParseMilli("400"), Capped: true, Capacity: policy.MustParseMilli("375"), Findings: many}},
			want:       "teams=1 practitioners=25 weight=400 capacity=375 headroom=-25 violations=25",
			conditions: "PolicyViolated=True/ViolationsFound Ready=True/Reconciled",
			listed: []string{"Practitioner/sw-01", "Practitioner/sw-02", "Practitioner/sw-03", "Practitioner/sw-04", "Practitioner/sw-05",
				"Practitioner/sw-06", "Practitioner/sw-07", "Practitioner/sw-08", "Practitioner/sw-09", "Practitioner/sw-10",
				"Practitioner/sw-11", "Practitioner/sw-12", "Practitioner/sw-13", "Practitioner/sw-14", "Practitioner/sw-15",
				"Practitioner/sw-16", "Practitioner/sw-17", "Practitioner/sw-18", "Practitioner/sw-19", "Practitioner/sw-20"},
		},
		{
			name:       "a team not audited yet: the figures shown are kept until it is",
			quota:      walsallCaps(),
			prev:       shown,
			teams:      []string{"north", "south", "east"},
			audits:     map[string]TeamAudit{"north": {Generation: 1, Practitioners: 2, Weight: policy.MustParseMilli("3"), Capped: true, Capacity: policy.MustParseMilli("30")}},
			want:       "teams=3 practitioners=4 weight=9 capacity=45 headroom=36 violations=1",
			conditions: "Ready=False/WaitingForTeamAudits Reconciling=True/WaitingForTeamAudits",
		},
		{
			name:  "an audit under the quota's previous spec counts as not audited",
			quota: walsallCaps().Generation(2),
			prev:  shown,
			teams: []string{"north"},
			audits: map[string]TeamAudit{
				"north": {Generation: 1, Practitioners: 2, Weight: policy.MustParseMilli("3"), Capped: true, Capacity: policy.MustParseMilli("30")},
			},
			want:       "teams=1 practitioners=4 weight=9 capacity=45 headroom=36 violations=1",
			conditions: "Ready=False/WaitingForTeamAudits Reconciling=True/WaitingForTeamAudits",
		},
		{
			name:       "a spec the engine cannot apply stalls the quota",
			quota:      walsallCaps(),
			invalid:    "spec.bands: amberPercent 110 is above redPercent 100",
			teams:      []string{"north", "south"},
			want:       "teams=2 practitioners=0 weight= capacity= headroom= violations=0",
			conditions: "Ready=False/InvalidPolicy Stalled=True/InvalidPolicy",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := tc.quota.Obj()
			q.Status = tc.prev
			st := quotaStatus(q, tc.invalid, tc.teams, tc.audits)
			got := fmt.Sprintf("teams=%d practitioners=%d weight=%s capacity=%s headroom=%s violations=%d",
				st.Teams, st.Practitioners, st.Totals.Weight, st.Totals.Capacity, st.Totals.Headroom, st.Violations)
			if got != tc.want {
				t.Errorf("status\n got %s\nwant %s", got, tc.want)
			}
			if got := conditionsLine(st.Conditions); got != tc.conditions {
				t.Errorf("conditions\n got %s\nwant %s", got, tc.conditions)
			}
			if tc.prev.Violations == 0 || tc.invalid != "" {
				var listed []string
				for _, v := range st.ViolationList {
					listed = append(listed, v.Kind+"/"+v.Name)
				}
				if strings.Join(listed, " ") != strings.Join(tc.listed, " ") {
					t.Errorf("violations listed\n got %v\nwant %v", listed, tc.listed)
				}
			}
			// Until every team is audited under this generation, the status is not of it yet.
			wantGeneration := q.Generation
			if strings.Contains(tc.conditions, ReasonWaitingForAudits) {
				wantGeneration = tc.prev.ObservedGeneration
			}
			if st.ObservedGeneration != wantGeneration {
				t.Errorf("observedGeneration %d, want %d", st.ObservedGeneration, wantGeneration)
			}
		})
	}
}

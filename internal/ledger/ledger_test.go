package ledger

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/policy"
)

var now = time.Date(2026, 11, 22, 16, 0, 0, 0, time.UTC)

func entry(id, practitioner, c string, admittedAgo time.Duration) v1alpha1.Reservation {
	return v1alpha1.Reservation{ID: id, Team: "north", Practitioner: practitioner, Case: c, Role: v1alpha1.RoleLead,
		CaseType: "ChildInNeed", Complexity: "Standard", Children: 1, Generation: 1,
		AdmittedAt: metav1.NewTime(now.Add(-admittedAgo)), ExpiresAt: metav1.NewTime(now.Add(-admittedAgo).Add(TTL))}
}

func ids(rs []v1alpha1.Reservation) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.ID+"/"+r.Practitioner)
	}
	return out
}

func TestReplaceAndRelease(t *testing.T) {
	current := []v1alpha1.Reservation{
		entry("other-case", "jo", "c-2", 0),
		entry("earlier-attempt", "sam", "c-3", 0), // sam again: replaced
		entry("lead-before", "jo", "c-3", 0),      // jo gives c-3 up: dropped
		entry("co-worker-stays", "ali", "c-3", 0), // ali keeps c-3: kept
	}
	added := []v1alpha1.Reservation{entry("this", "sam", "c-3", 0)}
	next := Replace(current, "c-3", map[string]bool{"sam": true, "ali": true}, added)
	if got, want := ids(next), []string{"other-case/jo", "co-worker-stays/ali", "this/sam"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Replace = %v, want %v", got, want)
	}
	if got, want := ids(Release(next, "c-3", map[string]bool{"sam": true})), []string{"other-case/jo", "co-worker-stays/ali"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Release = %v, want %v", got, want)
	}
}

func TestEntriesRecordWhatEveryQuotaNeeds(t *testing.T) {
	p := policy.MustFromSpec("walsall/points", v1alpha1.CaseloadQuotaSpec{Weights: v1alpha1.Weights{
		CaseTypes: map[string]v1alpha1.CaseWeight{"ChildProtection": "1.5"}, CoWorkerShare: "0.5",
	}})
	c := policy.Case{Name: "c-1042", Team: "north", Type: "ChildProtection", Complexity: "High", Children: 2, AllocatedTo: "jo", CoWorkers: []string{"ali"}, Generation: 3}
	rs := Entries("uid-1", c, []policy.Joining{{Name: "jo", Role: v1alpha1.RoleLead}, {Name: "ali", Role: v1alpha1.RoleCoWorker}}, p, nil, now)
	if len(rs) != 2 {
		t.Fatalf("want one entry per practitioner decided for, got %d", len(rs))
	}
	lead, co := rs[0], rs[1]
	if lead.ID != "uid-1" || lead.Team != "north" || lead.Case != "c-1042" || lead.CaseType != "ChildProtection" || lead.Complexity != "High" ||
		lead.Children != 2 || lead.Weight != "1.5" || lead.Generation != 3 {
		t.Errorf("lead entry = %+v", lead)
	}
	if co.Role != v1alpha1.RoleCoWorker || co.Weight != "0.75" {
		t.Errorf("co-worker entry = %+v, want role CoWorker weighing 0.75", co)
	}
	if !lead.AdmittedAt.Time.Equal(now) || !lead.ExpiresAt.Time.Equal(now.Add(TTL)) {
		t.Errorf("admitted %v, expires %v; want now and now + %v", lead.AdmittedAt, lead.ExpiresAt, TTL)
	}
}

// TestPrune: an entry goes when it expires, or as soon as the cache shows its Case at its
// generation, and seenThrough then names the newest of those Cases' resourceVersions; an
// exception stays until the Case's status records it.
func TestPrune(t *testing.T) {
	ex := &v1alpha1.CaseException{ApprovedAt: metav1.NewTime(now.Add(-time.Hour)), ExpiresAt: metav1.NewTime(now.Add(24 * time.Hour))}
	withException := func(r v1alpha1.Reservation) v1alpha1.Reservation { r.Exception = ex; return r }
	cases := map[string]*v1alpha1.Case{}
	seen := func(name string, gen int64, rv string, recorded bool) {
		c := &v1alpha1.Case{}
		c.Name, c.Generation, c.ResourceVersion = name, gen, rv
		if recorded {
			c.Status.Exception = ex.DeepCopy()
		}
		cases[name] = c
	}
	seen("seen", 1, "70", false)
	seen("seen-later", 1, "95", false)
	seen("older-generation", 0, "99", false)
	seen("opaque-version", 1, "not-a-counter", false)
	seen("exception-unrecorded", 1, "98", false)
	seen("exception-recorded", 1, "90", true)
	entries := []v1alpha1.Reservation{
		entry("unseen", "jo", "not-cached", time.Second),
		entry("expired", "jo", "never-came", TTL+time.Second),
		entry("seen", "jo", "seen", 0),
		entry("seen-later", "jo", "seen-later", time.Second),
		entry("older-generation", "jo", "older-generation", time.Minute),
		entry("opaque-version", "jo", "opaque-version", time.Minute),
		withException(entry("exception-unrecorded", "jo", "exception-unrecorded", TTL+time.Minute)),
		withException(entry("exception-recorded", "jo", "exception-recorded", time.Second)),
	}
	lookup := func(name string) *v1alpha1.Case { return cases[name] }
	got := Prune(v1alpha1.AllocationLedgerSpec{Reservations: entries, SeenThrough: "60"}, lookup, now)
	want := []string{"unseen/jo", "older-generation/jo", "opaque-version/jo", "exception-unrecorded/jo"}
	if !reflect.DeepEqual(ids(got.Reservations), want) {
		t.Errorf("Prune kept %v, want %v", ids(got.Reservations), want)
	}
	if got.SeenThrough != "95" {
		t.Errorf("seenThrough = %q, want 95, the newest Case whose sight dropped an entry", got.SeenThrough)
	}
	// The watermark never goes back, and nothing dropped leaves it as it was.
	if again := Prune(v1alpha1.AllocationLedgerSpec{Reservations: entries[:1], SeenThrough: "120"}, lookup, now); again.SeenThrough != "120" {
		t.Errorf("seenThrough = %q after a prune that dropped nothing, want 120 kept", again.SeenThrough)
	}
	if at := NextChange(got, now); !at.Equal(now.Add(Recheck)) {
		t.Errorf("NextChange = %v, want a look again after Recheck", at)
	}
	if at := NextChange(v1alpha1.AllocationLedgerSpec{Reservations: []v1alpha1.Reservation{entry("expiring", "jo", "x", TTL-time.Millisecond)}}, now); !at.Equal(now.Add(time.Millisecond)) {
		t.Errorf("NextChange = %v, want the expiry a millisecond from now", at)
	}
}

// TestQuietFrom: the operator leaves a ledger to admission until its newest entry is Recheck old.
func TestQuietFrom(t *testing.T) {
	entries := []v1alpha1.Reservation{entry("old", "jo", "a", time.Minute), entry("new", "jo", "b", 300*time.Millisecond)}
	if got, want := QuietFrom(entries), now.Add(Recheck-300*time.Millisecond); !got.Equal(want) {
		t.Errorf("QuietFrom = %v, want %v, Recheck after the newest entry", got, want)
	}
	if got := QuietFrom(nil); got.After(now) {
		t.Errorf("an empty ledger is quiet at once, not from %v", got)
	}
}

// TestAllowances: room is granted only with room to spare, for half of it; an allowance counts
// until its holder has used it and TTL more has passed, so an allowance left by a replica that
// stopped outlives every case it admitted.
func TestAllowances(t *testing.T) {
	for room, want := range map[int]int{0: 0, MinRoom - 1: 0, MinRoom: MinRoom / 2, 9: 4, 1000: MaxSlots, 40: 20} {
		if got := Slots(room); got != want {
			t.Errorf("Slots(%d) = %d, want %d", room, got, want)
		}
	}
	at := now.Add(400 * time.Millisecond)
	a := Grant("7", "replica-0/1a2b", policy.Joining{Name: "jo", Role: v1alpha1.RoleLead},
		policy.Case{Name: "c-1", Type: "ChildProtection", Complexity: "High", Children: 2}, 5, at)
	if !a.UsableUntil.Time.Equal(at.Add(Window).Truncate(time.Second)) || a.UsableUntil.Time.After(at.Add(Window)) {
		t.Errorf("usable until %v, want %v in whole seconds and never later", a.UsableUntil, at.Add(Window))
	}
	if !a.ExpiresAt.Time.Equal(a.UsableUntil.Add(TTL)) {
		t.Errorf("expires %v, want TTL after it stops being usable (%v)", a.ExpiresAt, a.UsableUntil.Add(TTL))
	}
	if s := Shape(a, "north"); s.Type != "ChildProtection" || s.Complexity != "High" || s.Children != 2 || s.Team != "north" || !s.Open() {
		t.Errorf("shape = %+v, want an open ChildProtection case of complexity High with 2 children in north", s)
	}

	used := a
	used.Slots = 0
	expired := a
	expired.ID, expired.ExpiresAt = "8", metav1.NewTime(now.Add(-time.Second))
	spec := v1alpha1.AllocationLedgerSpec{Allowances: []v1alpha1.Allowance{a, used, expired}}
	got := Prune(spec, func(string) *v1alpha1.Case { return nil }, now)
	if len(got.Allowances) != 1 || got.Allowances[0].ID != "7" || got.Allowances[0].Slots != 5 {
		t.Errorf("Prune kept %+v, want the unexpired allowance with slots left, untouched", got.Allowances)
	}
	if at := NextChange(got, now); !at.Equal(a.ExpiresAt.Time) {
		t.Errorf("NextChange = %v, want the allowance's expiry %v", at, a.ExpiresAt)
	}
	if at := NextChange(v1alpha1.AllocationLedgerSpec{}, now); !at.IsZero() {
		t.Errorf("NextChange of an empty ledger = %v, want none", at)
	}
}

// TestApplyIsReplaceInTurn: changes applied in one pass leave the entries that Replace, change
// after change, leaves, a case changed twice included.
func TestApplyIsReplaceInTurn(t *testing.T) {
	current := []v1alpha1.Reservation{
		entry("a", "jo", "c-1", 0), entry("b", "sam", "c-2", 0), entry("c", "ali", "c-3", 0), entry("d", "jo", "c-2", 0),
	}
	changes := []Change{
		{Case: "c-2", HoldersAfter: map[string]bool{"sam": true, "kim": true}, Added: []v1alpha1.Reservation{entry("e", "kim", "c-2", 0)}},
		{Case: "c-4", HoldersAfter: map[string]bool{"jo": true}, Added: []v1alpha1.Reservation{entry("f", "jo", "c-4", 0)}},
		{Case: "c-2", HoldersAfter: map[string]bool{"kim": true}, Added: []v1alpha1.Reservation{entry("g", "kim", "c-2", 0)}},
	}
	want := current
	for _, c := range changes {
		want = Replace(want, c.Case, c.HoldersAfter, c.Added)
	}
	got, wantIDs := ids(Apply(current, changes)), ids(want)
	slices.Sort(got)
	slices.Sort(wantIDs)
	if !reflect.DeepEqual(got, wantIDs) {
		t.Errorf("Apply = %v, want %v", got, wantIDs)
	}
	if !reflect.DeepEqual(wantIDs, []string{"a/jo", "c/ali", "f/jo", "g/kim"}) {
		t.Errorf("Replace in turn = %v, want c-2 held by kim alone, from the last change", wantIDs)
	}
}

// TestExplainSaysWhatIsRoomHeld: a refusal's figure that counts room held in advance says so,
// for the practitioner it is held for and for a team; other refusals are left as they are.
func TestExplainSaysWhatIsRoomHeld(t *testing.T) {
	d := policy.Decision{Denials: []policy.Finding{
		{Kind: "Practitioner", Name: "sam", Rule: "practitionerCaps.maxWeight", Message: "case s-3 would take sam to 13 of 12"},
		{Kind: "Practitioner", Name: "jo", Rule: "practitionerCaps.maxWeight", Message: "case s-3 would take jo to 4 of 3"},
		{Kind: "Practitioner", Name: "sam", Rule: "practitionerCaps.excludedCaseTypes", Message: "sam cannot lead it"},
		{Kind: "Team", Name: "north", Rule: "teamCap.maxWeight", Message: "would take team north to 31 of 30"},
	}}
	held := []v1alpha1.Allowance{
		{Practitioner: "sam", Slots: 10, ExpiresAt: metav1.NewTime(now.Add(time.Minute))},
		{Practitioner: "ali", Slots: 3, ExpiresAt: metav1.NewTime(now.Add(-time.Second))}, // expired: not counted
	}
	got := Explain(d, held, now).Denials
	if want := "case s-3 would take sam to 13 of 12 (the figure counts room for 10 more cases held in advance for allocations in flight, given back within 10 seconds if unused: try again then)"; got[0].Message != want {
		t.Errorf("sam: %q, want %q", got[0].Message, want)
	}
	if got[1].Message != d.Denials[1].Message || got[2].Message != d.Denials[2].Message {
		t.Errorf("a refusal with no room held in it changed: %q, %q", got[1].Message, got[2].Message)
	}
	if !strings.HasSuffix(got[3].Message, "room for 10 more cases held in advance for allocations in flight, given back within 10 seconds if unused: try again then)") {
		t.Errorf("team: %q", got[3].Message)
	}
	if again := Explain(d, nil, now); again.Denials[0].Message != d.Denials[0].Message {
		t.Errorf("with nothing held: %q", again.Denials[0].Message)
	}
}

package ledger

import (
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/policy"
)

var now = time.Date(2026, 11, 22, 16, 0, 0, 0, time.UTC)

func entry(id, practitioner, c string, generation int64) v1alpha1.Reservation {
	return v1alpha1.Reservation{ID: id, Team: "north", Practitioner: practitioner, Case: c, CaseUID: "uid-" + c, Role: v1alpha1.RoleLead,
		CaseType: "ChildInNeed", Complexity: "Standard", Children: 1, Generation: generation, AdmittedAt: metav1.NewTime(now)}
}

func ids(rs []v1alpha1.Reservation) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.ID+"/"+r.Practitioner)
	}
	return out
}

// TestAddNeverRemovesAnotherChange: an admitted change adds its entries and removes nothing, not
// the entries of an earlier version of the case (that change may be the one stored) nor of
// practitioners it takes off the case; only the same version for the same holder, sent again,
// takes the place of its earlier entry.
func TestAddNeverRemovesAnotherChange(t *testing.T) {
	current := []v1alpha1.Reservation{
		entry("other-case", "jo", "c-2", 1),
		entry("lead-before", "jo", "c-3", 1),
		entry("sent-before", "sam", "c-3", 2),
	}
	next := Add(current, []v1alpha1.Reservation{entry("sent-again", "sam", "c-3", 2), entry("raise", "ali", "c-3", 3)})
	if got, want := ids(next), []string{"other-case/jo", "lead-before/jo", "sent-again/sam", "raise/ali"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Add = %v, want %v", got, want)
	}
	if got := ids(current); len(got) != 3 {
		t.Errorf("Add changed the ledger it was given: %v", got)
	}
}

// TestASentAgainRequestKeepsItsApproval: the apiserver sends a request again when the Case
// changed under its write. Its exception, approved by the same person for the same reason, is
// the approval first given, so the operator records it once; another person's approval of the
// same change, or another reason, is a new one.
func TestASentAgainRequestKeepsItsApproval(t *testing.T) {
	approval := func(by, reason string, at time.Time) *v1alpha1.CaseException {
		return &v1alpha1.CaseException{Practitioner: "sam", ApprovedBy: by, Reason: reason, ApprovedAt: metav1.NewTime(at), ExpiresAt: metav1.NewTime(at.Add(14 * 24 * time.Hour))}
	}
	first, again := entry("first", "sam", "c-3", 2), entry("again", "sam", "c-3", 2)
	first.Exception = approval("lee", "continuity", now)
	for _, tc := range []struct {
		name      string
		exception *v1alpha1.CaseException
		want      time.Time
	}{
		{"sent again", approval("lee", "continuity", now.Add(2*time.Second)), now},
		{"approved by another", approval("kim", "continuity", now.Add(2*time.Second)), now.Add(2 * time.Second)},
		{"another reason", approval("lee", "the family asked", now.Add(2*time.Second)), now.Add(2 * time.Second)},
	} {
		again.Exception = tc.exception
		next := Add([]v1alpha1.Reservation{first}, []v1alpha1.Reservation{again})
		if len(next) != 1 || next[0].ID != "again" {
			t.Fatalf("%s: Add = %v, want the entry sent again alone", tc.name, ids(next))
		}
		if got := next[0].Exception; !got.ApprovedAt.Time.Equal(tc.want) || got.ApprovedBy != tc.exception.ApprovedBy || got.Reason != tc.exception.Reason {
			t.Errorf("%s: exception approved by %s at %s for %q, want by %s at %s", tc.name, got.ApprovedBy, got.ApprovedAt, got.Reason, tc.exception.ApprovedBy, tc.want)
		}
		if !tc.exception.ApprovedAt.Time.Equal(now.Add(2 * time.Second)) {
			t.Errorf("%s: Add changed the entry it was given", tc.name)
		}
	}
}

func TestEntriesRecordWhatEveryQuotaNeeds(t *testing.T) {
	p := policy.MustFromSpec("walsall/points", v1alpha1.CaseloadQuotaSpec{Weights: v1alpha1.Weights{
		CaseTypes: map[string]v1alpha1.CaseWeight{"ChildProtection": "1.5"}, CoWorkerShare: "0.5",
	}})
	c := policy.Case{Name: "c-1042", UID: "u-1042", Team: "north", Type: "ChildProtection", Complexity: "High", Children: 2, AllocatedTo: "jo", CoWorkers: []string{"ali"}, Generation: 3}
	rs := Entries("req-1", c, []policy.Subject{{Name: "jo", Role: v1alpha1.RoleLead}, {Name: "ali", Role: v1alpha1.RoleCoWorker}}, p, nil, now)
	if len(rs) != 2 {
		t.Fatalf("want one entry per practitioner decided for, got %d", len(rs))
	}
	lead, co := rs[0], rs[1]
	if lead.ID != "req-1" || lead.Team != "north" || lead.Case != "c-1042" || lead.CaseUID != "u-1042" || lead.CaseType != "ChildProtection" ||
		lead.Complexity != "High" || lead.Children != 2 || lead.Weight != "1.5" || lead.Generation != 3 || !lead.AdmittedAt.Time.Equal(now) {
		t.Errorf("lead entry = %+v", lead)
	}
	if co.Role != v1alpha1.RoleCoWorker || co.Weight != "0.75" {
		t.Errorf("co-worker entry = %+v, want role CoWorker weighing 0.75", co)
	}
}

// TestPrune: an entry goes as its verdict says, and seenThrough then names the newest
// resourceVersion among the sights that dropped one (never going back); a seen entry with an
// exception stays until the Case's status records it; departures go the same way.
func TestPrune(t *testing.T) {
	ex := &v1alpha1.CaseException{ApprovedAt: metav1.NewTime(now.Add(-time.Hour)), ExpiresAt: metav1.NewTime(now.Add(24 * time.Hour))}
	withException := func(r v1alpha1.Reservation) v1alpha1.Reservation { r.Exception = ex; return r }
	verdicts := map[string]Verdict{
		"seen": {Gone: true, Through: 70}, "seen-later": {Gone: true, Through: 95}, "never-stored": {Gone: true},
		"exception-unrecorded": {Gone: true, Through: 98}, "exception-recorded": {Gone: true, Through: 90}, "exception-never-stored": {Gone: true},
	}
	entries := []v1alpha1.Reservation{
		entry("in-flight", "jo", "a", 1),
		entry("seen", "jo", "b", 1),
		entry("seen-later", "jo", "c", 1),
		entry("never-stored", "jo", "d", 1),
		withException(entry("exception-unrecorded", "jo", "e", 1)),
		withException(entry("exception-recorded", "jo", "f", 1)),
		withException(entry("exception-never-stored", "jo", "g", 1)),
	}
	verdict := func(r v1alpha1.Reservation) Verdict { return verdicts[r.ID] }
	recorded := func(r v1alpha1.Reservation) bool { return r.ID == "exception-recorded" }
	departures := []v1alpha1.Departure{{Practitioner: "ali", UID: "u-ali", Generation: 4, Team: "south"}, {Practitioner: "sam", UID: "u-sam", Generation: 2, Team: "south"}}
	moved := func(d v1alpha1.Departure) Verdict {
		if d.Practitioner == "sam" {
			return Verdict{Gone: true, Through: 120}
		}
		return Keep
	}
	got := Prune(v1alpha1.AllocationLedgerSpec{Reservations: entries, SeenThrough: "60", Departures: departures, PractitionersSeenThrough: "100"}, verdict, recorded, moved)
	if want := []string{"in-flight/jo", "exception-unrecorded/jo"}; !reflect.DeepEqual(ids(got.Reservations), want) {
		t.Errorf("Prune kept %v, want %v", ids(got.Reservations), want)
	}
	if got.SeenThrough != "95" {
		t.Errorf("seenThrough = %q, want 95, the newest Case whose sight dropped an entry", got.SeenThrough)
	}
	if len(got.Departures) != 1 || got.Departures[0].Practitioner != "ali" || got.PractitionersSeenThrough != "120" {
		t.Errorf("departures %+v through %q, want ali's alone, through 120", got.Departures, got.PractitionersSeenThrough)
	}
	if again := Prune(v1alpha1.AllocationLedgerSpec{Reservations: entries[:1], SeenThrough: "120"}, verdict, recorded, moved); again.SeenThrough != "120" {
		t.Errorf("seenThrough = %q after a prune that dropped nothing, want 120 kept", again.SeenThrough)
	}
}

// TestShown: a cache shows an entry's change when it shows the same case (by uid) at the entry's
// generation or later; a case of the same name created again is another case.
func TestShown(t *testing.T) {
	r := entry("x", "jo", "c-1", 3)
	for _, tc := range []struct {
		name  string
		found bool
		uid   types.UID
		gen   int64
		rv    string
		want  Verdict
	}{
		{"not cached", false, "", 0, "", Keep},
		{"older generation", true, "uid-c-1", 2, "50", Keep},
		{"same generation", true, "uid-c-1", 3, "50", Verdict{Gone: true, Through: 50}},
		{"later generation", true, "uid-c-1", 4, "60", Verdict{Gone: true, Through: 60}},
		{"created again under the name", true, "another", 5, "70", Keep},
		{"a resourceVersion that is no counter", true, "uid-c-1", 3, "abc", Keep},
	} {
		if got := Shown(r, tc.found, tc.uid, tc.gen, tc.rv); got != tc.want {
			t.Errorf("%s: Shown = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// TestObservedTimesByItsOwnClock: an entry is old only TTL after this process first saw it,
// whatever the admitting replica wrote in admittedAt, and one no longer listed is forgotten.
func TestObservedTimesByItsOwnClock(t *testing.T) {
	var o Observed
	r := entry("x", "jo", "c-1", 1)
	r.AdmittedAt = metav1.NewTime(now.Add(-time.Hour)) // a clock an hour behind
	spec := v1alpha1.AllocationLedgerSpec{Reservations: []v1alpha1.Reservation{r}}
	o.See("ns/north", spec, now)
	if o.Old("ns/north", EntryKey(r), now.Add(TTL-time.Second)) {
		t.Error("an entry first seen less than TTL ago is old")
	}
	o.See("ns/north", spec, now.Add(time.Minute)) // seen again: still timed from the first sight
	if !o.Old("ns/north", EntryKey(r), now.Add(TTL)) {
		t.Error("an entry first seen TTL ago is not old")
	}
	o.See("ns/north", v1alpha1.AllocationLedgerSpec{}, now.Add(TTL))
	o.See("ns/north", spec, now.Add(TTL+time.Second))
	if o.Old("ns/north", EntryKey(r), now.Add(2*TTL)) {
		t.Error("an entry that left the ledger and came back is timed from its first sight before it left")
	}
	if o.Old("ns/south", EntryKey(r), now.Add(time.Hour)) {
		t.Error("an entry never seen in a ledger is old there")
	}
}

// TestQuietFrom: the operator leaves a ledger to admission until it has seen no new entry in it
// for Recheck, by its own clock.
func TestQuietFrom(t *testing.T) {
	var o Observed
	old, fresh := entry("old", "jo", "a", 1), entry("new", "jo", "b", 1)
	fresh.AdmittedAt = metav1.NewTime(now.Add(time.Hour)) // written by a clock an hour ahead: no matter
	o.See("ns/north", v1alpha1.AllocationLedgerSpec{Reservations: []v1alpha1.Reservation{old}}, now)
	o.See("ns/north", v1alpha1.AllocationLedgerSpec{Reservations: []v1alpha1.Reservation{old, fresh}}, now.Add(300*time.Millisecond))
	if got, want := o.QuietFrom("ns/north"), now.Add(300*time.Millisecond+Recheck); !got.Equal(want) {
		t.Errorf("QuietFrom = %v, want %v, Recheck after the newest entry was first seen", got, want)
	}
	if got := o.QuietFrom("ns/south"); got.After(now) {
		t.Errorf("a ledger with nothing seen is quiet at once, not from %v", got)
	}
}

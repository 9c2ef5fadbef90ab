package ledger

import (
	"reflect"
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

// TestPrune: an entry goes when it expires, or once the cache has shown its Case at its
// generation for SeenGrace; an exception stays until the Case's status records it.
func TestPrune(t *testing.T) {
	ex := &v1alpha1.CaseException{ApprovedAt: metav1.NewTime(now.Add(-time.Hour)), ExpiresAt: metav1.NewTime(now.Add(24 * time.Hour))}
	withException := func(r v1alpha1.Reservation) v1alpha1.Reservation { r.Exception = ex; return r }
	cases := map[string]*v1alpha1.Case{}
	seen := func(name string, gen int64, recorded bool) {
		c := &v1alpha1.Case{}
		c.Name, c.Generation = name, gen
		if recorded {
			c.Status.Exception = ex.DeepCopy()
		}
		cases[name] = c
	}
	seen("seen-long-ago", 1, false)
	seen("seen-just-now", 1, false)
	seen("older-generation", 0, false)
	seen("exception-unrecorded", 1, false)
	seen("exception-recorded", 1, true)
	entries := []v1alpha1.Reservation{
		entry("unseen", "jo", "not-cached", time.Second),
		entry("expired", "jo", "never-came", TTL+time.Second),
		entry("seen-long-ago", "jo", "seen-long-ago", SeenGrace),
		entry("seen-just-now", "jo", "seen-just-now", SeenGrace-time.Second),
		entry("older-generation", "jo", "older-generation", time.Minute),
		withException(entry("exception-unrecorded", "jo", "exception-unrecorded", TTL+time.Minute)),
		withException(entry("exception-recorded", "jo", "exception-recorded", SeenGrace)),
	}
	got := ids(Prune(entries, func(name string) *v1alpha1.Case { return cases[name] }, now))
	want := []string{"unseen/jo", "seen-just-now/jo", "older-generation/jo", "exception-unrecorded/jo"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Prune kept %v, want %v", got, want)
	}
	if at := NextChange(entries[3:4], now); !at.Equal(now.Add(time.Second)) {
		t.Errorf("NextChange = %v, want the end of seen-just-now's grace, a second from now", at)
	}
}

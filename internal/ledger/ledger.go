// Package ledger holds the rules of the allocation ledger, the AllocationLedger each team has: which entries an admitted allocation adds, which a change replaces, and when an
// entry may go. The admission webhook writes the ledger and the operator prunes it; both follow
// these pure functions, so they never disagree about what is in flight.
//
// Why a ledger: each webhook replica decides from its informer cache, which lags the apiserver.
// An allocation admitted a moment ago through one replica may not be in the other's cache yet,
// so both could admit the last room. Every admitted allocation is therefore written to the
// ledger with compare-and-swap before admission answers, and every decision counts the ledger's
// entries on top of its cache (policy.WithReservations).
package ledger

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/policy"
)

// TTL is how long an entry counts at most. It must outlast the time from admission to a cache
// showing the Case (normally well under a second, seconds under load or after a watch restart),
// since until then the entry is the only record of the allocation. An entry whose Case never
// came (its create failed after admission) holds its room no longer than this.
const TTL = 2 * time.Minute

// Recheck is how soon the operator looks again at a ledger whose entries no cache has shown yet,
// when nothing else happens to the ledger meanwhile.
const Recheck = time.Second

// MaxEntries is the size limit of the ledger in the CRD schema (spec.reservations MaxItems).
// More entries in flight than that in one council is more than two minutes of its allocations;
// admission refuses, with "try again", rather than lose one.
const MaxEntries = 2000

// Window is how long a replica admits against an allowance once granted. An allowance whose
// holder stopped counts for Window and TTL at most; one whose holder runs is written away when
// its slots are used or Window ends.
const Window = 10 * time.Second

// MaxSlots is the most cases one allowance holds room for, and MinRoom the room (in cases of the
// allowance's shape) a practitioner must have for one to be granted at all: it takes half of the
// room there is, so near a cap nothing is held in advance and every allocation is decided on its
// own against the ledger.
const (
	MaxSlots = 32
	MinRoom  = 4
)

// MaxAllowances is the size limit of spec.allowances in the CRD schema. Admission grants no more
// once a ledger holds that many; allocations are then decided one batch at a time, as always.
const MaxAllowances = 500

// Slots is how many cases an allowance holds room for when the practitioner has room for more
// cases of its shape: half of it, at most MaxSlots, and none when the room is under MinRoom.
func Slots(room int) int {
	if room < MinRoom {
		return 0
	}
	return min(room/2, MaxSlots)
}

// Grant builds an allowance for holder: room for slots more cases shaped like c held by the
// practitioner in the role, usable for Window from now and counted by everyone until TTL after.
// Times are whole seconds, as the ledger stores them, so the holder stops using the allowance
// no later than the time every replica reads.
func Grant(id, holder string, j policy.Joining, c policy.Case, slots int, now time.Time) v1alpha1.Allowance {
	until := now.Add(Window).Truncate(time.Second)
	return v1alpha1.Allowance{
		ID:           id,
		Holder:       holder,
		Practitioner: j.Name,
		Role:         j.Role,
		CaseType:     c.Type,
		Complexity:   v1alpha1.Complexity(c.Complexity),
		Children:     int32(c.Children),
		Slots:        int32(slots),
		UsableUntil:  metav1.NewTime(until),
		ExpiresAt:    metav1.NewTime(until.Add(TTL)),
	}
}

// Shape is the case an allowance measures its room in, on team.
func Shape(a v1alpha1.Allowance, team string) policy.Case {
	return policy.Case{Name: "allowance:" + a.Holder + ":" + a.ID, Type: a.CaseType, Complexity: string(a.Complexity), Children: int(a.Children), Team: team}
}

// Entries builds the ledger entries of an admitted allocation: one per practitioner decided for
// (a raised holder too, so the ledger records the case as it now weighs), with the facts every
// quota needs to weigh the case, the generation the change gives the Case, and its weight under
// the policy that weighs the team's cases (policy.Weigher).
func Entries(id string, c policy.Case, joiners []policy.Joining, weigher *policy.Policy, exception *v1alpha1.CaseException, now time.Time) []v1alpha1.Reservation {
	out := make([]v1alpha1.Reservation, 0, len(joiners))
	for _, j := range joiners {
		r := v1alpha1.Reservation{
			ID:           id,
			Team:         c.Team,
			Practitioner: j.Name,
			Case:         c.Name,
			Role:         j.Role,
			CaseType:     c.Type,
			Complexity:   v1alpha1.Complexity(c.Complexity),
			Children:     int32(c.Children),
			Generation:   c.Generation,
			AdmittedAt:   metav1.NewTime(now),
			ExpiresAt:    metav1.NewTime(now.Add(TTL)),
			Exception:    exception,
		}
		if weigher != nil {
			r.Weight = v1alpha1.Figure(weigher.Carried(c, j.Role).String())
		}
		out = append(out, r)
	}
	return out
}

// Replace is the ledger after an admitted change of case c: the entries of c for practitioners
// who no longer hold it (or whom this change reserves again) are replaced by added.
// holdersAfter are the names holding c after the change.
func Replace(current []v1alpha1.Reservation, c string, holdersAfter map[string]bool, added []v1alpha1.Reservation) []v1alpha1.Reservation {
	replaced := map[string]bool{}
	for _, r := range added {
		replaced[r.Practitioner] = true
	}
	next := make([]v1alpha1.Reservation, 0, len(current)+len(added))
	for _, r := range current {
		if r.Case == c && (!holdersAfter[r.Practitioner] || replaced[r.Practitioner]) {
			continue
		}
		next = append(next, r)
	}
	return append(next, added...)
}

// A Change is an admitted change of one case, as Replace takes it.
type Change struct {
	Case         string
	HoldersAfter map[string]bool
	Added        []v1alpha1.Reservation
}

// Apply is the ledger after each change in turn, as Replace would leave it, in one pass over
// current however many changes there are: the entries of the cases they change are set apart,
// changed, and put at the end.
func Apply(current []v1alpha1.Reservation, changes []Change) []v1alpha1.Reservation {
	if len(changes) == 0 {
		return current
	}
	buckets := map[string][]v1alpha1.Reservation{}
	var order []string
	for _, c := range changes {
		if _, ok := buckets[c.Case]; !ok {
			buckets[c.Case] = []v1alpha1.Reservation{}
			order = append(order, c.Case)
		}
	}
	out := make([]v1alpha1.Reservation, 0, len(current)+len(changes))
	for _, r := range current {
		if b, changed := buckets[r.Case]; changed {
			buckets[r.Case] = append(b, r)
			continue
		}
		out = append(out, r)
	}
	for _, c := range changes {
		buckets[c.Case] = Replace(buckets[c.Case], c.Case, c.HoldersAfter, c.Added)
	}
	for _, name := range order {
		out = append(out, buckets[name]...)
	}
	return out
}

// Release is the ledger without the entries of case c for the practitioners who gave it up.
// An exception goes with them: it admitted that practitioner above the cap, and they no longer
// hold the case.
func Release(current []v1alpha1.Reservation, c string, gone map[string]bool) []v1alpha1.Reservation {
	next := make([]v1alpha1.Reservation, 0, len(current))
	for _, r := range current {
		if r.Case == c && gone[r.Practitioner] {
			continue
		}
		next = append(next, r)
	}
	return next
}

// Cases tells Prune what a cache shows of a case: the Case, or nil when it shows none (not yet
// created, closed, or gone).
type Cases func(name string) *v1alpha1.Case

// Prune is the ledger at now without the entries that no longer need to count:
//   - an entry whose Case the cache shows at its generation or later: the cache counts it now.
//     seenThrough then moves on to that Case's resourceVersion, and every other replica counts
//     the ledger only once its own cache has come as far (snapshot.CaseProgress), so no cache
//     misses both the entry and the Case;
//   - an expired entry;
//   - an expired allowance: its holder stopped without writing it away, and every case it
//     admitted has been stored and counted for TTL since (see Grant).
//
// An entry carrying an exception stays, expired or not, until the Case's status has recorded the
// exception (or the exception itself lapses, or the case is gone), so an approval is never lost
// while the operator was away.
func Prune(spec v1alpha1.AllocationLedgerSpec, cases Cases, now time.Time) v1alpha1.AllocationLedgerSpec {
	out := v1alpha1.AllocationLedgerSpec{SeenThrough: spec.SeenThrough}
	through := ParseVersion(spec.SeenThrough)
	for _, r := range spec.Reservations {
		c := cases(r.Case)
		if ex := r.Exception; ex != nil && ex.ExpiresAt.Time.After(now) && c != nil &&
			(c.Status.Exception == nil || !c.Status.Exception.ApprovedAt.Equal(&ex.ApprovedAt)) {
			out.Reservations = append(out.Reservations, r)
			continue
		}
		if !r.ExpiresAt.Time.After(now) {
			continue
		}
		if rv := seen(c, r); rv > 0 {
			through = max(through, rv)
			continue
		}
		out.Reservations = append(out.Reservations, r)
	}
	if through > 0 {
		out.SeenThrough = strconv.FormatUint(through, 10)
	}
	for _, a := range spec.Allowances {
		if a.Slots > 0 && a.ExpiresAt.Time.After(now) {
			out.Allowances = append(out.Allowances, a)
		}
	}
	return out
}

// seen is the resourceVersion of c when it shows the case of r at r's generation or later; 0
// when it does not, or when its resourceVersion is not one a watermark can be made of.
func seen(c *v1alpha1.Case, r v1alpha1.Reservation) uint64 {
	if c == nil || r.Generation == 0 || c.Generation < r.Generation {
		return 0
	}
	return ParseVersion(c.ResourceVersion)
}

// ParseVersion reads a resourceVersion as the counter an etcd-backed apiserver issues: opaque to
// clients, but increasing, and delivered in order by one watch. 0 when it is not one.
func ParseVersion(rv string) uint64 {
	v, err := strconv.ParseUint(rv, 10, 64)
	if err != nil {
		return 0
	}
	return v
}

// QuietFrom is when the ledger will have had no new entry for Recheck. Until then admission is
// writing it, and prunes it with every write: the operator leaves it alone rather than race
// admission's compare-and-swap.
func QuietFrom(entries []v1alpha1.Reservation) time.Time {
	var newest time.Time
	for _, r := range entries {
		if r.AdmittedAt.After(newest) {
			newest = r.AdmittedAt.Time
		}
	}
	return newest.Add(Recheck)
}

// NextChange is when the operator should next look at the ledger with no other event, after
// now: Recheck from now while an entry waits for a cache to show its Case, or the earliest
// expiry of an entry or allowance. Zero when the ledger is empty.
func NextChange(spec v1alpha1.AllocationLedgerSpec, now time.Time) time.Time {
	var at time.Time
	earliest := func(t time.Time) {
		if t.After(now) && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	if len(spec.Reservations) > 0 {
		earliest(now.Add(Recheck))
	}
	for _, r := range spec.Reservations {
		earliest(r.ExpiresAt.Time)
	}
	for _, a := range spec.Allowances {
		earliest(a.ExpiresAt.Time)
	}
	return at
}

// Explain adds to each denial of d about a practitioner that allowances hold room for (or, for
// a team's finding, about a team they hold room in) how much of the figure is room held in
// advance rather than cases: a manager reading "would take jo to 13 of 12" while jo holds 2
// learns that the rest is held for allocations in flight, and given back soon if unused.
func Explain(d policy.Decision, allowances []v1alpha1.Allowance, now time.Time) policy.Decision {
	held := map[string]int32{}
	var all int32
	for _, a := range allowances {
		if a.ExpiresAt.Time.After(now) {
			held[a.Practitioner] += a.Slots
			all += a.Slots
		}
	}
	if all == 0 {
		return d
	}
	note := func(n int32) string {
		return fmt.Sprintf(" (the figure counts room for %d more cases held in advance for allocations in flight, "+
			"given back within %d seconds if unused: try again then)", n, int(Window.Seconds()))
	}
	explain := func(fs []policy.Finding) []policy.Finding {
		out := make([]policy.Finding, len(fs))
		for i, f := range fs {
			load := strings.HasSuffix(f.Rule, "maxWeight") || strings.HasSuffix(f.Rule, "maxCases")
			switch {
			case f.Kind == "Practitioner" && load && held[f.Name] > 0:
				f.Message += note(held[f.Name])
			case f.Kind == "Team":
				f.Message += note(all)
			}
			out[i] = f
		}
		return out
	}
	d.Denials = explain(d.Denials)
	return d
}

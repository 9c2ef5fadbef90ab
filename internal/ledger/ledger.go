// Package ledger holds the rules of the allocation ledger, the AllocationLedger each team has:
// which entries an admitted allocation adds, when an entry may go, and how long one counts. The
// admission webhook writes the ledger and the operator prunes it; both follow these pure
// functions, so they never disagree about what is in flight.
//
// Why a ledger: each webhook replica decides from its informer cache, which lags the apiserver.
// An allocation admitted a moment ago through one replica may not be in the other's cache yet,
// so both could admit the last room. Every admitted allocation is therefore written to the
// ledger with compare-and-swap before admission answers, and every decision counts the ledger's
// entries on top of its cache (policy.WithReservations). docs/admission.md states the invariant
// this keeps and argues it for every operation.
package ledger

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/policy"
)

// TTL is how long, by a replica's own clock from when it first saw an entry, an entry may
// still stand for a request in progress. It must outlast any admitted request: the apiserver
// ends a write that takes longer than its request timeout (60 seconds by default), so an entry
// that old whose change the apiserver does not hold was never stored and never will be. Such an
// entry goes only after a live read has confirmed that (Sight); one whose change is stored goes as
// seen.
const TTL = 2 * time.Minute

// Recheck is how soon the operator looks again at a ledger whose entries no cache has shown yet,
// when nothing else happens to the ledger meanwhile.
const Recheck = time.Second

// MaxEntries is the size limit of the ledger in the CRD schema (spec.reservations MaxItems).
// More entries in flight than that in one council is more than two minutes of its allocations;
// admission answers "try again" rather than lose one.
const MaxEntries = 2000

// MaxDepartures is the size limit of spec.departures in the CRD schema.
const MaxDepartures = 500

// Finalizer keeps a ledger that still holds entries from being deleted: its entries are the only
// record of allocations some cache may not show. The operator removes it once a ledger being
// deleted holds nothing in flight.
const Finalizer = "caseload.dev/allocations-in-flight"

// Entries builds the ledger entries of an admitted allocation: one per practitioner decided for
// (a raised holder too, so the ledger records the case as it now weighs), with the facts every
// quota needs to weigh the case, the uid and the generation the change gives the Case, and its
// weight under the policy that weighs the team's cases (policy.WeighingPolicy).
func Entries(id string, c policy.Case, subjects []policy.Subject, weighing *policy.Policy, exception *v1alpha1.CaseException, now time.Time) []v1alpha1.Reservation {
	out := make([]v1alpha1.Reservation, 0, len(subjects))
	for _, j := range subjects {
		r := v1alpha1.Reservation{
			ID:           id,
			Team:         c.Team,
			Practitioner: j.Name,
			Case:         c.Name,
			CaseUID:      c.UID,
			Role:         j.Role,
			CaseType:     c.Type,
			Complexity:   v1alpha1.Complexity(c.Complexity),
			Children:     int32(c.Children),
			Generation:   c.Generation,
			AdmittedAt:   metav1.NewTime(now),
			Exception:    exception,
		}
		if weighing != nil {
			r.Weight = v1alpha1.Figure(weighing.Carried(c, j.Role).String())
		}
		out = append(out, r)
	}
	return out
}

// Add is the ledger's entries with added appended. Nothing is removed: an entry stands for a
// change that may yet be stored until a cache shows otherwise, whatever is admitted after it.
// The only entry added ones replace is one for the same version of the same case and holder
// (a request the apiserver sent again, as it does when the Case changed under the write): it
// records the same change. Where both carry an exception approved by the same person for the
// same reason, it is the same approval, and keeps the moment it was first given: the operator
// may have recorded it already, under a name made from that moment, and records it once.
func Add(current, added []v1alpha1.Reservation) []v1alpha1.Reservation {
	same := func(a, b v1alpha1.Reservation) bool {
		return a.CaseUID == b.CaseUID && a.Generation == b.Generation && a.Practitioner == b.Practitioner && a.Role == b.Role
	}
	added = slices.Clone(added)
	next := make([]v1alpha1.Reservation, 0, len(current)+len(added))
	for _, r := range current {
		replaced := false
		for i, a := range added {
			if !same(r, a) {
				continue
			}
			replaced = true
			if r.Exception != nil && a.Exception != nil && r.Exception.ApprovedBy == a.Exception.ApprovedBy &&
				r.Exception.Reason == a.Exception.Reason && r.Exception.Practitioner == a.Exception.Practitioner {
				added[i].Exception = r.Exception
			}
		}
		if !replaced {
			next = append(next, r)
		}
	}
	return append(next, added...)
}

// A Verdict is what a replica knows of an entry's change: still possibly in flight (Keep), or
// no longer needing the ledger because a cache shows it stored or deleted at resourceVersion
// Through (then seenThrough moves on to Through), or because it was never stored and its request
// has certainly ended (Through 0).
type Verdict struct {
	Gone    bool
	Through uint64
}

// Keep is the verdict on an entry that must stay.
var Keep = Verdict{}

// Prune is the ledger without the entries and departures that no longer need to count, as
// entry and departure judge them. seenThrough and practitionersSeenThrough move on to the
// highest resourceVersion that dropped one, and every replica counts the ledger only once its own
// cache has come as far, so no cache misses both an entry and its Case.
//
// An entry carrying an exception stays until the Case's status has recorded the exception (or the
// exception itself lapses, or the case is gone), so an approval is never lost while the operator
// was away: recorded(r) says whether it has.
func Prune(spec v1alpha1.AllocationLedgerSpec, entry func(v1alpha1.Reservation) Verdict, recorded func(v1alpha1.Reservation) bool,
	departure func(v1alpha1.Departure) Verdict) v1alpha1.AllocationLedgerSpec {
	out := v1alpha1.AllocationLedgerSpec{SeenThrough: spec.SeenThrough, PractitionersSeenThrough: spec.PractitionersSeenThrough}
	through := ParseVersion(spec.SeenThrough)
	for _, r := range spec.Reservations {
		v := entry(r)
		if !v.Gone || (r.Exception != nil && v.Through > 0 && !recorded(r)) {
			out.Reservations = append(out.Reservations, r)
			continue
		}
		through = max(through, v.Through)
	}
	if through > 0 {
		out.SeenThrough = FormatVersion(through)
	}
	pthrough := ParseVersion(spec.PractitionersSeenThrough)
	for _, d := range spec.Departures {
		v := departure(d)
		if !v.Gone {
			out.Departures = append(out.Departures, d)
			continue
		}
		pthrough = max(pthrough, v.Through)
	}
	if pthrough > 0 {
		out.PractitionersSeenThrough = FormatVersion(pthrough)
	}
	return out
}

// Shown is the verdict on entry r of a cache that shows its Case with uid at generation and
// resourceVersion rv (found false when it shows none): gone, through rv, when the cache shows that
// case at r's generation or later.
func Shown(r v1alpha1.Reservation, found bool, uid types.UID, generation int64, rv string) Verdict {
	if found && string(uid) == r.CaseUID && generation >= r.Generation {
		if v := ParseVersion(rv); v > 0 {
			return Verdict{Gone: true, Through: v}
		}
	}
	return Keep
}

// Moved is the verdict on departure d of a cache that shows its Practitioner with uid at
// generation and resourceVersion rv (found false when it shows none): gone, through rv, once the
// cache shows the move stored.
func Moved(d v1alpha1.Departure, found bool, uid types.UID, generation int64, rv string) Verdict {
	if found && string(uid) == d.UID && generation >= d.Generation {
		if v := ParseVersion(rv); v > 0 {
			return Verdict{Gone: true, Through: v}
		}
	}
	return Keep
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

// FormatVersion writes a resourceVersion counter as the apiserver does.
func FormatVersion(v uint64) string { return strconv.FormatUint(v, 10) }

// Empty reports whether a ledger spec holds nothing in flight.
func Empty(spec v1alpha1.AllocationLedgerSpec) bool {
	return len(spec.Reservations) == 0 && len(spec.Departures) == 0
}

// Observed times entries and departures by this process's own clock: when it first saw each,
// so that "older than TTL" never compares clocks of two machines (as leader election times a
// lease from when it saw the lease change, not from the time written in it). The zero value is
// ready to use.
type Observed struct {
	mu    sync.Mutex
	first map[string]map[string]time.Time
}

// EntryKey and DepartureKey name what Observed times.
func EntryKey(r v1alpha1.Reservation) string {
	return fmt.Sprintf("r/%s/%d/%s/%s/%s", r.CaseUID, r.Generation, r.Practitioner, r.Role, r.ID)
}

func DepartureKey(d v1alpha1.Departure) string {
	return fmt.Sprintf("d/%s/%d/%s", d.UID, d.Generation, d.ID)
}

// See records now as when what spec holds was first seen in ledger (namespace/name), for what
// was not seen before, and forgets what it no longer holds.
func (o *Observed) See(ledger string, spec v1alpha1.AllocationLedgerSpec, now time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.first == nil {
		o.first = map[string]map[string]time.Time{}
	}
	was := o.first[ledger]
	next := make(map[string]time.Time, len(spec.Reservations)+len(spec.Departures))
	keep := func(k string) {
		if at, ok := was[k]; ok {
			next[k] = at
		} else {
			next[k] = now
		}
	}
	for _, r := range spec.Reservations {
		keep(EntryKey(r))
	}
	for _, d := range spec.Departures {
		keep(DepartureKey(d))
	}
	o.first[ledger] = next
}

// QuietFrom is when ledger will have shown no entry new to this process for Recheck: until then
// admission is writing it, and prunes it with every write, so the operator leaves it alone rather
// than race admission's compare-and-swap.
func (o *Observed) QuietFrom(ledger string) time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	var newest time.Time
	for _, at := range o.first[ledger] {
		if at.After(newest) {
			newest = at
		}
	}
	return newest.Add(Recheck)
}

// Old reports whether what key names in ledger was first seen here at least TTL before now: its
// request, if it has not stored the change, never will. What was not seen before is not old.
func (o *Observed) Old(ledger, key string, now time.Time) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	at, ok := o.first[ledger][key]
	return ok && now.Sub(at) >= TTL
}

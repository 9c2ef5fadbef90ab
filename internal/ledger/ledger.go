// Package ledger holds the rules of the allocation ledger, the AllocationLedger each council's
// namespace has: which entries an admitted allocation adds, which a change replaces, and when an
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
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/policy"
)

// TTL is how long an entry counts at most. It must outlast the time from admission to every
// cache showing the Case (normally well under a second, seconds under load or after a watch
// restart), since until then the entry is the only record of the allocation. An entry whose
// Case never came (its create failed after admission) holds its room no longer than this.
const TTL = 2 * time.Minute

// SeenGrace is how long an entry is kept after the cache of the replica that prunes it shows
// its Case at the entry's generation: long enough for every other replica's cache to show it
// too, so that a burst of allocations into one council leaves a short ledger behind it.
const SeenGrace = 2 * time.Second

// MaxEntries is the size limit of the ledger in the CRD schema (spec.reservations MaxItems).
// More entries in flight than that in one council is more than two minutes of its allocations;
// admission refuses, with "try again", rather than lose one.
const MaxEntries = 2000

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
//   - an entry whose Case the cache has shown at its generation or later for SeenGrace (every
//     cache shows it by then, and the cache counts it);
//   - an expired entry.
//
// An entry carrying an exception stays, expired or not, until the Case's status has recorded the
// exception (or the exception itself lapses, or the case is gone), so an approval is never lost
// while the operator was away.
func Prune(entries []v1alpha1.Reservation, cases Cases, now time.Time) []v1alpha1.Reservation {
	var out []v1alpha1.Reservation
	for _, r := range entries {
		young := now.Before(r.AdmittedAt.Add(SeenGrace))
		if young && r.ExpiresAt.Time.After(now) {
			out = append(out, r) // within its grace: kept, with no need to look the case up
			continue
		}
		c := cases(r.Case)
		if ex := r.Exception; ex != nil && ex.ExpiresAt.Time.After(now) && c != nil &&
			(c.Status.Exception == nil || !c.Status.Exception.ApprovedAt.Equal(&ex.ApprovedAt)) {
			out = append(out, r)
			continue
		}
		if !r.ExpiresAt.Time.After(now) {
			continue
		}
		if c != nil && r.Generation > 0 && c.Generation >= r.Generation {
			continue // the caches have had SeenGrace to show it
		}
		out = append(out, r)
	}
	return out
}

// NextChange is when Prune would next drop an entry with no other event, after now: the
// earliest expiry, or the end of an entry's SeenGrace. Zero when the ledger is empty.
func NextChange(entries []v1alpha1.Reservation, now time.Time) time.Time {
	var at time.Time
	for _, r := range entries {
		for _, t := range []time.Time{r.ExpiresAt.Time, r.AdmittedAt.Add(SeenGrace)} {
			if t.After(now) && (at.IsZero() || t.Before(at)) {
				at = t
			}
		}
	}
	return at
}

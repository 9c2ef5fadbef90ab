package v1alpha1

import (
	"math/rand/v2"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	caseloadv1alpha1 "caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/policy"
)

// The allocation ledger lives in Team.status.reservations. The informer caches that admission
// reads lag the apiserver, so two webhook replicas deciding at the same moment would each see
// the other's allocation missing. Each admitted allocation is therefore written to the Team's
// ledger with compare-and-swap (the Team's resourceVersion) before the webhook answers: of two
// racing decisions, only the first write lands; the other re-reads the Team, now counts the
// first reservation, and decides again.

// ReservationTTL is how long a reservation counts. It must outlast the time from admission to
// every cache showing the Case (normally well under a second, seconds under load or after a
// watch restart), since until then the reservation is the only record of the allocation. It
// should not be much longer: when admission lets a Case through but the create then fails
// (another webhook refuses it, etcd times out), the reservation holds capacity that nobody
// uses until it expires. Two minutes covers a watch re-list on a busy apiserver with a wide
// margin, and frees phantom capacity before a manager retrying by hand would notice.
const ReservationTTL = 2 * time.Minute

// MaxReservations is the size limit of the ledger in the CRD schema (status.reservations
// MaxItems). Unexpired entries beyond it mean more allocations in flight for one team than a
// council makes in two minutes; admission refuses rather than lose one.
const MaxReservations = 500

// ledgerBudget bounds the compare-and-swap retries of one decision, inside the webhook's
// timeoutSeconds (15) with room for the apiserver's own overhead.
const ledgerBudget = 10 * time.Second

// conflictBackoff is a short random pause before deciding again after a lost race, so that
// racing replicas do not collide again in lockstep.
func conflictBackoff(attempt int) time.Duration {
	ceiling := time.Duration(min(attempt, 8)) * 10 * time.Millisecond
	return time.Duration(rand.Int64N(int64(ceiling))) + time.Millisecond
}

// Reservations builds the ledger entries of an admitted allocation: one per joiner (a raised
// holder too, so the ledger records the case as it now weighs), with the facts every quota needs
// to weigh the case, the generation the change gives the Case, and its weight under the policy
// that weighs the team's cases (policy.Weigher).
func Reservations(id string, c policy.Case, joiners []policy.Joining, weigher *policy.Policy, exception *caseloadv1alpha1.CaseException, now time.Time) []caseloadv1alpha1.Reservation {
	out := make([]caseloadv1alpha1.Reservation, 0, len(joiners))
	for _, j := range joiners {
		r := caseloadv1alpha1.Reservation{
			ID:           id,
			Practitioner: j.Name,
			Case:         c.Name,
			Role:         j.Role,
			CaseType:     c.Type,
			Complexity:   caseloadv1alpha1.Complexity(c.Complexity),
			Children:     int32(c.Children),
			Generation:   c.Generation,
			ExpiresAt:    metav1.NewTime(now.Add(ReservationTTL)),
			Exception:    exception,
		}
		if weigher != nil {
			r.Weight = caseloadv1alpha1.Figure(weigher.Carried(c, j.Role).String())
		}
		out = append(out, r)
	}
	return out
}

// NextLedger is the ledger after an admitted change of case c: expired entries are pruned
// (except one carrying an unexpired exception, which the Team reconciler keeps until the
// Case's status has recorded it), the
// entries of c for practitioners who no longer hold it (or whom this change reserves again)
// are replaced, and added is appended. holdersAfter are the names holding c after the change.
// full is true when the result would exceed MaxReservations.
func NextLedger(current []caseloadv1alpha1.Reservation, c string, holdersAfter map[string]bool, added []caseloadv1alpha1.Reservation, now time.Time) (next []caseloadv1alpha1.Reservation, full bool) {
	replaced := map[string]bool{}
	for _, r := range added {
		replaced[r.Practitioner] = true
	}
	for _, r := range current {
		if !r.ExpiresAt.Time.After(now) && (r.Exception == nil || !r.Exception.ExpiresAt.Time.After(now)) {
			continue
		}
		if r.Case == c && (!holdersAfter[r.Practitioner] || replaced[r.Practitioner]) {
			continue
		}
		next = append(next, r)
	}
	next = append(next, added...)
	return next, len(next) > MaxReservations
}

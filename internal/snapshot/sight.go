package snapshot

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/ledger"
)

// Sight is what one replica knows of the changes a ledger holds, for pruning it: what its caches
// show (and have seen deleted), what it has timed itself (Observed), and, for an entry it has
// seen for ledger.TTL, what the apiserver holds. Admission prunes with it whenever it writes a
// ledger, and the operator's ledger reconciler in between.
type Sight struct {
	Cache                client.Reader
	Live                 client.Reader
	Cases, Practitioners *Progress
	Observed             *ledger.Observed
}

// Prune is spec as ledger.Prune leaves it on what s knows at now, for the ledger key.
func (s Sight) Prune(ctx context.Context, key types.NamespacedName, spec v1alpha1.AllocationLedgerSpec, now time.Time) v1alpha1.AllocationLedgerSpec {
	name := key.String()
	s.Observed.See(name, spec, now)
	entry := func(r v1alpha1.Reservation) ledger.Verdict {
		var c v1alpha1.Case
		err := s.Cache.Get(ctx, client.ObjectKey{Namespace: key.Namespace, Name: r.Case}, &c)
		if v := ledger.Shown(r, err == nil, c.UID, c.Generation, c.ResourceVersion); v.Gone {
			return v
		}
		if rv, deleted := s.Cases.Deleted(types.UID(r.CaseUID)); deleted && rv > 0 {
			return ledger.Verdict{Gone: true, Through: rv}
		}
		if !s.Observed.Old(name, ledger.EntryKey(r), now) {
			return ledger.Keep
		}
		// Seen here for TTL: its request has ended. The apiserver says whether it stored it.
		c = v1alpha1.Case{}
		err = s.Live.Get(ctx, client.ObjectKey{Namespace: key.Namespace, Name: r.Case}, &c)
		switch {
		case err == nil && string(c.UID) == r.CaseUID && c.Generation >= r.Generation:
			return ledger.Verdict{Gone: true, Through: ledger.ParseVersion(c.ResourceVersion)}
		case err == nil || apierrors.IsNotFound(err):
			return ledger.Verdict{Gone: true}
		}
		return ledger.Keep
	}
	recorded := func(r v1alpha1.Reservation) bool {
		var c v1alpha1.Case
		if err := s.Cache.Get(ctx, client.ObjectKey{Namespace: key.Namespace, Name: r.Case}, &c); err != nil || !c.IsOpen() || string(c.UID) != r.CaseUID {
			return true
		}
		ex := r.Exception
		if !ex.ExpiresAt.Time.After(now) {
			return true
		}
		return c.Status.Exception != nil && c.Status.Exception.ApprovedAt.Equal(&ex.ApprovedAt)
	}
	departure := func(d v1alpha1.Departure) ledger.Verdict {
		var p v1alpha1.Practitioner
		err := s.Cache.Get(ctx, client.ObjectKey{Namespace: key.Namespace, Name: d.Practitioner}, &p)
		if v := ledger.Moved(d, err == nil, p.UID, p.Generation, p.ResourceVersion); v.Gone {
			return v
		}
		if rv, deleted := s.Practitioners.Deleted(types.UID(d.UID)); deleted && rv > 0 {
			return ledger.Verdict{Gone: true, Through: rv}
		}
		if !s.Observed.Old(name, ledger.DepartureKey(d), now) {
			return ledger.Keep
		}
		p = v1alpha1.Practitioner{}
		err = s.Live.Get(ctx, client.ObjectKey{Namespace: key.Namespace, Name: d.Practitioner}, &p)
		switch {
		case err == nil && string(p.UID) == d.UID && p.Generation >= d.Generation:
			return ledger.Verdict{Gone: true, Through: ledger.ParseVersion(p.ResourceVersion)}
		case err == nil || apierrors.IsNotFound(err):
			return ledger.Verdict{Gone: true}
		}
		return ledger.Keep
	}
	return ledger.Prune(spec, entry, recorded, departure)
}

package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

// council creates a namespace of teams, each with 3 practitioners and 12 cases (4 each),
// selected by one quota.
func council(t *testing.T, ns string, teams int) {
	t.Helper()
	create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, walsallQuota(ns, "15"))
	for i := range teams {
		tn := fmt.Sprintf("team-%03d", i)
		create(t, team(ns, tn))
		for p := range 3 {
			pn := fmt.Sprintf("%s-sw-%d", tn, p)
			create(t, practitioner(ns, pn, tn, "SocialWorker", "1"))
			for c := range 4 {
				create(t, kase(ns, fmt.Sprintf("%s-c-%d", pn, c), tn, "ChildInNeed", 1, pn, "2026-10-01"))
			}
		}
	}
}

// quiet waits until the reconcilers have read nothing for two seconds.
func quiet(t *testing.T) {
	t.Helper()
	last, since := objectsReadSoFar(), time.Now()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Since(since) < 2*time.Second {
		if time.Now().After(deadline) {
			t.Fatalf("the reconcilers never settled")
		}
		time.Sleep(200 * time.Millisecond)
		if n := objectsReadSoFar(); n != last {
			last, since = n, time.Now()
		}
	}
}

// readsForOneChange moves one case from one practitioner to another and counts the objects the
// reconcilers read until they settle again.
func readsForOneChange(t *testing.T, ns string) int64 {
	t.Helper()
	quiet(t)
	before := objectsReadSoFar()
	c := get(t, &v1alpha1.Case{}, ns, "team-000-sw-0-c-0")
	c.Spec.AllocatedTo = "team-000-sw-1"
	if err := env.Client.Update(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	expectPractitioner(t, ns, "team-000-sw-1", "cases=5 weight=5 capacity=15 headroom=10 util=33 band=Green cover=0")
	expectPractitioner(t, ns, "team-000-sw-0", "cases=3 weight=3 capacity=15 headroom=12 util=20 band=Green cover=0")
	quiet(t)
	return objectsReadSoFar() - before
}

// TestOneChangeCostsTheSameAmongThousands: a change to one case among 2,040 reads about as many
// objects as among 24: the reconcilers go through the indexes and never scan every case.
func TestOneChangeCostsTheSameAmongThousands(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 2,000 cases")
	}
	testClock.SetTime(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))
	council(t, "scale-small", 2)
	small := readsForOneChange(t, "scale-small")
	council(t, "scale-large", 170)
	eventually(t, 3*time.Minute, func() error {
		q := get(t, &v1alpha1.CaseloadQuota{}, "scale-large", "walsall")
		if q.Status.Teams != 170 || q.Status.Practitioners != 510 || q.Status.Totals.Weight != "2040" {
			return fmt.Errorf("quota over the large council: %d teams, %d practitioners, weight %s", q.Status.Teams, q.Status.Practitioners, q.Status.Totals.Weight)
		}
		return nil
	})
	large := readsForOneChange(t, "scale-large")
	t.Logf("objects read for one case change: %d among 24 cases, %d among 2,040 cases", small, large)
	if small == 0 {
		t.Fatalf("no reads counted: caseload_reconcile_objects_read_total is not counted in the reconcilers' path")
	}
	if large > 2*small || large > 200 {
		t.Errorf("one change among 2,040 cases read %d objects, against %d among 24: the work must not grow with the council", large, small)
	}
}

// objectsReadSoFar is caseload_reconcile_objects_read_total, as the manager's /metrics serves it.
func objectsReadSoFar() int64 { return int64(testutil.ToFloat64(objectsRead)) }

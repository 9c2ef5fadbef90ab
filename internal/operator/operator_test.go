package operator

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

type cacheState bool

func (synced cacheState) WaitForCacheSync(ctx context.Context) bool {
	if !synced {
		<-ctx.Done()
	}
	return bool(synced)
}

// TestNotReadyUntilTheCachesSync: a replica whose informers are still listing fails /readyz, so
// it answers no admission from a cache that is not full yet.
func TestNotReadyUntilTheCachesSync(t *testing.T) {
	req := httptest.NewRequest("GET", "/readyz", nil)
	if err := cachesSynced(cacheState(false))(req); err == nil {
		t.Error("ready while the caches are still syncing")
	}
	if err := cachesSynced(cacheState(true))(req); err != nil {
		t.Errorf("not ready with synced caches: %v", err)
	}
}

// TestCacheKeepsWhatTheOperatorReads: the cache drops managedFields and kubectl apply's copy of
// the object, and keeps everything else, the council's time-zone annotation among it.
func TestCacheKeepsWhatTheOperatorReads(t *testing.T) {
	c := &v1alpha1.Case{ObjectMeta: metav1.ObjectMeta{Name: "c-1", Namespace: "brookfield", ResourceVersion: "42",
		Annotations:   map[string]string{lastApplied: `{"big":"copy"}`, v1alpha1.TimeZoneAnnotation: "Europe/London"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}}},
		Spec: v1alpha1.CaseSpec{Reference: "LCS-1", Team: "north", Type: "ChildInNeed", AllocatedTo: "jo"}}
	out, err := leanForCache(c)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*v1alpha1.Case)
	if got.ManagedFields != nil || got.Annotations[lastApplied] != "" {
		t.Errorf("the cache keeps managedFields %v or the last-applied copy %q", got.ManagedFields, got.Annotations[lastApplied])
	}
	if got.Annotations[v1alpha1.TimeZoneAnnotation] != "Europe/London" || got.ResourceVersion != "42" || got.Spec.AllocatedTo != "jo" {
		t.Errorf("the cache lost what the operator reads: %+v", got)
	}
}

// TestClockOffsetShiftsTheTimeNotItsRate: --clock-offset gives a replica a clock a fixed amount
// off the others', running at the real rate; without it the clock is the real one.
func TestClockOffsetShiftsTheTimeNotItsRate(t *testing.T) {
	if _, ok := clockOf(Options{}).(clock.RealClock); !ok {
		t.Errorf("with no offset the clock is %T, want the real clock", clockOf(Options{}))
	}
	skewed := clockOf(Options{ClockOffset: 5 * time.Minute})
	before := time.Now()
	now := skewed.Now()
	after := time.Now()
	if now.Before(before.Add(5*time.Minute)) || now.After(after.Add(5*time.Minute)) {
		t.Errorf("5m ahead, the clock says %v between %v and %v", now, before, after)
	}
	if since := skewed.Since(now); since < 0 || since > time.Second {
		t.Errorf("Since the clock's own now: %v, want about 0", since)
	}
}

package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// gauge reads one series of the manager's registry; ok is false when it does not exist.
func gauge(name string, labels map[string]string) (float64, bool) {
	families, err := metrics.Registry.Gather()
	if err != nil {
		return 0, false
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue series
				}
			}
			return gaugeValue(m), true
		}
	}
	return 0, false
}

func gaugeValue(m *dto.Metric) float64 { return m.GetGauge().GetValue() }

// TestMetricsFollowStatus: team and quota series match what status shows; series about an
// individual practitioner exist only when the platform team has opted in.
func TestMetricsFollowStatus(t *testing.T) {
	ctx := context.Background()
	ns := "metrics"
	testClock.SetTime(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
	q := walsallQuota(ns, "15")
	create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, team(ns, "north-cp"), q,
		practitioner(ns, "lee", "north-cp", "SocialWorker", "0.6"), practitioner(ns, "max", "north-cp", "SocialWorker", "1"))
	for i := range 10 {
		create(t, kase(ns, fmt.Sprintf("lee-%d", i), "north-cp", "ChildInNeed", 1, "lee", "2026-10-01"))
	}
	create(t, kase(ns, "waiting", "north-cp", "ChildInNeed", 1, "", "2026-11-30"))

	team := map[string]string{"namespace": ns, "team": "north-cp"}
	eventually(t, 20*time.Second, func() error {
		for _, want := range []struct {
			name   string
			labels map[string]string
			value  float64
		}{
			{"caseload_team_weight", team, 10},
			{"caseload_team_capacity", team, 24}, // 15 x 0.6 + 15 x 1
			{"caseload_team_unallocated_cases", team, 1},
			{"caseload_team_practitioners", map[string]string{"namespace": ns, "team": "north-cp", "band": "Red"}, 1},   // lee: 10 of 9
			{"caseload_team_practitioners", map[string]string{"namespace": ns, "team": "north-cp", "band": "Green"}, 1}, // max: 0 of 15
			{"caseload_team_band", map[string]string{"namespace": ns, "team": "north-cp", "band": "Green"}, 1},          // 10 of 24
			{"caseload_team_band", map[string]string{"namespace": ns, "team": "north-cp", "band": "Red"}, 0},
			{"caseload_quota_violations", map[string]string{"namespace": ns, "quota": "walsall", "rule": "practitionerCaps.maxWeight"}, 1},
			{"caseload_quota_violations", map[string]string{"namespace": ns, "quota": "walsall", "rule": "allocationDeadlines"}, 0},
			{"caseload_quota_observed_generation", map[string]string{"namespace": ns, "quota": "walsall"}, 1},
			{"caseload_practitioner_weight", map[string]string{"namespace": ns, "practitioner": "lee"}, 10},
			{"caseload_practitioner_band", map[string]string{"namespace": ns, "practitioner": "lee", "band": "Red"}, 1},
			{"caseload_practitioner_band", map[string]string{"namespace": ns, "practitioner": "lee", "band": "Amber"}, 0},
		} {
			got, ok := gauge(want.name, want.labels)
			if !ok || got != want.value {
				return fmt.Errorf("%s%v = %v (present %v), want %v", want.name, want.labels, got, ok, want.value)
			}
		}
		return nil
	})

	// Without the opt-in, reconciling a practitioner publishes nothing about them. (The test's
	// manager has opted in, so wait until it is quiet before looking.)
	quiet(t)
	forgetPractitioner(ns, "max")
	r := &PractitionerReconciler{Client: mgrClient, Clock: testClock, Calendars: &calendars{}, Status: statusWriter{Client: mgrClient}, Metrics: false}
	if _, err := r.Reconcile(ctx, reqFor(ns, "max")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"caseload_practitioner_weight", "caseload_practitioner_capacity", "caseload_practitioner_band"} {
		if _, ok := gauge(name, map[string]string{"namespace": ns, "practitioner": "max"}); ok {
			t.Errorf("%s was published for a practitioner without --practitioner-metrics", name)
		}
	}
}

package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/policy"
)

// Metrics in the manager's Prometheus registry. Team and quota series are always on; series about
// individual practitioners exist only with --practitioner-metrics, because monitoring data about
// named workers is opt-in.
var (
	teamWeight = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "caseload_team_weight", Help: "Weighted caseload of a team under the quota its status shows.",
	}, []string{"namespace", "team"})
	teamCapacity = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "caseload_team_capacity", Help: "Capacity of a team under the quota its status shows.",
	}, []string{"namespace", "team"})
	teamUnallocated = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "caseload_team_unallocated_cases", Help: "Open cases of a team with no allocated practitioner.",
	}, []string{"namespace", "team"})
	teamOverdue = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "caseload_team_overdue_cases", Help: "Open cases of a team past their timescale or allocation deadline.",
	}, []string{"namespace", "team"})
	teamBand = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "caseload_team_practitioners", Help: "Practitioners of a team by band (Green, Amber, Red, or None where no quota caps them).",
	}, []string{"namespace", "team", "band"})
	quotaViolations = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "caseload_quota_violations", Help: "Violations found by a quota's audit, by rule.",
	}, []string{"namespace", "quota", "rule"})
	statusWriteFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "caseload_status_write_failures_total", Help: "Status writes the apiserver refused as invalid, by kind: the object's Ready condition says why.",
	}, []string{"kind"})
	practitionerWeight = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "caseload_practitioner_weight", Help: "Weighted caseload of a practitioner (only with --practitioner-metrics).",
	}, []string{"namespace", "practitioner", "team"})
	practitionerCapacity = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "caseload_practitioner_capacity", Help: "Effective capacity of a practitioner (only with --practitioner-metrics).",
	}, []string{"namespace", "practitioner", "team"})
)

func init() {
	metrics.Registry.MustRegister(teamWeight, teamCapacity, teamUnallocated, teamOverdue, teamBand, quotaViolations,
		statusWriteFailures, practitionerWeight, practitionerCapacity)
}

func figure(d string) float64 {
	m, err := policy.ParseMilli(d)
	if err != nil {
		return 0
	}
	return float64(m) / 1000
}

func recordTeam(namespace, team string, st *v1alpha1.TeamStatus, bands map[string]int) {
	teamWeight.WithLabelValues(namespace, team).Set(figure(string(st.Weight)))
	teamCapacity.WithLabelValues(namespace, team).Set(figure(string(st.Capacity)))
	teamUnallocated.WithLabelValues(namespace, team).Set(float64(st.Unallocated))
	teamOverdue.WithLabelValues(namespace, team).Set(float64(st.OverdueCases))
	for _, b := range []string{"Green", "Amber", "Red", "None"} {
		teamBand.WithLabelValues(namespace, team, b).Set(float64(bands[b]))
	}
}

func forgetTeam(namespace, team string) {
	labels := prometheus.Labels{"namespace": namespace, "team": team}
	for _, v := range []*prometheus.GaugeVec{teamWeight, teamCapacity, teamUnallocated, teamOverdue, teamBand} {
		v.DeletePartialMatch(labels)
	}
}

func recordQuota(namespace, quota string, byRule map[string]int) {
	quotaViolations.DeletePartialMatch(prometheus.Labels{"namespace": namespace, "quota": quota})
	for rule, n := range byRule {
		quotaViolations.WithLabelValues(namespace, quota, rule).Set(float64(n))
	}
}

func recordPractitioner(namespace, name string, st *v1alpha1.PractitionerStatus, team string) {
	practitionerWeight.DeletePartialMatch(prometheus.Labels{"namespace": namespace, "practitioner": name})
	practitionerCapacity.DeletePartialMatch(prometheus.Labels{"namespace": namespace, "practitioner": name})
	practitionerWeight.WithLabelValues(namespace, name, team).Set(figure(string(st.Weight)))
	if st.Capacity != "" {
		practitionerCapacity.WithLabelValues(namespace, name, team).Set(figure(string(st.Capacity)))
	}
}

func forgetPractitioner(namespace, name string) {
	labels := prometheus.Labels{"namespace": namespace, "practitioner": name}
	practitionerWeight.DeletePartialMatch(labels)
	practitionerCapacity.DeletePartialMatch(labels)
}

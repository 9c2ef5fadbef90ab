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
	teamPractitioners = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "caseload_team_practitioners", Help: "Practitioners of a team by band (Green, Amber, Red; Away for one away holding no case, None where no quota caps them). One away holding cases is Red.",
	}, []string{"namespace", "team", "band"})
	teamBand = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "caseload_team_band", Help: "The band of a team: 1 for the band its status shows (Green, Amber or Red), 0 for the others; all 0 where no quota caps the team.",
	}, []string{"namespace", "team", "band"})
	quotaViolations = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "caseload_quota_violations", Help: "Violations found by a quota's audit, by rule (0 for each rule it finds unbroken).",
	}, []string{"namespace", "quota", "rule"})
	quotaGeneration = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "caseload_quota_observed_generation", Help: "The generation of a quota's spec that its audit has run under: it changes when the policy does.",
	}, []string{"namespace", "quota"})
	statusWriteFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "caseload_status_write_failures_total", Help: "Status writes the apiserver refused as invalid, by kind: the object's Ready condition says why.",
	}, []string{"kind"})
	objectsRead = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "caseload_reconcile_objects_read_total", Help: "Objects the reconcilers and their event mappings read from the cache: one per Get, one per item a List returns. The work one change costs, whatever the size of the platform.",
	})
	practitionerWeight = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "caseload_practitioner_weight", Help: "Weighted caseload of a practitioner (only with --practitioner-metrics).",
	}, []string{"namespace", "practitioner", "team"})
	practitionerCapacity = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "caseload_practitioner_capacity", Help: "Effective capacity of a practitioner (only with --practitioner-metrics).",
	}, []string{"namespace", "practitioner", "team"})
	practitionerBand = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "caseload_practitioner_band", Help: "The band of a practitioner: 1 for the band their status shows, 0 for the others (only with --practitioner-metrics).",
	}, []string{"namespace", "practitioner", "team", "band"})
)

// teamBands and practitionerBands are the values of the band label, in order: a practitioner
// may be Away, a team may not.
var (
	teamBands         = []v1alpha1.Band{v1alpha1.BandGreen, v1alpha1.BandAmber, v1alpha1.BandRed}
	practitionerBands = append(teamBands[:len(teamBands):len(teamBands)], v1alpha1.BandAway)
)

func init() {
	metrics.Registry.MustRegister(teamWeight, teamCapacity, teamUnallocated, teamOverdue, teamPractitioners, teamBand,
		quotaViolations, quotaGeneration, statusWriteFailures, objectsRead, practitionerWeight, practitionerCapacity, practitionerBand)
	// A counter shows from 0, so that its first increase is a rise an alert can see.
	for _, kind := range []string{"Team", "Practitioner", "Case", "CaseloadQuota"} {
		statusWriteFailures.WithLabelValues(kind)
	}
}

func figure(d string) float64 {
	m, err := policy.ParseMilli(d)
	if err != nil {
		return 0
	}
	return float64(m) / 1000
}

func recordTeam(namespace, team string, st *v1alpha1.TeamStatus, counts map[string]int) {
	teamWeight.WithLabelValues(namespace, team).Set(figure(string(st.Weight)))
	teamCapacity.WithLabelValues(namespace, team).Set(figure(string(st.Capacity)))
	teamUnallocated.WithLabelValues(namespace, team).Set(float64(st.Unallocated))
	teamOverdue.WithLabelValues(namespace, team).Set(float64(st.OverdueCases))
	for _, b := range policy.BandCounts {
		teamPractitioners.WithLabelValues(namespace, team, b).Set(float64(counts[b]))
	}
	setBand(teamBand, teamBands, st.Band, namespace, team)
}

// setBand sets a band state set of bands: 1 for band, 0 for the others, under the leading labels.
func setBand(v *prometheus.GaugeVec, bands []v1alpha1.Band, band v1alpha1.Band, labels ...string) {
	for _, b := range bands {
		on := 0.0
		if b == band {
			on = 1
		}
		v.WithLabelValues(append(labels, string(b))...).Set(on)
	}
}

func forgetTeam(namespace, team string) {
	labels := prometheus.Labels{"namespace": namespace, "team": team}
	for _, v := range []*prometheus.GaugeVec{teamWeight, teamCapacity, teamUnallocated, teamOverdue, teamPractitioners, teamBand} {
		v.DeletePartialMatch(labels)
	}
}

// recordQuota publishes a quota's audit: every rule an audit knows, at 0 where none is broken, so
// that a rise from nothing shows as a rise. A nil byRule (the quota is gone) removes the series.
func recordQuota(namespace, quota string, generation int64, byRule map[string]int) {
	labels := prometheus.Labels{"namespace": namespace, "quota": quota}
	quotaViolations.DeletePartialMatch(labels)
	quotaGeneration.DeletePartialMatch(labels)
	if byRule == nil {
		return
	}
	for _, rule := range policy.AuditRules {
		quotaViolations.WithLabelValues(namespace, quota, rule).Set(0)
	}
	for rule, n := range byRule {
		quotaViolations.WithLabelValues(namespace, quota, rule).Set(float64(n))
	}
	quotaGeneration.WithLabelValues(namespace, quota).Set(float64(generation))
}

func recordPractitioner(namespace, name string, st *v1alpha1.PractitionerStatus, team string) {
	forgetPractitioner(namespace, name)
	practitionerWeight.WithLabelValues(namespace, name, team).Set(figure(string(st.Weight)))
	if st.Capacity != "" {
		practitionerCapacity.WithLabelValues(namespace, name, team).Set(figure(string(st.Capacity)))
	}
	setBand(practitionerBand, practitionerBands, st.Band, namespace, name, team)
}

func forgetPractitioner(namespace, name string) {
	labels := prometheus.Labels{"namespace": namespace, "practitioner": name}
	for _, v := range []*prometheus.GaugeVec{practitionerWeight, practitionerCapacity, practitionerBand} {
		v.DeletePartialMatch(labels)
	}
}

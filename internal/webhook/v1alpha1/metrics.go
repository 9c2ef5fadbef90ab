package v1alpha1

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Admission metrics, served with controller-runtime's on the manager's /metrics. They name no
// case, practitioner or team: only outcomes and timings.
var (
	admissionDecisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "caseload_admission_decisions_total",
		Help: "Allocations decided by the Case webhook, by result: admitted, denied or error.",
	}, []string{"result"})

	decisionSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "caseload_admission_decision_duration_seconds",
		Help:    "Time to decide an allocation, from the webhook call to the ledger write, retries included.",
		Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
	})

	evaluationSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "caseload_admission_evaluation_duration_seconds",
		Help:    "Time to decide an allocation in memory, each time it is decided: reading the team from the cache and applying its policies, with no waiting and no writes.",
		Buckets: []float64{0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1},
	})
)

const (
	resultAdmitted = "admitted"
	resultDenied   = "denied"
	resultError    = "error"
)

func init() {
	ctrlmetrics.Registry.MustRegister(admissionDecisions, decisionSeconds, evaluationSeconds)
	// Every result shows from 0, so that the share of errors is a figure from the first decision.
	for _, r := range []string{resultAdmitted, resultDenied, resultError} {
		admissionDecisions.WithLabelValues(r)
	}
}

package admission

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// The ledger writer's metrics, served with controller-runtime's on the manager's /metrics. They
// name no case, practitioner or team.
var (
	// LedgerConflicts counts the ledger writes that lost a race.
	LedgerConflicts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "caseload_admission_ledger_conflicts_total",
		Help: "Writes of a team's allocation ledger that lost a compare-and-swap race, whose batch was decided again.",
	})

	// LiveDecisions counts the batches decided from the apiserver.
	LiveDecisions = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "caseload_admission_live_decisions_total",
		Help: "Batches decided from the apiserver rather than the cache: to check a refusal, or because the cache had not come as far as the ledger needs.",
	})

	batchSize = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "caseload_admission_ledger_batch_size",
		Help:    "Allocations (and moves out of a team) decided together and recorded with one write of a team's allocation ledger.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64},
	})
)

func init() {
	ctrlmetrics.Registry.MustRegister(LedgerConflicts, LiveDecisions, batchSize)
}

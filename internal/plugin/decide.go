package plugin

import (
	"context"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/plugin/offline"
	"caseload.dev/caseload-operator/internal/policy"
)

// decideOffline is what admission would decide about the change of a case, decided offline
// (offline.Decide), for the commands still in this package.
func decideOffline(ctx context.Context, r client.Reader, old, kase *v1alpha1.Case, cal policy.Calendar, now time.Time) (offline.Decision, error) {
	return offline.Decide(ctx, r, old, kase, cal, now)
}

package plugin

import (
	"time"

	"caseload.dev/caseload-operator/internal/plugin/offline"
)

// SetNow stops the plugin's clock at t until the returned function restores it, so that a
// report's "as at" and the days cases have waited are the same on every run.
func SetNow(t time.Time) (restore func()) {
	old := now
	now = func() time.Time { return t }
	return func() { now = old }
}

// GeneratedWorld is the seeded council of n cases the benchmarks use, for those of package
// plugin_test.
func GeneratedWorld(n int) *offline.World { return generated(n) }

package plugin

import "caseload.dev/caseload-operator/internal/plugin/offline"

// GeneratedWorld is the seeded council of n cases the benchmarks use, for those of package
// plugin_test.
func GeneratedWorld(n int) *offline.World { return generated(n) }

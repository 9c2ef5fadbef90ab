package plugin_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

var twoThousandTeams sync.Once

// BenchmarkTopTeamsAllCouncils is `kubectl caseload top teams -A` over 2,000 teams (a hundred
// councils of twenty) on the envtest apiserver: one list, whatever the number of cases.
func BenchmarkTopTeamsAllCouncils(b *testing.B) {
	twoThousandTeams.Do(func() {
		ctx := context.Background()
		for c := range 100 {
			ns := fmt.Sprintf("council-%03d", c)
			if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
				b.Fatal(err)
			}
			for t := range 20 {
				if err := env.Client.Create(ctx, &v1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("team-%02d", t)}}); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.ResetTimer()
	for range b.N {
		out, errOut, code := kubectlCaseload(b, "-A", "top", "teams")
		if code != 0 || strings.Count(out, "\n") < 2001 {
			b.Fatalf("exit %d, %d lines: %s", code, strings.Count(out, "\n"), errOut)
		}
	}
}

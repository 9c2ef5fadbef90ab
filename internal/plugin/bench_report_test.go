package plugin_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/plugin"
)

// BenchmarkReportAllCouncils is `kubectl caseload report -A --format html` on the envtest
// apiserver holding a generated council of BENCH_REPORT_CASES cases (3,000 unless set;
// docs/benchmarks.md has 30,000): the lists, the engine's figures for every team, and the HTML;
// beside the same lists alone, measured in the same run.
func BenchmarkReportAllCouncils(b *testing.B) {
	n := 3000
	if v, err := strconv.Atoi(os.Getenv("BENCH_REPORT_CASES")); err == nil && v > 0 {
		n = v
	}
	w := plugin.GeneratedWorld(n)
	ctx := context.Background()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: w.Namespaces[0].Name}}); err != nil {
		b.Fatal(err)
	}
	// Teams, practitioners, then cases (with no quota yet, so admission has no cap to weigh),
	// then the quota.
	var teams, practitioners, cases []client.Object
	for i := range w.Teams {
		teams = append(teams, &w.Teams[i])
	}
	for i := range w.Practitioners {
		practitioners = append(practitioners, &w.Practitioners[i])
	}
	for i := range w.Cases {
		cases = append(cases, &w.Cases[i])
	}
	for _, batch := range [][]client.Object{teams, practitioners, cases, {&w.Quotas[0]}} {
		createAll(b, batch)
	}
	// Measure once the operator has reconciled what was loaded, so that it does not compete.
	settled(b, w.Namespaces[0].Name, len(w.Teams))
	// Interleaved with its baseline, the lists the report makes and nothing else, so that both
	// see the same machine.
	var list, report time.Duration
	for b.Loop() {
		start := time.Now()
		for _, l := range []client.ObjectList{&v1alpha1.TeamList{}, &v1alpha1.PractitionerList{}, &v1alpha1.CaseList{}, &v1alpha1.CaseloadQuotaList{}} {
			if err := env.Client.List(ctx, l); err != nil {
				b.Fatal(err)
			}
		}
		list += time.Since(start)
		start = time.Now()
		out, errOut, code := kubectlCaseload(b, "-A", "report", "--format", "html")
		if code != 0 || !strings.Contains(out, "england") {
			b.Fatalf("exit %d: %s", code, errOut)
		}
		report += time.Since(start)
	}
	b.ReportMetric(report.Seconds()/float64(b.N), "report-s/op")
	b.ReportMetric(list.Seconds()/float64(b.N), "lists-s/op")
	b.ReportMetric(report.Seconds()/list.Seconds(), "report/lists")
}

// settled waits until every team of the namespace shows a status with cases counted.
func settled(b *testing.B, ns string, teams int) {
	b.Helper()
	deadline := time.Now().Add(10 * time.Minute)
	for {
		var list v1alpha1.TeamList
		if err := env.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			b.Fatal(err)
		}
		done := 0
		for _, t := range list.Items {
			if t.Status.Cases > 0 && t.Status.ObservedGeneration == t.Generation {
				done++
			}
		}
		if done == teams {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d teams reconciled after 10 minutes", done, teams)
		}
		time.Sleep(time.Second)
	}
}

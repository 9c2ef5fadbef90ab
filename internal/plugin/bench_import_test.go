package plugin_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1 "k8s.io/api/core/v1"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/plugin/importer"
)

// benchImportRuns numbers the councils of BenchmarkImport's runs.
var benchImportRuns atomic.Int32

// withoutWebhookLabel marks a namespace that the admission webhooks leave out, for a baseline.
const withoutWebhookLabel = "bench.caseload.dev/without-webhook"

// BenchmarkImport imports a generated extract of BENCH_IMPORT_ROWS cases (3,000 unless set, so
// that make bench's five counts stay inside go test's ten minutes; docs/benchmarks.md has 30,000)
// in teams of 160 cases and 20 social workers, as bench_test.go's council, into a council of its own, then
// imports it again, which changes nothing. For a baseline it applies the same Cases by plain
// server-side apply, at the import's concurrency, in a council the admission webhooks leave out
// (the operator reconciles both alike). Figures: first-s and second-s (the two imports),
// baseline-s, and ratio (first-s over baseline-s); and, to explain them, the Case webhook's mean
// time as the apiserver saw it (webhook-ms), the allocation ledger's writes, and the operator's
// status writes during the import and during the baseline. BENCH_IMPORT_CONCURRENCY sets the
// concurrency of both (8 unless set); BENCH_APISERVER_PPROF=FILE writes a CPU profile of the
// kube-apiserver for 30 s of the import. docs/benchmarks.md has the figures.
func BenchmarkImport(b *testing.B) {
	n := 3000
	if v, err := strconv.Atoi(os.Getenv("BENCH_IMPORT_ROWS")); err == nil && v > 0 {
		n = v
	}
	const perTeam = 20
	concurrency := 8
	if v, err := strconv.Atoi(os.Getenv("BENCH_IMPORT_CONCURRENCY")); err == nil && v > 0 {
		concurrency = v
	}
	teams := (n + 159) / 160
	text, cases := caseExtract(30000, n, teams, perTeam)
	file := writeFile(b, "cases.csv", text)
	leaveOutOfWebhooks(b)
	var first, second, baseline time.Duration
	var statusBaseline, statusImport, ledgerWrites, webhookSeconds, webhookCalls float64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		run := benchImportRuns.Add(1) // -count runs the benchmark again in the same cluster
		base := fmt.Sprintf("bench-baseline-%d-%d", n, run)
		importCouncil(b, base, teams, perTeam, roomyCaps)
		labelNamespace(b, base, withoutWebhookLabel)
		ns := fmt.Sprintf("bench-import-%d-%d", n, run)
		importCouncil(b, ns, teams, perTeam, roomyCaps)
		b.StartTimer()

		m0 := apiserverMetrics(b)
		start := time.Now()
		applyPlainly(b, base, cases, concurrency)
		baseline += time.Since(start)
		settle(b, base, cases)
		m1 := apiserverMetrics(b)
		// The baseline's Cases go before the import, so that both write into an apiserver
		// holding as much.
		settle(b, base, nil)
		m2 := apiserverMetrics(b)

		profiled := profileAPIServer(b, os.Getenv("BENCH_APISERVER_PPROF"))
		start = time.Now()
		out, errOut, code := kubectlCaseload(b, "-n", ns, "import", "--csv", file, "--concurrency", strconv.Itoa(concurrency))
		first += time.Since(start)
		if code != 0 || !strings.Contains(out, fmt.Sprintf("cases: %d created, 0 updated, 0 unchanged", n)) {
			b.Fatalf("import: exit %d\n%s\n%s", code, out, errOut)
		}
		profiled()
		settle(b, ns, cases)
		m3 := apiserverMetrics(b)
		statusBaseline += m1["status"] - m0["status"]
		statusImport += m3["status"] - m2["status"]
		ledgerWrites += m3["ledger"] - m2["ledger"]
		webhookSeconds += m3["webhook-seconds"] - m2["webhook-seconds"]
		webhookCalls += m3["webhook-calls"] - m2["webhook-calls"]

		start = time.Now()
		out, errOut, code = kubectlCaseload(b, "-n", ns, "import", "--csv", file)
		second += time.Since(start)
		if code != 0 || !strings.Contains(out, fmt.Sprintf("cases: 0 created, 0 updated, %d unchanged", n)) {
			b.Fatalf("second import: exit %d\n%s\n%s", code, out, errOut)
		}
	}
	runs := float64(b.N)
	b.ReportMetric(first.Seconds()/runs, "first-s")
	b.ReportMetric(second.Seconds()/runs, "second-s")
	b.ReportMetric(baseline.Seconds()/runs, "baseline-s")
	b.ReportMetric(first.Seconds()/baseline.Seconds(), "ratio")
	b.ReportMetric(1000*webhookSeconds/max(webhookCalls, 1), "webhook-ms")
	b.ReportMetric(ledgerWrites/runs, "ledger-writes")
	b.ReportMetric(statusImport/runs, "status-writes")
	b.ReportMetric(statusBaseline/runs, "baseline-status-writes")
	b.ReportMetric(0, "ns/op")
}

// profileAPIServer, when file is set, starts a CPU profile of the kube-apiserver (its
// /debug/pprof) for the next 30 seconds, written to file; the function it returns waits for it.
func profileAPIServer(b *testing.B, file string) (wait func()) {
	if file == "" {
		return func() {}
	}
	hc, err := rest.HTTPClientFor(env.Config)
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := hc.Get(strings.TrimSuffix(env.Config.Host, "/") + "/debug/pprof/profile?seconds=30")
		if err != nil {
			b.Error(err)
			return
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err == nil {
			err = os.WriteFile(file, data, 0o600)
		}
		if err != nil {
			b.Error(err)
		}
	}()
	return func() { <-done }
}

// apiserverMetrics reads from the apiserver's /metrics what explains an import's time: status
// writes (the operator's, of every kind), writes of allocation ledgers (admission's), and the
// Case webhook's calls and the time the apiserver waited for them.
func apiserverMetrics(b *testing.B) map[string]float64 {
	hc, err := rest.HTTPClientFor(env.Config)
	if err != nil {
		b.Fatal(err)
	}
	resp, err := hc.Get(strings.TrimSuffix(env.Config.Host, "/") + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	scan := bufio.NewScanner(resp.Body)
	scan.Buffer(make([]byte, 1<<20), 1<<20)
	for scan.Scan() {
		line := scan.Text()
		name, rest, ok := strings.Cut(line, "{")
		if !ok {
			continue
		}
		i := strings.LastIndexByte(rest, ' ')
		v, err := strconv.ParseFloat(rest[i+1:], 64)
		if err != nil {
			continue
		}
		labels := rest[:i]
		switch {
		case name == "apiserver_request_total" && strings.Contains(labels, `subresource="status"`) && strings.Contains(labels, `verb="PATCH"`):
			out["status"] += v
		case name == "apiserver_request_total" && strings.Contains(labels, `resource="allocationledgers"`) && (strings.Contains(labels, `verb="PUT"`) || strings.Contains(labels, `verb="POST"`)):
			out["ledger"] += v
		case name == "apiserver_admission_webhook_admission_duration_seconds_sum" && strings.Contains(labels, `name="vcase.caseload.dev"`):
			out["webhook-seconds"] += v
		case name == "apiserver_admission_webhook_admission_duration_seconds_count" && strings.Contains(labels, `name="vcase.caseload.dev"`):
			out["webhook-calls"] += v
		}
	}
	if err := scan.Err(); err != nil {
		b.Fatal(err)
	}
	return out
}

// leaveOutOfWebhooks has the admission webhooks leave out the namespaces labelled
// withoutWebhookLabel, until the benchmark ends.
func leaveOutOfWebhooks(b *testing.B) {
	ctx := context.Background()
	var cfg admissionregistrationv1.ValidatingWebhookConfiguration
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "validating-webhook-configuration"}, &cfg); err != nil {
		b.Fatal(err)
	}
	was := cfg.DeepCopy()
	for i := range cfg.Webhooks {
		cfg.Webhooks[i].NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: withoutWebhookLabel, Operator: metav1.LabelSelectorOpDoesNotExist}}}
	}
	if err := env.Client.Update(ctx, &cfg); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		var now admissionregistrationv1.ValidatingWebhookConfiguration
		if err := env.Client.Get(ctx, client.ObjectKey{Name: was.Name}, &now); err == nil {
			now.Webhooks = was.Webhooks
			_ = env.Client.Update(ctx, &now)
		}
	})
	time.Sleep(time.Second) // the apiserver's webhook configuration is read from its own cache
}

func labelNamespace(b *testing.B, name, label string) {
	var ns corev1.Namespace
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: name}, &ns); err != nil {
		b.Fatal(err)
	}
	ns.Labels = map[string]string{label: "true"}
	if err := env.Client.Update(context.Background(), &ns); err != nil {
		b.Fatal(err)
	}
}

// applyPlainly applies the Cases of the extract by server-side apply, concurrency at once.
func applyPlainly(b *testing.B, ns string, cases []extractCase, concurrency int) {
	c, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		b.Fatal(err)
	}
	work := make(chan extractCase)
	var wg sync.WaitGroup
	errs := make(chan error, concurrency)
	for range concurrency {
		wg.Go(func() {
			for kase := range work {
				spec := map[string]any{"reference": kase.reference, "team": kase.team, "type": kase.typ, "openedOn": kase.opened}
				if kase.complexity != "" {
					spec["complexity"] = kase.complexity
				}
				if kase.children != "" {
					n, _ := strconv.Atoi(kase.children)
					spec["children"] = int64(n)
				}
				if kase.closed != "" {
					spec["closedOn"] = kase.closed
				}
				if kase.allocated != "" {
					spec["allocatedTo"] = kase.allocated
				}
				if kase.coWorker != "" {
					spec["coWorkers"] = []any{kase.coWorker}
				}
				u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": v1alpha1.GroupVersion.String(), "kind": "Case",
					"metadata": map[string]any{"name": kase.name, "namespace": ns}, "spec": spec}}
				if err := c.Apply(context.Background(), client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(importer.FieldManager), client.ForceOwnership); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	for _, kase := range cases {
		work <- kase
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// settle waits until the operator has counted every open case of cases into its team's status
// (or, when cases is nil, deletes the namespace's Cases and waits until it counts none), so that what it still has to do for one run does not
// slow the next.
func settle(b *testing.B, ns string, cases []extractCase) {
	open := 0
	for _, c := range cases {
		if c.closed == "" {
			open++
		}
	}
	start := time.Now()
	var deleting time.Time
	for deadline := time.Now().Add(10 * time.Minute); ; time.Sleep(500 * time.Millisecond) {
		if cases == nil {
			var l v1alpha1.CaseList
			if err := env.Client.List(context.Background(), &l, client.InNamespace(ns), client.Limit(1)); err != nil {
				b.Fatal(err)
			}
			if len(l.Items) > 0 {
				// A delete of thousands outlasts the request's timeout: the apiserver goes on,
				// and it is asked again if it stops.
				if time.Since(deleting) > 30*time.Second {
					deleting = time.Now()
					if err := env.Client.DeleteAllOf(context.Background(), &v1alpha1.Case{}, client.InNamespace(ns)); err != nil {
						b.Logf("%s: deleting the Cases: %v (the apiserver goes on; asked again in 30s if it stops)", ns, err)
					}
				}
				continue
			}
		}
		var l v1alpha1.TeamList
		if err := env.Client.List(context.Background(), &l, client.InNamespace(ns)); err != nil {
			b.Fatal(err)
		}
		counted := 0
		for _, t := range l.Items {
			counted += int(t.Status.Cases)
		}
		if counted == open {
			b.Logf("%s: the operator settled %s after the writes", ns, time.Since(start).Round(time.Second))
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s: teams count %d open cases of %d", ns, counted, open)
		}
	}
}

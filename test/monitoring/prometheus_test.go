package monitoring

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/operator"
	"caseload.dev/caseload-operator/internal/sandbox"
	"caseload.dev/caseload-operator/internal/testenv"
)

// job is the job name the alerts select, which the ServiceMonitor's jobLabel gives.
const job = "caseload-operator"

// TestPrometheusEvaluatesDashboardAndAlerts starts the sandbox (the sample council, the operator
// with leader election and per-practitioner metrics, its TLS webhook), allocates through the
// webhook once admitted and once refused, and has a real Prometheus scrape the operator's metrics
// endpoint and load the alerts. Then every dashboard query must parse and return series; every
// alert must evaluate without error; and every metric selector in an alert must match a series
// the operator exports, so an alert naming a metric that does not exist fails here rather than
// staying silent in production.
func TestPrometheusEvaluatesDashboardAndAlerts(t *testing.T) {
	prometheus := testenv.Program(t, "prometheus", "prometheus")
	root, err := testenv.Root()
	if err != nil {
		t.Fatal(err)
	}
	assets, err := testenv.Assets(root)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	metricsAddr := testenv.FreeAddr(t)
	kubeconfig := filepath.Join(dir, "sandbox.kubeconfig")

	ctx, cancel := context.WithCancel(context.Background())
	out := &lines{ready: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		done <- sandbox.Run(ctx, sandbox.Options{
			Root: root, Assets: assets, Kubeconfig: kubeconfig, Samples: filepath.Join(root, "config", "samples", "council"),
			LogFile: filepath.Join(dir, "operator.log"), Out: out,
			Operator: operator.Options{MetricsBindAddress: metricsAddr, PractitionerMetrics: true,
				LeaderElection: true, LeaderElectionNamespace: "default"},
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("sandbox: %v", err)
		}
	})
	select {
	case <-out.ready:
	case err := <-done:
		done <- err
		t.Fatalf("the sandbox stopped before it was ready: %v\n%s", err, out)
	case <-time.After(10 * time.Minute):
		t.Fatalf("the sandbox was not ready within 10 minutes:\n%s", out)
	}
	allocate(t, kubeconfig)

	groups := alerts(t)
	writeRules(t, filepath.Join(dir, "caseload.rules.yaml"), groups)
	prom := startPrometheus(t, prometheus, dir, metricsAddr)
	prom.waitForSamples(t, 5)

	// The dashboard: every variable lists values, every panel query returns series.
	d := dashboard(t)
	vars := map[string]string{"$job": job, "$namespace": ".*", "$team": ".*", "$__rate_interval": "30s"}
	for _, v := range d.Templating.List {
		if v.Type == "datasource" {
			continue
		}
		metric, label, ok := labelValues(v.query())
		if !ok {
			t.Errorf("variable %s: query %q is not label_values(SELECTOR, LABEL)", v.Name, v.query())
			continue
		}
		if values := prom.labelValues(t, label, expand(metric, vars)); len(values) == 0 {
			t.Errorf("variable %s (%s) lists no value", v.Name, v.query())
		}
	}
	for _, p := range d.panels() {
		for _, target := range p.Targets {
			q := expand(target.Expr, vars)
			if n, err := prom.query(q); err != nil || n == 0 {
				t.Errorf("panel %q: %s returns %d series (%v)", p.Title, q, n, err)
			}
		}
	}

	// The alerts: Prometheus evaluated each without error, and each selector matches series.
	prom.waitForEvaluations(t, groups)
	for _, g := range groups {
		for _, r := range g.Rules {
			sels, err := selectors(r.Expr)
			if err != nil || len(sels) == 0 {
				t.Errorf("alert %s: cannot find its selectors (%v) in %s", r.Alert, err, r.Expr)
				continue
			}
			for _, sel := range sels {
				if n, err := prom.query(sel); err != nil || n == 0 {
					t.Errorf("alert %s: %s matches %d series of the operator's (%v)", r.Alert, sel, n, err)
				}
			}
		}
	}

	// The check above fails for a metric the operator does not export.
	if n, err := prom.query(`caseload_team_weigth{job="caseload-operator"}`); err != nil || n != 0 {
		t.Errorf("a misspelt metric matches %d series (%v): the check could not fail", n, err)
	}
}

// lines collects the sandbox's output and closes ready at its ready line.
type lines struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	ready chan struct{}
	once  sync.Once
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if strings.Contains(l.buf.String(), sandbox.ReadyLine) {
		l.once.Do(func() { close(l.ready) })
	}
	return len(p), nil
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// allocate makes the webhook decide twice: the tour's refused allocation, then the same case to
// the practitioner with room.
func allocate(t *testing.T, kubeconfig string) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	to := func(practitioner string) error {
		var kase v1alpha1.Case
		if err := c.Get(ctx, client.ObjectKey{Namespace: sandbox.TourNamespace, Name: sandbox.TourRefusedCase}, &kase); err != nil {
			return err
		}
		before := kase.DeepCopy()
		kase.Spec.AllocatedTo = practitioner
		return c.Patch(ctx, &kase, client.MergeFrom(before))
	}
	if err := to(sandbox.TourFullPractitioner); err == nil || !strings.Contains(err.Error(), "denied by CaseloadQuota") {
		t.Fatalf("allocating %s to %s: %v, want a refusal", sandbox.TourRefusedCase, sandbox.TourFullPractitioner, err)
	}
	if err := to(sandbox.TourRoomyPractitioner); err != nil {
		t.Fatalf("allocating %s to %s: %v", sandbox.TourRefusedCase, sandbox.TourRoomyPractitioner, err)
	}
}

// grafana is the part of a dashboard this test reads.
type grafana struct {
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

// variable is a dashboard variable; its query is a string (a data source's type) or an object
// holding the query.
type variable struct {
	Name  string          `json:"name"`
	Type  string          `json:"type"`
	Query json.RawMessage `json:"query"`
}

func (v variable) query() string {
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var q struct {
		Query string `json:"query"`
	}
	_ = json.Unmarshal(v.Query, &q)
	return q.Query
}

type panel struct {
	Type       string     `json:"type"`
	Title      string     `json:"title"`
	Datasource datasource `json:"datasource"`
	Targets    []struct {
		Datasource datasource `json:"datasource"`
		Expr       string     `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func (g grafana) panels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(g.Panels)
	return out
}

func dashboard(t *testing.T) grafana {
	t.Helper()
	var d grafana
	if err := json.Unmarshal(repoFile(t, "config/grafana/caseload-dashboard.json"), &d); err != nil {
		t.Fatalf("config/grafana/caseload-dashboard.json: %v", err)
	}
	return d
}

// TestDashboardAsksForItsDataSource: every panel and query uses the ${datasource} variable, so
// the dashboard works with whatever a platform team calls its Prometheus; and it shows no
// practitioner, since per-practitioner figures are opt-in and the dashboard is for everyone.
func TestDashboardAsksForItsDataSource(t *testing.T) {
	d := dashboard(t)
	queries := 0
	for _, p := range d.panels() {
		if p.Type == "row" {
			continue
		}
		if p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q uses data source %q, not ${datasource}", p.Title, p.Datasource.UID)
		}
		for _, target := range p.Targets {
			queries++
			if target.Datasource.UID != "${datasource}" {
				t.Errorf("a query of panel %q uses data source %q, not ${datasource}", p.Title, target.Datasource.UID)
			}
			if strings.Contains(target.Expr, "caseload_practitioner_") || strings.Contains(target.Expr, "practitioner)") {
				t.Errorf("panel %q shows individual practitioners: %s", p.Title, target.Expr)
			}
		}
	}
	if queries < 10 {
		t.Errorf("the dashboard has %d queries; is it the whole dashboard?", queries)
	}
	if !slices.ContainsFunc(d.Templating.List, func(v variable) bool {
		return v.Name == "datasource" && v.Type == "datasource" && v.query() == "prometheus"
	}) {
		t.Errorf("the dashboard has no datasource variable of type prometheus")
	}
}

// expand replaces the dashboard's variables with what selects everything.
func expand(expr string, vars map[string]string) string {
	for k, v := range vars {
		expr = strings.ReplaceAll(expr, k, v)
	}
	return expr
}

// labelValues splits Grafana's label_values(SELECTOR, LABEL).
func labelValues(q string) (selector, label string, ok bool) {
	inner, found := strings.CutPrefix(strings.TrimSpace(q), "label_values(")
	if !found || !strings.HasSuffix(inner, ")") {
		return "", "", false
	}
	inner = strings.TrimSuffix(inner, ")")
	i := strings.LastIndex(inner, ",")
	if i < 0 {
		return "", "", false
	}
	return strings.TrimSpace(inner[:i]), strings.TrimSpace(inner[i+1:]), true
}

// prom is a Prometheus server started for one test.
type prom struct {
	base string
}

func startPrometheus(t *testing.T, bin, dir, target string) *prom {
	t.Helper()
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
- caseload.rules.yaml
scrape_configs:
# As the ServiceMonitor has it: the job named caseload-operator, the operator's labels honoured.
- job_name: %s
  honor_labels: true
  static_configs:
  - targets: [%q]
`, job, target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := testenv.FreeAddr(t)
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+addr, "--log.level=warn")
	logFile, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logFile.Close()
		if t.Failed() {
			log, _ := os.ReadFile(logFile.Name())
			t.Logf("prometheus's log:\n%s", log)
		}
	})
	p := &prom{base: "http://" + addr}
	eventually(t, time.Minute, "Prometheus is ready", func() error {
		resp, err := http.Get(p.base + "/-/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/-/ready: %s", resp.Status)
		}
		return nil
	})
	return p
}

// api calls a Prometheus API and decodes its data.
func (p *prom) api(path string, params url.Values, data any) error {
	resp, err := http.Get(p.base + path + "?" + params.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var envelope struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &envelope); err != nil {
		return fmt.Errorf("%s: %s: %w", path, body, err)
	}
	if envelope.Status != "success" {
		return fmt.Errorf("%s: %s", path, envelope.Error)
	}
	return json.Unmarshal(envelope.Data, data)
}

// query evaluates an instant query and counts the series it returns.
func (p *prom) query(q string) (int, error) {
	var data struct {
		ResultType string            `json:"resultType"`
		Result     []json.RawMessage `json:"result"`
	}
	if err := p.api("/api/v1/query", url.Values{"query": {q}}, &data); err != nil {
		return 0, err
	}
	if data.ResultType != "vector" {
		return 0, fmt.Errorf("result is a %s, not a vector", data.ResultType)
	}
	return len(data.Result), nil
}

func (p *prom) labelValues(t *testing.T, label, selector string) []string {
	t.Helper()
	var values []string
	if err := p.api("/api/v1/label/"+label+"/values", url.Values{"match[]": {selector}}, &values); err != nil {
		t.Errorf("label values of %s for %s: %v", label, selector, err)
	}
	return values
}

// waitForSamples waits until the operator has been scraped n times, so that rates have points.
func (p *prom) waitForSamples(t *testing.T, n int) {
	t.Helper()
	eventually(t, time.Minute, fmt.Sprintf("%d scrapes of the operator", n), func() error {
		q := fmt.Sprintf(`count_over_time(up{job=%q}[1m]) >= %d and up{job=%q} == 1`, job, n, job)
		if got, err := p.query(q); err != nil || got == 0 {
			return fmt.Errorf("%s: %d series (%v)", q, got, err)
		}
		return nil
	})
}

// waitForEvaluations waits until Prometheus has evaluated every rule, and fails on any rule whose
// evaluation failed.
func (p *prom) waitForEvaluations(t *testing.T, groups []ruleGroup) {
	t.Helper()
	want := 0
	for _, g := range groups {
		want += len(g.Rules)
	}
	eventually(t, time.Minute, "Prometheus evaluates every rule", func() error {
		var data struct {
			Groups []struct {
				Rules []struct {
					Name           string    `json:"name"`
					Health         string    `json:"health"`
					LastError      string    `json:"lastError"`
					LastEvaluation time.Time `json:"lastEvaluation"`
				} `json:"rules"`
			} `json:"groups"`
		}
		if err := p.api("/api/v1/rules", nil, &data); err != nil {
			return err
		}
		got := 0
		for _, g := range data.Groups {
			for _, r := range g.Rules {
				if r.LastEvaluation.IsZero() || r.LastEvaluation.Year() < 2000 {
					return fmt.Errorf("%s not evaluated yet", r.Name)
				}
				if r.Health != "ok" {
					t.Fatalf("Prometheus could not evaluate alert %s: %s %s", r.Name, r.Health, r.LastError)
				}
				got++
			}
		}
		if got != want {
			return fmt.Errorf("Prometheus has %d rules loaded, want %d", got, want)
		}
		return nil
	})
}

func eventually(t *testing.T, within time.Duration, what string, ok func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := ok()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s: %v", what, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

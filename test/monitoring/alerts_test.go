// Package monitoring tests what a platform team's monitoring gets from the operator: the alerts
// of config/prometheus/alerts.yaml (promtool's checks and unit tests) and the Grafana dashboard
// of config/grafana, whose every query and every alert expression a real Prometheus evaluates
// against the sandbox operator's metrics.
package monitoring

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"caseload.dev/caseload-operator/internal/testenv"
)

// ruleFile is a PrometheusRule, as far as these tests read it.
type ruleFile struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Groups []ruleGroup `json:"groups"`
	} `json:"spec"`
}

type ruleGroup struct {
	Name  string `json:"name"`
	Rules []rule `json:"rules"`
}

type rule struct {
	Alert       string            `json:"alert,omitempty"`
	Record      string            `json:"record,omitempty"`
	Expr        string            `json:"expr"`
	For         string            `json:"for,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// repoFile reads a file of the repository, by its path from the top.
func repoFile(t *testing.T, path string) []byte {
	t.Helper()
	root, err := testenv.Root()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// alerts reads config/prometheus/alerts.yaml, the file the chart copies.
func alerts(t *testing.T) []ruleGroup {
	t.Helper()
	data := repoFile(t, "config/prometheus/alerts.yaml")
	var f ruleFile
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		t.Fatalf("config/prometheus/alerts.yaml: %v", err)
	}
	if len(f.Spec.Groups) == 0 {
		t.Fatal("config/prometheus/alerts.yaml holds no rule group")
	}
	return f.Spec.Groups
}

// writeRules writes groups as a plain Prometheus rule file.
func writeRules(t *testing.T, path string, groups []ruleGroup) {
	t.Helper()
	data, err := yaml.Marshal(map[string]any{"groups": groups})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func runTool(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(testenv.Program(t, "prometheus", name), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	t.Logf("%s %s:\n%s", name, strings.Join(args, " "), out)
}

// TestAlertRulesPassPromtool checks the rules as Prometheus loads them (expressions, durations,
// annotation templates) and runs the unit tests of testdata/alerts.promtest.yaml.
func TestAlertRulesPassPromtool(t *testing.T) {
	groups := alerts(t)
	dir := t.TempDir()
	writeRules(t, filepath.Join(dir, "full.rules.yaml"), groups)
	runTool(t, dir, "promtool", "check", "rules", "full.rules.yaml")

	// The unit tests compare every annotation; they state the summary, which shows the labels and
	// the figure, and leave out the long description and runbook.
	var summaries []ruleGroup
	for _, g := range groups {
		g.Rules = slices.Clone(g.Rules)
		for i := range g.Rules {
			g.Rules[i].Annotations = map[string]string{"summary": g.Rules[i].Annotations["summary"]}
		}
		summaries = append(summaries, g)
	}
	writeRules(t, filepath.Join(dir, "caseload.rules.yaml"), summaries)
	tests, err := os.ReadFile(filepath.Join("testdata", "alerts.promtest.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts.promtest.yaml"), tests, 0o644); err != nil {
		t.Fatal(err)
	}
	runTool(t, dir, "promtool", "test", "rules", "alerts.promtest.yaml")
}

// promTests is the part of a promtool test file this test reads.
type promTests struct {
	Tests []struct {
		Name      string `json:"name"`
		AlertRule []struct {
			Alertname string `json:"alertname"`
			ExpAlerts []struct {
				ExpLabels map[string]string `json:"exp_labels"`
			} `json:"exp_alerts"`
		} `json:"alert_rule_test"`
	} `json:"tests"`
}

// TestEveryAlertIsTestedFiringAndNot: promtool passes a file that tests nothing, so this test
// makes sure that every alert has a case where it fires and one where it must not.
func TestEveryAlertIsTestedFiringAndNot(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "alerts.promtest.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var pt promTests
	if err := yaml.Unmarshal(data, &pt); err != nil {
		t.Fatal(err)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range pt.Tests {
		for _, a := range tc.AlertRule {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	for _, g := range alerts(t) {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			if !fires[r.Alert] {
				t.Errorf("alert %s has no promtool test in which it fires", r.Alert)
			}
			if !quiet[r.Alert] {
				t.Errorf("alert %s has no promtool test in which it must not fire", r.Alert)
			}
		}
	}
}

// TestEveryAlertSaysWhoActsAndHow: each alert has a severity Alertmanager can page by, an
// audience to route it to, a summary, a description and a runbook, and docs/operations.md has a
// section about it.
func TestEveryAlertSaysWhoActsAndHow(t *testing.T) {
	ops := repoFile(t, "docs/operations.md")
	templateRef := regexp.MustCompile(`\$labels\.([a-z_]+)`)
	for _, g := range alerts(t) {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: severity %q, want warning or critical", r.Alert, s)
			}
			if a := r.Labels["audience"]; a != "service-manager" && a != "platform" {
				t.Errorf("%s: audience %q, want service-manager or platform", r.Alert, a)
			}
			for _, key := range []string{"summary", "description", "runbook"} {
				if strings.TrimSpace(r.Annotations[key]) == "" {
					t.Errorf("%s has no %s annotation", r.Alert, key)
				}
			}
			// An annotation may name only labels the expression keeps.
			for _, text := range r.Annotations {
				for _, m := range templateRef.FindAllStringSubmatch(text, -1) {
					if !strings.Contains(r.Expr, m[1]) {
						t.Errorf("%s: an annotation names $labels.%s, which its expression does not keep", r.Alert, m[1])
					}
				}
			}
			if !strings.Contains(string(ops), "\n### "+r.Alert+"\n") {
				t.Errorf("docs/operations.md has no section \"### %s\"", r.Alert)
			}
		}
	}
}

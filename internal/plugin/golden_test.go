package plugin_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files of the plugin's output")

// golden compares got with testdata/golden/name, or writes it there with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/plugin -run %s -update to write it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("%s differs from %s (rerun with -update if the change is meant):\n--- got\n%s\n--- want\n%s", t.Name(), path, got, want)
	}
}

// TestPlanOfTheSampleCouncil plans, offline against the committed snapshot of the sample
// council's brookfield in examples/gitops, the pull request that lowers its newly qualified cap,
// in each form a pipeline uses.
func TestPlanOfTheSampleCouncil(t *testing.T) {
	for _, form := range []struct{ output, file string }{{"table", "plan.txt"}, {"markdown", "plan.md"}, {"json", "plan.json"}} {
		out, errOut, code := kubectlCaseload(t, "-n", "brookfield", "plan", "-f", lowerNewlyQualifiedCap(t),
			"--snapshot", "../../examples/gitops/snapshots/brookfield.snapshot.yaml", "-o", form.output)
		if code != 2 {
			t.Errorf("-o %s: exit %d, want 2 (the change adds violations): %s", form.output, code, errOut)
		}
		golden(t, form.file, out)
	}
}

// TestGitOpsPlanGuardsAPullRequest runs the plan of examples/gitops/.github/workflows on the
// example's quotas: unchanged they pass, and the pull request that lowers the newly qualified cap
// fails the check (exit status 2).
func TestGitOpsPlanGuardsAPullRequest(t *testing.T) {
	workflow, err := os.ReadFile("../../examples/gitops/.github/workflows/caseload-plan.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(workflow), "plan -f councils/${{ matrix.council }}/quotas") || !strings.Contains(string(workflow), "--snapshot snapshots/${{ matrix.council }}.snapshot.yaml") {
		t.Fatalf("the workflow no longer runs the plan this test runs:\n%s", workflow)
	}
	run := func(quotas string) (string, int) {
		out, errOut, code := kubectlCaseload(t, "-n", "brookfield", "plan", "-f", quotas,
			"--snapshot", "../../examples/gitops/snapshots/brookfield.snapshot.yaml", "-o", "markdown")
		return out + errOut, code
	}
	if out, code := run("../../examples/gitops/councils/brookfield/quotas"); code != 0 || !strings.Contains(out, "**0 violations added, 0 removed, over 3 teams.**") {
		t.Errorf("the quotas as merged: exit %d, want 0:\n%s", code, out)
	}
	if out, code := run(lowerNewlyQualifiedCap(t)); code != 2 || !strings.Contains(out, "sw-0311") || !strings.Contains(out, "sw-0537") {
		t.Errorf("the pull request lowering the cap: exit %d, want 2, naming sw-0311 and sw-0537:\n%s", code, out)
	}
}

// lowerNewlyQualifiedCap is the pull request to examples/gitops that lowers brookfield's newly
// qualified cap from 12 to 8, as the README plans it: examples/gitops/proposals holds the quotas
// as the branch would leave them, which must be the merged quotas with only that cap changed.
func lowerNewlyQualifiedCap(t *testing.T) string {
	t.Helper()
	const proposal = "../../examples/gitops/proposals/lower-newly-qualified-cap.yaml"
	merged, err := os.ReadFile("../../examples/gitops/councils/brookfield/quotas/quotas.yaml")
	if err != nil {
		t.Fatal(err)
	}
	proposed, err := os.ReadFile(proposal)
	if err != nil {
		t.Fatal(err)
	}
	const was, now = "- grade: NewlyQualified\n      maxWeight: \"12\"", "- grade: NewlyQualified\n      maxWeight: \"8\""
	if !strings.Contains(string(merged), was) || !strings.HasSuffix(string(proposed), strings.Replace(string(merged), was, now, 1)) {
		t.Fatalf("%s is no longer the merged quotas with the newly qualified cap lowered from 12 to 8", proposal)
	}
	return proposal
}

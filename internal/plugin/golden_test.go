package plugin_test

import (
	"flag"
	"os"
	"path/filepath"
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

// TestPlanOfTheSampleCouncil plans, offline against a committed snapshot of the sample council,
// the pull request that lowers brookfield's newly qualified cap, in each form a pipeline uses.
func TestPlanOfTheSampleCouncil(t *testing.T) {
	for _, form := range []struct{ output, file string }{{"table", "plan.txt"}, {"markdown", "plan.md"}, {"json", "plan.json"}} {
		out, errOut, code := kubectlCaseload(t, "-n", "brookfield", "plan", "-f", "testdata/sample/lower-newly-qualified-cap",
			"--snapshot", "testdata/sample/council.snapshot.yaml", "-o", form.output)
		if code != 2 {
			t.Errorf("-o %s: exit %d, want 2 (the change adds violations): %s", form.output, code, errOut)
		}
		golden(t, form.file, out)
	}
}

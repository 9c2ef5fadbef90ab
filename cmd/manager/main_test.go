package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestTheManagerLinksNoTestCode: the binary a council runs in production carries no test
// framework and no local control plane. The sandbox behind `make run` is cmd/sandbox.
func TestTheManagerLinksNoTestCode(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	forbidden := map[string]string{
		"testing": "Go's test framework",
		"sigs.k8s.io/controller-runtime/pkg/envtest":      "envtest",
		"caseload.dev/caseload-operator/internal/testenv": "the test environment",
		"caseload.dev/caseload-operator/internal/sandbox": "the sandbox",
	}
	for _, dep := range strings.Fields(string(out)) {
		if what, ok := forbidden[dep]; ok {
			t.Errorf("cmd/manager depends on %s (%s)", dep, what)
		}
		if strings.Contains(dep, "/fake") {
			t.Errorf("cmd/manager depends on %s, a fake for tests", dep)
		}
	}
}

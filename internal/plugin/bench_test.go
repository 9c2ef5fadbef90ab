package plugin

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/plugin/offline"
	"caseload.dev/caseload-operator/internal/plugin/plan"
)

// generated is a seeded council of n cases in teams of 160 cases and 20 practitioners, as
// England's children's services are shaped (320,000 cases, 40,000 practitioners, a few thousand
// teams), with one quota.
func generated(n int) *offline.World {
	w := &offline.World{APIVersion: offline.SnapshotVersion, Kind: "CaseloadSnapshot", TakenAt: metav1.NewTime(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))}
	const ns = "england"
	w.Namespaces = []corev1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: ns}}}
	types := []string{"ChildInNeed", "ChildProtection", "LookedAfter", "EarlyHelp"}
	for t := 0; t*160 < n; t++ {
		team := fmt.Sprintf("team-%04d", t)
		w.Teams = append(w.Teams, v1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: team}})
		for p := range 20 {
			grade := "SocialWorker"
			if p%5 == 0 {
				grade = "NewlyQualified"
			}
			w.Practitioners = append(w.Practitioners, v1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("%s-sw-%02d", team, p)},
				Spec: v1alpha1.PractitionerSpec{Team: team, Grade: grade}})
		}
		for c := 0; c < 160 && t*160+c < n; c++ {
			i := t*160 + c
			kase := v1alpha1.Case{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "c-" + strconv.Itoa(i), Generation: 1},
				Spec: v1alpha1.CaseSpec{Reference: "LCS-" + strconv.Itoa(i), Team: team, Type: types[i%4], OpenedOn: "2026-06-01", Children: int32(1 + i%3)}}
			if c%40 != 0 { // one case in forty waits for a worker
				kase.Spec.AllocatedTo = fmt.Sprintf("%s-sw-%02d", team, c%20)
			}
			w.Cases = append(w.Cases, kase)
		}
	}
	w.Quotas = []v1alpha1.CaseloadQuota{{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "caps"}, Spec: v1alpha1.CaseloadQuotaSpec{
		Weights:          v1alpha1.Weights{CaseTypes: map[string]v1alpha1.CaseWeight{"ChildProtection": "1.5", "EarlyHelp": "0.5"}, AdditionalChild: "0.25"},
		PractitionerCaps: []v1alpha1.PractitionerCap{{Grade: "SocialWorker", MaxWeight: "15"}, {Grade: "NewlyQualified", MaxWeight: "12"}},
	}}}
	return w
}

// BenchmarkPlanOffline plans a lower cap for a generated council of BENCH_PLAN_CASES cases
// (3,000 unless set; docs/benchmarks.md has 320,000) from a snapshot file, running the plugin as a
// pull-request pipeline would, and reports its peak memory.
func BenchmarkPlanOffline(b *testing.B) {
	n := 3000
	if v, err := strconv.Atoi(os.Getenv("BENCH_PLAN_CASES")); err == nil && v > 0 {
		n = v
	}
	dir := b.TempDir()
	snap := filepath.Join(dir, "snapshot.json")
	data, err := generated(n).Marshal(true)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(snap, data, 0o600); err != nil {
		b.Fatal(err)
	}
	policy := filepath.Join(dir, "caps.yaml")
	if err := os.WriteFile(policy, []byte("apiVersion: caseload.dev/v1alpha1\nkind: CaseloadQuota\nmetadata: {name: caps, namespace: england}\n"+
		"spec:\n  weights: {caseTypes: {ChildProtection: \"1.5\", EarlyHelp: \"0.5\"}, additionalChild: \"0.25\"}\n"+
		"  practitionerCaps:\n  - {grade: SocialWorker, maxWeight: \"12\"}\n  - {grade: NewlyQualified, maxWeight: \"10\"}\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	size := float64(len(data)) / (1 << 20)
	data = nil
	// The plugin as a pipeline runs it: its own process, whose peak memory the kernel reports.
	bin := filepath.Join(dir, "kubectl-caseload")
	if out, err := exec.Command("go", "build", "-o", bin, "caseload.dev/caseload-operator/cmd/kubectl-caseload").CombinedOutput(); err != nil {
		b.Fatalf("build the plugin: %v\n%s", err, out)
	}
	var peak int64
	b.ResetTimer()
	for range b.N {
		cmd := exec.Command(bin, "-n", "england", "plan", "-f", policy, "--snapshot", snap, "-o", "json")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != plan.ExitViolations {
			b.Fatalf("plan: %v\n%s", err, out.String())
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			peak = max(peak, ru.Maxrss) // KiB on Linux
		}
	}
	b.ReportMetric(float64(peak)/(1<<10), "max-RSS-MiB")
	b.ReportMetric(size, "snapshot-MiB")
}

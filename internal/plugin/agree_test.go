package plugin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

// council creates a namespace with team north, practitioners of several grades (one away, one
// part-time) and a quota, and waits until the webhook's cache shows them all.
func council(t *testing.T, ns string, spec v1alpha1.CaseloadQuotaSpec) {
	t.Helper()
	ctx := context.Background()
	no := false
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&v1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "north"}},
		&v1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ash"}, Spec: v1alpha1.PractitionerSpec{Team: "north", Grade: "SocialWorker"}},
		&v1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bo"}, Spec: v1alpha1.PractitionerSpec{Team: "north", Grade: "SocialWorker", FTE: "0.5"}},
		&v1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cy"}, Spec: v1alpha1.PractitionerSpec{Team: "north", Grade: "NewlyQualified"}},
		&v1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "di"}, Spec: v1alpha1.PractitionerSpec{Team: "north", Grade: "SocialWorker", Available: &no}},
		&v1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ed"}, Spec: v1alpha1.PractitionerSpec{Team: "north", Grade: "TeamManager"}},
		&v1alpha1.CaseloadQuota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "caps"}, Spec: spec},
	}
	for _, o := range objs {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the quota's status", func() bool {
		var q v1alpha1.CaseloadQuota
		return env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "caps"}, &q) == nil && q.Status.ObservedGeneration == q.Generation
	})
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !ok(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

var caps = v1alpha1.CaseloadQuotaSpec{
	Weights: v1alpha1.Weights{
		CaseTypes:       map[string]v1alpha1.CaseWeight{"ChildProtection": "1.5", "EarlyHelp": "0.5", "CareProceedings": "2"},
		Complexity:      map[string]v1alpha1.Multiplier{"High": "1.5", "Low": "0.75"},
		AdditionalChild: "0.25",
	},
	PractitionerCaps: []v1alpha1.PractitionerCap{
		{Grade: "SocialWorker", MaxWeight: "6"},
		{Grade: "NewlyQualified", MaxWeight: "4", ExcludedCaseTypes: []string{"ChildProtection", "CareProceedings"}},
	},
	Exceptions: &v1alpha1.Exceptions{MaxPercent: 120, MaxDays: 14},
}

// TestExplainAgreesWithRealAllocations: 24 varied allocations, one after another, each first
// explained and then made for real: explain's verdict and reasons are the webhook's, every time.
func TestExplainAgreesWithRealAllocations(t *testing.T) {
	ctx := context.Background()
	council(t, "agree", caps)
	types := []string{"ChildInNeed", "ChildProtection", "EarlyHelp", "CareProceedings"}
	complexities := []v1alpha1.Complexity{"", "High", "Low"}
	who := []string{"ash", "bo", "cy", "di", "ed", "nobody"}
	refused := 0
	for i := range 24 {
		name := fmt.Sprintf("a-%02d", i)
		c := &v1alpha1.Case{ObjectMeta: metav1.ObjectMeta{Namespace: "agree", Name: name}, Spec: v1alpha1.CaseSpec{
			Reference: "LCS-A" + name, Team: "north", Type: types[i%len(types)], Complexity: complexities[i%len(complexities)],
			Children: int32(1 + i%3), OpenedOn: "2026-11-02"}}
		if err := env.Client.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
		to := who[i%len(who)]
		args := []string{"-n", "agree", "explain", name, "--to", to, "-o", "json"}
		var coWorker string
		if i%4 == 3 {
			coWorker = who[(i+1)%4]
			args = append(args, "--co-worker", coWorker)
		}
		out, errOut, code := kubectlCaseload(t, args...)
		var v struct {
			Allowed bool
			Reasons []struct{ Field, Message string }
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil || code == 2 {
			t.Fatalf("%s: explain exit %d: %v\n%s%s", name, code, err, out, errOut)
		}
		var err error
		for {
			if err = env.Client.Get(ctx, client.ObjectKeyFromObject(c), c); err != nil {
				t.Fatal(err)
			}
			c.Spec.AllocatedTo = to
			if coWorker != "" && coWorker != to {
				c.Spec.CoWorkers = []string{coWorker}
			}
			if err = env.Client.Update(ctx, c); !apierrors.IsConflict(err) {
				break // the operator wrote the status meanwhile: again, as kubectl edit would
			}
		}
		if v.Allowed != (err == nil) {
			t.Errorf("%s to %s (co-worker %q): explain says allowed=%v, the real allocation: %v", name, to, coWorker, v.Allowed, err)
			continue
		}
		if err == nil {
			continue
		}
		refused++
		status, _ := err.(apierrors.APIStatus)
		var real []string
		for _, cause := range status.Status().Details.Causes {
			real = append(real, cause.Field+": "+strings.TrimPrefix(cause.Message, "Forbidden: "))
		}
		var said []string
		for _, r := range v.Reasons {
			said = append(said, r.Field+": "+r.Message)
		}
		if !slices.Equal(said, real) {
			t.Errorf("%s: explain gave\n%s\nthe real allocation\n%s", name, strings.Join(said, "\n"), strings.Join(real, "\n"))
		}
	}
	if refused < 6 || refused > 18 {
		t.Errorf("%d of 24 refused: the allocations are not varied enough to prove much", refused)
	}
}

// TestPlanAgreesWithTheAudit: what plan says a tighter quota adds and removes is what the
// quota's own audit shows once the change is applied.
func TestPlanAgreesWithTheAudit(t *testing.T) {
	ctx := context.Background()
	council(t, "audited", caps)
	for i, h := range []struct{ typ, to string }{{"ChildProtection", "ash"}, {"ChildInNeed", "ash"}, {"CareProceedings", "ash"}, {"ChildInNeed", "bo"}, {"EarlyHelp", "bo"}, {"ChildInNeed", "cy"}, {"ChildInNeed", "cy"}} {
		c := &v1alpha1.Case{ObjectMeta: metav1.ObjectMeta{Namespace: "audited", Name: fmt.Sprintf("h-%d", i)}, Spec: v1alpha1.CaseSpec{
			Reference: fmt.Sprintf("LCS-H%d", i), Team: "north", Type: h.typ, OpenedOn: "2026-11-02", AllocatedTo: h.to}}
		if err := env.Client.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	violations := func() []string {
		var q v1alpha1.CaseloadQuota
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "audited", Name: "caps"}, &q); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, v := range q.Status.ViolationList {
			out = append(out, v.Kind+"/"+v.Name+"/"+v.Rule+": "+v.Message)
		}
		slices.Sort(out)
		return out
	}
	var before []string
	waitFor(t, "the audit of the allocations", func() bool {
		var q v1alpha1.CaseloadQuota
		_ = env.Client.Get(ctx, client.ObjectKey{Namespace: "audited", Name: "caps"}, &q)
		before = violations()
		// ash 1.5 + 1 + 2, bo 1 + 0.5, cy 1 + 1: every case counted.
		return q.Status.Totals.Weight == "8"
	})

	tighter := caps.DeepCopy()
	tighter.PractitionerCaps = []v1alpha1.PractitionerCap{
		{Grade: "SocialWorker", MaxWeight: "3", MaxCases: ptr(int32(2))},
		{Grade: "NewlyQualified", MaxWeight: "2"},
	}
	data, _ := json.Marshal(map[string]any{"apiVersion": "caseload.dev/v1alpha1", "kind": "CaseloadQuota",
		"metadata": map[string]any{"name": "caps", "namespace": "audited"}, "spec": tighter})
	f := filepath.Join(t.TempDir(), "caps.json")
	if err := os.WriteFile(f, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := kubectlCaseload(t, "-n", "audited", "plan", "-f", f, "-o", "json")
	if code != 2 {
		t.Fatalf("plan exit %d, want 2:\n%q\n%q", code, out, errOut)
	}
	var p struct {
		Teams []struct {
			A []struct{ Kind, Name, Rule, Quota, Message string } `json:"violationsAdded"`
			R []struct{ Kind, Name, Rule, Quota, Message string } `json:"violationsRemoved"`
		}
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(before)
	for _, tm := range p.Teams {
		for _, a := range tm.A {
			want = append(want, a.Kind+"/"+a.Name+"/"+a.Rule+": "+a.Message)
		}
		for _, r := range tm.R {
			want = slices.DeleteFunc(want, func(s string) bool { return s == r.Kind+"/"+r.Name+"/"+r.Rule+": "+r.Message })
		}
	}
	slices.Sort(want)
	if len(want) == len(before) {
		t.Fatalf("plan says the tighter quota changes no violation: %s", out)
	}

	var q v1alpha1.CaseloadQuota
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "audited", Name: "caps"}, &q); err != nil {
		t.Fatal(err)
	}
	q.Spec = *tighter
	if err := env.Client.Update(ctx, &q); err != nil {
		t.Fatal(err)
	}
	var after []string
	waitFor(t, "the audit of the tighter quota", func() bool {
		var now v1alpha1.CaseloadQuota
		_ = env.Client.Get(ctx, client.ObjectKey{Namespace: "audited", Name: "caps"}, &now)
		after = violations()
		return now.Status.ObservedGeneration == now.Generation && slices.Equal(after, want)
	})
	t.Logf("plan and audit agree on %d violations (%d before the change)", len(after), len(before))
}

func ptr[T any](v T) *T { return &v }

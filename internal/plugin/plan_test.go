package plugin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/manifest"
	"caseload.dev/caseload-operator/internal/plugin/plan"
)

// planDay is when the plan and verify tests run, by the plugin's clock: the day their figures are
// for, the same on every run.
var planDay = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// sandwell is a council whose team north has jo (SocialWorker, cap 3) holding 2.5, sam
// (NewlyQualified, cap 2) holding 0.5, and one case waiting for a worker; team south is empty.
func sandwell(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	const ns = "sandwell"
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&v1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "north"}},
		&v1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "south"}},
		&v1alpha1.CaseloadQuota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "safeguarding"}, Spec: v1alpha1.CaseloadQuotaSpec{
			Weights:          v1alpha1.Weights{CaseTypes: map[string]v1alpha1.CaseWeight{"ChildProtection": "1.5", "EarlyHelp": "0.5"}},
			PractitionerCaps: []v1alpha1.PractitionerCap{{Grade: "SocialWorker", MaxWeight: "3"}, {Grade: "NewlyQualified", MaxWeight: "2"}},
		}},
		&v1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "jo"}, Spec: v1alpha1.PractitionerSpec{Team: "north", Grade: "SocialWorker"}},
		&v1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "sam"}, Spec: v1alpha1.PractitionerSpec{Team: "north", Grade: "NewlyQualified"}},
	}
	for i, c := range []struct {
		typ, to string
		opened  v1alpha1.Date
	}{{"ChildProtection", "jo", "2026-11-02"}, {"ChildInNeed", "jo", "2026-11-02"}, {"EarlyHelp", "sam", "2026-11-02"}, {"ChildInNeed", "", "2026-11-30"}} {
		objs = append(objs, &v1alpha1.Case{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("c-%d", i+1)},
			Spec: v1alpha1.CaseSpec{Reference: fmt.Sprintf("LCS-%d", i+1), Team: "north", Type: c.typ, OpenedOn: c.opened, AllocatedTo: c.to}})
	}
	for _, o := range objs {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the operator to reconcile sandwell", func() bool {
		var jo, sam v1alpha1.Practitioner
		var north v1alpha1.Team
		_ = env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "jo"}, &jo)
		_ = env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "sam"}, &sam)
		_ = env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "north"}, &north)
		return jo.Status.Weight == "2.5" && sam.Status.Weight == "0.5" && north.Status.Unallocated == 1
	})
}

// TestPlan plans changes of sandwell's quotas, offline against its snapshot and live against the
// cluster, and compares what plan prints with the golden files, temporary paths written $TMP.
func TestPlan(t *testing.T) {
	sandwell(t)
	dir := t.TempDir()
	tmp := func(out string) string { return strings.ReplaceAll(out, dir, "$TMP") }
	snap := filepath.Join(dir, "sandwell.yaml")
	if _, errOut, code := kubectlCaseloadAt(t, planDay, "-n", "sandwell", "snapshot", "-f", snap); code != 0 {
		t.Fatalf("snapshot: exit %d: %s", code, errOut)
	}
	quota := func(name, socialWorkerCap string) string { return quotaFile(t, dir, "sandwell", name, socialWorkerCap) }

	t.Run("plan of a tighter cap, offline: the violation it adds, and exit 2", func(t *testing.T) {
		out, errOut, code := kubectlCaseloadAt(t, planDay, "-n", "sandwell", "plan", "-f", quota("safeguarding", "2"), "--snapshot", snap, "-o", "markdown")
		if code != 2 {
			t.Errorf("exit %d, want 2 (adds violations): %s", code, errOut)
		}
		// jo carries 2.5 of 2; capacity 5 -> 4 for weight 3; 1 violation added over 2 teams.
		golden(t, "plan-tighter.md", tmp(out))
	})

	t.Run("a JSON snapshot plans as the YAML one does", func(t *testing.T) {
		snapJSON := filepath.Join(dir, "sandwell.json")
		if _, errOut, code := kubectlCaseloadAt(t, planDay, "-n", "sandwell", "snapshot", "-f", snapJSON); code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if data, _ := os.ReadFile(snapJSON); !strings.HasPrefix(string(data), "{") {
			t.Fatalf("%s is not JSON: %.40s", snapJSON, data)
		}
		proposed := quota("safeguarding", "2")
		yamlPlan, _, code := kubectlCaseloadAt(t, planDay, "-n", "sandwell", "plan", "-f", proposed, "--snapshot", snap, "-o", "json")
		if code != 2 {
			t.Errorf("from YAML: exit %d, want 2", code)
		}
		jsonPlan, _, code := kubectlCaseloadAt(t, planDay, "-n", "sandwell", "plan", "-f", proposed, "--snapshot", snapJSON, "-o", "json")
		if code != 2 {
			t.Errorf("from JSON: exit %d, want 2", code)
		}
		// The plans differ only in the file they name.
		if strings.ReplaceAll(jsonPlan, snapJSON, snap) != yamlPlan {
			t.Errorf("from YAML:\n%s\nfrom JSON:\n%s", yamlPlan, jsonPlan)
		}
		golden(t, "plan-tighter.json", tmp(yamlPlan))
	})

	t.Run("plan of a looser cap, live: nothing breaks, and jo could take a case again", func(t *testing.T) {
		out, errOut, code := kubectlCaseloadAt(t, planDay, "-n", "sandwell", "plan", "-f", quota("safeguarding", "4"), "-o", "json")
		if code != 0 {
			t.Fatalf("exit %d, want 0: %s\n%s", code, errOut, out)
		}
		var p struct {
			Teams []struct {
				Team            string
				NoLongerRefused []string
			}
			ViolationsAdded int
		}
		if err := json.Unmarshal([]byte(out), &p); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if p.ViolationsAdded != 0 || len(p.Teams) != 2 || p.Teams[0].Team != "north" || len(p.Teams[0].NoLongerRefused) != 1 || p.Teams[0].NoLongerRefused[0] != "jo" {
			t.Errorf("plan %+v, want no violation added and jo no longer refused a new case in north", p)
		}
		golden(t, "plan-looser-live.json", out)
	})

	t.Run("plan of a repository without a quota deletes it", func(t *testing.T) {
		repo := filepath.Join(dir, "repo")
		if err := os.MkdirAll(repo, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(quota("caps", "3"), filepath.Join(repo, "caps.yaml")); err != nil {
			t.Fatal(err)
		}
		// A repository holds other things too: left alone.
		if err := os.WriteFile(filepath.Join(repo, "kustomization.yaml"), []byte("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [caps.yaml]\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := kubectlCaseloadAt(t, planDay, "-n", "sandwell", "plan", "-f", repo, "--snapshot", snap)
		if code != 0 {
			t.Errorf("exit %d, want 0: %s", code, errOut)
		}
		// create CaseloadQuota sandwell/caps, delete CaseloadQuota sandwell/safeguarding.
		golden(t, "plan-repository.txt", tmp(out))
	})
}

// TestVerify runs suites as a council's pipeline would, and asks the admission webhook about the
// same changes in the cluster, by server-side dry run: verify and admission decide alike.
func TestVerify(t *testing.T) {
	t.Run("verify runs the example suite, and says which tests fail and why", func(t *testing.T) {
		out, errOut, code := kubectlCaseloadAt(t, planDay, "verify", "../../examples/verify")
		if code != 0 {
			t.Errorf("example suite: exit %d: %s", code, errOut)
		}
		golden(t, "verify-example.txt", out)
		out, errOut, code = kubectlCaseloadAt(t, planDay, "verify", "testdata/failing")
		if code != 1 {
			t.Errorf("exit %d with failing tests, want 1: %s", code, errOut)
		}
		golden(t, "verify-failing.txt", out)
	})

	t.Run("the example suite decides as the webhook does", func(t *testing.T) {
		// The same inventory and quotas in the cluster: every test of the suite gets the same
		// answer from the admission webhook.
		suite, council := councilOfSuite(t, "../../examples/verify/suite.yaml")
		golden(t, "verify-example-webhook.txt", webhookAgrees(t, suite, council))
	})

	t.Run("who a change is decided for: verify and the webhook agree", func(t *testing.T) {
		// Team moves, closing, reopening, promotion, raised weight and a co-worker taken off, on
		// a council built for them (testdata/agreement), decided today as the webhook decides.
		suite, council := councilOfSuite(t, "testdata/agreement/suite.yaml")
		now := time.Now()
		today := now.In(londonTime(t)).Format(time.DateOnly)
		out, errOut, code := kubectlCaseloadAt(t, now, "verify", "testdata/agreement")
		if code != 0 {
			t.Errorf("exit %d: %s", code, errOut)
		}
		golden(t, "verify-agreement.txt", strings.ReplaceAll(out, today, "TODAY"))
		golden(t, "verify-agreement-webhook.txt", webhookAgrees(t, suite, council))
	})
}

func londonTime(t *testing.T) *time.Location {
	t.Helper()
	l, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// councilOfSuite creates the suite's inventory and then its quotas in the cluster, and waits
// until the operator shows every team with its open cases under a quota: the webhook's cache then
// holds them all. It returns the suite and its council, the namespace of its teams.
func councilOfSuite(t *testing.T, path string) (suite *plan.Suite, council string) {
	t.Helper()
	ctx := context.Background()
	suite, err := plan.ReadSuite(path)
	if err != nil {
		t.Fatal(err)
	}
	open := map[client.ObjectKey]int32{}
	var quotas []client.ObjectKey
	var files []string
	for _, group := range [][]string{suite.Inventory, suite.Policy} {
		for _, p := range group {
			p = filepath.Join(filepath.Dir(path), p)
			if info, err := os.Stat(p); err == nil && info.IsDir() {
				found, _ := filepath.Glob(filepath.Join(p, "*.yaml"))
				files = append(files, found...)
			} else {
				files = append(files, p)
			}
		}
	}
	for _, f := range files {
		objs, err := manifest.DecodeFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if err := env.Client.Create(ctx, o); err != nil {
				t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
			}
			switch o.GetKind() {
			case "Team":
				open[client.ObjectKey{Namespace: o.GetNamespace(), Name: o.GetName()}] += 0
				council = o.GetNamespace()
			case "Case":
				var c v1alpha1.Case
				if err := env.Client.Get(ctx, client.ObjectKeyFromObject(o), &c); err != nil {
					t.Fatal(err)
				}
				if c.IsOpen() {
					open[client.ObjectKey{Namespace: c.Namespace, Name: c.Spec.Team}]++
				}
			case "CaseloadQuota":
				quotas = append(quotas, client.ObjectKeyFromObject(o))
			}
		}
	}
	waitFor(t, "the operator to reconcile "+path, func() bool {
		for _, key := range quotas {
			var q v1alpha1.CaseloadQuota
			if env.Client.Get(ctx, key, &q) != nil || q.Status.ObservedGeneration != q.Generation {
				return false
			}
		}
		for key, n := range open {
			var team v1alpha1.Team
			if env.Client.Get(ctx, key, &team) != nil || team.Status.Quota == "" || team.Status.Cases != n {
				return false
			}
		}
		return true
	})
	return suite, council
}

// webhookAgrees asks the admission webhook, by server-side dry run, about each test's change
// of a case in the cluster (the case as plan.SuiteTest.Change would have it), checks its verdict
// is the one the suite expects, as verify's is, and that a refusal says what the test's message
// matches. It returns the webhook's verdicts, one line each, refusals with their message.
func webhookAgrees(t *testing.T, suite *plan.Suite, council string) string {
	t.Helper()
	var b strings.Builder
	for _, tc := range suite.Tests {
		if tc.Namespace == "" {
			tc.Namespace = council
		}
		var verdict, said string
		// The webhook's cache may lag what the operator's status showed a moment ago: a verdict
		// that differs is asked again, until a deadline.
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			verdict, said = dryRun(t, tc)
			if verdict == tc.Expect || time.Now().After(deadline) {
				break
			}
		}
		if verdict != tc.Expect {
			t.Errorf("%s: the webhook says %s %s; the suite (and verify) expect %s", tc.Name, verdict, said, tc.Expect)
		}
		if verdict == "refused" && tc.Message != "" && !regexp.MustCompile(tc.Message).MatchString(said) {
			t.Errorf("%s: the webhook's refusal does not match %q:\n%s", tc.Name, tc.Message, said)
		}
		fmt.Fprintf(&b, "%s: %s", tc.Name, verdict)
		if said != "" {
			fmt.Fprintf(&b, ": %s", said)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// dryRun makes the test's change of a case in the cluster as a server-side dry run, and says
// whether the webhook allowed or refused it, and why.
func dryRun(t *testing.T, tc plan.SuiteTest) (verdict, said string) {
	t.Helper()
	ctx := context.Background()
	ns := tc.Namespace
	var old *v1alpha1.Case
	if tc.NewCase == nil {
		old = &v1alpha1.Case{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: tc.Case}, old); err != nil {
			t.Fatalf("%s: %v", tc.Name, err)
		}
	}
	kase, err := tc.Change(old)
	if err != nil {
		t.Fatalf("%s: %v", tc.Name, err)
	}
	if old == nil {
		kase.Generation = 0
		err = env.Client.Create(ctx, kase, client.DryRunAll)
	} else {
		err = env.Client.Update(ctx, kase, client.DryRunAll)
	}
	switch {
	case err == nil:
		return "allowed", ""
	case apierrors.IsForbidden(err) || apierrors.IsInvalid(err):
		return "refused", err.Error()
	}
	t.Fatalf("%s: %v", tc.Name, err)
	return "", ""
}

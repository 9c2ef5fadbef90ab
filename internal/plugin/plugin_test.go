package plugin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/util/retry"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/builders"
	"caseload.dev/caseload-operator/internal/operator"
	"caseload.dev/caseload-operator/internal/plugin"
	"caseload.dev/caseload-operator/internal/testenv"
	"caseload.dev/caseload-operator/internal/testenv/inprocess"
)

// The plugin is run in process against a real apiserver with the operator (reconcilers and
// admission webhook) running, as a manager would run it from a terminal.
var (
	env        *testenv.Env
	kubeconfig string
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	// The operator's logs are not the plugin's output.
	log.SetLogger(logr.Discard())
	var err error
	env, err = testenv.Start(testenv.Options{Webhooks: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := inprocess.Start(ctx, env, operator.Options{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	user, err := env.Environment.AddUser(envtest.User{Name: "manager", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	kc, err := user.KubeConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "kubectl-caseload")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// kubectlCaseload runs the plugin with args and returns what it printed and its exit status.
func kubectlCaseload(t testing.TB, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runPlugin(args)
}

// kubectlCaseloadAt runs the plugin as kubectlCaseload does, with its clock stopped at at: a
// report's "as at" and the days cases have waited are then the same on every run.
func kubectlCaseloadAt(t testing.TB, at time.Time, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runPlugin(args, plugin.WithClock(clocktesting.NewFakePassiveClock(at)))
}

func runPlugin(args []string, opts ...plugin.Option) (stdout, stderr string, code int) {
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	code = plugin.Run(append([]string{"--kubeconfig", kubeconfig}, args...), streams, opts...)
	return out.String(), errOut.String(), code
}

// same fails the test with the difference when got is not want.
func same(t *testing.T, what, want, got string) {
	t.Helper()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", what, diff)
	}
}

// oneCouncil keeps, of the output of a table command run with -A, the header and the rows of
// council namespace, with the columns separated by one space. The apiserver is shared by every
// test of the package, so -A lists their councils too, and their names set the columns' widths.
func oneCouncil(out, namespace string) string {
	var kept []string
	for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if f := strings.Fields(line); i == 0 || len(f) > 0 && f[0] == namespace {
			kept = append(kept, strings.Join(f, " "))
		}
	}
	return strings.Join(kept, "\n") + "\n"
}

// walsall is a council whose team north has jo (SocialWorker, cap 3) holding 2.5, sam
// (NewlyQualified, cap 2) holding 0.5, and one case waiting for a worker; team south is empty.
func walsall(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	const ns = "walsall"
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		builders.MakeTeam("north").Namespace(ns).Obj(),
		builders.MakeTeam("south").Namespace(ns).Obj(),
		builders.MakeQuota("safeguarding").Namespace(ns).Weigh("ChildProtection", "1.5").Weigh("EarlyHelp", "0.5").
			Cap("SocialWorker", "3").Cap("NewlyQualified", "2").Obj(),
		builders.MakePractitioner("jo", "north", "SocialWorker").Namespace(ns).Obj(),
		builders.MakePractitioner("sam", "north", "NewlyQualified").Namespace(ns).Obj(),
	}
	// The case waiting for a worker came in today, so what the golden files show of its wait
	// does not change from one day to the next.
	today := time.Now().UTC().Format(time.DateOnly)
	for i, c := range []struct{ typ, to, opened string }{
		{"ChildProtection", "jo", "2026-11-02"}, {"ChildInNeed", "jo", "2026-11-02"}, {"EarlyHelp", "sam", "2026-11-02"}, {"ChildInNeed", "", today},
	} {
		objs = append(objs, builders.MakeCase(fmt.Sprintf("c-%d", i+1)).Namespace(ns).Team("north").Type(c.typ).OpenedOn(c.opened).Lead(c.to).Obj())
	}
	for _, o := range objs {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var jo, sam v1alpha1.Practitioner
		var north v1alpha1.Team
		_ = env.Client.Get(ctx, client.ObjectKey{Namespace: "walsall", Name: "jo"}, &jo)
		_ = env.Client.Get(ctx, client.ObjectKey{Namespace: "walsall", Name: "sam"}, &sam)
		_ = env.Client.Get(ctx, client.ObjectKey{Namespace: "walsall", Name: "north"}, &north)
		if jo.Status.Weight == "2.5" && sam.Status.Weight == "0.5" && north.Status.Unallocated == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the operator never reconciled the council: jo %+v, sam %+v, north %+v", jo.Status, sam.Status, north.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestKubectlCaseload(t *testing.T) {
	walsall(t)

	t.Run("top shows a team's practitioners fullest first, from their status", func(t *testing.T) {
		// jo (83%) before sam (25%); the teams with their unallocated work; no colour written to
		// what is not a terminal. top TEAM is top practitioners TEAM, and the aliases are the
		// subcommands.
		for _, tc := range []struct {
			golden string
			args   []string
		}{
			{"top-north.txt", []string{"top", "north"}},
			{"top-north.txt", []string{"top", "practitioners", "north"}},
			{"top-north.txt", []string{"top", "practitioner", "north"}},
			{"top-north.txt", []string{"top", "prac", "north"}},
			{"top-north-wide.txt", []string{"top", "north", "-o", "wide"}},
			{"top-teams.txt", []string{"top", "teams"}},
			{"top-teams.txt", []string{"top", "team"}},
			{"top-teams-wide.txt", []string{"top", "teams", "-o", "wide"}},
		} {
			out, errOut, code := kubectlCaseload(t, append([]string{"-n", "walsall"}, tc.args...)...)
			if code != 0 {
				t.Fatalf("%v: exit %d: %s", tc.args, code, errOut)
			}
			same(t, fmt.Sprintf("%v: stderr", tc.args), "", errOut)
			golden(t, tc.golden, out)
		}
	})

	t.Run("a team called teams is shown by top practitioners teams", func(t *testing.T) {
		ctx := context.Background()
		const ns = "wigan"
		for _, o := range []client.Object{
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
			builders.MakeTeam("teams").Namespace(ns).Obj(),
			builders.MakeQuota("caps").Namespace(ns).Cap("SocialWorker", "15").Obj(),
			builders.MakePractitioner("ali", "teams", "SocialWorker").Namespace(ns).Obj(),
			builders.MakeCase("w-1").Namespace(ns).Team("teams").Type("ChildInNeed").OpenedOn("2026-11-02").Lead("ali").Obj(),
		} {
			if err := env.Client.Create(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			var ali v1alpha1.Practitioner
			var teams v1alpha1.Team
			_ = env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "ali"}, &ali)
			_ = env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "teams"}, &teams)
			if ali.Status.Weight == "1" && ali.Status.Capacity == "15" && teams.Status.Weight == "1" && teams.Status.Capacity == "15" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the operator never reconciled the council: ali %+v, teams %+v", ali.Status, teams.Status)
			}
			time.Sleep(100 * time.Millisecond)
		}
		for _, tc := range []struct {
			golden string
			args   []string
		}{
			{"top-practitioners-of-teams.txt", []string{"top", "practitioners", "teams"}},
			{"top-teams-of-wigan.txt", []string{"top", "teams"}},
		} {
			out, errOut, code := kubectlCaseload(t, append([]string{"-n", ns}, tc.args...)...)
			if code != 0 {
				t.Fatalf("%v: exit %d: %s", tc.args, code, errOut)
			}
			same(t, fmt.Sprintf("%v: stderr", tc.args), "", errOut)
			golden(t, tc.golden, out)
		}
	})

	t.Run("-o json gives the figures the status holds", func(t *testing.T) {
		out, _, code := kubectlCaseload(t, "-n", "walsall", "top", "-o", "json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, out)
		}
		var rows []struct {
			Name, Weight, Capacity, Headroom string
			UtilisationPercent               int32
		}
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
		for _, r := range rows {
			var p v1alpha1.Practitioner
			if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: "walsall", Name: r.Name}, &p); err != nil {
				t.Fatal(err)
			}
			if r.Weight != string(p.Status.Weight) || r.Capacity != string(p.Status.Capacity) || r.Headroom != string(p.Status.Headroom) || r.UtilisationPercent != p.Status.UtilisationPercent {
				t.Errorf("json row %+v, status %+v", r, p.Status)
			}
		}
		if len(rows) != 2 {
			t.Errorf("json rows %d, want jo and sam", len(rows))
		}
	})

	t.Run("top teams shows unallocated work, and -A names the council", func(t *testing.T) {
		out, errOut, code := kubectlCaseload(t, "-A", "top", "teams", "-o", "wide")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		same(t, "stderr", "", errOut)
		// north of walsall carries 3 with one case unallocated.
		same(t, "walsall's teams", ""+
			"NAMESPACE TEAM CAPACITY WEIGHT UNALLOCATED OLDEST UNALLOCATED OVERDUE NEEDING COVER PRACTITIONERS AVAILABLE AVAILABLE FTE CASES HEADROOM OVER CAPACITY QUOTA UTILISATION\n"+
			"walsall north 5 3 1 0d 0 0 2 2 2 4 2 0 safeguarding ████████████░░░░░░░░ 60% Green\n"+
			"walsall south 0 0 0 - 0 0 0 0 0 0 0 0 safeguarding ░░░░░░░░░░░░░░░░░░░░ 0% Green\n",
			oneCouncil(out, "walsall"))
	})

	t.Run("explain gives the webhook's refusal with its figures, and exit 1", func(t *testing.T) {
		out, errOut, code := kubectlCaseload(t, "-n", "walsall", "explain", "c-4", "--to", "jo")
		if code != 1 {
			t.Fatalf("exit %d, want 1 (refused):\n%s%s", code, out, errOut)
		}
		same(t, "stderr", "", errOut)
		golden(t, "explain-refused.txt", out)
	})

	t.Run("explain of an allocation that fits: exit 0, and nothing written", func(t *testing.T) {
		out, errOut, code := kubectlCaseload(t, "-n", "walsall", "explain", "c-4", "--to", "sam", "-o", "json")
		if code != 0 {
			t.Fatalf("exit %d, want 0 (allowed):\n%s%s", code, out, errOut)
		}
		same(t, "stderr", "", errOut)
		golden(t, "explain-allowed.json", out)
		var c v1alpha1.Case
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: "walsall", Name: "c-4"}, &c); err != nil || c.Spec.AllocatedTo != "" {
			t.Errorf("explain wrote the allocation: c-4 allocated to %q (%v)", c.Spec.AllocatedTo, err)
		}
		out, errOut, code = kubectlCaseload(t, "-n", "walsall", "explain", "c-1", "--to", "jo")
		if code != 0 {
			t.Errorf("explain of the allocation a case has: exit %d, want 0", code)
		}
		same(t, "explain of the allocation a case has", "case c-1 is already allocated so: there is nothing to decide\n", out)
		same(t, "its stderr", "", errOut)
	})

	t.Run("suggest ranks who could take a case by the room they would have left", func(t *testing.T) {
		// sam has 1.5 of 2 left and would have 0.5 after a ChildInNeed case (1); jo is refused.
		out, errOut, code := kubectlCaseload(t, "-n", "walsall", "suggest", "c-4")
		if code != 0 {
			t.Fatalf("exit %d, want 0 (someone can):\n%s%s", code, out, errOut)
		}
		same(t, "stderr", "", errOut)
		golden(t, "suggest-c-4.txt", out)
		// -o wide is the table for a command with no wide columns.
		wide, errOut, code := kubectlCaseload(t, "-n", "walsall", "suggest", "c-4", "-o", "wide")
		if code != 0 {
			t.Errorf("suggest -o wide: exit %d: %s", code, errOut)
		}
		same(t, "suggest -o wide", out, wide)
	})

	dir := t.TempDir()
	snap := filepath.Join(dir, "walsall.yaml")
	t.Run("snapshot writes the council without status, for its owner only", func(t *testing.T) {
		if _, errOut, code := kubectlCaseload(t, "-n", "walsall", "snapshot", "-f", snap); code != 0 || !strings.Contains(errOut, "snapshot of 1 council (2 teams, 2 practitioners, 4 cases, 1 quota)") {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		info, err := os.Stat(snap)
		if err != nil || info.Mode().Perm() != 0o600 {
			t.Fatalf("snapshot file %v (%v), want mode 0600", info, err)
		}
		data, _ := os.ReadFile(snap)
		for _, gone := range []string{"managedFields", "utilisationPercent", "resourceVersion", "uid:"} {
			if strings.Contains(string(data), gone) {
				t.Errorf("the snapshot keeps %s", gone)
			}
		}
		if !strings.HasPrefix(string(data), "apiVersion: snapshot.caseload.dev/v1\n") {
			t.Errorf("snapshot starts %q", string(data)[:40])
		}
	})

	quota := func(name, socialWorkerCap string) string { return quotaFile(t, dir, "walsall", name, socialWorkerCap) }

	t.Run("a team manager who may read only their council", func(t *testing.T) {
		// RBAC in the council only: no right to the cluster-scoped Namespace object.
		ctx := context.Background()
		rules := []rbacv1.PolicyRule{{APIGroups: []string{"caseload.dev"}, Resources: []string{"teams", "practitioners", "cases", "caseloadquotas"}, Verbs: []string{"get", "list", "watch"}}}
		if err := env.Client.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "walsall", Name: "reader"}, Rules: rules}); err != nil {
			t.Fatal(err)
		}
		if err := env.Client.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "walsall", Name: "reader"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "reader"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "team-manager"}}}); err != nil {
			t.Fatal(err)
		}
		user, err := env.Environment.AddUser(envtest.User{Name: "team-manager"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		kc, err := user.KubeConfig()
		if err != nil {
			t.Fatal(err)
		}
		own := filepath.Join(dir, "team-manager.kubeconfig")
		if err := os.WriteFile(own, kc, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"top", "north"}, {"forecast", "north", "--weeks", "2"}, {"snapshot", "-f", filepath.Join(dir, "own.yaml")}} {
			out, errOut, code := kubectlCaseload(t, append([]string{"--kubeconfig", own, "-n", "walsall"}, args...)...)
			if code != 0 {
				t.Errorf("%v as a reader of walsall only: exit %d\n%s%s", args, code, out, errOut)
			}
		}
	})

	t.Run("a team with nobody in it says where it looked, and exit 0", func(t *testing.T) {
		out, errOut, code := kubectlCaseload(t, "-n", "walsall", "top", "practitioners", "south")
		if code != 0 {
			t.Errorf("exit %d, want 0", code)
		}
		same(t, "stdout", "", out)
		same(t, "stderr", "No practitioners found in team south in namespace walsall.\n"+
			"Name another council with -n NAMESPACE, or look in every council you may read with -A.\n", errOut)
		out, _, code = kubectlCaseload(t, "-n", "walsall", "top", "practitioners", "south", "-o", "json")
		if code != 0 {
			t.Errorf("-o json: exit %d, want 0", code)
		}
		same(t, "-o json", "[]\n", out)
	})

	t.Run("bad input gets a clear message and a non-zero exit", func(t *testing.T) {
		write := func(name, text string) string {
			f := filepath.Join(dir, name)
			if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			return f
		}
		notAQuota := write("configmap.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n")
		refused := write("refused.yaml", "apiVersion: caseload.dev/v1alpha1\nkind: CaseloadQuota\nmetadata: {name: bad, namespace: walsall}\n"+
			"spec:\n  enforcementAction: Block\n  practitionerCaps:\n  - {grade: SocialWorker, maxWeight: \"lots\"}\n")
		otherVersion := write("old.snapshot.yaml", "apiVersion: snapshot.caseload.dev/v0\nkind: CaseloadSnapshot\n")
		unreachable := write("unreachable.kubeconfig", "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: \"https://127.0.0.1:1\"}}]\n"+
			"contexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\nusers: [{name: u, user: {token: t}}]\n")
		// The files are in a directory of the test's own: the messages name it $DIR.
		for _, tc := range []struct {
			name   string
			args   []string
			stderr string
		}{
			{"a file that is not a CaseloadQuota", []string{"-n", "walsall", "plan", "-f", notAQuota, "--snapshot", snap},
				"error: $DIR/configmap.yaml holds ConfigMap settings, not a CaseloadQuota (caseload.dev/v1alpha1)\n"},
			{"a quota its CRD refuses", []string{"-n", "walsall", "plan", "-f", refused, "--snapshot", snap},
				"error: $DIR/refused.yaml: CaseloadQuota bad would be refused by the cluster: [" +
					`spec.enforcementAction: Unsupported value: "Block": supported values: "Deny", "Warn", "DryRun", ` +
					`spec.practitionerCaps[0].maxWeight: Invalid value: "lots": must be a number of at least 0 with at most three decimals, such as "15" or "1.5"]` + "\n"},
			{"a snapshot of another version", []string{"-n", "walsall", "plan", "-f", quota("safeguarding", "3"), "--snapshot", otherVersion},
				"error: $DIR/old.snapshot.yaml is a snapshot.caseload.dev/v0 CaseloadSnapshot, not a CaseloadSnapshot of snapshot.caseload.dev/v1: " +
					"take it again with this version of kubectl caseload\n"},
			{"an unknown case", []string{"-n", "walsall", "suggest", "c-404"},
				"error: there is no case c-404 in namespace walsall: name its council with -n NAMESPACE\n"},
			{"a misspelt namespace", []string{"-n", "walsal", "top"},
				"error: there is no namespace walsal: name a council with -n NAMESPACE, or look in every council you may read with -A\n"},
			{"a misspelt namespace, forecast", []string{"-n", "walsal", "forecast"},
				"error: there is no namespace walsal: name a council with -n NAMESPACE, or look in every council you may read with -A\n"},
			{"a misspelt team", []string{"-n", "walsall", "top", "practitioners", "nrth"},
				"error: there is no team nrth in namespace walsall: kubectl caseload top teams -n walsall lists its teams\n"},
			{"a misspelt team, forecast", []string{"-n", "walsall", "forecast", "nrth"},
				"error: there is no team nrth in namespace walsall: kubectl caseload top teams -n walsall lists its teams\n"},
			{"a misspelt team in every council", []string{"-A", "top", "practitioners", "nrth"},
				"error: there is no team nrth in any namespace you may read: kubectl caseload top teams -A lists them\n"},
			{"an unreachable cluster", []string{"--kubeconfig", unreachable, "top", "teams"},
				"error: failed to get server groups: Get \"https://127.0.0.1:1/api\": dial tcp 127.0.0.1:1: connect: connection refused\n"},
		} {
			out, errOut, code := kubectlCaseload(t, tc.args...)
			if code != 1 {
				t.Errorf("%s: exit %d, want 1", tc.name, code)
			}
			same(t, tc.name+": stdout", "", out)
			same(t, tc.name+": stderr", tc.stderr, strings.ReplaceAll(errOut, dir, "$DIR"))
		}
		// An unknown practitioner, or one of another council, is the webhook's refusal.
		out, errOut, code := kubectlCaseload(t, "-n", "walsall", "explain", "c-4", "--to", "nobody")
		if code != 1 {
			t.Errorf("explain to nobody: exit %d, want 1", code)
		}
		same(t, "explain to nobody", "refused: case c-4 cannot be allocated to nobody\n"+
			"  spec.allocatedTo: case c-4 cannot be allocated to nobody: there is no Practitioner nobody in this namespace\n", out)
		same(t, "explain to nobody: stderr", "", errOut)
	})

	t.Run("forecast: cases due to end, an absence, and the headroom week by week", func(t *testing.T) {
		ctx := context.Background()
		// The forecast is decided on the plugin's clock, stopped on a Monday: c-2 (ChildInNeed,
		// jo's, weight 1) is due to end ten days later, on the Thursday of the second week, and sam
		// is on annual leave throughout the third.
		at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
		day := func(n int) string { return at.AddDate(0, 0, n).Format(time.DateOnly) }
		opened := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
		dueIn := int32(at.AddDate(0, 0, 10).Sub(opened).Hours() / 24)
		change := func(obj client.Object, edit func()) {
			t.Helper()
			err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
				if err := env.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
					return err
				}
				edit()
				return env.Client.Update(ctx, obj)
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		q := builders.MakeQuota("safeguarding").Namespace("walsall").Obj()
		sam := builders.MakePractitioner("sam", "north", "NewlyQualified").Namespace("walsall").Obj()
		change(q, func() { q.Spec.Timescales = map[string]v1alpha1.Timescale{"ChildInNeed": {MaxOpenDays: dueIn}} })
		change(sam, func() {
			sam.Spec.Absences = []v1alpha1.Absence{{From: v1alpha1.Date(day(14)), Until: v1alpha1.Date(day(20)), Reason: v1alpha1.AbsenceAnnualLeave}}
		})
		// What follows is decided on the real day: the timescale and the leave go again.
		defer change(q, func() { q.Spec.Timescales = nil })
		defer change(sam, func() { sam.Spec.Absences = nil })

		// Week by week from 2026-12-07: capacity 5, weight 3, headroom 2; c-2's weight of 1 ends
		// in the week of 2026-12-14; in the week of 2026-12-21 sam is away and the team's capacity
		// is jo's 3; on 2026-12-28 sam is back.
		for _, tc := range []struct {
			golden string
			args   []string
		}{
			{"forecast-north.txt", []string{"forecast", "north", "--weeks", "4"}},
			{"forecast-north.json", []string{"forecast", "north", "--weeks", "4", "-o", "json"}},
		} {
			out, errOut, code := kubectlCaseloadAt(t, at, append([]string{"-n", "walsall"}, tc.args...)...)
			if code != 0 {
				t.Fatalf("%v: exit %d: %s\n%s", tc.args, code, errOut, out)
			}
			same(t, fmt.Sprintf("%v: stderr", tc.args), "", errOut)
			golden(t, tc.golden, out)
		}
	})

	t.Run("suggest says when nobody can, and what it would take", func(t *testing.T) {
		var sam v1alpha1.Practitioner
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: "walsall", Name: "sam"}, &sam); err != nil {
			t.Fatal(err)
		}
		away := false
		sam.Spec.Available = &away
		if err := env.Client.Update(context.Background(), &sam); err != nil {
			t.Fatal(err)
		}
		// Until the webhook's cache has sam away, suggest still offers sam.
		deadline := time.Now().Add(20 * time.Second)
		for {
			out, errOut, code := kubectlCaseload(t, "-n", "walsall", "suggest", "c-4")
			if code == 1 && strings.Contains(out, "nobody in team north can take case c-4") {
				same(t, "stderr", "", errOut)
				golden(t, "suggest-nobody.txt", out)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("with sam away, suggest still says (exit %d):\n%s%s", code, out, errOut)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("version names the API the cluster serves", func(t *testing.T) {
		out, errOut, code := kubectlCaseload(t, "version")
		if code != 0 {
			t.Errorf("version: exit %d: %s", code, errOut)
		}
		same(t, "version", "kubectl-caseload dev (built for caseload.dev/v1alpha1)\nthe cluster serves [caseload.dev/v1alpha1] (the operator's CRDs)\n", out)
		same(t, "its stderr", "", errOut)
	})

	t.Run("a missing case is an error, not a refusal", func(t *testing.T) {
		out, errOut, code := kubectlCaseload(t, "-n", "walsall", "explain", "c-404", "--to", "jo")
		if code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
		same(t, "stdout", "", out)
		same(t, "stderr", "error: there is no case c-404 in namespace walsall: name its council with -n NAMESPACE\n", errOut)
	})
}

// quotaFile writes a council's CaseloadQuota into dir, as its GitOps repository holds it: the
// sample weights, newly qualified capped at 2 and social workers at socialWorkerCap.
func quotaFile(t *testing.T, dir, namespace, name, socialWorkerCap string) string {
	t.Helper()
	f := filepath.Join(dir, namespace+"-"+name+"-"+socialWorkerCap+".yaml")
	doc := fmt.Sprintf(`# a council's policy, as its GitOps repository holds it
apiVersion: caseload.dev/v1alpha1
kind: CaseloadQuota
metadata:
  name: %s
  namespace: %s
spec:
  weights:
    caseTypes: {ChildProtection: "1.5", EarlyHelp: "0.5"}
  practitionerCaps:
  - {grade: SocialWorker, maxWeight: "%s"}
  - {grade: NewlyQualified, maxWeight: "2"}
`, name, namespace, socialWorkerCap)
	if err := os.WriteFile(f, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

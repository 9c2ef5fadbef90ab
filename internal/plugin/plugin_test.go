package plugin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"caseload.dev/caseload-operator/api/v1alpha1"
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
	var out, errOut bytes.Buffer
	code = plugin.Run(append([]string{"--kubeconfig", kubeconfig}, args...), genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, opts...)
	return out.String(), errOut.String(), code
}

// walsall is a council whose team north has jo (SocialWorker, cap 3) holding 2.5, sam
// (NewlyQualified, cap 2) holding 0.5, and one case waiting for a worker; team south is empty.
func walsall(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "walsall"}},
		&v1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Namespace: "walsall", Name: "north"}},
		&v1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Namespace: "walsall", Name: "south"}},
		&v1alpha1.CaseloadQuota{ObjectMeta: metav1.ObjectMeta{Namespace: "walsall", Name: "safeguarding"}, Spec: v1alpha1.CaseloadQuotaSpec{
			Weights:          v1alpha1.Weights{CaseTypes: map[string]v1alpha1.CaseWeight{"ChildProtection": "1.5", "EarlyHelp": "0.5"}},
			PractitionerCaps: []v1alpha1.PractitionerCap{{Grade: "SocialWorker", MaxWeight: "3"}, {Grade: "NewlyQualified", MaxWeight: "2"}},
		}},
		&v1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: "walsall", Name: "jo"}, Spec: v1alpha1.PractitionerSpec{Team: "north", Grade: "SocialWorker"}},
		&v1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: "walsall", Name: "sam"}, Spec: v1alpha1.PractitionerSpec{Team: "north", Grade: "NewlyQualified"}},
	}
	// The case waiting for a worker came in today, so what the golden files show of its wait
	// does not change from one day to the next.
	today := v1alpha1.Date(time.Now().UTC().Format(time.DateOnly))
	for i, c := range []struct {
		typ, to string
		opened  v1alpha1.Date
	}{{"ChildProtection", "jo", "2026-11-02"}, {"ChildInNeed", "jo", "2026-11-02"}, {"EarlyHelp", "sam", "2026-11-02"}, {"ChildInNeed", "", today}} {
		objs = append(objs, &v1alpha1.Case{ObjectMeta: metav1.ObjectMeta{Namespace: "walsall", Name: fmt.Sprintf("c-%d", i+1)},
			Spec: v1alpha1.CaseSpec{Reference: fmt.Sprintf("LCS-%d", i+1), Team: "north", Type: c.typ, OpenedOn: c.opened, AllocatedTo: c.to}})
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
		out, _, code := kubectlCaseload(t, "-n", "walsall", "top", "north")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, out)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[0], "PRACTITIONER") || !strings.HasPrefix(lines[1], "jo ") || !strings.HasPrefix(lines[2], "sam ") {
			t.Fatalf("want a header, then jo (83%%), then sam (25%%):\n%s", out)
		}
		for _, want := range []string{"2.5", "0.5", " 83% Green", " 25% Green"} {
			if !strings.Contains(out, want) {
				t.Errorf("top shows no %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "\x1b[") {
			t.Errorf("colour written to something that is not a terminal:\n%q", out)
		}
		golden(t, "top-north.txt", out)
		wide, _, _ := kubectlCaseload(t, "-n", "walsall", "top", "north", "-o", "wide")
		golden(t, "top-north-wide.txt", wide)
		teams, _, _ := kubectlCaseload(t, "-n", "walsall", "top", "teams")
		golden(t, "top-teams.txt", teams)
		teamsWide, _, _ := kubectlCaseload(t, "-n", "walsall", "top", "teams", "-o", "wide")
		golden(t, "top-teams-wide.txt", teamsWide)
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
		out, _, code := kubectlCaseload(t, "-A", "top", "teams", "-o", "wide")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, out)
		}
		var north string
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "walsall") && strings.Contains(line, " north ") {
				north = line
			}
		}
		if !strings.HasPrefix(out, "NAMESPACE") || north == "" {
			t.Fatalf("want a NAMESPACE column and north of walsall:\n%s", out)
		}
		fields := strings.Fields(north)
		// NAMESPACE TEAM CAPACITY WEIGHT UNALLOCATED OLDEST OVERDUE COVER, then the wide columns.
		if fields[3] != "3" || fields[4] != "1" {
			t.Errorf("north: weight %s and %s unallocated, want 3 and 1:\n%s", fields[3], fields[4], out)
		}
	})

	t.Run("explain gives the webhook's refusal with its figures, and exit 1", func(t *testing.T) {
		out, _, code := kubectlCaseload(t, "-n", "walsall", "explain", "c-4", "--to", "jo")
		if code != 1 {
			t.Fatalf("exit %d, want 1 (refused):\n%s", code, out)
		}
		want := "spec.allocatedTo: case c-4 (ChildInNeed, weight 1) would take jo to 3.5 of 3 (SocialWorker cap 3 x FTE 1): denied by CaseloadQuota walsall/safeguarding"
		if !strings.HasPrefix(out, "refused: case c-4 cannot be allocated to jo") || !strings.Contains(out, want) {
			t.Errorf("explain said:\n%s\nwant the refusal and\n%s", out, want)
		}
	})

	t.Run("explain of an allocation that fits: exit 0, and nothing written", func(t *testing.T) {
		out, _, code := kubectlCaseload(t, "-n", "walsall", "explain", "c-4", "--to", "sam", "-o", "json")
		if code != 0 {
			t.Fatalf("exit %d, want 0 (allowed):\n%s", code, out)
		}
		var v struct {
			Allowed bool
			Reasons []any
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil || !v.Allowed || len(v.Reasons) != 0 {
			t.Errorf("verdict %s (%v), want allowed with no reason", out, err)
		}
		var c v1alpha1.Case
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: "walsall", Name: "c-4"}, &c); err != nil || c.Spec.AllocatedTo != "" {
			t.Errorf("explain wrote the allocation: c-4 allocated to %q (%v)", c.Spec.AllocatedTo, err)
		}
		if out, _, code := kubectlCaseload(t, "-n", "walsall", "explain", "c-1", "--to", "jo"); code != 0 || !strings.Contains(out, "nothing to decide") {
			t.Errorf("explain of the allocation a case has: exit %d\n%s", code, out)
		}
	})

	t.Run("suggest ranks who could take a case by the room they would have left", func(t *testing.T) {
		out, _, code := kubectlCaseload(t, "-n", "walsall", "suggest", "c-4")
		if code != 0 {
			t.Fatalf("exit %d, want 0 (someone can):\n%s", code, out)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[1], "sam ") || !strings.HasPrefix(lines[2], "jo ") {
			t.Fatalf("want sam (allowed) before jo (refused):\n%s", out)
		}
		// sam has 1.5 of 2 left and would have 0.5 after a ChildInNeed case (1); jo is refused.
		if f := strings.Fields(lines[1]); f[2] != "1.5" || f[3] != "0.5" || f[4] != "allowed" {
			t.Errorf("sam: %q, want headroom 1.5, 0.5 after, allowed", lines[1])
		}
		if !strings.Contains(lines[2], "refused: case c-4 (ChildInNeed, weight 1) would take jo to 3.5 of 3") {
			t.Errorf("jo: %q, want the webhook's refusal", lines[2])
		}
		// -o wide is the table for a command with no wide columns.
		if wide, errOut, code := kubectlCaseload(t, "-n", "walsall", "suggest", "c-4", "-o", "wide"); code != 0 || wide != out {
			t.Errorf("suggest -o wide: exit %d, %s\n%s", code, errOut, wide)
		}
	})

	dir := t.TempDir()
	snap := filepath.Join(dir, "walsall.yaml")
	t.Run("snapshot writes the council without status, for its owner only", func(t *testing.T) {
		if _, errOut, code := kubectlCaseload(t, "-n", "walsall", "snapshot", "-f", snap); code != 0 || !strings.Contains(errOut, "(2 teams, 2 practitioners, 4 cases, 1 quotas)") {
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

	quota := func(name, socialWorkerCap string) string {
		f := filepath.Join(dir, name+"-"+socialWorkerCap+".yaml")
		doc := fmt.Sprintf(`# a council's policy, as its GitOps repository holds it
apiVersion: caseload.dev/v1alpha1
kind: CaseloadQuota
metadata:
  name: %s
  namespace: walsall
spec:
  weights:
    caseTypes: {ChildProtection: "1.5", EarlyHelp: "0.5"}
  practitionerCaps:
  - {grade: SocialWorker, maxWeight: "%s"}
  - {grade: NewlyQualified, maxWeight: "2"}
`, name, socialWorkerCap)
		if err := os.WriteFile(f, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}

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
		for _, tc := range []struct {
			name string
			args []string
			want []string
		}{
			{"a file that is not a CaseloadQuota", []string{"-n", "walsall", "plan", "-f", notAQuota, "--snapshot", snap}, []string{"configmap.yaml holds ConfigMap settings, not a CaseloadQuota"}},
			{"a quota its CRD refuses", []string{"-n", "walsall", "plan", "-f", refused, "--snapshot", snap},
				[]string{"CaseloadQuota bad would be refused by the cluster", `spec.enforcementAction: Unsupported value: "Block"`, "spec.practitionerCaps[0].maxWeight"}},
			{"a snapshot of another version", []string{"-n", "walsall", "plan", "-f", quota("safeguarding", "3"), "--snapshot", otherVersion},
				[]string{"is a snapshot.caseload.dev/v0 CaseloadSnapshot, not a CaseloadSnapshot of snapshot.caseload.dev/v1"}},
			{"an unknown case", []string{"-n", "walsall", "suggest", "c-404"}, []string{`cases.caseload.dev "c-404" not found`}},
			{"an unreachable cluster", []string{"--kubeconfig", unreachable, "top", "teams"}, []string{"127.0.0.1:1", "connection refused"}},
		} {
			_, errOut, code := kubectlCaseload(t, tc.args...)
			if code != 1 || strings.Contains(errOut, "goroutine") {
				t.Errorf("%s: exit %d, want 1 and a message:\n%s", tc.name, code, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("%s: the message does not say %q:\n%s", tc.name, w, errOut)
				}
			}
		}
		// An unknown practitioner, or one of another council, is the webhook's refusal.
		out, _, code := kubectlCaseload(t, "-n", "walsall", "explain", "c-4", "--to", "nobody")
		if code != 1 || !strings.Contains(out, "there is no Practitioner nobody in this namespace") {
			t.Errorf("explain to nobody: exit %d\n%s", code, out)
		}
	})

	t.Run("forecast: cases due to end, an absence, and the headroom week by week", func(t *testing.T) {
		ctx := context.Background()
		today := time.Now().UTC().Truncate(24 * time.Hour)
		day := func(n int) string { return today.AddDate(0, 0, n).Format(time.DateOnly) }
		opened, _ := time.Parse(time.DateOnly, "2026-11-02")
		// c-2 (ChildInNeed, jo's, weight 1) is due to end ten days from today; sam is on annual
		// leave in the third week.
		var q v1alpha1.CaseloadQuota
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "walsall", Name: "safeguarding"}, &q); err != nil {
			t.Fatal(err)
		}
		q.Spec.Timescales = map[string]v1alpha1.Timescale{"ChildInNeed": {MaxOpenDays: int32(today.AddDate(0, 0, 10).Sub(opened).Hours() / 24)}}
		if err := env.Client.Update(ctx, &q); err != nil {
			t.Fatal(err)
		}
		var sam v1alpha1.Practitioner
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "walsall", Name: "sam"}, &sam); err != nil {
			t.Fatal(err)
		}
		sam.Spec.Absences = []v1alpha1.Absence{{From: v1alpha1.Date(day(14)), Until: v1alpha1.Date(day(20)), Reason: v1alpha1.AbsenceAnnualLeave}}
		if err := env.Client.Update(ctx, &sam); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := kubectlCaseload(t, "-n", "walsall", "forecast", "north", "--weeks", "4", "-o", "json")
		if code != 0 {
			t.Fatalf("exit %d: %s\n%s", code, errOut, out)
		}
		var weeks []struct {
			From, Capacity, Weight, EndingWeight, Headroom string
			Events                                         []string
		}
		if err := json.Unmarshal([]byte(out), &weeks); err != nil || len(weeks) != 4 {
			t.Fatalf("%v: %s", err, out)
		}
		want := []struct{ from, capacity, weight, ending, headroom string }{
			{day(0), "5", "3", "0", "2"},
			{day(7), "5", "3", "1", "2"},  // c-2 ends in the week of day 7, on day 10
			{day(14), "3", "2", "0", "1"}, // sam away: the team's capacity is jo's
			{day(21), "5", "2", "0", "3"}, // sam back
		}
		for i, w := range want {
			got := weeks[i]
			if got.From != w.from || got.Capacity != w.capacity || got.Weight != w.weight || got.EndingWeight != w.ending || got.Headroom != w.headroom {
				t.Errorf("week %d: %+v, want from %s capacity %s weight %s ending %s headroom %s", i, got, w.from, w.capacity, w.weight, w.ending, w.headroom)
			}
		}
		if !slices.Contains(weeks[2].Events, "sam away from "+day(14)) || !slices.Contains(weeks[3].Events, "sam back "+day(21)) {
			t.Errorf("events %v and %v, want sam's leave starting and ending", weeks[2].Events, weeks[3].Events)
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
		deadline := time.Now().Add(20 * time.Second)
		for {
			out, _, code := kubectlCaseload(t, "-n", "walsall", "suggest", "c-4")
			if code == 1 && strings.Contains(out, "nobody in team north can take case c-4") {
				if !strings.Contains(out, "sam cannot take new work while away: cover from another team") {
					t.Errorf("no word of cover for sam, who is away:\n%s", out)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("with sam away, suggest still says (exit %d):\n%s", code, out)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("version names the API the cluster serves", func(t *testing.T) {
		out, _, code := kubectlCaseload(t, "version")
		if code != 0 || !strings.Contains(out, "built for caseload.dev/v1alpha1") || !strings.Contains(out, "serves [caseload.dev/v1alpha1]") {
			t.Errorf("version: exit %d\n%s", code, out)
		}
	})

	t.Run("a missing case is an error, not a refusal", func(t *testing.T) {
		_, errOut, code := kubectlCaseload(t, "-n", "walsall", "explain", "c-404", "--to", "jo")
		if code != 1 || !strings.Contains(errOut, `"c-404" not found`) {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
	})
}

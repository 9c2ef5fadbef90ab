// Package gitops checks the health checks a platform team gives its GitOps tool, against real
// status the operator wrote on the envtest apiserver: the Argo CD Lua scripts of
// config/argocd/resource_customizations (run as Argo CD runs a script from argocd-cm, by
// test/gitops/argocd) and the CEL expressions of the Flux Kustomizations in examples/gitops/clusters/flux (run with
// cel-go); and the GitOps example's overlays, built with the kustomize API. With -update it
// rewrites the scripts' testdata and health_test.yaml, in Argo CD's own layout, from that status.
// test/gitops/argocd checks that layout as Argo CD's own tests would, without an apiserver.
package gitops

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/cel-go/cel"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/operator"
	"caseload.dev/caseload-operator/internal/testenv"
	"caseload.dev/caseload-operator/internal/testenv/inprocess"
	"caseload.dev/caseload-operator/test/gitops/argocd"
)

var update = flag.Bool("update", false, "rewrite the Argo CD scripts' testdata and health_test.yaml from real status")

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	var err error
	if env, err = testenv.Start(testenv.Options{Webhooks: true}); err != nil {
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
	return m.Run()
}

const customizations = "../../config/argocd/resource_customizations/caseload.dev"

// state is one object in one state, and the health every tool should see.
type state struct {
	name, kind string
	obj        *unstructured.Unstructured
	argo       string // Healthy, Progressing, Degraded
	message    string // what the Argo CD message must contain
}

func TestHealthChecksOnRealStatus(t *testing.T) {
	states := produce(t)
	flux := fluxExpressions(t)
	for _, s := range states {
		t.Run(s.kind+"/"+s.name, func(t *testing.T) {
			status, message := argoHealth(t, s.kind, s.obj.Object)
			if status != s.argo || !strings.Contains(message, s.message) {
				t.Errorf("Argo CD: %s %q, want %s with %q", status, message, s.argo, s.message)
			}
			want := map[string]string{"Healthy": "current", "Progressing": "inProgress", "Degraded": "failed"}[s.argo]
			if got := fluxHealth(t, flux[s.kind], s.obj.Object); got != want {
				t.Errorf("Flux: %s, want %s", got, want)
			}
		})
	}
	if *update {
		writeArgoTests(t, states)
	}
}

// produce makes, on the apiserver, every state a tool must tell apart, and returns the objects
// as the operator left them: reconciled (one practitioner over capacity), not yet reconciled,
// and stalled (a council whose time zone no calendar knows).
func produce(t *testing.T) []state {
	t.Helper()
	ctx := context.Background()
	c := env.Client
	create := func(o client.Object) {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "argo"}})
	create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "mars", Annotations: map[string]string{v1alpha1.TimeZoneAnnotation: "Mars/Olympus_Mons"}}})
	for _, ns := range []string{"argo", "mars"} {
		create(&v1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "north"}})
		create(&v1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "jo"}, Spec: v1alpha1.PractitionerSpec{Team: "north", Grade: "SocialWorker"}})
		create(&v1alpha1.Case{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "c-1"}, Spec: v1alpha1.CaseSpec{Reference: "LCS-1", Team: "north", Type: "ChildInNeed", OpenedOn: "2026-11-02", AllocatedTo: "jo"}})
		create(&v1alpha1.Case{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "c-2"}, Spec: v1alpha1.CaseSpec{Reference: "LCS-2", Team: "north", Type: "ChildInNeed", OpenedOn: "2026-11-02", AllocatedTo: "jo"}})
	}
	// jo holds 2 before a quota caps them at 1: over capacity, which is recorded, not refused.
	create(&v1alpha1.CaseloadQuota{ObjectMeta: metav1.ObjectMeta{Namespace: "argo", Name: "caps"},
		Spec: v1alpha1.CaseloadQuotaSpec{PractitionerCaps: []v1alpha1.PractitionerCap{{Grade: "SocialWorker", MaxWeight: "1"}}}})
	// A case as the apiserver returns it on create, before the operator has seen it.
	fresh := &v1alpha1.Case{ObjectMeta: metav1.ObjectMeta{Namespace: "argo", Name: "c-new"}, Spec: v1alpha1.CaseSpec{Reference: "LCS-3", Team: "north", Type: "EarlyHelp", OpenedOn: "2026-11-02"}}
	create(fresh)

	get := func(kind, ns, name string, ok func(*unstructured.Unstructured) bool) *unstructured.Unstructured {
		t.Helper()
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind(kind))
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u); err == nil && ok(u) {
				u.SetManagedFields(nil)
				return u
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s %s/%s never reached the state wanted: %v", kind, ns, name, u.Object["status"])
			}
		}
	}
	condition := func(typ, status string) func(*unstructured.Unstructured) bool {
		return func(u *unstructured.Unstructured) bool {
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["type"] == typ && m["status"] == status {
					return true
				}
			}
			return false
		}
	}
	freshU, err := runtimeToUnstructured(fresh)
	if err != nil {
		t.Fatal(err)
	}
	behind := get("Team", "argo", "north", condition("Ready", "True")).DeepCopy()
	behind.SetGeneration(behind.GetGeneration() + 1) // as seen the moment a change is applied

	return []state{
		{"reconciled", "Team", get("Team", "argo", "north", condition("Ready", "True")), "Healthy", "over their capacity"},
		{"over-capacity", "Practitioner", get("Practitioner", "argo", "jo", condition("OverCapacity", "True")), "Healthy", "carries 2 of 1"},
		{"reconciled", "Case", get("Case", "argo", "c-1", condition("Ready", "True")), "Healthy", ""},
		{"violations", "CaseloadQuota", get("CaseloadQuota", "argo", "caps", condition("PolicyViolated", "True")), "Healthy", "1 violation"},
		{"not-yet-reconciled", "Case", freshU, "Progressing", "Waiting for caseload-operator"},
		{"change-not-yet-seen", "Team", behind, "Progressing", "latest change"},
		{"stalled", "Team", get("Team", "mars", "north", condition("Stalled", "True")), "Degraded", "Mars/Olympus_Mons"},
		{"stalled", "Practitioner", get("Practitioner", "mars", "jo", condition("Stalled", "True")), "Degraded", "Mars/Olympus_Mons"},
		{"stalled", "Case", get("Case", "mars", "c-1", condition("Stalled", "True")), "Degraded", "Mars/Olympus_Mons"},
	}
}

// argoHealth runs kind's health.lua on obj as Argo CD runs a script from argocd-cm.
func argoHealth(t *testing.T, kind string, obj map[string]any) (status, message string) {
	t.Helper()
	script, err := os.ReadFile(filepath.Join(customizations, kind, "health.lua"))
	if err != nil {
		t.Fatal(err)
	}
	hs, err := argocd.VM{}.ExecuteHealthLua(&unstructured.Unstructured{Object: obj}, string(script))
	if err != nil {
		t.Fatalf("%s/health.lua: %v", kind, err)
	}
	if hs == nil {
		t.Fatalf("%s/health.lua returned no health", kind)
	}
	return hs.Status, hs.Message
}

// fluxCheck is one kind's healthCheckExprs of the example Kustomization.
type fluxCheck struct{ Current, InProgress, Failed string }

func fluxExpressions(t *testing.T) map[string]fluxCheck {
	t.Helper()
	data, err := os.ReadFile("../../examples/gitops/clusters/flux/brookfield.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Every council's Kustomization checks health the same way.
	others, _ := filepath.Glob("../../examples/gitops/clusters/flux/*.yaml")
	for _, f := range others {
		other, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, a, _ := strings.Cut(string(data), "healthCheckExprs:")
		_, b, _ := strings.Cut(string(other), "healthCheckExprs:")
		if a != b {
			t.Errorf("%s checks health differently from brookfield.yaml", f)
		}
	}
	var k struct {
		Spec struct {
			HealthCheckExprs []struct {
				Kind                        string
				Current, InProgress, Failed string
			} `json:"healthCheckExprs"`
		}
	}
	if err := yaml.Unmarshal(data, &k); err != nil {
		t.Fatal(err)
	}
	out := map[string]fluxCheck{}
	for _, e := range k.Spec.HealthCheckExprs {
		out[e.Kind] = fluxCheck{Current: e.Current, InProgress: e.InProgress, Failed: e.Failed}
	}
	for _, kind := range []string{"Team", "Practitioner", "Case", "CaseloadQuota"} {
		if out[kind].Current == "" {
			t.Errorf("the Flux Kustomization has no health check for %s", kind)
		}
	}
	return out
}

// fluxHealth evaluates a kind's expressions as Flux does: in progress first, then failed, then
// current; the object's top-level fields are the variables.
func fluxHealth(t *testing.T, check fluxCheck, obj map[string]any) string {
	t.Helper()
	env, err := cel.NewEnv(cel.Variable("apiVersion", cel.StringType), cel.Variable("kind", cel.StringType),
		cel.Variable("metadata", cel.DynType), cel.Variable("spec", cel.DynType), cel.Variable("status", cel.DynType))
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]any{"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": obj["metadata"], "spec": obj["spec"], "status": obj["status"]}
	if vars["status"] == nil {
		vars["status"] = map[string]any{} // an object the operator has not seen yet
	}
	eval := func(expr string) bool {
		ast, iss := env.Compile(expr)
		if iss.Err() != nil {
			t.Fatalf("%s: %v", expr, iss.Err())
		}
		prg, err := env.Program(ast)
		if err != nil {
			t.Fatal(err)
		}
		out, _, err := prg.Eval(vars)
		if err != nil {
			t.Fatalf("%s on %v: %v", expr, vars["status"], err)
		}
		b, _ := out.Value().(bool)
		return b
	}
	switch {
	case eval(check.InProgress):
		return "inProgress"
	case eval(check.Failed):
		return "failed"
	case eval(check.Current):
		return "current"
	}
	return "unknown"
}

// writeArgoTests writes each state's object as testdata of its kind's script, and the kind's
// health_test.yaml with what the script makes of it.
func writeArgoTests(t *testing.T, states []state) {
	type hs struct {
		Status  string `json:"status"`
		Message string `json:"message"`
	}
	type tc struct {
		HealthStatus hs     `json:"healthStatus"`
		InputPath    string `json:"inputPath"`
	}
	suites := map[string][]tc{}
	for _, s := range states {
		dir := filepath.Join(customizations, s.kind)
		data, err := yaml.Marshal(s.obj.Object)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", s.name+".yaml")
		if err := os.WriteFile(filepath.Join(dir, path), data, 0o644); err != nil {
			t.Fatal(err)
		}
		status, message := argoHealth(t, s.kind, s.obj.Object)
		suites[s.kind] = append(suites[s.kind], tc{HealthStatus: hs{status, message}, InputPath: path})
	}
	for kind, tests := range suites {
		data, err := yaml.Marshal(map[string]any{"tests": tests})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(customizations, kind, "health_test.yaml"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

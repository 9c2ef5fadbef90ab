// Package chart tests the two ways a platform team installs the operator: the Helm chart in
// charts/caseload-operator and the kustomize overlay config/default. Both are rendered as a user
// would render them (bin/helm, kubectl kustomize), every object is sent to a real kube-apiserver
// with dryRun=All so the API server validates it, and the tests check what a council relies on:
// the operator gets exactly the permissions its RBAC markers ask for, the webhooks are the ones
// controller-gen generates and refuse unchecked allocations, two replicas run with leader
// election, and per-practitioner metrics stay off unless asked for.
package chart

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"caseload.dev/caseload-operator/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	var err error
	env, err = testenv.Start(testenv.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	if err := installCRDs(env); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// The value sets the chart is tested with: its defaults, and every optional part switched on.
var (
	chartDefaults = []string{}
	chartAllOn    = []string{
		"webhook.certSource=cert-manager",
		"networkPolicy.enabled=true",
		"serviceMonitor.enabled=true",
		"prometheusRule.enabled=true",
		"practitionerMetrics=true",
		"webhook.excludeNamespaces={argocd}",
	}
)

// installs returns every rendering under test.
func installs(t *testing.T) []rendered {
	return []rendered{
		helmTemplate(t, "helm template (defaults)", chartDefaults...),
		helmTemplate(t, "helm template (cert-manager, NetworkPolicy, ServiceMonitor, PrometheusRule, practitioner metrics)", chartAllOn...),
		kustomize(t),
	}
}

func TestHelmLint(t *testing.T) {
	for _, set := range [][]string{chartDefaults, chartAllOn} {
		args := []string{"lint", "--strict", chartDir}
		for _, s := range set {
			args = append(args, "--set", s)
		}
		if out, err := run(helm(t), args...); err != nil {
			t.Errorf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// justifiedIgnores are the kube-score checks the manager's Deployment answers otherwise, on
// purpose: the reasons are written next to its kube-score/ignore annotation.
var justifiedIgnores = map[string]bool{"container-resources": true, "container-image-pull-policy": true, "pod-networkpolicy": true}

// TestKubeScoreFindsNothingCritical runs kube-score on every rendering, the one-file installer
// included: no critical finding, and nothing silenced but the checks justified in the manifests.
func TestKubeScoreFindsNothingCritical(t *testing.T) {
	score := kubeScore(t)
	for _, r := range installs(t) {
		t.Run(r.source, func(t *testing.T) {
			var docs []string
			for _, o := range r.objs {
				if ignore := o.GetAnnotations()["kube-score/ignore"]; ignore != "" {
					for _, check := range strings.Split(ignore, ",") {
						if !justifiedIgnores[check] {
							t.Errorf("%s %s silences kube-score's %s, which nothing justifies", o.GetKind(), o.GetName(), check)
						}
					}
				}
				data, err := yaml.Marshal(o.Object)
				if err != nil {
					t.Fatal(err)
				}
				docs = append(docs, string(data))
			}
			f := filepath.Join(t.TempDir(), "rendered.yaml")
			if err := os.WriteFile(f, []byte(strings.Join(docs, "---\n")), 0o644); err != nil {
				t.Fatal(err)
			}
			out, _ := run(score, "score", f, "--output-format", "ci") // exits 1 on any finding
			for _, line := range strings.Split(string(out), "\n") {
				if strings.HasPrefix(line, "[CRITICAL]") {
					t.Error(line)
				}
			}
			if !strings.Contains(string(out), "[OK]") {
				t.Errorf("kube-score scored nothing:\n%s", out)
			}
		})
	}
}

// TestValuesSchemaRefusesMistakes: values.schema.json makes helm refuse, before rendering
// anything, a value of the wrong type, a setting it does not know, a misspelt key, and an
// exception approver that is not namespace/name, naming the value.
func TestValuesSchemaRefusesMistakes(t *testing.T) {
	for _, tc := range []struct{ set, want string }{
		{"replicas=two", "replicas"},
		{"webhook.certSource=letsencrypt", "certSource"},
		{"replica=3", "replica"},
		{"exceptions.serviceAccountApprovers={approver-bot}", "serviceAccountApprovers"},
		{"serviceMonitor.interval=often", "interval"},
	} {
		_, err := run(helm(t), "template", releaseName, chartDir, "-n", releaseNamespace, "--set", tc.set)
		if err == nil || !strings.Contains(err.Error(), "values don't meet the specifications of the schema") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("helm template --set %s: %v; want the schema to refuse it, naming %s", tc.set, err, tc.want)
		}
	}
}

// TestAPIServerAcceptsEveryObject dry-runs every rendered object, CRDs included, against the
// API server, with strict field validation: a misspelt field, a wrong type, a bad selector or an
// object that a CRD's schema (cert-manager's, the Prometheus Operator's) refuses fails here.
func TestAPIServerAcceptsEveryObject(t *testing.T) {
	for _, r := range installs(t) {
		t.Run(r.source, func(t *testing.T) {
			dryRun(t, r)
			for _, kind := range []string{"CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
				"Deployment", "Service", "ValidatingWebhookConfiguration", "PodDisruptionBudget"} {
				if len(r.all(kind)) == 0 {
					t.Errorf("%s renders no %s", r.source, kind)
				}
			}
			if n := len(r.all("CustomResourceDefinition")); n != 6 {
				t.Errorf("%s renders %d CRDs, want the 4 caseload.dev kinds councils write, the AllocationLedger and the ExceptionApproval", r.source, n)
			}
		})
	}
}

// TestManagerPodMeetsRestrictedPodSecurity creates (dry-run) a Pod from the Deployment's
// template in a namespace that enforces the restricted Pod Security Standard: the API server's
// PodSecurity admission refuses it if the manager would need any privilege.
func TestManagerPodMeetsRestrictedPodSecurity(t *testing.T) {
	for _, r := range installs(t) {
		t.Run(r.source, func(t *testing.T) {
			d := only[appsv1.Deployment](t, r, "Deployment")
			ensureNamespace(t, releaseNamespace)
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: releaseNamespace, GenerateName: "manager-", Labels: d.Spec.Template.Labels},
				Spec:       d.Spec.Template.Spec,
			}
			if err := env.Client.Create(context.Background(), pod, client.DryRunAll); err != nil {
				t.Errorf("%s: the manager's pod breaks the restricted Pod Security Standard: %v", r.source, err)
			}
		})
	}
}

// TestManagerRunsTwoLeaderElectedReplicasWithoutPractitionerMetrics checks the Deployment's
// shape and that every flag it passes is one cmd/manager defines.
func TestManagerRunsTwoLeaderElectedReplicasWithoutPractitionerMetrics(t *testing.T) {
	mainGo, err := os.ReadFile(filepath.Join(env.Root, "cmd", "manager", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, r rendered, wantPractitionerMetrics bool) {
		d := only[appsv1.Deployment](t, r, "Deployment")
		if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
			t.Errorf("%s: replicas = %v, want 2 (one reconciles, both answer the webhook)", r.source, d.Spec.Replicas)
		}
		c := managerContainer(t, r.source, d)
		flags := parseFlags(c.Args)
		if v, ok := flags["leader-elect"]; !ok || (v != "" && v != "true") {
			t.Errorf("%s: args %v lack --leader-elect: two replicas would both reconcile", r.source, c.Args)
		}
		v, set := flags["practitioner-metrics"]
		got := set && (v == "" || v == "true")
		if got != wantPractitionerMetrics {
			t.Errorf("%s: per-practitioner metrics on = %v, want %v (args %v)", r.source, got, wantPractitionerMetrics, c.Args)
		}
		for name := range flags {
			if !bytes.Contains(mainGo, []byte(`"`+name+`"`)) {
				t.Errorf("%s passes --%s, which cmd/manager/main.go does not define: the manager would exit at start", r.source, name)
			}
		}
		if c.LivenessProbe == nil || c.ReadinessProbe == nil {
			t.Errorf("%s: the manager needs liveness and readiness probes", r.source)
		}
		if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("%s: the manager needs memory requests and limits, got %v", r.source, c.Resources)
		}
		sc := c.SecurityContext
		if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s: the manager must run as non-root on a read-only root filesystem, got %+v", r.source, sc)
		}
		if len(r.all("PodDisruptionBudget")) != 1 {
			t.Errorf("%s: two replicas need a PodDisruptionBudget so a drain never takes the webhook down", r.source)
		}
	}
	t.Run("helm defaults", func(t *testing.T) { check(t, helmTemplate(t, "helm template (defaults)"), false) })
	t.Run("kustomize", func(t *testing.T) { check(t, kustomize(t), false) })
	t.Run("helm practitionerMetrics=true", func(t *testing.T) {
		check(t, helmTemplate(t, "helm template (practitionerMetrics=true)", "practitionerMetrics=true"), true)
	})
	t.Run("helm refuses replicas without leader election", func(t *testing.T) {
		_, err := run(helm(t), "template", releaseName, chartDir, "-n", releaseNamespace, "--set", "leaderElect=false")
		if err == nil || !strings.Contains(err.Error(), "leaderElect") {
			t.Errorf("helm template with 2 replicas and leaderElect=false should fail and say why, got %v", err)
		}
	})
}

// TestManagerRoleMatchesGeneratedRBAC checks that the ClusterRole bound to the manager's service
// account grants exactly the rules controller-gen generates from the +kubebuilder:rbac markers
// into config/rbac/role.yaml (nothing the operator needs is missing, nothing more is granted),
// and that no shipped install lets the operator touch a Secret or any webhook configuration:
// neither issues its own certificate (--cert-source=self), which alone would need them.
func TestManagerRoleMatchesGeneratedRBAC(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(env.Root, "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatalf("config/rbac/role.yaml (written by `make manifests`): %v", err)
	}
	var want []rbacv1.PolicyRule
	for _, o := range decode(t, "config/rbac/role.yaml", data) {
		if o.GetKind() != "ClusterRole" {
			t.Fatalf("config/rbac/role.yaml holds a %s: teach charts/caseload-operator/templates/rbac.yaml and this test", o.GetKind())
		}
		want = append(want, typed[rbacv1.ClusterRole](t, o).Rules...)
	}
	if len(want) == 0 {
		t.Fatal("config/rbac/role.yaml grants nothing")
	}
	for _, r := range installs(t) {
		t.Run(r.source, func(t *testing.T) {
			got := managerRules(t, r)
			for _, p := range permissions(want) {
				if !allows(got, p) {
					t.Errorf("%s: the manager may not %s, which the RBAC markers ask for (run `make manifests chart-files`)", r.source, p)
				}
			}
			for _, p := range permissions(got) {
				if !allows(want, p) {
					t.Errorf("%s: the manager may %s, which no RBAC marker asks for", r.source, p)
				}
			}
			for _, p := range permissions(append(got, managerNamespacedRules(t, r)...)) {
				if p.resource == "secrets" || strings.HasSuffix(p.resource, "webhookconfigurations") {
					t.Errorf("%s: the manager may %s, which only --cert-source=self needs (config/certs-self)", r.source, p)
				}
			}
		})
	}
}

// TestSelfIssuedCertificatesAreGrantedByName: config/certs-self, for a manager that issues its own
// webhook certificate, names the one Secret and the one ValidatingWebhookConfiguration for every
// verb RBAC can check a name for, and grants Secrets only in the operator's namespace.
func TestSelfIssuedCertificatesAreGrantedByName(t *testing.T) {
	r := kustomizeDir(t, "config/certs-self")
	var rules []rbacv1.PolicyRule
	for _, o := range r.all("ClusterRole") {
		rules = append(rules, typed[rbacv1.ClusterRole](t, o).Rules...)
	}
	for _, o := range r.all("Role") {
		if o.GetNamespace() != "caseload-system" {
			t.Errorf("Role %s is in namespace %q, not the operator's", o.GetName(), o.GetNamespace())
		}
		rules = append(rules, typed[rbacv1.Role](t, o).Rules...)
	}
	names := map[string]string{"secrets": "caseload-webhook-server-cert", "validatingwebhookconfigurations": "caseload-validating-webhook-configuration"}
	for _, p := range permissions(rules) {
		if _, ok := names[p.resource]; !ok {
			t.Errorf("config/certs-self grants %s, which the rotator does not need", p)
			continue
		}
		nameable := p.verb != "list" && p.verb != "watch" && p.verb != "create"
		if nameable && p.name != names[p.resource] {
			t.Errorf("config/certs-self grants %s: want it limited to %s", p, names[p.resource])
		}
	}
	for _, o := range r.all("ClusterRole") {
		for _, rule := range typed[rbacv1.ClusterRole](t, o).Rules {
			if slices.Contains(rule.Resources, "secrets") {
				t.Errorf("ClusterRole %s grants Secrets in every namespace", o.GetName())
			}
		}
	}
}

// managerNamespacedRules returns the rules of every Role bound to the manager's service account in
// the Deployment's namespace.
func managerNamespacedRules(t *testing.T, r rendered) []rbacv1.PolicyRule {
	t.Helper()
	d := only[appsv1.Deployment](t, r, "Deployment")
	sa := d.Spec.Template.Spec.ServiceAccountName
	var rules []rbacv1.PolicyRule
	for _, o := range r.all("RoleBinding") {
		b := typed[rbacv1.RoleBinding](t, o)
		if b.Namespace != d.Namespace || b.RoleRef.Kind != "Role" || !slices.ContainsFunc(b.Subjects, func(s rbacv1.Subject) bool {
			return s.Kind == "ServiceAccount" && s.Name == sa && s.Namespace == d.Namespace
		}) {
			continue
		}
		if role := r.get("Role", d.Namespace, b.RoleRef.Name); role != nil {
			rules = append(rules, typed[rbacv1.Role](t, role).Rules...)
		}
	}
	return rules
}

// managerRules returns the rules of every ClusterRole bound to the manager's service account.
func managerRules(t *testing.T, r rendered) []rbacv1.PolicyRule {
	t.Helper()
	d := only[appsv1.Deployment](t, r, "Deployment")
	sa := d.Spec.Template.Spec.ServiceAccountName
	if r.get("ServiceAccount", d.Namespace, sa) == nil {
		t.Fatalf("%s: the Deployment runs as service account %q, which is not rendered", r.source, sa)
	}
	var rules []rbacv1.PolicyRule
	bound := 0
	for _, o := range r.all("ClusterRoleBinding") {
		b := typed[rbacv1.ClusterRoleBinding](t, o)
		if !slices.ContainsFunc(b.Subjects, func(s rbacv1.Subject) bool {
			return s.Kind == "ServiceAccount" && s.Name == sa && s.Namespace == d.Namespace
		}) {
			continue
		}
		role := r.get("ClusterRole", "", b.RoleRef.Name)
		if role == nil {
			t.Fatalf("%s: ClusterRoleBinding %s refers to ClusterRole %s, which is not rendered", r.source, b.Name, b.RoleRef.Name)
		}
		rules = append(rules, typed[rbacv1.ClusterRole](t, role).Rules...)
		bound++
	}
	if bound == 0 {
		t.Fatalf("%s: no ClusterRoleBinding grants anything to service account %s/%s", r.source, d.Namespace, sa)
	}
	return rules
}

// permission is one verb on one resource (or non-resource URL).
type permission struct{ group, resource, name, verb string }

func (p permission) String() string {
	if p.resource == "" {
		return fmt.Sprintf("%s %s", p.verb, p.name)
	}
	s := fmt.Sprintf("%s %s", p.verb, p.resource)
	if p.group != "" {
		s += "." + p.group
	}
	if p.name != "" {
		s += " named " + p.name
	}
	return s
}

func permissions(rules []rbacv1.PolicyRule) []permission {
	var out []permission
	for _, r := range rules {
		for _, verb := range r.Verbs {
			for _, url := range r.NonResourceURLs {
				out = append(out, permission{name: url, verb: verb})
			}
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					if len(r.ResourceNames) == 0 {
						out = append(out, permission{group: g, resource: res, verb: verb})
					}
					for _, n := range r.ResourceNames {
						out = append(out, permission{group: g, resource: res, name: n, verb: verb})
					}
				}
			}
		}
	}
	return out
}

// allows reports whether the rules grant p, with RBAC's wildcards.
func allows(rules []rbacv1.PolicyRule, p permission) bool {
	match := func(list []string, s string) bool { return slices.Contains(list, s) || slices.Contains(list, "*") }
	for _, r := range rules {
		if !match(r.Verbs, p.verb) {
			continue
		}
		if p.resource == "" {
			if match(r.NonResourceURLs, p.name) {
				return true
			}
			continue
		}
		if match(r.APIGroups, p.group) && match(r.Resources, p.resource) &&
			(len(r.ResourceNames) == 0 || slices.Contains(r.ResourceNames, p.name)) {
			return true
		}
	}
	return false
}

// TestWebhooksMatchGeneratedAndRefuseUncheckedAllocations checks the rendered
// ValidatingWebhookConfiguration against controller-gen's config/webhook/manifests.yaml: the same
// webhooks, paths and rules, the case webhook failing closed, no webhook judging kube-system or
// the operator's namespace, and the API server able to reach and trust the webhook server.
func TestWebhooksMatchGeneratedAndRefuseUncheckedAllocations(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(env.Root, "config", "webhook", "manifests.yaml"))
	if err != nil {
		t.Fatalf("config/webhook/manifests.yaml (written by `make manifests`): %v", err)
	}
	var generated []admissionregistrationv1.ValidatingWebhook
	for _, o := range decode(t, "config/webhook/manifests.yaml", data) {
		if o.GetKind() == "ValidatingWebhookConfiguration" {
			generated = append(generated, typed[admissionregistrationv1.ValidatingWebhookConfiguration](t, o).Webhooks...)
		}
	}
	if len(generated) == 0 {
		t.Fatal("config/webhook/manifests.yaml holds no validating webhook")
	}
	for _, r := range installs(t) {
		t.Run(r.source, func(t *testing.T) {
			vwc := only[admissionregistrationv1.ValidatingWebhookConfiguration](t, r, "ValidatingWebhookConfiguration")
			// Same webhooks as generated, apart from what the installation sets.
			if got, want := comparable(vwc.Webhooks), comparable(generated); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: webhooks differ from config/webhook/manifests.yaml (run `make manifests chart-files`):\n got  %+v\n want %+v", r.source, got, want)
			}
			casesSeen := false
			for _, w := range vwc.Webhooks {
				if handles(w, "cases") && judgesAllocations(w) {
					casesSeen = true
					if w.FailurePolicy == nil || *w.FailurePolicy != admissionregistrationv1.Fail {
						policy := "unset (Fail)"
						if w.FailurePolicy != nil {
							policy = string(*w.FailurePolicy)
						}
						t.Errorf("%s: webhook %s judges cases with failurePolicy %s: an allocation the webhook cannot check would be let through", r.source, w.Name, policy)
					}
				}
				checkNamespaceSelector(t, r.source, w)
				checkServiceReachesWebhookServer(t, r, w)
			}
			if !casesSeen {
				t.Errorf("%s: no webhook judges cases: allocations are not checked at all", r.source)
			}
			checkServingCertificate(t, r, vwc)
		})
	}
}

// comparable strips from webhooks what an installation is expected to set (where the Service
// is, its CA, which namespaces are judged), keeping what controller-gen decides, failurePolicy
// and matchConditions included.
func comparable(ws []admissionregistrationv1.ValidatingWebhook) []admissionregistrationv1.ValidatingWebhook {
	out := make([]admissionregistrationv1.ValidatingWebhook, 0, len(ws))
	for _, w := range ws {
		w = *w.DeepCopy()
		path := ""
		if w.ClientConfig.Service != nil && w.ClientConfig.Service.Path != nil {
			path = *w.ClientConfig.Service.Path
		}
		w.ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: &path}
		w.NamespaceSelector = nil
		out = append(out, w)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func handles(w admissionregistrationv1.ValidatingWebhook, resource string) bool {
	for _, rule := range w.Rules {
		if slices.Contains(rule.Resources, resource) || slices.Contains(rule.Resources, "*") {
			return true
		}
	}
	return false
}

// judgesAllocations reports whether the webhook decides allocations: it is called for creates
// (every new Case is decided).
func judgesAllocations(w admissionregistrationv1.ValidatingWebhook) bool {
	for _, rule := range w.Rules {
		for _, op := range rule.Operations {
			if op == admissionregistrationv1.Create || op == admissionregistrationv1.OperationAll {
				return true
			}
		}
	}
	return false
}

// checkNamespaceSelector evaluates the webhook's namespaceSelector on the labels the API server
// puts on namespaces.
func checkNamespaceSelector(t *testing.T, source string, w admissionregistrationv1.ValidatingWebhook) {
	t.Helper()
	if w.NamespaceSelector == nil {
		t.Errorf("%s: webhook %s has no namespaceSelector: it would judge kube-system too", source, w.Name)
		return
	}
	sel, err := metav1.LabelSelectorAsSelector(w.NamespaceSelector)
	if err != nil {
		t.Errorf("%s: webhook %s: %v", source, w.Name, err)
		return
	}
	ns := func(name string) labels.Set { return labels.Set{"kubernetes.io/metadata.name": name} }
	for _, skipped := range []string{"kube-system", releaseNamespace} {
		if sel.Matches(ns(skipped)) {
			t.Errorf("%s: webhook %s judges objects in %s (selector %s)", source, w.Name, skipped, sel)
		}
	}
	for _, council := range []string{"walsall", "manchester-childrens"} {
		if !sel.Matches(ns(council)) {
			t.Errorf("%s: webhook %s ignores the council namespace %s (selector %s)", source, w.Name, council, sel)
		}
	}
}

// checkServiceReachesWebhookServer follows the webhook's Service to the manager's container
// port 9443.
func checkServiceReachesWebhookServer(t *testing.T, r rendered, w admissionregistrationv1.ValidatingWebhook) {
	t.Helper()
	ref := w.ClientConfig.Service
	if ref == nil {
		t.Errorf("%s: webhook %s is not served through a Service", r.source, w.Name)
		return
	}
	u := r.get("Service", ref.Namespace, ref.Name)
	if u == nil {
		t.Errorf("%s: webhook %s calls Service %s/%s, which is not rendered", r.source, w.Name, ref.Namespace, ref.Name)
		return
	}
	svc := typed[corev1.Service](t, u)
	port := int32(443)
	if ref.Port != nil {
		port = *ref.Port
	}
	d := only[appsv1.Deployment](t, r, "Deployment")
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) || len(svc.Spec.Selector) == 0 {
		t.Errorf("%s: Service %s selects %v, which does not select the manager's pods %v", r.source, svc.Name, svc.Spec.Selector, d.Spec.Template.Labels)
	}
	for _, p := range svc.Spec.Ports {
		if p.Port != port {
			continue
		}
		if target := containerPort(managerContainer(t, r.source, d), p.TargetPort); target != 9443 {
			t.Errorf("%s: Service %s port %d goes to container port %d, want the webhook server's 9443", r.source, svc.Name, port, target)
		}
		return
	}
	t.Errorf("%s: Service %s has no port %d for webhook %s", r.source, svc.Name, port, w.Name)
}

// checkServingCertificate checks that the API server will trust the webhook server: either the
// chart's own certificate verifies against the caBundle for the Service's DNS name, or a
// cert-manager Certificate for that name writes the Secret the manager mounts and its CA is
// injected.
func checkServingCertificate(t *testing.T, r rendered, vwc *admissionregistrationv1.ValidatingWebhookConfiguration) {
	t.Helper()
	d := only[appsv1.Deployment](t, r, "Deployment")
	c := managerContainer(t, r.source, d)
	flags := parseFlags(c.Args)
	certDir := flags["webhook-cert-dir"]
	if certDir == "" {
		certDir = "/tmp/k8s-webhook-server/serving-certs" // controller-runtime's default
	}
	secretName := ""
	for _, m := range c.VolumeMounts {
		if m.MountPath != certDir {
			continue
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name == m.Name && v.Secret != nil {
				secretName = v.Secret.SecretName
			}
		}
	}
	if secretName == "" {
		t.Errorf("%s: no Secret is mounted at the webhook certificate directory %s", r.source, certDir)
		return
	}
	svc := vwc.Webhooks[0].ClientConfig.Service
	dnsName := fmt.Sprintf("%s.%s.svc", svc.Name, svc.Namespace)

	if ref, ok := vwc.Annotations["cert-manager.io/inject-ca-from"]; ok {
		ns, name, _ := strings.Cut(ref, "/")
		cert := r.get("Certificate", ns, name)
		if cert == nil {
			t.Errorf("%s: the webhook takes its CA from Certificate %s, which is not rendered", r.source, ref)
			return
		}
		dnsNames, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
		if !slices.Contains(dnsNames, dnsName) {
			t.Errorf("%s: Certificate %s is for %v, not for the webhook Service %s", r.source, ref, dnsNames, dnsName)
		}
		if s, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName"); s != secretName {
			t.Errorf("%s: Certificate %s writes Secret %q but the manager mounts %q", r.source, ref, s, secretName)
		}
		kind, _, _ := unstructured.NestedString(cert.Object, "spec", "issuerRef", "kind")
		issuer, _, _ := unstructured.NestedString(cert.Object, "spec", "issuerRef", "name")
		if (kind == "" || kind == "Issuer") && r.get("Issuer", ns, issuer) == nil {
			t.Errorf("%s: Certificate %s is issued by Issuer %s, which is not rendered", r.source, ref, issuer)
		}
		return
	}

	u := r.get("Secret", d.Namespace, secretName)
	if u == nil {
		t.Errorf("%s: the manager mounts Secret %s, which nothing renders or issues", r.source, secretName)
		return
	}
	secret := map[string][]byte{}
	for k, v := range u.Object["data"].(map[string]any) {
		b, err := base64.StdEncoding.DecodeString(v.(string))
		if err != nil {
			t.Fatalf("%s: Secret %s key %s: %v", r.source, secretName, k, err)
		}
		secret[k] = b
	}
	if _, err := tls.X509KeyPair(secret["tls.crt"], secret["tls.key"]); err != nil {
		t.Errorf("%s: Secret %s holds no usable key pair: %v", r.source, secretName, err)
		return
	}
	pool := x509.NewCertPool()
	for i, w := range vwc.Webhooks {
		if !pool.AppendCertsFromPEM(w.ClientConfig.CABundle) {
			t.Errorf("%s: webhook %d (%s) has no CA bundle", r.source, i, w.Name)
		}
	}
	leaf, err := x509.ParseCertificate(mustPEM(t, secret["tls.crt"]))
	if err != nil {
		t.Fatalf("%s: Secret %s tls.crt: %v", r.source, secretName, err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: dnsName, Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("%s: the API server would not trust the webhook server's certificate for %s: %v", r.source, dnsName, err)
	}
}

func mustPEM(t *testing.T, data []byte) []byte {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatal("tls.crt holds no PEM certificate")
	}
	return block.Bytes
}

// TestNetworkPoliciesAndServiceMonitorSelectTheManager checks that the optional NetworkPolicies
// and ServiceMonitor point at the manager and its metrics port, and let nothing else in.
func TestNetworkPoliciesAndServiceMonitorSelectTheManager(t *testing.T) {
	for _, r := range []rendered{helmTemplate(t, "helm template (all on)", chartAllOn...), kustomize(t)} {
		t.Run(r.source, func(t *testing.T) {
			d := only[appsv1.Deployment](t, r, "Deployment")
			c := managerContainer(t, r.source, d)
			podLabels := labels.Set(d.Spec.Template.Labels)
			open := map[int32]bool{}
			policies := r.all("NetworkPolicy")
			if len(policies) == 0 {
				t.Fatalf("%s renders no NetworkPolicy", r.source)
			}
			for _, u := range policies {
				np := typed[networkingv1.NetworkPolicy](t, u)
				sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
				if err != nil || sel.Empty() || !sel.Matches(podLabels) {
					t.Errorf("%s: NetworkPolicy %s selects %v, not the manager's pods", r.source, np.Name, np.Spec.PodSelector)
				}
				for _, rule := range np.Spec.Ingress {
					for _, p := range rule.Ports {
						if p.Port == nil {
							t.Errorf("%s: NetworkPolicy %s opens every port", r.source, np.Name)
							continue
						}
						port := containerPort(c, *p.Port)
						if port == 9443 && len(rule.From) != 0 {
							t.Errorf("%s: NetworkPolicy %s limits the webhook port to %v: the API server calls it from outside the pod network", r.source, np.Name, rule.From)
						}
						if port != 9443 && len(rule.From) == 0 {
							t.Errorf("%s: NetworkPolicy %s opens port %d to every source", r.source, np.Name, port)
						}
						open[port] = true
					}
				}
			}
			metricsPort := containerPort(c, intstr.FromString("metrics"))
			for port := range open {
				if port != 9443 && port != metricsPort {
					t.Errorf("%s: NetworkPolicies open port %d, which is neither the webhook nor metrics", r.source, port)
				}
			}
			if !open[9443] || !open[metricsPort] {
				t.Errorf("%s: NetworkPolicies open %v, want the webhook (9443) and metrics (%d)", r.source, open, metricsPort)
			}

			monitors := r.all("ServiceMonitor")
			if len(monitors) != 1 {
				t.Fatalf("%s renders %d ServiceMonitors, want 1", r.source, len(monitors))
			}
			sm := monitors[0]
			matchLabels, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
			endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
			if len(matchLabels) == 0 || len(endpoints) == 0 {
				t.Fatalf("%s: ServiceMonitor selects %v with endpoints %v", r.source, matchLabels, endpoints)
			}
			portName, _ := endpoints[0].(map[string]any)["port"].(string)
			found := 0
			for _, u := range r.all("Service") {
				svc := typed[corev1.Service](t, u)
				if u.GetNamespace() != sm.GetNamespace() || !labels.SelectorFromSet(matchLabels).Matches(labels.Set(svc.Labels)) {
					continue
				}
				found++
				for _, p := range svc.Spec.Ports {
					if p.Name == portName && containerPort(c, p.TargetPort) != metricsPort {
						t.Errorf("%s: ServiceMonitor scrapes Service %s port %s, which goes to container port %v, not metrics", r.source, svc.Name, portName, p.TargetPort)
					}
				}
			}
			if found != 1 {
				t.Errorf("%s: ServiceMonitor selects %d Services, want the metrics Service alone", r.source, found)
			}
			// The alerts select job="caseload-operator" and read the councils' namespace label.
			if honour, _, _ := unstructured.NestedBool(endpoints[0].(map[string]any), "honorLabels"); !honour {
				t.Errorf("%s: ServiceMonitor does not honour the operator's labels: the councils' namespace label would become exported_namespace", r.source)
			}
			jobLabel, _, _ := unstructured.NestedString(sm.Object, "spec", "jobLabel")
			for _, u := range r.all("Service") {
				if labels.SelectorFromSet(matchLabels).Matches(labels.Set(u.GetLabels())) && u.GetLabels()[jobLabel] != "caseload-operator" {
					t.Errorf("%s: the metrics Service's %q label is %q, so the job is not the caseload-operator the alerts select", r.source, jobLabel, u.GetLabels()[jobLabel])
				}
			}
		})
	}
}

// TestUserRolesGrantWhatTheirNamesSay installs the people-facing ClusterRoles (for real), binds
// them in a council's namespace and asks the API server's authorizer (SubjectAccessReview, as the
// webhook does for exceptions) what each person may do.
func TestUserRolesGrantWhatTheirNamesSay(t *testing.T) {
	helmRoles := helmTemplate(t, "helm template (defaults)")
	kust := kustomize(t)
	for _, name := range []string{"caseload-viewer", "caseload-editor", "caseload-approver"} {
		h, k := helmRoles.get("ClusterRole", "", name), kust.get("ClusterRole", "", name)
		if h == nil || k == nil {
			t.Fatalf("ClusterRole %s: rendered by helm %v, by kustomize %v; both should", name, h != nil, k != nil)
		}
		hr, kr := typed[rbacv1.ClusterRole](t, h), typed[rbacv1.ClusterRole](t, k)
		if !reflect.DeepEqual(hr.Rules, kr.Rules) {
			t.Errorf("ClusterRole %s differs between the chart and config/rbac:\n helm      %+v\n kustomize %+v", name, hr.Rules, kr.Rules)
		}
		for l, v := range kr.Labels {
			if strings.HasPrefix(l, "rbac.authorization.k8s.io/aggregate-to-") && hr.Labels[l] != v {
				t.Errorf("ClusterRole %s: label %s=%s in config/rbac but %q in the chart", name, l, v, hr.Labels[l])
			}
		}
		for l := range hr.Labels {
			if strings.HasPrefix(l, "rbac.authorization.k8s.io/aggregate-to-") && kr.Labels[l] == "" {
				t.Errorf("ClusterRole %s: label %s in the chart but not in config/rbac", name, l)
			}
		}
		if name == "caseload-approver" && len(hr.Labels["rbac.authorization.k8s.io/aggregate-to-admin"]+hr.Labels["rbac.authorization.k8s.io/aggregate-to-edit"]) > 0 {
			t.Errorf("caseload-approver must not be folded into admin or edit: approving work above the cap is a named manager's decision")
		}
	}

	ctx := context.Background()
	const council = "walsall"
	ensureNamespace(t, council)
	ensureNamespace(t, "manchester")
	for _, name := range []string{"caseload-viewer", "caseload-editor", "caseload-approver"} {
		role := helmRoles.get("ClusterRole", "", name).DeepCopy()
		if err := env.Client.Create(ctx, role); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), role) })
		user := strings.TrimPrefix(name, "caseload-")
		binding := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: council, Name: user},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
		}
		if err := env.Client.Create(ctx, binding); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), binding) })
	}
	for _, tc := range []struct {
		user, verb, resource, namespace string
		allowed                         bool
	}{
		{"viewer", "list", "cases", council, true},
		{"viewer", "watch", "caseloadquotas", council, true},
		{"viewer", "update", "cases", council, false},
		{"viewer", "list", "cases", "manchester", false},
		{"editor", "create", "cases", council, true},
		{"editor", "patch", "practitioners", council, true},
		{"editor", "delete", "teams", council, true},
		{"editor", "update", "caseloadquotas", council, false},
		{"editor", "update", "cases/status", council, false},
		{"editor", "approve", "caseloadquotas", council, false},
		{"approver", "approve", "caseloadquotas", council, true},
		{"approver", "approve", "caseloadquotas", "manchester", false},
		{"approver", "update", "caseloadquotas", council, false},
	} {
		resource, sub, _ := strings.Cut(tc.resource, "/")
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: tc.user,
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: tc.namespace, Verb: tc.verb, Group: "caseload.dev", Resource: resource, Subresource: sub,
			},
		}}
		if err := env.Client.Create(ctx, sar); err != nil {
			t.Fatal(err)
		}
		if sar.Status.Allowed != tc.allowed {
			t.Errorf("%s may %s %s in %s: %v, want %v", tc.user, tc.verb, tc.resource, tc.namespace, sar.Status.Allowed, tc.allowed)
		}
	}
}

// TestNotesTellThePlatformTeamHowToCheck renders the chart's NOTES.txt through a client-side
// dry-run install against the test API server.
func TestNotesTellThePlatformTeamHowToCheck(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.Environment.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := run(helm(t), "install", releaseName, chartDir, "--namespace", releaseNamespace,
		"--dry-run=client", "--kubeconfig", kubeconfig)
	if err != nil {
		t.Fatalf("helm install --dry-run=client: %v", err)
	}
	_, notes, found := strings.Cut(string(out), "NOTES:")
	if !found {
		t.Fatalf("helm install prints no NOTES:\n%s", out)
	}
	for _, want := range []string{"kubectl get caseload -A", "rollout status deployment/caseload-operator", "caseload-approver", "Per-practitioner metrics are off"} {
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES.txt lacks %q:\n%s", want, notes)
		}
	}
	// The CRDs the notes say to look for are the chart's own: as many, and each by name.
	crds, err := filepath.Glob(filepath.Join(env.Root, chartDir, "crds", "caseload.dev_*.yaml"))
	if err != nil || len(crds) == 0 {
		t.Fatalf("the chart's CRDs: %v (%d files)", err, len(crds))
	}
	count := []string{"no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}
	if want := "# " + count[len(crds)] + " CRDs:"; !strings.Contains(notes, want) {
		t.Errorf("the chart has %d CRDs; NOTES.txt does not say %q:\n%s", len(crds), want, notes)
	}
	for _, f := range crds {
		plural := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "caseload.dev_"), ".yaml")
		if !strings.Contains(notes, plural) {
			t.Errorf("NOTES.txt does not name CRD %s", plural)
		}
	}
}

// TestAlertsAndDashboardAreConfigs: the chart's PrometheusRule and dashboard ConfigMap hold what
// config/prometheus and config/grafana hold (test/monitoring tests those), and so does the
// installer; the dashboard is labelled for Grafana's sidecar and can be switched off.
func TestAlertsAndDashboardAreConfigs(t *testing.T) {
	var want struct {
		Spec map[string]any `json:"spec"`
	}
	data, err := os.ReadFile(filepath.Join(env.Root, "config", "prometheus", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	dashboard, err := os.ReadFile(filepath.Join(env.Root, "config", "grafana", "caseload-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []rendered{helmTemplate(t, "helm template (all on)", chartAllOn...), kustomize(t)} {
		rule := r.all("PrometheusRule")
		if len(rule) != 1 {
			t.Fatalf("%s renders %d PrometheusRules, want 1", r.source, len(rule))
		}
		if got := rule[0].Object["spec"]; !equality.Semantic.DeepEqual(got, want.Spec) {
			t.Errorf("%s: the PrometheusRule's spec differs from config/prometheus/alerts.yaml: run `make chart-files`", r.source)
		}
		var cms []*corev1.ConfigMap
		for _, u := range r.all("ConfigMap") {
			if u.GetLabels()["grafana_dashboard"] == "1" {
				cms = append(cms, typed[corev1.ConfigMap](t, u))
			}
		}
		if len(cms) != 1 || len(cms[0].Data) != 1 {
			t.Fatalf("%s renders %d ConfigMaps labelled grafana_dashboard=1, want 1 with one dashboard", r.source, len(cms))
		}
		for name, got := range cms[0].Data {
			if strings.TrimSpace(got) != strings.TrimSpace(string(dashboard)) {
				t.Errorf("%s: dashboard %s differs from config/grafana/caseload-dashboard.json: run `make chart-files`", r.source, name)
			}
		}
	}
	if off := helmTemplate(t, "helm template (dashboard off)", "grafanaDashboard.enabled=false"); len(off.all("ConfigMap")) != 0 {
		t.Errorf("grafanaDashboard.enabled=false still renders %d ConfigMaps", len(off.all("ConfigMap")))
	}
	if defaults := helmTemplate(t, "helm template (defaults)"); len(defaults.all("PrometheusRule")) != 0 {
		t.Errorf("the defaults render a PrometheusRule, which fails to install without the Prometheus Operator's CRDs")
	}
}

// TestChartCRDsAreTheGeneratedOnes checks that charts/caseload-operator/crds holds exactly
// config/crd/bases (`make manifests` copies them).
func TestChartCRDsAreTheGeneratedOnes(t *testing.T) {
	bases, _ := filepath.Glob(filepath.Join(env.Root, "config", "crd", "bases", "*.yaml"))
	copies, _ := filepath.Glob(filepath.Join(env.Root, chartDir, "crds", "*.yaml"))
	if len(bases) != 6 || len(copies) != len(bases) {
		t.Fatalf("config/crd/bases has %d CRDs and the chart's crds/ %d: run `make manifests`", len(bases), len(copies))
	}
	for _, b := range bases {
		want, _ := os.ReadFile(b)
		got, err := os.ReadFile(filepath.Join(env.Root, chartDir, "crds", filepath.Base(b)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s/crds/%s differs from config/crd/bases: run `make manifests`", chartDir, filepath.Base(b))
		}
	}
}

func managerContainer(t *testing.T, source string, d *appsv1.Deployment) *corev1.Container {
	t.Helper()
	for i := range d.Spec.Template.Spec.Containers {
		if c := &d.Spec.Template.Spec.Containers[i]; c.Name == "manager" {
			return c
		}
	}
	t.Fatalf("%s: Deployment %s has no container named manager", source, d.Name)
	return nil
}

// containerPort resolves a Service targetPort (or NetworkPolicy port) to a container port.
func containerPort(c *corev1.Container, p intstr.IntOrString) int32 {
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	return -1
}

// parseFlags maps "--name=value" and "--name" arguments to their values ("" for bare flags).
func parseFlags(args []string) map[string]string {
	out := map[string]string{}
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name, value, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		out[name] = value
	}
	return out
}

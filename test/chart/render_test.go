package chart

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"caseload.dev/caseload-operator/internal/manifest"
	"caseload.dev/caseload-operator/internal/testenv"
)

// releaseNamespace is where both the chart and config/default install the operator.
const (
	releaseName      = "caseload-operator"
	releaseNamespace = "caseload-system"
	chartDir         = "charts/caseload-operator"
)

// rendered is one way of installing the operator, rendered to objects.
type rendered struct {
	source string // what produced it, for messages: "helm template (defaults)", "kubectl kustomize config/default"
	objs   []*unstructured.Unstructured
}

// all returns the objects of one kind.
func (r rendered) all(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range r.objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// get returns the object of a kind and name, or nil.
func (r rendered) get(kind, namespace, name string) *unstructured.Unstructured {
	for _, o := range r.objs {
		if o.GetKind() == kind && o.GetNamespace() == namespace && o.GetName() == name {
			return o
		}
	}
	return nil
}

// only returns the single object of a kind, failing the test when there is not exactly one.
func only[T any](t *testing.T, r rendered, kind string) *T {
	t.Helper()
	objs := r.all(kind)
	if len(objs) != 1 {
		t.Fatalf("%s renders %d %s objects, want exactly 1", r.source, len(objs), kind)
	}
	return typed[T](t, objs[0])
}

// typed converts an unstructured object to its Go type.
func typed[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return out
}

var (
	helmOnce sync.Once
	helmPath string
	helmErr  error
)

// helm returns bin/helm, building it with `make helm` (through the Go module proxy, about two
// minutes cold) when it is missing. The test is skipped only when it is missing and cannot be
// built.
func helm(t *testing.T) string {
	t.Helper()
	helmOnce.Do(func() {
		helmPath = filepath.Join(env.Root, "bin", "helm")
		if isExecutable(helmPath) {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "make", "helm")
		cmd.Dir = env.Root
		out, err := cmd.CombinedOutput()
		if err != nil || !isExecutable(helmPath) {
			helmErr = fmt.Errorf("`make helm` failed: %v\n%s", err, out)
		}
	})
	if helmErr != nil && os.Getenv("CI") == "true" {
		t.Fatalf("bin/helm is missing and could not be built, and under CI the chart must be tested: %v", helmErr)
	}
	if helmErr != nil {
		t.Skipf("bin/helm is missing and could not be built (it needs the Go module proxy); the chart is not tested: %v", helmErr)
	}
	return helmPath
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// helmTemplate renders the chart as `helm template` does, CRDs included, with extra values.
func helmTemplate(t *testing.T, source string, set ...string) rendered {
	t.Helper()
	args := []string{"template", releaseName, chartDir, "--namespace", releaseNamespace, "--include-crds"}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := run(helm(t), args...)
	if err != nil {
		t.Fatalf("helm %s: %v", strings.Join(args, " "), err)
	}
	return rendered{source: source, objs: decode(t, source, out)}
}

// kubeScore is bin/kube-score, built by `make kube-score` if it is missing. Under CI it must
// be there; elsewhere a machine that cannot build it skips the check.
func kubeScore(t *testing.T) string {
	t.Helper()
	kubeScoreOnce.Do(func() {
		kubeScorePath = filepath.Join(env.Root, "bin", "kube-score")
		if isExecutable(kubeScorePath) {
			return
		}
		if out, err := run("make", "-s", "kube-score"); err != nil || !isExecutable(kubeScorePath) {
			kubeScoreErr = fmt.Errorf("`make kube-score` failed: %v\n%s", err, out)
		}
	})
	if kubeScoreErr != nil && os.Getenv("CI") == "true" {
		t.Fatalf("bin/kube-score is missing and could not be built, and under CI the manifests must be scored: %v", kubeScoreErr)
	}
	if kubeScoreErr != nil {
		t.Skipf("bin/kube-score is missing and could not be built (it needs the Go module proxy): %v", kubeScoreErr)
	}
	return kubeScorePath
}

var (
	kubeScoreOnce sync.Once
	kubeScorePath string
	kubeScoreErr  error
)

// kustomize is the one-file installer, dist/install.yaml, as `make build-installer` writes it
// from config/default: every test of a rendering checks the file a platform team applies.
func kustomize(t *testing.T) rendered {
	t.Helper()
	installerOnce.Do(func() {
		if out, err := run("make", "-s", "build-installer"); err != nil {
			installerErr = fmt.Errorf("make build-installer: %w\n%s", err, out)
			return
		}
		installer, installerErr = os.ReadFile(filepath.Join(env.Root, "dist", "install.yaml"))
	})
	if installerErr != nil {
		t.Fatal(installerErr)
	}
	const source = "dist/install.yaml (make build-installer, from config/default)"
	return rendered{source: source, objs: decode(t, source, installer)}
}

var (
	installerOnce sync.Once
	installer     []byte
	installerErr  error
)

// kustomizeDir renders a kustomization of the repository with kubectl.
func kustomizeDir(t *testing.T, dir string) rendered {
	t.Helper()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		// hack/setup-envtest.sh puts a kubectl next to kube-apiserver.
		kubectl = filepath.Join(env.Environment.BinaryAssetsDirectory, "kubectl")
	}
	source := "kubectl kustomize " + dir
	out, err := run(kubectl, "kustomize", dir)
	if err != nil {
		t.Fatalf("%s: %v", source, err)
	}
	return rendered{source: source, objs: decode(t, source, out)}
}

// run runs a command in the repository's top directory and returns its stdout.
func run(name string, args ...string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Dir = env.Root
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// decode splits a multi-document YAML stream into objects.
func decode(t *testing.T, source string, data []byte) []*unstructured.Unstructured {
	t.Helper()
	objs, err := manifest.Decode(data)
	if err != nil {
		t.Fatalf("%s renders invalid YAML: %v", source, err)
	}
	if len(objs) == 0 {
		t.Fatalf("%s renders nothing", source)
	}
	return objs
}

// ensureNamespace creates a namespace (for real, not dry-run) that holds the restricted Pod
// Security Standard, as config/manager's Namespace does.
func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
	}}}
	if err := env.Client.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// dryRun sends every object to the API server with dryRun=All, so that its schema, its
// validation (built-in, CRD schemas and CEL) and its admission plugins judge each one while
// nothing is stored. Objects that already exist (the CRDs testenv installed, the namespace) are
// server-side applied instead.
func dryRun(t *testing.T, r rendered) {
	t.Helper()
	ctx := context.Background()
	for _, o := range r.objs {
		if ns := o.GetNamespace(); ns != "" {
			ensureNamespace(t, ns)
		}
		obj := o.DeepCopy()
		err := env.Client.Create(ctx, obj, client.DryRunAll, client.FieldValidation("Strict"))
		if apierrors.IsAlreadyExists(err) {
			err = env.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()),
				client.FieldOwner("chart-test"), client.ForceOwnership, client.DryRunAll)
		}
		if err != nil {
			t.Errorf("%s: the API server refuses %s %s: %v", r.source, o.GetKind(), objectName(o), err)
		}
	}
}

func objectName(o *unstructured.Unstructured) string {
	if o.GetNamespace() == "" {
		return o.GetName()
	}
	return o.GetNamespace() + "/" + o.GetName()
}

// installCRDs installs the CRDs of the kinds the chart renders besides its own (cert-manager's
// Certificate and Issuer, the Prometheus Operator's ServiceMonitor) from testdata/crds, so those
// objects are validated too (see testdata/crds/README.md).
func installCRDs(env *testenv.Env) error {
	ctx := context.Background()
	files, err := filepath.Glob(filepath.Join(env.Root, "test", "chart", "testdata", "crds", "*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no CRDs in test/chart/testdata/crds: %v", err)
	}
	var names []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096).Decode(&crd); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if err := env.Client.Create(ctx, &crd); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("install %s: %w", crd.Name, err)
		}
		names = append(names, crd.Name)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, name := range names {
		for {
			var crd apiextensionsv1.CustomResourceDefinition
			if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, &crd); err != nil {
				return err
			}
			if established(&crd) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("CRD %s is not established after 30s", name)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

func established(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
			return true
		}
	}
	return false
}

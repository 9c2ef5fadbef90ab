// Package testenv starts a real kube-apiserver and etcd (controller-runtime's envtest) with the
// operator's CRDs installed, for the integration tests of every package. The binaries come from
// KUBEBUILDER_ASSETS, or else from hack/setup-envtest.sh, which downloads or builds them.
package testenv

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

// Env is a running control plane with the CRDs installed.
type Env struct {
	Environment *envtest.Environment
	Config      *rest.Config
	Scheme      *runtime.Scheme
	// Client talks straight to the apiserver, with no cache.
	Client client.Client
	// Root is the repository's top directory.
	Root string
	// removeOnStop are directories a fault left behind (see RestartAPIServer).
	removeOnStop []string
}

// Options change what Start installs.
type Options struct {
	// WebhookConfigs installs config/webhook/manifests.yaml, served by envtest's local webhook
	// server options (Environment.WebhookInstallOptions).
	Webhooks bool
	// AuditLog, when set, is where the apiserver writes an audit event (metadata only: who, what,
	// verb, the answer's code) for every request it answers, one JSON object a line.
	AuditLog string
}

// auditPolicy records every request's metadata once, when it is answered.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived", "ResponseStarted"]
rules:
- level: Metadata
`

// Scheme returns a scheme with the Kubernetes kinds, CRDs and the caseload.dev kinds.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, v1alpha1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}

// Root finds the repository's top directory (the one holding go.mod) from the working directory.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Assets returns the directory holding kube-apiserver and etcd: KUBEBUILDER_ASSETS, or what
// hack/setup-envtest.sh prints (it builds the binaries on first use).
func Assets(root string) (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	var out bytes.Buffer
	cmd := exec.Command(filepath.Join(root, "hack", "setup-envtest.sh"))
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("hack/setup-envtest.sh: %w", err)
	}
	return strings.TrimSpace(out.String()), nil
}

// Start starts the control plane. Stop it with Env.Stop.
func Start(opts Options) (*Env, error) {
	root, err := Root()
	if err != nil {
		return nil, err
	}
	assets, err := Assets(root)
	if err != nil {
		return nil, err
	}
	e := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	if opts.AuditLog != "" {
		policy := filepath.Join(filepath.Dir(opts.AuditLog), "audit-policy.yaml")
		if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
			return nil, err
		}
		e.ControlPlane.GetAPIServer().Configure().
			Set("audit-policy-file", policy).
			Set("audit-log-path", opts.AuditLog).
			Set("audit-log-format", "json")
	}
	if opts.Webhooks {
		e.WebhookInstallOptions = envtest.WebhookInstallOptions{Paths: []string{filepath.Join(root, "config", "webhook")}}
	}
	cfg, err := e.Start()
	if err != nil {
		// Start may fail after the control plane is up (a CRD the apiserver refuses): stop it, so
		// no kube-apiserver or etcd outlives the test binary.
		_ = e.Stop()
		return nil, fmt.Errorf("start kube-apiserver and etcd from %s: %w", assets, err)
	}
	scheme := Scheme()
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		_ = e.Stop()
		return nil, err
	}
	return &Env{Environment: e, Config: cfg, Scheme: scheme, Client: c, Root: root}, nil
}

// Stop stops the control plane.
func (e *Env) Stop() error {
	err := e.Environment.Stop()
	for _, dir := range e.removeOnStop {
		_ = os.RemoveAll(dir)
	}
	return err
}

// FreeAddr returns a loopback address with a port no one listens on, for a server a test starts.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Program finds the first of names on PATH: a program from Debian's packages that a test needs
// (Prometheus, promtool, Chromium), which .ci/run installs with apt-get. Under CI=true a missing
// program fails the test; elsewhere it skips it, saying which package to install.
func Program(t testing.TB, pkg string, names ...string) string {
	t.Helper()
	for _, name := range names {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed, and under CI the test must run (.ci/run installs Debian's %s)", names[0], pkg)
	}
	t.Skipf("%s is not installed (apt-get install %s): test skipped", names[0], pkg)
	return ""
}

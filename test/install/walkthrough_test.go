// Package install runs the walkthrough of docs/install.md, "A first council", against a real
// kube-apiserver and etcd (envtest) with the operator running: its reconcilers and its admission
// webhook, in this process. Every block marked ```sh walkthrough or ```console walkthrough is run
// in order with bash, kubectl from the envtest assets and `kubectl caseload` built from
// ./cmd/kubectl-caseload, as an administrator of the cluster (the platform team); the walkthrough
// shows the team manager, the service manager and the GitOps controller with kubectl's --as. A
// console block's output must be what the page shows. The page's other shell blocks need what
// envtest has not (nodes to run the image, registries, Sigstore, an installed Helm release): each
// is named in notRun with the reason, so a new block is either run or explained.
package install

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"caseload.dev/caseload-operator/internal/manifest"
	"caseload.dev/caseload-operator/internal/operator"
	"caseload.dev/caseload-operator/internal/testenv"
	"caseload.dev/caseload-operator/internal/testenv/inprocess"
)

const page = "docs/install.md"

// notRun are the shell blocks of the page that the walkthrough does not run, by the first line
// of each (a prefix of it), and why.
var notRun = []struct{ firstLine, why string }{
	{"cosign verify ghcr.io/caseload-dev/caseload-operator@sha256:", "verifies a published image's signature: needs the registry and Sigstore's transparency log"},
	{"helm install caseload-operator oci://ghcr.io/caseload-dev/charts/caseload-operator", "installs the published chart, whose pods need nodes: envtest has an apiserver and etcd, no kubelet (test/chart renders the chart and dry-runs it on the apiserver instead)"},
	{"helm install caseload-operator charts/caseload-operator", "the chart from a checkout: needs nodes to run the image, as above"},
	{"skopeo copy --all", "copies the image between registries"},
	{"crane cp ghcr.io/caseload-dev/caseload-operator@sha256:", "copies the image between registries"},
	{"helm pull oci://ghcr.io/caseload-dev/charts/caseload-operator --version 0.2.0", "an upgrade: needs the next release and an installed one"},
	{"helm pull oci://ghcr.io/caseload-dev/charts/caseload-operator", "pulls the chart from the public registry and pushes it to an internal one"},
	{"helm install caseload-operator oci://registry.eastmoor.internal", "installs from a mirror that exists only in the example"},
	{"curl -fLO", "downloads the plugin's release archives"},
	{"helm upgrade caseload-operator oci://ghcr.io/caseload-dev/charts/caseload-operator", "changes an installed release's resources: needs an installed release"},
	{"kubectl -n caseload-system get pods,endpoints", "inspects the operator's pods, which envtest does not run"},
	{"helm uninstall caseload-operator", "removes an installed release"},
	{"kubectl delete validatingwebhookconfiguration caseload-validating-webhook-configuration", "removes an operator installed with kustomize"},
}

// shells are the languages of the blocks that hold commands.
var shells = []string{"sh", "bash", "shell", "console"}

func TestInstallWalkthrough(t *testing.T) {
	started := time.Now()
	root, err := testenv.Root()
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := readBlocks(filepath.Join(root, page))
	if err != nil {
		t.Fatal(err)
	}
	checkEveryBlockIsRunOrExplained(t, blocks)
	checkShownFilesAreTheFiles(t, root, blocks)

	bash := need(t, "bash", "bash")
	goTool := need(t, "go", "the Go toolchain, to build kubectl-caseload")
	assets, err := testenv.Assets(root)
	if err != nil {
		t.Fatal(err)
	}
	kubectl := filepath.Join(assets, "kubectl")
	if _, err := os.Stat(kubectl); err != nil {
		missing(t, "kubectl in the envtest assets ("+assets+"): hack/setup-envtest.sh puts it there")
	}
	t.Setenv("KUBEBUILDER_ASSETS", assets)

	// The plugin, as a person installs it: kubectl-caseload on the PATH.
	work := t.TempDir()
	binDir := filepath.Join(work, "bin")
	build := exec.Command(goTool, "build", "-o", filepath.Join(binDir, "kubectl-caseload"), "./cmd/kubectl-caseload")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build kubectl-caseload: %v\n%s", err, out)
	}

	// The cluster after `helm install`: the CRDs, the operator with its webhook, the user roles.
	log.SetLogger(logr.Discard())
	env, err := testenv.Start(testenv.Options{Webhooks: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if _, err := inprocess.Start(ctx, env, operator.Options{}); err != nil {
		t.Fatal(err)
	}
	installUserRoles(t, ctx, env)
	admin, err := env.Environment.AddUser(envtest.User{Name: "platform-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := admin.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(work, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	// The commands run from a directory of their own (what they write stays there), where
	// examples/ is the repository's.
	dir := filepath.Join(work, "checkout")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "examples"), filepath.Join(dir, "examples")); err != nil {
		t.Fatal(err)
	}
	sh := &shell{bash: bash, dir: dir, env: append(os.Environ(),
		"PATH="+binDir+string(os.PathListSeparator)+assets+string(os.PathListSeparator)+os.Getenv("PATH"),
		"KUBECONFIG="+kubeconfig,
		"HOME="+filepath.Join(work, "home"),
		"NO_COLOR=1",
	)}
	t.Logf("control plane, operator and plugin ready in %s", time.Since(started).Round(100*time.Millisecond))

	ran := map[int]bool{}
	for _, b := range blocks {
		if !b.walkthrough {
			continue
		}
		switch b.lang {
		case "sh", "bash", "shell":
			out, err := sh.run(ctx, "set -eu -o pipefail\n"+b.text)
			if err != nil {
				t.Fatalf("%s failed: %v\n%s", b.name(), err, out)
			}
			t.Logf("%s ran:\n%s%s", b.name(), b.text, indent(out))
		case "console":
			st, err := steps(b)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range st {
				sh.expect(t, ctx, s)
			}
		default:
			t.Errorf("%s is marked walkthrough, but a %q block is not something the test can run", b.name(), b.lang)
			continue
		}
		ran[b.line] = true
	}
	var marked, unrun []string
	for _, b := range blocks {
		if b.walkthrough {
			marked = append(marked, b.name())
			if !ran[b.line] {
				unrun = append(unrun, b.name())
			}
		}
	}
	if len(marked) == 0 {
		t.Fatalf("%s has no block marked walkthrough: the walkthrough is not tested", page)
	}
	if len(unrun) > 0 {
		t.Errorf("blocks marked walkthrough that did not run: %v", unrun)
	}
	t.Logf("ran %d walkthrough blocks in %s", len(marked), time.Since(started).Round(100*time.Millisecond))
}

// checkEveryBlockIsRunOrExplained fails for a shell block that is neither marked walkthrough nor
// named in notRun, and for an entry of notRun that names no block.
func checkEveryBlockIsRunOrExplained(t *testing.T, blocks []block) {
	t.Helper()
	used := make([]bool, len(notRun))
	for _, b := range blocks {
		if b.walkthrough || !slices.Contains(shells, b.lang) {
			continue
		}
		first, found := b.firstLine(), false
		for i, n := range notRun {
			if strings.HasPrefix(first, n.firstLine) {
				used[i], found = true, true
				t.Logf("not run: %s (%s): %s", b.name(), first, n.why)
				break
			}
		}
		if !found {
			t.Errorf("%s (%q) is neither marked walkthrough nor named in notRun with the reason it cannot run", b.name(), first)
		}
	}
	for i, n := range notRun {
		if !used[i] {
			t.Errorf("notRun names %q, which begins no block of %s any more", n.firstLine, page)
		}
	}
}

// checkShownFilesAreTheFiles fails when a block introduced by <!-- file: PATH --> differs from
// that file.
func checkShownFilesAreTheFiles(t *testing.T, root string, blocks []block) {
	t.Helper()
	for _, b := range blocks {
		if b.file == "" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(root, b.file))
		if err != nil {
			t.Errorf("%s shows %s: %v", b.name(), b.file, err)
			continue
		}
		if strings.TrimRight(string(data), "\n") != strings.TrimRight(b.text, "\n") {
			t.Errorf("%s shows %s, but the file differs: copy the file into the page", b.name(), b.file)
		}
	}
}

// installUserRoles creates caseload-viewer, caseload-editor and caseload-approver from
// config/rbac, as the chart (rbac.userRoles) and config/default install them; test/chart checks
// that the chart's are the same.
func installUserRoles(t *testing.T, ctx context.Context, env *testenv.Env) {
	t.Helper()
	for _, f := range []string{"viewer_role.yaml", "editor_role.yaml", "approver_role.yaml"} {
		objs, err := manifest.DecodeFile(filepath.Join(env.Root, "config", "rbac", f))
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			o.SetName("caseload-" + o.GetName())
			if err := env.Client.Create(ctx, o); err != nil {
				t.Fatalf("install %s: %v", o.GetName(), err)
			}
		}
	}
}

// shell runs commands as a person would in a terminal: bash, with the walkthrough's PATH and
// kubeconfig, standard output and error together.
type shell struct {
	bash string
	dir  string
	env  []string
}

func (s *shell) run(ctx context.Context, script string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bash, "-c", script)
	cmd.Dir, cmd.Env = s.dir, s.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// expect runs one command of a console block and compares its output with the page's. A command
// that only reads is run again for a while until it matches: the operator writes statuses a
// moment after the change that moves them, as a person at a terminal would see.
func (s *shell) expect(t *testing.T, ctx context.Context, st step) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		start := time.Now()
		out, err := s.run(ctx, "set -o pipefail\n"+st.command)
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("%s:%d: %s: %v", page, st.line, st.command, err)
		}
		got := strings.Split(out, "\n")
		if matches(st.want, got) {
			t.Logf("%s:%d ran in %s: $ %s\n%s", page, st.line, time.Since(start).Round(time.Millisecond), st.command, indent(out))
			return
		}
		if !readOnly(st.command) || time.Now().After(deadline) {
			t.Fatalf("%s:%d: $ %s\nshows:\n%s\nbut printed (%v):\n%s", page, st.line, st.command,
				indent(strings.Join(st.want, "\n")), err, indent(out))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// readOnly says whether a command only reads, so that running it again changes nothing.
func readOnly(command string) bool {
	words := strings.Fields(command)
	for _, w := range words {
		switch w {
		case "apply", "create", "patch", "annotate", "label", "delete", "edit", "import", "replace":
			return false
		}
	}
	for _, w := range words {
		switch w {
		case "get", "top", "can-i", "suggest", "explain", "report", "wait":
			return true
		}
	}
	return false
}

// need finds a program on PATH; without it the test fails under CI=true and is skipped elsewhere.
func need(t *testing.T, name, what string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		missing(t, what+" ("+name+" on PATH)")
	}
	return path
}

func missing(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("the walkthrough needs %s, and under CI=true it must run", what)
	}
	t.Skipf("the walkthrough needs %s: skipped", what)
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "    (nothing)\n"
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ") + "\n"
}

// Package release keeps the release workflow (.github/workflows/release.yaml) from rotting
// between releases: it reads the workflow, checks it publishes what docs/release.md promises
// (a signed image by digest, its SBOM, the chart pinned to that digest, the plugin's archives), and
// runs its local build steps here, as they are written, checking what they leave behind.
//
// The workflow marks its steps by id: setup-* prepare a runner (this machine is prepared),
// publish-* reach registries, Sigstore or GitHub (never run here); every other step is local
// and is run.
package release

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"

	"caseload.dev/caseload-operator/internal/testenv"
	"caseload.dev/caseload-operator/test/image"
)

// version is the tag the test releases.
const version = "v0.0.0-release-test"

type workflow struct {
	On struct {
		Push struct {
			Tags []string `yaml:"tags"`
		} `yaml:"push"`
	} `yaml:"on"`
	Permissions map[string]string `yaml:"permissions"`
	Jobs        map[string]job    `yaml:"jobs"`
}

type job struct {
	Permissions map[string]string `yaml:"permissions"`
	Env         map[string]string `yaml:"env"`
	Steps       []step            `yaml:"steps"`
}

type step struct {
	ID   string            `yaml:"id"`
	Name string            `yaml:"name"`
	Uses string            `yaml:"uses"`
	Run  string            `yaml:"run"`
	Env  map[string]string `yaml:"env"`
	With map[string]string `yaml:"with"`
}

func (s step) local() bool {
	return !strings.HasPrefix(s.ID, "setup-") && !strings.HasPrefix(s.ID, "publish-")
}

func load(t *testing.T) (root string, j job) {
	t.Helper()
	root, err := testenv.Root()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, ".github", "workflows", "release.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var wf workflow
	if err := yaml.Unmarshal(data, &wf); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(wf.On.Push.Tags, []string{"v*"}) {
		t.Errorf("the workflow runs on tags %q, want v*", wf.On.Push.Tags)
	}
	if len(wf.Jobs) != 1 {
		t.Fatalf("the workflow has %d jobs, want one (the test runs its local steps in order)", len(wf.Jobs))
	}
	for _, only := range wf.Jobs {
		j = only
	}
	for scope, want := range map[string]string{"contents": "write", "packages": "write", "id-token": "write"} {
		if j.Permissions[scope] != want {
			t.Errorf("the release job has %s: %q, want %s", scope, j.Permissions[scope], want)
		}
	}
	return root, j
}

// TestReleaseWorkflowPublishesWhatTheDocsPromise checks the steps that cannot run here: they
// are marked, they alone hold credentials, and together they push by digest, sign keylessly,
// attest the SBOM, push the chart and publish the plugin.
func TestReleaseWorkflowPublishesWhatTheDocsPromise(t *testing.T) {
	_, j := load(t)
	var publish strings.Builder
	ids := map[string]bool{}
	for _, s := range j.Steps {
		if s.ID == "" {
			t.Errorf("step %q has no id: mark it setup-*, publish-* or give it a local step's id", s.Name+s.Uses)
			continue
		}
		if ids[s.ID] {
			t.Errorf("two steps are called %s", s.ID)
		}
		ids[s.ID] = true
		if s.Uses != "" && s.local() {
			t.Errorf("step %s uses %s: an action cannot run locally, so its id must start setup- or publish-", s.ID, s.Uses)
		}
		if s.local() {
			for k, v := range s.Env {
				if strings.Contains(v, "secrets.") || strings.Contains(k, "TOKEN") {
					t.Errorf("local step %s is given %s: credentials are for publish-* steps only", s.ID, k)
				}
			}
			if strings.Contains(s.Run, "${{") {
				t.Errorf("local step %s has ${{ }} in its script: read values from env, so the test runs it as written", s.ID)
			}
		} else if strings.HasPrefix(s.ID, "publish-") {
			publish.WriteString(s.Run + "\n")
		}
	}
	for _, want := range []string{
		"skopeo copy --all --preserve-digests",            // by digest, byte for byte
		`cosign sign --yes --recursive "$IMAGE@$digest"`,  // keyless (GitHub's OIDC token)
		"cosign attest --yes --type spdxjson --predicate", // the SBOM, signed
		`helm push "$DIST_DIR/caseload-operator-`,         // the pinned chart
		"gh release create",                               // the plugin's archives
		`"$DIST_DIR/caseload.yaml"`,                       // and its krew manifest
	} {
		if !strings.Contains(publish.String(), want) {
			t.Errorf("no publish-* step runs %s", want)
		}
	}
}

// TestReleaseWorkflowLocalStepsBuildTheRelease runs the workflow's local steps in order, as
// GitHub's runner would (bash -eo pipefail, the job's env, GITHUB_OUTPUT), with IMAGE_DIR and
// DIST_DIR in a temporary directory, and checks what a release needs is there: the image for
// both platforms with its digest and SBOM, the chart with that digest pinned in its values, the
// plugin's archives and a krew manifest that names them.
func TestReleaseWorkflowLocalStepsBuildTheRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the image, the chart and the plugin's archives (a few minutes)")
	}
	testenv.Program(t, "buildah", "buildah")
	root, j := load(t)
	dir := t.TempDir()
	imageDir, distDir := filepath.Join(dir, "image"), filepath.Join(dir, "dist")

	// What a step may read from ${{ }} in the job's env.
	head, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	context := map[string]string{
		"github.ref_name":   version,
		"github.ref":        "refs/tags/" + version,
		"github.sha":        strings.TrimSpace(string(head)),
		"github.repository": "caseload-dev/caseload-operator",
	}
	expr := regexp.MustCompile(`\$\{\{\s*([^}]*?)\s*\}\}`)
	expand := func(where, v string) string {
		return expr.ReplaceAllStringFunc(v, func(m string) string {
			name := expr.FindStringSubmatch(m)[1]
			if val, ok := context[name]; ok {
				return val
			}
			t.Fatalf("%s uses ${{ %s }}, which the test does not know: add it to the test's context", where, name)
			return ""
		})
	}
	env := map[string]string{}
	for k, v := range j.Env {
		env[k] = expand("the job's env "+k, v)
	}
	if env["IMAGE_DIR"] == "" || env["DIST_DIR"] == "" {
		t.Fatal("the job's env must set IMAGE_DIR and DIST_DIR, where the local steps write (and the test redirects)")
	}
	env["IMAGE_DIR"], env["DIST_DIR"] = imageDir, distDir
	// Two of the plugin's five platforms: the same steps and script, without cross-compiling for
	// darwin and windows from a cold build cache (longer than every other test together).
	built := []string{"linux/amd64", "linux/arm64"}
	env["PLUGIN_PLATFORMS"] = strings.Join(built, " ")

	// Tools that publish must never be run by a local step: here they are stubs that fail.
	stubs := filepath.Join(dir, "stubs")
	if err := os.Mkdir(stubs, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"cosign", "skopeo", "gh", "docker", "podman", "crane", "oras"} {
		script := fmt.Sprintf("#!/bin/sh\necho \"a local release step ran %s $*: that is for publish-* steps\" >&2\nexit 1\n", tool)
		if err := os.WriteFile(filepath.Join(stubs, tool), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	outputs := filepath.Join(dir, "github-output")

	ran := 0
	for _, s := range j.Steps {
		if !s.local() {
			continue
		}
		if s.Run == "" {
			t.Fatalf("local step %s has nothing to run", s.ID)
		}
		vars := map[string]string{}
		for k, v := range env {
			vars[k] = v
		}
		for k, v := range s.Env {
			vars[k] = expand("step "+s.ID+"'s env "+k, v)
		}
		cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", s.Run)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "PATH="+stubs+string(os.PathListSeparator)+os.Getenv("PATH"), "GITHUB_OUTPUT="+outputs, "CI=true")
		for k, v := range vars {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		began := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("step %s (%s) failed: %v\n%s", s.ID, s.Name, err, out)
		}
		t.Logf("step %s: %v", s.ID, time.Since(began).Round(time.Second))
		ran++
	}
	if ran == 0 {
		t.Fatal("the workflow has no local steps: nothing is built the way a developer builds it")
	}

	// The image: both platforms in the archive, its digest written and passed on as an output.
	archive, err := image.OpenArchive(filepath.Join(imageDir, "caseload-operator.tar"))
	if err != nil {
		t.Fatal(err)
	}
	digest := readTrimmed(t, filepath.Join(imageDir, "digest"))
	if archive.Digest != digest {
		t.Errorf("the archive's index is %s, the digest file says %s", archive.Digest, digest)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := archive.ImageFor("linux", arch)
		if err != nil {
			t.Error(err)
			continue
		}
		if got := img.Config.Config.Labels["org.opencontainers.image.version"]; got != version {
			t.Errorf("the linux/%s image is labelled version %q, want %s", arch, got, version)
		}
	}
	if got := githubOutputs(t, outputs)["digest"]; got != digest {
		t.Errorf("step image outputs digest=%q, want %s", got, digest)
	}
	if sbom := readTrimmed(t, filepath.Join(imageDir, "sbom.spdx.json")); !strings.Contains(sbom, `"spdxVersion": "SPDX-2.3"`) || !strings.Contains(sbom, strings.TrimPrefix(digest, "sha256:")) {
		t.Error("sbom.spdx.json is not an SPDX 2.3 document about the image just built")
	}

	// The chart, pinned to the image's digest.
	chartVersion := strings.TrimPrefix(version, "v")
	files := untar(t, filepath.Join(distDir, "caseload-operator-"+chartVersion+".tgz"))
	var values struct {
		Image struct{ Repository, Tag, Digest string }
	}
	if err := sigsyaml.Unmarshal(files["caseload-operator/values.yaml"], &values); err != nil {
		t.Fatal(err)
	}
	if values.Image.Digest != digest || values.Image.Repository != strings.TrimPrefix(env["IMAGE"], "oci://") {
		t.Errorf("the packaged chart's image is %s@%s, want %s@%s", values.Image.Repository, values.Image.Digest, env["IMAGE"], digest)
	}
	var chart struct{ Version, AppVersion string }
	if err := sigsyaml.Unmarshal(files["caseload-operator/Chart.yaml"], &chart); err != nil {
		t.Fatal(err)
	}
	if chart.Version != chartVersion || chart.AppVersion != chartVersion {
		t.Errorf("the packaged chart is version %q, appVersion %q, want %s", chart.Version, chart.AppVersion, chartVersion)
	}

	// The plugin's archives and the krew manifest naming each with its sha256, at the release's
	// address.
	var manifest struct {
		Spec struct {
			Version   string
			Platforms []struct {
				URI    string
				SHA256 string `json:"sha256"`
			}
		}
	}
	if err := sigsyaml.Unmarshal([]byte(readTrimmed(t, filepath.Join(distDir, "caseload.yaml"))), &manifest); err != nil {
		t.Fatal(err)
	}
	if manifest.Spec.Version != version || len(manifest.Spec.Platforms) == 0 {
		t.Errorf("the krew manifest is for version %q with %d platforms", manifest.Spec.Version, len(manifest.Spec.Platforms))
	}
	if len(manifest.Spec.Platforms) != 5 {
		t.Errorf("the krew manifest names %d platforms, want 5", len(manifest.Spec.Platforms))
	}
	checked := 0
	for _, p := range manifest.Spec.Platforms {
		name := strings.TrimPrefix(p.URI, env["KREW_URI_BASE"]+"/")
		if name == p.URI {
			t.Errorf("the krew manifest points at %s, not at the release's assets (%s)", p.URI, env["KREW_URI_BASE"])
			continue
		}
		if !slices.ContainsFunc(built, func(platform string) bool {
			return strings.HasSuffix(name, "_"+strings.ReplaceAll(platform, "/", "_")+".tar.gz")
		}) {
			continue // not built here
		}
		checked++
		data, err := os.ReadFile(filepath.Join(distDir, name))
		if err != nil {
			t.Errorf("the krew manifest names %s, which was not built: %v", name, err)
			continue
		}
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != p.SHA256 {
			t.Errorf("the krew manifest's sha256 for %s is not the archive's", name)
		}
	}
	if checked != len(built) {
		t.Errorf("the krew manifest names %d of the %d archives built (%v)", checked, len(built), built)
	}

	notes := readTrimmed(t, filepath.Join(distDir, "release-notes.md"))
	for _, want := range []string{env["IMAGE"] + "@" + digest, "cosign verify", "--certificate-oidc-issuer https://token.actions.githubusercontent.com", "release.yaml@refs/tags/" + version} {
		if !strings.Contains(notes, want) {
			t.Errorf("the release notes do not say %q:\n%s", want, notes)
		}
	}
}

func readTrimmed(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

// githubOutputs reads the name=value lines steps append to GITHUB_OUTPUT.
func githubOutputs(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			out[k] = v
		}
	}
	return out
}

// untar reads a .tgz's regular files by name.
func untar(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[h.Name] = data
		}
	}
	if len(files) == 0 {
		t.Fatalf("%s holds no files", path)
	}
	return files
}

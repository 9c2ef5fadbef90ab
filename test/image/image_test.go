package image

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	caseloadv1alpha1 "caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/testenv"
	"caseload.dev/caseload-operator/test/harness"
)

// version is what the test's builds are labelled.
const version = "v0.0.0-imagetest"

// nonroot is the user and group the image runs as (the chart's runAsUser and runAsGroup).
const nonroot = "65532:65532"

// builds are two builds of the image from the same tree, made once for every test here.
var builds struct {
	once          sync.Once
	first, second string // their IMAGE_DIRs
	// revision and epoch are the commit both builds are labelled with and its time, read once:
	// a commit made while the test runs must not change what the second build is told.
	revision, epoch string
	err             error
	took            [2]time.Duration
}

// built builds the image twice with hack/image/build.sh (what `make image` runs), each into a
// directory of its own with its own buildah storage, and returns the first build's directory.
// buildah comes from Debian's package: without it the tests are skipped, except under CI=true,
// where .ci/run installs it and they fail.
func built(t *testing.T) (first, second string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the operator's image twice (a few minutes)")
	}
	testenv.Program(t, "buildah", "buildah")
	builds.once.Do(func() {
		root, err := testenv.Root()
		if err != nil {
			builds.err = err
			return
		}
		dir, err := os.MkdirTemp("", "caseload-image-")
		if err != nil {
			builds.err = err
			return
		}
		builds.first, builds.second = filepath.Join(dir, "first"), filepath.Join(dir, "second")
		head, err := exec.Command("git", "-C", root, "log", "-1", "--format=%H %ct", "HEAD").Output()
		if err != nil {
			builds.err = err
			return
		}
		builds.revision, builds.epoch, _ = strings.Cut(strings.TrimSpace(string(head)), " ")
		for i, out := range []string{builds.first, builds.second} {
			began := time.Now()
			cmd := exec.Command(filepath.Join(root, "hack", "image", "build.sh"), version)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "IMAGE_DIR="+out, "IMAGE_REVISION="+builds.revision, "SOURCE_DATE_EPOCH="+builds.epoch)
			if log, err := cmd.CombinedOutput(); err != nil {
				builds.err = fmt.Errorf("hack/image/build.sh (build %d): %v\n%s", i+1, err, log)
				return
			}
			builds.took[i] = time.Since(began)
		}
	})
	if builds.err != nil {
		t.Fatal(builds.err)
	}
	return builds.first, builds.second
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builds.first != "" {
		_ = os.RemoveAll(filepath.Dir(builds.first))
	}
	os.Exit(code)
}

// TestImageIsReproducible: two builds of the same tree give the same index digest (so the same
// images, layers and configs) and the same SBOM, byte for byte.
func TestImageIsReproducible(t *testing.T) {
	first, second := built(t)
	t.Logf("built twice in %v and %v", builds.took[0].Round(time.Second), builds.took[1].Round(time.Second))
	read := func(dir, name string) string {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	d1, d2 := strings.TrimSpace(read(first, "digest")), strings.TrimSpace(read(second, "digest"))
	t.Logf("first build %s, second build %s", d1, d2)
	for _, arch := range []string{"amd64", "arm64"} {
		if name := "manager-linux-" + arch; read(first, name) != read(second, name) {
			t.Errorf("the two builds' %s differ: go build is reproducible, so did the tree change between them?", name)
		}
	}
	if !strings.HasPrefix(d1, "sha256:") || d1 != d2 {
		t.Errorf("two builds of one tree have digests %q and %q: the image is not reproducible", d1, d2)
	}
	if read(first, "sbom.spdx.json") != read(second, "sbom.spdx.json") {
		t.Error("two builds of one tree wrote different SBOMs")
	}
	a, err := OpenArchive(filepath.Join(first, "caseload-operator.tar"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Digest != d1 {
		t.Errorf("the archive's index is %s, the digest file says %s", a.Digest, d1)
	}
}

// TestImageConfig: one image per platform, each running /manager as 65532:65532 with the OCI
// labels a registry and a platform team read.
func TestImageConfig(t *testing.T) {
	first, _ := built(t)
	a, err := OpenArchive(filepath.Join(first, "caseload-operator.tar"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Ref != version {
		t.Errorf("the archive's index is tagged %q, want %q", a.Ref, version)
	}
	images, err := a.Images()
	if err != nil {
		t.Fatal(err)
	}
	var platforms []string
	for _, img := range images {
		p := img.Platform.OS + "/" + img.Platform.Architecture
		platforms = append(platforms, p)
		c := img.Config
		if c.OS != img.Platform.OS || c.Architecture != img.Platform.Architecture {
			t.Errorf("%s: the config says %s/%s", p, c.OS, c.Architecture)
		}
		if c.Config.User != nonroot {
			t.Errorf("%s runs as %q, want %s (nonroot)", p, c.Config.User, nonroot)
		}
		if !slices.Equal(c.Config.Entrypoint, []string{"/manager"}) || len(c.Config.Cmd) != 0 {
			t.Errorf("%s: entrypoint %q and cmd %q, want [/manager] alone (the chart passes the flags)", p, c.Config.Entrypoint, c.Config.Cmd)
		}
		if len(img.Manifest.Layers) != 1 {
			t.Errorf("%s has %d layers, want one FROM scratch", p, len(img.Manifest.Layers))
		}
		want := map[string]string{
			"org.opencontainers.image.title":    "caseload-operator",
			"org.opencontainers.image.source":   "https://github.com/caseload-dev/caseload-operator",
			"org.opencontainers.image.revision": builds.revision,
			"org.opencontainers.image.version":  version,
			"org.opencontainers.image.licenses": "Apache-2.0",
		}
		for k, v := range want {
			if got := c.Config.Labels[k]; got != v {
				t.Errorf("%s: label %s is %q, want %q", p, k, got, v)
			}
		}
		if !strings.Contains(c.Config.Labels["org.opencontainers.image.description"], "social-work") {
			t.Errorf("%s: the description label %q does not say what the image is", p, c.Config.Labels["org.opencontainers.image.description"])
		}
		// Times come from the commit, never from the clock of the build.
		sec, _ := strconv.ParseInt(builds.epoch, 10, 64)
		wantCreated := time.Unix(sec, 0).UTC().Format(time.RFC3339)
		if c.Created != wantCreated || c.Config.Labels["org.opencontainers.image.created"] != wantCreated {
			t.Errorf("%s: created %q (label %q), want the commit's time %s", p, c.Created, c.Config.Labels["org.opencontainers.image.created"], wantCreated)
		}
	}
	sort.Strings(platforms)
	if !slices.Equal(platforms, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("the index holds %v, want linux/amd64 and linux/arm64", platforms)
	}
}

// TestImageFilesystem: each platform's image holds the static, stripped manager for its
// architecture and the passwd and group entries of its user, all owned by root and dated at
// the commit; nothing else, so no shell.
func TestImageFilesystem(t *testing.T) {
	first, _ := built(t)
	a, err := OpenArchive(filepath.Join(first, "caseload-operator.tar"))
	if err != nil {
		t.Fatal(err)
	}
	images, err := a.Images()
	if err != nil {
		t.Fatal(err)
	}
	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	for _, img := range images {
		arch := img.Platform.Architecture
		t.Run(arch, func(t *testing.T) {
			dir := t.TempDir()
			headers, err := a.Unpack(img, dir)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			var mtime time.Time
			for _, h := range headers {
				names = append(names, strings.TrimSuffix(filepath.Clean("/"+h.Name), "/"))
				if h.Uid != 0 || h.Gid != 0 {
					t.Errorf("%s is owned by %d:%d, want root (0:0): the nonroot user must not be able to change the image's files", h.Name, h.Uid, h.Gid)
				}
				if mtime.IsZero() {
					mtime = h.ModTime
				} else if !h.ModTime.Equal(mtime) {
					t.Errorf("%s is dated %v, %s %v: every file should carry the commit's time", h.Name, h.ModTime, headers[0].Name, mtime)
				}
				if h.Name == "manager" && h.Mode&0o777 != 0o755 {
					t.Errorf("/manager has mode %o, want 755", h.Mode&0o777)
				}
			}
			sort.Strings(names)
			if want := []string{"/etc", "/etc/group", "/etc/passwd", "/manager"}; !slices.Equal(names, want) {
				t.Errorf("the image holds %q, want exactly %q", names, want)
			}
			for _, shell := range []string{"bin/sh", "bin/bash", "bin/busybox"} {
				if _, err := os.Lstat(filepath.Join(dir, shell)); err == nil {
					t.Errorf("the image holds /%s: it must have no shell", shell)
				}
			}
			passwd, err := os.ReadFile(filepath.Join(dir, "etc", "passwd"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(passwd), "\nnonroot:x:65532:65532:") {
				t.Errorf("/etc/passwd has no nonroot entry for 65532:\n%s", passwd)
			}

			manager := filepath.Join(dir, "manager")
			f, err := elf.Open(manager)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Machine != machines[arch] {
				t.Errorf("/manager is built for %v, the image is for %s", f.Machine, arch)
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
					t.Errorf("/manager is dynamically linked (%v): FROM scratch there is no libc to load", p.Type)
				}
			}
			// -s drops the symbol table, -w the DWARF debugging data. (With -trimpath the build
			// information does not record -ldflags, so the sections are what tells.)
			if f.Section(".symtab") != nil {
				t.Error("/manager has a symbol table: it should be stripped (-ldflags=-s)")
			}
			if f.Section(".debug_info") != nil || f.Section(".zdebug_info") != nil {
				t.Error("/manager has DWARF data: it should be built with -ldflags=-w")
			}
			info, err := buildinfo.ReadFile(manager)
			if err != nil {
				t.Fatal(err)
			}
			settings := map[string]string{}
			for _, s := range info.Settings {
				settings[s.Key] = s.Value
			}
			for k, v := range map[string]string{"CGO_ENABLED": "0", "-trimpath": "true", "GOOS": "linux", "GOARCH": arch} {
				if settings[k] != v {
					t.Errorf("/manager was built with %s=%q, want %q", k, settings[k], v)
				}
			}
			if _, ok := settings["vcs.revision"]; ok {
				t.Error("/manager records VCS state: the build should be -buildvcs=false, so a checkout's state cannot change it")
			}
			built, err := os.ReadFile(filepath.Join(first, "manager-linux-"+arch))
			if err != nil {
				t.Fatal(err)
			}
			inImage, err := os.ReadFile(manager)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(built, inImage) {
				t.Errorf("the image's /manager is not bin/image/manager-linux-%s", arch)
			}
		})
	}
}

// spdx is what TestImageSBOM reads of the SPDX document.
type spdx struct {
	SPDXVersion       string   `json:"spdxVersion"`
	DocumentNamespace string   `json:"documentNamespace"`
	DocumentDescribes []string `json:"documentDescribes"`
	Packages          []struct {
		SPDXID       string `json:"SPDXID"`
		Name         string `json:"name"`
		VersionInfo  string `json:"versionInfo"`
		ExternalRefs []struct {
			ReferenceType    string `json:"referenceType"`
			ReferenceLocator string `json:"referenceLocator"`
		} `json:"externalRefs"`
	} `json:"packages"`
	Files []struct {
		FileName  string `json:"fileName"`
		Checksums []struct {
			Algorithm     string `json:"algorithm"`
			ChecksumValue string `json:"checksumValue"`
		} `json:"checksums"`
	} `json:"files"`
	Relationships []struct {
		Element string `json:"spdxElementId"`
		Type    string `json:"relationshipType"`
		Related string `json:"relatedSpdxElement"`
	} `json:"relationships"`
}

// TestImageSBOM: the SBOM beside the image describes it by digest, lists each binary by
// checksum and names the modules linked into them at the versions go.mod resolves.
func TestImageSBOM(t *testing.T) {
	first, _ := built(t)
	data, err := os.ReadFile(filepath.Join(first, "sbom.spdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc spdx
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	digest, err := os.ReadFile(filepath.Join(first, "digest"))
	if err != nil {
		t.Fatal(err)
	}
	if doc.SPDXVersion != "SPDX-2.3" || len(doc.DocumentDescribes) != 1 {
		t.Fatalf("not an SPDX 2.3 document describing one image: %s %v", doc.SPDXVersion, doc.DocumentDescribes)
	}
	purls := map[string]string{} // name -> purl
	ids := map[string]bool{}
	for _, p := range doc.Packages {
		ids[p.SPDXID] = true
		for _, r := range p.ExternalRefs {
			if r.ReferenceType == "purl" {
				purls[p.Name] = r.ReferenceLocator
			}
		}
	}
	if got, want := purls["caseload-operator"], "pkg:oci/caseload-operator@sha256%3A"+strings.TrimPrefix(strings.TrimSpace(string(digest)), "sha256:"); !strings.HasPrefix(got, want) {
		t.Errorf("the image's purl is %q, want %s...", got, want)
	}
	crVersion, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "sigs.k8s.io/controller-runtime").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := purls["sigs.k8s.io/controller-runtime"], "pkg:golang/sigs.k8s.io/controller-runtime@"+strings.TrimSpace(string(crVersion)); got != want {
		t.Errorf("controller-runtime's purl is %q, want %q", got, want)
	}
	if !strings.HasPrefix(purls["stdlib"], "pkg:golang/stdlib@") {
		t.Errorf("the Go standard library is missing: %q", purls["stdlib"])
	}
	sums := map[string]bool{}
	for _, f := range doc.Files {
		for _, c := range f.Checksums {
			if c.Algorithm == "SHA256" {
				sums[c.ChecksumValue] = true
			}
		}
	}
	for _, arch := range []string{"amd64", "arm64"} {
		out, err := exec.Command("sha256sum", filepath.Join(first, "manager-linux-"+arch)).Output()
		if err != nil {
			t.Fatal(err)
		}
		if sum := strings.Fields(string(out))[0]; !sums[sum] {
			t.Errorf("the SBOM lists no file with the sha256 of the %s manager, %s", arch, sum)
		}
	}
	for _, r := range doc.Relationships {
		for _, id := range []string{r.Element, r.Related} {
			if id != "SPDXRef-DOCUMENT" && !ids[id] && !strings.HasPrefix(id, "SPDXRef-File-") {
				t.Errorf("relationship %s %s %s names an element the document does not hold", r.Element, r.Type, r.Related)
			}
		}
	}
}

// TestManagerFromImageRunsAsNonRoot unpacks the image of this machine's architecture and runs
// its entrypoint as the image's user, chroot --userspec=65532:65532 into the unpacked
// filesystem, with the environment the image sets and nothing else: as a kubelet would, minus
// the namespaces (`podman run` is not permitted where the tests run). The manager gets the
// operator's service-account kubeconfig and the webhook's certificate copied inside the
// filesystem, as the kubelet mounts them, and must come up with leader election, its TLS webhook
// and authenticated metrics, reconcile a council and refuse an allocation over the cap with the
// webhook's message.
func TestManagerFromImageRunsAsNonRoot(t *testing.T) {
	first, _ := built(t)
	chroot := testenv.Program(t, "coreutils", "chroot")
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("chroot needs root, and under CI the image must be run")
		}
		t.Skip("chroot needs root: the image's entrypoint is not run")
	}
	a, err := OpenArchive(filepath.Join(first, "caseload-operator.tar"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := a.ImageFor("linux", runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Unpack(img, rootfs); err != nil {
		t.Fatal(err)
	}
	uid, gid, ok := strings.Cut(img.Config.Config.User, ":")
	if !ok {
		t.Fatalf("the image's user %q names no group", img.Config.Config.User)
	}
	owner, _ := strconv.Atoi(uid)
	group, _ := strconv.Atoi(gid)

	env, err := testenv.Start(testenv.Options{Webhooks: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ctx := context.Background()

	// What the kubelet would mount, inside the image's filesystem and readable by its user only.
	mounted := filepath.Join(rootfs, "var", "run", "caseload")
	wio := env.Environment.WebhookInstallOptions
	kubeconfig := harness.OperatorKubeconfig(t, env, dir)
	for src, dst := range map[string]string{
		kubeconfig: "kubeconfig",
		filepath.Join(wio.LocalServingCertDir, "tls.crt"): "serving-certs/tls.crt",
		filepath.Join(wio.LocalServingCertDir, "tls.key"): "serving-certs/tls.key",
	} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		target := filepath.Join(mounted, dst)
		if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(target, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{filepath.Join(rootfs, "var"), filepath.Join(rootfs, "var", "run")} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := filepath.Walk(mounted, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, owner, group)
	}); err != nil {
		t.Fatal(err)
	}

	// The harness runs a binary with the flags of a replica; this one enters the image first.
	// exec keeps one process: chroot execs the entrypoint, so signals reach the manager.
	entrypoint := filepath.Join(dir, "entrypoint")
	script := fmt.Sprintf("#!/bin/sh\nexec env -i %s %s --userspec=%s %s %s \"$@\"\n",
		shellQuote(img.Config.Config.Env...), chroot, img.Config.Config.User, shellQuote(rootfs), shellQuote(img.Config.Config.Entrypoint...))
	if err := os.WriteFile(entrypoint, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	scraper := harness.MetricsReader(t, env, "prometheus")
	replica := harness.StartReplica(t, entrypoint, dir, 0, "/var/run/caseload/kubeconfig", "/var/run/caseload/serving-certs")
	replica.MetricsToken = scraper
	replica.WaitReady(t)

	// The process is the manager, as the image's user, with no supplementary groups.
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", replica.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Uid:\t" + uid + "\t" + uid + "\t" + uid + "\t" + uid, "Gid:\t" + gid + "\t" + gid + "\t" + gid + "\t" + gid} {
		if !strings.Contains(string(status), want+"\n") {
			t.Errorf("the manager's /proc status lacks %q:\n%s", want, status)
		}
	}
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", replica.Pid())); err != nil || exe != filepath.Join(rootfs, "manager") {
		t.Errorf("the process runs %q (%v), want the image's /manager", exe, err)
	}

	// Leader election, and metrics only for the authorised scraper.
	deadline := time.Now().Add(time.Minute)
	for !replica.Leads(t) {
		if time.Now().After(deadline) {
			t.Fatal("the manager from the image never took the leader-election lease")
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, c := range []struct {
		who, token string
		want       int
	}{{"no token", "", http.StatusUnauthorized}, {"the scraper", scraper, http.StatusOK}} {
		resp, err := replica.ScrapeAs(c.token)
		if err != nil {
			t.Fatalf("scraping as %s: %v", c.who, err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("scraping /metrics as %s: %s, want %d", c.who, resp.Status, c.want)
		}
	}

	// The apiserver calls the webhook at envtest's address; the proxy passes TLS through to the
	// manager, which serves the certificate the apiserver trusts.
	harness.StartProxy(t, net.JoinHostPort(wio.LocalServingHost, strconv.Itoa(wio.LocalServingPort)), []string{replica.Webhook})

	ns := "walsall"
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&caseloadv1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "north"}},
		&caseloadv1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "jo-bloggs"},
			Spec: caseloadv1alpha1.PractitionerSpec{Team: "north", Grade: "SocialWorker"}},
		// probe's grade has no cap: the webhook refuses them work once its cache holds the quota.
		&caseloadv1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "probe"},
			Spec: caseloadv1alpha1.PractitionerSpec{Team: "north", Grade: "TeamManager"}},
		&caseloadv1alpha1.CaseloadQuota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "safeguarding"},
			Spec: caseloadv1alpha1.CaseloadQuotaSpec{PractitionerCaps: []caseloadv1alpha1.PractitionerCap{{Grade: "SocialWorker", MaxWeight: "2"}}}},
	} {
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	replica.WaitForQuota(t, wio.LocalServingCAData, ns)

	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("c-%d", i)
		c := &caseloadv1alpha1.Case{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: caseloadv1alpha1.CaseSpec{Reference: fmt.Sprintf("LCS-%04d", i), Team: "north", Type: "ChildInNeed", OpenedOn: "2026-11-02", AllocatedTo: "jo-bloggs"}}
		err := env.Client.Create(ctx, c)
		if i <= 2 {
			if err != nil {
				t.Fatalf("allocating %s within the cap: %v", name, err)
			}
			continue
		}
		want := `admission webhook "vcase.caseload.dev" denied the request: Case.caseload.dev "c-3" is invalid: spec.allocatedTo: Forbidden: ` +
			`case c-3 (ChildInNeed, weight 1) would take jo-bloggs to 3 of 2 (SocialWorker cap 2 x FTE 1): denied by CaseloadQuota walsall/safeguarding`
		if err == nil || err.Error() != want {
			t.Errorf("allocating a third case over the cap of 2: %v\nwant %s", err, want)
		}
	}

	// Every kind the manager reconciles shows its status.
	deadline = time.Now().Add(time.Minute)
	for {
		behind := reconciled(t, env, ns)
		if len(behind) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a minute, the manager from the image has not reconciled:\n%s", strings.Join(behind, "\n"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// reconciled says what in ns does not yet show the status two cases of weight 1 give jo-bloggs
// (cap 2) in team north.
func reconciled(t *testing.T, env *testenv.Env, ns string) []string {
	t.Helper()
	ctx := context.Background()
	var behind []string
	ready := func(kind, name string, conditions []metav1.Condition, observed, generation int64) {
		if !apimeta.IsStatusConditionTrue(conditions, caseloadv1alpha1.ConditionReady) || observed != generation {
			behind = append(behind, fmt.Sprintf("%s %s is not Ready at generation %d (observed %d, conditions %v)", kind, name, generation, observed, conditions))
		}
	}
	var pr caseloadv1alpha1.Practitioner
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "jo-bloggs"}, &pr); err != nil {
		t.Fatal(err)
	}
	ready("practitioner", pr.Name, pr.Status.Conditions, pr.Status.ObservedGeneration, pr.Generation)
	if pr.Status.Cases != 2 || pr.Status.Weight != "2" || pr.Status.Capacity != "2" || pr.Status.Band != caseloadv1alpha1.BandAmber {
		behind = append(behind, fmt.Sprintf("practitioner jo-bloggs shows %d cases, weight %q of capacity %q, band %q; want 2, 2 of 2, Amber", pr.Status.Cases, pr.Status.Weight, pr.Status.Capacity, pr.Status.Band))
	}
	var tm caseloadv1alpha1.Team
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "north"}, &tm); err != nil {
		t.Fatal(err)
	}
	ready("team", tm.Name, tm.Status.Conditions, tm.Status.ObservedGeneration, tm.Generation)
	if tm.Status.Cases != 2 || tm.Status.Weight != "2" || tm.Status.Quota != "safeguarding" {
		behind = append(behind, fmt.Sprintf("team north shows %d cases of weight %q under quota %q; want 2 of 2 under safeguarding", tm.Status.Cases, tm.Status.Weight, tm.Status.Quota))
	}
	var q caseloadv1alpha1.CaseloadQuota
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "safeguarding"}, &q); err != nil {
		t.Fatal(err)
	}
	ready("quota", q.Name, q.Status.Conditions, q.Status.ObservedGeneration, q.Generation)
	if q.Status.Teams != 1 {
		behind = append(behind, fmt.Sprintf("quota safeguarding selects %d teams, want 1", q.Status.Teams))
	}
	for _, name := range []string{"c-1", "c-2"} {
		var c caseloadv1alpha1.Case
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &c); err != nil {
			t.Fatal(err)
		}
		ready("case", name, c.Status.Conditions, c.Status.ObservedGeneration, c.Generation)
		if c.Status.Weight != "1" {
			behind = append(behind, fmt.Sprintf("case %s weighs %q, want 1", name, c.Status.Weight))
		}
	}
	return behind
}

// shellQuote quotes words for /bin/sh.
func shellQuote(words ...string) string {
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	}
	return strings.Join(quoted, " ")
}

// Package e2e runs the operator as people run it: real binaries as separate processes, driven
// with real kubectl.
package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"caseload.dev/caseload-operator/internal/sandbox"
	"caseload.dev/caseload-operator/internal/testenv"
)

// TestMakeRunSandbox starts the sandbox as `make run` does (its `make sandbox` half: `make run`
// is `make manifests generate sandbox`, and regenerating files is no business of a test), as
// the foreground job of a terminal would: make in a process group of its own. It waits for the
// ready line, drives the sample council with kubectl, then presses Ctrl-C (SIGINT to the process
// group) and checks that make, the sandbox, kube-apiserver and etcd are all gone, with the
// kubeconfig and etcd's data.
func TestMakeRunSandbox(t *testing.T) {
	root, err := testenv.Root()
	if err != nil {
		t.Fatal(err)
	}
	kubectl := findKubectl(t, root)
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "sandbox.kubeconfig")
	sb := startSandbox(t, root, dir, kubeconfig)
	cmd, out := sb.cmd, sb.out
	if err := sb.waitFor(sandbox.ReadyLine, 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"kubeconfig for an admin of this sandbox written to " + kubeconfig,
		"admission webhook serving TLS",
		"25 practitioners, 301 cases",
		"kubectl -n " + sandbox.TourNamespace + " patch case " + sandbox.TourRefusedCase,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("make sandbox does not say %q", want)
		}
	}

	// The processes: make -> sandbox (the operator in-process) -> etcd and kube-apiserver.
	manager := childrenOf(cmd.Process.Pid)
	if len(manager) != 1 || manager[0].comm != "sandbox" {
		t.Fatalf("make's children are %v, want the sandbox alone", manager)
	}
	sb.track(manager[0].pid)
	planes := map[string]int{}
	for _, p := range childrenOf(manager[0].pid) {
		planes[p.comm] = p.pid
		sb.track(p.pid)
	}
	if planes["etcd"] == 0 || planes["kube-apiserver"] == 0 {
		t.Fatalf("the sandbox's children are %v, want etcd and kube-apiserver", planes)
	}
	etcdData := flagOf(planes["etcd"], "--data-dir")
	if etcdData == "" {
		t.Fatalf("etcd (pid %d) has no --data-dir", planes["etcd"])
	}

	k := &kubectlRunner{t: t, path: kubectl, kubeconfig: kubeconfig}
	bf, hs := sandbox.TourNamespace, sandbox.TourPointsNamespace

	t.Run("the sample council is there, one council per namespace", func(t *testing.T) {
		k.t = t
		for ns, want := range map[string]int{bf: 13, hs: 12} {
			items := k.items(ns, "practitioners")
			if len(items) != want {
				t.Errorf("%s has %d practitioners, want %d", ns, len(items), want)
			}
		}
		if cases := len(k.items(bf, "cases")) + len(k.items(hs, "cases")); cases != 301 {
			t.Errorf("the councils have %d cases, want 301", cases)
		}
		if _, stderr, err := k.run("-n", bf, "get", "practitioner", sandbox.TourNewlyQualified); err == nil || !strings.Contains(stderr, "NotFound") {
			t.Errorf("%s's practitioner %s is visible in %s: %v %s", hs, sandbox.TourNewlyQualified, bf, err, stderr)
		}
	})

	t.Run("every sample object has its status", func(t *testing.T) {
		k.t = t
		for _, ns := range []string{bf, hs} {
			for _, kind := range []string{"teams", "practitioners", "cases", "caseloadquotas"} {
				k.eventually(func() error {
					for _, o := range k.items(ns, kind) {
						if err := reconciled(o); err != nil {
							return fmt.Errorf("%s %s/%s: %w", kind, ns, o.Metadata.Name, err)
						}
					}
					return nil
				})
			}
		}
		full := k.object(bf, "practitioner", sandbox.TourFullPractitioner)
		if full.Status.Weight != sandbox.TourFullLoad || full.Status.Capacity != sandbox.TourFullCapacity || full.Status.Band != "Amber" {
			t.Errorf("%s shows weight %q of %q, band %q; the tour says %s of %s (Amber)", sandbox.TourFullPractitioner,
				full.Status.Weight, full.Status.Capacity, full.Status.Band, sandbox.TourFullLoad, sandbox.TourFullCapacity)
		}
		if over := k.object(bf, "practitioner", sandbox.TourOverCapPractitioner); over.Status.Band != "Red" || !strings.HasPrefix(over.Status.Headroom, "-") {
			t.Errorf("%s, over the tightened cap, shows band %q headroom %q; want Red and a negative headroom", sandbox.TourOverCapPractitioner, over.Status.Band, over.Status.Headroom)
		}
		if q := k.object(bf, "caseloadquota", sandbox.TourQuota); q.Status.Violations == 0 || !strings.Contains(string(q.Status.ViolationList), sandbox.TourOverCapPractitioner) {
			t.Errorf("quota %s shows %d violations %s; want %s over the cap among them", sandbox.TourQuota, q.Status.Violations, q.Status.ViolationList, sandbox.TourOverCapPractitioner)
		}
		if absent := k.object(hs, "practitioner", sandbox.TourAbsentPractitioner); absent.Status.CasesNeedingCover == 0 || absent.Status.Capacity != "0" {
			t.Errorf("%s, absent, shows capacity %q and %d cases needing cover", sandbox.TourAbsentPractitioner, absent.Status.Capacity, absent.Status.CasesNeedingCover)
		}
	})

	t.Run("an allocation over the cap is refused with the promised message", func(t *testing.T) {
		k.t = t
		_, stderr, err := k.run("-n", bf, "patch", "case", sandbox.TourRefusedCase, "--type", "merge",
			"-p", fmt.Sprintf(`{"spec":{"allocatedTo":%q}}`, sandbox.TourFullPractitioner))
		if err == nil {
			t.Fatalf("allocating %s to %s, who carries %s of %s, was admitted", sandbox.TourRefusedCase, sandbox.TourFullPractitioner, sandbox.TourFullLoad, sandbox.TourFullCapacity)
		}
		for _, want := range []string{
			fmt.Sprintf("case %s (%s, weight %s)", sandbox.TourRefusedCase, sandbox.TourRefusedCaseType, sandbox.TourRefusedCaseWeight),
			fmt.Sprintf("would take %s to %s of %s", sandbox.TourFullPractitioner, sandbox.TourFullAfter, sandbox.TourFullCapacity),
			fmt.Sprintf("denied by CaseloadQuota %s/%s", bf, sandbox.TourQuota),
		} {
			if !strings.Contains(stderr, want) {
				t.Errorf("the refusal does not say %q:\n%s", want, stderr)
			}
		}
		if got := k.object(bf, "case", sandbox.TourRefusedCase).Spec.AllocatedTo; got != "" {
			t.Errorf("after the refusal %s is allocated to %q", sandbox.TourRefusedCase, got)
		}

		_, stderr, err = k.run("-n", hs, "patch", "case", sandbox.TourPointsCase, "--type", "merge",
			"-p", fmt.Sprintf(`{"spec":{"allocatedTo":%q}}`, sandbox.TourNewlyQualified))
		if err == nil || !strings.Contains(stderr, sandbox.TourNewlyQualified) || !strings.Contains(stderr, "denied by CaseloadQuota "+hs+"/"+sandbox.TourPointsQuota) {
			t.Errorf("a newly qualified worker leading child protection in %s: err %v, %s", hs, err, stderr)
		}
	})

	t.Run("a manager's exception admits it and is recorded", func(t *testing.T) {
		k.t = t
		_, stderr, err := k.run("-n", bf, "patch", "case", sandbox.TourRefusedCase, "--type", "merge", "-p",
			fmt.Sprintf(`{"metadata":{"annotations":{"caseload.dev/exception-reason":"Continuity: already works with the family"}},"spec":{"allocatedTo":%q}}`, sandbox.TourFullPractitioner))
		if err != nil {
			t.Fatalf("the exception was refused: %v\n%s", err, stderr)
		}
		k.eventually(func() error {
			c := k.object(bf, "case", sandbox.TourRefusedCase)
			if c.Status.Exception == nil || c.Status.Exception.ApprovedBy == "" {
				return fmt.Errorf("case %s has no exception in its status", sandbox.TourRefusedCase)
			}
			if _, ok := c.Metadata.Annotations["caseload.dev/exception-reason"]; ok {
				return fmt.Errorf("case %s still carries the reason's annotation", sandbox.TourRefusedCase)
			}
			return nil
		})
	})

	sb.interrupt()
	if !strings.Contains(out.String(), "stopped; nothing left behind") {
		t.Error("the sandbox did not say it stopped cleanly")
	}
	for name, pid := range map[string]int{"sandbox": manager[0].pid, "etcd": planes["etcd"], "kube-apiserver": planes["kube-apiserver"]} {
		if alive(pid) {
			t.Errorf("%s (pid %d) is still running after Ctrl-C", name, pid)
		}
	}
	for _, path := range []string{kubeconfig, etcdData} {
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is left behind after Ctrl-C (%v): the next make run would not start fresh", path, err)
		}
	}
}

// TestMakeRunInterruptedDuringStartUp presses Ctrl-C while the sandbox is still loading the
// sample: whatever was started by then must stop too.
func TestMakeRunInterruptedDuringStartUp(t *testing.T) {
	root, err := testenv.Root()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "sandbox.kubeconfig")
	sb := startSandbox(t, root, dir, kubeconfig)
	if err := sb.waitFor("kube-apiserver is up", 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, m := range childrenOf(sb.cmd.Process.Pid) {
		pids = append(pids, m.pid)
		sb.track(m.pid)
		for _, p := range childrenOf(m.pid) {
			pids = append(pids, p.pid)
			sb.track(p.pid)
		}
	}
	if len(pids) < 3 {
		t.Fatalf("want the manager, etcd and kube-apiserver running once kube-apiserver is up, found pids %v", pids)
	}
	sb.interrupt()
	if !strings.Contains(sb.out.String(), "sandbox: stopped") {
		t.Error("the sandbox did not say it stopped")
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("pid %d is still running after Ctrl-C during start-up", pid)
		}
	}
	if _, err := os.Stat(kubeconfig); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s is left behind (%v)", kubeconfig, err)
	}
}

// runningSandbox is `make sandbox` started as a terminal's foreground job: make in a process
// group of its own, so that Ctrl-C reaches make and the manager, as in a terminal.
type runningSandbox struct {
	t       *testing.T
	cmd     *exec.Cmd
	out     *output
	exited  chan error
	tracked []int // the processes this test started, for a last-resort cleanup
}

// startSandbox runs `make sandbox` with LOCALBIN, the kubeconfig and the log in the test's
// directory, so a `make run` of the person running the tests is left alone; everything else is
// as the Makefile has it.
func startSandbox(t *testing.T, root, dir, kubeconfig string) *runningSandbox {
	cmd := exec.Command("make", "--no-print-directory", "sandbox",
		"LOCALBIN="+dir, "SANDBOX_KUBECONFIG="+kubeconfig, "SANDBOX_LOG="+filepath.Join(dir, "sandbox.log"))
	cmd.Dir = root
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	sb := &runningSandbox{t: t, cmd: cmd, out: &output{}, exited: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = sb.out, sb.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("make sandbox: %v", err)
	}
	go func() { sb.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case err := <-sb.exited:
			sb.exited <- err
		default:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		for _, pid := range sb.tracked {
			if alive(pid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if t.Failed() {
			t.Logf("make sandbox said:\n%s", sb.out.String())
			if log, err := os.ReadFile(filepath.Join(dir, "sandbox.log")); err == nil {
				t.Logf("operator log (last 4000 bytes):\n%s", tail(log, 4000))
			}
		}
	})
	return sb
}

func (sb *runningSandbox) track(pid int) { sb.tracked = append(sb.tracked, pid) }

// waitFor waits until make has printed s.
func (sb *runningSandbox) waitFor(s string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !strings.Contains(sb.out.String(), s) {
		select {
		case err := <-sb.exited:
			sb.exited <- err
			return fmt.Errorf("make sandbox exited (%v) before it said %q", err, s)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("make sandbox has not said %q after %s", s, timeout)
		}
	}
	return nil
}

// interrupt presses Ctrl-C, as a terminal sends it: SIGINT to make's whole process group, and
// waits for make to end.
func (sb *runningSandbox) interrupt() {
	sb.t.Helper()
	if err := syscall.Kill(-sb.cmd.Process.Pid, syscall.SIGINT); err != nil {
		sb.t.Fatal(err)
	}
	select {
	case err := <-sb.exited:
		sb.exited <- err
		var exit *exec.ExitError
		if err != nil && !(errors.As(err, &exit) && exit.ProcessState.Sys().(syscall.WaitStatus).Signal() == syscall.SIGINT) {
			sb.t.Errorf("make sandbox ended with %v after Ctrl-C", err)
		}
	case <-time.After(90 * time.Second):
		sb.t.Fatal("make sandbox is still running 90s after Ctrl-C")
	}
}

// output collects what make prints.
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// findKubectl prefers the kubectl on PATH, then the one hack/setup-envtest.sh keeps with
// kube-apiserver and etcd.
func findKubectl(t *testing.T, root string) string {
	if path, err := exec.LookPath("kubectl"); err == nil {
		return path
	}
	assets, err := testenv.Assets(root)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(assets, "kubectl")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("no kubectl on PATH nor in %s", assets)
	}
	return path
}

type proc struct {
	pid  int
	comm string
}

// childrenOf lists the processes whose parent is pid, from /proc.
func childrenOf(pid int) []proc {
	var out []proc
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
		s := string(stat)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		fields := strings.Fields(s[end+1:])
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			out = append(out, proc{pid: child, comm: s[open+1 : end]})
		}
	}
	return out
}

// alive reports whether pid is a running process (a zombie counts as gone).
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z"
}

// flagOf reads --name=value or --name value from a process's command line.
func flagOf(pid int, name string) string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return ""
	}
	args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// kubectlRunner runs kubectl against the sandbox's kubeconfig.
type kubectlRunner struct {
	t          *testing.T
	path       string
	kubeconfig string
}

func (k *kubectlRunner) run(args ...string) (string, string, error) {
	cmd := exec.Command(k.path, append([]string{"--kubeconfig", k.kubeconfig}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// object is the part of any caseload.dev object the test reads.
type object struct {
	Metadata struct {
		Name        string            `json:"name"`
		Generation  int64             `json:"generation"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Spec struct {
		AllocatedTo string `json:"allocatedTo"`
	} `json:"spec"`
	Status struct {
		ObservedGeneration int64           `json:"observedGeneration"`
		Weight             string          `json:"weight"`
		Capacity           string          `json:"capacity"`
		Headroom           string          `json:"headroom"`
		Band               string          `json:"band"`
		CasesNeedingCover  int             `json:"casesNeedingCover"`
		Violations         int             `json:"violations"`
		ViolationList      json.RawMessage `json:"violationList"`
		Exception          *struct {
			ApprovedBy string `json:"approvedBy"`
		} `json:"exception"`
		Conditions []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
		} `json:"conditions"`
	} `json:"status"`
}

// reconciled checks the kstatus contract: the current generation observed, Ready true.
func reconciled(o object) error {
	if o.Status.ObservedGeneration != o.Metadata.Generation {
		return fmt.Errorf("status.observedGeneration %d, generation %d", o.Status.ObservedGeneration, o.Metadata.Generation)
	}
	for _, c := range o.Status.Conditions {
		if c.Type == "Ready" {
			if c.Status != "True" {
				return fmt.Errorf("Ready is %s", c.Status)
			}
			return nil
		}
	}
	return errors.New("no Ready condition")
}

func (k *kubectlRunner) object(ns, kind, name string) object {
	k.t.Helper()
	stdout, stderr, err := k.run("-n", ns, "get", kind, name, "-o", "json")
	if err != nil {
		k.t.Fatalf("kubectl get %s %s/%s: %v\n%s", kind, ns, name, err, stderr)
	}
	var o object
	if err := json.Unmarshal([]byte(stdout), &o); err != nil {
		k.t.Fatal(err)
	}
	return o
}

func (k *kubectlRunner) items(ns, kind string) []object {
	k.t.Helper()
	stdout, stderr, err := k.run("-n", ns, "get", kind, "-o", "json")
	if err != nil {
		k.t.Fatalf("kubectl get %s -n %s: %v\n%s", kind, ns, err, stderr)
	}
	var l struct {
		Items []object `json:"items"`
	}
	if err := json.Unmarshal([]byte(stdout), &l); err != nil {
		k.t.Fatal(err)
	}
	return l.Items
}

// eventually retries check for up to a minute: status is written asynchronously.
func (k *kubectlRunner) eventually(check func() error) {
	k.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			k.t.Fatal(err)
		}
		time.Sleep(time.Second)
	}
}

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	caseloadv1alpha1 "caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/testenv"
)

// allocations is how many allocations race for one practitioner with room for exactly three.
const allocations = 50

// TestConcurrentAllocationsThroughTwoReplicasNeverOvershoot starts two manager processes
// (leader election on, each with its own webhook server) behind a round-robin TCP proxy on the
// address the apiserver calls, and fires 50 allocations at once to a practitioner with room
// for exactly 3. Each replica decides from its own stale cache; only the ledger in the Team's
// status, written with compare-and-swap, stands between them and admitting too many.
func TestConcurrentAllocationsThroughTwoReplicasNeverOvershoot(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the manager binary")
	}
	env, err := testenv.Start(testenv.Options{Webhooks: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ctx := context.Background()
	dir := t.TempDir()

	// Two replicas of the real binary.
	bin := filepath.Join(dir, "manager")
	build := exec.Command("go", "build", "-o", bin, "./cmd/manager")
	build.Dir = env.Root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/manager: %v\n%s", err, out)
	}
	admin, err := env.Environment.AddUser(envtest.User{Name: "caseload-operator", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfigPath := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfigPath, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	wio := env.Environment.WebhookInstallOptions
	var replicas []*replica
	for i := range 2 {
		r := startReplica(t, bin, dir, i, kubeconfigPath, wio.LocalServingCertDir)
		replicas = append(replicas, r)
	}
	for _, r := range replicas {
		r.waitReady(t)
	}

	// The apiserver calls the webhook at wio's host:port; the proxy sends each connection to the
	// next replica in turn.
	var backends []string
	for _, r := range replicas {
		backends = append(backends, r.webhook)
	}
	proxy := startProxy(t, net.JoinHostPort(wio.LocalServingHost, strconv.Itoa(wio.LocalServingPort)), backends)

	// The council: one team, one SocialWorker capped at 3 cases of weight 1.
	ns := "walsall"
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&caseloadv1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "north"}},
		&caseloadv1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "jo-bloggs"},
			Spec: caseloadv1alpha1.PractitionerSpec{Team: "north", Grade: "SocialWorker"}},
		// solo, in another team, is allocated to one case at a time, for the figure of an
		// allocation decided alone.
		&caseloadv1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "south"}},
		&caseloadv1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "solo"},
			Spec: caseloadv1alpha1.PractitionerSpec{Team: "south", Grade: "SocialWorker"}},
		// probe has a grade the quota does not cover: a replica refuses them work only once
		// its cache holds the quota.
		&caseloadv1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "probe"},
			Spec: caseloadv1alpha1.PractitionerSpec{Team: "north", Grade: "TeamManager"}},
		&caseloadv1alpha1.CaseloadQuota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "safeguarding"},
			Spec: caseloadv1alpha1.CaseloadQuotaSpec{PractitionerCaps: []caseloadv1alpha1.PractitionerCap{{Grade: "SocialWorker", MaxWeight: "3"}}}},
	} {
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}

	for _, r := range replicas {
		r.waitForQuota(t, wio.LocalServingCAData, ns)
	}

	// One allocation at a time, for comparison.
	var alone []time.Duration
	for i := range 3 {
		c := &caseloadv1alpha1.Case{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("solo-%d", i+1)},
			Spec: caseloadv1alpha1.CaseSpec{Reference: fmt.Sprintf("LCS-S%d", i+1), Team: "south", Type: "ChildInNeed", OpenedOn: "2026-11-02", AllocatedTo: "solo"}}
		t0 := time.Now()
		if err := env.Client.Create(ctx, c); err != nil {
			t.Fatalf("allocating %s to solo alone: %v", c.Name, err)
		}
		alone = append(alone, time.Since(t0))
	}

	// The probes and solo's allocations were decided too: count from here.
	baseline := make([]map[string]float64, len(replicas))
	for i, r := range replicas {
		baseline[i] = r.metrics(t)
	}

	// 50 allocations at once.
	type outcome struct {
		err  error
		took time.Duration
	}
	outcomes := make([]outcome, allocations)
	var start sync.WaitGroup
	start.Add(1)
	var done sync.WaitGroup
	began := time.Now()
	for i := range allocations {
		done.Add(1)
		go func() {
			defer done.Done()
			c := &caseloadv1alpha1.Case{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("c-%02d", i+1)},
				Spec: caseloadv1alpha1.CaseSpec{Reference: fmt.Sprintf("LCS-%04d", i+1), Team: "north", Type: "ChildInNeed", OpenedOn: "2026-11-02", AllocatedTo: "jo-bloggs"}}
			start.Wait()
			t0 := time.Now()
			err := env.Client.Create(ctx, c)
			outcomes[i] = outcome{err: err, took: time.Since(t0)}
		}()
	}
	start.Done()
	done.Wait()
	wall := time.Since(began)

	admitted, denied := 0, 0
	var took []time.Duration
	for i, o := range outcomes {
		took = append(took, o.took)
		if o.err == nil {
			admitted++
			continue
		}
		// Every refusal must be the capacity denial, with the figures of a full caseload: not a
		// timeout, not a conflict passed on to the client.
		want := fmt.Sprintf(`admission webhook "vcase.caseload.dev" denied the request: Case.caseload.dev "c-%02d" is invalid: spec.allocatedTo: Forbidden: `+
			`case c-%02d (ChildInNeed, weight 1) would take jo-bloggs to 4 of 3 (SocialWorker cap 3 x FTE 1): denied by CaseloadQuota walsall/safeguarding`, i+1, i+1)
		if o.err.Error() != want {
			t.Errorf("allocation %d failed with\n%v\nwant\n%s", i+1, o.err, want)
			continue
		}
		denied++
	}
	if admitted != 3 {
		t.Errorf("admitted %d of %d allocations to a practitioner with room for exactly 3", admitted, allocations)
	}

	// What the apiserver holds agrees: three cases, three reservations.
	var cases caseloadv1alpha1.CaseList
	if err := env.Client.List(ctx, &cases, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	held := 0
	for _, c := range cases.Items {
		if c.Spec.AllocatedTo == "jo-bloggs" {
			held++
		}
	}
	if held != 3 {
		t.Errorf("the apiserver holds %d cases allocated to jo-bloggs, want 3", held)
	}
	var team caseloadv1alpha1.Team
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "north"}, &team); err != nil {
		t.Fatal(err)
	}
	if n := len(team.Status.Reservations); n != 3 {
		t.Errorf("the ledger holds %d reservations, want 3: %+v", n, team.Status.Reservations)
	}

	// Both replicas decided; their counters add up to every request.
	var conflicts, decided float64
	for i, r := range replicas {
		m := r.metrics(t)
		for k, v := range baseline[i] {
			m[k] -= v
		}
		served := m[`caseload_admission_decisions_total{result="admitted"}`] + m[`caseload_admission_decisions_total{result="denied"}`] + m[`caseload_admission_decisions_total{result="error"}`]
		if served == 0 {
			t.Errorf("replica %d decided no allocation: the requests were not spread over both replicas", r.index)
		}
		if m[`caseload_admission_decisions_total{result="error"}`] != 0 {
			t.Errorf("replica %d answered %v allocations with an error", r.index, m[`caseload_admission_decisions_total{result="error"}`])
		}
		t.Logf("replica %d: decided %v (admitted %v, denied %v), ledger conflicts retried %v, proxy connections %d",
			r.index, served, m[`caseload_admission_decisions_total{result="admitted"}`], m[`caseload_admission_decisions_total{result="denied"}`],
			m["caseload_admission_ledger_conflicts_total"], proxy.served[r.index].Load())
		conflicts += m["caseload_admission_ledger_conflicts_total"]
		decided += served
	}
	if int(decided) != allocations {
		t.Errorf("the replicas decided %v allocations, want %d", decided, allocations)
	}

	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	p50, p99 := took[len(took)*50/100], took[(len(took)*99+99)/100-1]
	t.Logf("One allocation at a time: %v", alone)
	t.Logf("Admission under concurrency: N=%d, admitted=%d, denied=%d, ledger conflicts retried=%v, per-request p50=%v p99=%v, all %d in %v",
		allocations, admitted, denied, conflicts, p50.Round(time.Millisecond), p99.Round(time.Millisecond), allocations, wall.Round(time.Millisecond))
}

// replica is one manager process.
type replica struct {
	index                int
	cmd                  *exec.Cmd
	webhook, metricsAddr string
	probes               string
	log                  string
	exited               chan struct{}
}

func startReplica(t *testing.T, bin, dir string, i int, kubeconfig, certDir string) *replica {
	t.Helper()
	r := &replica{index: i, webhook: testenv.FreeAddr(t), metricsAddr: testenv.FreeAddr(t), probes: testenv.FreeAddr(t),
		log: filepath.Join(dir, fmt.Sprintf("manager-%d.log", i)), exited: make(chan struct{})}
	_, port, _ := net.SplitHostPort(r.webhook)
	logFile, err := os.Create(r.log)
	if err != nil {
		t.Fatal(err)
	}
	r.cmd = exec.Command(bin,
		"--kubeconfig="+kubeconfig,
		"--leader-elect", "--leader-election-namespace=default",
		"--metrics-bind-address="+r.metricsAddr,
		"--health-probe-bind-address="+r.probes,
		"--webhook-host=127.0.0.1", "--webhook-port="+port,
		"--webhook-cert-dir="+certDir, "--cert-source=dir",
	)
	r.cmd.Stdout, r.cmd.Stderr = logFile, logFile
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = r.cmd.Wait(); logFile.Close(); close(r.exited) }()
	t.Cleanup(func() {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.exited:
		case <-time.After(15 * time.Second):
			_ = r.cmd.Process.Kill()
			<-r.exited
		}
		if t.Failed() {
			if out, err := os.ReadFile(r.log); err == nil {
				t.Logf("manager %d log (last 4000 bytes):\n%s", i, lastBytes(out, 4000))
			}
		}
	})
	return r
}

// waitReady waits until /readyz passes: the webhook server is serving its certificate.
func (r *replica) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-r.exited:
			out, _ := os.ReadFile(r.log)
			t.Fatalf("manager %d exited before it was ready:\n%s", r.index, lastBytes(out, 4000))
		default:
		}
		resp, err := http.Get("http://" + r.probes + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("manager %d not ready after 60s (last: %v)", r.index, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitForQuota asks the replica itself, with a dry-run AdmissionReview sent straight to its
// webhook server, until it refuses probe an allocation: its cache then holds the quota.
func (r *replica) waitForQuota(t *testing.T, caPEM []byte, ns string) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}}
	c := caseloadv1alpha1.Case{TypeMeta: metav1.TypeMeta{APIVersion: "caseload.dev/v1alpha1", Kind: "Case"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "probe-case"},
		Spec:       caseloadv1alpha1.CaseSpec{Reference: "PROBE", Team: "north", Type: "ChildInNeed", OpenedOn: "2026-11-02", Complexity: "Standard", Children: 1, AllocatedTo: "probe"}}
	raw, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	dryRun := true
	review := admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: "probe", Kind: metav1.GroupVersionKind{Group: "caseload.dev", Version: "v1alpha1", Kind: "Case"},
			Resource:  metav1.GroupVersionResource{Group: "caseload.dev", Version: "v1alpha1", Resource: "cases"},
			Namespace: ns, Name: "probe-case", Operation: admissionv1.Create, DryRun: &dryRun, Object: runtime.RawExtension{Raw: raw}}}
	body, err := json.Marshal(review)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := hc.Post("https://"+r.webhook+"/validate-caseload-dev-v1alpha1-case", "application/json", bytes.NewReader(body))
		if err == nil {
			var got admissionv1.AdmissionReview
			err = json.NewDecoder(resp.Body).Decode(&got)
			resp.Body.Close()
			if err == nil && got.Response != nil && !got.Response.Allowed && got.Response.Result != nil &&
				strings.Contains(got.Response.Result.Message, "grade TeamManager has no cap in this quota") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %d never applied the quota (last: %v)", r.index, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// metrics reads the replica's Prometheus text exposition into "name{labels}" -> value.
func (r *replica) metrics(t *testing.T) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + r.metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// proxy forwards each TCP connection to the next backend in turn. TLS passes through: the
// replicas serve the certificate the apiserver trusts.
type proxy struct {
	served []atomic.Int64
	mu     sync.Mutex
	open   map[net.Conn]bool
}

func (p *proxy) track(c net.Conn, open bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if open {
		p.open[c] = true
	} else {
		delete(p.open, c)
	}
}

func startProxy(t *testing.T, listen string, backends []string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatalf("listen on the webhook address %s: %v", listen, err)
	}
	p := &proxy{served: make([]atomic.Int64, len(backends)), open: map[net.Conn]bool{}}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		p.mu.Lock()
		for c := range p.open { // the apiserver keeps idle connections open
			c.Close()
		}
		p.mu.Unlock()
		wg.Wait()
	})
	var next atomic.Int64
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					t.Logf("proxy: %v", err)
				}
				return
			}
			i := int(next.Add(1)-1) % len(backends)
			p.served[i].Add(1)
			wg.Add(1)
			p.track(in, true)
			go func() {
				defer wg.Done()
				defer func() { in.Close(); p.track(in, false) }()
				out, err := net.Dial("tcp", backends[i])
				if err != nil {
					return
				}
				p.track(out, true)
				defer func() { out.Close(); p.track(out, false) }()
				go func() { _, _ = io.Copy(out, in); out.Close() }()
				_, _ = io.Copy(in, out)
			}()
		}
	}()
	return p
}

// lastBytes is the end of a log, where a failure's cause usually is.
func lastBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// Package harness runs the real manager binary as processes against the envtest control
// plane, for the end-to-end tests and the admission benchmark: replicas with leader election and
// TLS webhook servers, a round-robin proxy in front of them, and what they report.
package harness

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
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	caseloadv1alpha1 "caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/manifest"
	"caseload.dev/caseload-operator/internal/testenv"
)

// BuildManager builds cmd/manager into dir and returns the binary's path.
func BuildManager(t testing.TB, env *testenv.Env, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "manager")
	build := exec.Command("go", "build", "-o", bin, "./cmd/manager")
	build.Dir = env.Root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/manager: %v\n%s", err, out)
	}
	return bin
}

// OperatorKubeconfig writes into dir a kubeconfig for the operator's service account as the
// shipped RBAC grants it: the ClusterRole generated into config/rbac/role.yaml and the
// leader-election Role of config/rbac, bound to service account default/caseload-operator, which
// authenticates with its own token. So the end-to-end tests run the manager with exactly the
// permissions a council installs, and a verb the role lacks fails them.
func OperatorKubeconfig(t testing.TB, env *testenv.Env, dir string) string {
	t.Helper()
	ctx := context.Background()
	const name = "caseload-operator"
	subject := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "default", Name: name}}
	for _, file := range []string{"role.yaml", "leader_election_role.yaml"} {
		objs, err := manifest.DecodeFile(filepath.Join(env.Root, "config", "rbac", file))
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			var binding client.Object
			switch o.GetKind() {
			case "ClusterRole":
				binding = &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: o.GetName()}, Subjects: subject,
					RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: o.GetName()}}
			case "Role": // in the namespace of the leader-election Lease
				o.SetNamespace("default")
				binding = &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: o.GetName()}, Subjects: subject,
					RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: o.GetName()}}
			default:
				t.Fatalf("config/rbac/%s holds a %s: teach OperatorKubeconfig to bind it", file, o.GetKind())
			}
			for _, obj := range []client.Object{o, binding} {
				if err := env.Client.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
					t.Fatal(err)
				}
			}
		}
	}
	token := ServiceAccountToken(t, env, name)
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: env.Config.Host, CertificateAuthorityData: env.Config.CAData}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	cfg.CurrentContext = name
	path := filepath.Join(dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// MetricsReader makes a service account bound to the shipped caseload-metrics-reader
// ClusterRole (config/rbac), as a council binds its Prometheus, and returns a token for it: the
// manager serves /metrics only to callers the apiserver authenticates and authorises.
func MetricsReader(t testing.TB, env *testenv.Env, name string) string {
	t.Helper()
	ctx := context.Background()
	objs, err := manifest.DecodeFile(filepath.Join(env.Root, "config", "rbac", "metrics_reader_role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if err := env.Client.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "caseload-metrics-reader"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "default", Name: name}}}
	if err := env.Client.Create(ctx, binding); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	return ServiceAccountToken(t, env, name)
}

// ServiceAccountToken creates service account name in namespace default (if missing) and
// returns a token for it from the TokenRequest API.
func ServiceAccountToken(t testing.TB, env *testenv.Env, name string) string {
	t.Helper()
	ctx := context.Background()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}}
	if err := env.Client.Create(ctx, sa); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	hours := int64(4 * 3600) // outlasts the longest benchmark run
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &hours}}
	if err := env.Client.SubResource("token").Create(ctx, sa, tr); err != nil {
		t.Fatalf("a token for service account %s: %v", name, err)
	}
	return tr.Status.Token
}

// Replica is one manager process, started from the real binary.
type Replica struct {
	Index int
	// MetricsToken is presented to the metrics endpoint (see MetricsReader).
	MetricsToken         string
	cmd                  *exec.Cmd
	Webhook, metricsAddr string
	probes               string
	log                  string
	exited               chan struct{}
	// What the process was started with, for Restart; starts counts the restarts before it.
	bin, dir, kubeconfig, certDir string
	args                          []string
	starts                        int
}

// StartReplica starts replica i of the manager binary bin with leader election and a webhook
// server on a free loopback port serving the certificate in certDir; dir holds its log. The
// process is stopped when the test ends, and its log printed if the test failed.
func StartReplica(t *testing.T, bin, dir string, i int, kubeconfig, certDir string, extraArgs ...string) *Replica {
	t.Helper()
	return start(t, &Replica{Index: i, Webhook: testenv.FreeAddr(t), bin: bin, dir: dir, kubeconfig: kubeconfig, certDir: certDir, args: extraArgs})
}

// Restart starts the replica's binary again once the process has ended (killed, or exited on its
// own), as the kubelet restarts a pod's container: the same index, the same webhook address, so
// a proxy in front of it reaches the new process, and the same arguments, with extraArgs after
// them (of a flag given twice, the later value holds). The new process logs to a file of its own.
func (r *Replica) Restart(t *testing.T, extraArgs ...string) *Replica {
	t.Helper()
	if !r.Exited() {
		t.Fatalf("manager %d is still running: stop or kill it before starting it again", r.Index)
	}
	return start(t, &Replica{Index: r.Index, MetricsToken: r.MetricsToken, Webhook: r.Webhook, bin: r.bin, dir: r.dir, kubeconfig: r.kubeconfig,
		certDir: r.certDir, args: append(slices.Clone(r.args), extraArgs...), starts: r.starts + 1})
}

// Exited reports whether the process has ended. A manager that loses its leader-election lease
// (its renewals failing while the apiserver is unreachable) exits, for its container to be
// restarted.
func (r *Replica) Exited() bool {
	select {
	case <-r.exited:
		return true
	default:
		return false
	}
}

// start runs the process r describes, with fresh metrics and probe addresses.
func start(t *testing.T, r *Replica) *Replica {
	t.Helper()
	r.metricsAddr, r.probes, r.exited = testenv.FreeAddr(t), testenv.FreeAddr(t), make(chan struct{})
	name := fmt.Sprintf("manager %d", r.Index)
	r.log = filepath.Join(r.dir, fmt.Sprintf("manager-%d.log", r.Index))
	if r.starts > 0 {
		name += fmt.Sprintf(" (restart %d)", r.starts)
		r.log = filepath.Join(r.dir, fmt.Sprintf("manager-%d.restart-%d.log", r.Index, r.starts))
	}
	_, port, _ := net.SplitHostPort(r.Webhook)
	logFile, err := os.Create(r.log)
	if err != nil {
		t.Fatal(err)
	}
	r.cmd = exec.Command(r.bin,
		"--kubeconfig="+r.kubeconfig,
		"--leader-elect", "--leader-election-namespace=default",
		"--metrics-bind-address="+r.metricsAddr,
		"--health-probe-bind-address="+r.probes,
		"--webhook-host=127.0.0.1", "--webhook-port="+port,
		"--webhook-cert-dir="+r.certDir, "--cert-source=dir",
	)
	r.cmd.Args = append(r.cmd.Args, r.args...)
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
				t.Logf("%s log (last 4000 bytes):\n%s", name, LastBytes(out, 4000))
			}
		}
	})
	return r
}

// Stop asks the process to end (SIGTERM), as a rolling update does, and waits until it has.
func (r *Replica) Stop(t *testing.T) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("manager %d did not stop within 30s of SIGTERM", r.Index)
	}
}

// Pid is the process's id.
func (r *Replica) Pid() int { return r.cmd.Process.Pid }

// Kill ends the process at once (SIGKILL), as a node failure would.
func (r *Replica) Kill(t *testing.T) {
	t.Helper()
	if err := r.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-r.exited
}

// Leads reports whether the replica holds the leader-election lease, as its metrics say.
func (r *Replica) Leads(t *testing.T) bool {
	t.Helper()
	for k, v := range r.Metrics(t) {
		if strings.HasPrefix(k, "leader_election_master_status{") && v == 1 {
			return true
		}
	}
	return false
}

// WaitReady waits until /readyz passes: the caches have synced and the webhook server is serving
// its certificate. A platform of hundreds of thousands of cases takes a while to list.
func (r *Replica) WaitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		select {
		case <-r.exited:
			out, _ := os.ReadFile(r.log)
			t.Fatalf("manager %d exited before it was ready:\n%s", r.Index, LastBytes(out, 4000))
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
			t.Fatalf("manager %d not ready after 3 minutes (last: %v)", r.Index, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// WaitForQuota asks the replica itself, with a dry-run AdmissionReview sent straight to its
// webhook server, until it refuses probe an allocation: its cache then holds the quota.
func (r *Replica) WaitForQuota(t *testing.T, caPEM []byte, ns string) {
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
		resp, err := hc.Post("https://"+r.Webhook+"/validate-caseload-dev-v1alpha1-case", "application/json", bytes.NewReader(body))
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
			t.Fatalf("replica %d never applied the quota (last: %v)", r.Index, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ScrapeAs asks the replica's metrics endpoint (HTTPS, the manager's self-signed certificate)
// with token as the bearer ("" for none).
func (r *Replica) ScrapeAs(token string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, "https://"+r.metricsAddr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableCompression: true, // on loopback, compressing costs the replica more than it saves
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the token is what is tested, not the self-signed certificate
	return c.Do(req)
}

// Metrics reads the replica's Prometheus text exposition into "name{labels}" -> value.
func (r *Replica) Metrics(t *testing.T) map[string]float64 {
	t.Helper()
	m, err := r.ReadMetrics()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// ReadMetrics is Metrics for a caller that retries: a replica just started may not serve its
// metrics yet.
func (r *Replica) ReadMetrics() (map[string]float64, error) {
	resp, err := r.ScrapeAs(r.MetricsToken)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("replica %d's /metrics answered %s", r.Index, resp.Status)
	}
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
	return out, sc.Err()
}

// Proxy forwards each TCP connection to the next backend in turn. TLS passes through: the
// replicas serve the certificate the apiserver trusts.
type Proxy struct {
	Served []atomic.Int64
	// out[i] is set while backend i is taken out of the rotation (see Route).
	out  []atomic.Bool
	mu   sync.Mutex
	open map[net.Conn]bool
}

// Route puts backend i in the rotation or takes it out, as a Service's endpoints follow its
// pods' readiness: a replica started again is sent nothing until it is ready. Connections
// already open stay; with no backend in the rotation, a new connection is closed at once.
func (p *Proxy) Route(i int, ready bool) { p.out[i].Store(!ready) }

// Reset closes every connection open through the proxy, as a network blip does; a request in
// flight on one fails. The apiserver keeps its connections to a webhook open and reuses them, so
// a backend put back in the rotation is sent nothing until it opens new ones: after a reset,
// they go to the backends in the rotation in turn.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.open {
		c.Close()
	}
}

func (p *Proxy) track(c net.Conn, open bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if open {
		p.open[c] = true
	} else {
		delete(p.open, c)
	}
}

// StartProxy listens on listen and forwards each connection to the next backend in the rotation,
// until the test ends.
func StartProxy(t *testing.T, listen string, backends []string) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatalf("listen on the webhook address %s: %v", listen, err)
	}
	p := &Proxy{Served: make([]atomic.Int64, len(backends)), out: make([]atomic.Bool, len(backends)), open: map[net.Conn]bool{}}
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
			i := -1
			for range backends {
				if j := int(next.Add(1)-1) % len(backends); !p.out[j].Load() {
					i = j
					break
				}
			}
			if i < 0 {
				in.Close()
				continue
			}
			p.Served[i].Add(1)
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

// LastBytes is the end of a log, where a failure's cause usually is.
func LastBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

package certs_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"caseload.dev/caseload-operator/internal/index"
	"caseload.dev/caseload-operator/internal/operator"
	"caseload.dev/caseload-operator/internal/policy"
	"caseload.dev/caseload-operator/internal/testenv"
	"caseload.dev/caseload-operator/internal/webhook/certs"
	admission "caseload.dev/caseload-operator/internal/webhook/v1alpha1"
)

func TestParseSource(t *testing.T) {
	for _, ok := range []string{"self", "cert-manager", "dir"} {
		if _, err := certs.ParseSource(ok); err != nil {
			t.Errorf("ParseSource(%q): %v", ok, err)
		}
	}
	if _, err := certs.ParseSource("vault"); err == nil || err.Error() != `--cert-source is "vault"; it is one of self, cert-manager or dir` {
		t.Errorf("ParseSource(vault) = %v", err)
	}
}

// TestSelfRotationLeavesOtherIssuersSecretsAlone: a Secret that cert-manager or Helm fills is
// refused at start, with the flag to use instead.
func TestSelfRotationLeavesOtherIssuersSecretsAlone(t *testing.T) {
	env, err := testenv.Start(testenv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ctx := context.Background()
	const ns = "caseload-system"
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "caseload-webhook-server-cert",
			Annotations: map[string]string{"cert-manager.io/certificate-name": "caseload-serving-cert"}}},
	} {
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: operator.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = certs.Setup(mgr, certs.Options{Source: certs.SourceSelf, CertDir: t.TempDir(), Namespace: ns, SecretName: "caseload-webhook-server-cert",
		ServiceName: "caseload-webhook-service", WebhookConfigName: "caseload-validating-webhook-configuration"})
	want := "the webhook certificate Secret caseload-system/caseload-webhook-server-cert is managed by cert-manager: run with --cert-source=cert-manager, or give --cert-secret a Secret of the operator's own"
	if err == nil || err.Error() != want {
		t.Errorf("certs.Setup = %v\nwant %s", err, want)
	}

	helm := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app.kubernetes.io/managed-by": "Helm"}}}
	if owner, src := certs.ForeignIssuer(helm); owner != "Helm" || src != certs.SourceDir {
		t.Errorf("ForeignIssuer(Helm's Secret) = %s, %s", owner, src)
	}
	if owner, _ := certs.ForeignIssuer(&corev1.Secret{}); owner != "" {
		t.Errorf("ForeignIssuer(an empty Secret) = %s", owner)
	}
}

func ready(addr string) bool {
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// TestSelfRotatedCertificate runs the manager with --cert-source=self against a real
// apiserver: it issues a CA and a serving certificate into the Secret, writes the CA into the
// webhook configuration's caBundle, and is ready only once the Secret is mounted and served.
// The test plays the kubelet, copying the Secret into the cert directory.
func TestSelfRotatedCertificate(t *testing.T) {
	env, err := testenv.Start(testenv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	const ns, secret, service, config = "caseload-system", "caseload-webhook-server-cert", "caseload-webhook-service", "caseload-validating-webhook-configuration"
	none := admissionv1.SideEffectClassNone
	url := "https://127.0.0.1:1/never-called"
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&admissionv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: config}, Webhooks: []admissionv1.ValidatingWebhook{{
			Name: "vnothing.caseload.dev", ClientConfig: admissionv1.WebhookClientConfig{URL: &url}, SideEffects: &none, AdmissionReviewVersions: []string{"v1"},
			Rules: []admissionv1.RuleWithOperations{{Operations: []admissionv1.OperationType{admissionv1.Create},
				Rule: admissionv1.Rule{APIGroups: []string{"example.invalid"}, APIVersions: []string{"v1"}, Resources: []string{"widgets"}}}},
		}}},
	} {
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}

	certDir := t.TempDir()
	probes, webhookAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	_, port, _ := net.SplitHostPort(webhookAddr)
	webhookPort, _ := strconv.Atoi(port)
	// The manager as operator.New builds it with --cert-source=self, without the reconcilers:
	// controller names are registered once per process, and go test -count repeats the test.
	runs++
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme: operator.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: probes,
		WebhookServer: webhook.NewServer(webhook.Options{Host: "127.0.0.1", Port: webhookPort, CertDir: certDir}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := index.Setup(ctx, mgr.GetFieldIndexer()); err != nil {
		t.Fatal(err)
	}
	certsReady, err := certs.Setup(mgr, certs.Options{Source: certs.SourceSelf, CertDir: certDir, Namespace: ns, SecretName: secret, ServiceName: service, WebhookConfigName: config,
		ControllerName: fmt.Sprintf("cert-rotator-%d", runs)})
	if err != nil {
		t.Fatal(err)
	}
	if err := admission.Setup(mgr, certsReady, admission.Options{Calendar: policy.UTC}); err != nil {
		t.Fatal(err)
	}
	go func() { _ = mgr.Start(ctx) }()

	var s corev1.Secret
	eventually(t, 30*time.Second, "the operator issues the certificate into Secret "+secret, func() bool {
		return env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: secret}, &s) == nil && len(s.Data["tls.crt"]) > 0
	})
	time.Sleep(time.Second)
	if ready(probes) {
		t.Fatal("ready before the certificate is mounted: the apiserver would be sent to a server with no certificate")
	}
	if at, ok := expiryMetric(t); ok {
		t.Errorf("certificate expiry published as %v before there is a certificate to read", at)
	}

	// The kubelet mounts the Secret.
	for _, f := range []string{"tls.crt", "tls.key", "ca.crt"} {
		if err := os.WriteFile(filepath.Join(certDir, f), s.Data[f], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 90*time.Second, "the manager is ready", func() bool { return ready(probes) })

	var cfg admissionv1.ValidatingWebhookConfiguration
	if err := env.Client.Get(ctx, client.ObjectKey{Name: config}, &cfg); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cfg.Webhooks[0].ClientConfig.CABundle, s.Data["ca.crt"]) {
		t.Errorf("caBundle is not the operator's CA")
	}

	// The webhook server presents a certificate the apiserver can verify for the Service's name.
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.Data["ca.crt"]) {
		t.Fatal("ca.crt holds no certificate")
	}
	conn, err := tls.Dial("tcp", webhookAddr, &tls.Config{RootCAs: pool, ServerName: service + "." + ns + ".svc"})
	if err != nil {
		t.Fatalf("TLS to the webhook server as the apiserver would connect: %v", err)
	}
	leaf := conn.ConnectionState().PeerCertificates[0]
	conn.Close()
	if left := time.Until(leaf.NotAfter); left < 300*24*time.Hour {
		t.Errorf("serving certificate expires in %v; want about a year", left)
	}
	// The alert on a certificate close to expiry reads the certificate being served.
	if at, ok := expiryMetric(t); !ok || at != float64(leaf.NotAfter.Unix()) {
		t.Errorf("caseload_webhook_certificate_expiry_timestamp_seconds = %v (present %v), want %d", at, ok, leaf.NotAfter.Unix())
	}
}

// expiryMetric reads the certificate expiry from the manager's registry.
func expiryMetric(t *testing.T) (float64, bool) {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "caseload_webhook_certificate_expiry_timestamp_seconds" {
			return f.GetMetric()[0].GetGauge().GetValue(), true
		}
	}
	return 0, false
}

var runs int

func eventually(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

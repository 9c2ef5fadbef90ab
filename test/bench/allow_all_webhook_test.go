package bench

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// allowAllWebhook is the floor of any webhook: the apiserver calls it over TLS with one
// AdmissionReview for every Case create and update, and it answers allowed without looking. What
// a webhook costs beyond it is what deciding costs; what it costs below it no webhook can save.
type allowAllWebhook struct {
	addr string
	// reviews counts the AdmissionReviews answered.
	reviews atomic.Int64
}

const (
	// caseWebhookPath is our Case webhook's, whose rules the allow-all webhook takes.
	caseWebhookPath = "/validate-caseload-dev-v1alpha1-case"
	allowAllPath    = "/allow-all"
)

// startAllowAll serves the allow-all webhook as the manager serves ours: TLS with envtest's
// serving certificate (the CA the apiserver is given for ours), HTTP/1.1 only (the manager's
// default, --enable-http2 off), keep-alive connections. It registers it for the namespaces
// labelled label with a configuration of its own, taken from our Case webhook's (rules,
// failurePolicy, timeoutSeconds, sideEffects, matchPolicy) without its matchConditions, so that
// no request is skipped that ours is asked.
func (b *bench) startAllowAll(t *testing.T, label string) *allowAllWebhook {
	t.Helper()
	wio := b.env.Environment.WebhookInstallOptions
	cert, err := tls.LoadX509KeyPair(filepath.Join(wio.LocalServingCertDir, "tls.crt"), filepath.Join(wio.LocalServingCertDir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", net.JoinHostPort(wio.LocalServingHost, "0"),
		&tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	w := &allowAllWebhook{addr: l.Addr().String()}
	mux := http.NewServeMux()
	mux.Handle(allowAllPath, w)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	b.registerAllowAll(t, label, "https://"+w.addr+allowAllPath)
	return w
}

// registerAllowAll adds a ValidatingWebhookConfiguration that sends the namespaces labelled label
// to url, in the shape of our Case webhook's entry in the installed configuration.
func (b *bench) registerAllowAll(t *testing.T, label, url string) {
	t.Helper()
	ctx := context.Background()
	var vwcs admissionregistrationv1.ValidatingWebhookConfigurationList
	if err := b.c.List(ctx, &vwcs); err != nil {
		t.Fatal(err)
	}
	for _, vwc := range vwcs.Items {
		for _, ours := range vwc.Webhooks {
			if ours.ClientConfig.URL == nil || !strings.HasSuffix(*ours.ClientConfig.URL, caseWebhookPath) {
				continue
			}
			w := *ours.DeepCopy()
			w.Name = "allow-all.bench.caseload.dev"
			w.MatchConditions = nil
			w.ClientConfig.URL = &url
			w.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{webhookLabel: label}}
			floor := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "bench-allow-all"},
				Webhooks: []admissionregistrationv1.ValidatingWebhook{w}}
			if err := b.c.Create(ctx, floor); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no webhook calling %s in the installed configuration to take the allow-all webhook's shape from", caseWebhookPath)
}

// ServeHTTP reads the AdmissionReview and allows it.
func (w *allowAllWebhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	var review admissionv1.AdmissionReview
	if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
		http.Error(rw, "expected an AdmissionReview with a request", http.StatusBadRequest)
		return
	}
	w.reviews.Add(1)
	review.Response = &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
	review.Request = nil
	rw.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(rw).Encode(&review)
}

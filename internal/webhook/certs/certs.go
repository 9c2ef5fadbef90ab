// Package certs provides the webhook server's serving certificate. By default the operator
// rotates its own (SourceSelf), with open-policy-agent/cert-controller, as Gatekeeper does: a CA
// and a server certificate in a Secret, the CA written into the ValidatingWebhookConfiguration's
// caBundle, both renewed well before they expire. The Secret must be mounted at the cert
// directory (the Deployment does that); the webhooks are served only once the files are there
// and the caBundle is in place. With SourceCertManager or SourceDir the certificate is simply
// read from the directory, where cert-manager or an administrator puts it.
package certs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
)

// Source says where the webhook's serving certificate comes from.
type Source string

const (
	// SourceSelf: the operator creates and rotates it.
	SourceSelf Source = "self"
	// SourceCertManager: a cert-manager Certificate, mounted at the cert directory; cert-manager's
	// CA injector sets the caBundle.
	SourceCertManager Source = "cert-manager"
	// SourceDir: files in the cert directory, put there by other means.
	SourceDir Source = "dir"
)

// Options say where the certificate comes from and, for SourceSelf, what it is for.
type Options struct {
	Source Source
	// CertDir is where the webhook server reads tls.crt and tls.key.
	CertDir string
	// Namespace is the operator's namespace, holding the Secret and the webhook Service.
	Namespace string
	// SecretName is the Secret holding the CA and the serving certificate (SourceSelf).
	SecretName string
	// ServiceName is the webhook Service: the certificate is for <service>.<namespace>.svc.
	ServiceName string
	// WebhookConfigName is the ValidatingWebhookConfiguration whose caBundle is kept current.
	WebhookConfigName string
	// ControllerName names the rotator's controller; controller names are unique per process,
	// so only tests that build several managers in one process set it.
	ControllerName string
}

// ParseSource reads the --cert-source flag.
func ParseSource(s string) (Source, error) {
	switch src := Source(s); src {
	case SourceSelf, SourceCertManager, SourceDir:
		return src, nil
	}
	return "", fmt.Errorf("--cert-source is %q; it is one of self, cert-manager or dir", s)
}

// DefaultCertDir is where controller-runtime's webhook server looks when no directory is given.
func DefaultCertDir() string {
	return filepath.Join(os.TempDir(), "k8s-webhook-server", "serving-certs")
}

// Namespace is the namespace the operator runs in: POD_NAMESPACE (set from the downward API),
// else the service account's namespace file, else "caseload-system".
func Namespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil {
		if ns := strings.TrimSpace(string(b)); ns != "" {
			return ns
		}
	}
	return "caseload-system"
}

// SourceSelf needs permissions the operator's role (config/rbac) does not carry, since neither
// shipped install uses it: config/certs-self grants them, by name wherever RBAC can check a
// name (the Secret and the ValidatingWebhookConfiguration; listing and watching, which the
// rotator's informers do, and creating cannot be limited to one name).

// claimSecret makes sure the Secret is the operator's to fill: it creates it empty if the
// manifests did not (the rotator fills a Secret but does not create one; a Deployment that
// mounts it with optional: true starts either way), and refuses a Secret that cert-manager or
// Helm manages. Two issuers writing one Secret would leave the apiserver trusting one CA while
// the server presents the other's certificate, and every allocation refused; better to stop
// at start with the flag to use.
func claimSecret(mgr ctrl.Manager, key types.NamespacedName) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var s corev1.Secret
	err := mgr.GetAPIReader().Get(ctx, key, &s)
	switch {
	case apierrors.IsNotFound(err):
		s = corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name,
			Labels: map[string]string{"app.kubernetes.io/name": "caseload-operator", "app.kubernetes.io/component": "webhook"}}}
		if err := mgr.GetClient().Create(ctx, &s); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create the webhook certificate Secret %s: %w", key, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("read the webhook certificate Secret %s: %w", key, err)
	}
	if owner, flag := ForeignIssuer(&s); owner != "" {
		return fmt.Errorf("the webhook certificate Secret %s is managed by %s: run with --cert-source=%s, or give --cert-secret a Secret of the operator's own", key, owner, flag)
	}
	return nil
}

// ForeignIssuer names who else manages a certificate Secret, and the --cert-source to use with
// it; empty when nobody does.
func ForeignIssuer(s *corev1.Secret) (owner string, source Source) {
	for _, a := range []string{"cert-manager.io/certificate-name", "cert-manager.io/issuer-name"} {
		if _, ok := s.Annotations[a]; ok {
			return "cert-manager", SourceCertManager
		}
	}
	if s.Labels["app.kubernetes.io/managed-by"] == "Helm" {
		return "Helm", SourceDir
	}
	return "", ""
}

// Setup prepares the serving certificate and returns a channel that is closed once the webhook
// server can serve it; its expiry is published as a metric, whatever the source. For SourceSelf it adds the rotator to the manager; every replica runs
// one (they agree through the Secret's resourceVersion), since every replica serves webhooks.
func Setup(mgr ctrl.Manager, o Options) (<-chan struct{}, error) {
	WatchExpiry(o.CertDir)
	ready := make(chan struct{})
	if o.Source != SourceSelf {
		close(ready)
		return ready, nil
	}
	if o.CertDir == "" {
		o.CertDir = DefaultCertDir()
	}
	for flag, v := range map[string]string{"namespace": o.Namespace, "secret": o.SecretName, "service": o.ServiceName, "webhook configuration": o.WebhookConfigName} {
		if v == "" {
			return nil, fmt.Errorf("self-rotated webhook certificates need a %s", flag)
		}
	}
	key := types.NamespacedName{Namespace: o.Namespace, Name: o.SecretName}
	if err := claimSecret(mgr, key); err != nil {
		return nil, err
	}
	dns := fmt.Sprintf("%s.%s.svc", o.ServiceName, o.Namespace)
	err := rotator.AddRotator(mgr, &rotator.CertRotator{
		SecretKey:      key,
		CertDir:        o.CertDir,
		CAName:         "caseload-operator-ca",
		CAOrganization: "caseload-operator",
		DNSName:        dns,
		ExtraDNSNames:  []string{dns + ".cluster.local"},
		IsReady:        ready,
		Webhooks:       []rotator.WebhookInfo{{Name: o.WebhookConfigName, Type: rotator.Validating}},
		// Every replica serves webhooks, so every replica needs the certificate, leader or not.
		RequireLeaderElection: false,
		ControllerName:        o.ControllerName,
	})
	if err != nil {
		return nil, fmt.Errorf("webhook certificate rotation: %w", err)
	}
	return ready, nil
}

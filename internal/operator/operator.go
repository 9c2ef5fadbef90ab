// Package operator assembles the caseload-operator manager: scheme, indexes, reconcilers,
// admission webhooks, health checks. cmd/manager, the `make run` sandbox and the end-to-end
// tests all build the manager here, so they run the same operator.
package operator

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/controllers"
	"caseload.dev/caseload-operator/internal/index"
	"caseload.dev/caseload-operator/internal/policy"
	"caseload.dev/caseload-operator/internal/webhook/certs"
	admission "caseload.dev/caseload-operator/internal/webhook/v1alpha1"
)

// Options are the manager's settings; cmd/manager fills them from flags.
type Options struct {
	// MetricsBindAddress serves Prometheus metrics; "0" turns them off.
	MetricsBindAddress string
	// MetricsSecure serves them over HTTPS to callers the apiserver authenticates (TokenReview)
	// and authorises to get the non-resource URL /metrics (SubjectAccessReview), as the
	// metrics-reader ClusterRole allows. Off: plain HTTP to anyone who can reach the port.
	MetricsSecure bool
	// HealthProbeBindAddress serves /healthz and /readyz; "0" turns them off.
	HealthProbeBindAddress string
	// PprofBindAddress serves Go's profiles (net/http/pprof), for measuring; "" or "0" is off.
	PprofBindAddress string
	// LeaderElection lets several replicas run with one active reconciler.
	LeaderElection          bool
	LeaderElectionNamespace string
	// PractitionerMetrics publishes metrics about individual workers. Off by default: workers'
	// monitoring data is opt-in.
	PractitionerMetrics bool
	// ExceptionApproverServiceAccounts are the service accounts ("namespace/name") that may
	// approve exceptions where RBAC lets them. No other service account may, so that a GitOps
	// controller or any workload with a wildcard role can never approve one.
	ExceptionApproverServiceAccounts []string
	// TimeZone is the IANA time zone in which a council's days are counted when its namespace
	// names none in the caseload.dev/time-zone annotation; empty is UTC.
	TimeZone string
	// ClockOffset shifts the clock this process tells the time by (the reconcilers' days and
	// timing, admission's timing of ledger entries) by a fixed amount. It exists to test that
	// replicas whose clocks disagree still decide exactly, and for `make docs-outputs`, which
	// runs the sandbox's operator from a fixed day (hack/docs-outputs); 0 everywhere else.
	ClockOffset time.Duration

	// Webhooks serves the admission webhooks.
	Webhooks       bool
	WebhookHost    string
	WebhookPort    int
	WebhookCertDir string
	// WebhookHTTP2 lets the webhook server speak HTTP/2. Off by default, as kubebuilder's
	// scaffold has it: HTTP/2 rapid reset (CVE-2023-44487), and one multiplexed connection from
	// the apiserver would send every admission request to a single replica.
	WebhookHTTP2 bool
	// WebhookCerts say where the serving certificate comes from; the zero value reads it from
	// WebhookCertDir, whose CertDir it takes.
	WebhookCerts certs.Options
}

// webhookTLS restricts the webhook server to HTTP/1.1 unless HTTP/2 is asked for.
func webhookTLS(opts Options) []func(*tls.Config) {
	if opts.WebhookHTTP2 {
		return nil
	}
	return []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }}
}

// metricsOptions serves the metrics over HTTPS behind the apiserver's authentication and
// authorisation when MetricsSecure is set: team loads, and with --practitioner-metrics each
// worker's, are for the people allowed to read them, not for every pod that can reach the port.
// The serving certificate is self-signed unless one is mounted; scrapers present a token.
func metricsOptions(opts Options) metricsserver.Options {
	m := metricsserver.Options{BindAddress: opts.MetricsBindAddress}
	if opts.MetricsSecure {
		m.SecureServing = true
		m.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	return m
}

// Scheme has the kinds the operator reads and writes.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1alpha1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}

// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// New builds the manager with every index, reconciler and (when asked) webhook set up.
func New(ctx context.Context, cfg *rest.Config, opts Options) (ctrl.Manager, error) {
	cal, err := policy.LoadCalendar(opts.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("--time-zone: %w", err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  Scheme(),
		Cache:                   cache.Options{DefaultTransform: leanForCache},
		Metrics:                 metricsOptions(opts),
		HealthProbeBindAddress:  opts.HealthProbeBindAddress,
		PprofBindAddress:        opts.PprofBindAddress,
		LeaderElection:          opts.LeaderElection,
		LeaderElectionID:        "caseload-operator.caseload.dev",
		LeaderElectionNamespace: opts.LeaderElectionNamespace,
		// A replica that stops (a rolling update, a drained node) hands the lease back once its
		// reconcilers have stopped, so the next leader starts at once rather than after the
		// lease runs out. The binary exits as soon as the manager returns.
		LeaderElectionReleaseOnCancel: true,
		WebhookServer: webhook.NewServer(webhook.Options{
			Host:    opts.WebhookHost,
			Port:    opts.WebhookPort,
			CertDir: opts.WebhookCertDir,
			TLSOpts: webhookTLS(opts),
		}),
	})
	if err != nil {
		return nil, fmt.Errorf("create manager: %w", err)
	}
	if err := index.Setup(ctx, mgr.GetFieldIndexer()); err != nil {
		return nil, err
	}
	clk := clockOf(opts)
	if err := controllers.Setup(mgr, controllers.Options{PractitionerMetrics: opts.PractitionerMetrics, Calendar: cal, Clock: clk}); err != nil {
		return nil, err
	}
	if opts.Webhooks {
		c := opts.WebhookCerts
		c.CertDir = opts.WebhookCertDir
		ready, err := certs.Setup(mgr, c)
		if err != nil {
			return nil, err
		}
		if err := admission.Setup(mgr, ready, admission.Options{Calendar: cal, ServiceAccountApprovers: opts.ExceptionApproverServiceAccounts, Now: clk.Now}); err != nil {
			return nil, err
		}
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("caches", cachesSynced(mgr.GetCache())); err != nil {
		return nil, err
	}
	return mgr, nil
}

// clockOf is the clock the process tells the time by: the real one, shifted by ClockOffset.
func clockOf(opts Options) clock.PassiveClock {
	if opts.ClockOffset == 0 {
		return clock.RealClock{}
	}
	return skewedClock{offset: opts.ClockOffset}
}

// skewedClock is the real clock a fixed offset ahead (or behind, when negative): the clock of a
// machine whose time is off its neighbours'. It runs at the real rate.
type skewedClock struct{ offset time.Duration }

func (c skewedClock) Now() time.Time                  { return time.Now().Add(c.offset) }
func (c skewedClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// lastApplied is the annotation kubectl apply keeps a whole copy of the object in.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// leanForCache drops from every object the informers cache what nothing of the operator reads:
// managedFields, and the copy of the object kubectl apply keeps in an annotation. They are most
// of a small object's size, and a council platform caches hundreds of thousands of Cases.
func leanForCache(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
		if a := m.GetAnnotations(); a[lastApplied] != "" {
			delete(a, lastApplied)
			m.SetAnnotations(a)
		}
	}
	return obj, nil
}

// syncer is what cachesSynced asks: the manager's cache.
type syncer interface {
	WaitForCacheSync(ctx context.Context) bool
}

// cachesSynced is a readiness check that passes only once every informer has listed what it
// watches. A replica that answered admission from a cache still filling would count a team as
// emptier than it is; until then the Service sends it nothing.
func cachesSynced(c syncer) healthz.Checker {
	return func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), 100*time.Millisecond)
		defer cancel()
		if !c.WaitForCacheSync(ctx) {
			return errors.New("the caches have not synced yet")
		}
		return nil
	}
}

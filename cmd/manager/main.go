// Command manager runs caseload-operator: the reconcilers that keep Teams, Practitioners, Cases
// and CaseloadQuotas' status current, and the admission webhook that refuses allocations over a
// weighted cap.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	_ "time/tzdata" // councils' time zones, whatever the container image holds

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"caseload.dev/caseload-operator/internal/operator"
	"caseload.dev/caseload-operator/internal/webhook/certs"
)

func main() {
	var opts operator.Options
	flag.StringVar(&opts.MetricsBindAddress, "metrics-bind-address", ":8443", "The address the Prometheus metrics endpoint binds to; 0 turns it off.")
	flag.BoolVar(&opts.MetricsSecure, "metrics-secure", true, "Serve metrics over HTTPS, only to callers whose token the apiserver authenticates and authorises to get /metrics (the metrics-reader ClusterRole). false: plain HTTP to anyone who can reach the port.")
	flag.StringVar(&opts.HealthProbeBindAddress, "health-probe-bind-address", ":8081", "The address the /healthz and /readyz probes bind to.")
	flag.StringVar(&opts.PprofBindAddress, "pprof-bind-address", "0", "The address Go's profiles (net/http/pprof) are served on, for measuring; 0 turns them off.")
	flag.BoolVar(&opts.LeaderElection, "leader-elect", false, "Elect a leader, so that only one of several replicas reconciles.")
	flag.StringVar(&opts.LeaderElectionNamespace, "leader-election-namespace", "", "The namespace of the leader-election Lease (defaults to the pod's namespace).")
	flag.BoolVar(&opts.PractitionerMetrics, "practitioner-metrics", false, "Publish metrics about individual practitioners. Off by default: workers' monitoring data is opt-in.")
	flag.Func("exception-approver-service-accounts", "A service account (namespace/name) that may approve exceptions where RBAC lets it; repeat or separate with commas. No other service account may: an exception is a named manager's decision, never a GitOps controller's.", func(v string) error {
		for _, sa := range strings.Split(v, ",") {
			if ns, name, ok := strings.Cut(strings.TrimSpace(sa), "/"); !ok || ns == "" || name == "" {
				return fmt.Errorf("%q is not namespace/name", sa)
			}
			opts.ExceptionApproverServiceAccounts = append(opts.ExceptionApproverServiceAccounts, strings.TrimSpace(sa))
		}
		return nil
	})
	flag.StringVar(&opts.TimeZone, "time-zone", "UTC", "The IANA time zone (e.g. Europe/London) in which councils' days are counted, where a namespace names none in its caseload.dev/time-zone annotation.")
	flag.DurationVar(&opts.ClockOffset, "clock-offset", 0, "For testing clock skew only: shift this replica's clock by this much (e.g. 5m or -5m). Never set it in a council's deployment.")
	flag.BoolVar(&opts.Webhooks, "enable-webhooks", true, "Serve the admission webhooks.")
	flag.StringVar(&opts.WebhookHost, "webhook-host", "", "The address the webhook server listens on (all addresses when empty).")
	flag.IntVar(&opts.WebhookPort, "webhook-port", 9443, "The port the webhook server listens on.")
	flag.StringVar(&opts.WebhookCertDir, "webhook-cert-dir", "", "The directory holding tls.crt and tls.key for the webhook server.")
	certSource := flag.String("cert-source", string(certs.SourceSelf), "Where the webhook's serving certificate comes from: self (the operator issues and rotates it in --cert-secret and sets the caBundle), cert-manager or dir (read from --webhook-cert-dir).")
	flag.StringVar(&opts.WebhookCerts.SecretName, "cert-secret", "caseload-webhook-server-cert", "With --cert-source=self: the Secret, in the operator's namespace, that holds the CA and serving certificate (mount it at --webhook-cert-dir).")
	flag.StringVar(&opts.WebhookCerts.ServiceName, "webhook-service", "caseload-webhook-service", "With --cert-source=self: the webhook Service the certificate is for.")
	flag.StringVar(&opts.WebhookCerts.WebhookConfigName, "webhook-config", "caseload-validating-webhook-configuration", "With --cert-source=self: the ValidatingWebhookConfiguration whose caBundle the operator keeps current.")
	flag.BoolVar(&opts.WebhookHTTP2, "enable-http2", false, "Let the webhook server speak HTTP/2 (off: HTTP/2 rapid-reset hardening, and HTTP/1.1 spreads admission requests over replicas).")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	source, err := certs.ParseSource(*certSource)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	opts.WebhookCerts.Source, opts.WebhookCerts.Namespace = source, certs.Namespace()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")

	ctx := ctrl.SetupSignalHandler()
	mgr, err := operator.New(ctx, ctrl.GetConfigOrDie(), opts)
	if err != nil {
		log.Error(err, "unable to build the manager")
		os.Exit(1)
	}
	log.Info("starting caseload-operator")
	if err := mgr.Start(ctx); err != nil {
		log.Error(err, "manager stopped with an error")
		os.Exit(1)
	}
}

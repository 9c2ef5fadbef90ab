// Command manager runs caseload-operator: the reconcilers that keep Teams, Practitioners, Cases
// and CaseloadQuotas' status current, and the admission webhook that refuses allocations over a
// weighted cap.
package main

import (
	"flag"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"caseload.dev/caseload-operator/internal/operator"
)

func main() {
	var opts operator.Options
	flag.StringVar(&opts.MetricsBindAddress, "metrics-bind-address", ":8080", "The address the Prometheus metrics endpoint binds to; 0 turns it off.")
	flag.StringVar(&opts.HealthProbeBindAddress, "health-probe-bind-address", ":8081", "The address the /healthz and /readyz probes bind to.")
	flag.BoolVar(&opts.LeaderElection, "leader-elect", false, "Elect a leader, so that only one of several replicas reconciles.")
	flag.StringVar(&opts.LeaderElectionNamespace, "leader-election-namespace", "", "The namespace of the leader-election Lease (defaults to the pod's namespace).")
	flag.BoolVar(&opts.PractitionerMetrics, "practitioner-metrics", false, "Publish metrics about individual practitioners. Off by default: workers' monitoring data is opt-in.")
	flag.BoolVar(&opts.Webhooks, "enable-webhooks", true, "Serve the admission webhooks.")
	flag.StringVar(&opts.WebhookHost, "webhook-host", "", "The address the webhook server listens on (all addresses when empty).")
	flag.IntVar(&opts.WebhookPort, "webhook-port", 9443, "The port the webhook server listens on.")
	flag.StringVar(&opts.WebhookCertDir, "webhook-cert-dir", "", "The directory holding tls.crt and tls.key for the webhook server.")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
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

// Package inprocess starts the operator inside a test's own process against an envtest control
// plane: the reconcilers and the admission webhooks, serving TLS where envtest's webhook
// configuration has the apiserver call them. End-to-end tests run the real binary instead
// (test/harness).
package inprocess

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	"caseload.dev/caseload-operator/internal/operator"
	"caseload.dev/caseload-operator/internal/testenv"
)

// Start runs the operator until ctx ends, with opts and the webhook address and certificates of
// env, and returns its manager once its cache has synced and its webhook server serves TLS.
func Start(ctx context.Context, env *testenv.Env, opts operator.Options) (ctrl.Manager, error) {
	wio := env.Environment.WebhookInstallOptions
	opts.MetricsBindAddress, opts.HealthProbeBindAddress = "0", "0"
	opts.Webhooks, opts.WebhookHost, opts.WebhookPort, opts.WebhookCertDir = true, wio.LocalServingHost, wio.LocalServingPort, wio.LocalServingCertDir
	mgr, err := operator.New(ctx, env.Config, opts)
	if err != nil {
		return nil, err
	}
	stopped := make(chan error, 1)
	go func() { stopped <- mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		select {
		case err := <-stopped:
			return nil, fmt.Errorf("the operator stopped before its cache synced: %w", err)
		default:
			return nil, fmt.Errorf("the operator's cache did not sync: %w", ctx.Err())
		}
	}
	addr := net.JoinHostPort(wio.LocalServingHost, strconv.Itoa(wio.LocalServingPort))
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // probing only
		if err == nil {
			return mgr, conn.Close()
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the webhook server at %s never served TLS: %w", addr, err)
		}
	}
}

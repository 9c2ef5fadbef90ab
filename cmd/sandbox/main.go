// Command sandbox is what `make run` starts: a local control plane (kube-apiserver and etcd,
// from envtest's binaries), the CRDs and webhook configuration, the sample council, and the
// operator built as cmd/manager builds it, with its TLS webhook. It is for trying the operator
// on a laptop; it links envtest, which the production manager never does.
package main

import (
	"flag"
	"fmt"
	"os"
	_ "time/tzdata" // councils' time zones, whatever the machine holds

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"caseload.dev/caseload-operator/internal/operator"
	"caseload.dev/caseload-operator/internal/sandbox"
	"caseload.dev/caseload-operator/internal/testenv"
)

func main() {
	var sb sandbox.Options
	var opts operator.Options
	flag.StringVar(&sb.Kubeconfig, "kubeconfig-out", "bin/sandbox.kubeconfig", "Where to write the kubeconfig of the sandbox's admin user.")
	flag.StringVar(&sb.DataDir, "data-dir", "", "Keep etcd's data in this directory and reuse it on the next start (empty: start fresh every time).")
	flag.StringVar(&sb.Samples, "samples", "config/samples/council", "The YAML loaded at start, in file-name order (empty: none).")
	flag.StringVar(&sb.LogFile, "log", "bin/sandbox.log", "Where the operator's log goes (\"-\" for stderr), keeping the terminal for the try-next text.")
	// Metrics and probes stay off unless asked for: the sandbox is reached through kubectl.
	flag.StringVar(&opts.MetricsBindAddress, "metrics-bind-address", "0", "The address the operator's metrics endpoint binds to; 0 turns it off.")
	flag.StringVar(&opts.HealthProbeBindAddress, "health-probe-bind-address", "0", "The address the /healthz and /readyz probes bind to; 0 turns them off.")
	flag.BoolVar(&opts.PractitionerMetrics, "practitioner-metrics", false, "Publish metrics about individual practitioners.")
	flag.StringVar(&opts.TimeZone, "time-zone", "UTC", "The IANA time zone in which councils' days are counted where a namespace names none.")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	os.Exit(run(sb, opts, zapOpts))
}

// run runs the operator on its own local control plane until SIGINT or SIGTERM.
func run(sb sandbox.Options, opts operator.Options, zapOpts zap.Options) int {
	ctx, cancel := sandbox.SignalContext("sandbox")
	defer cancel()

	fail := func(err error) int { fmt.Fprintln(os.Stderr, "sandbox:", err); return 1 }
	logTo := os.Stderr
	if sb.LogFile != "-" {
		f, err := os.OpenFile(sb.LogFile, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return fail(err)
		}
		defer f.Close()
		logTo = f
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts), zap.WriteTo(logTo)))

	var err error
	if sb.Root, err = testenv.Root(); err != nil {
		return fail(err)
	}
	if sb.Assets, err = testenv.Assets(sb.Root); err != nil {
		return fail(err)
	}
	sb.Operator, sb.Out = opts, os.Stdout

	if err := sandbox.Run(ctx, sb); err != nil {
		return fail(err)
	}
	return 0
}

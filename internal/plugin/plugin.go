// Package plugin is `kubectl caseload`: what a team manager and a platform team reach for instead
// of reading YAML. It reads the status the operator keeps (so it costs the same for 30 cases or
// 300,000) and asks the admission webhook itself, by server-side dry run, what it would decide.
package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

// ExitError ends the command with Code, having printed what it had to say.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }

// Option changes how the command runs.
type Option func(*options)

// WithClock tells the time by c instead of the system clock: "today" in every council's
// calendar, how long cases have waited, when a report is as at.
func WithClock(c clock.PassiveClock) Option { return func(o *options) { o.clock = c.Now } }

// Run runs the command line args and returns the process's exit code: 0, 1 for a refusal or
// an error, or what the command's ExitError says.
func Run(args []string, streams genericiooptions.IOStreams, opts ...Option) int {
	cmd := NewCommand(streams, opts...)
	cmd.SetArgs(args)
	err := cmd.Execute()
	var exit *ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.Code
	}
	fmt.Fprintln(streams.ErrOut, "error:", err)
	return 1
}

// options are the flags every subcommand shares: kubectl's own (--kubeconfig, --context,
// --namespace, ...), --all-namespaces and --output.
type options struct {
	config        *genericclioptions.ConfigFlags
	streams       genericiooptions.IOStreams
	allNamespaces bool
	output        string
	// timeZone is --time-zone: the IANA zone of a council whose Namespace names none or cannot be read.
	timeZone string
	// warnings collects the admission warnings of the last request.
	warnings *warningCollector
	// clock tells the time; the package's clock (now) when nil.
	clock func() time.Time
}

// now is the time by the command's clock.
func (o *options) now() time.Time {
	if o.clock != nil {
		return o.clock()
	}
	return now()
}

// NewCommand is `kubectl caseload` with its subcommands.
func NewCommand(streams genericiooptions.IOStreams, opts ...Option) *cobra.Command {
	o := &options{config: genericclioptions.NewConfigFlags(true), streams: streams, warnings: &warningCollector{}}
	for _, opt := range opts {
		opt(o)
	}
	cmd := &cobra.Command{
		Use:           "kubectl-caseload",
		Short:         "Caseloads, capacity and admission decisions of caseload-operator",
		Long:          "kubectl caseload shows teams' and practitioners' caseloads against their capacity, and asks the operator's admission webhook what it would decide about an allocation.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl caseload"},
	}
	o.config.AddFlags(cmd.PersistentFlags())
	cmd.PersistentFlags().BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "Every council (namespace) you can read, instead of one.")
	cmd.PersistentFlags().StringVarP(&o.output, "output", "o", "table", "Output format: table, wide, json or yaml.")
	cmd.PersistentFlags().StringVar(&o.timeZone, "time-zone", "", "The IANA time zone (such as Europe/London) to count a council's days in where its Namespace names none in "+
		v1alpha1.TimeZoneAnnotation+" or you may not read it: the manager's own --time-zone. Default UTC, as the manager's.")
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)
	cmd.AddCommand(newVersionCommand(o), newTopCommand(o), newExplainCommand(o), newSuggestCommand(o), newSnapshotCommand(o), newPlanCommand(o), newVerifyCommand(o), newForecastCommand(o))
	cmd.AddCommand(newReportCommand(o), newImportCommand(o), newRestoreCommand(o))
	return cmd
}

// scheme knows the caseload.dev kinds and Kubernetes' own.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}()

// restConfig is the connection the flags name, with admission warnings collected rather than
// printed by client-go.
func (o *options) restConfig() (*rest.Config, error) {
	cfg, err := o.config.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandlerWithContext = o.warnings
	return cfg, nil
}

// client is a client of the cluster the flags name.
func (o *options) client() (client.Client, error) {
	cfg, err := o.restConfig()
	if err != nil {
		return nil, err
	}
	return client.New(cfg, client.Options{Scheme: scheme})
}

// clientIn is a client of the cluster and the council the command is about.
func (o *options) clientIn() (client.Client, string, error) {
	c, err := o.client()
	if err != nil {
		return nil, "", err
	}
	ns, err := o.namespace()
	return c, ns, err
}

// list lists into l what the command is about: the council's, or every council's with -A.
func (o *options) list(ctx context.Context, l client.ObjectList) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	opts, err := o.listOptions()
	if err != nil {
		return err
	}
	return c.List(ctx, l, opts...)
}

// namespace is the council the command is about: --namespace, or the kubeconfig context's.
func (o *options) namespace() (string, error) {
	ns, _, err := o.config.ToRawKubeConfigLoader().Namespace()
	return ns, err
}

// listOptions limits a list to the namespace, unless --all-namespaces.
func (o *options) listOptions() ([]client.ListOption, error) {
	if o.allNamespaces {
		return nil, nil
	}
	ns, err := o.namespace()
	if err != nil {
		return nil, err
	}
	return []client.ListOption{client.InNamespace(ns)}, nil
}

// colour reports whether output goes to a terminal and NO_COLOR is not set (https://no-color.org).
func colour(out io.Writer) bool {
	if v, ok := os.LookupEnv("NO_COLOR"); ok && v != "" {
		return false
	}
	return isTerminal(out)
}

// isTerminal reports whether out is a terminal.
var isTerminal = func(out io.Writer) bool {
	f, ok := out.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

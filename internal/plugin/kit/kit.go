// Package kit is what every `kubectl caseload` command shares: kubectl's own flags and the
// connection they name, the council's calendar, printing in the format --output asks for, the
// webhook's refusals read back as reasons, and the exit status a command ends with.
//
// A command keeps its own flags in its own Options, holding a *Flags for these.
package kit

import (
	"context"
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
	"sigs.k8s.io/controller-runtime/pkg/client"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

// ExitError ends the command with Code, having printed what it had to say.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }

// Flags are what every command shares: kubectl's flags (--kubeconfig, --context, --namespace,
// ...), --all-namespaces, --output and --time-zone, the streams it writes to and the clock it
// tells the time by.
type Flags struct {
	Config        *genericclioptions.ConfigFlags
	Streams       genericiooptions.IOStreams
	AllNamespaces bool
	Output        string
	// TimeZone is --time-zone: the IANA zone of a council whose Namespace names none or cannot
	// be read.
	TimeZone string
	// Warnings collects the admission warnings of the requests made.
	Warnings *WarningCollector
	// Clock tells the time; the system's when nil.
	Clock func() time.Time
}

// NewFlags are the shared flags of a command writing to streams, before the command line is read.
func NewFlags(streams genericiooptions.IOStreams) *Flags {
	return &Flags{Config: genericclioptions.NewConfigFlags(true), Streams: streams, Warnings: &WarningCollector{}}
}

// AddFlags puts the shared flags on cmd, for it and every subcommand.
func (f *Flags) AddFlags(cmd *cobra.Command) {
	f.Config.AddFlags(cmd.PersistentFlags())
	cmd.PersistentFlags().BoolVarP(&f.AllNamespaces, "all-namespaces", "A", false, "Every council (namespace) you can read, instead of one.")
	cmd.PersistentFlags().StringVarP(&f.Output, "output", "o", "table", "Output format: table, wide, json or yaml.")
	cmd.PersistentFlags().StringVar(&f.TimeZone, "time-zone", "", "The IANA time zone (such as Europe/London) to count a council's days in where its Namespace names none in "+
		v1alpha1.TimeZoneAnnotation+" or you may not read it: the manager's own --time-zone. Default UTC, as the manager's.")
}

// Now is the time by the command's clock.
func (f *Flags) Now() time.Time {
	if f.Clock != nil {
		return f.Clock()
	}
	return time.Now()
}

// Scheme knows the caseload.dev kinds and Kubernetes' own.
var Scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}()

// RESTConfig is the connection the flags name, with admission warnings collected rather than
// printed by client-go.
func (f *Flags) RESTConfig() (*rest.Config, error) {
	cfg, err := f.Config.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandlerWithContext = f.Warnings
	return cfg, nil
}

// Client is a client of the cluster the flags name.
func (f *Flags) Client() (client.Client, error) {
	cfg, err := f.RESTConfig()
	if err != nil {
		return nil, err
	}
	return client.New(cfg, client.Options{Scheme: Scheme})
}

// ClientIn is a client of the cluster and the council the command is about.
func (f *Flags) ClientIn() (client.Client, string, error) {
	c, err := f.Client()
	if err != nil {
		return nil, "", err
	}
	ns, err := f.Namespace()
	return c, ns, err
}

// List lists into l what the command is about: the council's, or every council's with -A.
func (f *Flags) List(ctx context.Context, l client.ObjectList) error {
	c, err := f.Client()
	if err != nil {
		return err
	}
	opts, err := f.ListOptions()
	if err != nil {
		return err
	}
	return c.List(ctx, l, opts...)
}

// Namespace is the council the command is about: --namespace, or the kubeconfig context's.
func (f *Flags) Namespace() (string, error) {
	ns, _, err := f.Config.ToRawKubeConfigLoader().Namespace()
	return ns, err
}

// ListOptions limit a list to the namespace, unless --all-namespaces.
func (f *Flags) ListOptions() ([]client.ListOption, error) {
	if f.AllNamespaces {
		return nil, nil
	}
	ns, err := f.Namespace()
	if err != nil {
		return nil, err
	}
	return []client.ListOption{client.InNamespace(ns)}, nil
}

// Colour reports whether output goes to a terminal and NO_COLOR is not set (https://no-color.org).
func Colour(out io.Writer) bool {
	if v, ok := os.LookupEnv("NO_COLOR"); ok && v != "" {
		return false
	}
	return IsTerminal(out)
}

// IsTerminal reports whether out is a terminal: a file that is one, or a writer that says it is
// (IsTerminal() bool), as a test's stand-in for one does.
func IsTerminal(out io.Writer) bool {
	if t, ok := out.(interface{ IsTerminal() bool }); ok {
		return t.IsTerminal()
	}
	f, ok := out.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Command is a command's Options as kubectl's own commands shape them: completed from the
// arguments, validated, then run.
type Command interface {
	Complete(args []string) error
	Validate() error
	Run(ctx context.Context) error
}

// TeamArg is the optional TEAM argument of a command that shows one team or every team: ""
// (every team) when it is not given.
func TeamArg(args []string) string {
	if len(args) == 1 {
		return args[0]
	}
	return ""
}

// RunE runs c as a cobra command's RunE: Complete, Validate, Run, stopping at the first error.
func RunE(c Command) func(cmd *cobra.Command, args []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := c.Complete(args); err != nil {
			return err
		}
		if err := c.Validate(); err != nil {
			return err
		}
		return c.Run(cmd.Context())
	}
}

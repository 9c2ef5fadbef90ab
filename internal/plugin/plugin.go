// Package plugin is `kubectl caseload`: what a team manager and a platform team reach for instead
// of reading YAML. It reads the status the operator keeps (so it costs the same for 30 cases or
// 300,000) and asks the admission webhook itself, by server-side dry run, what it would decide.
//
// This package is the root command only. What every command shares is in kit; caseloads against
// capacity in top; admission's answer about an allocation in explain, and who could take a case
// in suggest; the snapshot world and the snapshot command in offline; plan and verify, which try
// a council's policy before it is merged, in plan; import and restore in importer; the health
// check in report; the weeks ahead in forecast; who takes each waiting case in allocate; the
// plugin's release in version.
package plugin

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/utils/clock"

	"caseload.dev/caseload-operator/internal/plugin/allocate"
	"caseload.dev/caseload-operator/internal/plugin/explain"
	"caseload.dev/caseload-operator/internal/plugin/forecast"
	"caseload.dev/caseload-operator/internal/plugin/importer"
	"caseload.dev/caseload-operator/internal/plugin/kit"
	"caseload.dev/caseload-operator/internal/plugin/offline"
	"caseload.dev/caseload-operator/internal/plugin/plan"
	"caseload.dev/caseload-operator/internal/plugin/report"
	"caseload.dev/caseload-operator/internal/plugin/suggest"
	"caseload.dev/caseload-operator/internal/plugin/top"
	"caseload.dev/caseload-operator/internal/plugin/version"
)

// ExitError ends the command with Code, having printed what it had to say.
type ExitError = kit.ExitError

// Option changes how the command runs.
type Option func(*options)

// WithClock tells the time by c instead of the system clock: "today" in every council's
// calendar, how long cases have waited, when a report is as at.
func WithClock(c clock.PassiveClock) Option { return func(o *options) { o.Clock = c.Now } }

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

// options are what every subcommand shares (the command kit's flags, streams and clock), for
// the commands not yet in packages of their own.
type options struct{ *kit.Flags }

// NewCommand is `kubectl caseload` with its subcommands.
func NewCommand(streams genericiooptions.IOStreams, opts ...Option) *cobra.Command {
	o := &options{Flags: kit.NewFlags(streams)}
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
	o.AddFlags(cmd)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)
	cmd.AddCommand(version.NewCommand(o.Flags), top.NewCommand(o.Flags), explain.NewCommand(o.Flags), suggest.NewCommand(o.Flags), offline.NewSnapshotCommand(o.Flags),
		plan.NewPlanCommand(o.Flags), plan.NewVerifyCommand(o.Flags), forecast.NewCommand(o.Flags), allocate.NewCommand(o.Flags))
	cmd.AddCommand(report.NewCommand(o.Flags), importer.NewImportCommand(o.Flags), importer.NewRestoreCommand(o.Flags))
	return cmd
}

// Package top is `kubectl caseload top`: caseloads against capacity, fullest first, as the
// operator keeps them in status. `top teams` shows every team of the council with the work
// waiting for it; `top practitioners [TEAM]` (or `top [TEAM]`) each practitioner of a team or of
// the council. Both are one list call, so they cost the same for 30 cases or 300,000.
package top

import (
	"github.com/spf13/cobra"

	"caseload.dev/caseload-operator/internal/plugin/kit"
)

// NewCommand is `kubectl caseload top`, with its subcommands teams and practitioners. Without
// a subcommand it is practitioners: `top TEAM` shows a team's practitioners, as it always has.
func NewCommand(f *kit.Flags) *cobra.Command {
	o := &PractitionersOptions{Flags: f}
	cmd := &cobra.Command{
		Use:   "top [TEAM]",
		Short: "Caseloads against capacity, fullest first: a team's practitioners (top [TEAM]), or every team (top teams)",
		Long: "kubectl caseload top shows caseloads against capacity, fullest first, from the status the operator keeps. " +
			"top teams shows each team's capacity, weight, band, unallocated and overdue cases and cases needing cover; " +
			"top practitioners [TEAM] each practitioner's cases, children, weight, capacity and headroom, for one team or " +
			"every team of the council. top [TEAM] is top practitioners [TEAM].",
		Example: "  kubectl caseload -n brookfield top teams\n" +
			"  kubectl caseload -n brookfield top practitioners child-protection\n" +
			"  kubectl caseload -A top teams -o wide",
		Args: cobra.MaximumNArgs(1),
		RunE: kit.RunE(o),
	}
	cmd.AddCommand(newTeamsCommand(f), newPractitionersCommand(f))
	return cmd
}

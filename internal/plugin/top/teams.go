package top

import (
	"context"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/plugin/kit"
)

// TeamsOptions are `kubectl caseload top teams`'s: the shared flags only, since it shows every
// team of the council (or of every council with -A).
type TeamsOptions struct {
	*kit.Flags
}

func newTeamsCommand(f *kit.Flags) *cobra.Command {
	o := &TeamsOptions{Flags: f}
	return &cobra.Command{
		Use:     "teams",
		Aliases: []string{"team"},
		Short:   "Every team's caseload against capacity, fullest first, with the work waiting",
		Long: "kubectl caseload top teams shows each team's capacity, weight, band, unallocated cases and the oldest of them, " +
			"overdue cases and cases needing cover, fullest first, from the status the operator keeps. -o wide adds " +
			"practitioners, availability, FTE, cases, headroom, practitioners over capacity and the quota.",
		Args: cobra.NoArgs,
		RunE: kit.RunE(o),
	}
}

// Complete has nothing to take from the arguments: cobra has refused any.
func (o *TeamsOptions) Complete([]string) error { return nil }

// Validate has nothing to check: every team is shown.
func (o *TeamsOptions) Validate() error { return nil }

// teamRow is a team as top teams shows it, and as -o json and -o yaml give it.
type teamRow struct {
	Namespace             string `json:"namespace"`
	Name                  string `json:"name"`
	Practitioners         int32  `json:"practitioners"`
	Available             int32  `json:"availablePractitioners"`
	AvailableFTE          string `json:"availableFTE"`
	Cases                 int32  `json:"cases"`
	Capacity              string `json:"capacity"`
	Weight                string `json:"weight"`
	Headroom              string `json:"headroom"`
	UtilisationPercent    int32  `json:"utilisationPercent"`
	Band                  string `json:"band"`
	Unallocated           int32  `json:"unallocated"`
	OldestUnallocatedDays int32  `json:"oldestUnallocatedDays"`
	Overdue               int32  `json:"overdueCases"`
	NeedingCover          int32  `json:"casesNeedingCover"`
	OverCapacity          int32  `json:"overCapacityPractitioners"`
	Quota                 string `json:"quota,omitempty"`
}

func (r teamRow) rank() (int32, string) { return r.UtilisationPercent, r.Namespace + "/" + r.Name }

// Run prints the teams, fullest first, from their status.
func (o *TeamsOptions) Run(ctx context.Context) error {
	var list v1alpha1.TeamList
	if err := o.List(ctx, &list); err != nil {
		return err
	}
	var rows []teamRow
	for _, tm := range list.Items {
		s := tm.Status
		rows = append(rows, teamRow{Namespace: tm.Namespace, Name: tm.Name, Practitioners: s.Practitioners, Available: s.AvailablePractitioners,
			AvailableFTE: kit.OrDash(string(s.AvailableFTE)), Cases: s.Cases, Capacity: kit.OrDash(string(s.Capacity)), Weight: kit.OrDash(string(s.Weight)),
			Headroom: kit.OrDash(string(s.Headroom)), UtilisationPercent: s.UtilisationPercent, Band: string(s.Band), Unallocated: s.Unallocated,
			OldestUnallocatedDays: s.OldestUnallocatedDays, Overdue: s.OverdueCases, NeedingCover: s.CasesNeedingCover,
			OverCapacity: s.OverCapacityPractitioners, Quota: s.Quota})
	}
	if len(rows) == 0 {
		return o.Nothing(ctx, "teams", "")
	}
	fullestFirst(rows)
	t := kit.Table{Headers: []string{"TEAM", "CAPACITY", "WEIGHT", "UNALLOCATED", "OLDEST UNALLOCATED", "OVERDUE", "NEEDING COVER", "UTILISATION"},
		Wide: []string{"PRACTITIONERS", "AVAILABLE", "AVAILABLE FTE", "CASES", "HEADROOM", "OVER CAPACITY", "QUOTA"}, Items: rows}
	if o.AllNamespaces {
		t.Headers = append([]string{"NAMESPACE"}, t.Headers...)
	}
	for _, r := range rows {
		oldest := "-"
		if r.Unallocated > 0 {
			oldest = fmt.Sprintf("%dd", r.OldestUnallocatedDays)
		}
		row := []string{r.Name, r.Capacity, r.Weight, strconv.Itoa(int(r.Unallocated)), oldest, strconv.Itoa(int(r.Overdue)),
			strconv.Itoa(int(r.NeedingCover)), kit.Bar(r.UtilisationPercent, v1alpha1.Band(r.Band))}
		if o.AllNamespaces {
			row = append([]string{r.Namespace}, row...)
		}
		t.Rows = append(t.Rows, row)
		t.Bands = append(t.Bands, v1alpha1.Band(r.Band))
		t.WideRows = append(t.WideRows, []string{strconv.Itoa(int(r.Practitioners)), strconv.Itoa(int(r.Available)), r.AvailableFTE,
			strconv.Itoa(int(r.Cases)), r.Headroom, strconv.Itoa(int(r.OverCapacity)), kit.OrDash(r.Quota)})
	}
	return o.Print(t)
}

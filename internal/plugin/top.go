package plugin

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"github.com/spf13/cobra"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/plugin/kit"
)

func newTopCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "top [TEAM | teams]",
		Short: "Practitioners' caseloads against capacity, fullest first; or every team's (top teams)",
		Long: "kubectl caseload top shows each practitioner's cases, children, weight, capacity and headroom, fullest first, " +
			"for one team or every team of the council. kubectl caseload top teams shows each team's capacity, weight, band, " +
			"unallocated and overdue cases and cases needing cover. Both read the status the operator keeps.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 && args[0] == "teams" {
				return o.topTeams(cmd.Context())
			}
			team := ""
			if len(args) == 1 {
				team = args[0]
			}
			return o.topPractitioners(cmd.Context(), team)
		},
	}
}

// practitionerRow is a practitioner as top shows them, and as -o json and -o yaml give them.
type practitionerRow struct {
	Namespace          string `json:"namespace"`
	Name               string `json:"name"`
	Team               string `json:"team"`
	Grade              string `json:"grade"`
	FTE                string `json:"fte"`
	Available          bool   `json:"available"`
	Cases              int32  `json:"cases"`
	Children           int32  `json:"children"`
	Weight             string `json:"weight"`
	Capacity           string `json:"capacity"`
	Headroom           string `json:"headroom"`
	UtilisationPercent int32  `json:"utilisationPercent"`
	Band               string `json:"band"`
	Quota              string `json:"quota,omitempty"`
}

func (o *options) topPractitioners(ctx context.Context, team string) error {
	var list v1alpha1.PractitionerList
	if err := o.List(ctx, &list); err != nil {
		return err
	}
	var rows []practitionerRow
	for _, p := range list.Items {
		if team != "" && p.Spec.Team != team {
			continue
		}
		s := p.Status
		rows = append(rows, practitionerRow{Namespace: p.Namespace, Name: p.Name, Team: p.Spec.Team, Grade: p.Spec.Grade, FTE: kit.OrDash(string(p.Spec.FTE)),
			Available: s.Available, Cases: s.Cases, Children: s.Children, Weight: kit.OrDash(string(s.Weight)), Capacity: kit.OrDash(string(s.Capacity)),
			Headroom: kit.OrDash(string(s.Headroom)), UtilisationPercent: s.UtilisationPercent, Band: string(s.Band), Quota: s.Quota})
	}
	if len(rows) == 0 {
		return o.Nothing("practitioners", team)
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].UtilisationPercent != rows[j].UtilisationPercent {
			return rows[i].UtilisationPercent > rows[j].UtilisationPercent
		}
		return rows[i].Namespace+"/"+rows[i].Name < rows[j].Namespace+"/"+rows[j].Name
	})
	t := kit.Table{Headers: []string{"PRACTITIONER", "TEAM", "CASES", "CHILDREN", "WEIGHT", "CAPACITY", "HEADROOM", "UTILISATION"},
		Wide: []string{"GRADE", "FTE", "AVAILABLE", "QUOTA"}, Items: rows}
	if o.AllNamespaces {
		t.Headers = append([]string{"NAMESPACE"}, t.Headers...)
	}
	for _, r := range rows {
		row := []string{r.Name, r.Team, strconv.Itoa(int(r.Cases)), strconv.Itoa(int(r.Children)), r.Weight, r.Capacity, r.Headroom,
			kit.Bar(r.UtilisationPercent, v1alpha1.Band(r.Band))}
		if o.AllNamespaces {
			row = append([]string{r.Namespace}, row...)
		}
		t.Rows = append(t.Rows, row)
		t.Bands = append(t.Bands, v1alpha1.Band(r.Band))
		t.WideRows = append(t.WideRows, []string{r.Grade, r.FTE, strconv.FormatBool(r.Available), kit.OrDash(r.Quota)})
	}
	return o.Print(t)
}

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

func (o *options) topTeams(ctx context.Context) error {
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
		return o.Nothing("teams", "")
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].UtilisationPercent != rows[j].UtilisationPercent {
			return rows[i].UtilisationPercent > rows[j].UtilisationPercent
		}
		return rows[i].Namespace+"/"+rows[i].Name < rows[j].Namespace+"/"+rows[j].Name
	})
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

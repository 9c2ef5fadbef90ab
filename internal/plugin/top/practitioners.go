package top

import (
	"context"
	"sort"
	"strconv"

	"github.com/spf13/cobra"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/plugin/kit"
)

// PractitionersOptions are `kubectl caseload top practitioners`'s: the team (every team of the
// council, or of every council with -A, when empty).
type PractitionersOptions struct {
	*kit.Flags
	Team string
}

func newPractitionersCommand(f *kit.Flags) *cobra.Command {
	o := &PractitionersOptions{Flags: f}
	return &cobra.Command{
		Use:     "practitioners [TEAM]",
		Aliases: []string{"practitioner", "prac"},
		Short:   "Practitioners' caseloads against capacity, fullest first, for a team or the council",
		Long: "kubectl caseload top practitioners shows each practitioner's cases, children, weight, capacity and headroom, " +
			"fullest first, for one team or every team of the council, from the status the operator keeps. -o wide adds " +
			"grade, FTE, availability and the quota.",
		Args: cobra.MaximumNArgs(1),
		RunE: kit.RunE(o),
	}
}

// Complete takes the team from the arguments.
func (o *PractitionersOptions) Complete(args []string) error {
	o.Team = kit.TeamArg(args)
	return nil
}

// Validate accepts any team: one that does not exist has no practitioners, and says so.
func (o *PractitionersOptions) Validate() error { return nil }

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

// Run prints the practitioners, fullest first, from their status.
func (o *PractitionersOptions) Run(ctx context.Context) error {
	var list v1alpha1.PractitionerList
	if err := o.List(ctx, &list); err != nil {
		return err
	}
	var rows []practitionerRow
	for _, p := range list.Items {
		if o.Team != "" && p.Spec.Team != o.Team {
			continue
		}
		s := p.Status
		rows = append(rows, practitionerRow{Namespace: p.Namespace, Name: p.Name, Team: p.Spec.Team, Grade: p.Spec.Grade, FTE: kit.OrDash(string(p.Spec.FTE)),
			Available: s.Available, Cases: s.Cases, Children: s.Children, Weight: kit.OrDash(string(s.Weight)), Capacity: kit.OrDash(string(s.Capacity)),
			Headroom: kit.OrDash(string(s.Headroom)), UtilisationPercent: s.UtilisationPercent, Band: string(s.Band), Quota: s.Quota})
	}
	if len(rows) == 0 {
		return o.Nothing(ctx, "practitioners", o.Team)
	}
	fullestFirst(rows)
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

func (r practitionerRow) rank() (int32, string) {
	return r.UtilisationPercent, r.Namespace + "/" + r.Name
}

// fullestFirst orders top's rows: the higher utilisation first, then by namespace and name.
func fullestFirst[R interface{ rank() (int32, string) }](rows []R) {
	sort.SliceStable(rows, func(i, j int) bool {
		pi, ni := rows[i].rank()
		pj, nj := rows[j].rank()
		if pi != pj {
			return pi > pj
		}
		return ni < nj
	})
}

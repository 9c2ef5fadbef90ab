// Package forecast is `kubectl caseload forecast`: a team's weeks ahead, each with its capacity,
// the weight it carries as cases reach their timescales, and what starts or ends, decided by the
// policy engine on the council's calendar.
package forecast

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/plugin/kit"
	"caseload.dev/caseload-operator/internal/plugin/offline"
	"caseload.dev/caseload-operator/internal/policy"
	"caseload.dev/caseload-operator/internal/snapshot"
)

// Options are `kubectl caseload forecast`'s: the team (every team when empty) and how many weeks.
type Options struct {
	*kit.Flags
	Team  string
	Weeks int
}

// NewCommand is `kubectl caseload forecast`.
func NewCommand(f *kit.Flags) *cobra.Command {
	o := &Options{Flags: f}
	cmd := &cobra.Command{
		Use:   "forecast [TEAM] --weeks N",
		Short: "Week by week: a team's capacity, cases due to end, absences, reductions and exceptions, and the headroom to plan against",
		Long: "kubectl caseload forecast shows, for each of the next N weeks, a team's capacity (absences and time-limited " +
			"reductions counted on the week's first day), the weight it carries if cases close when their timescale says " +
			"they are due, the weight of the cases due to end that week, what starts or ends (absences, reductions, " +
			"exceptions), and the headroom a manager can plan allocations against. It reads the council and decides with " +
			"the policy engine, under the quota the team's status names.",
		Args: cobra.MaximumNArgs(1),
		RunE: kit.RunE(o),
	}
	cmd.Flags().IntVar(&o.Weeks, "weeks", 8, "How many weeks ahead.")
	return cmd
}

// Complete takes the team from the arguments.
func (o *Options) Complete(args []string) error {
	o.Team = kit.TeamArg(args)
	return nil
}

// Validate keeps the forecast to at most two years.
func (o *Options) Validate() error {
	if o.Weeks < 1 || o.Weeks > 104 {
		return errors.New("--weeks is from 1 to 104")
	}
	return nil
}

// week is one week of a team's forecast, as -o json and -o yaml give it.
type week struct {
	Namespace string `json:"namespace"`
	Team      string `json:"team"`
	From      string `json:"from"`
	// TimeZone is the zone the council's days are counted in.
	TimeZone string   `json:"timeZone"`
	Capacity string   `json:"capacity"`
	Weight   string   `json:"weight"`
	Ending   string   `json:"endingWeight"`
	Headroom string   `json:"headroom"`
	Events   []string `json:"events,omitempty"`
}

// Run forecasts the team, or every team of the council, from the council as it is now.
func (o *Options) Run(ctx context.Context) error {
	team, weeks := o.Team, o.Weeks
	c, ns, err := o.ClientIn()
	if err != nil {
		return err
	}
	council, err := offline.ReadCouncil(ctx, o.Flags, c, ns)
	if err != nil {
		return err
	}
	cal := council.Calendar
	var teams v1alpha1.TeamList
	if err := c.List(ctx, &teams, client.InNamespace(ns)); err != nil {
		return err
	}
	var out []week
	for _, t := range teams.Items {
		if team != "" && t.Name != team {
			continue
		}
		ws, err := forecastTeam(ctx, council, t.Name, t.Status.Quota, weeks)
		if err != nil {
			return err
		}
		out = append(out, ws...)
	}
	if len(out) == 0 {
		return o.Nothing(ctx, "teams", team)
	}
	tbl := kit.Table{Headers: []string{"TEAM", "WEEK OF", "CAPACITY", "WEIGHT", "ENDING", "HEADROOM", "WHAT CHANGES"}, Items: out}
	for _, wk := range out {
		tbl.Rows = append(tbl.Rows, []string{wk.Team, wk.From, wk.Capacity, wk.Weight, wk.Ending, wk.Headroom, kit.OrDash(strings.Join(wk.Events, "; "))})
	}
	if err := o.Print(tbl); err != nil {
		return err
	}
	if o.Output != "json" && o.Output != "yaml" {
		fmt.Fprintf(o.Streams.Out, "\nweeks begin on days of %s\n", cal)
	}
	return nil
}

// forecastTeam is the team's forecast for weeks from when the council was read, on its
// calendar.
func forecastTeam(ctx context.Context, council *offline.Council, team, quota string, weeks int) ([]week, error) {
	s, err := council.Team(ctx, team)
	if err != nil {
		return nil, err
	}
	p := policy.WeighingPolicy(s.Policies, quota)
	if p == nil {
		p = policy.Default
	}
	var out []week
	for _, pw := range policy.Set(s.Policies).Weeks(p, s.View, s.Day, weeks) {
		wk := week{Namespace: council.Namespace, Team: team, From: pw.From.String(), TimeZone: council.Calendar.Name(), Capacity: "-", Weight: "-", Headroom: "-", Ending: pw.Ending.String()}
		if tc := pw.Capacity; pw.Capped {
			wk.Capacity, wk.Weight, wk.Headroom = tc.Value.String(), tc.Load.Weight.String(), tc.Headroom().String()
		}
		wk.Events = eventsBetween(s, council.World, council.Namespace, pw.From, pw.From.AddDays(7), council.At)
		out = append(out, wk)
	}
	return out, nil
}

// eventsBetween are the absences, reductions and exceptions of the team's members that start or
// end in [from, to).
func eventsBetween(s *snapshot.Snapshot, w *offline.World, namespace string, from, to policy.Day, now time.Time) []string {
	in := func(d policy.Day) bool { return !d.IsZero() && !d.Before(from) && d.Before(to) }
	var out []string
	for _, m := range s.View.Members {
		pr := m.Practitioner
		for _, ch := range policy.CapacityChanges(pr, from, to) {
			switch ch.Kind {
			case policy.AbsenceBegins:
				out = append(out, fmt.Sprintf("%s away from %s", pr.Name, ch.On))
			case policy.AbsenceEnds:
				out = append(out, fmt.Sprintf("%s back %s", pr.Name, ch.On))
			case policy.ReductionEnds:
				out = append(out, fmt.Sprintf("%s's %d%% reduction (%s) ends %s", pr.Name, ch.Reduction.Percent, ch.Reduction.Reason, ch.On))
			}
		}
	}
	for _, c := range w.Cases {
		ex := c.Status.Exception
		if c.Namespace != namespace || c.Spec.Team != s.View.Name || ex == nil || !policy.ExceptionInForce(policy.CaseFrom(&c, s.Calendar), *ex, now) {
			continue
		}
		if end := s.Calendar.DayOf(ex.ExpiresAt.Time); in(end) {
			out = append(out, fmt.Sprintf("exception for %s on %s ends %s", ex.Practitioner, c.Name, end))
		}
	}
	sort.Strings(out)
	return out
}

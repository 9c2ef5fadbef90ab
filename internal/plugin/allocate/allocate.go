// Package allocate is `kubectl caseload allocate`: the duty manager's Monday morning. It plans
// who takes each of a team's waiting cases, all at once and within every cap (the planner,
// deciding with the engine admission decides with), asks admission about each proposal by a
// server-side dry run, and with --apply makes the allocations one at a time through admission,
// as the user, stopping at the first refusal.
package allocate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/planner"
	"caseload.dev/caseload-operator/internal/plugin/explain"
	"caseload.dev/caseload-operator/internal/plugin/kit"
	"caseload.dev/caseload-operator/internal/plugin/offline"
	"caseload.dev/caseload-operator/internal/policy"
	"caseload.dev/caseload-operator/internal/snapshot"
	"caseload.dev/caseload-operator/internal/words"
)

// exitDisagreed is allocate's exit status when admission refused a proposal: in a dry run of
// the plan, or when applying it.
const exitDisagreed = 1

// Options are `kubectl caseload allocate`'s: the team (every team of the council when empty),
// whether to apply the plan, the highest band a proposal may take someone to while another
// could take the case within it, and how many days ahead an absence keeps someone from new cases.
type Options struct {
	*kit.Flags
	Team    string
	Plan    bool
	Apply   bool
	MaxBand string
	Horizon int
}

// NewCommand is `kubectl caseload allocate`.
func NewCommand(f *kit.Flags) *cobra.Command {
	o := &Options{Flags: f}
	cmd := &cobra.Command{
		Use:   "allocate [TEAM] [--plan | --apply] [--max-band Amber] [--horizon 7]",
		Short: "Who takes each waiting case, planned for the whole register at once, fairly and within every cap",
		Long: "kubectl caseload allocate plans who leads each of the team's (or, without TEAM, the council's) open unallocated " +
			"cases: the cases past or nearest their allocation deadline first, then those waiting longest; as many as the caps " +
			"allow; and of the ways of placing them, the one whose fullest practitioner is least full, then the one whose " +
			"grades are most evenly loaded. Nobody is taken past a Deny cap, nor past --max-band unless nobody else could take " +
			"the case; nobody away, or whose absence starts within --horizon days, is given a case. Each proposal is decided by " +
			"the engine admission decides with. For each case left over it gives the reason and the nearest remedy.\n\n" +
			"With --plan (the default) nothing is written: each proposal is asked of admission by a server-side dry run, and " +
			"any it would refuse are shown. With --apply the allocations are made one at a time through admission, as you, " +
			"stopping at the first refusal; progress goes to standard error, and a second run plans only what is still " +
			"waiting. -o yaml gives the plan as patches (kubectl apply --server-side -f takes them), -o json as data for bots.\n\n" +
			"Exit status 0; 1 when admission refused a proposal (in the dry run or when applying).",
		Args: cobra.MaximumNArgs(1),
		RunE: kit.RunE(o),
	}
	cmd.Flags().BoolVar(&o.Plan, "plan", false, "Plan and ask admission by dry run, writing nothing (the default).")
	cmd.Flags().BoolVar(&o.Apply, "apply", false, "Make the allocations, one at a time through admission, as you.")
	cmd.Flags().StringVar(&o.MaxBand, "max-band", string(v1alpha1.BandAmber), "The highest band (Green, Amber or Red) a proposal may take someone to while another could take the case within it.")
	cmd.Flags().IntVar(&o.Horizon, "horizon", 7, "How many days ahead an absence keeps someone from new cases (1 to 365).")
	return cmd
}

// Complete takes the team from the arguments.
func (o *Options) Complete(args []string) error {
	o.Team = kit.TeamArg(args)
	return nil
}

// Validate checks the flags before anything is read.
func (o *Options) Validate() error {
	switch {
	case o.Plan && o.Apply:
		return errors.New("--plan writes nothing and --apply makes the allocations: give one of them")
	case o.AllNamespaces:
		return errors.New("allocate plans one council at a time: name it with -n NAMESPACE")
	case !slices.Contains([]v1alpha1.Band{v1alpha1.BandGreen, v1alpha1.BandAmber, v1alpha1.BandRed}, v1alpha1.Band(o.MaxBand)):
		return fmt.Errorf("--max-band is Green, Amber or Red, not %q", o.MaxBand)
	case o.Horizon < 1 || o.Horizon > 365:
		return errors.New("--horizon is from 1 to 365 days")
	}
	switch o.Output {
	case "table", "", "yaml", "json":
		return nil
	}
	return fmt.Errorf("allocate prints -o table, yaml (patches) or json, not %q", o.Output)
}

// councilPlan is a council's plan, as -o json gives it.
type councilPlan struct {
	Namespace string `json:"namespace"`
	// TimeZone and Day are the council's calendar and the day planned for.
	TimeZone    string     `json:"timeZone"`
	Day         string     `json:"day"`
	MaxBand     string     `json:"maxBand"`
	HorizonDays int        `json:"horizonDays"`
	Applied     bool       `json:"applied"`
	Teams       []teamPlan `json:"teams"`
}

// teamPlan is a team's proposals, in the order they are made, and the cases left over.
type teamPlan struct {
	Team string `json:"team"`
	// Unit names what weights are measured in: points, or weighted cases.
	Unit      string     `json:"unit"`
	Proposals []proposal `json:"proposals"`
	Unplaced  []unplaced `json:"unplaced,omitempty"`
	// MaxUtilisation is the fullest eligible member's utilisation once the plan is made, in
	// percent; Spread how far apart the grades' average utilisations are, in points.
	MaxUtilisation float64 `json:"maxUtilisationPercent"`
	Spread         float64 `json:"gradeSpreadPoints"`
	// Short is the capacity the team lacks for what is left over, and ShortFTE the same in
	// full-time practitioners at the policy's rate: RatePerFTE for each RatePer.
	Short      string `json:"short,omitempty"`
	ShortFTE   string `json:"shortFTE,omitempty"`
	RatePerFTE string `json:"ratePerFTE,omitempty"`
	RatePer    string `json:"ratePer,omitempty"`
}

// proposal gives a waiting case to a lead, with what admission said of it.
type proposal struct {
	Case        string `json:"case"`
	Type        string `json:"type"`
	WaitingDays int    `json:"waitingDays"`
	// Deadline is the case's allocation deadline under the strictest policy; empty when none.
	Deadline    string   `json:"allocationDeadline,omitempty"`
	Lead        string   `json:"lead"`
	Grade       string   `json:"grade"`
	Weight      string   `json:"weight"`
	Band        string   `json:"band,omitempty"`
	Utilisation int32    `json:"utilisationPercent"`
	PastMaxBand bool     `json:"pastMaxBand,omitempty"`
	Warnings    []string `json:"warnings,omitempty"`
	// Admission is what admission said: "agrees" or "refuses" (asked by dry run), "allocated" or
	// "refused" (applied), "not tried" (after a refusal), with its reasons when it refused.
	Admission string   `json:"admission"`
	Reasons   []string `json:"admissionReasons,omitempty"`
	// coWorkers are the case's co-workers as the plan read it.
	coWorkers []string
}

// unplaced is a waiting case nobody could take within the caps: the engine's reasons, and the
// nearest remedy.
type unplaced struct {
	Case    string   `json:"case"`
	Type    string   `json:"type"`
	Weight  string   `json:"weight"`
	Reasons []string `json:"reasons"`
	// Exception names whom an exception within what the quota allows could admit it to.
	Exception string `json:"exception,omitempty"`
	// CoverFrom is the first day an absent member of the team is back.
	CoverFrom string `json:"coverFrom,omitempty"`
	// Short is the capacity the team lacks for the case.
	Short string `json:"short,omitempty"`
}

// Run plans the council's (or the team's) waiting cases, then asks admission about the plan or
// applies it.
func (o *Options) Run(ctx context.Context) error {
	c, ns, err := o.ClientIn()
	if err != nil {
		return err
	}
	if err := o.Exists(ctx, o.Team); err != nil {
		return err
	}
	council, err := offline.ReadCouncil(ctx, o.Flags, c, ns)
	if err != nil {
		return err
	}
	// The teams' status names the quota their figures are shown under (a snapshot keeps none).
	var teams v1alpha1.TeamList
	if err := c.List(ctx, &teams, client.InNamespace(ns)); err != nil {
		return err
	}
	out := councilPlan{Namespace: ns, TimeZone: council.Calendar.Name(), MaxBand: o.MaxBand, HorizonDays: o.Horizon, Applied: o.Apply}
	for _, t := range teams.Items {
		if o.Team != "" && t.Name != o.Team {
			continue
		}
		s, err := council.Team(ctx, t.Name)
		if err != nil {
			return err
		}
		out.Day = s.Day.String()
		out.Teams = append(out.Teams, o.planTeam(s, t.Status.Quota))
	}
	if len(out.Teams) == 0 {
		return o.Nothing(ctx, "teams", o.Team)
	}
	var refused bool
	var stopped error // why applying the plan stopped short of a refusal
	if o.Apply {
		refused, stopped = o.apply(ctx, c, out)
	} else if refused, err = o.ask(ctx, c, out); err != nil {
		return err
	}
	if err := o.print(out); err != nil {
		return err
	}
	switch {
	case stopped != nil:
		return &kit.ExitError{Code: exitDisagreed, Err: stopped}
	case refused:
		return &kit.ExitError{Code: exitDisagreed, Err: errors.New("admission refused a proposal")}
	}
	return nil
}

// planTeam plans the team of s, its figures shown under quota (its status's) where it names one.
func (o *Options) planTeam(s *snapshot.Snapshot, quota string) teamPlan {
	p := policy.WeighingPolicy(s.Policies, quota)
	if p == nil {
		p = policy.Default
	}
	set := policy.Set(s.Policies)
	plan := planner.For(s.Policies, s.View, s.Day, planner.Options{MaxBand: v1alpha1.Band(o.MaxBand), Horizon: o.Horizon})
	byName := map[string]policy.Case{}
	for _, c := range s.View.Cases {
		byName[c.Name] = c
	}
	grades := map[string]string{}
	for _, m := range s.View.Members {
		grades[m.Practitioner.Name] = m.Practitioner.Grade
	}
	tp := teamPlan{Team: s.View.Name, Unit: p.Unit(), Proposals: []proposal{}, MaxUtilisation: round(plan.MaxUtilisation), Spread: round(plan.Spread)}
	for _, pr := range plan.Proposals {
		c := byName[pr.Case]
		out := proposal{Case: pr.Case, Type: c.Type, WaitingDays: s.Day.DaysSince(c.WaitingSince()), Lead: pr.Lead, Grade: grades[pr.Lead],
			Weight: pr.Weight.String(), Band: string(pr.Band), Utilisation: pr.Utilisation, PastMaxBand: pr.PastMaxBand, Warnings: pr.Warnings,
			coWorkers: c.CoWorkers}
		if d := set.Timing(c, s.Day).AllocationDeadline; !d.IsZero() {
			out.Deadline = d.String()
		}
		tp.Proposals = append(tp.Proposals, out)
	}
	for _, u := range plan.Unplaced {
		out := unplaced{Case: u.Case, Type: byName[u.Case].Type, Weight: u.Weight.String(), Reasons: u.Reasons, Exception: u.Exception}
		if !u.CoverFrom.IsZero() {
			out.CoverFrom = u.CoverFrom.String()
		}
		if u.Short > 0 {
			out.Short = u.Short.String()
		}
		tp.Unplaced = append(tp.Unplaced, out)
	}
	if plan.Short > 0 {
		tp.Short = plan.Short.String()
		if rate, per, ok := rateOf(p, s.View); ok {
			tp.RatePer, tp.RatePerFTE = per, rate.String()
			tp.ShortFTE = fmt.Sprintf("%.2f", float64(plan.Short)/float64(rate))
		}
	}
	return tp
}

// rateOf is what one more full-time practitioner adds to the team's capacity under the policy,
// by which a shortfall is counted in FTE: the cap of the grade most of the team holds (of those
// the policy caps; the larger cap where two grades are as common), or the team's average cap
// per FTE where that is lower. per names whom the rate is for. ok is false where the policy
// caps neither.
func rateOf(p *policy.Policy, t policy.TeamView) (rate policy.Milli, per string, ok bool) {
	count := map[string]int{}
	for _, m := range t.Members {
		if _, capped := p.Caps[m.Practitioner.Grade]; capped {
			count[m.Practitioner.Grade]++
		}
	}
	var grade string
	for g, n := range count {
		cp := p.Caps[g]
		if !ok || n > count[grade] || n == count[grade] && (cp.MaxWeight > rate || cp.MaxWeight == rate && g < grade) {
			grade, rate, ok = g, cp.MaxWeight, true
		}
	}
	per = "full-time " + grade
	if avg := p.TeamMaxAveragePerFTE; avg != nil && (!ok || *avg < rate) {
		rate, per, ok = *avg, "full-time practitioner under the team's average cap", true
	}
	return rate, per, ok && rate > 0
}

// round keeps one decimal place of a percentage.
func round(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }

// give makes c the Case as the proposal writes it: its lead allocated, and no longer among its
// co-workers if they were one (planner.Given, for the API's Case).
func give(c *v1alpha1.Case, lead string) {
	c.Spec.AllocatedTo = lead
	c.Spec.CoWorkers = slices.DeleteFunc(c.Spec.CoWorkers, func(w string) bool { return w == lead })
}

// ask asks admission about every proposal, in order, by server-side dry run, and reports whether
// it refused any. A dry run does not see the proposals before it: admission decides each on the
// council as it is, and the plan's own decisions account for the rest.
func (o *Options) ask(ctx context.Context, c client.Client, out councilPlan) (refused bool, err error) {
	for ti := range out.Teams {
		for pi := range out.Teams[ti].Proposals {
			p := &out.Teams[ti].Proposals[pi]
			a, err := o.allocate(ctx, c, out.Namespace, out.Teams[ti].Team, p, client.DryRunAll)
			var changed changedMeanwhile
			switch {
			case errors.As(err, &changed):
				p.Admission, p.Reasons, refused = "refuses", []string{changed.Error()}, true
			case err != nil:
				return refused, fmt.Errorf("could not ask admission about case %s: %w", p.Case, err)
			case a.Allowed:
				p.Admission = "agrees"
			default:
				p.Admission, p.Reasons, refused = "refuses", messages(a.Reasons), true
			}
		}
	}
	return refused, nil
}

// apply makes each proposal, in order, through admission and as the user, saying how far it has
// gone on standard error. It stops at the first refusal, and reports whether there was one, or
// at the first allocation it could not make, and says why (the case allocated meanwhile, say).
func (o *Options) apply(ctx context.Context, c client.Client, out councilPlan) (refused bool, err error) {
	total, done := 0, 0
	for _, t := range out.Teams {
		total += len(t.Proposals)
	}
	for ti := range out.Teams {
		for pi := range out.Teams[ti].Proposals {
			p := &out.Teams[ti].Proposals[pi]
			if refused || err != nil {
				p.Admission = "not tried"
				continue
			}
			var a explain.Answer
			a, err = o.allocate(ctx, c, out.Namespace, out.Teams[ti].Team, p)
			switch {
			case err != nil:
				p.Admission = "not tried"
				fmt.Fprintf(o.Streams.ErrOut, "allocate: %d of %d: case %s to %s not made: %v\n", done+1, total, p.Case, p.Lead, err)
			case !a.Allowed:
				p.Admission, p.Reasons, refused = "refused", messages(a.Reasons), true
				fmt.Fprintf(o.Streams.ErrOut, "allocate: %d of %d: case %s to %s refused by admission: %s\n", done+1, total, p.Case, p.Lead, strings.Join(p.Reasons, "; "))
			default:
				done++
				p.Admission, p.Warnings = "allocated", a.Warnings
				fmt.Fprintf(o.Streams.ErrOut, "allocate: %d of %d: case %s allocated to %s\n", done, total, p.Case, p.Lead)
			}
		}
	}
	if err != nil || refused {
		fmt.Fprintf(o.Streams.ErrOut, "allocate: stopped after %s of %d; run kubectl caseload allocate again to plan what is still waiting\n", words.Count(done, "allocation"), total)
	}
	return refused, err
}

// changedMeanwhile is a case someone allocated, closed or moved since the plan read it.
type changedMeanwhile struct{ error }

// allocate makes one proposal (or, with client.DryRunAll, asks admission about it) on the Case
// as it is now, provided nobody has allocated, closed or moved it since the plan read it: the
// plan never overrides someone else's change.
func (o *Options) allocate(ctx context.Context, c client.Client, namespace, team string, p *proposal, opts ...client.UpdateOption) (explain.Answer, error) {
	still := func(latest *v1alpha1.Case) error {
		switch {
		case latest.Spec.AllocatedTo != "":
			return changedMeanwhile{fmt.Errorf("case %s was allocated to %s since the plan was made", latest.Name, latest.Spec.AllocatedTo)}
		case !latest.IsOpen():
			return changedMeanwhile{fmt.Errorf("case %s was closed since the plan was made", latest.Name)}
		case latest.Spec.Team != team:
			return changedMeanwhile{fmt.Errorf("case %s moved to team %s since the plan was made", latest.Name, latest.Spec.Team)}
		}
		give(latest, p.Lead)
		return nil
	}
	latest := &v1alpha1.Case{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: p.Case}, latest); err != nil {
		return explain.Answer{}, err
	}
	if err := still(latest); err != nil {
		return explain.Answer{}, err
	}
	return explain.Put(ctx, o.Flags, c, latest, still, opts...)
}

// messages are the reasons' messages.
func messages(rs []kit.Reason) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.Message)
	}
	return out
}

// Package plan is the commands that try a council's policy before it is merged: `kubectl caseload
// plan`, what a change of CaseloadQuotas would do to its teams, and `kubectl caseload verify`, a
// council's policy tests (suites of changes of cases and what admission should make of them). Both
// read quota files as the apiserver would validate them, and decide with the policy engine the
// admission webhook uses, against the cluster or offline.
package plan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
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

// Exit statuses of plan: nothing new breaks (ExitClean), or the change adds violations
// (ExitViolations); 1 is an error.
const (
	ExitClean      = 0
	ExitViolations = 2
)

// PlanOptions are `kubectl caseload plan`'s: the proposed quotas, and the snapshot to plan against
// instead of the cluster.
type PlanOptions struct {
	*kit.Flags
	// Files are files and directories of the proposed CaseloadQuotas.
	Files []string
	// SnapshotFile, when given, is planned against instead of the cluster.
	SnapshotFile string
	// namespace is the council of a proposed quota that names none.
	namespace string
}

// NewPlanCommand is `kubectl caseload plan`.
func NewPlanCommand(f *kit.Flags) *cobra.Command {
	o := &PlanOptions{Flags: f}
	cmd := &cobra.Command{
		Use:   "plan -f POLICY [-f POLICY]... [--snapshot FILE]",
		Short: "What a change of CaseloadQuotas would do: violations added and removed, capacity and bands, allocations refused",
		Long: "kubectl caseload plan reads the CaseloadQuotas in the files and directories given (as a GitOps repository holds " +
			"them: the quotas there are a council's quotas, so a quota of that council that is not there is deleted) and " +
			"shows, per team and practitioner, the violations the change would add and remove, capacity and band changes, " +
			"and practitioners to whom a new allocation would start to be refused. It is decided by the policy engine the " +
			"admission webhook uses, against the cluster or, with --snapshot, offline against a snapshot file, so a " +
			"pull-request pipeline needs no cluster credentials. It names the day each council's figures are for and the " +
			"time zone its days are counted in. -o markdown writes a pull-request comment, -o json for " +
			"bots. Exit status 0 when nothing new breaks, 2 when the change adds violations, 1 on error.",
		Args: cobra.NoArgs,
		RunE: kit.RunE(o),
	}
	cmd.Flags().StringSliceVarP(&o.Files, "filename", "f", nil, "A file or directory of CaseloadQuota manifests (repeat for more).")
	cmd.Flags().StringVar(&o.SnapshotFile, "snapshot", "", "Plan against this snapshot (kubectl caseload snapshot) instead of the cluster.")
	return cmd
}

// Complete finds the council of a proposed quota that names none: the command's namespace.
func (o *PlanOptions) Complete([]string) error {
	ns, err := o.Namespace()
	o.namespace = ns
	return err
}

// Validate asks for the proposed quotas before anything is read.
func (o *PlanOptions) Validate() error {
	if len(o.Files) == 0 {
		return errors.New("name the proposed quotas: -f FILE or -f DIRECTORY")
	}
	return nil
}

// quotaChange is what the change does to one quota.
type quotaChange struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Change is create, update or delete.
	Change string `json:"change"`
}

// finding is a violation as plan reports it.
type finding struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Rule    string `json:"rule"`
	Quota   string `json:"quota"`
	Action  string `json:"action"`
	Message string `json:"message"`
}

// teamPlan is what the change does to one team.
type teamPlan struct {
	Namespace      string    `json:"namespace"`
	Team           string    `json:"team"`
	CapacityBefore string    `json:"capacityBefore"`
	CapacityAfter  string    `json:"capacityAfter"`
	Weight         string    `json:"weight"`
	BandBefore     string    `json:"bandBefore"`
	BandAfter      string    `json:"bandAfter"`
	Added          []finding `json:"violationsAdded,omitempty"`
	Removed        []finding `json:"violationsRemoved,omitempty"`
	// NewlyRefused are practitioners to whom a new case of the team's commonest type would be
	// admitted now and refused after the change; NoLongerRefused the other way round.
	NewlyRefused    []string `json:"newlyRefused,omitempty"`
	NoLongerRefused []string `json:"noLongerRefused,omitempty"`
}

func (t teamPlan) changed() bool {
	return t.CapacityBefore != t.CapacityAfter || t.BandBefore != t.BandAfter || len(t.Added)+len(t.Removed)+len(t.NewlyRefused)+len(t.NoLongerRefused) > 0
}

// thePlan is the whole plan, as -o json and -o yaml give it.
type thePlan struct {
	Against string `json:"against"`
	// Councils are the councils the change is of, with the day their figures are for and the
	// time zone their days are counted in.
	Councils []councilDays `json:"councils"`
	Quotas   []quotaChange `json:"quotas"`
	Teams    []teamPlan    `json:"teams"`
	// Added counts the violations the change adds, over every team.
	Added   int `json:"violationsAdded"`
	Removed int `json:"violationsRemoved"`
}

// councilDays says which day a council is planned on, in which time zone, and where the zone
// came from.
type councilDays struct {
	Namespace string `json:"namespace"`
	Day       string `json:"day"`
	TimeZone  string `json:"timeZone"`
	// TimeZoneFrom says where the zone came from: the council's Namespace, --time-zone, or the
	// default.
	TimeZoneFrom string `json:"timeZoneFrom"`
}

// String is the council's line of the plan, worded as the health check words it.
func (c councilDays) String() string {
	return fmt.Sprintf("%s: figures for %s, counting days in %s (%s).", c.Namespace, c.Day, c.TimeZone, c.TimeZoneFrom)
}

// Run plans the proposed quotas against the cluster or the snapshot, prints the plan, and ends
// with exit status 2 when the change adds violations.
func (o *PlanOptions) Run(ctx context.Context) error {
	proposed, err := readQuotas(o.Files, o.namespace)
	if err != nil {
		return err
	}
	councils := []string{}
	for _, q := range proposed {
		if !slices.Contains(councils, q.Namespace) {
			councils = append(councils, q.Namespace)
		}
		if _, errs := policy.FromSpec(q.Namespace+"/"+q.Name, q.Spec); len(errs) > 0 {
			return fmt.Errorf("CaseloadQuota %s/%s cannot be applied: %w", q.Namespace, q.Name, errs.ToAggregate())
		}
	}
	slices.Sort(councils)
	var before *offline.World
	against := ""
	// A snapshot is judged as of when it was taken: how long its cases have waited is then.
	at := o.Now()
	if o.SnapshotFile != "" {
		if before, err = offline.ReadFile(o.SnapshotFile); err != nil {
			return err
		}
		at = before.TakenAt.Time
		against = fmt.Sprintf("snapshot %s taken %s", o.SnapshotFile, before.TakenAt.Format(time.RFC3339))
	} else {
		c, err := o.Client()
		if err != nil {
			return err
		}
		if before, err = offline.Read(ctx, c, councils, at); err != nil {
			return err
		}
		against = "the cluster"
		if cfg := o.Config.ToRawKubeConfigLoader(); cfg != nil {
			if raw, err := cfg.RawConfig(); err == nil && raw.CurrentContext != "" {
				against = "the cluster of context " + raw.CurrentContext
			}
		}
	}
	after := *before
	after.Quotas = nil
	for _, q := range before.Quotas {
		if !slices.Contains(councils, q.Namespace) {
			after.Quotas = append(after.Quotas, q)
		}
	}
	after.Quotas = append(after.Quotas, proposed...)

	p := thePlan{Against: against, Quotas: quotaChanges(before.Quotas, proposed, councils)}
	rb, ra := before.Reader(), after.Reader()
	cals := map[string]kit.CouncilCalendar{}
	for _, ns := range councils {
		cal, err := o.CalendarOf(ctx, rb, ns)
		if err != nil {
			return err
		}
		cals[ns] = cal
		p.Councils = append(p.Councils, councilDays{Namespace: ns, Day: cal.DayOf(at).String(), TimeZone: cal.Name(), TimeZoneFrom: cal.From})
	}
	for _, t := range before.Teams {
		cal, ok := cals[t.Namespace]
		if !ok {
			continue
		}
		tp, err := planTeam(ctx, rb, ra, cal.Calendar, t.Namespace, t.Name, at)
		if err != nil {
			return err
		}
		p.Added += len(tp.Added)
		p.Removed += len(tp.Removed)
		p.Teams = append(p.Teams, tp)
	}
	sort.Slice(p.Teams, func(i, j int) bool {
		return p.Teams[i].Namespace+"/"+p.Teams[i].Team < p.Teams[j].Namespace+"/"+p.Teams[j].Team
	})
	if err := o.print(p); err != nil {
		return err
	}
	if p.Added > 0 {
		return &kit.ExitError{Code: ExitViolations, Err: fmt.Errorf("the change adds %d violations", p.Added)}
	}
	return nil
}

// quotaChanges says which quotas of the councils the change creates, updates and deletes.
func quotaChanges(current, proposed []v1alpha1.CaseloadQuota, councils []string) []quotaChange {
	var out []quotaChange
	key := func(q v1alpha1.CaseloadQuota) string { return q.Namespace + "/" + q.Name }
	was := map[string]v1alpha1.CaseloadQuota{}
	for _, q := range current {
		if slices.Contains(councils, q.Namespace) {
			was[key(q)] = q
		}
	}
	for _, q := range proposed {
		old, ok := was[key(q)]
		switch {
		case !ok:
			out = append(out, quotaChange{q.Namespace, q.Name, "create"})
		case !reflect.DeepEqual(old.Spec, q.Spec):
			out = append(out, quotaChange{q.Namespace, q.Name, "update"})
		}
		delete(was, key(q))
	}
	for _, q := range was {
		out = append(out, quotaChange{q.Namespace, q.Name, "delete"})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name })
	return out
}

// teamState is what plan compares of a team before and after.
type teamState struct {
	capacity, weight, band string
	findings               map[string]finding
	refused                map[string]bool
}

func planTeam(ctx context.Context, before, after client.Reader, cal policy.Calendar, namespace, team string, now time.Time) (teamPlan, error) {
	b, err := stateOf(ctx, before, cal, namespace, team, now)
	if err != nil {
		return teamPlan{}, err
	}
	a, err := stateOf(ctx, after, cal, namespace, team, now)
	if err != nil {
		return teamPlan{}, err
	}
	tp := teamPlan{Namespace: namespace, Team: team, CapacityBefore: b.capacity, CapacityAfter: a.capacity, Weight: a.weight, BandBefore: b.band, BandAfter: a.band}
	for k, f := range a.findings {
		if _, ok := b.findings[k]; !ok {
			tp.Added = append(tp.Added, f)
		}
	}
	for k, f := range b.findings {
		if _, ok := a.findings[k]; !ok {
			tp.Removed = append(tp.Removed, f)
		}
	}
	for name := range a.refused {
		if !b.refused[name] {
			tp.NewlyRefused = append(tp.NewlyRefused, name)
		}
	}
	for name := range b.refused {
		if !a.refused[name] {
			tp.NoLongerRefused = append(tp.NoLongerRefused, name)
		}
	}
	for _, fs := range [][]finding{tp.Added, tp.Removed} {
		sort.Slice(fs, func(i, j int) bool {
			return fs[i].Kind+fs[i].Name+fs[i].Rule+fs[i].Quota < fs[j].Kind+fs[j].Name+fs[j].Rule+fs[j].Quota
		})
	}
	slices.Sort(tp.NewlyRefused)
	slices.Sort(tp.NoLongerRefused)
	return tp, nil
}

// stateOf reads a team through r as the reconcilers and webhook do (package snapshot) and asks
// the engine for its figures, its violations under every quota that selects it, and which members
// a new case of the team's commonest type would be refused to.
func stateOf(ctx context.Context, r client.Reader, cal policy.Calendar, namespace, team string, now time.Time) (teamState, error) {
	s, err := snapshot.Load(ctx, r, cal, namespace, team, now)
	if err != nil {
		return teamState{}, err
	}
	st := teamState{capacity: "-", weight: "-", band: "-", findings: map[string]finding{}, refused: map[string]bool{}}
	if s.Team == nil {
		return st, nil
	}
	// The team's figures as its status would show them.
	if ts := policy.Set(s.Policies).Team(s.View, s.Day); ts.Capped {
		st.capacity, st.weight, st.band = ts.Capacity.String(), ts.Weight.String(), string(ts.Band)
	}
	for _, p := range s.Policies {
		for _, f := range p.Audit(s.View, s.Day) {
			pf := finding{Kind: f.Kind, Name: f.Name, Rule: f.Rule, Quota: f.Policy, Action: string(f.Action), Message: f.Message}
			st.findings[pf.Kind+"/"+pf.Name+"/"+pf.Rule+"/"+pf.Quota] = pf
		}
	}
	shape := commonest(s.View.Cases, team)
	for _, m := range s.View.Members {
		c := shape
		c.AllocatedTo = m.Practitioner.Name
		j := policy.Subject{Name: m.Practitioner.Name, Role: v1alpha1.RoleLead}
		d := policy.Decide(s.Policies, policy.Allocation{Case: c, Assignees: []policy.Assignee{policy.AssigneeFor(j, s.View, nil, nil)}, Team: s.View, Day: s.Day})
		if !d.Allowed() && m.Practitioner.AvailableOn(s.Day) {
			st.refused[m.Practitioner.Name] = true
		}
	}
	return st, nil
}

// commonest is a new case of the type most of the team's open cases have (standard complexity,
// one child), or of type "Unknown" for a team without cases.
func commonest(cases []policy.Case, team string) policy.Case {
	count := map[string]int{}
	best := ""
	for _, c := range cases {
		count[c.Type]++
		if best == "" || count[c.Type] > count[best] || (count[c.Type] == count[best] && c.Type < best) {
			best = c.Type
		}
	}
	if best == "" {
		best = "Unknown"
	}
	return policy.Case{Name: "a-new-case", Type: best, Complexity: string(v1alpha1.ComplexityStandard), Children: 1, Team: team}
}

// print writes the plan in the format --output asks for.
func (o *PlanOptions) print(p thePlan) error {
	switch o.Output {
	case "json", "yaml":
		return o.Print(kit.Table{Items: p})
	case "markdown", "md":
		return writePlan(o.Streams.Out, p, true)
	}
	return writePlan(o.Streams.Out, p, false)
}

// writePlan writes the plan as text, or as Markdown for a pull-request comment.
func writePlan(out io.Writer, p thePlan, md bool) error {
	h := func(level int, text string) {
		if md {
			fmt.Fprintf(out, "%s %s\n\n", strings.Repeat("#", level), text)
		} else {
			fmt.Fprintf(out, "%s\n", text)
		}
	}
	item := func(text string) {
		if md {
			fmt.Fprintf(out, "- %s\n", text)
		} else {
			fmt.Fprintf(out, "  %s\n", text)
		}
	}
	h(2, fmt.Sprintf("Caseload plan against %s", p.Against))
	for _, c := range p.Councils {
		fmt.Fprintln(out, c)
		if md {
			fmt.Fprintln(out)
		}
	}
	for _, q := range p.Quotas {
		item(fmt.Sprintf("%s CaseloadQuota %s/%s", q.Change, q.Namespace, q.Name))
	}
	if len(p.Quotas) == 0 {
		item("no quota changes")
	}
	fmt.Fprintln(out)
	changed := 0
	for _, t := range p.Teams {
		if !t.changed() {
			continue
		}
		changed++
		h(3, fmt.Sprintf("Team %s/%s", t.Namespace, t.Team))
		var figures []string
		if t.CapacityBefore != t.CapacityAfter {
			figures = append(figures, fmt.Sprintf("capacity %s -> %s for weight %s", t.CapacityBefore, t.CapacityAfter, t.Weight))
		}
		if t.BandBefore != t.BandAfter {
			figures = append(figures, fmt.Sprintf("band %s -> %s", t.BandBefore, t.BandAfter))
		}
		if len(figures) > 0 {
			item(strings.Join(figures, "; "))
		}
		for _, f := range t.Added {
			item(fmt.Sprintf("+ %s %s breaks %s of %s (%s): %s", f.Kind, f.Name, f.Rule, f.Quota, f.Action, f.Message))
		}
		for _, f := range t.Removed {
			item(fmt.Sprintf("- %s %s no longer breaks %s of %s: %s", f.Kind, f.Name, f.Rule, f.Quota, f.Message))
		}
		if len(t.NewlyRefused) > 0 {
			item("a new case would start to be refused to " + strings.Join(t.NewlyRefused, ", "))
		}
		if len(t.NoLongerRefused) > 0 {
			item("a new case would no longer be refused to " + strings.Join(t.NoLongerRefused, ", "))
		}
		fmt.Fprintln(out)
	}
	if changed == 0 {
		fmt.Fprintf(out, "No team's figures, violations or admissions change.\n")
	}
	verdict := fmt.Sprintf("%d violations added, %d removed, over %d teams.", p.Added, p.Removed, len(p.Teams))
	if md {
		verdict = "**" + verdict + "**"
	}
	_, err := fmt.Fprintln(out, verdict)
	return err
}

package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/manifest"
	"caseload.dev/caseload-operator/internal/plugin/kit"
	"caseload.dev/caseload-operator/internal/plugin/offline"
	"caseload.dev/caseload-operator/internal/policy"
	"caseload.dev/caseload-operator/internal/snapshot"
)

// Exit codes of plan: nothing new breaks, an error, new violations.
const (
	planClean      = 0
	planViolations = 2
)

func newPlanCommand(o *options) *cobra.Command {
	var files []string
	var snapshotFile string
	cmd := &cobra.Command{
		Use:   "plan -f POLICY [-f POLICY]... [--snapshot FILE]",
		Short: "What a change of CaseloadQuotas would do: violations added and removed, capacity and bands, allocations refused",
		Long: "kubectl caseload plan reads the CaseloadQuotas in the files and directories given (as a GitOps repository holds " +
			"them: the quotas there are a council's quotas, so a quota of that council that is not there is deleted) and " +
			"shows, per team and practitioner, the violations the change would add and remove, capacity and band changes, " +
			"and practitioners to whom a new allocation would start to be refused. It is decided by the policy engine the " +
			"admission webhook uses, against the cluster or, with --snapshot, offline against a snapshot file, so a " +
			"pull-request pipeline needs no cluster credentials. -o markdown writes a pull-request comment, -o json for " +
			"bots. Exit status 0 when nothing new breaks, 2 when the change adds violations, 1 on error.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return errors.New("name the proposed quotas: -f FILE or -f DIRECTORY")
			}
			return o.plan(cmd.Context(), files, snapshotFile)
		},
	}
	cmd.Flags().StringSliceVarP(&files, "filename", "f", nil, "A file or directory of CaseloadQuota manifests (repeat for more).")
	cmd.Flags().StringVar(&snapshotFile, "snapshot", "", "Plan against this snapshot (kubectl caseload snapshot) instead of the cluster.")
	return cmd
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
	Against string        `json:"against"`
	Quotas  []quotaChange `json:"quotas"`
	Teams   []teamPlan    `json:"teams"`
	// Added counts the violations the change adds, over every team.
	Added   int `json:"violationsAdded"`
	Removed int `json:"violationsRemoved"`
}

func (o *options) plan(ctx context.Context, files []string, snapshotFile string) error {
	ns, err := o.Namespace()
	if err != nil {
		return err
	}
	proposed, err := readQuotas(files, ns)
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
	var before *offline.World
	against := ""
	if snapshotFile != "" {
		if before, err = offline.ReadFile(snapshotFile); err != nil {
			return err
		}
		against = fmt.Sprintf("snapshot %s taken %s", snapshotFile, before.TakenAt.Format(time.RFC3339))
	} else {
		c, err := o.Client()
		if err != nil {
			return err
		}
		if before, err = offline.Read(ctx, c, councils, o.Now()); err != nil {
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
	// A snapshot is judged as of when it was taken: how long its cases have waited is then.
	at := o.Now()
	if snapshotFile != "" {
		at = before.TakenAt.Time
	}
	rb, ra := before.Reader(), after.Reader()
	cals := map[string]kit.CouncilCalendar{}
	for _, t := range before.Teams {
		if !slices.Contains(councils, t.Namespace) {
			continue
		}
		cal, ok := cals[t.Namespace]
		if !ok {
			if cal, err = o.CalendarOf(ctx, rb, t.Namespace); err != nil {
				return err
			}
			cals[t.Namespace] = cal
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
	if err := o.printPlan(p); err != nil {
		return err
	}
	if p.Added > 0 {
		return &kit.ExitError{Code: planViolations, Err: fmt.Errorf("the change adds %d violations", p.Added)}
	}
	return nil
}

// readQuotas reads the CaseloadQuotas of files and directories (YAML or JSON, several documents
// to a file), each validated offline against the CRD's schema and rules as the apiserver would. A
// file named on its own must hold quotas only; in a directory, as a GitOps repository holds them,
// other kinds are left alone. A quota with no namespace is of namespace.
func readQuotas(paths []string, namespace string) ([]v1alpha1.CaseloadQuota, error) {
	schema, err := loadQuotaSchema()
	if err != nil {
		return nil, err
	}
	quotaKind := v1alpha1.GroupVersion.WithKind("CaseloadQuota")
	var out []v1alpha1.CaseloadQuota
	for _, p := range paths {
		files, err := yamlFiles(p)
		if err != nil {
			return nil, err
		}
		named := len(files) == 1 && files[0] == p
		for _, f := range files {
			objs, err := manifest.DecodeFile(f)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			for _, u := range objs {
				if gvk := u.GroupVersionKind(); gvk != quotaKind {
					if named {
						return nil, fmt.Errorf("%s holds %s %s, not a CaseloadQuota (%s)", f, gvk.Kind, u.GetName(), quotaKind.GroupVersion())
					}
					continue
				}
				if errs := schema.validate(context.Background(), u.Object); len(errs) > 0 {
					return nil, fmt.Errorf("%s: CaseloadQuota %s would be refused by the cluster: %w", f, u.GetName(), errs.ToAggregate())
				}
				var q v1alpha1.CaseloadQuota
				if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, &q, true); err != nil {
					return nil, fmt.Errorf("%s: CaseloadQuota %s: %w", f, u.GetName(), err)
				}
				if q.Namespace == "" {
					q.Namespace = namespace
				}
				out = append(out, q)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no CaseloadQuota in %s", strings.Join(paths, ", "))
	}
	return out, nil
}

// yamlFiles is path, a file, or the YAML and JSON files under path, a directory.
func yamlFiles(path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && slices.Contains([]string{".yaml", ".yml", ".json"}, filepath.Ext(p)) {
			files = append(files, p)
		}
		return err
	})
	return files, err
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

func (o *options) printPlan(p thePlan) error {
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

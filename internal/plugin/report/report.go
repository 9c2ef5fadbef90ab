// Package report is `kubectl caseload report`: the caseload health check of a council, or of
// every council, as a document to publish (HTML with charts, Markdown or CSV), with disclosure
// control for publication. Every figure in it is the engine's, as the operator's status shows it.
package report

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/plugin/kit"
	"caseload.dev/caseload-operator/internal/plugin/offline"
	"caseload.dev/caseload-operator/internal/policy"
	"caseload.dev/caseload-operator/internal/snapshot"
	"caseload.dev/caseload-operator/internal/words"
)

// Options are `kubectl caseload report`'s: the format, where to write, what to report on, and
// whether to publish.
type Options struct {
	*kit.Flags
	// Format is html, md or csv.
	Format string
	// File is where the report goes: standard output when empty. (-o names a file here: a report
	// is a document, not a listing.)
	File string
	// SnapshotFile, if given, is reported on as of when it was taken, instead of the cluster now.
	SnapshotFile string
	// Publish applies disclosure control for a public report.
	Publish bool
	// CompareFile, if given, is an earlier snapshot the headline gives the change since.
	CompareFile string

	render func(io.Writer, *healthCheck) error
}

// NewCommand is `kubectl caseload report`.
func NewCommand(f *kit.Flags) *cobra.Command {
	o := &Options{Flags: f}
	cmd := &cobra.Command{
		Use:   "report [--format html|md|csv] [-o FILE] [--publish] [--compare SNAPSHOT]",
		Short: "The caseload health check of a council (or, with -A, every council): a report to publish",
		Long: "kubectl caseload report writes the caseload health check of a council, or with -A of every council: a " +
			"headline for each council (teams by band, practitioners over capacity by grade, unallocated and overdue cases, " +
			"exceptions, and with --compare the change since an earlier snapshot), then per council and team, practitioners and FTE, capacity and weighted load, how utilisation is spread (median, " +
			"quartiles, the share over capacity), practitioners by band and by grade, cases per FTE, unallocated cases by " +
			"type and age, overdue cases, cases needing cover, exceptions in force and violations by rule; and a fairness " +
			"section comparing utilisation by grade and by FTE. HTML is one self-contained file with charts, Markdown suits " +
			"a wiki, CSV has one row per team and measure for a spreadsheet. --publish applies disclosure control for a " +
			"public report: counts of 1 to 4 are shown as c, and so are the counts beside them that would let a reader work " +
			"them out from the totals or the other tables; nothing about an individual practitioner appears. " +
			"The figures come from the policy engine that sets the operator's status, on the cluster now or on a " +
			"snapshot file as of when it was taken.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&o.Format, "format", "md", "The report's format: html (one self-contained file with charts), md or csv.")
	// -o names the file, as a report is a document rather than a listing: this command's own
	// --output takes the place of the format flag of the others.
	cmd.Flags().StringVarP(&o.File, "output", "o", "", "Write the report to this file (readable by its owner only) instead of standard output.")
	cmd.Flags().StringVar(&o.SnapshotFile, "snapshot", "", "Report on a snapshot file (kubectl caseload snapshot) as of when it was taken, instead of the cluster now.")
	cmd.Flags().StringVar(&o.CompareFile, "compare", "", "Give the headline's change since an earlier snapshot file (kubectl caseload snapshot).")
	cmd.Flags().BoolVar(&o.Publish, "publish", false, "Apply disclosure control for publication: counts of 1 to 4 as c, with the counts that would reveal them, and no figure about an individual.")
	return cmd
}

// Complete finds the renderer of the format asked for.
func (o *Options) Complete() error {
	o.render = formats[o.Format]
	return nil
}

// Validate refuses a format there is no renderer for, and a listing format given as the file.
func (o *Options) Validate() error {
	if o.render == nil {
		return fmt.Errorf("unknown report format %q: use html, md or csv", o.Format)
	}
	if slices.Contains([]string{"table", "wide", "json", "yaml"}, o.File) {
		return fmt.Errorf("-o names the file to write the report to, not a format: use --format html, md or csv, and -o FILE")
	}
	return nil
}

// Run computes the health check and writes it, to the file (readable by its owner only) or to
// standard output.
func (o *Options) Run(ctx context.Context) error {
	hc, err := o.healthCheck(ctx, o.SnapshotFile, o.Publish)
	if err != nil {
		return err
	}
	if o.CompareFile != "" {
		if err := o.compareWith(ctx, hc, o.CompareFile); err != nil {
			return err
		}
	}
	out := o.Streams.Out
	if o.File != "" {
		f, err := os.OpenFile(o.File, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	if err := o.render(out, hc); err != nil {
		return err
	}
	if o.File != "" {
		fmt.Fprintf(o.Streams.ErrOut, "health check of %s (%s) written to %s\n", words.Count(len(hc.Councils), "council"), words.Count(hc.teams(), "team"), o.File)
	}
	return nil
}

// formats render a health check.
var formats = map[string]func(io.Writer, *healthCheck) error{
	"md":   writeReportMarkdown,
	"csv":  writeReportCSV,
	"html": writeReportHTML,
}

// healthCheck is the report: every council's teams on one day.
type healthCheck struct {
	// AsAt is when the figures hold: now, or when the snapshot was taken.
	AsAt    time.Time
	Source  string
	Publish bool
	// Councils are sorted by namespace.
	Councils []*councilReport
}

func (h *healthCheck) teams() int {
	n := 0
	for _, c := range h.Councils {
		n += len(c.Teams)
	}
	return n
}

// councilReport is one council: each team, the council as a whole, and how fairly the load falls.
type councilReport struct {
	Namespace string
	Day       policy.Day
	// Zone names the time zone the council's days are counted in, and where it came from.
	Zone  string
	Teams []*teamReport
	Total *teamReport
	// ByGrade and ByFTE compare utilisation across the council's practitioners.
	ByGrade, ByFTE []group
	// Unit is what the council's weights are measured in, as its quotas name it ("points" or
	// "weighted cases"); empty where its teams' quotas differ. CountsCases is true where every
	// team's quota counts cases, so that its caseload compares with the national figure.
	Unit        string
	CountsCases bool
	// Earlier is the same council in the snapshot given with --compare, if it holds it.
	Earlier *councilReport
	// EarlierAsAt is when that snapshot was taken.
	EarlierAsAt time.Time

	published *release
}

// teamReport are a team's figures (or, as a council's Total, the sum of its teams').
type teamReport struct {
	Team  string
	Quota string
	// Capped is false where no quota gives the team a capacity.
	Capped bool
	// Band is the team's band as its status shows it; empty where no quota caps it.
	Band string
	// Unit and CountsCases are those of the quota the figures come from (policy.Policy.Unit).
	Unit          string
	CountsCases   bool
	Practitioners int
	FTE           policy.Milli
	Capacity      policy.Milli
	Weight        policy.Milli
	// Utilisation is how full each available practitioner with a capacity is, in whole percent
	// rounded down as status shows it; OverCapacity counts those whose weight is over their
	// capacity (a weight of 15.1 of 15 is 100% and over).
	Utilisation  []int
	OverCapacity int
	// Bands counts practitioners by the band their status shows, as the engine counts them
	// (policy.BandCounts): Away for one absent or unavailable, whether or not they hold cases,
	// and None for a grade no quota caps.
	Bands  map[string]int
	Grades map[string]int
	// OpenCases are the team's open cases; LeadCases those held as lead, over CaseHoldingFTE,
	// the FTE of the members who hold at least one case (as national workforce statistics count).
	OpenCases, LeadCases int
	CaseHoldingFTE       policy.Milli
	// Unallocated counts open cases without a lead by type and by how long they have waited.
	Unallocated map[string]map[string]int
	Overdue     map[string]int
	// NeedingCover are open cases held by members who are away; CoverHolders, how many
	// members hold them.
	NeedingCover, CoverHolders int
	// OldestWait is how many days the longest-waiting unallocated case has waited.
	OldestWait int
	Exceptions []exceptionInForce
	// Violations count what the audit of the quota the figures come from finds, by rule.
	Violations map[string]int
	// members are the practitioners, for the council's fairness section; never printed.
	members []memberFigures
}

// exceptionInForce is an allocation admitted above a cap that has not lapsed.
type exceptionInForce struct {
	Case, Practitioner string
	Expires            time.Time
}

// memberFigures are what the fairness section needs of a practitioner.
type memberFigures struct {
	grade       string
	fte         policy.Milli
	utilisation int
	measured    bool
	over        bool
}

// group is the utilisation of the practitioners of one grade or FTE band.
type group struct {
	Name          string
	Practitioners int
	Utilisation   []int
	OverCapacity  int
}

// waits are the bands of how long an unallocated case has waited, in days.
var waits = []struct {
	name     string
	upToDays int
}{{"0-7 days", 7}, {"8-28 days", 28}, {"29-90 days", 90}, {"over 90 days", -1}}

func waitBand(days int) string {
	for _, w := range waits {
		if w.upToDays < 0 || days <= w.upToDays {
			return w.name
		}
	}
	return waits[len(waits)-1].name
}

// bandOrder is the order bands are shown in.
var bandOrder = policy.BandCounts

// fteBands group practitioners by FTE for the fairness section.
var fteBands = []struct {
	name string
	from policy.Milli
}{{"full time (1.0)", policy.One}, {"0.8 to 0.99", 800}, {"0.5 to 0.79", 500}, {"under 0.5", 0}}

func fteBand(fte policy.Milli) string {
	for _, b := range fteBands {
		if fte >= b.from {
			return b.name
		}
	}
	return fteBands[len(fteBands)-1].name
}

// healthCheck reads the councils the flags name, from the cluster or a snapshot, and computes
// the report.
func (o *Options) healthCheck(ctx context.Context, snapshotFile string, publish bool) (*healthCheck, error) {
	var w *offline.World
	var err error
	at := o.Now()
	source := "the cluster"
	if snapshotFile != "" {
		if w, err = offline.ReadFile(snapshotFile); err != nil {
			return nil, err
		}
		at, source = w.TakenAt.Time, "snapshot "+snapshotFile
	} else {
		c, err := o.Client()
		if err != nil {
			return nil, err
		}
		var namespaces []string
		if !o.AllNamespaces {
			ns, err := o.Namespace()
			if err != nil {
				return nil, err
			}
			namespaces = []string{ns}
		}
		if w, err = offline.Read(ctx, c, namespaces, at); err != nil {
			return nil, err
		}
	}
	councils := w.Councils()
	if !o.AllNamespaces && snapshotFile != "" {
		ns, err := o.Namespace()
		if err != nil {
			return nil, err
		}
		councils = slices.DeleteFunc(councils, func(c string) bool { return c != ns })
	}
	if len(councils) == 0 {
		return nil, errors.New("no team found: nothing to report (-A reports on every council you can read)")
	}
	hc, err := o.healthCheckOf(ctx, w, councils, at)
	if err != nil {
		return nil, err
	}
	hc.Source, hc.Publish = source, publish
	return hc, nil
}

// healthCheckOf computes the report of councils from w on the day at falls on in each council's
// calendar, with the engine's figures as status shows them.
func (o *Options) healthCheckOf(ctx context.Context, w *offline.World, councils []string, at time.Time) (*healthCheck, error) {
	r := w.Reader()
	exceptions := map[string]*v1alpha1.CaseException{}
	for i := range w.Cases {
		if ex := w.Cases[i].Status.Exception; ex != nil {
			exceptions[w.Cases[i].Namespace+"/"+w.Cases[i].Name] = ex
		}
	}
	teams := map[string][]string{}
	for _, t := range w.Teams {
		teams[t.Namespace] = append(teams[t.Namespace], t.Name)
	}
	hc := &healthCheck{AsAt: at}
	for _, ns := range councils {
		cal, err := o.CalendarOf(ctx, r, ns)
		if err != nil {
			return nil, err
		}
		cr := &councilReport{Namespace: ns, Day: cal.DayOf(at), Zone: cal.String(), Total: newTeamReport("all teams")}
		names := teams[ns]
		sort.Strings(names)
		for _, team := range names {
			s, err := snapshot.Load(ctx, r, cal.Calendar, ns, team, at)
			if err != nil {
				return nil, err
			}
			tr := teamReportOf(s, at, func(c string) *v1alpha1.CaseException { return exceptions[ns+"/"+c] })
			cr.Teams = append(cr.Teams, tr)
			cr.Total.add(tr)
		}
		cr.ByGrade, cr.ByFTE = fairness(cr.Total.members)
		cr.CountsCases = len(cr.Teams) > 0
		for i, t := range cr.Teams {
			cr.CountsCases = cr.CountsCases && t.CountsCases
			if i == 0 {
				cr.Unit = t.Unit
			} else if cr.Unit != t.Unit {
				cr.Unit = ""
			}
		}
		hc.Councils = append(hc.Councils, cr)
	}
	return hc, nil
}

// compareWith reads an earlier snapshot and computes, for each council of hc it holds, the same
// figures as of when it was taken, for the headline's change.
func (o *Options) compareWith(ctx context.Context, hc *healthCheck, file string) error {
	w, err := offline.ReadFile(file)
	if err != nil {
		return err
	}
	held := w.Councils()
	var councils []string
	for _, c := range hc.Councils {
		if slices.Contains(held, c.Namespace) {
			councils = append(councils, c.Namespace)
		}
	}
	if len(councils) == 0 {
		return fmt.Errorf("%s holds none of the councils reported on: nothing to compare with", file)
	}
	earlier, err := o.healthCheckOf(ctx, w, councils, w.TakenAt.Time)
	if err != nil {
		return err
	}
	for _, c := range hc.Councils {
		for _, e := range earlier.Councils {
			if e.Namespace == c.Namespace {
				c.Earlier, c.EarlierAsAt = e, w.TakenAt.Time
			}
		}
	}
	return nil
}

func newTeamReport(team string) *teamReport {
	return &teamReport{Team: team, Bands: map[string]int{}, Grades: map[string]int{}, Unallocated: map[string]map[string]int{},
		Overdue: map[string]int{}, Violations: map[string]int{}}
}

// teamReportOf is one team's figures, under the policies that select it, as its status and its
// members' show them.
func teamReportOf(s *snapshot.Snapshot, at time.Time, exception func(caseName string) *v1alpha1.CaseException) *teamReport {
	tr := newTeamReport(s.Team.Name)
	day := s.Day
	set := policy.Set(s.Policies)
	ts := set.Team(s.View, day)
	tr.Quota, tr.Capped = ts.Policy.QuotaName(), ts.Capped
	tr.Practitioners, tr.Weight, tr.NeedingCover = ts.Practitioners, ts.Weight, ts.CasesNeedingCover
	tr.OldestWait = ts.OldestUnallocatedDays
	tr.Unit, tr.CountsCases = ts.Policy.Unit(), ts.Policy.CountsCases()
	if ts.Capped {
		tr.Band = string(ts.Band)
		tr.Capacity = ts.Capacity
		for _, f := range ts.Policy.Audit(s.View, day) {
			tr.Violations[f.Rule]++
		}
	}
	for _, m := range s.View.Members {
		pr := m.Practitioner
		tr.FTE += pr.FTE
		tr.Grades[pr.Grade]++
		ps := set.Practitioner(m, day)
		tr.Bands[ps.CountedAs]++
		mf := memberFigures{grade: pr.Grade, fte: pr.FTE, over: ps.OverCapacity}
		if ps.OverCapacity {
			tr.OverCapacity++
		}
		if ps.Away != "" && ps.Figures.Cases > 0 {
			tr.CoverHolders++
		}
		if ps.Capped && ps.Away == "" && ps.Figures.Capacity > 0 {
			mf.utilisation, mf.measured = int(ps.Figures.UtilisationPercent), true
			tr.Utilisation = append(tr.Utilisation, mf.utilisation)
		}
		lead := 0
		for _, h := range m.Holdings {
			if h.Role == v1alpha1.RoleLead {
				lead++
			}
		}
		tr.LeadCases += lead
		if len(m.Holdings) > 0 {
			tr.CaseHoldingFTE += pr.FTE
		}
		tr.members = append(tr.members, mf)
	}
	for _, c := range s.View.Cases {
		if !c.Open() {
			continue
		}
		tr.OpenCases++
		if c.AllocatedTo == "" {
			byAge := tr.Unallocated[c.Type]
			if byAge == nil {
				byAge = map[string]int{}
				tr.Unallocated[c.Type] = byAge
			}
			byAge[waitBand(day.DaysSince(c.WaitingSince()))]++
		}
		if ex := exception(c.Name); ex != nil && policy.ExceptionInForce(c, *ex, at) {
			tr.Exceptions = append(tr.Exceptions, exceptionInForce{Case: c.Name, Practitioner: ex.Practitioner, Expires: ex.ExpiresAt.Time})
		}
		if set.Overdue(c, day) {
			tr.Overdue[c.Type]++
		}
	}
	sort.Slice(tr.Exceptions, func(i, j int) bool { return tr.Exceptions[i].Expires.Before(tr.Exceptions[j].Expires) })
	sort.Ints(tr.Utilisation)
	return tr
}

// add sums a team into a council's total.
func (t *teamReport) add(o *teamReport) {
	t.Capped = t.Capped || o.Capped
	t.Practitioners += o.Practitioners
	t.FTE += o.FTE
	t.Capacity += o.Capacity
	t.Weight += o.Weight
	t.Utilisation = append(t.Utilisation, o.Utilisation...)
	sort.Ints(t.Utilisation)
	t.OverCapacity += o.OverCapacity
	for k, v := range o.Bands {
		t.Bands[k] += v
	}
	for k, v := range o.Grades {
		t.Grades[k] += v
	}
	t.OpenCases += o.OpenCases
	t.LeadCases += o.LeadCases
	t.CaseHoldingFTE += o.CaseHoldingFTE
	for typ, byAge := range o.Unallocated {
		if t.Unallocated[typ] == nil {
			t.Unallocated[typ] = map[string]int{}
		}
		for age, n := range byAge {
			t.Unallocated[typ][age] += n
		}
	}
	for k, v := range o.Overdue {
		t.Overdue[k] += v
	}
	t.NeedingCover += o.NeedingCover
	t.CoverHolders += o.CoverHolders
	t.OldestWait = max(t.OldestWait, o.OldestWait)
	t.Exceptions = append(t.Exceptions, o.Exceptions...)
	for k, v := range o.Violations {
		t.Violations[k] += v
	}
	t.members = append(t.members, o.members...)
}

// fairness groups practitioners by grade and by FTE band, so that a policy that protects some
// by overloading others shows.
func fairness(members []memberFigures) (byGrade, byFTE []group) {
	grouped := func(key func(memberFigures) string, order []string) []group {
		m := map[string]*group{}
		for _, mf := range members {
			k := key(mf)
			g := m[k]
			if g == nil {
				g = &group{Name: k}
				m[k] = g
			}
			g.Practitioners++
			if mf.measured {
				g.Utilisation = append(g.Utilisation, mf.utilisation)
			}
			if mf.over {
				g.OverCapacity++
			}
		}
		if order == nil {
			for k := range m {
				order = append(order, k)
			}
			sort.Strings(order)
		}
		var out []group
		for _, k := range order {
			if g := m[k]; g != nil {
				sort.Ints(g.Utilisation)
				out = append(out, *g)
			}
		}
		return out
	}
	var fteOrder []string
	for _, b := range fteBands {
		fteOrder = append(fteOrder, b.name)
	}
	return grouped(func(m memberFigures) string { return m.grade }, nil),
		grouped(func(m memberFigures) string { return fteBand(m.fte) }, fteOrder)
}

// distribution summarises sorted utilisations: how many, the quartiles (linear interpolation
// between closest ranks) and the extremes.
type distribution struct {
	N                int
	P25, Median, P75 float64
	Min, Max         int
}

func distributionOf(sorted []int) distribution {
	d := distribution{N: len(sorted)}
	if d.N == 0 {
		return d
	}
	q := func(p float64) float64 {
		pos := p * float64(d.N-1)
		lo := int(pos)
		if lo+1 >= d.N {
			return float64(sorted[d.N-1])
		}
		return float64(sorted[lo]) + (pos-float64(lo))*float64(sorted[lo+1]-sorted[lo])
	}
	d.P25, d.Median, d.P75 = q(0.25), q(0.5), q(0.75)
	d.Min, d.Max = sorted[0], sorted[d.N-1]
	return d
}

// perFTE is n per FTE to one decimal, or "-" without FTE.
func perFTE(n policy.Milli, fte policy.Milli) string {
	if fte <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(n)/float64(fte))
}

// Package importer writes councils into the cluster through admission: `kubectl caseload
// import`, from a case-management system's CSV extracts (refused whole if they hold personal
// data), and `kubectl caseload restore`, from a snapshot. Both apply only what differs from the
// cluster, by server-side apply, each practitioner's allocations in turn, so that admission
// decides them as it would have decided them one at a time.
package importer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/plugin/kit"
	"caseload.dev/caseload-operator/internal/plugin/offline"
	"caseload.dev/caseload-operator/internal/policy"
	"caseload.dev/caseload-operator/internal/words"
)

// Exit codes of import: everything applied or unchanged, an error stopped it, some rows were
// not imported (rejected or refused; the rest applied).
const (
	importDone       = 0
	importIncomplete = 2
)

// ImportOptions are `kubectl caseload import`'s: the extracts, how to read them, and how to write.
type ImportOptions struct {
	*kit.Flags
	// Cases is the extract of cases; Workers, if given, the workforce extract; Mapping, if
	// given, the mapping file for extracts whose columns, dates or codes differ from the default.
	Cases, Mapping, Workers string
	// DryRun asks admission about every write and writes nothing.
	DryRun bool
	// Concurrency is how many writes are in flight at once.
	Concurrency int
}

// NewImportCommand is `kubectl caseload import`.
func NewImportCommand(f *kit.Flags) *cobra.Command {
	o := &ImportOptions{Flags: f}
	cmd := &cobra.Command{
		Use:   "import --csv FILE [--mapping FILE] [--practitioners FILE] [--dry-run]",
		Short: "Create or update the council's Cases (and Practitioners) from a case-management system's extract",
		Long: "kubectl caseload import reads a CSV extract of cases (reference, team, type, complexity, children, opened, " +
			"closed, allocated_worker, co_workers, or the columns a --mapping file names) and creates or updates a Case for " +
			"each row, by server-side apply as field manager " + FieldManager + "; with --practitioners it first " +
			"creates or updates Practitioners from a workforce extract (worker_id, team, grade, fte). A file with a column " +
			"that looks like personal data (names, dates of birth, addresses, NHS numbers) is refused whole, before anything " +
			"is written. Rows that are malformed are rejected, and rows whose allocation admission refuses are listed with " +
			"the webhook's reason; the rest are applied. Rows that match what the cluster holds are not written, so a second " +
			"run changes nothing. --dry-run asks admission about every write and writes nothing. Exit status 0 when every " +
			"row was applied or unchanged, 2 when some were rejected or refused, 1 when an error stopped the import. " +
			"See docs/import.md.",
		Args: cobra.NoArgs,
		RunE: kit.RunE(o),
	}
	cmd.Flags().StringVar(&o.Cases, "csv", "", "The extract of cases, CSV with a header line.")
	cmd.Flags().StringVar(&o.Mapping, "mapping", "", "A mapping file (YAML) for an extract whose columns, dates or codes differ from the default.")
	cmd.Flags().StringVar(&o.Workers, "practitioners", "", "A workforce extract, CSV: Practitioners to create or update before the cases.")
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "Ask admission about every write by server-side dry run, and write nothing.")
	cmd.Flags().IntVar(&o.Concurrency, "concurrency", 8, "How many writes to have in flight at once.")
	return cmd
}

// Complete has nothing to take from the arguments: cobra has refused any.
func (o *ImportOptions) Complete([]string) error { return nil }

// Validate says what is missing or wrong in the flags before any file is read.
func (o *ImportOptions) Validate() error {
	if o.Cases == "" {
		return errors.New("name the extract of cases: --csv FILE")
	}
	if o.Concurrency < 1 {
		return fmt.Errorf("--concurrency %d: at least 1", o.Concurrency)
	}
	return nil
}

// importCounts counts the rows of one kind that were written or left as they were.
type importCounts struct {
	Created   int `json:"created"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
}

// importSummary is what an import did, as -o json and -o yaml give it.
type importSummary struct {
	Namespace     string        `json:"namespace"`
	DryRun        bool          `json:"dryRun"`
	Practitioners *importCounts `json:"practitioners,omitempty"`
	Cases         importCounts  `json:"cases"`
	// Refused are the rows admission refused, with the webhook's reasons.
	Refused []rowProblem `json:"refused"`
	// Rejected are the rows that were malformed, or that the cluster's validation refused.
	Rejected []rowProblem `json:"rejected"`
	// DecidedOffline counts the rows a dry run decided with the policy engine rather than by
	// asking admission: those allocated to a practitioner the import would create, whom admission
	// cannot find until they exist.
	DecidedOffline int `json:"decidedOffline,omitempty"`
	// Warnings are the admission warnings of rows that were admitted.
	Warnings []rowProblem `json:"warnings,omitempty"`
	// KeptFromOthers counts cases that keep a closed date, lead or co-worker someone other than
	// the import set, which the extract leaves empty.
	KeptFromOthers int `json:"keptFromOthers,omitempty"`
	// NotWritten counts the writes an error stopped before they were made.
	NotWritten int `json:"notWritten,omitempty"`
	// Stopped is the error that stopped the import.
	Stopped string `json:"stopped,omitempty"`
}

func (s importSummary) incomplete() bool {
	return len(s.Refused)+len(s.Rejected) > 0
}

// Run reads the extracts, refuses them whole if they hold personal data, and writes what differs
// from the cluster: practitioners first, then the cases, each practitioner's allocations in turn.
func (o *ImportOptions) Run(ctx context.Context) error {
	f := o
	m := defaultImportMapping()
	if f.Mapping != "" {
		var err error
		if m, err = readImportMapping(f.Mapping); err != nil {
			return err
		}
	}
	cases, err := readExtract(f.Cases, m.delimiter)
	if err != nil {
		return err
	}
	var workers *extract
	if f.Workers != "" {
		if workers, err = readExtract(f.Workers, m.delimiter); err != nil {
			return err
		}
	}
	// Nothing is written, nor any row judged, from a file that holds personal data.
	personal := personalData(cases)
	if workers != nil {
		personal = append(personal, personalData(workers)...)
	}
	if len(personal) > 0 {
		return &personalDataError{columns: personal}
	}

	c, ns, err := writeClient(o.Flags)
	if err != nil {
		return err
	}
	var teamList v1alpha1.TeamList
	if err := c.List(ctx, &teamList, client.InNamespace(ns)); err != nil {
		return err
	}
	if len(teamList.Items) == 0 {
		return fmt.Errorf("namespace %s has no Teams: create the council's Teams first (cases and practitioners belong to one)", ns)
	}
	teams := map[string]bool{}
	for _, t := range teamList.Items {
		teams[t.Name] = true
	}
	// Today is the council's, as the operator counts its days.
	cal, err := o.CalendarOf(ctx, c, ns)
	if err != nil {
		return err
	}
	today := cal.DayOf(o.Now()).String()
	s := importSummary{Namespace: ns, DryRun: f.DryRun}
	var wrows []workerRow
	if workers != nil {
		var problems []rowProblem
		if wrows, problems, err = m.workerRows(workers, teams); err != nil {
			return err
		}
		s.Rejected = append(s.Rejected, problems...)
	}
	crows, problems, err := m.caseRows(cases, teams, today)
	if err != nil {
		return err
	}
	s.Rejected = append(s.Rejected, problems...)

	existing, err := readImportTargets(ctx, c, ns)
	if err != nil {
		return err
	}
	var writes []importWrite
	var offlineRows []offlineRow
	var practitionerWrites, quiet, allocating []int
	creates := map[string]v1alpha1.PractitionerSpec{} // practitioners the import creates
	if workers != nil {
		s.Practitioners = &importCounts{}
		for _, r := range wrows {
			at := rowProblem{File: workers.file, Line: r.line, Key: r.worker}
			p, ok := existing.practitioners[r.name]
			if ok {
				team, grade, fte := practitionerAfterApply(p, r.spec)
				if team == p.Spec.Team && grade == p.Spec.Grade && fte == fteOrFull(p.Spec.FTE) {
					s.Practitioners.Unchanged++
					continue
				}
			} else {
				creates[r.name] = r.spec
			}
			practitionerWrites = append(practitionerWrites, len(writes))
			writes = append(writes, importWrite{problemAt: at, kind: "Practitioner", create: !ok, obj: practitionerApply(ns, r.name, r.spec)})
		}
	}
	for _, r := range crows {
		at := rowProblem{File: cases.file, Line: r.line, Key: r.reference}
		held := existing.byReference[r.reference]
		var current *v1alpha1.Case
		switch {
		case len(held) > 1:
			names := make([]string, len(held))
			for i, h := range held {
				names[i] = h.Name
			}
			at.Reason = fmt.Sprintf("reference %s is held by Cases %s in namespace %s: remove the ones that are not the case", r.reference, strings.Join(names, " and "), ns)
			s.Rejected = append(s.Rejected, at)
			continue
		case len(held) == 1:
			current = held[0]
			r.name = current.Name
			after := caseAfterApply(current, r.spec)
			if sameCase(after, current.Spec) {
				s.Cases.Unchanged++
				if !sameCase(after, r.spec) {
					s.KeptFromOthers++
				}
				continue
			}
		default:
			if other, taken := existing.cases[r.name]; taken {
				at.Reason = fmt.Sprintf("Case %s is already the case of reference %s: a reference this close to another cannot be imported", r.name, other.Spec.Reference)
				s.Rejected = append(s.Rejected, at)
				continue
			}
		}
		iw := importWrite{problemAt: at, kind: "Case", create: current == nil, obj: caseApply(ns, r.name, r.spec),
			allocates: allocates(current, r.spec), lane: r.spec.Team + "/" + laneHolder(r.spec), opened: r.spec.OpenedOn}
		if f.DryRun && slices.ContainsFunc(append([]string{r.spec.AllocatedTo}, r.spec.CoWorkers...), func(w string) bool { _, ok := creates[w]; return ok }) {
			// A dry run creates nobody, and admission cannot find a practitioner who is not
			// there: the engine decides the row instead, as admission will once they exist.
			offlineRows = append(offlineRows, offlineRow{at: at, current: current, kase: &v1alpha1.Case{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: r.name}, Spec: r.spec}})
			continue
		}
		if iw.allocates {
			allocating = append(allocating, len(writes))
		} else {
			quiet = append(quiet, len(writes))
		}
		writes = append(writes, iw)
	}
	sortProblems(s.Rejected)
	o.sayImportPlan(s, cases, workers, writes)

	// Practitioners first, for cases to be allocated to; then the writes that allocate nothing
	// (closing cases frees room); then the allocations, each practitioner's in turn.
	results := make([]writeResult, len(writes))
	w := &writer{client: c, dryRun: f.DryRun, concurrency: f.Concurrency, progress: newProgress(o.Streams.ErrOut, o.Now, f.DryRun), retryWait: 200 * time.Millisecond}
	var stopped error
	for _, phase := range []struct {
		what  string
		lanes [][]int
	}{
		{"practitioners", oneLaneEach(practitionerWrites)},
		{"cases", append(oneLaneEach(quiet), practitionerLanes(writes, allocating)...)},
	} {
		n := 0
		for _, l := range phase.lanes {
			n += len(l)
		}
		w.progress.begin(phase.what, n)
		err := w.lanes(ctx, writes, phase.lanes, results)
		w.progress.end()
		if err != nil {
			stopped = err
			break
		}
	}
	for i, iw := range writes {
		res := results[i]
		at := iw.problemAt
		counts := &s.Cases
		if iw.kind == "Practitioner" {
			counts = s.Practitioners
		}
		switch res.outcome {
		case outcomeApplied:
			if iw.create {
				counts.Created++
			} else {
				counts.Updated++
			}
			for _, text := range res.warnings {
				at.Reason = text
				s.Warnings = append(s.Warnings, at)
			}
		case outcomeRefused:
			at.Reason = res.reason
			s.Refused = append(s.Refused, at)
		case outcomeRejected:
			at.Reason = res.reason
			s.Rejected = append(s.Rejected, at)
		default:
			s.NotWritten++
		}
	}
	if err := decideOffline(ctx, c, ns, cal.Calendar, o.Now(), creates, offlineRows, &s); err != nil {
		return err
	}
	sortProblems(s.Refused)
	sortProblems(s.Rejected)
	if stopped != nil {
		s.Stopped = stopped.Error()
	}
	if err := o.sayImport(s); err != nil {
		return err
	}
	switch {
	case stopped != nil:
		return fmt.Errorf("the import stopped, %s not made: %w", words.Count(s.NotWritten, "write"), stopped)
	case s.incomplete():
		return &kit.ExitError{Code: importIncomplete, Err: fmt.Errorf("%s not imported", words.Count(len(s.Refused)+len(s.Rejected), "row"))}
	}
	return nil
}

// writeClient is a client for the writes of an import or a restore: concurrency, not client-go's
// default of 5 requests a second, bounds them (the apiserver's own flow control protects it).
func writeClient(o *kit.Flags) (client.Client, string, error) {
	cfg, err := o.RESTConfig()
	if err != nil {
		return nil, "", err
	}
	if cfg.QPS == 0 && cfg.RateLimiter == nil {
		cfg.QPS = -1
	}
	c, err := client.New(cfg, client.Options{Scheme: kit.Scheme})
	if err != nil {
		return nil, "", err
	}
	ns, err := o.Namespace()
	return c, ns, err
}

// importTargets are the council's objects that an import may update.
type importTargets struct {
	practitioners map[string]*v1alpha1.Practitioner
	cases         map[string]*v1alpha1.Case
	byReference   map[string][]*v1alpha1.Case
}

// readImportTargets lists the council's Practitioners and Cases, a page at a time.
func readImportTargets(ctx context.Context, c client.Client, ns string) (*importTargets, error) {
	t := &importTargets{practitioners: map[string]*v1alpha1.Practitioner{}, cases: map[string]*v1alpha1.Case{}, byReference: map[string][]*v1alpha1.Case{}}
	const page = 2000
	for cont := ""; ; {
		var l v1alpha1.PractitionerList
		if err := c.List(ctx, &l, client.InNamespace(ns), client.Limit(page), client.Continue(cont)); err != nil {
			return nil, err
		}
		for i := range l.Items {
			t.practitioners[l.Items[i].Name] = &l.Items[i]
		}
		if cont = l.Continue; cont == "" {
			break
		}
	}
	for cont := ""; ; {
		var l v1alpha1.CaseList
		if err := c.List(ctx, &l, client.InNamespace(ns), client.Limit(page), client.Continue(cont)); err != nil {
			return nil, err
		}
		for i := range l.Items {
			cs := &l.Items[i]
			t.cases[cs.Name] = cs
			t.byReference[cs.Spec.Reference] = append(t.byReference[cs.Spec.Reference], cs)
		}
		if cont = l.Continue; cont == "" {
			break
		}
	}
	return t, nil
}

// sayImportPlan tells, before writing, what the extracts hold and what will be written.
func (o *ImportOptions) sayImportPlan(s importSummary, cases, workers *extract, writes []importWrite) {
	out := o.Streams.ErrOut
	var created, updated [2]int // practitioners, cases
	for _, w := range writes {
		k := 1
		if w.kind == "Practitioner" {
			k = 0
		}
		if w.create {
			created[k]++
		} else {
			updated[k]++
		}
	}
	verb := "to write"
	if s.DryRun {
		verb = "to ask admission about (dry run)"
	}
	if workers != nil {
		fmt.Fprintf(out, "%s: %s, %d new and %d changed %s, %d unchanged, %d rejected\n", workers.file, words.Count(len(workers.records)+len(workers.malformed), "row"),
			created[0], updated[0], verb, s.Practitioners.Unchanged, countIn(s.Rejected, workers.file))
	}
	fmt.Fprintf(out, "%s: %s, %d new and %d changed %s, %d unchanged, %d rejected\n", cases.file, words.Count(len(cases.records)+len(cases.malformed), "row"),
		created[1], updated[1], verb, s.Cases.Unchanged, countIn(s.Rejected, cases.file))
}

// them is the pronoun of n rows or objects: "correct it" of one, "correct them" of more.
func them(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

func countIn(ps []rowProblem, file string) int {
	n := 0
	for _, p := range ps {
		if p.File == file {
			n++
		}
	}
	return n
}

// sayImport prints the summary: counts, then every row not imported with its line and reason.
func (o *ImportOptions) sayImport(s importSummary) error {
	if o.Output == "json" || o.Output == "yaml" {
		if s.Refused == nil {
			s.Refused = []rowProblem{}
		}
		if s.Rejected == nil {
			s.Rejected = []rowProblem{}
		}
		return o.Print(kit.Table{Items: s})
	}
	out := o.Streams.Out
	counts := func(what string, c importCounts) {
		if s.DryRun {
			fmt.Fprintf(out, "  %s: %d to create, %d to update, %d unchanged\n", what, c.Created, c.Updated, c.Unchanged)
		} else {
			fmt.Fprintf(out, "  %s: %d created, %d updated, %d unchanged\n", what, c.Created, c.Updated, c.Unchanged)
		}
	}
	if s.DryRun {
		fmt.Fprintf(out, "Dry run of the import into namespace %s: nothing was written.\n", s.Namespace)
	} else {
		fmt.Fprintf(out, "Import into namespace %s:\n", s.Namespace)
	}
	if s.Practitioners != nil {
		counts("practitioners", *s.Practitioners)
	}
	counts("cases", s.Cases)
	list := func(title string, ps []rowProblem) {
		if len(ps) == 0 {
			return
		}
		fmt.Fprintf(out, "%s (%d):\n", title, len(ps))
		for _, p := range ps {
			fmt.Fprintf(out, "  %s\n", p)
		}
	}
	refused, rejected := "Refused by admission, not imported", "Rejected, not imported"
	if s.DryRun {
		refused, rejected = "Would be refused by admission", "Rejected"
	}
	list(refused, s.Refused)
	list(rejected, s.Rejected)
	list("Admitted with warnings", s.Warnings)
	if s.KeptFromOthers > 0 {
		fmt.Fprintf(out, "Left alone, as someone other than the import set them: the closed date, lead or co-worker of %s, which the extract leaves empty.\n",
			words.Count(s.KeptFromOthers, "case"))
	}
	written := s.Cases.Created + s.Cases.Updated
	if s.Practitioners != nil {
		written += s.Practitioners.Created + s.Practitioners.Updated
	}
	if s.DryRun && (len(s.Refused) > 0 || written > 0) {
		fmt.Fprintln(out, "Admission decided each row on its own, against what the cluster holds now: allocations that fit one at a time may not all fit together, so the import itself may refuse more.")
	}
	if s.DecidedOffline > 0 {
		fmt.Fprintf(out, "%s allocated to practitioners the import would create %s decided by the policy engine, on the council as it is now with them added, as admission will decide them once they exist.\n",
			words.Count(s.DecidedOffline, "row"), words.Of(s.DecidedOffline, "was"))
	}
	switch {
	case s.Stopped != "":
		fmt.Fprintf(out, "The import stopped before %s: run it again once the error below is put right; what was written is then left as it is.\n", words.Count(s.NotWritten, "write"))
	case s.incomplete() && s.DryRun:
		fmt.Fprintf(out, "%s would not be imported: correct %s in the extract (or make room for the allocations) first.\n",
			words.Count(len(s.Refused)+len(s.Rejected), "row"), them(len(s.Refused)+len(s.Rejected)))
	case s.incomplete():
		fmt.Fprintf(out, "%s not imported: correct %s in the extract (or make room for the allocations) and import again; the rows imported now will then be unchanged.\n",
			words.Count(len(s.Refused)+len(s.Rejected), "row")+" "+words.Of(len(s.Refused)+len(s.Rejected), "was"), them(len(s.Refused)+len(s.Rejected)))
	case written == 0 && !s.DryRun:
		fmt.Fprintln(out, "Nothing changed: the cluster already holds what the extracts say.")
	case written == 0:
		fmt.Fprintln(out, "Nothing would change: the cluster already holds what the extracts say.")
	}
	return nil
}

// offlineRow is a case row a dry run decides with the engine: allocated to a practitioner the
// import would create. current is the Case it updates; nil for a new one.
type offlineRow struct {
	at      rowProblem
	current *v1alpha1.Case
	kase    *v1alpha1.Case
}

// decideOffline decides rows, in a dry run, as admission would once the practitioners the import
// creates exist: on the council as the cluster holds it now with them added, each row alone, by
// the engine the webhook decides with (offline.Decide). What it admits is counted as to create
// or update; what it refuses is listed with the webhook's words.
func decideOffline(ctx context.Context, c client.Client, ns string, cal policy.Calendar, now time.Time, creates map[string]v1alpha1.PractitionerSpec, rows []offlineRow, s *importSummary) error {
	if len(rows) == 0 {
		return nil
	}
	w, err := offline.Read(ctx, c, []string{ns}, now)
	if err != nil {
		return fmt.Errorf("read the council to decide the allocations to practitioners the import would create: %w", err)
	}
	for name, spec := range creates {
		w.Practitioners = append(w.Practitioners, v1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec})
	}
	r := w.Reader()
	for _, row := range rows {
		d, err := offline.Decide(ctx, r, row.current, row.kase, cal, now)
		if err != nil {
			return err
		}
		s.DecidedOffline++
		switch {
		case !d.Allowed():
			row.at.Reason = strings.Join(d.Reasons, "; ")
			s.Refused = append(s.Refused, row.at)
		case row.current == nil:
			s.Cases.Created++
		default:
			s.Cases.Updated++
		}
	}
	return nil
}

package plugin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

// importCouncil creates a council for an import: Teams team-00, team-01, ..., each with perTeam
// SocialWorkers sw-TT-PP unless the test imports them itself, and one quota. It waits until the
// operator has seen the quota, so that admission applies it.
func importCouncil(t testing.TB, ns string, teams, perTeam int, quota v1alpha1.CaseloadQuotaSpec) {
	t.Helper()
	ctx := context.Background()
	objs := []client.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}}
	for tm := range teams {
		objs = append(objs, &v1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("team-%02d", tm)}})
	}
	objs = append(objs, &v1alpha1.CaseloadQuota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "caps"}, Spec: quota})
	for _, o := range objs {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	var practitioners []client.Object
	for tm := range teams {
		for p := range perTeam {
			practitioners = append(practitioners, &v1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("sw-%02d-%02d", tm, p)},
				Spec: v1alpha1.PractitionerSpec{Team: fmt.Sprintf("team-%02d", tm), Grade: "SocialWorker"}})
		}
	}
	createAll(t, practitioners)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var q v1alpha1.CaseloadQuota
		if env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "caps"}, &q) == nil && q.Status.ObservedGeneration == q.Generation {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the operator never saw quota %s/caps", ns)
		}
	}
}

// leaveNoCouncil deletes the councils when the test ends, so that it finds the apiserver as it
// left it when -count runs it again.
func leaveNoCouncil(t *testing.T, namespaces ...string) {
	t.Helper()
	t.Cleanup(func() { deleteCouncils(t, namespaces) })
}

// createAll creates objs, eight at a time.
func createAll(t testing.TB, objs []client.Object) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(objs))
	sem := make(chan struct{}, 8)
	for _, o := range objs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := env.Client.Create(context.Background(), o); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// roomyCaps weighs cases as councils do and gives social workers more room than any test fills.
var roomyCaps = v1alpha1.CaseloadQuotaSpec{
	Weights: v1alpha1.Weights{
		CaseTypes:       map[string]v1alpha1.CaseWeight{"ChildProtection": "1.5", "EarlyHelp": "0.5", "LookedAfter": "1.25"},
		Complexity:      map[string]v1alpha1.Multiplier{"High": "1.5", "Low": "0.75"},
		AdditionalChild: "0.5",
	},
	PractitionerCaps: []v1alpha1.PractitionerCap{{Grade: "SocialWorker", MaxWeight: "100000"}},
}

// extractCase is a row of a generated extract and the Case it should become.
type extractCase struct {
	line                                int
	reference, name, team, typ          string
	complexity                          string // as the extract has it: "" for the default
	children                            string // likewise
	opened, closed, allocated, coWorker string // names, for allocated and coWorker
}

// caseExtract is a seeded extract of n cases in the default layout over the teams and
// practitioners of importCouncil: references LCS_000000... (Case lcs-000000...), workers written
// SW_TT_PP as a system writes ids; one case in ten closed, one in twenty unallocated, one in
// fifteen co-worked.
func caseExtract(seed uint64, n, teams, perTeam int) (string, []extractCase) {
	r := rand.New(rand.NewPCG(seed, 1))
	types := []string{"ChildInNeed", "ChildProtection", "LookedAfter", "EarlyHelp"}
	complexities := []string{"", "Low", "Standard", "High"}
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var b strings.Builder
	b.WriteString("reference,team,type,complexity,children,opened,closed,allocated_worker,co_workers\n")
	cases := make([]extractCase, n)
	for i := range n {
		tm := i * teams / n
		c := extractCase{line: i + 2, reference: fmt.Sprintf("LCS_%06d", i), name: fmt.Sprintf("lcs-%06d", i), team: fmt.Sprintf("team-%02d", tm),
			typ: types[r.IntN(len(types))], complexity: complexities[r.IntN(len(complexities))]}
		if k := r.IntN(4); k > 0 {
			c.children = strconv.Itoa(k)
		}
		opened := start.AddDate(0, 0, r.IntN(600))
		c.opened = opened.Format(time.DateOnly)
		if r.IntN(10) == 0 {
			c.closed = opened.AddDate(0, 0, r.IntN(90)).Format(time.DateOnly)
		}
		worker := func(p int) (id, name string) {
			return fmt.Sprintf("SW_%02d_%02d", tm, p), fmt.Sprintf("sw-%02d-%02d", tm, p)
		}
		lead, co := "", ""
		if r.IntN(20) != 0 {
			p := r.IntN(perTeam)
			lead, c.allocated = worker(p)
			if r.IntN(15) == 0 {
				co, c.coWorker = worker((p + 1) % perTeam)
			}
		}
		fmt.Fprintf(&b, "%s,%s,%s,%s,%s,%s,%s,%s,%s\n", c.reference, c.team, c.typ, c.complexity, c.children, c.opened, c.closed, lead, co)
		cases[i] = c
	}
	return b.String(), cases
}

// writeFile writes text to a file of the test's own and returns its path.
func writeFile(t testing.TB, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A run's output, as runOutput leaves it comparable from one run to the next.
var (
	testDir    = regexp.MustCompile(regexp.QuoteMeta(filepath.Clean(os.TempDir())) + `/[^/\s]+/\d+`)
	writesTook = regexp.MustCompile(`(?m)( (written|asked) \(\d+%\).*) in (\d+h)?(\d+m)?\d+s$`)
	takenAt    = regexp.MustCompile(`\(taken \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)`)
)

// runOutput is the output of an import or a restore with only what differs between runs put in
// words of its own: the directory of a test's files ($DIR), how long the writes took ("in Ns")
// and when a snapshot was taken ($TAKEN). Figures, counts, reasons and line numbers stay as
// they are.
func runOutput(out string) string {
	out = testDir.ReplaceAllString(out, "$$DIR")
	out = writesTook.ReplaceAllString(out, "$1 in Ns")
	return takenAt.ReplaceAllString(out, "(taken $$TAKEN)")
}

// casesIn lists the Cases of ns by name.
func casesIn(t testing.TB, ns string) map[string]v1alpha1.Case {
	t.Helper()
	var l v1alpha1.CaseList
	if err := env.Client.List(context.Background(), &l, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	out := map[string]v1alpha1.Case{}
	for _, c := range l.Items {
		out[c.Name] = c
	}
	return out
}

var importRuns atomic.Int64

// TestImport imports a seeded extract of 5,000 cases, then the same file again, then the file with
// two rows changed.
func TestImport(t *testing.T) {
	const n, teams, perTeam = 5000, 10, 20
	// A council of its own each time -count runs the test again: deleting 5,000 Cases in one
	// request outlasts the apiserver's request timeout.
	ns := "import-5000"
	if run := importRuns.Add(1); run > 1 {
		ns = fmt.Sprintf("import-5000-%d", run)
	}
	importCouncil(t, ns, teams, perTeam, roomyCaps)
	text, want := caseExtract(5000, n, teams, perTeam)
	file := writeFile(t, "cases.csv", text)

	start := time.Now()
	out, errOut, code := kubectlCaseload(t, "-n", ns, "import", "--csv", file)
	t.Logf("first import of %d rows: %s", n, time.Since(start).Round(time.Millisecond))
	if code != 0 {
		t.Fatalf("exit %d, want 0:\n%s\n%s", code, out, errOut)
	}
	same(t, "the summary",
		"Import into namespace "+ns+":\n"+
			"  cases: 5000 created, 0 updated, 0 unchanged\n", out)
	golden(t, "import-5000.stderr.txt", runOutput(errOut))
	got := casesIn(t, ns)
	if len(got) != n {
		t.Fatalf("%d Cases in %s, want %d", len(got), ns, n)
	}
	// Every row became the Case it describes, defaults applied.
	for _, w := range want {
		c, ok := got[w.name]
		if !ok {
			t.Errorf("line %d: no Case %s", w.line, w.name)
			continue
		}
		complexity, children := w.complexity, w.children
		if complexity == "" {
			complexity = "Standard"
		}
		if children == "" {
			children = "1"
		}
		var coWorkers []string
		if w.coWorker != "" {
			coWorkers = []string{w.coWorker}
		}
		s := c.Spec
		if s.Reference != w.reference || s.Team != w.team || s.Type != w.typ || string(s.Complexity) != complexity || strconv.Itoa(int(s.Children)) != children ||
			string(s.OpenedOn) != w.opened || string(s.ClosedOn) != w.closed || s.AllocatedTo != w.allocated || !slices.Equal(s.CoWorkers, coWorkers) {
			t.Errorf("line %d: Case %s is %+v, want %+v", w.line, w.name, s, w)
		}
	}

	// The same file again: nothing to write, and it says so.
	generations := map[string]int64{}
	for name, c := range got {
		generations[name] = c.Generation
	}
	start = time.Now()
	out, errOut, code = kubectlCaseload(t, "-n", ns, "import", "--csv", file)
	t.Logf("second import: %s", time.Since(start).Round(time.Millisecond))
	if code != 0 {
		t.Fatalf("second run: exit %d, want 0 and nothing changed:\n%s\n%s", code, out, errOut)
	}
	same(t, "the summary of the same file again",
		"Import into namespace "+ns+":\n"+
			"  cases: 0 created, 0 updated, 5000 unchanged\n"+
			"Nothing changed: the cluster already holds what the extracts say.\n", out)
	golden(t, "import-5000-again.stderr.txt", runOutput(errOut))

	// Two rows changed: one case closed, one raised to High complexity. Only they are written.
	lines := strings.Split(text, "\n")
	closeRow := firstRow(t, want, func(c extractCase) bool { return c.closed == "" && c.allocated != "" })
	raiseRow := firstRow(t, want, func(c extractCase) bool { return c.closed == "" && c.complexity != "High" && c.line != closeRow.line })
	f := strings.Split(lines[closeRow.line-1], ",")
	f[6] = "2026-11-01"
	lines[closeRow.line-1] = strings.Join(f, ",")
	f = strings.Split(lines[raiseRow.line-1], ",")
	f[3] = "High"
	lines[raiseRow.line-1] = strings.Join(f, ",")
	out, errOut, code = kubectlCaseload(t, "-n", ns, "import", "--csv", writeFile(t, "changed.csv", strings.Join(lines, "\n")))
	if code != 0 {
		t.Fatalf("two rows changed: exit %d\n%s\n%s", code, out, errOut)
	}
	same(t, "the summary of two rows changed",
		"Import into namespace "+ns+":\n"+
			"  cases: 0 created, 2 updated, 4998 unchanged\n", out)
	golden(t, "import-5000-two-changed.stderr.txt", runOutput(errOut))
	after := casesIn(t, ns)
	if c := after[closeRow.name]; c.Spec.ClosedOn != "2026-11-01" || c.Spec.AllocatedTo != closeRow.allocated {
		t.Errorf("%s: closed %q allocated %q, want closed 2026-11-01 and still %s's", closeRow.name, c.Spec.ClosedOn, c.Spec.AllocatedTo, closeRow.allocated)
	}
	if c := after[raiseRow.name]; c.Spec.Complexity != v1alpha1.ComplexityHigh {
		t.Errorf("%s: complexity %q, want High", raiseRow.name, c.Spec.Complexity)
	}
	for name, c := range after {
		if name != closeRow.name && name != raiseRow.name && c.Generation != generations[name] {
			t.Errorf("%s changed (generation %d, was %d): the import wrote a row that had not changed", name, c.Generation, generations[name])
		}
	}
}

func firstRow(t *testing.T, cases []extractCase, ok func(extractCase) bool) extractCase {
	t.Helper()
	for _, c := range cases {
		if ok(c) {
			return c
		}
	}
	t.Fatal("the generated extract has no such row")
	return extractCase{}
}

// TestImportRejectsMalformedRows imports an extract with something wrong on most lines: each is
// listed with its line number and what is wrong, the others are imported, and the exit status
// is 2.
func TestImportRejectsMalformedRows(t *testing.T) {
	const ns = "import-malformed"
	leaveNoCouncil(t, ns)
	importCouncil(t, ns, 1, 2, roomyCaps)
	extract := strings.Join([]string{
		"reference,team,type,complexity,children,opened,closed,allocated_worker,co_workers", // 1
		"OK-1,team-00,ChildInNeed,,,2025-01-02,,SW_00_00,",                                  // 2
		"BAD-DATE,team-00,ChildInNeed,,,02/01/2025,,,",                                      // 3
		"BAD-CLOSE,team-00,ChildInNeed,,,2025-03-01,2025-02-01,,",                           // 4
		"BAD-TEAM,nowhere,ChildInNeed,,,2025-01-02,,,",                                      // 5
		"DUP-1,team-00,EarlyHelp,,,2025-01-02,,,",                                           // 6
		"BAD-CPLX,team-00,ChildInNeed,Extreme,,2025-01-02,,,",                               // 7
		"BAD-KIDS,team-00,ChildInNeed,,0,2025-01-02,,,",                                     // 8
		"Jane Smith,team-00,ChildInNeed,,,2025-01-02,,,",                                    // 9
		"SHORT,team-00,ChildInNeed,,,2025-01-02",                                            // 10
		"DUP-1,team-00,EarlyHelp,,,2025-01-03,,,",                                           // 11
		"OK-2,team-00,LookedAfter,High,3,2025-01-02,2025-06-30,SW_00_01,SW_00_00",           // 12
		"FUTURE,team-00,ChildInNeed,,,2099-01-02,,,",                                        // 13
		"",
	}, "\n")
	out, errOut, code := kubectlCaseload(t, "-n", ns, "import", "--csv", writeFile(t, "cases.csv", extract))
	if code != 2 {
		t.Fatalf("exit %d, want 2 (rows rejected, the rest applied):\n%s\n%s", code, out, errOut)
	}
	// Every rejected line, in order, with what is wrong with it.
	golden(t, "import-malformed.txt", out)
	golden(t, "import-malformed.stderr.txt", runOutput(errOut))
	if strings.Contains(out+errOut, "Jane") {
		t.Errorf("a reference that may be a name is repeated in the output:\n%s\n%s", out, errOut)
	}
	got := casesIn(t, ns)
	if len(got) != 2 || got["ok-1"].Spec.AllocatedTo != "sw-00-00" || got["ok-2"].Spec.Children != 3 || !slices.Equal(got["ok-2"].Spec.CoWorkers, []string{"sw-00-00"}) {
		t.Errorf("want ok-1 and ok-2 imported, got %v", got)
	}
}

// TestImportRefusesPersonalData refuses, whole and before writing anything, extracts with a
// column that looks like personal data, by its header or by its values, naming the column.
func TestImportRefusesPersonalData(t *testing.T) {
	const ns = "import-personal"
	leaveNoCouncil(t, ns)
	importCouncil(t, ns, 1, 2, roomyCaps)
	head := "reference,team,type,opened"
	for _, tc := range []struct {
		name, extract, workers string
		golden                 string // the refusal, on stderr
	}{
		{"a surname column", "reference,team,type,opened,Surname\nC-1,team-00,ChildInNeed,2025-01-02,Smith\n", "",
			"import-personal-surname.stderr.txt"},
		{"a column of NHS numbers under another header", "reference,team,type,opened,ref2\nC-1,team-00,ChildInNeed,2025-01-02,943 476 5919\nC-2,team-00,ChildInNeed,2025-01-02,4010232137\n", "",
			"import-personal-nhs-numbers.stderr.txt"},
		{"a date of birth and a postcode, unmapped", "reference,team,type,opened,Child DOB,home\nC-1,team-00,ChildInNeed,2025-01-02,2015-03-01,WS1 1AA\n", "",
			"import-personal-birth-and-postcode.stderr.txt"},
		{"names in the workforce extract", head + "\nC-1,team-00,ChildInNeed,2025-01-02\n", "worker_id,team,grade,Full Name\nSW1,team-00,SocialWorker,Jo Bloggs\n",
			"import-personal-workforce-names.stderr.txt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"-n", ns, "import", "--csv", writeFile(t, "cases.csv", tc.extract)}
			if tc.workers != "" {
				args = append(args, "--practitioners", writeFile(t, "practitioners.csv", tc.workers))
			}
			out, errOut, code := kubectlCaseload(t, args...)
			if code != 1 {
				t.Fatalf("exit %d, want 1:\n%s\n%s", code, out, errOut)
			}
			same(t, "stdout", "", out)
			golden(t, tc.golden, runOutput(errOut))
			for _, value := range []string{"Smith", "943 476 5919", "4010232137", "2015-03-01", "WS1", "Bloggs"} {
				if strings.Contains(out+errOut, value) {
					t.Errorf("the refusal repeats the value %q", value)
				}
			}
			if got := casesIn(t, ns); len(got) != 0 {
				t.Errorf("%d Cases written from a refused file", len(got))
			}
			var prs v1alpha1.PractitionerList
			if err := env.Client.List(context.Background(), &prs, client.InNamespace(ns)); err != nil || len(prs.Items) != 2 {
				t.Errorf("%d practitioners (%v), want the 2 there were", len(prs.Items), err)
			}
		})
	}
}

// TestImportListsRefusedAllocations imports a practitioner's caseload that is over their cap:
// admission refuses the cases that do not fit (the ones taken on last), the import lists them
// with the webhook's reason, applies the rest and exits 2.
func TestImportListsRefusedAllocations(t *testing.T) {
	const ns = "import-refused"
	leaveNoCouncil(t, ns)
	importCouncil(t, ns, 1, 2, v1alpha1.CaseloadQuotaSpec{PractitionerCaps: []v1alpha1.PractitionerCap{{Grade: "SocialWorker", MaxWeight: "3"}}})
	// sw-00-00 has five open cases of weight 1 for room of 3, listed newest first, and a closed
	// one, which weighs nothing.
	extract := "reference,team,type,opened,closed,allocated_worker\n" +
		"R-5,team-00,ChildInNeed,2025-05-01,,SW_00_00\n" +
		"R-4,team-00,ChildInNeed,2025-04-01,,SW_00_00\n" +
		"R-3,team-00,ChildInNeed,2025-03-01,,SW_00_00\n" +
		"R-2,team-00,ChildInNeed,2025-02-01,,SW_00_00\n" +
		"R-1,team-00,ChildInNeed,2025-01-01,,SW_00_00\n" +
		"S-1,team-00,ChildInNeed,2025-01-01,,SW_00_01\n" +
		"U-1,team-00,ChildInNeed,2025-01-01,,\n" +
		"X-1,team-00,ChildInNeed,2024-01-01,2024-06-01,SW_00_00\n"
	file := writeFile(t, "cases.csv", extract)
	// A dry run decides each row alone: every one fits on its own, and nothing is written.
	out, errOut, code := kubectlCaseload(t, "-n", ns, "import", "--csv", file, "--dry-run")
	if code != 0 {
		t.Errorf("dry run: exit %d, want 0\n%s\n%s", code, out, errOut)
	}
	golden(t, "import-refused-dry-run.txt", out)
	golden(t, "import-refused-dry-run.stderr.txt", runOutput(errOut))
	if got := casesIn(t, ns); len(got) != 0 {
		t.Fatalf("the dry run wrote %d Cases", len(got))
	}

	out, errOut, code = kubectlCaseload(t, "-n", ns, "import", "--csv", file)
	if code != 2 {
		t.Fatalf("exit %d, want 2 (two rows refused, the rest applied):\n%s\n%s", code, out, errOut)
	}
	golden(t, "import-refused.txt", out)
	// sw-00-00's lane and the others are written side by side, so which progress line first counts
	// a refusal depends on which the apiserver answers first: the plan, the start and the last
	// line do not.
	progress := strings.Split(strings.TrimSuffix(runOutput(errOut), "\n"), "\n")
	if len(progress) < 3 {
		t.Fatalf("no plan and progress on stderr:\n%s", errOut)
	}
	same(t, "the plan and the last progress line", strings.Join([]string{
		"cases.csv: 8 rows, 8 new and 0 changed to write, 0 unchanged, 0 rejected",
		"cases: writing 8",
		"cases: 8 of 8 written (100%), 2 refused by admission in Ns",
	}, "\n"), strings.Join([]string{progress[0], progress[1], progress[len(progress)-1]}, "\n"))
	// Again, for a script: the same two refused (nothing changed to make room), the rest
	// unchanged.
	out, errOut, code = kubectlCaseload(t, "-n", ns, "import", "--csv", file, "-o", "json")
	var summary struct {
		Cases   struct{ Created, Updated, Unchanged int }
		Refused []struct {
			File, Key, Reason string
			Line              int
		}
		Rejected []any
	}
	if err := json.Unmarshal([]byte(out), &summary); err != nil || code != 2 {
		t.Fatalf("-o json: exit %d, %v\n%s\n%s", code, err, out, errOut)
	}
	golden(t, "import-refused-again.json", out)
	golden(t, "import-refused-again.stderr.txt", runOutput(errOut))
	if summary.Cases.Unchanged != 6 || summary.Cases.Created+summary.Cases.Updated != 0 || len(summary.Rejected) != 0 || len(summary.Refused) != 2 ||
		summary.Refused[0].Line != 2 || summary.Refused[0].Key != "R-5" || summary.Refused[1].Line != 3 || !strings.Contains(summary.Refused[1].Reason, "would take sw-00-00 to 4 of 3") {
		t.Errorf("-o json: %+v", summary)
	}

	got := casesIn(t, ns)
	for _, name := range []string{"r-1", "r-2", "r-3", "s-1", "u-1", "x-1"} {
		if _, ok := got[name]; !ok {
			t.Errorf("Case %s was not imported", name)
		}
	}
	if len(got) != 6 {
		t.Errorf("Cases %v, want the six that fit", slices.Sorted(maps.Keys(got)))
	}
}

// TestImportDryRunWritesNothing: a dry run of new practitioners and their cases writes nothing,
// and says what it would do: the case of a practitioner who does not exist yet is decided by the
// engine, as admission will decide it once they do.
func TestImportDryRunWritesNothing(t *testing.T) {
	const ns = "import-dry-run"
	leaveNoCouncil(t, ns)
	importCouncil(t, ns, 1, 1, roomyCaps)
	cases := "reference,team,type,opened,allocated_worker\nD-1,team-00,ChildInNeed,2025-01-02,SW_00_00\nD-2,team-00,EarlyHelp,2025-01-02,NEW-1\nD-3,team-00,EarlyHelp,2025-01-02,\n"
	workers := "worker_id,team,grade,fte\nSW_00_00,team-00,SocialWorker,0.8\nNEW-1,team-00,SocialWorker,1\n"
	out, errOut, code := kubectlCaseload(t, "-n", ns, "import", "--dry-run", "--csv", writeFile(t, "cases.csv", cases), "--practitioners", writeFile(t, "practitioners.csv", workers))
	if code != 0 {
		t.Errorf("exit %d, want 0 (every row would be imported)\n%s\n%s", code, out, errOut)
	}
	golden(t, "import-dry-run.txt", out)
	golden(t, "import-dry-run.stderr.txt", runOutput(errOut))
	if got := casesIn(t, ns); len(got) != 0 {
		t.Errorf("the dry run wrote %d Cases", len(got))
	}
	var p v1alpha1.Practitioner
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "new-1"}, &p); err == nil {
		t.Error("the dry run created practitioner new-1")
	}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "sw-00-00"}, &p); err != nil || p.Spec.FTE != "1" {
		t.Errorf("the dry run changed sw-00-00's FTE to %q (%v)", p.Spec.FTE, err)
	}
}

// TestImportWithMapping imports the Mosaic-style example of docs/import.md (examples/import): a
// workforce extract and a cases extract with their own headers, ';' between fields, dd/mm/yyyy
// dates with a time of day, codes for teams, types, complexity and grades, '|' between
// co-workers, and a date meaning "still open".
func TestImportWithMapping(t *testing.T) {
	const ns = "import-mapping"
	ctx := context.Background()
	leaveNoCouncil(t, ns)
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&v1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "child-protection"}},
		&v1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "assessment"}},
		&v1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "looked-after"}},
	} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	const dir = "../../examples/import/"
	args := []string{"-n", ns, "import", "--csv", dir + "mosaic-cases.csv", "--practitioners", dir + "mosaic-workforce.csv", "--mapping", dir + "mosaic-mapping.yaml"}
	// The dry run says what the import then does, though the practitioners are not there yet.
	out, errOut, code := kubectlCaseload(t, append(args, "--dry-run")...)
	if code != 0 {
		t.Fatalf("dry run: exit %d, want 0 with the five practitioners and five cases the import makes:\n%s\n%s", code, out, errOut)
	}
	golden(t, "import-mapping-dry-run.txt", out)
	golden(t, "import-mapping-dry-run.stderr.txt", runOutput(errOut))
	out, errOut, code = kubectlCaseload(t, args...)
	if code != 0 {
		t.Fatalf("exit %d, want 0 with the five practitioners and five cases of the example:\n%s\n%s", code, out, errOut)
	}
	same(t, "the summary",
		"Import into namespace import-mapping:\n"+
			"  practitioners: 5 created, 0 updated, 0 unchanged\n"+
			"  cases: 5 created, 0 updated, 0 unchanged\n", out)
	golden(t, "import-mapping.stderr.txt", runOutput(errOut))
	got := casesIn(t, ns)
	want := map[string]v1alpha1.CaseSpec{
		"100231": {Reference: "100231", Team: "child-protection", Type: "ChildProtection", Complexity: "High", Children: 2, OpenedOn: "2025-02-03", AllocatedTo: "w1042", CoWorkers: []string{"w1043"}},
		"100245": {Reference: "100245", Team: "child-protection", Type: "ChildInNeed", Complexity: "Standard", Children: 1, OpenedOn: "2025-03-15", ClosedOn: "2025-04-30", AllocatedTo: "w1044"},
		"100262": {Reference: "100262", Team: "assessment", Type: "ChildInNeed", Complexity: "Low", Children: 1, OpenedOn: "2024-12-01", AllocatedTo: "w2001"},
		"100270": {Reference: "100270", Team: "assessment", Type: "EarlyHelp", Complexity: "Standard", Children: 3, OpenedOn: "2025-10-14"},
		"100288": {Reference: "100288", Team: "looked-after", Type: "LookedAfter", Complexity: "High", Children: 1, OpenedOn: "2023-06-09", AllocatedTo: "w3001"},
	}
	for name, w := range want {
		if g := got[name].Spec; fmt.Sprint(g) != fmt.Sprint(w) {
			t.Errorf("%s is %+v, want %+v", name, g, w)
		}
	}
	var p v1alpha1.Practitioner
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "w1044"}, &p); err != nil || p.Spec.Grade != "SeniorSocialWorker" || p.Spec.FTE != "0.8" || p.Spec.Team != "child-protection" {
		t.Errorf("w1044 is %+v (%v), want a SeniorSocialWorker of child-protection at 0.8", p.Spec, err)
	}
	out, errOut, code = kubectlCaseload(t, args...)
	if code != 0 {
		t.Errorf("the example again: exit %d, want 0\n%s\n%s", code, out, errOut)
	}
	same(t, "the summary of the example again",
		"Import into namespace import-mapping:\n"+
			"  practitioners: 0 created, 0 updated, 5 unchanged\n"+
			"  cases: 0 created, 0 updated, 5 unchanged\n"+
			"Nothing changed: the cluster already holds what the extracts say.\n", out)
	golden(t, "import-mapping-again.stderr.txt", runOutput(errOut))

	bad := writeFile(t, "bad.yaml", "apiVersion: import.caseload.dev/v1\nkind: ImportMapping\ndateLayout: dd/mm/yy\n")
	out, errOut, code = kubectlCaseload(t, "-n", ns, "import", "--csv", dir+"mosaic-cases.csv", "--mapping", bad)
	if code != 1 {
		t.Errorf("a bad mapping: exit %d, want 1 and what is wrong:\n%s", code, errOut)
	}
	same(t, "a bad mapping's stdout", "", out)
	golden(t, "import-mapping-bad.stderr.txt", runOutput(errOut))
}

// TestImportPractitioners creates practitioners from a workforce extract, then cases allocated
// to them; a second run changes nothing; a case a manager allocated by hand is left alone.
func TestImportPractitioners(t *testing.T) {
	const ns = "import-practitioners"
	leaveNoCouncil(t, ns)
	importCouncil(t, ns, 2, 0, roomyCaps)
	mapping := writeFile(t, "mapping.yaml", "apiVersion: import.caseload.dev/v1\nkind: ImportMapping\npractitioners:\n  columns: {workerId: STAFF_ID, grade: ROLE}\n  values:\n    grade: {SW: SocialWorker, NQSW: NewlyQualified}\n")
	workers := writeFile(t, "workforce.csv", "STAFF_ID,team,ROLE,fte\nSW_00_00,team-00,SW,1\nSW_00_01,team-00,SW,0.60\nSW_01_00,team-01,SW,\nBAD,team-09,SW,1\n")
	cases := writeFile(t, "cases.csv", "reference,team,type,opened,allocated_worker\nP-1,team-00,ChildInNeed,2025-01-02,SW_00_00\nP-2,team-00,ChildInNeed,2025-01-02,SW_00_01\nP-3,team-01,ChildInNeed,2025-01-02,\n")
	out, errOut, code := kubectlCaseload(t, "-n", ns, "import", "--csv", cases, "--practitioners", workers, "--mapping", mapping)
	if code != 2 {
		t.Fatalf("exit %d, want 2 (BAD of no team), the three practitioners and three cases:\n%s\n%s", code, out, errOut)
	}
	golden(t, "import-practitioners.txt", out)
	golden(t, "import-practitioners.stderr.txt", runOutput(errOut))
	ctx := context.Background()
	var p v1alpha1.Practitioner
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "sw-00-01"}, &p); err != nil || p.Spec.FTE != "0.6" || p.Spec.Grade != "SocialWorker" || p.Spec.Team != "team-00" {
		t.Errorf("sw-00-01 is %+v (%v), want SocialWorker of team-00 at 0.6", p.Spec, err)
	}
	if got := casesIn(t, ns); got["p-2"].Spec.AllocatedTo != "sw-00-01" {
		t.Errorf("p-2 allocated to %q, want sw-00-01", got["p-2"].Spec.AllocatedTo)
	}

	// A manager allocates P-3, which the extract has unallocated, by hand.
	var p3 v1alpha1.Case
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "p-3"}, &p3); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, &v1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "agency-1"}, Spec: v1alpha1.PractitionerSpec{Team: "team-01", Grade: "SocialWorker"}}); err != nil {
		t.Fatal(err)
	}
	p3.Spec.AllocatedTo = "agency-1"
	if err := env.Client.Update(ctx, &p3, client.FieldOwner("kubectl-edit")); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = kubectlCaseload(t, "-n", ns, "import", "--csv", cases, "--practitioners", workers, "--mapping", mapping)
	if code != 2 {
		t.Errorf("second run: exit %d, want 2 (BAD of no team still)\n%s\n%s", code, out, errOut)
	}
	golden(t, "import-practitioners-again.txt", out)
	golden(t, "import-practitioners-again.stderr.txt", runOutput(errOut))
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "p-3"}, &p3); err != nil || p3.Spec.AllocatedTo != "agency-1" {
		t.Errorf("p-3 allocated to %q (%v): the import undid the manager's allocation", p3.Spec.AllocatedTo, err)
	}
}

// TestImportStopsWhenItMayNotWrite: a user who may read the council but not write to it gets
// exit status 1, the apiserver's refusal, and a summary that says the writes were not made.
func TestImportStopsWhenItMayNotWrite(t *testing.T) {
	const ns = "import-read-only"
	leaveNoCouncil(t, ns)
	importCouncil(t, ns, 1, 1, roomyCaps)
	ctx := context.Background()
	rules := []rbacv1.PolicyRule{{APIGroups: []string{"caseload.dev"}, Resources: []string{"teams", "practitioners", "cases"}, Verbs: []string{"get", "list", "watch"}}}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "reader"}, Rules: rules}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "reader"},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "reader"}, Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "import-reader"}}}
	for _, o := range []client.Object{role, binding} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		// The apiserver has no namespace controller to delete them with the council.
		t.Cleanup(func() {
			if err := env.Client.Delete(context.Background(), o); err != nil {
				t.Error(err)
			}
		})
	}
	user, err := env.Environment.AddUser(envtest.User{Name: "import-reader"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	cases := writeFile(t, "cases.csv", "reference,team,type,opened\nRO-1,team-00,ChildInNeed,2025-01-02\nRO-2,team-00,ChildInNeed,2025-01-02\n")
	out, errOut, code := kubectlCaseload(t, "--kubeconfig", writeFile(t, "kubeconfig", string(kc)), "-n", ns, "import", "--csv", cases, "--concurrency", "1")
	if code != 1 {
		t.Errorf("exit %d, want 1 with what stopped it:\n%s\n%s", code, out, errOut)
	}
	same(t, "the summary",
		"Import into namespace import-read-only:\n"+
			"  cases: 0 created, 0 updated, 0 unchanged\n"+
			"The import stopped before 2 writes: run it again once the error below is put right; what was written is then left as it is.\n", out)
	golden(t, "import-read-only.stderr.txt", runOutput(errOut))
	if got := casesIn(t, ns); len(got) != 0 {
		t.Errorf("%d Cases written", len(got))
	}
}

package plugin_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/plugin/offline"
)

// northshire is a council of three teams built to show everything the health check reports: each
// band, an absent practitioner whose cases need cover (Red, as their status shows) and one who
// holds none (Away), a grade no quota caps, part-timers,
// unallocated cases of every wait, cases overdue by timescale and by allocation deadline, and an
// exception in force. Dates are days before today, so the figures are the same every day; the
// plugin's clock is stopped at noon today (the returned function restarts it).
func northshire(t *testing.T) (today, at time.Time) {
	t.Helper()
	ctx := context.Background()
	const ns = "northshire"
	today = time.Now().UTC().Truncate(24 * time.Hour)
	day := func(n int) v1alpha1.Date { return v1alpha1.Date(today.AddDate(0, 0, n).Format(time.DateOnly)) }
	objs := []client.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}}
	for _, team := range []string{"duty", "family-support", "leaving-care"} {
		objs = append(objs, &v1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: team}})
	}
	type member struct {
		name, team, grade, fte string
		cases                  int
		typ                    string
		absent                 bool
	}
	members := []member{
		{"duty-nq1", "duty", "NewlyQualified", "1", 8, "ChildInNeed", false},           // 8 of 12: Green
		{"duty-sw1", "duty", "SocialWorker", "1", 14, "ChildInNeed", false},            // 14 of 15: Amber
		{"duty-sw2", "duty", "SocialWorker", "0.8", 13, "ChildInNeed", false},          // 13 of 12: Red (then an exception)
		{"duty-sw3", "duty", "SocialWorker", "1", 10, "ChildInNeed", false},            // Green
		{"duty-ssw1", "duty", "SeniorSocialWorker", "1", 10, "ChildProtection", false}, // 15 of 16: Amber
		{"duty-sw4", "duty", "SocialWorker", "0.6", 7, "ChildInNeed", false},           // 7 of 9: Green
		{"fs-sw1", "family-support", "SocialWorker", "1", 12, "ChildInNeed", false},
		{"fs-sw2", "family-support", "SocialWorker", "1", 18, "ChildInNeed", false}, // 18 of 15: Red
		{"fs-sw3", "family-support", "SocialWorker", "0.8", 9, "ChildInNeed", false},
		{"fs-ssw1", "family-support", "SeniorSocialWorker", "1", 11, "ChildProtection", false}, // 16.5 of 16: Red
		{"fs-sw5", "family-support", "SocialWorker", "1", 6, "ChildInNeed", true},              // absent: cases need cover
		{"fs-swa1", "family-support", "SocialWorkAssistant", "1", 3, "ChildInNeed", false},     // no cap: None
		{"fs-nq1", "family-support", "NewlyQualified", "1", 6, "ChildInNeed", false},
		{"lc-sw1", "leaving-care", "SocialWorker", "1", 12, "LookedAfter", false},  // 15 of 15: Amber
		{"lc-sw2", "leaving-care", "SocialWorker", "0.5", 5, "LookedAfter", false}, // 6.25 of 7.5
		{"lc-nq1", "leaving-care", "NewlyQualified", "1", 4, "LookedAfter", false}, // 5 of 12
		{"lc-sw3", "leaving-care", "SocialWorker", "1", 0, "LookedAfter", true},    // absent, holding nothing: Away
	}
	n := 0
	newCase := func(team, typ, to string, opened v1alpha1.Date) *v1alpha1.Case {
		n++
		return &v1alpha1.Case{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("nsh-%04d", n)},
			Spec: v1alpha1.CaseSpec{Reference: fmt.Sprintf("NSH-%04d", n), Team: team, Type: typ, OpenedOn: opened, AllocatedTo: to}}
	}
	for _, m := range members {
		objs = append(objs, &v1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: m.name}, Spec: v1alpha1.PractitionerSpec{Team: m.team, Grade: m.grade, FTE: m.fte}})
		for range m.cases {
			objs = append(objs, newCase(m.team, m.typ, m.name, day(-60)))
		}
	}
	waiting := []struct {
		team, typ string
		opened    int
	}{
		{"duty", "ChildInNeed", -1}, {"duty", "ChildInNeed", -3}, {"duty", "ChildInNeed", -12}, {"duty", "ChildProtection", -4},
		{"duty", "ChildProtection", -40}, {"family-support", "ChildInNeed", -100}, {"leaving-care", "LookedAfter", -20},
	}
	for _, w := range waiting {
		objs = append(objs, newCase(w.team, w.typ, "", day(w.opened)))
	}
	// Open past its timescale, and closed (which counts for nothing).
	objs = append(objs, newCase("family-support", "ChildInNeed", "fs-sw1", day(-400)))
	closed := newCase("duty", "ChildInNeed", "duty-sw3", day(-90))
	closed.Spec.ClosedOn = day(-5)
	objs = append(objs, closed)
	// The policy comes last, so the council is recorded as it is, over-cap practitioners included.
	objs = append(objs, &v1alpha1.CaseloadQuota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "northshire-policy"}, Spec: v1alpha1.CaseloadQuotaSpec{
		Weights: v1alpha1.Weights{CaseTypes: map[string]v1alpha1.CaseWeight{"ChildProtection": "1.5", "LookedAfter": "1.25"}},
		PractitionerCaps: []v1alpha1.PractitionerCap{{Grade: "NewlyQualified", MaxWeight: "12"}, {Grade: "SocialWorker", MaxWeight: "15"},
			{Grade: "SeniorSocialWorker", MaxWeight: "16"}},
		Exceptions:          &v1alpha1.Exceptions{MaxPercent: 120, MaxDays: 28},
		Timescales:          map[string]v1alpha1.Timescale{"ChildInNeed": {MaxOpenDays: 365}},
		AllocationDeadlines: map[string]v1alpha1.AllocationDeadline{"ChildProtection": {MaxUnallocatedDays: 2}, "ChildInNeed": {MaxUnallocatedDays: 10}},
	}})
	for _, o := range objs {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	// Absent since two days ago, after the cases were allocated: they need cover.
	for _, m := range members {
		if !m.absent {
			continue
		}
		// Read again and write again if the operator wrote the practitioner's status in between.
		eventually(t, func() error {
			var p v1alpha1.Practitioner
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: m.name}, &p); err != nil {
				return err
			}
			p.Spec.Absences = []v1alpha1.Absence{{From: day(-2), Until: day(10), Reason: v1alpha1.AbsenceSickness}}
			return env.Client.Update(ctx, &p)
		})
	}
	// A manager's exception: the case waiting 12 days goes to duty-sw2, over the cap, with a reason.
	eventually(t, func() error {
		var p v1alpha1.Practitioner
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "duty-sw2"}, &p); err != nil || p.Status.Band != v1alpha1.BandRed {
			return fmt.Errorf("duty-sw2 is %q, want Red before the exception (%v)", p.Status.Band, err)
		}
		return nil
	})
	// A manager allocates one more case to duty-sw2 above the cap, by exception: decided at once,
	// as a refusal would be, on what the apiserver holds.
	exceptionCase := caseWaitingSince(t, ns, day(-12))
	var kase v1alpha1.Case
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: exceptionCase}, &kase); err != nil {
		t.Fatal(err)
	}
	before := kase.DeepCopy()
	kase.Spec.AllocatedTo = "duty-sw2"
	kase.Annotations = map[string]string{v1alpha1.ExceptionReasonAnnotation: "Continuity: already works with the family"}
	if err := env.Client.Patch(ctx, &kase, client.MergeFrom(before)); err != nil {
		t.Fatalf("the exception was refused: %v", err)
	}
	eventually(t, func() error {
		var c v1alpha1.Case
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: exceptionCase}, &c); err != nil || c.Status.Exception == nil {
			return fmt.Errorf("case %s shows no exception yet (%v)", exceptionCase, err)
		}
		return nil
	})
	return today, today.Add(12 * time.Hour)
}

// caseWaitingSince is the unallocated case of the council opened on that day.
func caseWaitingSince(t *testing.T, ns string, opened v1alpha1.Date) string {
	t.Helper()
	var cases v1alpha1.CaseList
	if err := env.Client.List(context.Background(), &cases, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases.Items {
		if c.Spec.AllocatedTo == "" && c.Spec.OpenedOn == opened {
			return c.Name
		}
	}
	t.Fatalf("no unallocated case of %s opened on %s", ns, opened)
	return ""
}

func eventually(t *testing.T, ok func() error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := ok()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// relativeDates rewrites the dates of a report as days from today, so that a golden file holds
// on any day: "2026-12-28" becomes "today+28", the heading's instant "today 12:00".
func relativeDates(out string, today time.Time) string {
	out = strings.ReplaceAll(out, today.Format("2 January 2006")+" 12:00 UTC", "today 12:00 UTC")
	return regexp.MustCompile(`\d{4}-\d{2}-\d{2}`).ReplaceAllStringFunc(out, func(s string) string {
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return s
		}
		return fmt.Sprintf("today%+d", int(d.Sub(today).Hours()/24))
	})
}

func TestHealthCheckReport(t *testing.T) {
	today, at := northshire(t)

	report := func(t *testing.T, args ...string) string {
		t.Helper()
		out, errOut, code := kubectlCaseloadAt(t, at, append([]string{"-n", "northshire", "report"}, args...)...)
		if code != 0 {
			t.Fatalf("report %v: exit %d: %s", args, code, errOut)
		}
		return relativeDates(out, today)
	}

	t.Run("the figures are the engine's, as status shows them", func(t *testing.T) {
		md := report(t, "--format", "md")
		golden(t, "report-northshire.md", md)
		var teams v1alpha1.TeamList
		if err := env.Client.List(context.Background(), &teams, client.InNamespace("northshire")); err != nil {
			t.Fatal(err)
		}
		for _, tm := range teams.Items {
			row := fmt.Sprintf("| %s | %d | ", tm.Name, tm.Status.Practitioners)
			if !strings.Contains(md, row) || !strings.Contains(md, fmt.Sprintf("| %s | %d%% |", tm.Status.Weight, tm.Status.UtilisationPercent)) {
				t.Errorf("the report's row of %s does not show its status (practitioners %d, weight %s, utilisation %d%%)",
					tm.Name, tm.Status.Practitioners, tm.Status.Weight, tm.Status.UtilisationPercent)
			}
		}
	})

	t.Run("csv is tidy: one row per council, team, measure and category", func(t *testing.T) {
		out := report(t, "--format", "csv")
		golden(t, "report-northshire.csv", out)
		rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, r := range rows[1:] {
			key := strings.Join(r[:4], "/")
			if seen[key] {
				t.Errorf("measure %s appears twice", key)
			}
			seen[key] = true
		}
		if !seen["northshire/duty/practitioners_by_band/Red"] || !seen["northshire/all teams/fairness_by_grade_practitioners/NewlyQualified"] {
			t.Errorf("the CSV lacks measures a spreadsheet needs:\n%s", out)
		}
	})

	t.Run("-o writes the report to a file only its owner reads", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "health-check.csv")
		_, errOut, code := kubectlCaseloadAt(t, at, "-n", "northshire", "report", "--format", "csv", "-o", file)
		if code != 0 || !strings.Contains(errOut, "written to "+file) {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		fi, err := os.Stat(file)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, mode %v; want 0600", file, err, fi.Mode())
		}
		if data, _ := os.ReadFile(file); relativeDates(string(data), today) != report(t, "--format", "csv") {
			t.Errorf("the file differs from what the report prints")
		}
	})

	t.Run("html is one self-contained file", func(t *testing.T) {
		out := report(t, "--format", "html")
		golden(t, "report-northshire.html", out)
		for _, banned := range []string{"<script", "http://", "https://", "<link", "<img", "@import", "url(http"} {
			if strings.Contains(strings.ReplaceAll(out, `xmlns="http://www.w3.org/2000/svg"`, ""), banned) {
				t.Errorf("the HTML report contains %q: it must need nothing from elsewhere", banned)
			}
		}
		if got := strings.Count(out, `role="img"`); got != strings.Count(out, "<desc id=") || got < 5 {
			t.Errorf("%d charts, %d with a text alternative", got, strings.Count(out, "<desc id="))
		}
		checkRendersInChromium(t, out)
	})

	t.Run("the headline gives the change since an earlier snapshot", func(t *testing.T) {
		// An earlier snapshot: the council as it is, less the case that has waited one day.
		w, err := offline.Read(context.Background(), env.Client, []string{"northshire"}, at)
		if err != nil {
			t.Fatal(err)
		}
		w.Cases = slices.DeleteFunc(w.Cases, func(c v1alpha1.Case) bool {
			return c.Spec.AllocatedTo == "" && c.Spec.OpenedOn == v1alpha1.Date(today.AddDate(0, 0, -1).Format(time.DateOnly))
		})
		data, err := w.Marshal(false)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), "last-week.yaml")
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		md := report(t, "--format", "md", "--compare", file)
		if !strings.Contains(md, "(the snapshot compared with): Red teams 1, was 1 (+0); practitioners over capacity 3, was 3 (+0); unallocated cases 6, was 5 (+1);") {
			t.Errorf("the headline does not give the change since the snapshot:\n%s", md[:min(len(md), 1500)])
		}
		// Published, a change is given only where both reports show the figure.
		if md := report(t, "--format", "md", "--compare", file, "--publish"); !strings.Contains(md, "unallocated cases c;") {
			t.Errorf("the published headline gives a change in a suppressed count:\n%s", md[:min(len(md), 1500)])
		}
	})

	t.Run("the headline comes first, in words and figures", func(t *testing.T) {
		md := report(t, "--format", "md")
		for _, want := range []string{
			"### Headline\n\n- 3 teams by band: 1 Red (family-support); 2 Green (duty, leaving-care).",
			"- Practitioners over capacity: 3 of 14 measured (Senior social worker 1, Social worker 2).",
			"- Unallocated cases: 6, the longest waiting 100 days. Overdue cases: 4.",
			"- Weights, capacities and loads are in points.",
			"| Newly qualified |", "| Practitioner weight cap |", "Child protection",
		} {
			if !strings.Contains(md, want) {
				t.Errorf("the report lacks %q", want)
			}
		}
		// Northshire's quota weighs child protection 1.5: points, not cases, so no national comparison.
		if strings.Contains(md, "England") {
			t.Error("a council whose quota weighs case types differently is set beside England's caseload")
		}
		if regexp.MustCompile(`\d\.\d{3}`).MatchString(md) {
			t.Errorf("a figure has more than two decimals:\n%s", regexp.MustCompile(`.*\d\.\d{3}.*`).FindString(md))
		}
	})

	t.Run("--publish names no practitioner and shows no count from 1 to 4", func(t *testing.T) {
		var practitioners v1alpha1.PractitionerList
		if err := env.Client.List(context.Background(), &practitioners, client.InNamespace("northshire")); err != nil {
			t.Fatal(err)
		}
		for _, format := range []string{"md", "csv", "html"} {
			out := report(t, "--format", format, "--publish")
			if format == "md" {
				golden(t, "report-northshire-published.md", out)
			}
			if format == "html" {
				checkFitsTheScreen(t, out)
			}
			for _, p := range practitioners.Items {
				if strings.Contains(out, p.Name) {
					t.Errorf("--publish --format %s names practitioner %s", format, p.Name)
				}
			}
			for _, n := range smallCounts(t, format, out) {
				t.Errorf("--publish --format %s shows a count of %s", format, n)
			}
		}
		// The unpublished report does show them: the check above can fail.
		if len(smallCounts(t, "md", report(t, "--format", "md"))) == 0 {
			t.Error("the unpublished report has no count from 1 to 4 either: the test council is too big to test suppression")
		}
	})
}

// smallCounts are the counts from 1 to 4 a report shows: the count columns of its tables and,
// in HTML, the figures drawn in its charts.
func smallCounts(t *testing.T, format, out string) []string {
	t.Helper()
	small := func(s string) bool {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		return err == nil && n >= 1 && n <= 4
	}
	var found []string
	switch format {
	case "csv":
		rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows[1:] {
			if counted(r[2]) && small(r[4]) {
				found = append(found, strings.Join(r, ","))
			}
		}
	case "md":
		var headers []string
		for _, line := range strings.Split(out, "\n") {
			if !strings.HasPrefix(line, "|") {
				headers = nil
				continue
			}
			cells := strings.Split(strings.Trim(line, "|"), "|")
			if headers == nil {
				headers = cells
				continue
			}
			for i, c := range cells {
				if i < len(headers) && countColumn(headers[i]) && small(c) {
					found = append(found, line)
				}
			}
		}
	case "html":
		for _, m := range regexp.MustCompile(`<td class="count">([^<]*)</td>|<text[^>]*>([^<]*)</text>`).FindAllStringSubmatch(out, -1) {
			if small(m[1]) || small(m[2]) {
				found = append(found, m[0])
			}
		}
	}
	return found
}

// counted says whether a CSV measure is a count of people or cases.
func counted(measure string) bool {
	for _, figure := range []string{"fte", "capacity", "weighted_load", "per_fte", "percent"} {
		if strings.HasSuffix(measure, figure) || measure == figure {
			return false
		}
	}
	return true
}

// countColumn says whether a Markdown column holds counts (the other columns are figures and
// percentages).
func countColumn(header string) bool {
	header = strings.TrimSpace(header)
	if i := strings.Index(header, " ("); i > 0 {
		header = header[:i] // "Capacity (points)": the unit aside
	}
	for _, figure := range []string{"FTE", "Capacity", "Weighted load", "Utilisation", "Cases per FTE", "Weighted per FTE", "Median", "Middle half", "Range", "Share over capacity", "Team", "Team band", "Band", "Type", "Grade", "Case", "Practitioner", "Expires"} {
		if header == figure {
			return false
		}
	}
	return true
}

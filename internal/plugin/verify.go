package plugin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/manifest"
	"caseload.dev/caseload-operator/internal/plugin/kit"
	"caseload.dev/caseload-operator/internal/plugin/offline"
	"caseload.dev/caseload-operator/internal/policy"
	"caseload.dev/caseload-operator/internal/snapshot"
)

// SuiteVersion is the apiVersion of a policy test suite.
const SuiteVersion = "verify.caseload.dev/v1"

// Suite is a council's policy tests, kept in git next to its quotas: a policy (quota files or
// directories), an inventory (manifests of Namespaces, Teams, Practitioners and Cases, or a
// snapshot file), and allocations with what admission should make of them. Paths are relative to
// the suite file.
type Suite struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	// Policy are files or directories of CaseloadQuotas: the council's quotas, every one of them.
	Policy []string `json:"policy"`
	// Inventory are files or directories of manifests; Snapshot a snapshot file. One of them.
	Inventory []string `json:"inventory,omitempty"`
	Snapshot  string   `json:"snapshot,omitempty"`
	// Day is the date the allocations are decided on (YYYY-MM-DD); today when empty.
	Day   string      `json:"day,omitempty"`
	Tests []SuiteTest `json:"tests"`
}

// SuiteTest is one allocation and what admission should make of it.
type SuiteTest struct {
	Name string `json:"name"`
	// Namespace of the case; the suite's inventory's only council when empty.
	Namespace string `json:"namespace,omitempty"`
	// Case names a case of the inventory to allocate; NewCase is a case created allocated.
	Case    string             `json:"case,omitempty"`
	NewCase *v1alpha1.CaseSpec `json:"newCase,omitempty"`
	// Team moves the case to another team of the council: its new team takes it on whole.
	Team string `json:"team,omitempty"`
	// To leads the case (a co-worker promoted to lead leaves the co-workers); CoWorkers join it.
	To        string   `json:"to,omitempty"`
	CoWorkers []string `json:"coWorkers,omitempty"`
	// Expect is allowed or refused.
	Expect string `json:"expect"`
	// Message, a regular expression, must match one of the reasons (refused) or warnings
	// (allowed).
	Message string `json:"message,omitempty"`
}

func newVerifyCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "verify DIR",
		Short: "Run a council's policy tests: suites of allocations and what admission should make of them",
		Long: "kubectl caseload verify runs every suite (apiVersion " + SuiteVersion + ", kind Suite) in the YAML files under " +
			"DIR, offline, with the policy engine the admission webhook uses: each test allocates a case of the suite's " +
			"inventory (or a new one) to a practitioner under the suite's quotas, and says whether it is allowed or refused " +
			"as expected, with a message matching. Output like go test; exit status 1 when any test fails.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.verify(cmd.Context(), args[0]) },
	}
}

func (o *options) verify(ctx context.Context, dir string) error {
	suites, err := findSuites(dir)
	if err != nil {
		return err
	}
	if len(suites) == 0 {
		return fmt.Errorf("no suite (apiVersion %s, kind Suite) under %s", SuiteVersion, dir)
	}
	out := o.Streams.Out
	failed := 0
	for _, path := range suites {
		start := time.Now()
		s, err := readSuite(path)
		var results []testResult
		if err == nil {
			results, err = s.run(ctx, filepath.Dir(path), o)
		}
		if err != nil {
			fmt.Fprintf(out, "FAIL\t%s\t%v\n", path, err)
			failed++
			continue
		}
		bad := 0
		for _, r := range results {
			fmt.Fprintf(out, "=== RUN   %s/%s\n", s.Metadata.Name, r.name)
			if r.failure == "" {
				fmt.Fprintf(out, "--- PASS: %s/%s\n", s.Metadata.Name, r.name)
				continue
			}
			bad++
			fmt.Fprintf(out, "--- FAIL: %s/%s\n    %s\n", s.Metadata.Name, r.name, strings.ReplaceAll(r.failure, "\n", "\n    "))
		}
		took := time.Since(start).Seconds()
		if bad > 0 {
			failed++
			fmt.Fprintf(out, "FAIL\t%s\t%.3fs (%d of %d tests failed)\n", path, took, bad, len(results))
		} else {
			fmt.Fprintf(out, "ok  \t%s\t%.3fs (%d tests)\n", path, took, len(results))
		}
	}
	if failed > 0 {
		return &kit.ExitError{Code: 1, Err: fmt.Errorf("%d suites failed", failed)}
	}
	return nil
}

// findSuites are the YAML files under dir that hold a Suite.
func findSuites(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !slices.Contains([]string{".yaml", ".yml"}, filepath.Ext(path)) {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var head struct{ APIVersion, Kind string }
		if yaml.Unmarshal(data, &head) == nil && head.APIVersion == SuiteVersion && head.Kind == "Suite" {
			out = append(out, path)
		}
		return nil
	})
	return out, err
}

func readSuite(path string) (*Suite, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Suite
	if err := yaml.UnmarshalStrict(data, &s); err != nil {
		return nil, fmt.Errorf("not a suite: %w", err)
	}
	if s.Metadata.Name == "" {
		s.Metadata.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	switch {
	case len(s.Policy) == 0:
		return nil, errors.New("the suite names no policy")
	case (len(s.Inventory) == 0) == (s.Snapshot == ""):
		return nil, errors.New("the suite needs an inventory or a snapshot, one of them")
	}
	return &s, nil
}

type testResult struct{ name, failure string }

// run decides every test of the suite, whose files are relative to base, on its day in each
// council's calendar (o.calendarOf).
func (s *Suite) run(ctx context.Context, base string, o *options) ([]testResult, error) {
	rel := func(paths []string) []string {
		out := make([]string, len(paths))
		for i, p := range paths {
			out[i] = filepath.Join(base, p)
		}
		return out
	}
	var w *offline.World
	var err error
	if s.Snapshot != "" {
		w, err = offline.ReadFile(filepath.Join(base, s.Snapshot))
	} else {
		w, err = readInventory(rel(s.Inventory))
	}
	if err != nil {
		return nil, err
	}
	councils := w.Councils()
	quotas, err := readQuotas(rel(s.Policy), "")
	if err != nil {
		return nil, err
	}
	for i, q := range quotas {
		if q.Namespace == "" && len(councils) == 1 {
			quotas[i].Namespace = councils[0]
		}
		if _, errs := policy.FromSpec(q.Namespace+"/"+q.Name, q.Spec); len(errs) > 0 {
			return nil, fmt.Errorf("CaseloadQuota %s/%s cannot be applied: %w", q.Namespace, q.Name, errs.ToAggregate())
		}
	}
	w.Quotas = quotas
	// The suite's day, or today, is the council's: its time of day is noon there, so that the
	// day is the same in every zone.
	var day policy.Day
	if s.Day != "" {
		if day, err = policy.ParseDay(s.Day); err != nil {
			return nil, fmt.Errorf("day: %w", err)
		}
	}
	r := w.Reader()
	var out []testResult
	for i, t := range s.Tests {
		name := t.Name
		if name == "" {
			name = fmt.Sprintf("test-%d", i+1)
		}
		if t.Namespace == "" && len(councils) == 1 {
			t.Namespace = councils[0]
		}
		cal, err := o.CalendarOf(ctx, r, t.Namespace)
		if err != nil {
			return nil, err
		}
		at := o.Now()
		if !day.IsZero() {
			at = cal.Start(day).Add(12 * time.Hour)
		}
		out = append(out, testResult{name: name, failure: t.check(ctx, r, cal.Calendar, at)})
	}
	return out, nil
}

// check decides the test's allocation and says how it failed; "" when it passed.
func (t SuiteTest) check(ctx context.Context, r client.Reader, cal policy.Calendar, now time.Time) string {
	if t.Expect != "allowed" && t.Expect != "refused" {
		return fmt.Sprintf("expect is %q: allowed or refused", t.Expect)
	}
	old, kase, err := t.changeOf(ctx, r)
	if err != nil {
		return err.Error()
	}
	d, err := decideOffline(ctx, r, old, kase, cal, now)
	if err != nil {
		return err.Error()
	}
	allowed, reasons, warnings := d.Allowed(), d.reasons, d.Warnings
	got := "refused"
	if allowed {
		got = "allowed"
	}
	if got != t.Expect {
		why := ""
		if len(reasons) > 0 {
			why = ":\n" + strings.Join(reasons, "\n")
		}
		return fmt.Sprintf("want %s, got %s%s", t.Expect, got, why)
	}
	if t.Message == "" {
		return ""
	}
	re, err := regexp.Compile(t.Message)
	if err != nil {
		return fmt.Sprintf("message %q is not a regular expression: %v", t.Message, err)
	}
	said := reasons
	if allowed {
		said = warnings
	}
	for _, m := range said {
		if re.MatchString(m) {
			return ""
		}
	}
	return fmt.Sprintf("%s, but no message matches %q; it said:\n%s", got, t.Message, strings.Join(said, "\n"))
}

// changeOf is the test's change: the case of the inventory as it is (nil for a new case) and as
// the test would have it.
func (t SuiteTest) changeOf(ctx context.Context, r client.Reader) (old, kase *v1alpha1.Case, err error) {
	if t.NewCase != nil {
		kase = &v1alpha1.Case{ObjectMeta: metav1.ObjectMeta{Namespace: t.Namespace, Name: "new-case", Generation: 1}, Spec: *t.NewCase}
	} else {
		old = &v1alpha1.Case{}
		if err := r.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: t.Case}, old); err != nil {
			return nil, nil, fmt.Errorf("case %s: %w", t.Case, err)
		}
		kase = old.DeepCopy()
	}
	if t.Team != "" {
		kase.Spec.Team = t.Team
	}
	if t.To != "" {
		kase.Spec.AllocatedTo = t.To
		kase.Spec.CoWorkers = slices.DeleteFunc(slices.Clone(kase.Spec.CoWorkers), func(w string) bool { return w == t.To })
	}
	for _, w := range t.CoWorkers {
		if w != kase.Spec.AllocatedTo && !slices.Contains(kase.Spec.CoWorkers, w) {
			kase.Spec.CoWorkers = append(kase.Spec.CoWorkers, w)
		}
	}
	return old, kase, nil
}

// offlineDecision is what admission would decide about a change, decided offline by the engine,
// with each denial as the webhook says it.
type offlineDecision struct {
	policy.Decision
	reasons []string
}

// decideOffline is the webhook's decision about the change of a case from old (nil for a new
// case) to kase, against r on cal's day at now: who it is decided for by policy.ChangeOf, the
// team read through package snapshot, the decision by policy.DecideChange.
func decideOffline(ctx context.Context, r client.Reader, old, kase *v1alpha1.Case, cal policy.Calendar, now time.Time) (offlineDecision, error) {
	var out offlineDecision
	change := policy.ChangeOf(old, kase, cal)
	if len(change.Subjects) == 0 {
		return out, nil // nothing to decide: admission passes it
	}
	s, err := snapshot.Load(ctx, r, cal, kase.Namespace, kase.Spec.Team, now)
	if err != nil {
		return out, err
	}
	if s.Team == nil {
		out.Denials = []policy.Finding{{Kind: "Team", Name: kase.Spec.Team, Rule: policy.RuleOtherTeam, Action: v1alpha1.EnforcementDeny,
			Message: fmt.Sprintf("there is no Team %s in namespace %s", kase.Spec.Team, kase.Namespace)}}
	} else {
		others := map[string]policy.Practitioner{}
		for _, j := range change.Subjects {
			if _, member := s.View.Member(j.Name); member {
				continue
			}
			var p v1alpha1.Practitioner
			switch err := r.Get(ctx, client.ObjectKey{Namespace: kase.Namespace, Name: j.Name}, &p); {
			case err == nil:
				others[j.Name] = policy.PractitionerFrom(&p)
			case !apierrors.IsNotFound(err):
				return out, err
			}
		}
		out.Decision = policy.DecideChange(s.Policies, s.View, s.Day, change.Before, change.After, change.Subjects, others)
	}
	for _, f := range out.Denials {
		out.reasons = append(out.reasons, f.String())
	}
	return out, nil
}

// readInventory reads manifests of Namespaces, Teams, Practitioners and Cases (quotas are the
// suite's policy, not its inventory).
func readInventory(paths []string) (*offline.World, error) {
	w := &offline.World{APIVersion: offline.SnapshotVersion, Kind: "CaseloadSnapshot"}
	var files []string
	for _, p := range paths {
		found, err := yamlFiles(p)
		if err != nil {
			return nil, err
		}
		files = append(files, found...)
	}
	for _, f := range files {
		objs, err := manifest.DecodeFile(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for _, u := range objs {
			var into any
			switch u.GetKind() {
			case "Namespace":
				w.Namespaces = append(w.Namespaces, corev1.Namespace{})
				into = &w.Namespaces[len(w.Namespaces)-1]
			case "Team":
				w.Teams = append(w.Teams, v1alpha1.Team{})
				into = &w.Teams[len(w.Teams)-1]
			case "Practitioner":
				w.Practitioners = append(w.Practitioners, v1alpha1.Practitioner{})
				into = &w.Practitioners[len(w.Practitioners)-1]
			case "Case":
				w.Cases = append(w.Cases, v1alpha1.Case{})
				into = &w.Cases[len(w.Cases)-1]
			default:
				continue
			}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, into, true); err != nil {
				return nil, fmt.Errorf("%s: %s %s: %w", f, u.GetKind(), u.GetName(), err)
			}
		}
	}
	for i := range w.Cases {
		if w.Cases[i].Generation == 0 {
			w.Cases[i].Generation = 1
		}
	}
	return w, nil
}

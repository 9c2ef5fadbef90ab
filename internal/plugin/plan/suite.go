package plan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/manifest"
	"caseload.dev/caseload-operator/internal/plugin/kit"
	"caseload.dev/caseload-operator/internal/plugin/offline"
	"caseload.dev/caseload-operator/internal/policy"
)

// SuiteVersion is the apiVersion of a policy test suite.
const SuiteVersion = "verify.caseload.dev/v1"

// Suite is a council's policy tests, kept in git next to its quotas: a policy (quota files or
// directories), an inventory (manifests of Namespaces, Teams, Practitioners and Cases, or a
// snapshot file), and changes of cases with what admission should make of them. Paths are
// relative to the suite file.
type Suite struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	// Policy are files or directories of CaseloadQuotas: the council's quotas, every one of them.
	Policy []string `json:"policy"`
	// Inventory are files or directories of manifests; Snapshot a snapshot file. One of them.
	Inventory []string `json:"inventory,omitempty"`
	Snapshot  string   `json:"snapshot,omitempty"`
	// Day is the date the changes are decided on (YYYY-MM-DD); today when empty.
	Day   string      `json:"day,omitempty"`
	Tests []SuiteTest `json:"tests"`
}

// SuiteTest is one change of a case and what admission should make of it. The change is made in
// this order: the patch, then the team, then the lead, then the co-workers.
type SuiteTest struct {
	Name string `json:"name"`
	// Namespace of the case; the suite's inventory's only council when empty.
	Namespace string `json:"namespace,omitempty"`
	// Case names a case of the inventory to change; NewCase is a case created allocated.
	Case    string             `json:"case,omitempty"`
	NewCase *v1alpha1.CaseSpec `json:"newCase,omitempty"`
	// Patch is a JSON merge patch of the case, as `kubectl patch --type merge -p` takes it: for
	// what team, to and coWorkers do not say, such as closing a case ({spec: {closedOn: DAY}}),
	// reopening it ({spec: {closedOn: null}}), raising its complexity or children, or taking a
	// co-worker off it ({spec: {coWorkers: [...]}}, the list as it is to be).
	Patch json.RawMessage `json:"patch,omitempty"`
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

// ReadSuite reads the suite file at path, its name the file's when it gives none.
func ReadSuite(path string) (*Suite, error) {
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

// resolve is the file a suite names: an absolute path as it is, a relative one from the suite's
// directory, base.
func resolve(base, path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(base, path)
}

type testResult struct{ name, failure string }

// suiteRun is what running a suite found: each test's result, and the line naming each
// council's day and time zone.
type suiteRun struct {
	results  []testResult
	councils []string
}

// run decides every test of the suite at path, whose files are relative to it, on its day in
// each council's calendar (kit's CalendarOf).
func (s *Suite) run(ctx context.Context, path string, f *kit.Flags) (*suiteRun, error) {
	base := filepath.Dir(path)
	rel := func(paths []string) []string {
		out := make([]string, len(paths))
		for i, p := range paths {
			out[i] = resolve(base, p)
		}
		return out
	}
	var w *offline.World
	var err error
	if s.Snapshot != "" {
		w, err = offline.ReadFile(resolve(base, s.Snapshot))
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
	out := &suiteRun{}
	named := map[string]bool{}
	for i, t := range s.Tests {
		name := t.Name
		if name == "" {
			name = fmt.Sprintf("test-%d", i+1)
		}
		if t.Namespace == "" && len(councils) == 1 {
			t.Namespace = councils[0]
		}
		cal, err := f.CalendarOf(ctx, r, t.Namespace)
		if err != nil {
			return nil, err
		}
		at := f.Now()
		if !day.IsZero() {
			at = cal.Start(day).Add(12 * time.Hour)
		}
		if !named[t.Namespace] {
			named[t.Namespace] = true
			out.councils = append(out.councils, fmt.Sprintf("%s decided on %s, counting days in %s", t.Namespace, cal.DayOf(at), cal))
		}
		out.results = append(out.results, testResult{name: name, failure: t.check(ctx, r, cal.Calendar, at)})
	}
	return out, nil
}

// check decides the test's change and says how it failed; "" when it passed.
func (t SuiteTest) check(ctx context.Context, r client.Reader, cal policy.Calendar, now time.Time) string {
	if t.Expect != "allowed" && t.Expect != "refused" {
		return fmt.Sprintf("expect is %q: allowed or refused", t.Expect)
	}
	var old *v1alpha1.Case
	if t.NewCase == nil {
		old = &v1alpha1.Case{}
		if err := r.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: t.Case}, old); err != nil {
			return fmt.Sprintf("case %s: %v", t.Case, err)
		}
	}
	kase, err := t.Change(old)
	if err != nil {
		return err.Error()
	}
	d, err := offline.Decide(ctx, r, old, kase, cal, now)
	if err != nil {
		return err.Error()
	}
	allowed, reasons, warnings := d.Allowed(), d.Reasons, d.Warnings
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

// Change is the case as the test would have it: old (a case of the inventory) changed, or, for a
// test of a new case (old nil), the case it creates. The change is the patch, then the team, the
// lead and the co-workers.
func (t SuiteTest) Change(old *v1alpha1.Case) (*v1alpha1.Case, error) {
	var kase *v1alpha1.Case
	if t.NewCase != nil {
		kase = &v1alpha1.Case{ObjectMeta: metav1.ObjectMeta{Namespace: t.Namespace, Name: "new-case", Generation: 1}, Spec: *t.NewCase}
	} else {
		if old == nil {
			return nil, errors.New("the test names no case: case or newCase")
		}
		kase = old.DeepCopy()
	}
	if len(t.Patch) > 0 {
		patched, err := mergePatch(kase, t.Patch)
		if err != nil {
			return nil, err
		}
		kase = patched
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
	return kase, nil
}

// mergePatch is c patched by patch, a JSON merge patch (RFC 7386) as the apiserver applies one
// of type application/merge-patch+json. A patch may not rename the case or move it to another
// council.
func mergePatch(c *v1alpha1.Case, patch json.RawMessage) (*v1alpha1.Case, error) {
	var p any
	if err := json.Unmarshal(patch, &p); err != nil {
		return nil, fmt.Errorf("patch: %w", err)
	}
	if _, ok := p.(map[string]any); !ok {
		return nil, errors.New("patch: a merge patch of a case is an object, such as {spec: {closedOn: \"2026-11-30\"}}")
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(c)
	if err != nil {
		return nil, err
	}
	merged, _ := merge(obj, p).(map[string]any)
	var out v1alpha1.Case
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(merged, &out, true); err != nil {
		return nil, fmt.Errorf("patch: %w", err)
	}
	if out.Name != c.Name || out.Namespace != c.Namespace {
		return nil, errors.New("patch: a patch may not rename a case or move it to another council")
	}
	return &out, nil
}

// merge is RFC 7386's MergePatch: an object patches an object member by member, null removes a
// member, and anything else replaces the target.
func merge(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
		} else {
			t[k] = merge(t[k], v)
		}
	}
	return t
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

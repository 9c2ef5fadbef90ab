package plugin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/manifest"
)

// TestRestoreGivesBackTheSampleCouncil takes a snapshot of the sample council (with an exception
// approved on top), deletes its namespaces and waits until they are gone, restores them through
// the admission webhook, and, once the operator has reconciled, finds every object as it was:
// spec, labels, annotations and status, the exception included.
func TestRestoreGivesBackTheSampleCouncil(t *testing.T) {
	ctx := context.Background()
	// The sample's councils under names of their own, so that this test shares the control plane
	// with the others.
	councils := loadSample(t, "restore-")
	leaveNoCouncil(t, councils...)
	brookfield := "restore-brookfield"
	waitSettled(t, councils)

	// A manager allocates above the cap with a reason, as an approver: the operator records an
	// ExceptionApproval and shows the exception in the case's status.
	var c1401 v1alpha1.Case
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: brookfield, Name: "c-1401"}, &c1401); err != nil {
		t.Fatal(err)
	}
	c1401.Spec.AllocatedTo = "sw-0417"
	c1401.Annotations = map[string]string{v1alpha1.ExceptionReasonAnnotation: "sw-0417 worked with the family before"}
	if err := env.Client.Update(ctx, &c1401); err != nil {
		t.Fatalf("allocate c-1401 to sw-0417 by exception: %v", err)
	}
	waitFor(t, "the exception in c-1401's status", func() bool {
		var c v1alpha1.Case
		return env.Client.Get(ctx, client.ObjectKeyFromObject(&c1401), &c) == nil && c.Status.Exception != nil &&
			c.Annotations[v1alpha1.ExceptionReasonAnnotation] == ""
	})
	waitSettled(t, councils)
	before := councilState(t, councils)
	if !strings.Contains(before["Case "+brookfield+"/c-1401"], `"approvedBy"`) {
		t.Fatalf("c-1401 holds no exception before the backup: %s", before["Case "+brookfield+"/c-1401"])
	}

	dir := t.TempDir()
	var files []string
	for _, ns := range councils {
		file := filepath.Join(dir, ns+".snapshot.yaml")
		if _, errOut, code := kubectlCaseload(t, "-n", ns, "snapshot", "--exception-approvals", "-f", file); code != 0 {
			t.Fatalf("snapshot of %s: exit %d: %s", ns, code, errOut)
		}
		files = append(files, file)
	}

	deleteCouncils(t, councils)

	// A dry run into the empty cluster writes nothing, and says it could ask admission nothing.
	out, errOut, code := kubectlCaseload(t, "restore", "--dry-run", "-f", files[0])
	if code != 0 {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
	}
	golden(t, "restore-sample-dry-run.txt", runOutput(out))
	same(t, "the dry run's stderr", "", errOut)
	if err := env.Client.Get(ctx, client.ObjectKey{Name: councils[0]}, &corev1.Namespace{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a dry run created namespace %s (%v)", councils[0], err)
	}

	start := time.Now()
	for _, file := range files {
		out, errOut, code := kubectlCaseload(t, "restore", "-f", file)
		if code != 0 {
			t.Fatalf("restore %s: exit %d\n%s%s", file, code, out, errOut)
		}
		// Everything created, nothing already there, nothing refused or rejected.
		name := strings.TrimSuffix(filepath.Base(file), ".snapshot.yaml")
		golden(t, "restore-sample-"+name+".txt", runOutput(out))
		golden(t, "restore-sample-"+name+".stderr.txt", runOutput(errOut))
	}
	t.Logf("restored %d councils in %s", len(councils), time.Since(start).Round(time.Millisecond))

	// Every object comes back, and once the operator has reconciled, every status too.
	var after map[string]string
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		after = councilState(t, councils)
		if equalStates(before, after) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restored councils differ from the backup:\n%s", diffStates(before, after))
		}
	}
	if len(after) < 300 {
		t.Fatalf("compared only %d objects", len(after))
	}
}

// TestRestoreListsWhatAdmissionRefusesAndKeepsTheRest restores into a council that is still
// there, where a case was allocated since the snapshot: the case that no longer fits is refused,
// with the webhook's own reason, the others are restored, and nothing is changed or deleted.
func TestRestoreListsWhatAdmissionRefusesAndKeepsTheRest(t *testing.T) {
	ctx := context.Background()
	const ns = "restore-caps"
	leaveNoCouncil(t, ns)
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&v1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "north", Labels: map[string]string{"caseload.dev/service": "safeguarding"}}},
		&v1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "jo"}, Spec: v1alpha1.PractitionerSpec{Team: "north", Grade: "SocialWorker"}},
		&v1alpha1.CaseloadQuota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "caps"}, Spec: v1alpha1.CaseloadQuotaSpec{
			Weights:          v1alpha1.Weights{CaseTypes: map[string]v1alpha1.CaseWeight{"ChildProtection": "1.5"}},
			PractitionerCaps: []v1alpha1.PractitionerCap{{Grade: "SocialWorker", MaxWeight: "3"}},
		}},
		restoreCase(ns, "c-1", "ChildProtection", "2026-11-01"),
		restoreCase(ns, "c-2", "ChildInNeed", "2026-11-02"),
	}
	for _, o := range objs {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(t.TempDir(), "caps.snapshot.yaml")
	if _, errOut, code := kubectlCaseload(t, "-n", ns, "snapshot", "-f", file); code != 0 {
		t.Fatalf("snapshot: exit %d: %s", code, errOut)
	}
	// Since the snapshot: both cases lost, a new one allocated to jo, and the team relabelled.
	for _, name := range []string{"c-1", "c-2"} {
		if err := env.Client.Delete(ctx, &v1alpha1.Case{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := env.Client.Create(ctx, restoreCase(ns, "c-3", "ChildProtection", "2026-11-20")); err != nil {
		t.Fatal(err)
	}
	north := v1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "north"}}
	relabel := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"caseload.dev/service":"early-help"}}}`))
	if err := env.Client.Patch(ctx, &north, relabel); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "jo's status to count c-3 alone", func() bool {
		var jo v1alpha1.Practitioner
		return env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "jo"}, &jo) == nil && jo.Status.Weight == "1.5"
	})

	// A dry run asks admission about each case alone, and writes nothing.
	out, errOut, code := kubectlCaseload(t, "restore", "--dry-run", "-f", file)
	if code != 0 {
		t.Errorf("dry run: exit %d, want 0\n%s%s", code, out, errOut)
	}
	golden(t, "restore-caps-dry-run.txt", runOutput(out))
	golden(t, "restore-caps-dry-run.stderr.txt", runOutput(errOut))
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "c-1"}, &v1alpha1.Case{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a dry run created c-1 (%v)", err)
	}

	out, errOut, code = kubectlCaseload(t, "restore", "-f", file)
	golden(t, "restore-caps.txt", runOutput(out))
	golden(t, "restore-caps.stderr.txt", runOutput(errOut))
	if code != 2 {
		t.Errorf("exit %d with a refusal, want 2", code)
	}
	var cases v1alpha1.CaseList
	if err := env.Client.List(ctx, &cases, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cases.Items {
		names = append(names, c.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"c-1", "c-3"}) {
		t.Errorf("the council holds cases %v, want c-1 restored and c-3 left as it was", names)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "north"}, &north); err != nil || north.Labels["caseload.dev/service"] != "early-help" {
		t.Errorf("restore changed team north's labels: %v (%v)", north.Labels, err)
	}
}

func restoreCase(ns, name, typ string, opened v1alpha1.Date) *v1alpha1.Case {
	return &v1alpha1.Case{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.CaseSpec{Reference: "LCS-" + name, Team: "north", Type: typ, OpenedOn: opened, AllocatedTo: "jo"}}
}

// loadSample loads config/samples/council as `make run` does (internal/sandbox): every object
// created in file-name order, a later document for an object already created applied over it,
// with prefix before each namespace's name. It returns the namespaces.
func loadSample(t *testing.T, prefix string) []string {
	t.Helper()
	ctx := context.Background()
	files, err := filepath.Glob("../../config/samples/council/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no sample council: %v", err)
	}
	sort.Strings(files)
	seen := map[string]bool{}
	var namespaces []string
	for _, f := range files {
		objs, err := manifest.DecodeFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if o.GetKind() == "Namespace" {
				o.SetName(prefix + o.GetName())
				namespaces = append(namespaces, o.GetName())
			} else {
				o.SetNamespace(prefix + o.GetNamespace())
			}
			key := o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
			if seen[key] {
				if err := env.Client.Patch(ctx, o, client.Merge); err != nil {
					t.Fatalf("update %s from %s: %v", key, f, err)
				}
				continue
			}
			if err := env.Client.Create(ctx, o); err != nil {
				t.Fatalf("create %s from %s: %v", key, f, err)
			}
			seen[key] = true
		}
	}
	return namespaces
}

// waitSettled waits until the operator has reconciled every object of the councils.
func waitSettled(t *testing.T, namespaces []string) {
	t.Helper()
	waitFor(t, "every status of "+strings.Join(namespaces, ", "), func() bool {
		for _, ns := range namespaces {
			for _, l := range caseloadLists() {
				if err := env.Client.List(context.Background(), l, client.InNamespace(ns)); err != nil {
					return false
				}
				for _, o := range items(l) {
					if !reconciled(o) {
						return false
					}
				}
			}
		}
		return true
	})
}

func caseloadLists() []client.ObjectList {
	return []client.ObjectList{&v1alpha1.TeamList{}, &v1alpha1.PractitionerList{}, &v1alpha1.CaseList{}, &v1alpha1.CaseloadQuotaList{}, &v1alpha1.ExceptionApprovalList{}}
}

func items(l client.ObjectList) []client.Object {
	var out []client.Object
	switch l := l.(type) {
	case *v1alpha1.TeamList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *v1alpha1.PractitionerList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *v1alpha1.CaseList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *v1alpha1.CaseloadQuotaList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *v1alpha1.ExceptionApprovalList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	}
	return out
}

// reconciled reports whether the operator's status of o is current (an ExceptionApproval has none).
func reconciled(o client.Object) bool {
	var st struct {
		Status struct {
			ObservedGeneration int64              `json:"observedGeneration"`
			Conditions         []metav1.Condition `json:"conditions"`
		} `json:"status"`
	}
	if _, ok := o.(*v1alpha1.ExceptionApproval); ok {
		return true
	}
	data, _ := json.Marshal(o)
	_ = json.Unmarshal(data, &st)
	return st.Status.ObservedGeneration == o.GetGeneration() && slices.ContainsFunc(st.Status.Conditions, func(c metav1.Condition) bool {
		return c.Type == "Ready" && c.Status == metav1.ConditionTrue
	})
}

// councilState is every object of the councils as a restore must give it back: its labels, the
// annotations that matter, spec and status, by kind, namespace and name. Server bookkeeping is
// left out, and so are the instants only a history sets (when a condition last changed, when a
// lead took the case on, since when a worker has been over capacity): a restore is a new history
// from the restore on. Generations are compared as "the status is of the current spec". An
// exception's approval and expiry are instants of the record, and are compared as they are.
func councilState(t *testing.T, namespaces []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, ns := range namespaces {
		var n corev1.Namespace
		if err := env.Client.Get(context.Background(), client.ObjectKey{Name: ns}, &n); err != nil {
			t.Fatal(err)
		}
		out["Namespace "+ns] = state(&n, nil)
		for _, l := range caseloadLists() {
			if err := env.Client.List(context.Background(), l, client.InNamespace(ns)); err != nil {
				t.Fatal(err)
			}
			for _, o := range items(l) {
				kind := strings.TrimSuffix(fmt.Sprintf("%T", l), "List")
				kind = kind[strings.LastIndex(kind, ".")+1:]
				out[kind+" "+ns+"/"+o.GetName()] = state(o, o)
			}
		}
	}
	return out
}

func state(o client.Object, full client.Object) string {
	doc := map[string]any{"labels": o.GetLabels()}
	annotations := map[string]string{}
	for k, v := range o.GetAnnotations() {
		if k != corev1.LastAppliedConfigAnnotation {
			annotations[k] = v
		}
	}
	doc["annotations"] = annotations
	if full != nil {
		data, _ := json.Marshal(full)
		var m map[string]any
		_ = json.Unmarshal(data, &m)
		doc["spec"] = m["spec"]
		doc["status"] = normalise(m["status"], o.GetGeneration())
	}
	data, _ := json.Marshal(doc)
	return string(data)
}

// normalise replaces in a status what only a history sets, and generations, as councilState says.
func normalise(v any, generation int64) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			switch k {
			case "lastTransitionTime", "allocatedSince", "overCapacitySince":
				v[k] = "<instant>"
			case "observedGeneration":
				if g, ok := e.(float64); ok && int64(g) == generation {
					v[k] = "<current>"
				}
			default:
				v[k] = normalise(e, generation)
			}
		}
	case []any:
		for i := range v {
			v[i] = normalise(v[i], generation)
		}
		// Conditions are a map by type: their order is not part of them.
		sort.SliceStable(v, func(i, j int) bool {
			a, _ := v[i].(map[string]any)
			b, _ := v[j].(map[string]any)
			ta, _ := a["type"].(string)
			tb, _ := b["type"].(string)
			return ta < tb
		})
	}
	return v
}

func equalStates(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// diffStates lists the objects lost, added or changed, at most 20.
func diffStates(before, after map[string]string) string {
	var keys []string
	for k := range before {
		keys = append(keys, k)
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		b, inBefore := before[k]
		a, inAfter := after[k]
		switch {
		case !inAfter:
			out = append(out, "lost: "+k)
		case !inBefore:
			out = append(out, "added: "+k)
		case a != b:
			out = append(out, fmt.Sprintf("changed: %s\n  backup:   %s\n  restored: %s", k, b, a))
		}
	}
	if len(out) > 20 {
		out = append(out[:20], fmt.Sprintf("and %d more", len(out)-20))
	}
	return strings.Join(out, "\n")
}

// deleteCouncils deletes the councils' namespaces and waits until they are gone. envtest runs no
// namespace controller, so the test does its work: it deletes what the namespaces hold (the
// operator lets each allocation ledger go once it holds nothing in flight) and then finalizes
// them.
func deleteCouncils(t *testing.T, namespaces []string) {
	t.Helper()
	ctx := context.Background()
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range namespaces {
		if err := env.Client.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
		for _, o := range []client.Object{&v1alpha1.Case{}, &v1alpha1.Practitioner{}, &v1alpha1.Team{}, &v1alpha1.CaseloadQuota{}, &v1alpha1.ExceptionApproval{}, &v1alpha1.AllocationLedger{}} {
			if err := env.Client.DeleteAllOf(ctx, o, client.InNamespace(ns)); err != nil {
				t.Fatalf("delete every %T of %s: %v", o, ns, err)
			}
		}
	}
	waitFor(t, "the councils' objects to go", func() bool {
		for _, ns := range namespaces {
			for _, l := range append(caseloadLists(), &v1alpha1.AllocationLedgerList{}) {
				if err := env.Client.List(ctx, l, client.InNamespace(ns)); err != nil || count(l) > 0 {
					return false
				}
			}
		}
		return true
	})
	for _, ns := range namespaces {
		n, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n.Spec.Finalizers = nil
		if _, err := cs.CoreV1().Namespaces().Finalize(ctx, n, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("finalize namespace %s: %v", ns, err)
		}
	}
	waitFor(t, "the councils' namespaces to go", func() bool {
		for _, ns := range namespaces {
			if err := env.Client.Get(ctx, client.ObjectKey{Name: ns}, &corev1.Namespace{}); !apierrors.IsNotFound(err) {
				return false
			}
		}
		return true
	})
}

// count is how many items a list holds.
func count(l client.ObjectList) int {
	if l, ok := l.(*v1alpha1.AllocationLedgerList); ok {
		return len(l.Items)
	}
	return len(items(l))
}

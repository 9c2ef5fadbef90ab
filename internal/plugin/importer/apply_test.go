package importer

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

// managed is a managedFields entry of manager holding the spec fields given as FieldsV1 JSON.
func managed(manager string, op metav1.ManagedFieldsOperationType, spec string) metav1.ManagedFieldsEntry {
	return metav1.ManagedFieldsEntry{Manager: manager, Operation: op, FieldsType: "FieldsV1",
		FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{` + spec + `}}`)}}
}

func TestCaseAfterApply(t *testing.T) {
	imported := managed(FieldManager, metav1.ManagedFieldsOperationApply,
		`"f:reference":{},"f:team":{},"f:type":{},"f:complexity":{},"f:children":{},"f:openedOn":{},"f:allocatedTo":{},"f:coWorkers":{"v:\"sam\"":{}}`)
	held := v1alpha1.CaseSpec{Reference: "C-1", Team: "north", Type: "ChildInNeed", Complexity: "Standard", Children: 1, OpenedOn: "2025-01-02",
		AllocatedTo: "jo", CoWorkers: []string{"sam"}}
	for _, tc := range []struct {
		name     string
		managers []metav1.ManagedFieldsEntry
		existing v1alpha1.CaseSpec
		// change changes what the row asks for from held.
		change    func(*v1alpha1.CaseSpec)
		unchanged bool
		// kept is what the cluster keeps that the row leaves empty.
		kept bool
	}{
		{name: "the row as imported", managers: []metav1.ManagedFieldsEntry{imported}, existing: held, change: func(*v1alpha1.CaseSpec) {}, unchanged: true},
		{name: "the defaults written out", managers: []metav1.ManagedFieldsEntry{imported}, existing: func() v1alpha1.CaseSpec {
			s := held
			s.Complexity, s.Children = "", 0
			return s
		}(), change: func(*v1alpha1.CaseSpec) {}, unchanged: true},
		{name: "co-workers in another order", managers: []metav1.ManagedFieldsEntry{imported}, existing: func() v1alpha1.CaseSpec {
			s := held
			s.CoWorkers = []string{"sam", "ash"}
			return s
		}(), change: func(s *v1alpha1.CaseSpec) { s.CoWorkers = []string{"ash", "sam"} }, unchanged: true},
		{name: "a new type", managers: []metav1.ManagedFieldsEntry{imported}, existing: held, change: func(s *v1alpha1.CaseSpec) { s.Type = "ChildProtection" }},
		{name: "a lead the import set, now left empty: removed", managers: []metav1.ManagedFieldsEntry{imported}, existing: held,
			change: func(s *v1alpha1.CaseSpec) { s.AllocatedTo = "" }},
		{name: "a lead a manager set, left empty: kept", existing: held, change: func(s *v1alpha1.CaseSpec) { s.AllocatedTo = "" },
			managers:  []metav1.ManagedFieldsEntry{imported, managed("kubectl-edit", metav1.ManagedFieldsOperationUpdate, `"f:allocatedTo":{}`)},
			unchanged: true, kept: true},
		{name: "a lead a manager set, the row another: taken over", existing: held, change: func(s *v1alpha1.CaseSpec) { s.AllocatedTo = "ash" },
			managers: []metav1.ManagedFieldsEntry{imported, managed("kubectl-edit", metav1.ManagedFieldsOperationUpdate, `"f:allocatedTo":{}`)}},
		{name: "a closed date a manager set, left empty: kept", existing: func() v1alpha1.CaseSpec {
			s := held
			s.ClosedOn = "2025-06-01"
			return s
		}(), change: func(*v1alpha1.CaseSpec) {}, unchanged: true, kept: true,
			managers: []metav1.ManagedFieldsEntry{imported, managed("kubectl-edit", metav1.ManagedFieldsOperationUpdate, `"f:closedOn":{}`)}},
		{name: "a co-worker a manager added: kept", existing: func() v1alpha1.CaseSpec {
			s := held
			s.CoWorkers = []string{"sam", "ash"}
			return s
		}(), change: func(*v1alpha1.CaseSpec) {}, unchanged: true, kept: true,
			managers: []metav1.ManagedFieldsEntry{imported, managed("kubectl-edit", metav1.ManagedFieldsOperationUpdate, `"f:coWorkers":{"v:\"ash\"":{}}`)}},
		{name: "a co-worker the import added, now gone from the row: removed", existing: held, change: func(s *v1alpha1.CaseSpec) { s.CoWorkers = nil },
			managers: []metav1.ManagedFieldsEntry{imported}},
		{name: "the operator's status is not the spec", existing: held, change: func(s *v1alpha1.CaseSpec) { s.AllocatedTo = "" },
			managers: []metav1.ManagedFieldsEntry{imported, func() metav1.ManagedFieldsEntry {
				e := managed("caseload-operator", metav1.ManagedFieldsOperationApply, `"f:allocatedTo":{}`)
				e.Subresource = "status"
				return e
			}()}},
		{name: "no managedFields: the apiserver keeps what is there", existing: held, change: func(s *v1alpha1.CaseSpec) { s.AllocatedTo = "" },
			unchanged: true, kept: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			existing := &v1alpha1.Case{ObjectMeta: metav1.ObjectMeta{ManagedFields: tc.managers}, Spec: tc.existing}
			want := held
			want.CoWorkers = slices.Clone(held.CoWorkers)
			tc.change(&want)
			after := caseAfterApply(existing, want)
			if got := sameCase(after, existing.Spec); got != tc.unchanged {
				t.Errorf("unchanged = %v, want %v (after apply %+v)", got, tc.unchanged, after)
			}
			if kept := !sameCase(after, want); kept != tc.kept {
				t.Errorf("kept = %v, want %v (after apply %+v)", kept, tc.kept, after)
			}
		})
	}
}

func TestPractitionerAfterApply(t *testing.T) {
	mine := managed(FieldManager, metav1.ManagedFieldsOperationApply, `"f:team":{},"f:grade":{},"f:fte":{}`)
	theirs := managed("kubectl-edit", metav1.ManagedFieldsOperationUpdate, `"f:fte":{}`)
	for _, tc := range []struct {
		name     string
		managers []metav1.ManagedFieldsEntry
		was, row string
		want     string
	}{
		{"as imported", []metav1.ManagedFieldsEntry{mine}, "0.6", "0.60", "0.6"},
		{"no FTE in the extract, the import's own", []metav1.ManagedFieldsEntry{mine}, "0.6", "", "1"},
		{"no FTE in the extract, a manager's", []metav1.ManagedFieldsEntry{mine, theirs}, "0.6", "", "0.6"},
		{"written 1.0 by someone", []metav1.ManagedFieldsEntry{theirs}, "1.0", "1", "1"},
	} {
		p := &v1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{ManagedFields: tc.managers}, Spec: v1alpha1.PractitionerSpec{Team: "north", Grade: "SocialWorker", FTE: tc.was}}
		if _, _, fte := practitionerAfterApply(p, v1alpha1.PractitionerSpec{Team: "north", Grade: "SocialWorker", FTE: tc.row}); fte != tc.want {
			t.Errorf("%s: FTE after apply %q, want %q", tc.name, fte, tc.want)
		}
	}
}

func TestAllocates(t *testing.T) {
	held := &v1alpha1.Case{Spec: v1alpha1.CaseSpec{Reference: "C", Team: "north", Type: "ChildInNeed", OpenedOn: "2025-01-02", AllocatedTo: "jo"}}
	closed := held.DeepCopy()
	closed.Spec.ClosedOn = "2025-03-01"
	for _, tc := range []struct {
		name     string
		existing *v1alpha1.Case
		change   func(*v1alpha1.CaseSpec)
		want     bool
	}{
		{"a new case with a lead", nil, func(*v1alpha1.CaseSpec) {}, true},
		{"a new case unallocated", nil, func(s *v1alpha1.CaseSpec) { s.AllocatedTo = "" }, false},
		{"a new case, closed", nil, func(s *v1alpha1.CaseSpec) { s.ClosedOn = "2025-03-01" }, false},
		{"closing a case", held, func(s *v1alpha1.CaseSpec) { s.ClosedOn = "2025-03-01" }, false},
		{"unallocating a case", held, func(s *v1alpha1.CaseSpec) { s.AllocatedTo = "" }, false},
		{"a new lead", held, func(s *v1alpha1.CaseSpec) { s.AllocatedTo = "sam" }, true},
		{"a co-worker added", held, func(s *v1alpha1.CaseSpec) { s.CoWorkers = []string{"sam"} }, true},
		{"more children", held, func(s *v1alpha1.CaseSpec) { s.Children = 2 }, true},
		{"another team", held, func(s *v1alpha1.CaseSpec) { s.Team = "south" }, true},
		{"reopened", closed, func(s *v1alpha1.CaseSpec) { s.ClosedOn = "" }, true},
	} {
		want := held.Spec
		tc.change(&want)
		if got := allocates(tc.existing, want); got != tc.want {
			t.Errorf("%s: allocates = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestPractitionerLanesPutTheCasesTakenOnLastLast(t *testing.T) {
	writes := []importWrite{
		{lane: "north/jo", opened: "2025-05-01", problemAt: rowProblem{Line: 2}},
		{lane: "south/sam", opened: "2025-01-01", problemAt: rowProblem{Line: 3}},
		{lane: "north/jo", opened: "2025-01-01", problemAt: rowProblem{Line: 4}},
		{lane: "north/jo", opened: "2025-01-01", problemAt: rowProblem{Line: 5}},
		{lane: "north/jo", opened: "2024-12-01", problemAt: rowProblem{Line: 6}},
		{lane: "north/ash", opened: "2024-12-01", problemAt: rowProblem{Line: 7}},
	}
	got := practitionerLanes(writes, []int{0, 1, 2, 3, 4, 5})
	if want := [][]int{{4, 2, 3, 0}, {5}, {1}}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("lanes %v, want %v: each practitioner's in the order the cases were opened, then by line, the longest lane first", got, want)
	}
	if h := laneHolder(v1alpha1.CaseSpec{CoWorkers: []string{"sam", "ash"}}); h != "sam" {
		t.Errorf("a case with co-workers and no lead waits for %q, want its first co-worker", h)
	}
}

func TestProgress(t *testing.T) {
	clock := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { clock = clock.Add(time.Second); return clock }
	t.Run("a line at every tenth when not on a terminal", func(t *testing.T) {
		var out bytes.Buffer
		p := newProgress(&out, now, false)
		p.begin("cases", 20)
		for i := range 20 {
			o := outcomeApplied
			if i == 3 {
				o = outcomeRefused
			}
			p.step(o)
		}
		p.end()
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 11 || lines[0] != "cases: writing 20" || !strings.HasPrefix(lines[1], "cases: 2 of 20 written (10%) in ") ||
			!strings.HasPrefix(lines[10], "cases: 20 of 20 written (100%), 1 refused by admission in ") {
			t.Errorf("progress lines:\n%s", out.String())
		}
		if strings.Contains(out.String(), "\r") || strings.Contains(out.String(), "\x1b") {
			t.Errorf("a bar drawn where no terminal is: %q", out.String())
		}
	})
	t.Run("a bar redrawn in place on a terminal", func(t *testing.T) {
		var out terminal
		p := newProgress(&out, now, false)
		p.begin("cases", 4)
		for range 4 {
			p.step(outcomeApplied)
		}
		p.end()
		s := out.String()
		if strings.Count(s, "\r\x1b[K") != 5 || !strings.Contains(s, "\r\x1b[Kcases         ███████░░░░░░░░░░░░░░░░░░░░░░░ 1 of 4 written (25%) in ") ||
			!strings.Contains(s, "\r\x1b[Kcases         ██████████████████████████████ 4 of 4 written (100%) in ") || !strings.HasSuffix(s, "s\n") || strings.Count(s, "\n") != 1 {
			t.Errorf("bar %q", s)
		}
	})
	t.Run("a dry run counts what admission was asked about", func(t *testing.T) {
		var out bytes.Buffer
		p := newProgress(&out, now, true)
		p.begin("cases", 2)
		p.step(outcomeApplied)
		p.step(outcomeRefused)
		p.end()
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 3 || lines[0] != "cases: asking admission about 2" || !strings.HasPrefix(lines[1], "cases: 1 of 2 asked (50%) in ") ||
			!strings.HasPrefix(lines[2], "cases: 2 of 2 asked (100%), 1 refused by admission in ") {
			t.Errorf("progress lines:\n%s", out.String())
		}
	})
	t.Run("nothing to write, nothing said", func(t *testing.T) {
		var out bytes.Buffer
		p := newProgress(&out, now, false)
		p.begin("practitioners", 0)
		p.end()
		if out.Len() != 0 {
			t.Errorf("%q", out.String())
		}
	})
}

// terminal is a buffer that says it is a terminal (kit.IsTerminal).
type terminal struct{ bytes.Buffer }

func (*terminal) IsTerminal() bool { return true }

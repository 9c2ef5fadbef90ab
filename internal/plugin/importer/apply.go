package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/plugin/kit"
	"caseload.dev/caseload-operator/internal/policy"
)

// FieldManager is the field manager of the import's writes: the fields it sets are its own,
// so a later import with a field left empty removes only what an import set.
const FieldManager = "kubectl-caseload-import"

// importWrite is one object the import applies: a row of an extract that differs from what the
// cluster holds.
type importWrite struct {
	problemAt rowProblem // the row's file, line and key, for what is said about it
	kind      string     // Case or Practitioner
	create    bool
	obj       *unstructured.Unstructured
	// allocates is true for a change admission decides as an allocation: someone takes on
	// weight. Such writes go in turn, in the order of opened, within their lane: the team and the
	// practitioner who leads the case.
	allocates bool
	lane      string
	opened    v1alpha1.Date
}

// where names the write for an error: the row of an extract, or the object of a snapshot.
func (iw *importWrite) where() string {
	if iw.problemAt.Line == 0 {
		return iw.problemAt.File
	}
	return fmt.Sprintf("%s line %d", iw.problemAt.File, iw.problemAt.Line)
}

// laneHolder is whose turn an allocation waits for: the lead, or the first co-worker of a case
// without one.
func laneHolder(s v1alpha1.CaseSpec) string {
	if s.AllocatedTo == "" && len(s.CoWorkers) > 0 {
		return s.CoWorkers[0]
	}
	return s.AllocatedTo
}

// heldByOthers is which of the fields the import may leave out a field manager other than the
// import holds, so that an apply without them leaves them as they are.
type heldByOthers struct {
	all    bool // nobody holds anything (managedFields gone): the apiserver keeps every field
	fields map[string]bool
	// items are the co-workers someone else holds.
	items map[string]bool
}

func (h heldByOthers) field(name string) bool { return h.all || h.fields[name] }
func (h heldByOthers) item(value string) bool {
	return h.all || h.fields["coWorkers"] || h.items[value]
}

// othersHold reads managedFields for the spec fields and list items that field managers other
// than the import hold.
func othersHold(entries []metav1.ManagedFieldsEntry) heldByOthers {
	h := heldByOthers{all: len(entries) == 0, fields: map[string]bool{}, items: map[string]bool{}}
	for _, e := range entries {
		if e.Subresource != "" || (e.Manager == FieldManager && e.Operation == metav1.ManagedFieldsOperationApply) || e.FieldsV1 == nil {
			continue
		}
		var fields struct {
			Spec map[string]json.RawMessage `json:"f:spec"`
		}
		if err := json.Unmarshal(e.FieldsV1.Raw, &fields); err != nil {
			h.all = true // what cannot be read is taken as held: the import then leaves it alone
			continue
		}
		for key, sub := range fields.Spec {
			name, ok := strings.CutPrefix(key, "f:")
			if !ok {
				continue
			}
			if name != "coWorkers" {
				h.fields[name] = true
				continue
			}
			var items map[string]json.RawMessage
			_ = json.Unmarshal(sub, &items)
			held := false
			for k := range items {
				if v, ok := strings.CutPrefix(k, "v:"); ok {
					var w string
					if json.Unmarshal([]byte(v), &w) == nil {
						h.items[w], held = true, true
					}
				}
			}
			if !held {
				h.fields["coWorkers"] = true // the list as a whole
			}
		}
	}
	return h
}

// caseAfterApply is the spec an existing Case would have once the import applied want to it:
// want, and what want leaves empty that another field manager holds.
func caseAfterApply(existing *v1alpha1.Case, want v1alpha1.CaseSpec) v1alpha1.CaseSpec {
	others := othersHold(existing.ManagedFields)
	got := want
	got.CoWorkers = slices.Clone(want.CoWorkers)
	if want.ClosedOn == "" && others.field("closedOn") {
		got.ClosedOn = existing.Spec.ClosedOn
	}
	if want.AllocatedTo == "" && others.field("allocatedTo") {
		got.AllocatedTo = existing.Spec.AllocatedTo
	}
	for _, w := range existing.Spec.CoWorkers {
		if !slices.Contains(got.CoWorkers, w) && others.item(w) {
			got.CoWorkers = append(got.CoWorkers, w)
		}
	}
	return got
}

// sameCase reports whether two specs are the same case, the CRD's defaults applied and
// co-workers compared as the set they are.
func sameCase(a, b v1alpha1.CaseSpec) bool {
	norm := func(s v1alpha1.CaseSpec) v1alpha1.CaseSpec {
		if s.Complexity == "" {
			s.Complexity = v1alpha1.ComplexityStandard
		}
		if s.Children == 0 {
			s.Children = 1
		}
		s.CoWorkers = slices.Sorted(slices.Values(s.CoWorkers))
		if len(s.CoWorkers) == 0 {
			s.CoWorkers = nil
		}
		return s
	}
	a, b = norm(a), norm(b)
	return a.Reference == b.Reference && a.Team == b.Team && a.Type == b.Type && a.Complexity == b.Complexity &&
		a.Children == b.Children && a.OpenedOn == b.OpenedOn && a.ClosedOn == b.ClosedOn && a.AllocatedTo == b.AllocatedTo &&
		slices.Equal(a.CoWorkers, b.CoWorkers)
}

// practitionerAfterApply is practitioner's spec once the import applied want (team, grade and
// FTE only: the rest is the manager's), with the FTE as the operator writes figures.
func practitionerAfterApply(existing *v1alpha1.Practitioner, want v1alpha1.PractitionerSpec) (team, grade, fte string) {
	fte = want.FTE
	if fte == "" && othersHold(existing.ManagedFields).field("fte") {
		fte = existing.Spec.FTE
	}
	return want.Team, want.Grade, fteOrFull(fte)
}

// fteOrFull is an FTE as the operator writes figures, full time ("1") when not given.
func fteOrFull(s string) string {
	if s == "" {
		return "1"
	}
	if c, err := canonicalFTE(s); err == nil {
		return c
	}
	return s
}

// caseApply is the apply configuration of a Case: the fields the row sets, and no others.
func caseApply(namespace, name string, s v1alpha1.CaseSpec) *unstructured.Unstructured {
	spec := map[string]any{"reference": s.Reference, "team": s.Team, "type": s.Type, "complexity": string(s.Complexity),
		"children": int64(s.Children), "openedOn": string(s.OpenedOn)}
	if s.ClosedOn != "" {
		spec["closedOn"] = string(s.ClosedOn)
	}
	if s.AllocatedTo != "" {
		spec["allocatedTo"] = s.AllocatedTo
	}
	if len(s.CoWorkers) > 0 {
		ws := make([]any, len(s.CoWorkers))
		for i, w := range s.CoWorkers {
			ws[i] = w
		}
		spec["coWorkers"] = ws
	}
	return applyObject("Case", namespace, name, spec)
}

// practitionerApply is the apply configuration of a Practitioner: team, grade, and FTE when the
// extract gives it.
func practitionerApply(namespace, name string, s v1alpha1.PractitionerSpec) *unstructured.Unstructured {
	spec := map[string]any{"team": s.Team, "grade": s.Grade}
	if s.FTE != "" {
		spec["fte"] = s.FTE
	}
	return applyObject("Practitioner", namespace, name, spec)
}

func applyObject(kind, namespace, name string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": v1alpha1.GroupVersion.String(), "kind": kind,
		"metadata": map[string]any{"name": name, "namespace": namespace},
		"spec":     spec,
	}}
}

// allocates reports whether admission decides the change from existing (nil for a new case) to
// want as an allocation: someone takes the case on, or more of its weight, as policy.ChangeOf
// says for the webhook.
func allocates(existing *v1alpha1.Case, want v1alpha1.CaseSpec) bool {
	return len(policy.ChangeOf(existing, &v1alpha1.Case{Spec: want}, policy.UTC).Subjects) > 0
}

// writeOutcome is what became of one write.
type writeOutcome int

const (
	outcomeNotTried writeOutcome = iota
	outcomeApplied
	outcomeRefused   // by the admission webhook
	outcomeRejected  // by the API's own validation
	outcomeUndecided // not asked: see importWrite
)

type writeResult struct {
	outcome  writeOutcome
	reason   string
	warnings []string
}

// writer applies the import's writes, at most concurrency at once.
type writer struct {
	client      client.Client
	dryRun      bool
	concurrency int
	progress    *progress
	// retryWait is the first wait before a request that could not be answered is tried again.
	retryWait time.Duration
	// fieldManager owns what the writes set: FieldManager unless said otherwise.
	fieldManager string
}

// lanes runs the writes of each lane in order, lanes side by side, and records each result at the
// write's index. It stops at the first error that is not about a row (the cluster cannot be
// reached, the user may not write), and returns it.
func (w *writer) lanes(ctx context.Context, writes []importWrite, lanes [][]int, results []writeResult) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan []int)
	var wg sync.WaitGroup
	for range min(w.concurrency, max(len(lanes), 1)) {
		wg.Go(func() {
			for lane := range next {
				for _, i := range lane {
					if ctx.Err() != nil {
						break
					}
					res, err := w.apply(ctx, &writes[i])
					if err != nil {
						cancel(fmt.Errorf("%s: %w", writes[i].where(), err))
						break
					}
					results[i] = res
					w.progress.step(res.outcome)
				}
			}
		})
	}
	for _, lane := range lanes {
		select {
		case next <- lane:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// apply writes one object by server-side apply, as the import's field manager, taking over the
// fields it sets from any other manager. A request the apiserver could not answer (the webhook
// busy, a timeout) is tried again a few times; an error about the row is its result; any other
// error is returned.
func (w *writer) apply(ctx context.Context, iw *importWrite) (writeResult, error) {
	manager := w.fieldManager
	if manager == "" {
		manager = FieldManager
	}
	opts := []client.ApplyOption{client.FieldOwner(manager), client.ForceOwnership}
	if w.dryRun {
		opts = append(opts, client.DryRunAll)
	}
	wait := w.retryWait
	for attempt := 1; ; attempt++ {
		reqCtx, warnings := kit.WithWarnings(ctx)
		err := w.client.Apply(reqCtx, client.ApplyConfigurationFromUnstructured(iw.obj.DeepCopy()), opts...)
		if err == nil {
			return writeResult{outcome: outcomeApplied, warnings: warnings.Texts}, nil
		}
		if reasons, refused := kit.AdmissionRefusal(err); refused {
			return writeResult{outcome: outcomeRefused, reason: joinReasons(reasons)}, nil
		}
		if apierrors.IsInvalid(err) {
			return writeResult{outcome: outcomeRejected, reason: "the cluster refuses it: " + invalidReasons(err)}, nil
		}
		if !retriable(err) || attempt == 5 || ctx.Err() != nil {
			return writeResult{}, err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return writeResult{}, ctx.Err()
		}
		wait *= 2
	}
}

// retriable reports whether a request may be answered if asked again: the apiserver or the
// webhook busy or slow, or the connection lost.
func retriable(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return true // no answer at all: the connection
	}
	return apierrors.IsServiceUnavailable(err) || apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) ||
		apierrors.IsTooManyRequests(err) || apierrors.IsInternalError(err) || apierrors.IsUnexpectedServerError(err)
}

func joinReasons(rs []kit.Reason) string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Message
		if r.Field != "" {
			out[i] = r.Field + ": " + r.Message
		}
	}
	return strings.Join(out, "; ")
}

// invalidReasons is what the API's validation says of an object, field by field.
func invalidReasons(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Details != nil && len(status.Status().Details.Causes) > 0 {
		var out []string
		for _, c := range status.Status().Details.Causes {
			out = append(out, strings.TrimSpace(c.Field+": "+c.Message))
		}
		return strings.Join(out, "; ")
	}
	return err.Error()
}

// practitionerLanes puts the writes that allocate in lanes of the practitioner who leads each
// case, each in the order the cases were opened (then by line): a practitioner over their cap in
// the extract has the cases they took on last refused, as admission would have refused them
// then, whatever the timing. Lanes go side by side, the longest first, so that concurrent
// allocations are spread over teams and practitioners (admission decides a team's together).
func practitionerLanes(writes []importWrite, which []int) [][]int {
	byLane := map[string][]int{}
	for _, i := range which {
		byLane[writes[i].lane] = append(byLane[writes[i].lane], i)
	}
	lanes := make([][]int, 0, len(byLane))
	for _, lane := range byLane {
		sort.SliceStable(lane, func(a, b int) bool {
			wa, wb := writes[lane[a]], writes[lane[b]]
			if wa.opened != wb.opened {
				return wa.opened < wb.opened
			}
			return wa.problemAt.Line < wb.problemAt.Line
		})
		lanes = append(lanes, lane)
	}
	sort.Slice(lanes, func(a, b int) bool {
		if len(lanes[a]) != len(lanes[b]) {
			return len(lanes[a]) > len(lanes[b])
		}
		return writes[lanes[a][0]].lane < writes[lanes[b][0]].lane
	})
	return lanes
}

// oneLaneEach is a lane for each write: writes that nothing orders.
func oneLaneEach(which []int) [][]int {
	lanes := make([][]int, len(which))
	for i, w := range which {
		lanes[i] = []int{w}
	}
	return lanes
}

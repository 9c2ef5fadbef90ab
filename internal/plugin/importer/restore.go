package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/plugin/kit"
	"caseload.dev/caseload-operator/internal/plugin/offline"
	"caseload.dev/caseload-operator/internal/words"
)

// RestoreFieldManager is the field manager of what restore writes.
const RestoreFieldManager = "kubectl-caseload-restore"

// restoreIncomplete is restore's exit status when some objects were refused or rejected.
const restoreIncomplete = 2

// restoreStep is one step of a restore: the objects of one kind, written in one order.
type restoreStep struct {
	what string
	kind string
	// away marks the step that gives practitioners held back their absences and availability:
	// its progress is shown, but it is said apart from the counts of what was created.
	away bool
	// lanes are the writes of the step (indexes into the restore's writes), each lane in turn.
	lanes [][]int
	// What became of the step's objects; notAsked counts, in a dry run, those admission could not
	// be asked about, since they need objects the restore would create first.
	created, existing, refused, rejected, notAsked int
}

// restoreWrite is an importWrite of a snapshot's object, with what it needs in the cluster.
type restoreWrite struct {
	importWrite
	step int
	// askable is false in a dry run for an object whose team, practitioners or namespace this
	// restore would create: admission cannot be asked about it before they exist.
	askable bool
}

// restoreSkipped is what a restore leaves out, and says so.
type restoreSkipped struct {
	// differing are objects already in the cluster that differ from the snapshot.
	differing []string
	// reasons are cases whose caseload.dev/exception-reason annotation is not written again.
	reasons int
	// exceptions are cases held under an exception in the snapshot, which keeps no approval.
	exceptions int
	// heldBack are practitioners whose absences and availability are written after the cases.
	heldBack int
}

// RestoreOptions are `kubectl caseload restore`'s: the snapshot, and how to write it.
type RestoreOptions struct {
	*kit.Flags
	// File is the snapshot, as `kubectl caseload snapshot` wrote it.
	File string
	// DryRun says what would be created, asks admission where it can, and writes nothing.
	DryRun bool
	// Concurrency is how many writes are in flight at once.
	Concurrency int
}

// NewRestoreCommand is `kubectl caseload restore`.
func NewRestoreCommand(f *kit.Flags) *cobra.Command {
	o := &RestoreOptions{Flags: f}
	cmd := &cobra.Command{
		Use:   "restore -f SNAPSHOT [--dry-run]",
		Short: "Create a council's teams, practitioners, cases and quotas again from a snapshot, through admission",
		Long: "kubectl caseload restore creates again, from a file written by `kubectl caseload snapshot`, the objects of the " +
			"councils it holds that the cluster does not have: Namespaces, Teams, Practitioners, ExceptionApprovals, Cases and " +
			"CaseloadQuotas, in that order, by server-side apply through the admission webhook. Practitioners who are away get " +
			"their absences and availability after the cases they hold, and quotas come after the cases, so that what the " +
			"council held when the snapshot was taken is admitted as it was (reality is recorded, not refused). An object " +
			"already in the cluster is left as it is, and restore never deletes anything. It writes no status (the operator " +
			"recomputes it) and no AllocationLedger (the operator's record of allocations in flight). With -n, only that " +
			"council of the file is restored.",
		Args: cobra.NoArgs,
		RunE: kit.RunE(o),
	}
	cmd.Flags().StringVarP(&o.File, "filename", "f", "", "The snapshot to restore, as `kubectl caseload snapshot` wrote it (take it with --exception-approvals for a backup).")
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "Say what would be created, ask admission about each object by server-side dry run where what it needs is already there, and write nothing.")
	cmd.Flags().IntVar(&o.Concurrency, "concurrency", 8, "How many writes to have in flight at once.")
	return cmd
}

// Complete has nothing to take from the arguments: cobra has refused any.
func (o *RestoreOptions) Complete([]string) error { return nil }

// Validate says what is missing or wrong in the flags before the snapshot is read.
func (o *RestoreOptions) Validate() error {
	if o.File == "" {
		return errors.New("say which snapshot to restore: -f FILE")
	}
	if o.Concurrency < 1 {
		return fmt.Errorf("--concurrency %d: at least 1", o.Concurrency)
	}
	return nil
}

// Run restores what the cluster lacks of the snapshot's councils (with -n, of that council), a
// kind at a time, and says what it left out.
func (o *RestoreOptions) Run(ctx context.Context) error {
	file, dryRun, concurrency := o.File, o.DryRun, o.Concurrency
	w, err := offline.ReadFile(file)
	if err != nil {
		return err
	}
	if ns := *o.Config.Namespace; ns != "" && !o.AllNamespaces {
		w = w.Council(ns)
		if len(w.Namespaces) == 0 && len(w.Teams) == 0 {
			return fmt.Errorf("%s holds no council %s", file, ns)
		}
	}
	c, _, err := writeClient(o.Flags)
	if err != nil {
		return err
	}
	plan, err := planRestore(ctx, c, w, dryRun)
	if err != nil {
		return err
	}
	out := o.Streams.Out
	verb := "Restore"
	if dryRun {
		verb = "Dry run of a restore (nothing is written)"
	}
	fmt.Fprintf(out, "%s of %s (taken %s) into %s:\n", verb, file, w.TakenAt.UTC().Format(time.RFC3339), strings.Join(w.NamespaceNames(), ", "))

	results := make([]writeResult, len(plan.writes))
	wr := &writer{client: c, dryRun: dryRun, concurrency: concurrency, progress: newProgress(o.Streams.ErrOut, o.Now, dryRun),
		retryWait: 200 * time.Millisecond, fieldManager: RestoreFieldManager}
	writes := make([]importWrite, len(plan.writes))
	for i := range plan.writes {
		writes[i] = plan.writes[i].importWrite
	}
	var stopped error
	for s := range plan.steps {
		step := &plan.steps[s]
		n := 0
		for _, l := range step.lanes {
			n += len(l)
		}
		wr.progress.begin(step.what, n)
		stopped = wr.lanes(ctx, writes, step.lanes, results)
		wr.progress.end()
		if stopped != nil {
			break
		}
	}

	var refused, rejected []string
	notWritten := 0
	for i, rw := range plan.writes {
		step := &plan.steps[rw.step]
		res := results[i]
		switch res.outcome {
		case outcomeApplied:
			step.created++
		case outcomeRefused:
			step.refused++
			refused = append(refused, rw.where()+": "+res.reason)
		case outcomeRejected:
			step.rejected++
			rejected = append(rejected, rw.where()+": "+res.reason)
		case outcomeNotTried:
			if stopped != nil && rw.askable {
				notWritten++
			}
		}
	}
	created := "created"
	if dryRun {
		created = "would be created"
	}
	for _, step := range plan.steps {
		if step.away {
			continue
		}
		line := fmt.Sprintf("  %s: %d %s, %d already there", step.what, step.created, created, step.existing)
		if step.refused > 0 {
			line += fmt.Sprintf(", %d refused by admission", step.refused)
		}
		if step.rejected > 0 {
			line += fmt.Sprintf(", %d rejected", step.rejected)
		}
		if step.notAsked > 0 {
			line += fmt.Sprintf(", %d not asked (they need objects this restore would create first)", step.notAsked)
		}
		fmt.Fprintln(out, line)
	}
	if n := plan.skipped.heldBack; n > 0 {
		given := words.Of(n, "was") + " given"
		if dryRun {
			given = "would be given"
		}
		fmt.Fprintf(out, "  %s away %s their absences and availability after the cases they hold, which admission would not otherwise allocate to them\n", words.Count(n, "practitioner"), given)
	}
	sayList(out, "Refused by admission, not restored", refused)
	sayList(out, "Rejected by the API, not restored", rejected)
	sayList(out, "Already there and different from the snapshot, left as they are", plan.skipped.differing)
	sayNotRestored(out, plan.skipped)
	switch {
	case stopped != nil:
		return fmt.Errorf("the restore stopped with %s not written (run it again: what it created is left as it is): %w", words.Count(notWritten, "object"), stopped)
	case len(refused)+len(rejected) > 0:
		n := len(refused) + len(rejected)
		fmt.Fprintf(out, "%s %s not restored: make room for %s (or correct %[3]s) and run the restore again; what it created now is then left as it is.\n", words.Count(n, "object"), words.Of(n, "was"), them(n))
		return &kit.ExitError{Code: restoreIncomplete, Err: fmt.Errorf("%s not restored", words.Count(n, "object"))}
	}
	return nil
}

// restorePlan is what a restore writes, step by step, and what it leaves out.
type restorePlan struct {
	writes  []restoreWrite
	steps   []restoreStep
	skipped restoreSkipped
}

// planRestore decides what to write of w into the cluster c holds. The order is what admission
// needs to take a council back as it was:
//
//  1. Namespaces, then Teams: a Practitioner or Case must name a Team of its namespace.
//  2. Practitioners, without their absences and availability: admission gives no new case to
//     someone away, and the cases they held when the snapshot was taken are theirs still.
//  3. ExceptionApprovals, before the cases they admitted, so that the operator finds each as
//     soon as its case is back and shows the exception in the case's status again.
//  4. Cases, each practitioner's in the order they were opened.
//  5. CaseloadQuotas after the cases: what a worker held over the cap (by an exception, or since
//     a cap was lowered or they went part-time) was held, not allocated now, and a policy that
//     puts someone over their cap is recorded, never refused. A quota the cluster already has
//     does cap what is restored, and what it refuses is listed.
//  6. The practitioners held back, with their absences and availability.
func planRestore(ctx context.Context, c client.Client, w *offline.World, dryRun bool) (*restorePlan, error) {
	have, err := readCluster(ctx, c, w)
	if err != nil {
		return nil, err
	}
	p := &restorePlan{steps: []restoreStep{
		{what: "namespaces", kind: "Namespace"}, {what: "teams", kind: "Team"}, {what: "practitioners", kind: "Practitioner"},
		{what: "exception approvals", kind: "ExceptionApproval"}, {what: "cases", kind: "Case"},
		{what: "caseload quotas", kind: "CaseloadQuota"}, {what: "practitioners away", kind: "Practitioner", away: true},
	}}
	const (
		stepNamespaces = iota
		stepTeams
		stepPractitioners
		stepApprovals
		stepCases
		stepQuotas
		stepAway
	)
	var allocating []int
	add := func(step int, obj client.Object, spec any, askable bool) int {
		kind := p.steps[step].kind
		u := applyOf(kind, obj, spec)
		p.writes = append(p.writes, restoreWrite{
			importWrite: importWrite{problemAt: rowProblem{File: kind + " " + key(obj)}, kind: kind, create: true, obj: u},
			step:        step, askable: askable || !dryRun,
		})
		i := len(p.writes) - 1
		if step != stepCases {
			p.steps[step].lanes = append(p.steps[step].lanes, []int{i})
		}
		return i
	}
	// there counts obj as already there when the cluster has it, noting when same says it differs.
	there := func(step int, obj client.Object, same func() bool) bool {
		if !have.has(p.steps[step].kind, obj) {
			return false
		}
		p.steps[step].existing++
		if !same() {
			p.skipped.differing = append(p.skipped.differing, p.steps[step].kind+" "+key(obj))
		}
		return true
	}

	for i := range w.Namespaces {
		n := &w.Namespaces[i]
		if ns, ok := have.namespaces[n.Name]; ok {
			if ns.DeletionTimestamp != nil {
				return nil, fmt.Errorf("namespace %s is being deleted: wait until it is gone, then restore", n.Name)
			}
			p.steps[stepNamespaces].existing++
			continue
		}
		add(stepNamespaces, n, nil, false)
	}
	nsThere := func(ns string) bool { _, ok := have.namespaces[ns]; return ok }
	for i := range w.Teams {
		t := &w.Teams[i]
		if !there(stepTeams, t, func() bool {
			return have.sameMeta(have.teams[key(t)], t) && equality.Semantic.DeepEqual(have.teams[key(t)].Spec, t.Spec)
		}) {
			add(stepTeams, t, t.Spec, nsThere(t.Namespace))
		}
	}
	for i := range w.Practitioners {
		pr := &w.Practitioners[i]
		if there(stepPractitioners, pr, func() bool {
			got := have.practitioners[key(pr)]
			return have.sameMeta(got, pr) && equality.Semantic.DeepEqual(got.Spec, pr.Spec)
		}) {
			continue
		}
		teamThere := have.teams[pr.Namespace+"/"+pr.Spec.Team] != nil
		spec := pr.Spec
		if away := !pr.IsAvailable() || len(spec.Absences) > 0; away {
			p.skipped.heldBack++
			spec.Available, spec.Absences = nil, nil
			add(stepAway, pr, pr.Spec, false)
		}
		add(stepPractitioners, pr, spec, teamThere)
	}
	for i := range w.ExceptionApprovals {
		a := &w.ExceptionApprovals[i]
		if !there(stepApprovals, a, func() bool { return equality.Semantic.DeepEqual(have.approvals[key(a)], a.Spec) }) {
			add(stepApprovals, a, a.Spec, nsThere(a.Namespace))
		}
	}
	withApproval := map[string]bool{}
	for _, a := range w.ExceptionApprovals {
		withApproval[a.Namespace+"/"+a.Spec.Case] = true
	}
	for i := range w.Cases {
		cs := &w.Cases[i]
		if cs.Status.Exception != nil && !withApproval[key(cs)] {
			p.skipped.exceptions++
		}
		if _, ok := cs.Annotations[v1alpha1.ExceptionReasonAnnotation]; ok {
			// The reason approved the allocation it came with; written again, it would ask for
			// an exception anew. The ExceptionApproval keeps it.
			p.skipped.reasons++
			cs = cs.DeepCopy()
			delete(cs.Annotations, v1alpha1.ExceptionReasonAnnotation)
		}
		if there(stepCases, cs, func() bool {
			got := have.cases[key(cs)]
			return have.sameMeta(got, cs) && equality.Semantic.DeepEqual(got.Spec, cs.Spec)
		}) {
			continue
		}
		askable := have.teams[cs.Namespace+"/"+cs.Spec.Team] != nil
		for _, name := range append([]string{cs.Spec.AllocatedTo}, cs.Spec.CoWorkers...) {
			if name != "" && have.practitioners[cs.Namespace+"/"+name] == nil {
				askable = false
			}
		}
		i := add(stepCases, cs, cs.Spec, askable)
		rw := &p.writes[i]
		rw.opened = cs.Spec.OpenedOn
		if rw.allocates = allocates(nil, cs.Spec); rw.allocates {
			rw.lane = cs.Namespace + "/" + cs.Spec.Team + "/" + laneHolder(cs.Spec)
			allocating = append(allocating, i)
		} else {
			p.steps[stepCases].lanes = append(p.steps[stepCases].lanes, []int{i})
		}
	}
	writes := make([]importWrite, len(p.writes))
	for i := range p.writes {
		writes[i] = p.writes[i].importWrite
	}
	p.steps[stepCases].lanes = append(p.steps[stepCases].lanes, practitionerLanes(writes, allocating)...)
	for i := range w.Quotas {
		q := &w.Quotas[i]
		if !there(stepQuotas, q, func() bool {
			return have.sameMeta(have.quotas[key(q)], q) && equality.Semantic.DeepEqual(have.quotas[key(q)].Spec, q.Spec)
		}) {
			add(stepQuotas, q, q.Spec, nsThere(q.Namespace))
		}
	}
	if dryRun {
		// Nothing is created, so the practitioners held back are never given back their
		// absences; and what admission cannot be asked about is not sent.
		p.steps[stepAway].lanes = nil
		for s := range p.steps {
			for l, lane := range p.steps[s].lanes {
				p.steps[s].lanes[l] = slices.DeleteFunc(lane, func(i int) bool { return !p.writes[i].askable })
			}
		}
		for i := range p.writes {
			if !p.writes[i].askable && p.writes[i].step != stepAway {
				p.steps[p.writes[i].step].notAsked++
			}
		}
	}
	return p, nil
}

// sayNotRestored says what a restore leaves out, and why.
func sayNotRestored(out io.Writer, s restoreSkipped) {
	fmt.Fprintln(out, "Not restored:")
	fmt.Fprintln(out, "  AllocationLedgers: a snapshot holds none. They are the operator's record of allocations in flight; the operator starts each team's afresh.")
	fmt.Fprintln(out, "  status: the operator recomputes it. A case waiting for a worker counts its wait from the day it opened, never less than it waited.")
	if s.exceptions > 0 {
		fmt.Fprintf(out, "  the exceptions of %s: the snapshot keeps no ExceptionApprovals (take it with --exception-approvals), so their status will not show who let them go over the cap, or until when\n", words.Count(s.exceptions, "case"))
	}
	if s.reasons > 0 {
		fmt.Fprintf(out, "  the %s annotation of %s: it approved the allocation it came with, and would ask for an exception anew\n", v1alpha1.ExceptionReasonAnnotation, words.Count(s.reasons, "case"))
	}
}

// sayList prints a titled list, or nothing when it is empty.
func sayList(out io.Writer, title string, items []string) {
	if len(items) == 0 {
		return
	}
	slices.Sort(items)
	fmt.Fprintf(out, "%s (%d):\n", title, len(items))
	for _, it := range items {
		fmt.Fprintf(out, "  %s\n", it)
	}
}

// applyOf is the apply configuration restore writes of obj: its name, namespace, labels and
// annotations, and spec (none for a Namespace). Never status.
func applyOf(kind string, obj client.Object, spec any) *unstructured.Unstructured {
	gv := v1alpha1.GroupVersion.String()
	if kind == "Namespace" {
		gv = "v1"
	}
	meta := map[string]any{"name": obj.GetName()}
	if ns := obj.GetNamespace(); ns != "" {
		meta["namespace"] = ns
	}
	if l := obj.GetLabels(); len(l) > 0 {
		meta["labels"] = stringMap(l)
	}
	if a := obj.GetAnnotations(); len(a) > 0 {
		meta["annotations"] = stringMap(a)
	}
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": gv, "kind": kind, "metadata": meta}}
	if spec != nil {
		var m map[string]any
		data, err := json.Marshal(spec)
		if err == nil {
			err = json.Unmarshal(data, &m)
		}
		if err != nil {
			panic(fmt.Sprintf("the spec of %s %s: %v", kind, key(obj), err)) // the API's own types always marshal
		}
		u.Object["spec"] = m
	}
	return u
}

func stringMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func key(o client.Object) string {
	if o.GetNamespace() == "" {
		return o.GetName()
	}
	return o.GetNamespace() + "/" + o.GetName()
}

// clusterHas is what the cluster already holds of a snapshot's councils.
type clusterHas struct {
	namespaces    map[string]*corev1.Namespace
	teams         map[string]*v1alpha1.Team
	practitioners map[string]*v1alpha1.Practitioner
	cases         map[string]*v1alpha1.Case
	quotas        map[string]*v1alpha1.CaseloadQuota
	approvals     map[string]v1alpha1.ExceptionApprovalSpec
}

// readCluster lists, in each namespace w holds, what the cluster has of the kinds restore writes.
func readCluster(ctx context.Context, c client.Client, w *offline.World) (*clusterHas, error) {
	h := &clusterHas{namespaces: map[string]*corev1.Namespace{}, teams: map[string]*v1alpha1.Team{},
		practitioners: map[string]*v1alpha1.Practitioner{}, cases: map[string]*v1alpha1.Case{},
		quotas: map[string]*v1alpha1.CaseloadQuota{}, approvals: map[string]v1alpha1.ExceptionApprovalSpec{}}
	for _, ns := range w.NamespaceNames() {
		var n corev1.Namespace
		switch err := c.Get(ctx, client.ObjectKey{Name: ns}, &n); {
		case err == nil:
			h.namespaces[ns] = &n
		case client.IgnoreNotFound(err) != nil:
			return nil, fmt.Errorf("read namespace %s: %w", ns, err)
		default:
			continue // a council not there at all: everything of it is to be created
		}
		var teams v1alpha1.TeamList
		var prs v1alpha1.PractitionerList
		var cases v1alpha1.CaseList
		var quotas v1alpha1.CaseloadQuotaList
		for _, l := range []client.ObjectList{&teams, &prs, &cases, &quotas} {
			if err := c.List(ctx, l, client.InNamespace(ns)); err != nil {
				return nil, fmt.Errorf("read what %s holds: %w", ns, err)
			}
		}
		for i := range teams.Items {
			h.teams[key(&teams.Items[i])] = &teams.Items[i]
		}
		for i := range prs.Items {
			h.practitioners[key(&prs.Items[i])] = &prs.Items[i]
		}
		for i := range cases.Items {
			h.cases[key(&cases.Items[i])] = &cases.Items[i]
		}
		for i := range quotas.Items {
			h.quotas[key(&quotas.Items[i])] = &quotas.Items[i]
		}
		if len(w.ExceptionApprovals) > 0 {
			var approvals v1alpha1.ExceptionApprovalList
			if err := c.List(ctx, &approvals, client.InNamespace(ns)); err != nil {
				return nil, fmt.Errorf("read the exception approvals of %s (restoring them needs caseload-approver's reading and an admin's writing): %w", ns, err)
			}
			for _, a := range approvals.Items {
				h.approvals[key(&a)] = a.Spec
			}
		}
	}
	return h, nil
}

// has reports whether the cluster holds an object of kind with obj's name.
func (h *clusterHas) has(kind string, obj client.Object) bool {
	k := key(obj)
	switch kind {
	case "Team":
		return h.teams[k] != nil
	case "Practitioner":
		return h.practitioners[k] != nil
	case "Case":
		return h.cases[k] != nil
	case "CaseloadQuota":
		return h.quotas[k] != nil
	case "ExceptionApproval":
		_, ok := h.approvals[k]
		return ok
	}
	return false
}

// sameMeta reports whether got, the cluster's object, has want's labels and the annotations
// that matter.
func (h *clusterHas) sameMeta(got, want client.Object) bool {
	return equality.Semantic.DeepEqual(got.GetLabels(), want.GetLabels()) && equality.Semantic.DeepEqual(annotationsThatMatter(got), annotationsThatMatter(want))
}

// annotationsThatMatter are an object's annotations but kubectl's record of its last apply.
func annotationsThatMatter(o client.Object) map[string]string {
	out := map[string]string{}
	for k, v := range o.GetAnnotations() {
		if k != corev1.LastAppliedConfigAnnotation {
			out[k] = v
		}
	}
	return out
}

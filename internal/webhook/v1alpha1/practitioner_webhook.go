package v1alpha1

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	caseloadv1alpha1 "caseload.dev/caseload-operator/api/v1alpha1"
	admit "caseload.dev/caseload-operator/internal/admission"
	"caseload.dev/caseload-operator/internal/index"
	"caseload.dev/caseload-operator/internal/policy"
	"caseload.dev/caseload-operator/internal/words"
)

// +kubebuilder:webhook:path=/validate-caseload-dev-v1alpha1-practitioner,mutating=false,failurePolicy=fail,sideEffects=None,groups=caseload.dev,resources=practitioners,verbs=create;update;delete,versions=v1alpha1,name=vpractitioner.caseload.dev,admissionReviewVersions=v1,timeoutSeconds=10,matchPolicy=Equivalent,patch=`{"matchConditions":[{"name":"creates-deletes-and-team-moves","expression":"request.operation != 'UPDATE' || oldObject.spec.team != object.spec.team"}]}`

// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get

var practitionerKind = schema.GroupKind{Group: caseloadv1alpha1.GroupVersion.Group, Kind: "Practitioner"}

// mustMoveShown is how many objects a refused delete lists before saying how many more.
const mustMoveShown = 10

// PractitionerValidator checks that a practitioner names an existing Team, and refuses to
// delete one who still holds open cases: the cases would be left with a lead nobody can find.
// Only creates, deletes and moves to another team reach it (matchConditions): recording an
// absence, a reduction or a change of FTE never waits for the operator, which may be down.
type PractitionerValidator struct {
	Cache client.Reader
	// Ledgers fences a move out of a team in that team's ledger (see CaseValidator.Ledgers).
	Ledgers *admit.Writer
	Live    client.Reader
}

var _ admission.Validator[*caseloadv1alpha1.Practitioner] = &PractitionerValidator{}

// ValidateCreate checks spec.team.
func (v *PractitionerValidator) ValidateCreate(ctx context.Context, p *caseloadv1alpha1.Practitioner) (admission.Warnings, error) {
	return nil, requireTeam(ctx, v.Cache, v.Live, practitionerKind, p.Namespace, p.Name, p.Spec.Team)
}

// ValidateUpdate checks spec.team when it changes, and refuses the move while the practitioner
// holds open cases of the team they leave: those cases would be held from another team. Other
// changes (leave, FTE, reductions) are never refused, even when they put the practitioner over
// the cap: reality is recorded.
func (v *PractitionerValidator) ValidateUpdate(ctx context.Context, old, p *caseloadv1alpha1.Practitioner) (admission.Warnings, error) {
	if old.Spec.Team == p.Spec.Team {
		return nil, nil
	}
	if err := requireTeam(ctx, v.Cache, v.Live, practitionerKind, p.Namespace, p.Name, p.Spec.Team); err != nil {
		return nil, err
	}
	// The move is decided in the ledger of the team left, with compare-and-swap like an
	// allocation there: either an allocation to them is admitted first, and the move sees it, or
	// the move is, and the ledger lists them as leaving until every cache that counts it shows
	// the move, so no allocation to them in that team is admitted from a cache that does not.
	req, err := admission.RequestFromContext(ctx)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	dryRun := req.DryRun != nil && *req.DryRun
	leave := func(ctx context.Context, spec caseloadv1alpha1.AllocationLedgerSpec, live client.Reader) (caseloadv1alpha1.AllocationLedgerSpec, error) {
		casesHeld, err := v.holding(ctx, old, spec, live)
		if err != nil {
			return spec, err
		}
		if len(casesHeld) > 0 {
			return spec, apierrors.NewForbidden(schema.GroupResource{Group: practitionerKind.Group, Resource: "practitioners"}, p.Name,
				fmt.Errorf("%s still holds %s of team %s: reallocate or close them before moving %s to team %s: %s",
					p.Name, words.Count(len(casesHeld), "open case"), old.Spec.Team, p.Name, p.Spec.Team, mustMove(casesHeld)))
		}
		if dryRun {
			return spec, nil
		}
		spec.Departures = append(slices.Clip(spec.Departures), caseloadv1alpha1.Departure{ID: string(req.UID), Practitioner: p.Name, UID: string(p.UID), Generation: p.Generation, Team: p.Spec.Team})
		return spec, nil
	}
	key := types.NamespacedName{Namespace: old.Namespace, Name: old.Spec.Team}
	if dryRun {
		return nil, v.Ledgers.DryRun(ctx, key, leave)
	}
	return nil, v.Ledgers.Submit(ctx, key, leave)
}

// holding lists the open cases of p's team that p holds, each with the role: those a cache (or,
// when live, the apiserver) shows, and those the ledger's entries allocate to them that are not
// stored yet.
func (v *PractitionerValidator) holding(ctx context.Context, p *caseloadv1alpha1.Practitioner, spec caseloadv1alpha1.AllocationLedgerSpec, live client.Reader) ([]string, error) {
	var cases caseloadv1alpha1.CaseList
	var err error
	if live != nil {
		err = live.List(ctx, &cases, client.InNamespace(p.Namespace), client.MatchingFields{"spec.team": p.Spec.Team})
	} else {
		err = v.Cache.List(ctx, &cases, client.InNamespace(p.Namespace), client.MatchingFields{index.OpenCaseByPractitioner: p.Name})
	}
	if err != nil {
		return nil, admit.Unavailable(fmt.Errorf("list the cases of %s: %w", p.Name, err))
	}
	stored := map[string]caseloadv1alpha1.Case{}
	roleIn := map[string]string{}
	for _, c := range cases.Items {
		stored[c.Name] = c
		if c.Spec.Team != p.Spec.Team || !c.IsOpen() {
			continue
		}
		for _, h := range policy.Holders(policy.CaseFrom(&c, policy.UTC)) {
			if h.Name == p.Name {
				roleIn[c.Name] = roleName(h.Role)
			}
		}
	}
	for _, r := range spec.Reservations {
		if r.Practitioner != p.Name || r.Team != p.Spec.Team {
			continue
		}
		if c, ok := stored[r.Case]; live != nil && ok && string(c.UID) == r.CaseUID && c.Generation >= r.Generation {
			continue // stored: the list says whether they still hold it
		}
		if _, ok := roleIn[r.Case]; !ok {
			roleIn[r.Case] = roleName(r.Role) + ", just allocated"
		}
	}
	out := make([]string, 0, len(roleIn))
	for name, role := range roleIn {
		out = append(out, fmt.Sprintf("%s (%s)", name, role))
	}
	return out, nil
}

func roleName(r policy.Role) string {
	if r == caseloadv1alpha1.RoleLead {
		return "lead"
	}
	return "co-worker"
}

// ValidateDelete refuses while the practitioner holds open cases, listing them.
func (v *PractitionerValidator) ValidateDelete(ctx context.Context, p *caseloadv1alpha1.Practitioner) (admission.Warnings, error) {
	casesHeld, err := v.openCasesHeld(ctx, p)
	if err != nil || len(casesHeld) == 0 {
		return nil, err
	}
	if terminating, err := namespaceTerminating(ctx, v.Live, p.Namespace); err != nil || terminating {
		return nil, err
	}
	return nil, apierrors.NewForbidden(schema.GroupResource{Group: practitionerKind.Group, Resource: "practitioners"}, p.Name,
		fmt.Errorf("%s still holds %s: reallocate or close them first, so that no case is left without its worker: %s",
			p.Name, words.Count(len(casesHeld), "open case"), mustMove(casesHeld)))
}

// openCasesHeld lists the open cases the practitioner holds, each with the role held in it.
func (v *PractitionerValidator) openCasesHeld(ctx context.Context, p *caseloadv1alpha1.Practitioner) ([]string, error) {
	var cases caseloadv1alpha1.CaseList
	if err := v.Cache.List(ctx, &cases, client.InNamespace(p.Namespace), client.MatchingFields{index.OpenCaseByPractitioner: p.Name}); err != nil {
		return nil, admit.Unavailable(fmt.Errorf("list the cases of %s: %w", p.Name, err))
	}
	out := make([]string, 0, len(cases.Items))
	for _, c := range cases.Items {
		role := caseloadv1alpha1.RoleCoWorker
		if c.Spec.AllocatedTo == p.Name {
			role = caseloadv1alpha1.RoleLead
		}
		out = append(out, fmt.Sprintf("%s (%s)", c.Name, roleName(role)))
	}
	return out, nil
}

// namespaceTerminating reports whether the namespace is being deleted. Its objects then go
// with it, and refusing their deletion would only leave the namespace stuck in Terminating.
func namespaceTerminating(ctx context.Context, live client.Reader, namespace string) (bool, error) {
	var ns corev1.Namespace
	if err := live.Get(ctx, client.ObjectKey{Name: namespace}, &ns); err != nil {
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, admit.Unavailable(fmt.Errorf("read namespace %s: %w", namespace, err))
	}
	return ns.DeletionTimestamp != nil || ns.Status.Phase == corev1.NamespaceTerminating, nil
}

// mustMove lists what has to move first, sorted, at most mustMoveShown, and says how many more.
func mustMove(items []string) string {
	sort.Strings(items)
	if len(items) <= mustMoveShown {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:mustMoveShown], ", "), len(items)-mustMoveShown)
}

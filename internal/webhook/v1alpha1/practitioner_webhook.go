package v1alpha1

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	caseloadv1alpha1 "caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/index"
	"caseload.dev/caseload-operator/internal/policy"
	"caseload.dev/caseload-operator/internal/snapshot"
)

// +kubebuilder:webhook:path=/validate-caseload-dev-v1alpha1-practitioner,mutating=false,failurePolicy=fail,sideEffects=None,groups=caseload.dev,resources=practitioners,verbs=create;update;delete,versions=v1alpha1,name=vpractitioner.caseload.dev,admissionReviewVersions=v1,timeoutSeconds=10,matchPolicy=Equivalent

// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get

var practitionerKind = schema.GroupKind{Group: caseloadv1alpha1.GroupVersion.Group, Kind: "Practitioner"}

// mustMoveShown is how many objects a refused delete lists before saying how many more.
const mustMoveShown = 10

// PractitionerValidator checks that a practitioner names an existing Team, and refuses to
// delete one who still holds open cases: the cases would be left with a lead nobody can find.
type PractitionerValidator struct {
	Cache client.Reader
	// Seen is how far Cache has come with Cases (see CaseValidator.Seen).
	Seen *snapshot.CaseProgress
	Live client.Reader
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
	// An allocation admitted a moment ago may be only in the team's ledger yet. The ledger is
	// read live, and the cache must have come as far as the ledger's seenThrough: a case whose
	// entry has gone from the ledger is then in the cache.
	l, err := snapshot.Ledger(ctx, v.Live, old.Namespace, old.Spec.Team)
	if err != nil {
		return nil, unavailable(err)
	}
	caughtUp, cancel := context.WithTimeout(ctx, catchUp)
	defer cancel()
	if err := v.Seen.Reach(caughtUp, l.Spec.SeenThrough); err != nil {
		return nil, unavailable(fmt.Errorf("the allocation ledger of team %s: %w", l.Name, err))
	}
	held, err := v.held(ctx, p)
	if err != nil {
		return nil, err
	}
	if len(held) == 0 {
		if held, err = v.reserved(ctx, old, l); err != nil || len(held) == 0 {
			return nil, err
		}
	}
	return nil, apierrors.NewForbidden(schema.GroupResource{Group: practitionerKind.Group, Resource: "practitioners"}, p.Name,
		fmt.Errorf("%s still holds %s of team %s: reallocate or close them before moving %s to team %s: %s",
			p.Name, plural(len(held), "open case"), old.Spec.Team, p.Name, p.Spec.Team, mustMove(held)))
}

// reserved lists the open cases of the practitioner's team that its ledger l (read live) has
// just allocated to them, and that the apiserver confirms they hold: allocations the
// cache may not show yet.
func (v *PractitionerValidator) reserved(ctx context.Context, p *caseloadv1alpha1.Practitioner, l *caseloadv1alpha1.AllocationLedger) ([]string, error) {
	seen := map[string]bool{}
	var held []string
	for _, r := range l.Spec.Reservations {
		if r.Practitioner != p.Name || r.Team != p.Spec.Team || seen[r.Case] {
			continue
		}
		seen[r.Case] = true
		var c caseloadv1alpha1.Case
		if err := v.Live.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: r.Case}, &c); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return nil, unavailable(fmt.Errorf("read case %s: %w", r.Case, err))
		}
		for _, h := range policy.Holders(policy.CaseFrom(&c, policy.UTC)) {
			if h.Name == p.Name && c.IsOpen() && c.Spec.Team == p.Spec.Team {
				held = append(held, fmt.Sprintf("%s (%s)", c.Name, roleName(h.Role)))
			}
		}
	}
	return held, nil
}

func roleName(r policy.Role) string {
	if r == caseloadv1alpha1.RoleLead {
		return "lead"
	}
	return "co-worker"
}

// ValidateDelete refuses while the practitioner holds open cases, listing them.
func (v *PractitionerValidator) ValidateDelete(ctx context.Context, p *caseloadv1alpha1.Practitioner) (admission.Warnings, error) {
	held, err := v.held(ctx, p)
	if err != nil || len(held) == 0 {
		return nil, err
	}
	if terminating, err := namespaceTerminating(ctx, v.Live, p.Namespace); err != nil || terminating {
		return nil, err
	}
	return nil, apierrors.NewForbidden(schema.GroupResource{Group: practitionerKind.Group, Resource: "practitioners"}, p.Name,
		fmt.Errorf("%s still holds %s: reallocate or close them first, so that no case is left without its worker: %s",
			p.Name, plural(len(held), "open case"), mustMove(held)))
}

// held lists the open cases the practitioner holds, each with the role held in it.
func (v *PractitionerValidator) held(ctx context.Context, p *caseloadv1alpha1.Practitioner) ([]string, error) {
	var cases caseloadv1alpha1.CaseList
	if err := v.Cache.List(ctx, &cases, client.InNamespace(p.Namespace), client.MatchingFields{index.OpenCaseByPractitioner: p.Name}); err != nil {
		return nil, unavailable(fmt.Errorf("list the cases of %s: %w", p.Name, err))
	}
	held := make([]string, 0, len(cases.Items))
	for _, c := range cases.Items {
		role := caseloadv1alpha1.RoleCoWorker
		if c.Spec.AllocatedTo == p.Name {
			role = caseloadv1alpha1.RoleLead
		}
		held = append(held, fmt.Sprintf("%s (%s)", c.Name, roleName(role)))
	}
	return held, nil
}

// namespaceTerminating reports whether the namespace is being deleted. Its objects then go
// with it, and refusing their deletion would only leave the namespace stuck in Terminating.
func namespaceTerminating(ctx context.Context, live client.Reader, namespace string) (bool, error) {
	var ns corev1.Namespace
	if err := live.Get(ctx, client.ObjectKey{Name: namespace}, &ns); err != nil {
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, unavailable(fmt.Errorf("read namespace %s: %w", namespace, err))
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

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

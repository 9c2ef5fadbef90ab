package v1alpha1

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	caseloadv1alpha1 "caseload.dev/caseload-operator/api/v1alpha1"
	admit "caseload.dev/caseload-operator/internal/admission"
	"caseload.dev/caseload-operator/internal/index"
	"caseload.dev/caseload-operator/internal/words"
)

// Only deletes are sent: a Team's spec has nothing the schema cannot check, and every call
// through a webhook with failurePolicy Fail is one more thing that can refuse work.
// +kubebuilder:webhook:path=/validate-caseload-dev-v1alpha1-team,mutating=false,failurePolicy=fail,sideEffects=None,groups=caseload.dev,resources=teams,verbs=delete,versions=v1alpha1,name=vteam.caseload.dev,admissionReviewVersions=v1,timeoutSeconds=10,matchPolicy=Equivalent

// TeamValidator refuses to delete a team that still has members or open cases.
type TeamValidator struct {
	Cache client.Reader
	Live  client.Reader
}

var _ admission.Validator[*caseloadv1alpha1.Team] = &TeamValidator{}

// ValidateCreate allows every Team.
func (v *TeamValidator) ValidateCreate(context.Context, *caseloadv1alpha1.Team) (admission.Warnings, error) {
	return nil, nil
}

// ValidateUpdate allows every change.
func (v *TeamValidator) ValidateUpdate(context.Context, *caseloadv1alpha1.Team, *caseloadv1alpha1.Team) (admission.Warnings, error) {
	return nil, nil
}

// ValidateDelete refuses while practitioners or open cases name the team, listing them.
func (v *TeamValidator) ValidateDelete(ctx context.Context, t *caseloadv1alpha1.Team) (admission.Warnings, error) {
	var members caseloadv1alpha1.PractitionerList
	if err := v.Cache.List(ctx, &members, client.InNamespace(t.Namespace), client.MatchingFields{index.PractitionerByTeam: t.Name}); err != nil {
		return nil, admit.Unavailable(fmt.Errorf("list the members of team %s: %w", t.Name, err))
	}
	var cases caseloadv1alpha1.CaseList
	if err := v.Cache.List(ctx, &cases, client.InNamespace(t.Namespace), client.MatchingFields{index.OpenCaseByTeam: t.Name}); err != nil {
		return nil, admit.Unavailable(fmt.Errorf("list the cases of team %s: %w", t.Name, err))
	}
	if len(members.Items) == 0 && len(cases.Items) == 0 {
		return nil, nil
	}
	if terminating, err := namespaceTerminating(ctx, v.Live, t.Namespace); err != nil || terminating {
		return nil, err
	}
	var parts []string
	if n := len(members.Items); n > 0 {
		names := make([]string, n)
		for i, p := range members.Items {
			names[i] = p.Name
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", words.Count(n, "practitioner"), mustMove(names)))
	}
	if n := len(cases.Items); n > 0 {
		names := make([]string, n)
		for i, c := range cases.Items {
			names[i] = c.Name
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", words.Count(n, "open case"), mustMove(names)))
	}
	return nil, apierrors.NewForbidden(schema.GroupResource{Group: caseloadv1alpha1.GroupVersion.Group, Resource: "teams"}, t.Name,
		fmt.Errorf("team %s still has %s: move them to another team or close the cases first", t.Name, strings.Join(parts, " and ")))
}

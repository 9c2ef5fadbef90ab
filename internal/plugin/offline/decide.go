package offline

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/policy"
	"caseload.dev/caseload-operator/internal/snapshot"
)

// Decision is what admission would decide about a change of a case, decided offline by the
// engine, with each denial as the webhook says it.
type Decision struct {
	policy.Decision
	// Reasons are the denials, worded as the webhook words them.
	Reasons []string
}

// Decide is the webhook's decision about the change of a case from old (nil for a new case) to
// kase, read through r on cal's day at now: who it is decided for by policy.ChangeOf, the team read
// through package snapshot, the decision by policy.DecideChange. A change decided for nobody
// passes, as admission passes it, unless it creates a case or moves one into a team there is no
// Team for.
func Decide(ctx context.Context, r client.Reader, old, kase *v1alpha1.Case, cal policy.Calendar, now time.Time) (Decision, error) {
	var out Decision
	change := policy.ChangeOf(old, kase, cal)
	if len(change.Subjects) == 0 && old != nil && !change.MovedTeam {
		return out, nil
	}
	s, err := snapshot.Load(ctx, r, cal, kase.Namespace, kase.Spec.Team, now)
	if err != nil {
		return out, err
	}
	switch {
	case s.Team == nil:
		out.Denials = []policy.Finding{{Kind: "Team", Name: kase.Spec.Team, Rule: policy.RuleOtherTeam, Action: v1alpha1.EnforcementDeny,
			Message: fmt.Sprintf("there is no Team %s in namespace %s", kase.Spec.Team, kase.Namespace)}}
	case len(change.Subjects) == 0:
		return out, nil // nothing to decide: admission passes it
	default:
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
		out.Reasons = append(out.Reasons, f.String())
	}
	return out, nil
}

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	caseloadv1alpha1 "caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/policy"
	"caseload.dev/caseload-operator/internal/testenv"
)

// shown is what a Practitioner's or Team's status should show: the weight and number of open
// cases the engine computes from the stored cases.
type shown struct {
	weight policy.Milli
	cases  int
}

// waitForStatuses waits, up to within, until every practitioner's and team's status in ns shows
// what want gives for it, and fails the test (naming each figure behind) when it does not.
func waitForStatuses(t *testing.T, env *testenv.Env, ns string, within time.Duration, practitioners, teams map[string]shown) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(within)
	for {
		var behind []string
		check := func(kind, name string, weight caseloadv1alpha1.Figure, cases int32, want shown) {
			if string(weight) != want.weight.String() || int(cases) != want.cases {
				behind = append(behind, fmt.Sprintf("%s %s shows weight %q and %d cases, the stored cases %s and %d", kind, name, weight, cases, want.weight, want.cases))
			}
		}
		for name, want := range practitioners {
			var pr caseloadv1alpha1.Practitioner
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &pr); err != nil {
				t.Fatal(err)
			}
			check("practitioner", name, pr.Status.Weight, pr.Status.Cases, want)
		}
		for name, want := range teams {
			var tm caseloadv1alpha1.Team
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &tm); err != nil {
				t.Fatal(err)
			}
			check("team", name, tm.Status.Weight, tm.Status.Cases, want)
		}
		if len(behind) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("after %v, statuses do not show the stored cases:\n%s", within, strings.Join(behind, "\n"))
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitForLedgersToDrain waits, until deadline, for no AllocationLedger of ns to hold an entry or a
// departure: every admitted change stored and seen, or its request ended and its entry gone. It
// fails the test when they do not, and returns what the ledgers held when it first looked.
func waitForLedgersToDrain(t *testing.T, env *testenv.Env, ns string, deadline time.Time) (first []string) {
	t.Helper()
	for looked := false; ; looked = true {
		var ledgers caseloadv1alpha1.AllocationLedgerList
		if err := env.Client.List(context.Background(), &ledgers, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		var left []string
		for _, l := range ledgers.Items {
			for _, r := range l.Spec.Reservations {
				left = append(left, fmt.Sprintf("%s: %s (uid %s, generation %d) for %s as %s, admitted %s", l.Name, r.Case, r.CaseUID, r.Generation, r.Practitioner, r.Role, r.AdmittedAt.Format(time.RFC3339)))
			}
			for _, d := range l.Spec.Departures {
				left = append(left, fmt.Sprintf("%s: %s leaving for %s (generation %d)", l.Name, d.Practitioner, d.Team, d.Generation))
			}
		}
		if !looked {
			first = left
		}
		if len(left) == 0 {
			return first
		}
		if time.Now().After(deadline) {
			t.Errorf("the ledgers still hold %d entries:\n%s", len(left), strings.Join(left, "\n"))
			return first
		}
		time.Sleep(200 * time.Millisecond)
	}
}

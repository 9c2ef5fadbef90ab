// Package index defines the field indexes every part of the operator reads through: open cases
// by practitioner (lead or co-worker), open cases by team, practitioners by team, and exception
// approvals by case. The
// manager, the webhook and the tests call the same Setup, so an index that one of them needs
// can never be missing in another.
package index

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

const (
	// OpenCaseByPractitioner indexes open Cases by the names of their lead and co-workers.
	OpenCaseByPractitioner = "caseload.dev/open-case-practitioner"
	// OpenCaseByTeam indexes open Cases by spec.team.
	OpenCaseByTeam = "caseload.dev/open-case-team"
	// PractitionerByTeam indexes Practitioners by spec.team.
	PractitionerByTeam = "caseload.dev/practitioner-team"
	// ExceptionApprovalByCase indexes ExceptionApprovals by spec.case.
	ExceptionApprovalByCase = "caseload.dev/exception-approval-case"
)

// CasePractitioners is the extractor of OpenCaseByPractitioner.
func CasePractitioners(obj client.Object) []string {
	c, ok := obj.(*v1alpha1.Case)
	if !ok || !c.IsOpen() {
		return nil
	}
	var names []string
	if c.Spec.AllocatedTo != "" {
		names = append(names, c.Spec.AllocatedTo)
	}
	return append(names, c.Spec.CoWorkers...)
}

// CaseTeam is the extractor of OpenCaseByTeam.
func CaseTeam(obj client.Object) []string {
	c, ok := obj.(*v1alpha1.Case)
	if !ok || !c.IsOpen() || c.Spec.Team == "" {
		return nil
	}
	return []string{c.Spec.Team}
}

// PractitionerTeam is the extractor of PractitionerByTeam.
func PractitionerTeam(obj client.Object) []string {
	p, ok := obj.(*v1alpha1.Practitioner)
	if !ok || p.Spec.Team == "" {
		return nil
	}
	return []string{p.Spec.Team}
}

// ApprovalCase is the extractor of ExceptionApprovalByCase.
func ApprovalCase(obj client.Object) []string {
	a, ok := obj.(*v1alpha1.ExceptionApproval)
	if !ok || a.Spec.Case == "" {
		return nil
	}
	return []string{a.Spec.Case}
}

// Setup registers every index with the indexer (a manager's GetFieldIndexer()).
func Setup(ctx context.Context, indexer client.FieldIndexer) error {
	for _, ix := range []struct {
		obj     client.Object
		key     string
		extract client.IndexerFunc
	}{
		{&v1alpha1.Case{}, OpenCaseByPractitioner, CasePractitioners},
		{&v1alpha1.Case{}, OpenCaseByTeam, CaseTeam},
		{&v1alpha1.Practitioner{}, PractitionerByTeam, PractitionerTeam},
		{&v1alpha1.ExceptionApproval{}, ExceptionApprovalByCase, ApprovalCase},
	} {
		if err := indexer.IndexField(ctx, ix.obj, ix.key, ix.extract); err != nil {
			return fmt.Errorf("index %s: %w", ix.key, err)
		}
	}
	return nil
}

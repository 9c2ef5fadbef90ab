package v1alpha1

import (
	"context"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	caseloadv1alpha1 "caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/builders"
	"caseload.dev/caseload-operator/internal/index"
	"caseload.dev/caseload-operator/internal/ledger"
	"caseload.dev/caseload-operator/internal/policy"
)

// Direct tests of one allocation's phases (evaluate, approve, reserve) against a fake client:
// what each decides on its own, without a batch, a ledger write or an apiserver. The envtest
// tests (webhook_test.go, enforcement_test.go) and the simulation check the same code end to end.

const council = "council"

// allocationFixture is a Case validator whose cache and apiserver are one fake client holding
// team north: jo (social worker, cap 3) leading a child protection case (weight 2, twice that
// when highly complex), and ali (newly qualified, cap 2) with nothing. Exceptions may take someone up to 50% over a cap for
// 14 days. Only "manager" may approve one; approvals counts the questions asked.
type allocationFixture struct {
	v         *CaseValidator
	approvals int
	now       time.Time
}

func newAllocationFixture(t *testing.T) *allocationFixture {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := caseloadv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	f := &allocationFixture{now: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	objs := []client.Object{
		builders.MakeTeam("north").Namespace(council).StatusQuota("caps").Obj(),
		builders.MakePractitioner("jo", "north", "SocialWorker").Namespace(council).Obj(),
		builders.MakePractitioner("ali", "north", "NewlyQualified").Namespace(council).Obj(),
		builders.MakeQuota("caps").Namespace(council).Weigh("ChildProtection", "2").Weigh("EarlyHelp", "1").
			ComplexityMultiplier("High", "2").
			Cap("SocialWorker", "3").Cap("NewlyQualified", "2").Exceptions(150, 14).Obj(),
		builders.MakeCase("held").Namespace(council).Team("north").Type("ChildProtection").OpenedOn("2026-11-01").Lead("jo").UID("uid-held").Generation(1).Obj(),
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).
		WithIndex(&caseloadv1alpha1.Case{}, index.OpenCaseByPractitioner, index.CasePractitioners).
		WithIndex(&caseloadv1alpha1.Case{}, index.OpenCaseByTeam, index.CaseTeam).
		WithIndex(&caseloadv1alpha1.Practitioner{}, index.PractitionerByTeam, index.PractitionerTeam).
		// The apiserver's selectable field spec.team, for decisions made live.
		WithIndex(&caseloadv1alpha1.Practitioner{}, "spec.team", index.PractitionerTeam).
		WithIndex(&caseloadv1alpha1.Case{}, "spec.team", func(o client.Object) []string { return []string{o.(*caseloadv1alpha1.Case).Spec.Team} }).
		WithInterceptorFuncs(interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			sar, ok := obj.(*authorizationv1.SubjectAccessReview)
			if !ok {
				return c.Create(ctx, obj, opts...)
			}
			f.approvals++
			sar.Status.Allowed = sar.Spec.User == "manager" && sar.Spec.ResourceAttributes.Verb == ApproveVerb
			return nil
		}}).Build()
	f.v = &CaseValidator{Cache: c, Live: c, Client: c, Approvals: Approvals{Client: c}, Now: func() time.Time { return f.now }}
	return f
}

// allocation is the allocation user's request makes of kase, changed from old (nil for a create).
func (f *allocationFixture) allocation(old, kase *caseloadv1alpha1.Case, user string, dryRun bool) *allocation {
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: types.UID("req-1"), UserInfo: authenticationv1.UserInfo{Username: user}, DryRun: &dryRun,
	}}
	ch := policy.ChangeOf(old, kase, policy.UTC)
	return f.v.newAllocation(req, kase, policy.UTC, ch.Before, ch.After, ch.Subjects, reasonReused(old, kase))
}

// newCase is an open case of team north, opened on the fixture's day.
func newCase(name, caseType string) *builders.CaseWrapper {
	return builders.MakeCase(name).Namespace(council).Team("north").Type(caseType).OpenedOn("2026-12-01").UID("uid-" + name).Generation(1)
}

func TestAllocationPhases(t *testing.T) {
	ctx := context.Background()
	empty := caseloadv1alpha1.AllocationLedgerSpec{}

	t.Run("a case that fits is reserved for each practitioner it is decided for", func(t *testing.T) {
		f := newAllocationFixture(t)
		a := f.allocation(nil, newCase("c-1", "EarlyHelp").Lead("jo").CoWorkers("ali").Obj(), "clerk", false)
		spec, err := a.decide(ctx, empty, nil)
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		got := map[string]caseloadv1alpha1.ReservationRole{}
		for _, r := range spec.Reservations {
			got[r.Practitioner] = r.Role
			if r.ID != "req-1" || r.Case != "c-1" || r.CaseUID != "uid-c-1" || r.Generation != 1 || r.Exception != nil || !r.AdmittedAt.Time.Equal(f.now) {
				t.Errorf("reservation %+v: want request req-1, case c-1 (uid-c-1) at generation 1, admitted now, no exception", r)
			}
		}
		if len(spec.Reservations) != 2 || got["jo"] != caseloadv1alpha1.RoleLead || got["ali"] != caseloadv1alpha1.RoleCoWorker {
			t.Errorf("reservations %v, want jo as lead and ali as co-worker", got)
		}
		if want := "case c-1 takes jo to 3 of 3 (100%): Amber under CaseloadQuota council/caps"; len(a.warnings) != 1 || a.warnings[0] != want || f.approvals != 0 {
			t.Errorf("warnings %q, %d approval questions: want only %q", a.warnings, f.approvals, want)
		}
	})

	t.Run("over a cap with no reason: refused with how an exception could admit it, nothing reserved", func(t *testing.T) {
		f := newAllocationFixture(t)
		a := f.allocation(nil, newCase("c-2", "ChildProtection").Lead("jo").Obj(), "manager", false)
		spec, err := a.decide(ctx, empty, nil)
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "would take jo to 4 of 3") || !strings.Contains(err.Error(), exceptionHint(council)) {
			t.Fatalf("got %v, want a refusal with jo's figures and the exception hint", err)
		}
		if len(spec.Reservations) != 0 || a.exception != nil || f.approvals != 0 {
			t.Errorf("reserved %d, exception %v, %d approval questions: want nothing", len(spec.Reservations), a.exception, f.approvals)
		}
	})

	t.Run("beyond what an exception allows: refused without the hint, whoever asks", func(t *testing.T) {
		f := newAllocationFixture(t)
		kase := newCase("c-3", "ChildProtection").Complexity(caseloadv1alpha1.ComplexityHigh).Lead("jo").ExceptionReason("no one else").Obj()
		a := f.allocation(nil, kase, "manager", false)
		_, err := a.decide(ctx, empty, nil)
		if !apierrors.IsInvalid(err) || strings.Contains(err.Error(), exceptionHint(council)) || strings.Contains(err.Error(), "exception approved") {
			t.Fatalf("got %v, want a refusal with no exception offered", err)
		}
		if f.approvals != 0 {
			t.Errorf("%d approval questions for an exception the quota does not allow", f.approvals)
		}
	})

	t.Run("a reason from someone who may approve: admitted by exception, and the reservation carries it", func(t *testing.T) {
		f := newAllocationFixture(t)
		a := f.allocation(nil, newCase("c-4", "ChildProtection").Lead("jo").ExceptionReason("sibling of a case jo holds").Obj(), "manager", false)
		spec, err := a.decide(ctx, empty, nil)
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		e := a.exception
		if e == nil || e.ApprovedBy != "manager" || e.Reason != "sibling of a case jo holds" || e.Practitioner != "jo" || !e.ExpiresAt.Time.Equal(f.now.AddDate(0, 0, 14)) {
			t.Fatalf("exception %+v: want manager's, for jo, with the reason, for 14 days", e)
		}
		if len(spec.Reservations) != 1 || spec.Reservations[0].Exception == nil || spec.Reservations[0].Exception.ApprovedBy != "manager" {
			t.Errorf("reservations %+v: want jo's, under the exception", spec.Reservations)
		}
		if len(a.warnings) != 1 || !strings.Contains(a.warnings[0], "admitted above the cap by exception approved by manager until 2026-12-15") {
			t.Errorf("warnings %q", a.warnings)
		}
	})

	t.Run("a reason from someone who may not approve: refused, and asked once however often the batch is decided", func(t *testing.T) {
		f := newAllocationFixture(t)
		a := f.allocation(nil, newCase("c-5", "ChildProtection").Lead("jo").ExceptionReason("urgent").Obj(), "clerk", false)
		for range 3 {
			if _, err := a.decide(ctx, empty, nil); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), notApprover("clerk", council)) {
				t.Fatalf("got %v, want clerk refused as no approver", err)
			}
		}
		if f.approvals != 1 {
			t.Errorf("asked %d times whether clerk may approve, want once", f.approvals)
		}
	})

	t.Run("a reason left from the version before: refused, since an exception is for one allocation", func(t *testing.T) {
		f := newAllocationFixture(t)
		old := newCase("c-6", "ChildProtection").Lead("ali").ExceptionReason("urgent").Obj()
		kase := newCase("c-6", "ChildProtection").Lead("jo").ExceptionReason("urgent").Generation(2).Obj()
		a := f.allocation(old, kase, "manager", false)
		if _, err := a.decide(ctx, empty, nil); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), reusedReason()) {
			t.Fatalf("got %v, want the reused reason refused", err)
		}
	})

	t.Run("a reason where none is needed: admitted, with a warning that no exception is recorded", func(t *testing.T) {
		f := newAllocationFixture(t)
		a := f.allocation(nil, newCase("c-7", "EarlyHelp").Lead("jo").ExceptionReason("just in case").Obj(), "manager", false)
		spec, err := a.decide(ctx, empty, nil)
		if err != nil || a.exception != nil || len(spec.Reservations) != 1 || spec.Reservations[0].Exception != nil {
			t.Fatalf("err %v, exception %v, reservations %+v: want one plain reservation", err, a.exception, spec.Reservations)
		}
		if len(a.warnings) != 2 || !strings.Contains(a.warnings[1], "no exception is recorded") {
			t.Errorf("warnings %q", a.warnings)
		}
	})

	t.Run("a dry run decides as the real request would, and reserves nothing", func(t *testing.T) {
		f := newAllocationFixture(t)
		fits := f.allocation(nil, newCase("c-8", "EarlyHelp").Lead("jo").Obj(), "clerk", true)
		if spec, err := fits.decide(ctx, empty, nil); err != nil || len(spec.Reservations) != 0 {
			t.Errorf("dry run of an allocation that fits: err %v, %d reserved", err, len(spec.Reservations))
		}
		over := f.allocation(nil, newCase("c-9", "ChildProtection").Lead("jo").Obj(), "clerk", true)
		if _, err := over.decide(ctx, empty, nil); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "would take jo to 4 of 3") {
			t.Errorf("dry run of an allocation over the cap: got %v, want the refusal", err)
		}
	})

	t.Run("room the ledger holds for another request is not given twice", func(t *testing.T) {
		f := newAllocationFixture(t)
		first := newCase("c-10", "EarlyHelp").Lead("jo").Obj()
		spec := caseloadv1alpha1.AllocationLedgerSpec{Reservations: ledger.Entries("req-0", policy.CaseFrom(first, policy.UTC), []policy.Subject{{Name: "jo", Role: caseloadv1alpha1.RoleLead}}, nil, nil, f.now)}
		spec.Reservations[0].CaseUID, spec.Reservations[0].Generation = "uid-c-10", 1
		a := f.allocation(nil, newCase("c-11", "EarlyHelp").Lead("jo").Obj(), "clerk", false)
		if _, err := a.decide(ctx, spec, nil); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "would take jo to 4 of 3") {
			t.Fatalf("got %v, want jo refused with c-10's reserved weight counted (2 held, 1 reserved, 1 more)", err)
		}
		alone := f.allocation(nil, newCase("c-11", "EarlyHelp").Lead("jo").Obj(), "clerk", false)
		if _, err := alone.decide(ctx, empty, nil); err != nil {
			t.Errorf("without c-10's reservation the same allocation fits: %v", err)
		}
	})

	t.Run("a team that does not exist cannot be decided: try again, not a refusal", func(t *testing.T) {
		f := newAllocationFixture(t)
		a := f.allocation(nil, newCase("c-12", "EarlyHelp").Team("south").Lead("jo").Obj(), "clerk", false)
		if _, err := a.decide(ctx, empty, nil); !apierrors.IsServiceUnavailable(err) || !strings.Contains(err.Error(), "team south is gone") {
			t.Fatalf("got %v, want the decision unavailable", err)
		}
	})
}

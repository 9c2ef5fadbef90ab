package v1alpha1

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	caseloadv1alpha1 "caseload.dev/caseload-operator/api/v1alpha1"
	admit "caseload.dev/caseload-operator/internal/admission"
	"caseload.dev/caseload-operator/internal/ledger"
	"caseload.dev/caseload-operator/internal/policy"
	"caseload.dev/caseload-operator/internal/snapshot"
)

// The Case webhook is called for creates, and for updates that may add weight to someone: a new
// or changed lead, a new co-worker, a changed type, complexity or number of children, a reopened
// case, a change of team. Closing a case, unallocating it, or editing anything else never
// depends on it (matchConditions), so an operator that is down cannot stop them.
// +kubebuilder:webhook:path=/validate-caseload-dev-v1alpha1-case,mutating=false,failurePolicy=fail,sideEffects=NoneOnDryRun,groups=caseload.dev,resources=cases,verbs=create;update,versions=v1alpha1,name=vcase.caseload.dev,admissionReviewVersions=v1,timeoutSeconds=15,matchPolicy=Equivalent,patch=`{"matchConditions":[{"name":"may-add-weight","expression":"request.operation != 'UPDATE' || oldObject.spec.team != object.spec.team || (!has(object.spec.closedOn) && (has(oldObject.spec.closedOn) || (has(object.spec.allocatedTo) && (!has(oldObject.spec.allocatedTo) || oldObject.spec.allocatedTo != object.spec.allocatedTo)) || (has(object.spec.coWorkers) && object.spec.coWorkers.exists(w, !has(oldObject.spec.coWorkers) || !(w in oldObject.spec.coWorkers))) || oldObject.spec.type != object.spec.type || (has(oldObject.spec.complexity) ? oldObject.spec.complexity : 'Standard') != (has(object.spec.complexity) ? object.spec.complexity : 'Standard') || (has(oldObject.spec.children) ? oldObject.spec.children : 1) != (has(object.spec.children) ? object.spec.children : 1)))"}]}`

// +kubebuilder:rbac:groups=caseload.dev,resources=teams,verbs=get;list;watch
// +kubebuilder:rbac:groups=caseload.dev,resources=allocationledgers,verbs=get;list;watch;create;update
// +kubebuilder:rbac:groups=caseload.dev,resources=cases;practitioners;caseloadquotas,verbs=get;list;watch
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

var caseKind = schema.GroupKind{Group: caseloadv1alpha1.GroupVersion.Group, Kind: "Case"}

// CaseValidator decides allocations: a create or update of a Case that gives it a new lead or
// co-worker, or adds to the weight of a held case. It reads the team from the cache, asks the
// policy engine, and records what it admits in the team's allocation ledger, a batch of
// concurrent allocations at a time, with compare-and-swap, so that racing allocations through
// several replicas cannot both pass when only one fits.
type CaseValidator struct {
	// Cache reads Cases, Practitioners, Teams, CaseloadQuotas and the ledger through the indexes.
	Cache client.Reader
	// Live reads straight from the apiserver: objects the cache may not show yet, and the ledger
	// after a conflict.
	Live client.Reader
	// Client writes the ledger.
	Client client.Client
	// Ledgers writes the teams' allocation ledgers, a batch at a time (shared with the
	// Practitioner validator, whose team moves it fences).
	Ledgers *admit.Writer
	// Approvals decides who may approve exceptions.
	Approvals Approvals
	// Calendars gives each council's calendar: which day it is there.
	Calendars snapshot.Calendars
	// Events records approved exceptions.
	Events events.EventRecorder
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	Log logr.Logger
}

var _ admission.Validator[*caseloadv1alpha1.Case] = &CaseValidator{}

// ValidateCreate decides the allocation of a new case, if it has a lead or co-workers.
func (v *CaseValidator) ValidateCreate(ctx context.Context, c *caseloadv1alpha1.Case) (admission.Warnings, error) {
	return v.validate(ctx, nil, c)
}

// ValidateUpdate decides an update that adds a lead or co-worker, or adds to the weight of a held
// case; other updates pass (and a release gives up their reservations).
func (v *CaseValidator) ValidateUpdate(ctx context.Context, old, c *caseloadv1alpha1.Case) (admission.Warnings, error) {
	return v.validate(ctx, old, c)
}

// ValidateDelete allows deleting a case: closing it (spec.closedOn) is the usual way out.
func (v *CaseValidator) ValidateDelete(context.Context, *caseloadv1alpha1.Case) (admission.Warnings, error) {
	return nil, nil
}

func (v *CaseValidator) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *CaseValidator) validate(ctx context.Context, old, c *caseloadv1alpha1.Case) (admission.Warnings, error) {
	// Days do not matter to which practitioners a change is decided for; the calendar is read
	// for the decision itself. Closing a case, or recording who held a closed one (imported
	// from the council's records, say), is decided for nobody.
	change := policy.ChangeOf(old, c, policy.UTC)
	before, after, subjects, movedTeam := change.Before, change.After, change.Subjects, change.MovedTeam
	if len(subjects) == 0 {
		// Giving work up changes no ledger: an entry goes only once a cache shows its case
		// stored, so a change that fails after admission never leaves its old version uncounted.
		if old == nil || movedTeam {
			return nil, requireTeam(ctx, v.Cache, v.Live, caseKind, c.Namespace, c.Name, c.Spec.Team)
		}
		return nil, nil
	}

	start := time.Now()
	warnings, err := v.allocate(ctx, c, before, after, subjects, reasonReused(old, c))
	decisionSeconds.Observe(time.Since(start).Seconds())
	switch {
	case err == nil:
		admissionDecisions.WithLabelValues(resultAdmitted).Inc()
	case admit.IsRefusal(err):
		admissionDecisions.WithLabelValues(resultDenied).Inc()
	default:
		admissionDecisions.WithLabelValues(resultError).Inc()
	}
	return warnings, err
}

// allocate decides the allocation against the cache and the team's ledger and, unless the
// request is a dry run, records it in the ledger with the batch it joins; after a lost
// compare-and-swap the batch is decided again with the fresher ledger, and before a refusal it is
// decided again from what the apiserver holds.
func (v *CaseValidator) allocate(ctx context.Context, c *caseloadv1alpha1.Case, before *policy.Case, after policy.Case, subjects []policy.Subject, reused bool) (admission.Warnings, error) {
	req, err := admission.RequestFromContext(ctx)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	ctx, cancel := context.WithTimeout(ctx, admit.Budget)
	defer cancel()

	cal, err := v.Calendars.For(ctx, v.Cache, c.Namespace)
	if err != nil && !errors.As(err, new(*snapshot.UnknownZoneError)) {
		return nil, admit.Unavailable(err)
	}
	if err := requireTeam(ctx, v.Cache, v.Live, caseKind, c.Namespace, c.Name, c.Spec.Team); err != nil {
		return nil, err
	}
	a := v.newAllocation(req, c, cal, before, after, subjects, reused)
	if len(a.reason) > caseloadv1alpha1.MaxExceptionReason {
		return nil, reasonTooLong(c, a.reason)
	}

	if a.dryRun {
		// A dry run writes nothing: it is decided alone, as a batch would decide it.
		err := v.Ledgers.DryRun(ctx, ledgerOf(c), a.decide)
		return a.warnings, err
	}
	if err := v.Ledgers.Submit(ctx, ledgerOf(c), a.decide); err != nil {
		if admit.IsRefusal(err) {
			return a.warnings, err
		}
		return nil, err
	}
	a.grant(ctx)
	return a.warnings, nil
}

// allocation is one request's allocation while its batch is decided, perhaps several times: what
// stays the same however often it is decided, and what the latest decision found.
type allocation struct {
	v        *CaseValidator
	req      admission.Request
	c        *caseloadv1alpha1.Case
	cal      policy.Calendar
	before   *policy.Case
	after    policy.Case
	subjects []policy.Subject
	reason   string // the exception reason the request gives, if any
	reused   bool   // the reason is the one an earlier allocation of the case gave
	dryRun   bool
	// mayApprove is why the user may not approve an exception ("" when they may): asked at most
	// once per request, however often the batch is decided.
	mayApprove *string

	// What the latest decision found.
	decision  policy.Decision
	warnings  admission.Warnings
	exception *caseloadv1alpha1.CaseException
}

// newAllocation is the allocation req makes of c: after, for the subjects, on cal's days, with
// the exception reason c gives (reused when the version before gave the same).
func (v *CaseValidator) newAllocation(req admission.Request, c *caseloadv1alpha1.Case, cal policy.Calendar, before *policy.Case, after policy.Case, subjects []policy.Subject, reused bool) *allocation {
	after.Generation = c.Generation
	after.UID = string(c.UID)
	return &allocation{v: v, req: req, c: c, cal: cal, before: before, after: after, subjects: subjects, reused: reused,
		reason: strings.TrimSpace(c.Annotations[caseloadv1alpha1.ExceptionReasonAnnotation]), dryRun: req.DryRun != nil && *req.DryRun}
}

// decide is one decision of the allocation on the ledger's spec, in three phases: evaluate it on
// the team as the cache (or, live, the apiserver) shows it with the ledger counted; approve an
// exception where one may admit it; reserve it in the ledger. It is an admission.Decider.
func (a *allocation) decide(ctx context.Context, spec caseloadv1alpha1.AllocationLedgerSpec, live client.Reader) (caseloadv1alpha1.AllocationLedgerSpec, error) {
	var none caseloadv1alpha1.AllocationLedgerSpec
	now := a.v.now()
	snap, err := a.evaluate(ctx, spec, live, now)
	if err != nil {
		return none, err
	}
	if err := a.approve(ctx, snap, now); err != nil {
		return none, err
	}
	if a.dryRun {
		return spec, nil
	}
	return a.reserve(spec, snap, now), nil
}

// evaluate asks the engine about the allocation on the team as counted with spec's entries.
func (a *allocation) evaluate(ctx context.Context, spec caseloadv1alpha1.AllocationLedgerSpec, live client.Reader, now time.Time) (*snapshot.Snapshot, error) {
	evaluating := time.Now()
	snap, others, err := a.v.team(ctx, a.cal, a.c, a.subjects, spec, live, now)
	if err != nil {
		return nil, err
	}
	a.decision = policy.DecideChange(snap.Policies, snap.View, snap.Day, a.before, a.after, a.subjects, others)
	evaluationSeconds.Observe(time.Since(evaluating).Seconds())
	a.warnings = append(admission.Warnings{}, a.decision.Warnings...)
	for _, q := range snap.Unparsable {
		a.warnings = append(a.warnings, fmt.Sprintf("CaseloadQuota %s/%s cannot be applied and was not checked: see its status", a.c.Namespace, q))
	}
	return snap, nil
}

// approve refuses an allocation the engine refused, unless an exception may admit it: one the
// engine allows for, asked for with a reason of the request's own, by someone who may approve it.
// It then records the exception the allocation is admitted under.
func (a *allocation) approve(ctx context.Context, snap *snapshot.Snapshot, now time.Time) error {
	a.exception = nil
	d, c := a.decision, a.c
	if d.Allowed() {
		if a.reason != "" && !a.reused {
			a.warnings = append(a.warnings, fmt.Sprintf("%s is set but the allocation fits every cap: no exception is recorded", caseloadv1alpha1.ExceptionReasonAnnotation))
		}
		return nil
	}
	switch {
	case !d.Exceptable():
		return denial(c, a.subjects, d, "")
	case a.reason == "":
		return denial(c, a.subjects, d, exceptionHint(c.Namespace))
	case a.reused:
		return denialWithException(c, a.subjects, d, reusedReason())
	}
	if a.mayApprove == nil {
		why, err := a.v.Approvals.Refusal(ctx, a.req.UserInfo, c.Namespace)
		if err != nil {
			return admit.Unavailable(err)
		}
		a.mayApprove = &why
	}
	if *a.mayApprove != "" {
		return denialWithException(c, a.subjects, d, *a.mayApprove)
	}
	a.exception = approvedException(a.req.UserInfo.Username, a.reason, policy.ExceptionDays(snap.Policies, d), now)
	a.exception.Practitioner = d.OverCap()
	a.warnings = append(a.warnings, fmt.Sprintf("admitted above the cap by exception approved by %s until %s: %s",
		a.req.UserInfo.Username, a.exception.ExpiresAt.Format(time.DateOnly), d.Reason()))
	return nil
}

// reserve is spec with the allocation's entries added: one per practitioner it is decided for.
func (a *allocation) reserve(spec caseloadv1alpha1.AllocationLedgerSpec, snap *snapshot.Snapshot, now time.Time) caseloadv1alpha1.AllocationLedgerSpec {
	spec.Reservations = ledger.Add(spec.Reservations, ledger.Entries(string(a.req.UID), a.after, a.subjects, policy.WeighingPolicy(snap.Policies, snap.Team.Status.Quota), a.exception, now))
	return spec
}

// grant is what follows an allocation the ledger records: a line in the log and, for an
// exception, an Event about the practitioner taken over the cap.
func (a *allocation) grant(ctx context.Context) {
	a.v.Log.V(1).Info("allocation admitted and reserved", "case", a.c.Name, "namespace", a.c.Namespace, "practitioners", names(a.subjects), "exception", a.exception != nil)
	if a.exception != nil {
		a.v.recordException(ctx, a.c, a.subjects, a.exception, a.decision)
	}
}

// team is the case's team as a decision counts it: from the cache (or the apiserver when live),
// with spec's entries counted, and the subjects that are not its members as the apiserver has them
// (others). A subject the ledger lists as leaving the team is one of the others, in the team they
// are moving to, whatever a cache shows.
func (v *CaseValidator) team(ctx context.Context, cal policy.Calendar, c *caseloadv1alpha1.Case, subjects []policy.Subject, spec caseloadv1alpha1.AllocationLedgerSpec,
	live client.Reader, now time.Time) (*snapshot.Snapshot, map[string]policy.Practitioner, error) {
	var snap *snapshot.Snapshot
	var err error
	if live == nil {
		snap, err = snapshot.LoadFor(ctx, v.Cache, cal, c.Namespace, c.Spec.Team, names(subjects), now)
	}
	if live == nil && err == nil && snap.Team == nil {
		live = v.Live // a team created a moment ago that the cache does not show yet
	}
	if live != nil {
		snap, err = snapshot.LoadLive(ctx, live, cal, c.Namespace, c.Spec.Team, now)
	}
	if err != nil {
		return nil, nil, admit.Unavailable(err)
	}
	if snap.Team == nil {
		return nil, nil, admit.Unavailable(fmt.Errorf("team %s is gone", c.Spec.Team))
	}
	snap.WithLedger(&caseloadv1alpha1.AllocationLedger{ObjectMeta: snap.Ledger.ObjectMeta, Spec: spec})
	// Who the change is decided for: a practitioner the snapshot does not show as a member
	// (created a moment ago, of another team, or unknown) is read from the apiserver.
	apiserver := live
	if apiserver == nil {
		apiserver = v.Live
	}
	others, err := v.subjectsOutsideTeam(ctx, apiserver, snap, c.Namespace, subjects)
	if err != nil {
		return nil, nil, admit.Unavailable(err)
	}
	for _, pr := range others {
		if pr.Team == c.Spec.Team {
			snap.AddMember(pr)
		}
	}
	for _, d := range spec.Departures {
		if pr, ok := snap.Without(d.Practitioner); ok {
			pr.Team = d.Team
			others[d.Practitioner] = pr
		} else if pr, ok := others[d.Practitioner]; ok {
			pr.Team = d.Team
			others[d.Practitioner] = pr
		}
	}
	snap.WithLedger(snap.Ledger)
	return snap, others, nil
}

// reasonReused reports whether c carries the exception reason that old already carried: a
// reason is for the allocation it came with. The operator removes the annotation once admission
// has decided (controllers' consumeReason); until it has, an update that needs an exception
// must give a reason of its own.
func reasonReused(old, c *caseloadv1alpha1.Case) bool {
	reason := strings.TrimSpace(c.Annotations[caseloadv1alpha1.ExceptionReasonAnnotation])
	return old != nil && reason != "" && strings.TrimSpace(old.Annotations[caseloadv1alpha1.ExceptionReasonAnnotation]) == reason
}

// ledgerOf names the AllocationLedger of the case's team.
func ledgerOf(c *caseloadv1alpha1.Case) types.NamespacedName {
	return types.NamespacedName{Namespace: c.Namespace, Name: c.Spec.Team}
}

// subjectsOutsideTeam reads the subjects snap does not show as practitioners of its team from the
// apiserver: created a moment ago, of another team, or unknown (left out). The decision then counts
// one created a moment ago as a member, with the open cases snap shows naming them and their
// entries in the ledger, which holds every allocation admitted to them that a cache may not show
// yet.
func (v *CaseValidator) subjectsOutsideTeam(ctx context.Context, apiserver client.Reader, snap *snapshot.Snapshot, namespace string, subjects []policy.Subject) (map[string]policy.Practitioner, error) {
	out := map[string]policy.Practitioner{}
	for _, j := range subjects {
		if _, member := snap.View.Member(j.Name); member {
			continue
		}
		var p caseloadv1alpha1.Practitioner
		switch err := apiserver.Get(ctx, client.ObjectKey{Namespace: namespace, Name: j.Name}, &p); {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, fmt.Errorf("read practitioner %s: %w", j.Name, err)
		default:
			out[j.Name] = policy.PractitionerFrom(&p)
		}
	}
	return out, nil
}

// recordException emits an Event for an exception. The Case of a create has no UID yet (and
// might still be refused after this webhook), so the Event is about the practitioner who
// takes the case over the cap, with the Case as the related object. The manager's reason is
// in the ledger and the Case's status, not in the Event, which more people can read.
func (v *CaseValidator) recordException(ctx context.Context, c *caseloadv1alpha1.Case, subjects []policy.Subject, e *caseloadv1alpha1.CaseException, d policy.Decision) {
	if v.Events == nil {
		return
	}
	over := map[string]bool{}
	for _, f := range d.Denials {
		if f.Kind == "Practitioner" {
			over[f.Name] = true
		}
	}
	for _, j := range subjects {
		if !over[j.Name] {
			continue
		}
		var p caseloadv1alpha1.Practitioner
		if err := v.Live.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: j.Name}, &p); err != nil {
			v.Log.Error(err, "exception admitted but its event not recorded", "case", c.Name, "practitioner", j.Name)
			continue
		}
		v.Events.Eventf(&p, c, corev1.EventTypeWarning, "ExceptionApproved", "Allocate",
			"case %s allocated to %s above the cap by exception approved by %s until %s",
			c.Name, j.Name, e.ApprovedBy, e.ExpiresAt.Format(time.DateOnly))
	}
}

// denial turns the engine's denials into a 422 with a field path per reason: kubectl prints
// each on a line of its own. hint, if any, is added to the last reason.
func denial(c *caseloadv1alpha1.Case, subjects []policy.Subject, d policy.Decision, hint string) error {
	errs := denialErrors(c, subjects, d)
	if hint != "" && len(errs) > 0 {
		last := errs[len(errs)-1]
		last.Detail += "; " + hint
	}
	return apierrors.NewInvalid(caseKind, c.Name, errs)
}

// denialWithException adds why the exception asked for in the annotation cannot be granted.
func denialWithException(c *caseloadv1alpha1.Case, subjects []policy.Subject, d policy.Decision, why string) error {
	errs := denialErrors(c, subjects, d)
	errs = append(errs, field.Forbidden(reasonPath, why))
	return apierrors.NewInvalid(caseKind, c.Name, errs)
}

func denialErrors(c *caseloadv1alpha1.Case, subjects []policy.Subject, d policy.Decision) field.ErrorList {
	var errs field.ErrorList
	for _, f := range d.Denials {
		errs = append(errs, field.Forbidden(pathOf(c, subjects, f), f.String()))
	}
	return errs
}

// pathOf is the field that makes the allocation refused: spec.allocatedTo or spec.coWorkers[i]
// of the practitioner the finding is about, or, for a team-wide finding, of the first subject.
func pathOf(c *caseloadv1alpha1.Case, subjects []policy.Subject, f policy.Finding) *field.Path {
	name := f.Name
	if f.Kind != "Practitioner" && len(subjects) > 0 {
		name = subjects[0].Name
	}
	spec := field.NewPath("spec")
	if name == c.Spec.AllocatedTo {
		return spec.Child("allocatedTo")
	}
	for i, cw := range c.Spec.CoWorkers {
		if cw == name {
			return spec.Child("coWorkers").Index(i)
		}
	}
	return spec.Child("allocatedTo")
}

// noTeam is the refusal of an object that names a Team the namespace does not have.
func noTeam(kind schema.GroupKind, namespace, name, team string) error {
	return apierrors.NewInvalid(kind, name, field.ErrorList{field.Invalid(field.NewPath("spec", "team"), team,
		fmt.Sprintf("there is no Team %s in namespace %s: create the Team first, or correct the name", team, namespace))})
}

// requireTeam refuses an object whose spec.team names no Team in its namespace. The cache is
// asked first; a Team created a moment ago (kubectl apply -f of a whole directory) is looked
// up live before the object is refused.
func requireTeam(ctx context.Context, cache, live client.Reader, kind schema.GroupKind, namespace, name, team string) error {
	key := client.ObjectKey{Namespace: namespace, Name: team}
	err := cache.Get(ctx, key, &caseloadv1alpha1.Team{})
	if apierrors.IsNotFound(err) {
		err = live.Get(ctx, key, &caseloadv1alpha1.Team{})
	}
	switch {
	case apierrors.IsNotFound(err):
		return noTeam(kind, namespace, name, team)
	case err != nil:
		return admit.Unavailable(fmt.Errorf("read team %s: %w", team, err))
	}
	return nil
}

func names(js []policy.Subject) []string {
	out := make([]string, len(js))
	for i, j := range js {
		out[i] = j.Name
	}
	return out
}

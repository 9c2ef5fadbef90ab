// Package snapshot reads one team's world through the indexes: the Team, its Practitioners,
// its open Cases and the CaseloadQuotas that select it, parsed for the policy engine. The
// reconcilers and the admission webhook both start from a Snapshot, so they count the same
// cases the same way.
package snapshot

import (
	"context"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/index"
	"caseload.dev/caseload-operator/internal/ledger"
	"caseload.dev/caseload-operator/internal/policy"
)

// Snapshot is a team as the engine sees it, on one day of its council's calendar.
type Snapshot struct {
	// Calendar is the council's calendar and Day the day the snapshot is for.
	Calendar policy.Calendar
	Day      policy.Day
	// Team is nil when no Team of that name exists.
	Team          *v1alpha1.Team
	Practitioners []v1alpha1.Practitioner
	// OpenCases are the team's open cases, sorted by name. Like Practitioners and Quotas, they
	// share their contents with the cache: read them, never change them.
	OpenCases []v1alpha1.Case
	// Quotas are the CaseloadQuotas that select the team, sorted by name; Policies are the
	// same quotas parsed, in the same order. A quota that does not parse is left out of
	// Policies and named in Unparsable.
	Quotas     []v1alpha1.CaseloadQuota
	Policies   []*policy.Policy
	Unparsable []string
	// Ledger is the team's AllocationLedger as read (empty when there is none yet).
	Ledger *v1alpha1.AllocationLedger
	// View is the team for the policy engine, with the unexpired reservations of the council's
	// allocation ledger counted.
	View policy.TeamView
	// base is the view without the ledger, so WithLedger can apply a fresher one.
	base policy.TeamView
}

// Load reads the snapshot of team in namespace through r, which must have the indexes of
// package index (a manager's cache does), for the day now falls on in the council's calendar.
// Reservations of the team's ledger that have not expired by now are counted.
func Load(ctx context.Context, r client.Reader, cal policy.Calendar, namespace, team string, now time.Time) (*Snapshot, error) {
	s := &Snapshot{Calendar: cal, Day: cal.DayOf(now)}
	var t v1alpha1.Team
	switch err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: team}, &t); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, err
	default:
		s.Team = &t
	}

	var prs v1alpha1.PractitionerList
	// The snapshot only reads what it lists: no copy of the cache's objects is needed, which
	// keeps a decision's cost low however large the team.
	if err := r.List(ctx, &prs, client.InNamespace(namespace), client.MatchingFields{index.PractitionerByTeam: team}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list practitioners of team %s: %w", team, err)
	}
	s.Practitioners = prs.Items
	var cases v1alpha1.CaseList
	if err := r.List(ctx, &cases, client.InNamespace(namespace), client.MatchingFields{index.OpenCaseByTeam: team}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list cases of team %s: %w", team, err)
	}
	s.OpenCases = cases.Items
	sort.Slice(s.OpenCases, func(i, j int) bool { return s.OpenCases[i].Name < s.OpenCases[j].Name })

	if s.Team != nil {
		quotas, err := QuotasSelecting(ctx, r, s.Team)
		if err != nil {
			return nil, err
		}
		s.Quotas = quotas
		s.Policies, s.Unparsable = ParsePolicies(quotas)
	}

	engineCases := make([]policy.Case, len(s.OpenCases))
	for i := range s.OpenCases {
		engineCases[i] = policy.CaseFrom(&s.OpenCases[i], cal)
	}
	engineWorkers := make([]policy.Practitioner, len(s.Practitioners))
	for i := range s.Practitioners {
		engineWorkers[i] = policy.PractitionerFrom(&s.Practitioners[i])
	}
	s.base = policy.TeamView{Name: team, Members: policy.MembersOf(engineWorkers, engineCases), Cases: engineCases}
	ledger, err := Ledger(ctx, r, namespace, team)
	if err != nil {
		return nil, err
	}
	s.WithLedger(ledger, now)
	return s, nil
}

// Ledger reads the team's AllocationLedger; an empty one when there is none yet.
func Ledger(ctx context.Context, r client.Reader, namespace, team string) (*v1alpha1.AllocationLedger, error) {
	l := &v1alpha1.AllocationLedger{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: team}, l); err != nil {
		if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("read the allocation ledger of team %s: %w", team, err)
		}
		l.Namespace, l.Name = namespace, team
	}
	return l, nil
}

// WithLedger counts the unexpired reservations of the team's ledger, replacing any counted
// before. The webhook calls it with the freshest ledger it knows.
func (s *Snapshot) WithLedger(ledger *v1alpha1.AllocationLedger, now time.Time) {
	s.Ledger = ledger
	s.View = policy.WithReservations(s.base, Reservations(ledger.Spec.Reservations, s.base.Name, now))
}

// AddMember counts a practitioner of the team that the cache does not show yet (created a
// moment ago) as a member: the open cases the cache shows naming them, and their entries in
// the ledger, which holds every allocation admitted to them that the cache may not show. Call
// WithLedger again afterwards.
func (s *Snapshot) AddMember(pr policy.Practitioner) {
	if _, ok := s.base.Member(pr.Name); ok {
		return
	}
	s.base.Members = append(s.base.Members, policy.MembersOf([]policy.Practitioner{pr}, s.base.Cases)...)
}

// OpenCases tells the ledger's pruning what r shows of the namespace's cases: the open Case of
// that name, or nil when it shows none (not yet created, closed, or gone).
func OpenCases(ctx context.Context, r client.Reader, namespace string) ledger.Cases {
	return func(name string) *v1alpha1.Case {
		var c v1alpha1.Case
		if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &c); err != nil || !c.IsOpen() {
			return nil
		}
		return &c
	}
}

// Reservations are the ledger's entries for team that have not expired by now.
func Reservations(entries []v1alpha1.Reservation, team string, now time.Time) []policy.Reserved {
	var out []policy.Reserved
	for _, r := range entries {
		if r.Team != team || !r.ExpiresAt.Time.After(now) {
			continue
		}
		c := policy.Case{Name: r.Case, Type: r.CaseType, Complexity: string(r.Complexity), Children: int(r.Children), Team: team, Generation: r.Generation}
		if r.Role == v1alpha1.RoleLead {
			c.AllocatedTo = r.Practitioner
		}
		out = append(out, policy.Reserved{Case: c, Practitioner: r.Practitioner, Role: r.Role})
	}
	return out
}

// TeamPolicies reads a team and parses the quotas that select it, for a reconciler that needs
// only those and not the team's cases. team is nil, with no policies, when it does not exist.
func TeamPolicies(ctx context.Context, r client.Reader, namespace, name string) (*v1alpha1.Team, []*policy.Policy, error) {
	var t v1alpha1.Team
	if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &t); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	quotas, err := QuotasSelecting(ctx, r, &t)
	if err != nil {
		return nil, nil, err
	}
	policies, _ := ParsePolicies(quotas)
	return &t, policies, nil
}

// ParsePolicies parses quotas for the engine, in order. A quota that does not parse is left out
// and named in unparsable.
func ParsePolicies(quotas []v1alpha1.CaseloadQuota) (policies []*policy.Policy, unparsable []string) {
	for i := range quotas {
		p, errs := policy.FromSpec(quotas[i].Namespace+"/"+quotas[i].Name, quotas[i].Spec)
		if len(errs) > 0 {
			unparsable = append(unparsable, quotas[i].Name)
			continue
		}
		policies = append(policies, p)
	}
	return policies, unparsable
}

// Calendars finds the calendar of each council: the IANA time zone its Namespace names in the
// caseload.dev/time-zone annotation, else Default (the manager's --time-zone).
type Calendars struct {
	Default policy.Calendar
}

// For returns the namespace's calendar. A zone the annotation names that is not known gives
// Default's UTC fallback and an error saying so, for the objects' Ready condition.
func (c Calendars) For(ctx context.Context, r client.Reader, namespace string) (policy.Calendar, error) {
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	if err := r.Get(ctx, client.ObjectKey{Name: namespace}, ns); err != nil {
		if apierrors.IsNotFound(err) {
			return c.Default, nil
		}
		return c.Default, fmt.Errorf("read namespace %s: %w", namespace, err)
	}
	zone, ok := ns.Annotations[v1alpha1.TimeZoneAnnotation]
	if !ok {
		return c.Default, nil
	}
	cal, err := policy.LoadCalendar(zone)
	if err != nil {
		return policy.UTC, &UnknownZoneError{Namespace: namespace, Zone: zone}
	}
	return cal, nil
}

// UnknownZoneError is a council's time-zone annotation that names no known zone.
type UnknownZoneError struct{ Namespace, Zone string }

func (e *UnknownZoneError) Error() string {
	return fmt.Sprintf("namespace %s has annotation %s: %q, which is not a known IANA time zone such as Europe/London: days are counted in UTC until it is corrected",
		e.Namespace, v1alpha1.TimeZoneAnnotation, e.Zone)
}

// QuotasSelecting lists the CaseloadQuotas in the team's namespace whose teamSelector matches
// it, sorted by name. A selector that does not parse selects nothing.
func QuotasSelecting(ctx context.Context, r client.Reader, team *v1alpha1.Team) ([]v1alpha1.CaseloadQuota, error) {
	var all v1alpha1.CaseloadQuotaList
	if err := r.List(ctx, &all, client.InNamespace(team.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list quotas in %s: %w", team.Namespace, err)
	}
	var out []v1alpha1.CaseloadQuota
	for _, q := range all.Items {
		if Selects(&q, team) {
			out = append(out, q)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Selects reports whether the quota's teamSelector matches the team; an empty selector
// selects every team in the namespace.
func Selects(q *v1alpha1.CaseloadQuota, team *v1alpha1.Team) bool {
	if q.Namespace != team.Namespace {
		return false
	}
	if q.Spec.TeamSelector == nil {
		return true
	}
	sel, err := metav1.LabelSelectorAsSelector(q.Spec.TeamSelector)
	if err != nil {
		return false
	}
	return sel.Matches(labels.Set(team.Labels))
}

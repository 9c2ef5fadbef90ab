// Package snapshot reads one team's world through the indexes: the Team, its Practitioners,
// its open Cases and the CaseloadQuotas that select it, parsed for the policy engine. The
// reconcilers and the admission webhook both start from a Snapshot, so they count the same
// cases the same way.
package snapshot

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/index"
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
// The reservations of the team's ledger are counted.
func Load(ctx context.Context, r client.Reader, cal policy.Calendar, namespace, team string, now time.Time) (*Snapshot, error) {
	return load(ctx, r, cal, namespace, team, nil, now)
}

// LoadFor is Load for a decision about some of the team's practitioners only (names). Where no
// quota that selects the team caps the team, nothing but their own caseloads can decide it: the
// snapshot then holds those of them who are members, the open cases that name them, and the
// cases their ledger entries name, and costs the same however large the team. Otherwise it is
// Load.
func LoadFor(ctx context.Context, r client.Reader, cal policy.Calendar, namespace, team string, names []string, now time.Time) (*Snapshot, error) {
	if names == nil {
		names = []string{}
	}
	return load(ctx, r, cal, namespace, team, names, now)
}

// LoadLive is Load from the apiserver itself rather than a cache, for a decision that must not
// rest on a cache: what the apiserver holds at one instant, with the team's ledger as it holds
// it. It lists the team's Practitioners and Cases by spec.team, which the CRDs make selectable.
func LoadLive(ctx context.Context, live client.Reader, cal policy.Calendar, namespace, team string, now time.Time) (*Snapshot, error) {
	return load(ctx, apiserver{live}, cal, namespace, team, nil, now)
}

// apiserver reads the team's lists by the CRDs' selectable field spec.team, where a cache reads
// them through the indexes.
type apiserver struct{ client.Reader }

// teamField is the field selector of an object's spec.team.
const teamField = "spec.team"

func (a apiserver) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	o := &client.ListOptions{}
	o.ApplyOptions(opts)
	if o.FieldSelector == nil {
		return a.Reader.List(ctx, list, opts...)
	}
	team, ok := o.FieldSelector.RequiresExactMatch(index.PractitionerByTeam)
	if !ok {
		team, ok = o.FieldSelector.RequiresExactMatch(index.OpenCaseByTeam)
	}
	if !ok {
		return fmt.Errorf("the apiserver cannot select by %s", o.FieldSelector)
	}
	if err := a.Reader.List(ctx, list, client.InNamespace(o.Namespace), client.MatchingFields{teamField: team}); err != nil {
		return err
	}
	if cases, ok := list.(*v1alpha1.CaseList); ok {
		open := cases.Items[:0]
		for _, c := range cases.Items {
			if c.IsOpen() {
				open = append(open, c)
			}
		}
		cases.Items = open
	}
	return nil
}

func load(ctx context.Context, r client.Reader, cal policy.Calendar, namespace, team string, only []string, now time.Time) (*Snapshot, error) {
	s := &Snapshot{Calendar: cal, Day: cal.DayOf(now)}
	var t v1alpha1.Team
	switch err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: team}, &t); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, err
	default:
		s.Team = &t
	}

	if s.Team != nil {
		quotas, err := QuotasSelecting(ctx, r, s.Team)
		if err != nil {
			return nil, err
		}
		s.Quotas = quotas
		s.Policies, s.Unparsable = ParsePolicies(quotas)
	}
	ledger, err := Ledger(ctx, r, namespace, team)
	if err != nil {
		return nil, err
	}
	if only != nil && slices.ContainsFunc(s.Policies, (*policy.Policy).CapsTeams) {
		only = nil // the team's capacity and weight decide too: the whole team is needed
	}

	var prs v1alpha1.PractitionerList
	var cases v1alpha1.CaseList
	if only == nil {
		// The snapshot only reads what it lists: no copy of the cache's objects is needed, which
		// keeps a decision's cost low however large the team.
		if err := r.List(ctx, &prs, client.InNamespace(namespace), client.MatchingFields{index.PractitionerByTeam: team}, client.UnsafeDisableDeepCopy); err != nil {
			return nil, fmt.Errorf("list practitioners of team %s: %w", team, err)
		}
		if err := r.List(ctx, &cases, client.InNamespace(namespace), client.MatchingFields{index.OpenCaseByTeam: team}, client.UnsafeDisableDeepCopy); err != nil {
			return nil, fmt.Errorf("list cases of team %s: %w", team, err)
		}
	} else if err := readFor(ctx, r, namespace, team, only, ledger, &prs, &cases); err != nil {
		return nil, err
	}
	s.Practitioners = prs.Items

	// The engine's cases in order of name, each read once from the list (which shares its
	// contents with the cache).
	order := make([]int, len(cases.Items))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(cases.Items[a].Name, cases.Items[b].Name) })
	engineCases := make([]policy.Case, len(order))
	for i, j := range order {
		engineCases[i] = policy.CaseFrom(&cases.Items[j], cal)
	}
	engineWorkers := make([]policy.Practitioner, len(s.Practitioners))
	for i := range s.Practitioners {
		engineWorkers[i] = policy.PractitionerFrom(&s.Practitioners[i])
	}
	s.base = policy.TeamView{Name: team, Members: policy.MembersOf(engineWorkers, engineCases), Cases: engineCases}
	s.WithLedger(ledger)
	return s, nil
}

// readFor reads, for LoadFor, the practitioners of team among names, the team's open cases that
// name them, and the team's open cases that their entries in the ledger name.
func readFor(ctx context.Context, r client.Reader, namespace, team string, names []string, ledger *v1alpha1.AllocationLedger, prs *v1alpha1.PractitionerList, cases *v1alpha1.CaseList) error {
	seen := map[string]bool{}
	keep := func(c *v1alpha1.Case) {
		if c.Spec.Team == team && c.IsOpen() && !seen[c.Name] {
			seen[c.Name] = true
			cases.Items = append(cases.Items, *c)
		}
	}
	wanted := map[string]bool{}
	for _, name := range names {
		wanted[name] = true
		var p v1alpha1.Practitioner
		switch err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &p); {
		case err == nil && p.Spec.Team == team:
			prs.Items = append(prs.Items, p)
		case err != nil && !apierrors.IsNotFound(err):
			return fmt.Errorf("read practitioner %s: %w", name, err)
		}
		var theirs v1alpha1.CaseList
		if err := r.List(ctx, &theirs, client.InNamespace(namespace), client.MatchingFields{index.OpenCaseByPractitioner: name}, client.UnsafeDisableDeepCopy); err != nil {
			return fmt.Errorf("list cases of %s: %w", name, err)
		}
		for i := range theirs.Items {
			keep(&theirs.Items[i])
		}
	}
	for _, e := range ledger.Spec.Reservations {
		if !wanted[e.Practitioner] || seen[e.Case] {
			continue
		}
		var c v1alpha1.Case
		switch err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: e.Case}, &c); {
		case err == nil:
			keep(&c)
		case !apierrors.IsNotFound(err):
			return fmt.Errorf("read case %s: %w", e.Case, err)
		}
	}
	return nil
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

// WithLedger counts the reservations of the team's ledger, replacing any counted before. The
// webhook calls it with the freshest ledger it knows.
func (s *Snapshot) WithLedger(ledger *v1alpha1.AllocationLedger) {
	s.Ledger = ledger
	s.View = policy.WithReservations(s.base, Reservations(ledger.Spec.Reservations, s.base.Name))
}

// Without takes the member of that name out of the team, and returns them: a practitioner whose
// move to another team admission has let through is no longer the team's to allocate to, whatever
// a cache shows.
func (s *Snapshot) Without(name string) (policy.Practitioner, bool) {
	for i, m := range s.base.Members {
		if m.Practitioner.Name == name {
			s.base.Members = slices.Delete(slices.Clone(s.base.Members), i, i+1)
			s.WithLedger(s.Ledger)
			return m.Practitioner, true
		}
	}
	return policy.Practitioner{}, false
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

// Reservations are the ledger's entries for team, for the engine.
func Reservations(entries []v1alpha1.Reservation, team string) []policy.Reserved {
	var out []policy.Reserved
	for _, r := range entries {
		if r.Team != team {
			continue
		}
		c := policy.Case{Name: r.Case, Type: r.CaseType, Complexity: string(r.Complexity), Children: int(r.Children), Team: team, UID: string(r.CaseUID), Generation: r.Generation}
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

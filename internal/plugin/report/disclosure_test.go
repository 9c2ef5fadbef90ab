package report

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/manifest"
	"caseload.dev/caseload-operator/internal/plugin/kit"
	"caseload.dev/caseload-operator/internal/plugin/offline"
)

// The attacker: for every count a published report suppresses because it is small, the least
// and the most a reader can make it, knowing every count the report shows (in its tables,
// headline and charts) and every sum that holds between them, by linear programming. The report
// is safe when each such count can still be any of at least protectionWidth values.

// attack bounds every primary-suppressed count of each council of hc, as published, and returns
// how many it checked, the narrowest range it found, and the counts left exposed.
func attack(t *testing.T, hc *healthCheck) (checked int, narrowest float64, exposed []string) {
	t.Helper()
	narrowest = math.Inf(1)
	for _, c := range hc.Councils {
		c.published = nil
		r := c.disclosure(true).r
		checkRelationsHold(t, c.Namespace, r)
		// FTE is never more than the headcount: beside a suppressed headcount it is suppressed.
		for _, tr := range c.teamRows() {
			if hidden, _ := r.hidden(cellKey{"practitioners", tr.Team, ""}); hidden && c.disclosure(true).fte(tr).Text != suppressed {
				exposed = append(exposed, fmt.Sprintf("%s %s: FTE %s shown beside a suppressed headcount", c.Namespace, tr.Team, figure(tr.FTE)))
			}
		}
		for _, e := range r.audit() {
			checked++
			narrowest = math.Min(narrowest, e.width())
			if e.width() < protectionWidth {
				cell := r.cells[e.cell]
				exposed = append(exposed, fmt.Sprintf("%s %s/%s/%s = %d: a reader can narrow it to %v..%v",
					c.Namespace, cell.key.team, cell.key.measure, cell.key.category, cell.value, math.Ceil(e.lo-1e-6), math.Floor(e.hi+1e-6)))
			}
		}
	}
	return checked, narrowest, exposed
}

// checkRelationsHold: the sums the attacker is given are true of the council's figures, so the
// attacker reasons from what a reader really knows.
func checkRelationsHold(t *testing.T, council string, r *release) {
	t.Helper()
	for _, rel := range r.relations {
		n := 0
		for _, p := range rel.parts {
			n += r.cells[p].value
		}
		total := r.cells[rel.total].value
		if (!rel.atMost && n != total) || (rel.atMost && n > total) {
			t.Fatalf("%s: the parts of %v add up to %d, not %d (atMost %v)", council, r.cells[rel.total].key, n, total, rel.atMost)
		}
	}
}

// everyShownCountIsAudited renders the published report in every format and fails on a count it
// shows that the release (and so the attacker) does not hold.
func everyShownCountIsAudited(t *testing.T, hc *healthCheck) {
	t.Helper()
	hc.Publish = true
	for name, render := range formats {
		if err := render(io.Discard, hc); err != nil {
			t.Fatal(err)
		}
		for _, c := range hc.Councils {
			if len(c.published.unknown) > 0 {
				t.Errorf("%s: the %s report shows counts the disclosure audit does not hold: %v", c.Namespace, name, c.published.unknown)
			}
		}
	}
}

// healthCheckOfWorld is the report of every council of w at when.
func healthCheckOfWorld(t *testing.T, w *offline.World, at time.Time) *healthCheck {
	t.Helper()
	o := &Options{Flags: &kit.Flags{}}
	hc, err := o.healthCheckOf(context.Background(), w, w.Councils(), at)
	if err != nil {
		t.Fatal(err)
	}
	hc.Publish = true
	return hc
}

// sampleCouncils are the councils the repository ships: config/samples/council (the `make run`
// tour, from hack/gen-samples) and examples/gitops's brookfield snapshot.
func sampleCouncils(t *testing.T) map[string]*healthCheck {
	t.Helper()
	files, err := filepath.Glob("../../../config/samples/council/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no sample council: %v", err)
	}
	sort.Strings(files)
	w := &offline.World{APIVersion: offline.SnapshotVersion, Kind: "CaseloadSnapshot", TakenAt: metav1.NewTime(time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC))}
	practitioners := map[string]int{}
	for _, f := range files {
		objs, err := manifest.DecodeFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range objs {
			into := func(obj any) {
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, obj); err != nil {
					t.Fatalf("%s: %v", f, err)
				}
			}
			switch u.GetKind() {
			case "Namespace":
				var ns corev1.Namespace
				into(&ns)
				w.Namespaces = append(w.Namespaces, ns)
			case "Team":
				var tm v1alpha1.Team
				into(&tm)
				w.Teams = append(w.Teams, tm)
			case "Practitioner":
				// A later document for the same practitioner (an absence) replaces the first.
				var p v1alpha1.Practitioner
				into(&p)
				key := p.Namespace + "/" + p.Name
				if i, ok := practitioners[key]; ok {
					w.Practitioners[i] = p
					continue
				}
				practitioners[key] = len(w.Practitioners)
				w.Practitioners = append(w.Practitioners, p)
			case "Case":
				var c v1alpha1.Case
				into(&c)
				w.Cases = append(w.Cases, c)
			case "CaseloadQuota":
				var q v1alpha1.CaseloadQuota
				into(&q)
				w.Quotas = append(w.Quotas, q)
			}
		}
	}
	out := map[string]*healthCheck{"config/samples/council": healthCheckOfWorld(t, w, w.TakenAt.Time)}
	gitops, err := offline.ReadFile("../../../examples/gitops/snapshots/brookfield.snapshot.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out["examples/gitops"] = healthCheckOfWorld(t, gitops, gitops.TakenAt.Time)
	return out
}

// randomCouncil is a seeded council of 2 to 6 teams of 1 to 12 practitioners of four grades (one
// no quota caps), part-timers and absences among them, cases of four types allocated or
// waiting, some long ago, under one quota with caps, deadlines and timescales.
func randomCouncil(seed uint64) *offline.World {
	rng := rand.New(rand.NewPCG(seed, 25))
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	day := func(daysAgo int) v1alpha1.Date {
		return v1alpha1.Date(at.AddDate(0, 0, -daysAgo).Format(time.DateOnly))
	}
	ns := fmt.Sprintf("council-%03d", seed)
	w := &offline.World{APIVersion: offline.SnapshotVersion, Kind: "CaseloadSnapshot", TakenAt: metav1.NewTime(at),
		Namespaces: []corev1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: ns}}}}
	grades := []string{"NewlyQualified", "SocialWorker", "SeniorSocialWorker", "SocialWorkAssistant"}
	types := []string{"ChildInNeed", "ChildProtection", "LookedAfter", "EarlyHelp"}
	ftes := []string{"1", "1", "1", "0.8", "0.6", "0.5", "0.4"}
	n := 0
	newCase := func(team, typ, to string, opened int) v1alpha1.Case {
		n++
		return v1alpha1.Case{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("c-%04d", n)},
			Spec: v1alpha1.CaseSpec{Reference: fmt.Sprintf("REF-%04d", n), Team: team, Type: typ, OpenedOn: day(opened), AllocatedTo: to}}
	}
	for ti := range 2 + rng.IntN(5) {
		team := fmt.Sprintf("team-%d", ti)
		w.Teams = append(w.Teams, v1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: team}})
		for pi := range 1 + rng.IntN(12) {
			name := fmt.Sprintf("%s-sw-%02d", team, pi)
			p := v1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
				Spec: v1alpha1.PractitionerSpec{Team: team, Grade: grades[rng.IntN(len(grades))], FTE: ftes[rng.IntN(len(ftes))]}}
			if rng.IntN(8) == 0 {
				p.Spec.Absences = []v1alpha1.Absence{{From: day(3), Until: v1alpha1.Date(at.AddDate(0, 0, 10).Format(time.DateOnly)), Reason: v1alpha1.AbsenceSickness}}
			}
			w.Practitioners = append(w.Practitioners, p)
			held := rng.IntN(19)
			if rng.IntN(10) == 0 {
				held = 0
			}
			for range held {
				w.Cases = append(w.Cases, newCase(team, types[rng.IntN(len(types))], name, 30+rng.IntN(500)))
			}
		}
		for range rng.IntN(8) {
			w.Cases = append(w.Cases, newCase(team, types[rng.IntN(len(types))], "", rng.IntN(150)))
		}
	}
	w.Quotas = []v1alpha1.CaseloadQuota{{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "caps"}, Spec: v1alpha1.CaseloadQuotaSpec{
		Weights:          v1alpha1.Weights{CaseTypes: map[string]v1alpha1.CaseWeight{"ChildProtection": "1.5", "LookedAfter": "1.25"}},
		PractitionerCaps: []v1alpha1.PractitionerCap{{Grade: "NewlyQualified", MaxWeight: "12"}, {Grade: "SocialWorker", MaxWeight: "15"}, {Grade: "SeniorSocialWorker", MaxWeight: "16"}},
		Timescales:       map[string]v1alpha1.Timescale{"ChildInNeed": {MaxOpenDays: 365}, "EarlyHelp": {MaxOpenDays: 180}},
		AllocationDeadlines: map[string]v1alpha1.AllocationDeadline{"ChildProtection": {MaxUnallocatedDays: 2}, "ChildInNeed": {MaxUnallocatedDays: 10},
			"LookedAfter": {MaxUnallocatedDays: 28}},
	}}}
	return w
}

// TestPublishedReportCannotBeUnpicked runs the attacker on the sample councils and on 100
// seeded random councils: no count suppressed because it is small can be narrowed to fewer
// than protectionWidth values, and every count the published report shows is one the attacker
// knows.
func TestPublishedReportCannotBeUnpicked(t *testing.T) {
	total, narrowest, councils := 0, math.Inf(1), 0
	run := func(t *testing.T, name string, hc *healthCheck) {
		checked, min, exposed := attack(t, hc)
		for _, e := range exposed {
			t.Errorf("%s: %s", name, e)
		}
		everyShownCountIsAudited(t, hc)
		total, narrowest, councils = total+checked, math.Min(narrowest, min), councils+len(hc.Councils)
	}
	for name, hc := range sampleCouncils(t) {
		run(t, name, hc)
	}
	seeds := 100
	if testing.Short() {
		seeds = 10
	}
	for seed := range uint64(seeds) {
		run(t, "seed "+strconv.FormatUint(seed, 10), healthCheckOfWorld(t, randomCouncil(seed), time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)))
	}
	t.Logf("%d suppressed counts of %d councils checked; the narrowest range a reader can reach holds %v values", total, councils, narrowest)
}

// TestAttackerRecoversCountsWithoutSecondarySuppression: switched off, primary suppression alone
// leaves counts a reader works out exactly from the totals; the attacker finds them, so the test
// above can fail.
func TestAttackerRecoversCountsWithoutSecondarySuppression(t *testing.T) {
	secondarySuppression = false
	defer func() { secondarySuppression = true }()
	exact := 0
	for seed := range uint64(20) {
		hc := healthCheckOfWorld(t, randomCouncil(seed), time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
		_, narrowest, exposed := attack(t, hc)
		if narrowest <= 1 {
			exact++
		}
		if len(exposed) == 0 {
			continue
		}
		if seed == 0 {
			t.Logf("for example: %s", exposed[0])
		}
	}
	for name, hc := range sampleCouncils(t) {
		if _, _, exposed := attack(t, hc); len(exposed) == 0 {
			t.Errorf("%s: with primary suppression alone the attacker recovers nothing", name)
		} else {
			t.Logf("%s: %d counts exposed, e.g. %s", name, len(exposed), exposed[0])
		}
	}
	if exact == 0 {
		t.Error("with primary suppression alone the attacker pins down no count exactly in 20 councils")
	}
	t.Logf("with primary suppression alone, the attacker pins a count down exactly in %d of 20 random councils", exact)
}

// randomCouncilReport is the first seeded council's report: its quota weighs case types
// differently, so it is on points.
func randomCouncilReport(t *testing.T) *councilReport {
	t.Helper()
	return healthCheckOfWorld(t, randomCouncil(0), time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)).Councils[0]
}

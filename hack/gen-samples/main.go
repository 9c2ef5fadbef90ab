// Command gen-samples writes the sample council under config/samples/council: two councils in
// two namespaces, children's services with assessment, child-protection and looked-after teams,
// about 25 practitioners and 300 cases. It is seeded and deterministic: the same source writes
// the same files, byte for byte.
//
//	go run ./hack/gen-samples            # writes config/samples/council
//	go run ./hack/gen-samples -check     # fails when the committed files differ
//
// Every name is pseudonymous: practitioners are sw-NNNN, cases c-NNNN with LCS-/MOS- references.
// Before writing, it checks with the policy engine (internal/policy) that what the `make run`
// tour (internal/sandbox/tour.go) promises holds: who is full, who is over the tightened cap,
// which allocation is refused and that an exception can admit it.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/policy"
	"caseload.dev/caseload-operator/internal/sandbox"
)

// asOf is the day the sample describes. Dates are fixed, so the files never change; cases opened
// long ago stay overdue as time passes.
var asOf = policy.MustParseDay("2026-11-20")

const seed = 20261120

func main() {
	out := flag.String("out", "config/samples/council", "directory to write the sample into")
	check := flag.Bool("check", false, "compare with the files in -out instead of writing them")
	flag.Parse()

	councils, err := generate()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen-samples:", err)
		os.Exit(1)
	}
	files := render(councils)
	if *check {
		stale := false
		for name, data := range files {
			old, err := os.ReadFile(filepath.Join(*out, name))
			if err != nil || !bytes.Equal(old, data) {
				fmt.Fprintf(os.Stderr, "gen-samples: %s is out of date: run go run ./hack/gen-samples\n", filepath.Join(*out, name))
				stale = true
			}
		}
		if stale {
			os.Exit(1)
		}
		return
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(*out, name), files[name], 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	summarise(os.Stdout, councils)
}

// generate builds both councils from the seed and checks the tour's claims against them.
func generate() ([]*council, error) {
	rng := rand.New(rand.NewPCG(seed, seed>>3))
	councils := []*council{brookfield(), harbourside()}
	for _, c := range councils {
		c.generate(rng)
	}
	if err := verifyTour(councils); err != nil {
		return nil, fmt.Errorf("the sample no longer supports the make run tour: %w", err)
	}
	return councils, nil
}

// council is one namespace: its teams, their people and cases, and its quotas.
type council struct {
	ns, display, refPrefix string
	caseNumbers            [2]int // the range case names are drawn from
	quotas                 []quota
	teams                  []*team

	usedCaseNames map[string]bool
	usedRefs      map[string]bool
}

type quota struct {
	name, comment string
	spec          v1alpha1.CaseloadQuotaSpec
}

// enforcing is the council's Deny quota: it sets capacities.
// policies are every quota of the council, as the engine decides with them: overdue is the
// strictest's to say.
func (c *council) policies() policy.Set {
	var out policy.Set
	for _, q := range c.quotas {
		out = append(out, policy.MustFromSpec(c.ns+"/"+q.name, q.spec))
	}
	return out
}

func (c *council) enforcing() *policy.Policy {
	for _, q := range c.quotas {
		if q.spec.EnforcementAction == v1alpha1.EnforcementDeny {
			return policy.MustFromSpec(c.ns+"/"+q.name, q.spec)
		}
	}
	panic("council " + c.ns + " has no Deny quota")
}

type team struct {
	name, display, service, label string
	// mix is the share of each case type among the team's cases, in percent.
	mix           []share
	practitioners []*practitioner
	// unallocated is how many new cases wait for allocation, besides any fixed ones.
	unallocated int
	// fixed cases (the tour's) are added as they are.
	fixed []*v1alpha1.Case
	cases []*v1alpha1.Case
}

type share struct {
	caseType string
	percent  int
}

type practitioner struct {
	obj    *v1alpha1.Practitioner
	agency bool
	// load is the weight to fill to, as a percentage of the capacity they would have if
	// available under the council's enforcing quota.
	load int
	// coWorks is how many of the team's child-protection cases they co-work.
	coWorks int
	// exact, when set, replaces random filling: the practitioner holds exactly these cases.
	exact []caseShape
	note  string
}

type caseShape struct {
	caseType   string
	complexity v1alpha1.Complexity
	children   int32
}

func prac(name, grade, fte string, load int) *practitioner {
	return &practitioner{obj: &v1alpha1.Practitioner{
		ObjectMeta: objectMeta(name),
		Spec:       v1alpha1.PractitionerSpec{Grade: grade, FTE: fte},
	}, load: load}
}

func (p *practitioner) reduce(reason v1alpha1.ReductionReason, percent int32, until string) *practitioner {
	p.obj.Spec.Reductions = append(p.obj.Spec.Reductions, v1alpha1.Reduction{Reason: reason, Percent: percent, Until: v1alpha1.Date(until)})
	return p
}

func (p *practitioner) absent() *practitioner {
	f := false
	p.obj.Spec.Available = &f
	return p
}

// leave plans an absence: capacity 0 on its days, and its cases need cover meanwhile.
func (p *practitioner) leave(reason v1alpha1.AbsenceReason, from, until string) *practitioner {
	p.obj.Spec.Absences = append(p.obj.Spec.Absences, v1alpha1.Absence{Reason: reason, From: v1alpha1.Date(from), Until: v1alpha1.Date(until)})
	return p
}

func (p *practitioner) withNote(s string) *practitioner { p.note = s; return p }

var (
	timescales = map[string]int32{
		"EarlyHelp": 180, "ChildInNeed": 270, "ChildProtection": 365, "CareProceedings": 182,
		"LookedAfter": 548, "CareLeaver": 1095,
	}
	deadlines = map[string]int32{
		"EarlyHelp": 10, "ChildInNeed": 5, "ChildProtection": 0, "CareProceedings": 0,
		"LookedAfter": 0, "CareLeaver": 10,
	}
)

func timescaleSpec() (map[string]v1alpha1.Timescale, map[string]v1alpha1.AllocationDeadline) {
	ts := map[string]v1alpha1.Timescale{}
	for t, d := range timescales {
		ts[t] = v1alpha1.Timescale{MaxOpenDays: d}
	}
	ad := map[string]v1alpha1.AllocationDeadline{}
	for t, d := range deadlines {
		ad[t] = v1alpha1.AllocationDeadline{MaxUnallocatedDays: d}
	}
	return ts, ad
}

func dec(s string) *v1alpha1.Decimal { d := v1alpha1.Decimal(s); return &d }
func i32(n int32) *int32             { return &n }

// childrensTeams are the three teams of a children's service, with their usual case mix.
func childrensTeams() []*team {
	return []*team{
		{name: "assessment", display: "Assessment and Intervention", service: "Children's assessment", label: "assessment",
			mix:         []share{{"ChildInNeed", 60}, {"EarlyHelp", 25}, {"ChildProtection", 15}},
			unallocated: 5},
		{name: "child-protection", display: "Child Protection and Court", service: "Child protection", label: "child-protection",
			mix:         []share{{"ChildProtection", 60}, {"CareProceedings", 15}, {"ChildInNeed", 25}},
			unallocated: 2},
		{name: "looked-after", display: "Children in Care", service: "Looked-after children", label: "looked-after",
			mix:         []share{{"LookedAfter", 70}, {"CareLeaver", 20}, {"CareProceedings", 10}},
			unallocated: 2},
	}
}

// brookfield is Walsall-style: a case counts 1 (more when complex or a large sibling group), 15
// for an experienced social worker, 12 for a newly qualified one. The cap was 18; the quota that
// tightens it to 15 is applied last, so those who carried 16-18 are now over it.
func brookfield() *council {
	ts, ad := timescaleSpec()
	c := &council{ns: sandbox.TourNamespace, display: "Brookfield Children's Services", refPrefix: "LCS", caseNumbers: [2]int{1000, 3000}}
	c.quotas = []quota{
		{name: sandbox.TourTrialQuota, comment: "A trial, in DryRun: would a team average of 11 per FTE hold in child protection? Its findings\n# show in its own status and change nothing else.",
			spec: v1alpha1.CaseloadQuotaSpec{
				TeamSelector:      &metav1.LabelSelector{MatchLabels: map[string]string{"caseload.dev/service": "child-protection"}},
				EnforcementAction: v1alpha1.EnforcementDryRun,
				Weights: v1alpha1.Weights{Default: "1", Complexity: map[string]v1alpha1.Multiplier{"Low": "0.75", "High": "1.5"},
					AdditionalChild: "0.25", CoWorkerShare: "0.5"},
				TeamCap: &v1alpha1.TeamCap{MaxAveragePerFTE: dec("11")},
				Bands:   v1alpha1.Bands{AmberPercent: 90, RedPercent: 100},
			}},
		{name: sandbox.TourQuota, comment: "Walsall-style: at most 15 weighted cases for an experienced social worker, 12 for a newly\n# qualified one, who holds child protection only as a co-worker. Tightened from 18 to 15 for\n# experienced workers on 2026-11-16 and applied last: those who carried more are over the cap now,\n# which is recorded (band Red, a violation in its status), never refused.",
			spec: v1alpha1.CaseloadQuotaSpec{
				EnforcementAction: v1alpha1.EnforcementDeny,
				Weights: v1alpha1.Weights{Default: "1", Complexity: map[string]v1alpha1.Multiplier{"Low": "0.75", "High": "1.5"},
					AdditionalChild: "0.25", CoWorkerShare: "0.5"},
				PractitionerCaps: []v1alpha1.PractitionerCap{
					{Grade: "SocialWorker", MaxWeight: "15", MaxCases: i32(18)},
					{Grade: "SeniorSocialWorker", MaxWeight: "15", MaxCases: i32(18)},
					{Grade: "NewlyQualified", MaxWeight: "12", MaxCases: i32(14), ExcludedCaseTypes: []string{"ChildProtection", "CareProceedings"}},
				},
				Bands:               v1alpha1.Bands{AmberPercent: 90, RedPercent: 100},
				Exceptions:          &v1alpha1.Exceptions{MaxPercent: 120, MaxDays: 28},
				Timescales:          ts,
				AllocationDeadlines: ad,
			}},
	}
	as, cp, la := childrensTeamsSplit(childrensTeams())
	as.practitioners = []*practitioner{
		prac("sw-0129", "SeniorSocialWorker", "1", 88),
		agency(prac("sw-0174", "SocialWorker", "1", 93)),
		prac("sw-0206", "SocialWorker", "0.8", 84),
		prac("sw-0311", "NewlyQualified", "1", 80).reduce(v1alpha1.ReductionNewlyQualified, 10, "2027-08-31"),
	}
	full := prac(sandbox.TourFullPractitioner, "SocialWorker", "1", 0).withNote("full: the tour's refused allocation")
	full.exact = append(repeat(caseShape{"ChildProtection", v1alpha1.ComplexityStandard, 1}, 7),
		append(repeat(caseShape{"ChildInNeed", v1alpha1.ComplexityStandard, 1}, 5),
			caseShape{"CareProceedings", v1alpha1.ComplexityHigh, 1}, caseShape{"ChildInNeed", v1alpha1.ComplexityStandard, 1})...)
	cp.practitioners = []*practitioner{
		prac(sandbox.TourOverCapPractitioner, "SeniorSocialWorker", "1", 113).withNote("over the tightened cap"),
		full,
		prac(sandbox.TourRoomyPractitioner, "SocialWorker", "1", 70),
		prac("sw-0452", "SocialWorker", "0.6", 85),
		prac("sw-0495", "SocialWorker", "1", 55).reduce(v1alpha1.ReductionPhasedReturn, 40, "2027-01-15").withNote("phased return"),
		withCoWork(prac("sw-0537", "NewlyQualified", "1", 75).reduce(v1alpha1.ReductionNewlyQualified, 10, "2027-06-30"), 4),
	}
	la.practitioners = []*practitioner{
		prac("sw-0612", "SeniorSocialWorker", "1", 96).leave(v1alpha1.AbsenceAnnualLeave, "2027-02-15", "2027-02-19").withNote("annual leave planned for half term"),
		prac("sw-0648", "SocialWorker", "0.8", 108).withNote("over the tightened cap"),
		agency(prac("sw-0679", "SocialWorker", "1", 90)),
	}
	cp.fixed = []*v1alpha1.Case{newCase(sandbox.TourRefusedCase, "LCS-208817-41", cp.name, sandbox.TourRefusedCaseType, v1alpha1.ComplexityHigh, 1, asOf.AddDays(-2))}
	c.teams = []*team{as, cp, la}
	return c
}

// harbourside is Wirral-style: 100 points per full-time worker, case types 4-10 points, newly
// qualified workers 90 points and no child protection unless co-worked.
func harbourside() *council {
	ts, ad := timescaleSpec()
	c := &council{ns: sandbox.TourPointsNamespace, display: "Harbourside Children's Services", refPrefix: "MOS", caseNumbers: [2]int{6000, 8000}}
	c.quotas = []quota{
		{name: sandbox.TourPointsQuota, comment: "Wirral-style points: 100 points per full-time worker, case types weigh 4 to 10 points; newly\n# qualified workers have 90 points and hold child protection only as co-workers.",
			spec: v1alpha1.CaseloadQuotaSpec{
				TeamSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
					Key: "caseload.dev/service", Operator: "In", Values: []string{"assessment", "child-protection", "looked-after"}}}},
				EnforcementAction: v1alpha1.EnforcementDeny,
				Weights: v1alpha1.Weights{
					CaseTypes: map[string]v1alpha1.CaseWeight{"EarlyHelp": "4", "CareLeaver": "5", "ChildInNeed": "6", "LookedAfter": "7",
						"ChildProtection": "8", "CareProceedings": "10"},
					Default: "6", Complexity: map[string]v1alpha1.Multiplier{"Low": "0.75", "High": "1.25"},
					AdditionalChild: "1", CoWorkerShare: "0.5"},
				PractitionerCaps: []v1alpha1.PractitionerCap{
					{Grade: "SocialWorker", MaxWeight: "100"},
					{Grade: "SeniorSocialWorker", MaxWeight: "100"},
					{Grade: "NewlyQualified", MaxWeight: "90", ExcludedCaseTypes: []string{"ChildProtection", "CareProceedings"}},
				},
				TeamCap:             &v1alpha1.TeamCap{MaxAveragePerFTE: dec("95")},
				Bands:               v1alpha1.Bands{AmberPercent: 85, RedPercent: 100},
				Exceptions:          &v1alpha1.Exceptions{MaxPercent: 110, MaxDays: 14},
				Timescales:          ts,
				AllocationDeadlines: ad,
			}},
	}
	as, cp, la := childrensTeamsSplit(childrensTeams())
	as.practitioners = []*practitioner{
		prac("sw-0704", "SocialWorker", "1", 86),
		prac("sw-0731", "SocialWorker", "0.6", 80),
		withCoWork(prac("sw-0755", "NewlyQualified", "1", 72), 0),
		agency(prac("sw-0768", "SocialWorker", "1", 92)),
	}
	cp.practitioners = []*practitioner{
		prac("sw-0792", "SeniorSocialWorker", "1", 90),
		prac("sw-0810", "SocialWorker", "0.8", 88),
		withCoWork(prac(sandbox.TourNewlyQualified, "NewlyQualified", "1", 70), 4),
		prac("sw-0833", "SocialWorker", "1", 84).reduce(v1alpha1.ReductionReasonableAdjustment, 20, ""),
	}
	la.practitioners = []*practitioner{
		prac("sw-0847", "SocialWorker", "1", 89),
		prac(sandbox.TourAbsentPractitioner, "SocialWorker", "0.8", 78).absent().withNote("absent: cases need cover (marked unavailable in 50-absences.yaml, after their cases)"),
		prac("sw-0879", "SeniorSocialWorker", "0.6", 83),
		prac("sw-0893", "SocialWorker", "1", 85).reduce(v1alpha1.ReductionTradeUnion, 10, ""),
	}
	cp.fixed = []*v1alpha1.Case{newCase(sandbox.TourPointsCase, "MOS-731108-29", cp.name, "ChildProtection", v1alpha1.ComplexityStandard, 2, asOf.AddDays(-1))}
	c.teams = []*team{as, cp, la}
	return c
}

func childrensTeamsSplit(ts []*team) (*team, *team, *team) { return ts[0], ts[1], ts[2] }

func agency(p *practitioner) *practitioner { p.agency = true; return p }

func withCoWork(p *practitioner, n int) *practitioner { p.coWorks = n; return p }

func repeat(s caseShape, n int) []caseShape {
	out := make([]caseShape, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func newCase(name, ref, teamName, caseType string, cx v1alpha1.Complexity, children int32, opened policy.Day) *v1alpha1.Case {
	return &v1alpha1.Case{
		ObjectMeta: objectMeta(name),
		Spec: v1alpha1.CaseSpec{Reference: ref, Team: teamName, Type: caseType, Complexity: cx, Children: children,
			OpenedOn: v1alpha1.Date(opened.String())},
	}
}

// generate fills every team with cases, from the seeded generator.
func (c *council) generate(rng *rand.Rand) {
	c.usedCaseNames, c.usedRefs = map[string]bool{}, map[string]bool{}
	p := c.enforcing()
	for _, t := range c.teams {
		for _, fc := range t.fixed {
			c.usedCaseNames[fc.Name] = true
			c.usedRefs[fc.Spec.Reference] = true
		}
	}
	for _, t := range c.teams {
		for _, pr := range t.practitioners {
			pr.obj.Namespace, pr.obj.Spec.Team = c.ns, t.name
		}
		// Leads first (the newly qualified last, after they have taken their co-working), then
		// the new cases waiting for allocation, then a few recently closed ones (they weigh nothing).
		for _, pr := range t.practitioners {
			if pr.obj.Spec.Grade != "NewlyQualified" {
				c.fill(rng, p, t, pr)
			}
		}
		for _, pr := range t.practitioners {
			if pr.coWorks > 0 {
				c.coWork(rng, p, t, pr)
			}
		}
		for _, pr := range t.practitioners {
			if pr.obj.Spec.Grade == "NewlyQualified" {
				c.fill(rng, p, t, pr)
			}
		}
		for i := 0; i < t.unallocated; i++ {
			cs := c.draw(rng, t, nil)
			cs.Spec.OpenedOn = v1alpha1.Date(asOf.AddDays(-rng.IntN(21)).String())
			t.cases = append(t.cases, cs)
		}
		for _, pr := range t.practitioners {
			for closed := rng.IntN(4); closed > 0; closed-- {
				cs := c.draw(rng, t, pr)
				cs.Spec.AllocatedTo = pr.obj.Name
				opened := asOf.AddDays(-30 - rng.IntN(300))
				cs.Spec.OpenedOn = v1alpha1.Date(opened.String())
				cs.Spec.ClosedOn = v1alpha1.Date(asOf.AddDays(-1 - rng.IntN(25)).String())
				t.cases = append(t.cases, cs)
			}
		}
		for _, fc := range t.fixed {
			fc.Namespace = c.ns
			t.cases = append(t.cases, fc)
		}
		sort.Slice(t.cases, func(i, j int) bool { return t.cases[i].Name < t.cases[j].Name })
	}
}

// fill gives a practitioner open cases up to their target load.
func (c *council) fill(rng *rand.Rand, p *policy.Policy, t *team, pr *practitioner) {
	if pr.exact != nil {
		for _, s := range pr.exact {
			cs := c.draw(rng, t, pr)
			cs.Spec.Type, cs.Spec.Complexity, cs.Spec.Children = s.caseType, s.complexity, s.children
			cs.Spec.OpenedOn = v1alpha1.Date(asOf.AddDays(-14 - rng.IntN(int(timescales[s.caseType])*4/5)).String())
			cs.Spec.AllocatedTo = pr.obj.Name
			t.cases = append(t.cases, cs)
		}
		return
	}
	avail := *pr.obj
	avail.Spec.Available = nil
	capacity := p.CapacityOf(policy.PractitionerFrom(&avail), asOf).Value
	target := policy.Milli(int64(capacity) * int64(pr.load) / 100)
	load := c.load(p, t, pr.obj.Name)
	for tries := 0; tries < 200 && load < target; tries++ {
		cs := c.draw(rng, t, pr)
		w := p.Carried(policy.CaseFrom(cs, policy.UTC), v1alpha1.RoleLead)
		if load+w > target+target/50 {
			continue
		}
		cs.Spec.AllocatedTo = pr.obj.Name
		t.cases = append(t.cases, cs)
		load += w
	}
}

// coWork makes a practitioner co-worker on some of the team's allocated child-protection cases.
func (c *council) coWork(rng *rand.Rand, p *policy.Policy, t *team, pr *practitioner) {
	var candidates []*v1alpha1.Case
	for _, cs := range t.cases {
		if cs.Spec.Type == "ChildProtection" && cs.Spec.AllocatedTo != "" && cs.Spec.AllocatedTo != sandbox.TourFullPractitioner &&
			cs.Spec.AllocatedTo != sandbox.TourOverCapPractitioner && len(cs.Spec.CoWorkers) == 0 {
			candidates = append(candidates, cs)
		}
	}
	rng.Shuffle(len(candidates), func(i, j int) { candidates[i], candidates[j] = candidates[j], candidates[i] })
	for i := 0; i < pr.coWorks && i < len(candidates); i++ {
		candidates[i].Spec.CoWorkers = []string{pr.obj.Name}
	}
}

// load is what a practitioner carries so far under the policy.
func (c *council) load(p *policy.Policy, t *team, name string) policy.Milli {
	var cases []policy.Case
	for _, cs := range t.cases {
		cases = append(cases, policy.CaseFrom(cs, policy.UTC))
	}
	return p.LoadOf(policy.HoldingsOf(name, cases)).Weight
}

// draw makes a new open case for a team: a type from the team's mix (one the practitioner may
// lead, when there is one), a complexity, a sibling group, an opening date.
func (c *council) draw(rng *rand.Rand, t *team, pr *practitioner) *v1alpha1.Case {
	excluded := map[string]bool{}
	if pr != nil && pr.obj.Spec.Grade == "NewlyQualified" {
		excluded = map[string]bool{"ChildProtection": true, "CareProceedings": true}
	}
	caseType := ""
	for caseType == "" || excluded[caseType] {
		n := rng.IntN(100)
		for _, s := range t.mix {
			if n < s.percent {
				caseType = s.caseType
				break
			}
			n -= s.percent
		}
		if excluded[caseType] && allExcluded(t.mix, excluded) {
			caseType = "ChildInNeed"
		}
	}
	cx := v1alpha1.ComplexityStandard
	switch n := rng.IntN(100); {
	case n < 20:
		cx = v1alpha1.ComplexityLow
	case n >= 78:
		cx = v1alpha1.ComplexityHigh
	}
	children := int32(1)
	switch n := rng.IntN(100); {
	case n >= 95:
		children = 4
	case n >= 85:
		children = 3
	case n >= 65:
		children = 2
	}
	// Most cases are within their timescale; about one in eight is past it.
	span := int(timescales[caseType])
	daysOpen := 7 + rng.IntN(span*9/10)
	if rng.IntN(8) == 0 {
		daysOpen = span + 1 + rng.IntN(span/3)
	}
	return newCase(c.caseName(rng), c.reference(rng), t.name, caseType, cx, children, asOf.AddDays(-daysOpen))
}

func allExcluded(mix []share, excluded map[string]bool) bool {
	for _, s := range mix {
		if !excluded[s.caseType] {
			return false
		}
	}
	return true
}

func (c *council) caseName(rng *rand.Rand) string {
	for {
		name := fmt.Sprintf("c-%04d", c.caseNumbers[0]+rng.IntN(c.caseNumbers[1]-c.caseNumbers[0]))
		if !c.usedCaseNames[name] {
			c.usedCaseNames[name] = true
			return name
		}
	}
}

func (c *council) reference(rng *rand.Rand) string {
	for {
		ref := fmt.Sprintf("%s-%06d-%02d", c.refPrefix, 100000+rng.IntN(900000), rng.IntN(100))
		if !c.usedRefs[ref] {
			c.usedRefs[ref] = true
			return ref
		}
	}
}

// view is a team as the policy engine sees it.
func (t *team) view() policy.TeamView {
	var prs []policy.Practitioner
	for _, p := range t.practitioners {
		prs = append(prs, policy.PractitionerFrom(p.obj))
	}
	var cases []policy.Case
	for _, cs := range t.cases {
		cases = append(cases, policy.CaseFrom(cs, policy.UTC))
	}
	return policy.TeamView{Name: t.name, Members: policy.MembersOf(prs, cases), Cases: cases}
}

func (c *council) team(name string) *team {
	for _, t := range c.teams {
		if t.name == name {
			return t
		}
	}
	return nil
}

func (t *team) findCase(name string) *v1alpha1.Case {
	for _, cs := range t.cases {
		if cs.Name == name {
			return cs
		}
	}
	return nil
}

// allocate asks the engine what would happen if a practitioner of the team took a case.
func allocate(c *council, t *team, caseName, practitioner string) (policy.Decision, error) {
	cs := t.findCase(caseName)
	if cs == nil {
		return policy.Decision{}, fmt.Errorf("case %s/%s is missing", c.ns, caseName)
	}
	v := t.view()
	after := policy.CaseFrom(cs, policy.UTC)
	after.AllocatedTo = practitioner
	n := policy.Assignee{Name: practitioner, Role: v1alpha1.RoleLead}
	for _, m := range v.Members {
		if m.Practitioner.Name == practitioner {
			n.Known, n.Practitioner, n.Holdings = true, m.Practitioner, m.Holdings
		}
	}
	var policies []*policy.Policy
	for _, q := range c.quotas {
		policies = append(policies, policy.MustFromSpec(c.ns+"/"+q.name, q.spec))
	}
	return policy.Decide(policies, policy.Allocation{Case: after, Assignees: []policy.Assignee{n}, Team: v, Day: asOf}), nil
}

// verifyTour checks each claim of internal/sandbox/tour.go against the generated sample.
func verifyTour(councils []*council) error {
	bf, hs := councils[0], councils[1]
	cp := bf.team("child-protection")
	p := bf.enforcing()
	figures := func(t *team, name string, p *policy.Policy) policy.Figures {
		for _, m := range t.view().Members {
			if m.Practitioner.Name == name {
				return p.PractitionerFigures(m.Practitioner, m.Holdings, asOf)
			}
		}
		panic("no practitioner " + name)
	}
	if f := figures(cp, sandbox.TourFullPractitioner, p); f.Weight.String() != sandbox.TourFullLoad || f.Capacity.String() != sandbox.TourFullCapacity {
		return fmt.Errorf("%s carries %s of %s, the tour says %s of %s", sandbox.TourFullPractitioner, f.Weight, f.Capacity, sandbox.TourFullLoad, sandbox.TourFullCapacity)
	}
	if f := figures(cp, sandbox.TourOverCapPractitioner, p); f.Weight <= f.Capacity {
		return fmt.Errorf("%s carries %s of %s: not over the tightened cap", sandbox.TourOverCapPractitioner, f.Weight, f.Capacity)
	}
	if w := p.Weigh(policy.CaseFrom(cp.findCase(sandbox.TourRefusedCase), policy.UTC)).Value.String(); w != sandbox.TourRefusedCaseWeight {
		return fmt.Errorf("%s weighs %s, the tour says %s", sandbox.TourRefusedCase, w, sandbox.TourRefusedCaseWeight)
	}
	d, err := allocate(bf, cp, sandbox.TourRefusedCase, sandbox.TourFullPractitioner)
	if err != nil {
		return err
	}
	want := fmt.Sprintf("case %s (%s, weight %s) would take %s to %s of %s (SocialWorker cap 15 x FTE 1): denied by CaseloadQuota %s/%s",
		sandbox.TourRefusedCase, sandbox.TourRefusedCaseType, sandbox.TourRefusedCaseWeight, sandbox.TourFullPractitioner,
		sandbox.TourFullAfter, sandbox.TourFullCapacity, sandbox.TourNamespace, sandbox.TourQuota)
	if d.Reason() != want || !d.Exceptable() {
		return fmt.Errorf("allocating %s to %s: got %q (exceptable %v), want %q, exceptable", sandbox.TourRefusedCase, sandbox.TourFullPractitioner, d.Reason(), d.Exceptable(), want)
	}
	if d, _ := allocate(bf, cp, sandbox.TourRefusedCase, sandbox.TourRoomyPractitioner); !d.Allowed() {
		return fmt.Errorf("allocating %s to %s is refused: %s", sandbox.TourRefusedCase, sandbox.TourRoomyPractitioner, d.Reason())
	}
	for _, q := range bf.quotas {
		if q.name != sandbox.TourTrialQuota {
			continue
		}
		trial := policy.MustFromSpec(bf.ns+"/"+q.name, q.spec)
		if len(trial.Audit(cp.view(), asOf)) == 0 {
			return fmt.Errorf("the trial %s finds nothing in %s: a trial worth showing finds something", q.name, cp.name)
		}
	}
	d, err = allocate(hs, hs.team("child-protection"), sandbox.TourPointsCase, sandbox.TourNewlyQualified)
	if err != nil {
		return err
	}
	if d.Allowed() || !strings.Contains(d.Reason(), "may hold only as a co-worker") || d.Exceptable() {
		return fmt.Errorf("allocating %s to %s: got %q, want a refusal for the excluded type", sandbox.TourPointsCase, sandbox.TourNewlyQualified, d.Reason())
	}
	for _, t := range hs.teams {
		for _, pr := range t.practitioners {
			if pr.obj.Name == sandbox.TourAbsentPractitioner && (pr.obj.IsAvailable() || figures(t, pr.obj.Name, hs.enforcing()).Cases == 0) {
				return fmt.Errorf("%s should be absent and hold cases", pr.obj.Name)
			}
		}
	}
	return nil
}

// summarise prints every practitioner's figures and each council's audit.
func summarise(w *os.File, councils []*council) {
	total := 0
	for _, c := range councils {
		p := c.enforcing()
		fmt.Fprintf(w, "%s (%s)\n", c.ns, p.Name)
		for _, t := range c.teams {
			v := t.view()
			tf := p.TeamFiguresOf(v, asOf)
			overdue := c.policies().OverdueCases(v, asOf)
			fmt.Fprintf(w, "  team %-17s cases %3d unallocated %d overdue %2d weight %s of %s\n", t.name, tf.Cases, tf.Unallocated, overdue, tf.Weight, tf.Capacity)
			for _, m := range v.Members {
				f := p.PractitionerFigures(m.Practitioner, m.Holdings, asOf)
				fmt.Fprintf(w, "    %s %-18s fte %-4s cases %2d weight %-6s of %-6s %s\n", m.Practitioner.Name, m.Practitioner.Grade, m.Practitioner.FTE, f.Cases, f.Weight, f.Capacity, f.Band)
			}
			for _, f := range p.Audit(v, asOf) {
				fmt.Fprintf(w, "    ! %s\n", f.Message)
			}
			total += len(t.cases)
		}
	}
	fmt.Fprintf(w, "%d cases in all\n", total)
}

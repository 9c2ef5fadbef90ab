package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	caseloadv1alpha1 "caseload.dev/caseload-operator/api/v1alpha1"
)

// The shape of a generated council: a mid-sized council holds about 3,000 open cases and 190
// practitioners, here 16 teams of 12 (192), 187 or 188 cases a team.
const (
	councilCases     = 3000
	teamsPerCouncil  = 16
	membersPerTeam   = 12
	loaders          = 16 // clients loading cases at once
	progressInterval = 10 * time.Second
)

// council is one generated council: its namespace, quota, teams and practitioners, and cases.
type council struct {
	ns    string
	setup []client.Object // the namespace first, then teams, practitioners and the quota
	cases []*caseloadv1alpha1.Case
	teams []string
}

// world generates n open cases in councils of councilCases (the last one smaller), from seed:
// the same seed and n give the same councils, cases and allocations on any machine, with dates
// counted back from today.
func world(seed uint64, n int) []*council {
	var out []*council
	for i := 0; n > 0; i++ {
		size := min(n, councilCases)
		out = append(out, generateCouncil(rand.New(rand.NewPCG(seed, uint64(i))), fmt.Sprintf("council-%03d", i), size))
		n -= size
	}
	return out
}

// caseTypes are the generated case types and their shares (out of 20).
var caseTypes = []struct {
	name  string
	share int
}{{"ChildInNeed", 10}, {"ChildProtection", 5}, {"LookedAfter", 3}, {"EarlyHelp", 2}}

func generateCouncil(r *rand.Rand, ns string, cases int) *council {
	teams := max(1, (cases*teamsPerCouncil+councilCases/2)/councilCases)
	c := &council{ns: ns, setup: []client.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}}}
	for t := range teams {
		team := fmt.Sprintf("team-%02d", t)
		c.teams = append(c.teams, team)
		c.setup = append(c.setup, &caseloadv1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: team}})
	}
	for _, team := range c.teams {
		for p := range membersPerTeam {
			spec := caseloadv1alpha1.PractitionerSpec{Team: team, Grade: "SocialWorker"}
			if p%6 == 0 {
				spec.Grade = "NewlyQualified"
			}
			if p%5 == 4 {
				spec.FTE = "0.8"
			}
			c.setup = append(c.setup, &caseloadv1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: member(team, p)}, Spec: spec})
		}
	}
	c.setup = append(c.setup, &caseloadv1alpha1.CaseloadQuota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "caps"},
		Spec: caseloadv1alpha1.CaseloadQuotaSpec{
			Weights: caseloadv1alpha1.Weights{
				CaseTypes:       map[string]caseloadv1alpha1.CaseWeight{"ChildProtection": "1.5", "LookedAfter": "1.25", "EarlyHelp": "0.5"},
				Complexity:      map[string]caseloadv1alpha1.Multiplier{"Low": "0.75", "High": "1.5"},
				AdditionalChild: "0.25",
			},
			PractitionerCaps: []caseloadv1alpha1.PractitionerCap{{Grade: "SocialWorker", MaxWeight: "22"}, {Grade: "NewlyQualified", MaxWeight: "16"}},
		}})
	today := time.Now().UTC()
	for i := range cases {
		team := c.teams[i%len(c.teams)]
		k := &caseloadv1alpha1.Case{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("case-%05d", i)},
			Spec: caseloadv1alpha1.CaseSpec{
				Reference:  fmt.Sprintf("REF-%s-%05d", ns[len("council-"):], i),
				Team:       team,
				Type:       pick(r),
				Complexity: "Standard",
				Children:   1,
				OpenedOn:   caseloadv1alpha1.Date(today.AddDate(0, 0, -r.IntN(400)).Format(time.DateOnly)),
			}}
		switch x := r.IntN(20); {
		case x < 3:
			k.Spec.Complexity = "High"
		case x < 7:
			k.Spec.Complexity = "Low"
		}
		if r.IntN(8) == 0 {
			k.Spec.Children += int32(1 + r.IntN(3))
		}
		// One case in 25 waits for a worker. The last member of each team holds nothing yet (a
		// new starter), so an allocation to them always has room.
		if r.IntN(25) != 0 {
			k.Spec.AllocatedTo = member(team, r.IntN(membersPerTeam-1))
		}
		c.cases = append(c.cases, k)
	}
	return c
}

func member(team string, p int) string { return fmt.Sprintf("%s-p%02d", team, p) }

func pick(r *rand.Rand) string {
	x := r.IntN(20)
	for _, t := range caseTypes {
		if x < t.share {
			return t.name
		}
		x -= t.share
	}
	return caseTypes[0].name
}

// load creates the councils' objects with loaders clients at once, the setup of each council
// before its cases, and logs its progress every progressInterval.
func (b *bench) load(t *testing.T, councils []*council) time.Duration {
	t.Helper()
	ctx := context.Background()
	started := time.Now()
	for _, c := range councils {
		for _, o := range c.setup {
			if err := b.c.Create(ctx, o.DeepCopyObject().(client.Object)); err != nil {
				t.Fatalf("loading %s: %v", c.ns, err)
			}
		}
	}
	total := 0
	work := make(chan *caseloadv1alpha1.Case, loaders)
	for _, c := range councils {
		total += len(c.cases)
	}
	var done atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	for range loaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range work {
				if err := b.c.Create(ctx, k.DeepCopy()); err != nil {
					failed.Store(fmt.Errorf("case %s/%s: %w", k.Namespace, k.Name, err))
				}
				done.Add(1)
			}
		}()
	}
	stop := make(chan struct{})
	go func() {
		tick := time.NewTicker(progressInterval)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				d, took := done.Load(), time.Since(started)
				rate := float64(d) / took.Seconds()
				t.Logf("loading: %d of %d cases, %.0f a second, about %s to go", d, total, rate,
					(time.Duration(float64(int64(total)-d)/rate) * time.Second).Round(time.Second))
			}
		}
	}()
	for _, c := range councils {
		for _, k := range c.cases {
			if failed.Load() != nil {
				break
			}
			work <- k
		}
	}
	close(work)
	wg.Wait()
	close(stop)
	if err := failed.Load(); err != nil {
		t.Fatalf("loading: %v", err)
	}
	took := time.Since(started)
	t.Logf("loaded %d councils, %d cases in %s (%.0f a second)", len(councils), total, took.Round(time.Second), float64(total)/took.Seconds())
	return took
}

func init() {
	// The client logs the apiserver's warnings through controller-runtime's logger; the benchmark
	// reports figures, not warnings.
	ctrllog.SetLogger(logr.Discard())
}

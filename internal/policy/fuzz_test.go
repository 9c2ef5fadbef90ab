package policy

import (
	"testing"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

// FuzzCaseWeight: for any figures the schema admits, a weight is never negative, never panics,
// and never falls as a sibling group grows.
func FuzzCaseWeight(f *testing.F) {
	f.Add("1.5", "1.5", "0.5", uint8(3), "0.5")
	f.Add("0", "0", "0", uint8(1), "0")
	f.Add("9999.999", "99.999", "9999.999", uint8(20), "1")
	f.Add("1.333", "0.001", "0.001", uint8(2), "0.333")
	f.Fuzz(func(t *testing.T, base, mult, extra string, children uint8, share string) {
		spec := v1alpha1.CaseloadQuotaSpec{Weights: v1alpha1.Weights{
			CaseTypes:       map[string]v1alpha1.CaseWeight{"ChildProtection": v1alpha1.CaseWeight(base)},
			Complexity:      map[string]v1alpha1.Multiplier{"High": v1alpha1.Multiplier(mult)},
			AdditionalChild: v1alpha1.CaseWeight(extra),
			CoWorkerShare:   v1alpha1.Decimal(share),
		}}
		p, errs := FromSpec("fuzz/weights", spec)
		if len(errs) > 0 {
			return // the schema refuses these figures before they reach the engine
		}
		n := int(children%20) + 1
		c := Case{Name: "c", Type: "ChildProtection", Complexity: "High", Children: n}
		w := p.Weigh(c).Value
		if w < 0 || w > MaxCaseWeight*MaxMultiplier/1000+MaxCaseWeight*19 {
			t.Fatalf("weight %s for %s x %s + %s x %d is outside what the schema allows", w, base, mult, extra, n-1)
		}
		c.Children = n + 1
		if more := p.Weigh(c).Value; more < w {
			t.Fatalf("weight fell from %s to %s as children rose to %d", w, more, n+1)
		}
		if cw := p.Carried(c, v1alpha1.RoleCoWorker); cw < 0 || cw > p.Carried(c, v1alpha1.RoleLead) {
			t.Fatalf("a co-worker carries %s of a lead's %s", cw, p.Carried(c, v1alpha1.RoleLead))
		}
	})
}

// FuzzCapacity: effective capacity is never negative, never above the grade's cap, and a
// decimal prints back as it parses.
func FuzzCapacity(f *testing.F) {
	f.Add("15", "0.6", uint8(10), uint8(50), "10")
	f.Add("0", "1", uint8(100), uint8(100), "0")
	f.Add("999999.999", "0.001", uint8(0), uint8(0), "999999.999")
	f.Fuzz(func(t *testing.T, maxWeight, fte string, r1, r2 uint8, personal string) {
		spec := v1alpha1.CaseloadQuotaSpec{PractitionerCaps: []v1alpha1.PractitionerCap{{Grade: "SocialWorker", MaxWeight: v1alpha1.Decimal(maxWeight)}}}
		p, errs := FromSpec("fuzz/capacity", spec)
		if len(errs) > 0 {
			return
		}
		f, err := ParseMilli(fte)
		if err != nil || f <= 0 || f > One {
			return
		}
		pr := Practitioner{Name: "p", Grade: "SocialWorker", FTE: f, Available: true, Reductions: []Reduction{
			{Reason: "Other", Percent: int(r1 % 101)}, {Reason: "TradeUnion", Percent: int(r2 % 101), Until: today},
		}}
		if m, err := ParseMilli(personal); err == nil && m >= 0 {
			pr.PersonalMax = &m
		}
		c := p.CapacityOf(pr, today)
		if c.Value < 0 || c.Value > p.Caps["SocialWorker"].MaxWeight {
			t.Fatalf("capacity %s outside 0..%s (%s)", c.Value, p.Caps["SocialWorker"].MaxWeight, c.Explanation)
		}
		if back, err := ParseMilli(c.Value.String()); err != nil || back != c.Value {
			t.Fatalf("capacity %d prints as %q, which parses back as %d (%v)", c.Value, c.Value.String(), back, err)
		}
		_ = p.BandOf(c.Value+1, c.Value)
	})
}

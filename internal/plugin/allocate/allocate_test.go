package allocate

import (
	"context"
	"errors"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/builders"
	"caseload.dev/caseload-operator/internal/plugin/kit"
)

// TestAPlanNeverOverridesAChangeMadeSinceItWasRead: a case someone allocated, closed or moved
// after the plan read the council is left as they made it, with the reason; a case still
// waiting is allocated, its lead taken out of its co-workers.
func TestAPlanNeverOverridesAChangeMadeSinceItWasRead(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientBuilder().WithScheme(kit.Scheme).WithObjects(
		builders.MakeCase("taken").Namespace("council").Team("north").Type("ChildInNeed").OpenedOn("2026-12-01").Lead("di").Obj(),
		builders.MakeCase("closed").Namespace("council").Team("north").Type("ChildInNeed").OpenedOn("2026-12-01").ClosedOn("2026-12-05").Obj(),
		builders.MakeCase("moved").Namespace("council").Team("south").Type("ChildInNeed").OpenedOn("2026-12-01").Obj(),
		builders.MakeCase("waiting").Namespace("council").Team("north").Type("ChildInNeed").OpenedOn("2026-12-01").CoWorkers("ash", "bo").Obj(),
	).Build()
	o := &Options{Flags: kit.NewFlags(genericiooptions.NewTestIOStreamsDiscard())}
	for _, name := range []string{"taken", "closed", "moved"} {
		_, err := o.allocate(ctx, c, "council", "north", &proposal{Case: name, Lead: "ash"})
		var changed changedMeanwhile
		if !errors.As(err, &changed) {
			t.Errorf("case %s: %v, want the change made since the plan named", name, err)
		}
		var got v1alpha1.Case
		if err := c.Get(ctx, client.ObjectKey{Namespace: "council", Name: name}, &got); err != nil {
			t.Fatal(err)
		}
		if got.Spec.AllocatedTo == "ash" {
			t.Errorf("case %s was allocated to ash over the change made since the plan", name)
		}
	}
	if a, err := o.allocate(ctx, c, "council", "north", &proposal{Case: "waiting", Lead: "ash"}); err != nil || !a.Allowed {
		t.Fatalf("the waiting case: %+v, %v", a, err)
	}
	var got v1alpha1.Case
	if err := c.Get(ctx, client.ObjectKey{Namespace: "council", Name: "waiting"}, &got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.AllocatedTo != "ash" || len(got.Spec.CoWorkers) != 1 || got.Spec.CoWorkers[0] != "bo" {
		t.Errorf("the waiting case is led by %q with co-workers %v, want ash with bo", got.Spec.AllocatedTo, got.Spec.CoWorkers)
	}
}

// TestFlagsAreCheckedBeforeAnythingIsRead: each wrong flag is named, with what it takes.
func TestFlagsAreCheckedBeforeAnythingIsRead(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(o *Options)
		want string
	}{
		{"both --plan and --apply", func(o *Options) { o.Plan, o.Apply = true, true }, "give one of them"},
		{"every council", func(o *Options) { o.AllNamespaces = true }, "one council at a time"},
		{"a band that is none", func(o *Options) { o.MaxBand = "Orange" }, `--max-band is Green, Amber or Red, not "Orange"`},
		{"no horizon", func(o *Options) { o.Horizon = 0 }, "--horizon is from 1 to 365 days"},
		{"wide output", func(o *Options) { o.Output = "wide" }, `not "wide"`},
	} {
		o := &Options{Flags: kit.NewFlags(genericiooptions.NewTestIOStreamsDiscard()), MaxBand: "Amber", Horizon: 7}
		o.Output = "table"
		if err := o.Validate(); err != nil {
			t.Fatalf("the defaults: %v", err)
		}
		tc.set(o)
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

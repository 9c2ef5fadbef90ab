package integration

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/manifest"
)

// TestEditsThatCannotAddWeightNeverWaitForTheWebhook installs the generated Case webhook with
// its matchConditions, pointed at an address where nothing listens, as if the operator were down.
// The apiserver itself decides from the conditions which requests to send: allocations and
// weight-raising edits fail (failurePolicy Fail), while closing, unallocating and other edits
// pass without the webhook.
func TestEditsThatCannotAddWeightNeverWaitForTheWebhook(t *testing.T) {
	ctx := context.Background()
	ns := "operator-down"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"operator-down": "true"}}}); err != nil {
		t.Fatal(err)
	}
	team := &v1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "north"}}
	if err := env.Client.Create(ctx, team); err != nil {
		t.Fatal(err)
	}
	newCase := func(name, lead string, coWorkers ...string) *v1alpha1.Case {
		return &v1alpha1.Case{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: v1alpha1.CaseSpec{
			Reference: "REF-" + name, Team: "north", Type: "ChildInNeed", OpenedOn: "2026-10-01", AllocatedTo: lead, CoWorkers: coWorkers}}
	}
	for _, c := range []*v1alpha1.Case{newCase("c-close", "jo"), newCase("c-unallocate", "jo", "ali"), newCase("c-edit", "jo"),
		newCase("c-allocate", ""), newCase("c-raise", "jo"), newCase("c-cowork", "jo"), newCase("c-reopen", "jo")} {
		if err := env.Client.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	reopen := &v1alpha1.Case{}
	update(t, ns, "c-reopen", reopen, func(c *v1alpha1.Case) { c.Spec.ClosedOn = "2026-11-01" })

	installDown(t, "vcase.caseload.dev", "operator-down")

	for _, tc := range []struct {
		name, kase string
		edit       func(*v1alpha1.Case)
		decided    bool
	}{
		{"closing", "c-close", func(c *v1alpha1.Case) { c.Spec.ClosedOn = "2026-11-30" }, false},
		{"unallocating lead and co-worker", "c-unallocate", func(c *v1alpha1.Case) { c.Spec.AllocatedTo, c.Spec.CoWorkers = "", nil }, false},
		{"an edit that weighs nothing", "c-edit", func(c *v1alpha1.Case) { c.Spec.OpenedOn = "2026-09-30" }, false},
		{"allocating", "c-allocate", func(c *v1alpha1.Case) { c.Spec.AllocatedTo = "jo" }, true},
		{"raising the complexity", "c-raise", func(c *v1alpha1.Case) { c.Spec.Complexity = v1alpha1.ComplexityHigh }, true},
		{"adding a sibling", "c-raise", func(c *v1alpha1.Case) { c.Spec.Children = 2 }, true},
		{"changing the type", "c-raise", func(c *v1alpha1.Case) { c.Spec.Type = "ChildProtection" }, true},
		{"adding a co-worker", "c-cowork", func(c *v1alpha1.Case) { c.Spec.CoWorkers = []string{"ali"} }, true},
		{"moving to another team", "c-cowork", func(c *v1alpha1.Case) { c.Spec.Team = "south" }, true},
		{"reopening", "c-reopen", func(c *v1alpha1.Case) { c.Spec.ClosedOn = "" }, true},
	} {
		var c v1alpha1.Case
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: tc.kase}, &c); err != nil {
			t.Fatal(err)
		}
		tc.edit(&c)
		err := env.Client.Update(ctx, &c)
		calledWebhook := err != nil && strings.Contains(err.Error(), "failed calling webhook")
		switch {
		case tc.decided && !calledWebhook:
			t.Errorf("%s: want it decided by the (unreachable) webhook, got %v", tc.name, err)
		case !tc.decided && err != nil:
			t.Errorf("%s: must not depend on the webhook, but: %v", tc.name, err)
		}
	}
}

// installDown installs the generated webhook of that name, with its matchConditions, for the
// namespaces labelled label, pointed at an address where nothing listens: the operator is down.
func installDown(t *testing.T, name, label string) {
	t.Helper()
	ctx := context.Background()
	objs, err := manifest.DecodeFile(filepath.Join(env.Root, "config", "webhook", "manifests.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg admissionregistrationv1.ValidatingWebhookConfiguration
	for _, o := range objs {
		if o.GetKind() == "ValidatingWebhookConfiguration" {
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &cfg); err != nil {
				t.Fatal(err)
			}
		}
	}
	down := "https://127.0.0.1:1/down"
	var kept []admissionregistrationv1.ValidatingWebhook
	for _, w := range cfg.Webhooks {
		if w.Name != name {
			continue
		}
		w.ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: &down}
		w.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{label: "true"}}
		kept = append(kept, w)
	}
	if len(kept) != 1 || len(kept[0].MatchConditions) == 0 {
		t.Fatalf("the generated configuration lacks the webhook %s or its matchConditions: %+v", name, kept)
	}
	cfg.ObjectMeta = metav1.ObjectMeta{Name: label}
	cfg.Webhooks = kept
	if err := env.Client.Create(ctx, &cfg); err != nil {
		t.Fatalf("the apiserver refused the generated webhooks (their CEL does not compile?): %v", err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, &cfg) })
}

// TestRecordingAnAbsenceNeverWaitsForTheWebhook installs the generated Practitioner webhook
// with its matchConditions, pointed where nothing listens: with the operator down, a manager can
// still record an absence, a reduction or a change of FTE, while a move to another team, a new
// practitioner and a deletion are decided by the (unreachable) webhook and so refused.
func TestRecordingAnAbsenceNeverWaitsForTheWebhook(t *testing.T) {
	ctx := context.Background()
	ns := "practitioners-operator-down"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"practitioners-down": "true"}}}); err != nil {
		t.Fatal(err)
	}
	for _, team := range []string{"north", "south"} {
		if err := env.Client.Create(ctx, &v1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: team}}); err != nil {
			t.Fatal(err)
		}
	}
	jo := &v1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "jo"}, Spec: v1alpha1.PractitionerSpec{Team: "north", Grade: "SocialWorker", FTE: "1"}}
	if err := env.Client.Create(ctx, jo); err != nil {
		t.Fatal(err)
	}
	installDown(t, "vpractitioner.caseload.dev", "practitioners-down")

	decided := func(err error) bool { return err != nil && strings.Contains(err.Error(), "failed calling webhook") }
	for _, tc := range []struct {
		name    string
		edit    func(*v1alpha1.PractitionerSpec)
		decided bool
	}{
		{"recording an absence", func(s *v1alpha1.PractitionerSpec) {
			s.Absences = []v1alpha1.Absence{{From: "2026-12-07", Until: "2026-12-11", Reason: v1alpha1.AbsenceSickness}}
		}, false},
		{"marking them unavailable", func(s *v1alpha1.PractitionerSpec) { s.Available = new(bool) }, false},
		{"changing the FTE", func(s *v1alpha1.PractitionerSpec) { s.FTE = "0.8" }, false},
		{"moving to another team", func(s *v1alpha1.PractitionerSpec) { s.Team = "south" }, true},
	} {
		var p v1alpha1.Practitioner
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "jo"}, &p); err != nil {
			t.Fatal(err)
		}
		tc.edit(&p.Spec)
		err := env.Client.Update(ctx, &p)
		switch {
		case tc.decided && !decided(err):
			t.Errorf("%s: want it decided by the (unreachable) webhook, got %v", tc.name, err)
		case !tc.decided && err != nil:
			t.Errorf("%s: must not depend on the webhook, but: %v", tc.name, err)
		}
	}
	newcomer := &v1alpha1.Practitioner{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ali"}, Spec: v1alpha1.PractitionerSpec{Team: "north", Grade: "SocialWorker", FTE: "1"}}
	if err := env.Client.Create(ctx, newcomer); !decided(err) {
		t.Errorf("a new practitioner: want it decided by the (unreachable) webhook, got %v", err)
	}
	if err := env.Client.Delete(ctx, jo); !decided(err) {
		t.Errorf("deleting a practitioner: want it decided by the (unreachable) webhook, got %v", err)
	}
}

func update(t *testing.T, ns, name string, c *v1alpha1.Case, edit func(*v1alpha1.Case)) {
	t.Helper()
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, c); err != nil {
		t.Fatal(err)
	}
	edit(c)
	if err := env.Client.Update(context.Background(), c); err != nil {
		t.Fatal(err)
	}
}

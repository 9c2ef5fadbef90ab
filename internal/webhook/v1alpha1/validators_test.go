package v1alpha1

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	caseloadv1alpha1 "caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/policy"
)

var now = time.Date(2026, 11, 22, 16, 0, 0, 0, time.UTC)

func entry(id, practitioner, c string, expiresIn time.Duration) caseloadv1alpha1.Reservation {
	return caseloadv1alpha1.Reservation{ID: id, Practitioner: practitioner, Case: c, Role: caseloadv1alpha1.RoleLead,
		CaseType: "ChildInNeed", Complexity: "Standard", Children: 1, ExpiresAt: metav1.NewTime(now.Add(expiresIn))}
}

func ids(rs []caseloadv1alpha1.Reservation) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID+"/"+r.Practitioner)
	}
	return out
}

func TestNextLedger(t *testing.T) {
	withException := entry("old-exception", "jo", "c-9", -time.Minute)
	withException.Exception = &caseloadv1alpha1.CaseException{ExpiresAt: metav1.NewTime(now.AddDate(0, 0, 28))}
	current := []caseloadv1alpha1.Reservation{
		entry("expired", "jo", "c-1", -time.Second),
		entry("other-case", "jo", "c-2", time.Minute),
		entry("earlier-attempt", "sam", "c-3", time.Minute), // sam again: replaced
		entry("lead-before", "jo", "c-3", time.Minute),      // jo gives c-3 up: dropped
		entry("co-worker-stays", "ali", "c-3", time.Minute), // ali keeps c-3: kept
		withException,
	}
	added := []caseloadv1alpha1.Reservation{entry("this", "sam", "c-3", ReservationTTL)}
	next, full := NextLedger(current, "c-3", map[string]bool{"sam": true, "ali": true}, added, now)
	want := []string{"other-case/jo", "co-worker-stays/ali", "old-exception/jo", "this/sam"}
	if got := ids(next); !reflect.DeepEqual(got, want) || full {
		t.Errorf("NextLedger = %v (full %v), want %v", got, full, want)
	}

	var many []caseloadv1alpha1.Reservation
	for i := range MaxReservations {
		many = append(many, entry(fmt.Sprint(i), "jo", fmt.Sprintf("c-%d", i), time.Minute))
	}
	if _, full := NextLedger(many, "new", nil, added, now); !full {
		t.Errorf("a ledger of %d unexpired entries plus one must be full", MaxReservations)
	}
}

func TestReservationsRecordWhatEveryQuotaNeeds(t *testing.T) {
	p := policy.MustFromSpec("walsall/points", caseloadv1alpha1.CaseloadQuotaSpec{Weights: caseloadv1alpha1.Weights{
		CaseTypes: map[string]caseloadv1alpha1.CaseWeight{"ChildProtection": "1.5"}, CoWorkerShare: "0.5",
	}})
	c := policy.Case{Name: "c-1042", Type: "ChildProtection", Complexity: "High", Children: 2, AllocatedTo: "jo", CoWorkers: []string{"ali"}}
	rs := Reservations("uid-1", c, []policy.Joining{{Name: "jo", Role: caseloadv1alpha1.RoleLead}, {Name: "ali", Role: caseloadv1alpha1.RoleCoWorker}}, p, nil, now)
	if len(rs) != 2 {
		t.Fatalf("want one reservation per joiner, got %d", len(rs))
	}
	lead, co := rs[0], rs[1]
	if lead.ID != "uid-1" || lead.Case != "c-1042" || lead.CaseType != "ChildProtection" || lead.Complexity != "High" || lead.Children != 2 || lead.Weight != "1.5" {
		t.Errorf("lead reservation = %+v", lead)
	}
	if co.Role != caseloadv1alpha1.RoleCoWorker || co.Weight != "0.75" {
		t.Errorf("co-worker reservation = %+v, want role CoWorker weighing 0.75", co)
	}
	if !lead.ExpiresAt.Time.Equal(now.Add(ReservationTTL)) {
		t.Errorf("expiresAt = %v, want now + %v", lead.ExpiresAt, ReservationTTL)
	}
}

func TestMustMoveCapsTheList(t *testing.T) {
	var items []string
	for i := 12; i > 0; i-- {
		items = append(items, fmt.Sprintf("c-%02d", i))
	}
	got := mustMove(items)
	want := "c-01, c-02, c-03, c-04, c-05, c-06, c-07, c-08, c-09, c-10 and 2 more"
	if got != want {
		t.Errorf("mustMove = %q, want %q", got, want)
	}
	if got := mustMove([]string{"b", "a"}); got != "a, b" {
		t.Errorf("mustMove = %q", got)
	}
}

// TestQuotaErrorsNameTheFields covers what the CRD schema would normally refuse first, in case
// a schema change lets it through: the webhook still says which field is wrong.
func TestQuotaErrorsNameTheFields(t *testing.T) {
	q := &caseloadv1alpha1.CaseloadQuota{ObjectMeta: metav1.ObjectMeta{Namespace: "walsall", Name: "safeguarding"}, Spec: caseloadv1alpha1.CaseloadQuotaSpec{
		PractitionerCaps: []caseloadv1alpha1.PractitionerCap{{Grade: "SocialWorker", MaxWeight: "15"}, {Grade: "SocialWorker", MaxWeight: "12"}},
		Bands:            caseloadv1alpha1.Bands{AmberPercent: 110, RedPercent: 100},
		Exceptions:       &caseloadv1alpha1.Exceptions{MaxPercent: 90},
	}}
	err := quotaErrors(q)
	if err == nil {
		t.Fatal("a quota the engine cannot apply was accepted")
	}
	for _, want := range []string{
		`spec.practitionerCaps[1].grade: Duplicate value: "SocialWorker"`,
		"spec.bands.amberPercent: Invalid value: 110: cannot be above redPercent",
		"spec.exceptions.maxPercent: Invalid value: 90: is 0 (no exceptions) or at least 100",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q lacks %q", err, want)
		}
	}
}

// TestNamespaceSelectorPatchCoversEveryWebhook: the kustomize patch adds the namespaceSelector
// by position, so a webhook added to manifests.yaml without its entry would be called for
// kube-system and the operator's own namespace.
func TestNamespaceSelectorPatchCoversEveryWebhook(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "config", "webhook", "manifests.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg admissionv1.ValidatingWebhookConfiguration
	if err := utilyaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	raw, err = os.ReadFile(filepath.Join("..", "..", "..", "config", "webhook", "patches", "namespace_selector.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var ops []struct {
		Op, Path string
		Value    metav1.LabelSelector
	}
	if err := utilyaml.Unmarshal(raw, &ops); err != nil {
		t.Fatal(err)
	}
	if len(ops) != len(cfg.Webhooks) {
		t.Fatalf("manifests.yaml has %d webhooks, the namespaceSelector patch covers %d", len(cfg.Webhooks), len(ops))
	}
	for i, op := range ops {
		sel := op.Value.MatchExpressions
		if op.Path != fmt.Sprintf("/webhooks/%d/namespaceSelector", i) || len(sel) != 1 || sel[0].Operator != metav1.LabelSelectorOpNotIn ||
			!reflect.DeepEqual(sel[0].Values, []string{"kube-system", "caseload-system"}) {
			t.Errorf("patch entry %d = %+v", i, op)
		}
	}
	for _, w := range cfg.Webhooks {
		want := admissionv1.Fail // a webhook that is down refuses rather than admit unchecked
		if w.Name == "vcaserelease.caseload.dev" {
			want = admissionv1.Ignore // releasing is best-effort; it must never block a delete
		}
		if w.FailurePolicy == nil || *w.FailurePolicy != want {
			t.Errorf("webhook %s: failurePolicy %v, want %s", w.Name, w.FailurePolicy, want)
		}
	}
}

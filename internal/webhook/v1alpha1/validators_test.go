package v1alpha1

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"caseload.dev/caseload-operator/internal/builders"
)

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
	q := builders.MakeQuota("safeguarding").Namespace("walsall").
		Cap("SocialWorker", "15").Cap("SocialWorker", "12").
		Bands(110, 100).Exceptions(90, 0).Obj()
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
// generatedWebhooks reads the webhook configuration controller-gen writes from the markers.
func generatedWebhooks(t *testing.T) admissionv1.ValidatingWebhookConfiguration {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "config", "webhook", "manifests.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg admissionv1.ValidatingWebhookConfiguration
	if err := utilyaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestNamespaceSelectorPatchCoversEveryWebhook(t *testing.T) {
	cfg := generatedWebhooks(t)
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "config", "webhook", "patches", "namespace_selector.yaml"))
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
		if w.FailurePolicy == nil || *w.FailurePolicy != want {
			t.Errorf("webhook %s: failurePolicy %v, want %s", w.Name, w.FailurePolicy, want)
		}
	}
}

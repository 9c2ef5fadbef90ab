package controllers

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/builders"
	"caseload.dev/caseload-operator/internal/policy"
)

// TestACouncilsDaysFollowItsTimeZone: a council in Europe/London counts its days in London
// across both 2027 daylight-saving changes. An absence that begins on 29 March has begun at
// 23:30 UTC on the 28th (00:30 BST), and one that begins on 31 October has begun at 23:30 UTC
// on the 30th; in UTC neither has. Each status asks to be reconciled again at London's midnight.
func TestACouncilsDaysFollowItsTimeZone(t *testing.T) {
	ctx := context.Background()
	ns := "london-council"
	create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Annotations: map[string]string{v1alpha1.TimeZoneAnnotation: "Europe/London"}}})
	cals := &calendars{}
	var cal policy.Calendar
	eventually(t, 20*time.Second, func() error {
		var problem string
		var err error
		cal, problem, err = cals.of(ctx, mgrClient, ns)
		if err != nil || problem != "" || cal.Name() != "Europe/London" {
			return fmt.Errorf("calendar of %s: %s %q %v", ns, cal.Name(), problem, err)
		}
		return nil
	})
	jo := policy.Practitioner{Name: "jo", Team: "north", Grade: "SocialWorker", FTE: policy.One, Available: true, Absences: []policy.Absence{
		{Reason: "Training", From: policy.MustParseDay("2027-03-29"), Until: policy.MustParseDay("2027-03-29")},
		{Reason: "AnnualLeave", From: policy.MustParseDay("2027-10-31"), Until: policy.MustParseDay("2027-11-05")},
	}}
	for _, tc := range []struct {
		now              string
		cal              policy.Calendar
		available        bool
		nextReconcileUTC string
	}{
		{"2027-03-28T12:00:00Z", cal, true, "2027-03-28T23:00:00Z"},        // BST begins at 01:00 UTC: London's midnight is 23:00 UTC
		{"2027-03-28T23:30:00Z", cal, false, "2027-03-29T23:00:00Z"},       // 00:30 BST on the 29th: away
		{"2027-03-28T23:30:00Z", policy.UTC, true, "2027-03-29T00:00:00Z"}, // in UTC still the 28th
		{"2027-10-30T23:30:00Z", cal, false, "2027-11-06T00:00:00Z"},       // 00:30 BST on the 31st; back at GMT midnight on 6 Nov
		{"2027-10-30T23:30:00Z", policy.UTC, true, "2027-10-31T00:00:00Z"}, // in UTC still the 30th
		{"2027-10-31T23:30:00Z", cal, false, "2027-11-06T00:00:00Z"},       // 23:30 GMT on the 31st
	} {
		now, _ := time.Parse(time.RFC3339, tc.now)
		st, next := practitionerStatus(v1alpha1.PractitionerStatus{}, 1, practitionerInput{Practitioner: jo, TeamExists: true, Now: now, Calendar: tc.cal,
			Policies: []*policy.Policy{policy.MustFromSpec(ns+"/caps", v1alpha1.CaseloadQuotaSpec{PractitionerCaps: []v1alpha1.PractitionerCap{{Grade: "SocialWorker", MaxWeight: "15"}}})}})
		if st.Available != tc.available || next.UTC().Format(time.RFC3339) != tc.nextReconcileUTC {
			t.Errorf("%s in %s: available %v, next reconcile %s; want %v, %s", tc.now, tc.cal.Name(), st.Available, next.UTC().Format(time.RFC3339), tc.available, tc.nextReconcileUTC)
		}
		if !tc.available && (st.Capacity != "0" || !strings.Contains(meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionOverCapacity).Message, "0 while absent")) {
			t.Errorf("%s: absent with capacity %s", tc.now, st.Capacity)
		}
	}
}

// TestAnUnknownTimeZoneIsReported: a namespace naming a zone nobody knows stalls its objects'
// Ready with the reason, raises an Event in the council's namespace, and counts days in UTC.
func TestAnUnknownTimeZoneIsReported(t *testing.T) {
	ns := "misspelt-zone"
	create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Annotations: map[string]string{v1alpha1.TimeZoneAnnotation: "Europe/Lundon"}}},
		team(ns, "north"), practitioner(ns, "jo", "north", "SocialWorker", "1"))
	want := `namespace misspelt-zone has annotation caseload.dev/time-zone: "Europe/Lundon", which is not a known IANA time zone such as Europe/London: days are counted in UTC until it is corrected`
	for _, obj := range []conditioned{&v1alpha1.Practitioner{}, &v1alpha1.Team{}} {
		name := "jo"
		if _, ok := obj.(*v1alpha1.Team); ok {
			name = "north"
		}
		eventually(t, 20*time.Second, func() error {
			got := get(t, obj, ns, name)
			ready := meta.FindStatusCondition(*got.StatusConditions(), v1alpha1.ConditionReady)
			stalled := meta.FindStatusCondition(*got.StatusConditions(), v1alpha1.ConditionStalled)
			if ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != ReasonUnknownTimeZone || ready.Message != want || stalled == nil {
				return fmt.Errorf("%T %s: Ready %+v", obj, name, ready)
			}
			return nil
		})
	}
	expectEvent(t, ns, ReasonUnknownTimeZone, `"Europe/Lundon", which is not a known IANA time zone`)
}

// TestStatusHoldsSumsBeyondSixDigits: three practitioners capped at 999,999 make a team and a
// quota of 2,999,997, which the status holds (the old six-digit limit refused it and left the
// status stale behind Ready).
func TestStatusHoldsSumsBeyondSixDigits(t *testing.T) {
	ns := "generous-trial"
	q := builders.MakeQuota("walsall").Namespace(ns).Cap("SocialWorker", "999999").Obj()
	create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, team(ns, "north"), q,
		practitioner(ns, "a", "north", "SocialWorker", "1"), practitioner(ns, "b", "north", "SocialWorker", "1"), practitioner(ns, "c", "north", "SocialWorker", "1"))
	eventually(t, 20*time.Second, func() error {
		tm := get(t, &v1alpha1.Team{}, ns, "north")
		q := get(t, &v1alpha1.CaseloadQuota{}, ns, "walsall")
		ready := meta.FindStatusCondition(tm.Status.Conditions, v1alpha1.ConditionReady)
		if tm.Status.Capacity != "2999997" || tm.Status.Headroom != "2999997" || ready == nil || ready.Status != metav1.ConditionTrue ||
			q.Status.Totals.Capacity != "2999997" || q.Status.Teams != 1 {
			return fmt.Errorf("team capacity %q headroom %q ready %+v; quota totals %+v", tm.Status.Capacity, tm.Status.Headroom, ready, q.Status.Totals)
		}
		return nil
	})
	// Counts that are 0 are stored as 0, so kubectl's columns show 0 and not a blank.
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("Team"))
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "north"}, u); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"cases", "unallocated", "overdueCases", "casesNeedingCover", "utilisationPercent", "overCapacityPractitioners"} {
		if n, found, err := unstructured.NestedInt64(u.Object, "status", f); !found || err != nil || n != 0 {
			t.Errorf("team status.%s stored as %v (found %v, %v), want 0", f, n, found, err)
		}
	}
}

// TestARefusedStatusWriteIsNeverReportedAsCurrent: when the apiserver refuses a computed status,
// the stored figures stay, Ready turns False with the apiserver's reason, an Event says so and a
// metric counts it.
func TestARefusedStatusWriteIsNeverReportedAsCurrent(t *testing.T) {
	ctx := context.Background()
	ns := "refused-status"
	create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, team(ns, "north"), practitioner(ns, "jo", "north", "SocialWorker", "1"))
	var before *v1alpha1.Practitioner
	eventually(t, 20*time.Second, func() error {
		before = get(t, &v1alpha1.Practitioner{}, ns, "jo")
		if !meta.IsStatusConditionTrue(before.Status.Conditions, v1alpha1.ConditionReady) {
			return fmt.Errorf("jo not Ready yet")
		}
		return nil
	})
	var refused atomic.Bool
	direct, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	c := interceptor.NewClient(direct, interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, cl client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			if p, ok := obj.(*v1alpha1.Practitioner); ok && p.Status.Weight == "1000000000000000000" && !refused.Swap(true) {
				return apierrors.NewInvalid(schema.GroupKind{Group: "caseload.dev", Kind: "Practitioner"}, p.Name,
					field.ErrorList{field.Invalid(field.NewPath("status", "weight"), p.Status.Weight, "must be a number of at least 0 with at most three decimals")})
			}
			return cl.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	})
	failures := testutil.ToFloat64(statusWriteFailures.WithLabelValues("Practitioner"))
	after := before.DeepCopy()
	after.Status.Weight = "1000000000000000000"
	if err := (statusWriter{Client: c, Recorder: recorderFor(t)}).write(ctx, after, before, false); err != nil {
		t.Fatal(err)
	}
	got := get(t, &v1alpha1.Practitioner{}, ns, "jo")
	ready := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady)
	if ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != ReasonStatusRejected ||
		!strings.Contains(ready.Message, "the status computed for generation 1 was refused, so the figures shown are stale") ||
		!strings.Contains(ready.Message, "status.weight") {
		t.Errorf("Ready after a refused status: %+v", ready)
	}
	if got.Status.Weight != before.Status.Weight {
		t.Errorf("the stored weight changed to %q", got.Status.Weight)
	}
	if n := testutil.ToFloat64(statusWriteFailures.WithLabelValues("Practitioner")); n != failures+1 {
		t.Errorf("caseload_status_write_failures_total{kind=Practitioner} = %v, want %v", n, failures+1)
	}
	expectEvent(t, ns, ReasonStatusRejected, "Practitioner jo: the status computed for generation 1 was refused")
}

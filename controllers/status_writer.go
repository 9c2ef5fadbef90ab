package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

// conditioned is an object of ours whose status has conditions.
type conditioned interface {
	client.Object
	StatusConditions() *[]metav1.Condition
}

// statusWriter writes a reconciled object's status once. A status the apiserver refuses as
// invalid (a figure its schema cannot hold, a message too long) must not leave the old figures
// behind a Ready that says they are current: the stored status is kept, with Ready False and
// the apiserver's reason, an Event says so once, and caseload_status_write_failures_total counts
// it, so the next engineer finds the cause instead of a stale dashboard.
type statusWriter struct {
	Client   client.Client
	Recorder events.EventRecorder
}

// write patches obj's status over before (the object as read). A conflict or any other error is
// returned for the caller to retry; a refused status is recorded as above and returns nil.
func (w statusWriter) write(ctx context.Context, obj, before conditioned, opts ...client.MergeFromOption) error {
	err := w.Client.Status().Patch(ctx, obj, client.MergeFromWithOptions(before, opts...))
	if err == nil || !apierrors.IsInvalid(err) {
		return client.IgnoreNotFound(err)
	}
	kind := kindOf(obj)
	statusWriteFailures.WithLabelValues(kind).Inc()
	msg := fmt.Sprintf("the status computed for generation %d was refused, so the figures shown are stale: %.2000s", obj.GetGeneration(), err)
	if prev := meta.FindStatusCondition(*before.StatusConditions(), v1alpha1.ConditionReady); w.Recorder != nil && (prev == nil || prev.Reason != ReasonStatusRejected) {
		w.Recorder.Eventf(before, nil, corev1.EventTypeWarning, ReasonStatusRejected, "WriteStatus", "%s %s: %s", kind, obj.GetName(), msg)
	}
	stale := before.DeepCopyObject().(conditioned)
	meta.SetStatusCondition(stale.StatusConditions(), metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse,
		Reason: ReasonStatusRejected, Message: msg, ObservedGeneration: obj.GetGeneration()})
	return client.IgnoreNotFound(w.Client.Status().Patch(ctx, stale, client.MergeFromWithOptions(before, opts...)))
}

func kindOf(obj client.Object) string {
	switch obj.(type) {
	case *v1alpha1.Team:
		return "Team"
	case *v1alpha1.Practitioner:
		return "Practitioner"
	case *v1alpha1.Case:
		return "Case"
	case *v1alpha1.CaseloadQuota:
		return "CaseloadQuota"
	}
	return fmt.Sprintf("%T", obj)
}

package controllers

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
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

// write patches obj's status over before (the object as read); with optimisticLock, only over
// that version. A conflict or any other error is returned for the caller to retry; a refused
// status is recorded as above and returns nil.
func (w statusWriter) write(ctx context.Context, obj, before conditioned, optimisticLock bool) error {
	patch, err := statusPatch(before, obj, optimisticLock)
	if err != nil {
		return err
	}
	err = w.Client.Status().Patch(ctx, obj, patch)
	if err == nil || !apierrors.IsInvalid(err) {
		return client.IgnoreNotFound(err)
	}
	kind := obj.GetObjectKind().GroupVersionKind().Kind
	if gvk, gvkErr := w.Client.GroupVersionKindFor(obj); gvkErr == nil {
		kind = gvk.Kind
	}
	statusWriteFailures.WithLabelValues(kind).Inc()
	msg := fmt.Sprintf("the status computed for generation %d was refused, so the figures shown are stale: %.2000s. "+
		"A figure in this object or the quotas that apply to it is out of any sensible range: correct it, and the status is written again", obj.GetGeneration(), err)
	if prev := meta.FindStatusCondition(*before.StatusConditions(), v1alpha1.ConditionReady); w.Recorder != nil && (prev == nil || prev.Reason != ReasonStatusRejected) {
		w.Recorder.Eventf(before, nil, corev1.EventTypeWarning, ReasonStatusRejected, "WriteStatus", "%s %s: %s", kind, obj.GetName(), msg)
	}
	stale := before.DeepCopyObject().(conditioned)
	meta.SetStatusCondition(stale.StatusConditions(), metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse,
		Reason: ReasonStatusRejected, Message: msg, ObservedGeneration: obj.GetGeneration()})
	patch, err = statusPatch(before, stale, optimisticLock)
	if err != nil {
		return err
	}
	return client.IgnoreNotFound(w.Client.Status().Patch(ctx, stale, patch))
}

// statusPatch is a JSON merge patch that sets the whole of after's status: every field, zeros
// included, and null for each field before had that after has not. A patch of only what
// changed would leave out a count that is 0 on the first write (0 in before's Go struct too),
// and kubectl would show a blank where a manager expects 0.
func statusPatch(before, after client.Object, optimisticLock bool) (client.Patch, error) {
	b, err := runtime.DefaultUnstructuredConverter.ToUnstructured(before)
	if err != nil {
		return nil, err
	}
	a, err := runtime.DefaultUnstructuredConverter.ToUnstructured(after)
	if err != nil {
		return nil, err
	}
	st, _ := a["status"].(map[string]any)
	old, _ := b["status"].(map[string]any)
	body := map[string]any{"status": replacing(old, st)}
	if optimisticLock {
		body["metadata"] = map[string]any{"resourceVersion": before.GetResourceVersion()}
	}
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	return client.RawPatch(types.MergePatchType, data), nil
}

// replacing is the merge patch that turns before into after: all of after, with null for what
// only before has, within nested objects too.
func replacing(before, after map[string]any) map[string]any {
	out := make(map[string]any, len(after)+len(before))
	for k, v := range after {
		out[k] = v
		if bm, ok := before[k].(map[string]any); ok {
			if am, ok := v.(map[string]any); ok {
				out[k] = replacing(bm, am)
			}
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			out[k] = nil
		}
	}
	return out
}

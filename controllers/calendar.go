package controllers

import (
	"context"
	"errors"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"caseload.dev/caseload-operator/internal/policy"
	"caseload.dev/caseload-operator/internal/snapshot"
)

// calendars gives each reconciler its council's calendar, and reports a time zone that a
// namespace names but nobody knows: the objects' Ready condition says so (Stalled, since a
// person must correct the annotation), an Event on the Namespace says so once per zone, and
// days are counted in UTC meanwhile.
type calendars struct {
	snapshot.Calendars
	Recorder events.EventRecorder
	reported sync.Map // namespace -> the unknown zone last reported
}

// of returns the namespace's calendar, and the problem to report on Ready when its zone is
// unknown (empty when there is none).
func (c *calendars) of(ctx context.Context, r client.Reader, namespace string) (policy.Calendar, string, error) {
	cal, err := c.For(ctx, r, namespace)
	var unknown *snapshot.UnknownZoneError
	switch {
	case errors.As(err, &unknown):
		if last, _ := c.reported.Swap(namespace, unknown.Zone); last != unknown.Zone && c.Recorder != nil {
			// The Event is kept in the council's own namespace, where its managers look.
			ns := &corev1.Namespace{}
			ns.Name, ns.Namespace = namespace, namespace
			c.Recorder.Eventf(ns, nil, corev1.EventTypeWarning, ReasonUnknownTimeZone, "Calendar", "%s", unknown.Error())
		}
		return cal, unknown.Error(), nil
	case err != nil:
		return cal, "", err
	}
	c.reported.Delete(namespace)
	return cal, "", nil
}

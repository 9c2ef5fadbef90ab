package kit

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/policy"
	"caseload.dev/caseload-operator/internal/snapshot"
)

// CouncilCalendar is the calendar a council's days are counted on, found as the manager finds it
// (package snapshot's Calendars), and where it came from, for the output to name.
type CouncilCalendar struct {
	policy.Calendar
	// From says where the zone came from: the council's Namespace, --time-zone, or the default.
	From string
}

// String names the zone and where it came from, e.g. "Pacific/Kiritimati (the council's
// Namespace)".
func (c CouncilCalendar) String() string { return fmt.Sprintf("%s (%s)", c.Name(), c.From) }

// DefaultCalendar is the calendar of a council whose Namespace names no time zone, or cannot be
// read: --time-zone, which should be what the council's manager runs with, else UTC.
func (f *Flags) DefaultCalendar() (policy.Calendar, error) {
	cal, err := policy.LoadCalendar(f.TimeZone)
	if err != nil {
		return policy.UTC, fmt.Errorf("--time-zone: %w", err)
	}
	return cal, nil
}

// CalendarOf is the calendar of council namespace, read through r: the time zone its Namespace
// names in caseload.dev/time-zone, as the manager counts days; else --time-zone; else UTC. A
// zone the annotation names that nobody knows gives UTC, as the manager falls back to, and says
// so.
func (f *Flags) CalendarOf(ctx context.Context, r client.Reader, namespace string) (CouncilCalendar, error) {
	def, err := f.DefaultCalendar()
	if err != nil {
		return CouncilCalendar{}, err
	}
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	readable := true
	switch err := r.Get(ctx, client.ObjectKey{Name: namespace}, ns); {
	case apierrors.IsForbidden(err):
		// A team manager may read their council but not its Namespace: --time-zone says its zone.
		readable = false
	case err != nil && !apierrors.IsNotFound(err):
		return CouncilCalendar{}, fmt.Errorf("read namespace %s: %w", namespace, err)
	}
	cal := def
	if readable {
		cal, err = snapshot.Calendars{Default: def}.For(ctx, r, namespace)
		var unknown *snapshot.UnknownZoneError
		switch {
		case errors.As(err, &unknown):
			return CouncilCalendar{Calendar: cal, From: fmt.Sprintf("the council's Namespace names %q, which is not a known time zone: the operator counts in UTC too until it is corrected", unknown.Zone)}, nil
		case err != nil:
			return CouncilCalendar{}, err
		}
	}
	switch {
	case readable && ns.Annotations[v1alpha1.TimeZoneAnnotation] != "":
		return CouncilCalendar{Calendar: cal, From: "the council's Namespace, " + v1alpha1.TimeZoneAnnotation}, nil
	case f.TimeZone != "":
		return CouncilCalendar{Calendar: cal, From: "--time-zone"}, nil
	}
	return CouncilCalendar{Calendar: cal, From: "the default: the council's Namespace names no time zone, or you may not read it; " +
		"give --time-zone as the council's manager runs with"}, nil
}

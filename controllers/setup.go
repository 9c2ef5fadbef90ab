// Package controllers holds one reconciler per kind with status. Each fetches what it needs
// through the indexes, asks the policy engine for the figures and writes status once, only when
// it changed. None of them writes spec.
package controllers

import (
	ctrl "sigs.k8s.io/controller-runtime"
)

// Options are the reconcilers' settings.
type Options struct {
	// PractitionerMetrics publishes per-practitioner metric series (opt-in).
	PractitionerMetrics bool
}

// Setup adds every reconciler to the manager. The indexes of package index must be set up first.
func Setup(mgr ctrl.Manager, opts Options) error {
	return nil
}

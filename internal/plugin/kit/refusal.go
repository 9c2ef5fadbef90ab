package kit

import (
	"errors"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Reason is one rule the admission webhook says a change breaks, with the field it is about.
type Reason struct {
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// AdmissionRefusal reads err as the admission webhook's refusal, one Reason per rule broken;
// refused is false for any other error, which the command reports as an error.
func AdmissionRefusal(err error) (reasons []Reason, refused bool) {
	var status apierrors.APIStatus
	if !(apierrors.IsInvalid(err) || apierrors.IsForbidden(err)) || !errors.As(err, &status) || !strings.Contains(status.Status().Message, "admission webhook") {
		return nil, false
	}
	if d := status.Status().Details; d != nil {
		for _, cause := range d.Causes {
			// A refusal is Forbidden by nature; the rule and figures are what a reader wants.
			reasons = append(reasons, Reason{Field: cause.Field, Message: strings.TrimPrefix(cause.Message, "Forbidden: ")})
		}
	}
	if len(reasons) == 0 {
		reasons = []Reason{{Message: status.Status().Message}}
	}
	return reasons, true
}

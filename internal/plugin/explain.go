package plugin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/plugin/kit"
)

// Exit codes of explain: allowed, refused, and could not ask.
const (
	exitAllowed = 0
	exitRefused = 1
	exitUnknown = 2
)

func newExplainCommand(o *options) *cobra.Command {
	var to string
	var coWorkers []string
	cmd := &cobra.Command{
		Use:   "explain CASE --to PRACTITIONER [--co-worker PRACTITIONER]...",
		Short: "What admission would decide about allocating a case, and every reason with its figures",
		Long: "kubectl caseload explain asks the operator's admission webhook what it would decide about allocating CASE to " +
			"PRACTITIONER (and adding co-workers), by a server-side dry run of that very change: the answer is the webhook's " +
			"own, and nothing is written. Exit status 0 when it would be allowed, 1 when refused, 2 when it could not be asked.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" && len(coWorkers) == 0 {
				return errors.New("say who the case would go to: --to PRACTITIONER, --co-worker PRACTITIONER, or both")
			}
			return o.explain(cmd.Context(), args[0], to, coWorkers)
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "The practitioner who would lead the case.")
	cmd.Flags().StringSliceVar(&coWorkers, "co-worker", nil, "A practitioner who would co-work the case (repeat for more).")
	return cmd
}

// verdict is what explain found, as -o json and -o yaml give it.
type verdict struct {
	Namespace string   `json:"namespace"`
	Case      string   `json:"case"`
	To        string   `json:"to,omitempty"`
	CoWorkers []string `json:"coWorkers,omitempty"`
	Allowed   bool     `json:"allowed"`
	// Reasons are the webhook's, one per rule broken, each naming the field it is about.
	Reasons  []kit.Reason `json:"reasons,omitempty"`
	Warnings []string     `json:"warnings,omitempty"`
	// Unchanged is true when the case is already so allocated: there is nothing to decide.
	Unchanged bool `json:"unchanged,omitempty"`
}

func (o *options) explain(ctx context.Context, name, to string, coWorkers []string) error {
	c, ns, err := o.ClientIn()
	if err != nil {
		return err
	}
	var kase v1alpha1.Case
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &kase); err != nil {
		return err
	}
	v := verdict{Namespace: ns, Case: name, To: to, CoWorkers: coWorkers}
	changed := kase.DeepCopy()
	if to != "" {
		changed.Spec.AllocatedTo = to
		changed.Spec.CoWorkers = slices.DeleteFunc(changed.Spec.CoWorkers, func(w string) bool { return w == to })
	}
	for _, w := range coWorkers {
		if w != changed.Spec.AllocatedTo && !slices.Contains(changed.Spec.CoWorkers, w) {
			changed.Spec.CoWorkers = append(changed.Spec.CoWorkers, w)
		}
	}
	if changed.Spec.AllocatedTo == kase.Spec.AllocatedTo && slices.Equal(changed.Spec.CoWorkers, kase.Spec.CoWorkers) {
		v.Allowed, v.Unchanged = true, true
		return o.say(v)
	}
	decided, err := o.dryRun(ctx, c, changed, func(latest *v1alpha1.Case) {
		latest.Spec.AllocatedTo, latest.Spec.CoWorkers = changed.Spec.AllocatedTo, changed.Spec.CoWorkers
	})
	if err != nil {
		fmt.Fprintf(o.Streams.ErrOut, "could not ask admission about case %s: %v\n", name, err)
		return &kit.ExitError{Code: exitUnknown, Err: err}
	}
	v.Allowed, v.Reasons, v.Warnings = decided.Allowed, decided.Reasons, decided.Warnings
	return o.say(v)
}

// dryRun asks admission about changed, the Case as it would be, writing nothing: allowed, or
// refused with the webhook's reasons, with its warnings either way. If the Case changed
// meanwhile (the operator writes its status), change is made again to the latest version and
// asked again. An error is a question that could not be asked (the webhook down, say).
func (o *options) dryRun(ctx context.Context, c client.Client, changed *v1alpha1.Case, change func(*v1alpha1.Case)) (verdict, error) {
	var v verdict
	var err error
	for range 5 {
		o.Warnings.Take()
		err = c.Update(ctx, changed, client.DryRunAll)
		v.Warnings = o.Warnings.Take()
		if !apierrors.IsConflict(err) {
			break
		}
		latest := &v1alpha1.Case{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(changed), latest); err != nil {
			return v, err
		}
		change(latest)
		changed = latest
	}
	if err == nil {
		v.Allowed = true
		return v, nil
	}
	reasons, refused := kit.AdmissionRefusal(err)
	if !refused {
		return v, err
	}
	v.Reasons = reasons
	return v, nil
}

// say prints the verdict and ends with its exit status.
func (o *options) say(v verdict) error {
	if o.Output == "json" || o.Output == "yaml" {
		if err := o.Print(kit.Table{Items: v}); err != nil {
			return err
		}
	} else {
		out := o.Streams.Out
		who := v.To
		if len(v.CoWorkers) > 0 {
			if who != "" {
				who += " with co-workers "
			} else {
				who = "co-workers "
			}
			who += strings.Join(v.CoWorkers, ", ")
		}
		switch {
		case v.Unchanged:
			fmt.Fprintf(out, "case %s is already allocated so: there is nothing to decide\n", v.Case)
		case v.Allowed:
			fmt.Fprintf(out, "allowed: case %s can be allocated to %s\n", v.Case, who)
		default:
			fmt.Fprintf(out, "refused: case %s cannot be allocated to %s\n", v.Case, who)
			for _, r := range v.Reasons {
				if r.Field != "" {
					fmt.Fprintf(out, "  %s: %s\n", r.Field, r.Message)
				} else {
					fmt.Fprintf(out, "  %s\n", r.Message)
				}
			}
		}
		for _, w := range v.Warnings {
			fmt.Fprintf(out, "  warning: %s\n", w)
		}
	}
	if !v.Allowed {
		return &kit.ExitError{Code: exitRefused, Err: errors.New("refused")}
	}
	return nil
}

// Package explain is `kubectl caseload explain`: what the operator's admission webhook would
// decide about allocating a case, asked by a server-side dry run of that very change, with every
// reason and its figures in the webhook's own words. Nothing is written.
//
// Ask is that question, for the commands that put it for several practitioners (suggest) or
// several cases (allocate); Put makes the change for real (allocate --apply).
package explain

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
	ExitAllowed = 0
	ExitRefused = 1
	ExitUnknown = 2
)

// Options are `kubectl caseload explain`'s: the case, who would lead it, and who would co-work it.
type Options struct {
	*kit.Flags
	Case      string
	To        string
	CoWorkers []string
}

// NewCommand is `kubectl caseload explain`.
func NewCommand(f *kit.Flags) *cobra.Command {
	o := &Options{Flags: f}
	cmd := &cobra.Command{
		Use:   "explain CASE --to PRACTITIONER [--co-worker PRACTITIONER]...",
		Short: "What admission would decide about allocating a case, and every reason with its figures",
		Long: "kubectl caseload explain asks the operator's admission webhook what it would decide about allocating CASE to " +
			"PRACTITIONER (and adding co-workers), by a server-side dry run of that very change: the answer is the webhook's " +
			"own, and nothing is written. Exit status 0 when it would be allowed, 1 when refused, 2 when it could not be asked.",
		Args: cobra.ExactArgs(1),
		RunE: kit.RunE(o),
	}
	cmd.Flags().StringVar(&o.To, "to", "", "The practitioner who would lead the case.")
	cmd.Flags().StringSliceVar(&o.CoWorkers, "co-worker", nil, "A practitioner who would co-work the case (repeat for more).")
	return cmd
}

// Complete takes the case from the arguments.
func (o *Options) Complete(args []string) error { o.Case = args[0]; return nil }

// Validate asks for someone to allocate the case to.
func (o *Options) Validate() error {
	if o.To == "" && len(o.CoWorkers) == 0 {
		return errors.New("say who the case would go to: --to PRACTITIONER, --co-worker PRACTITIONER, or both")
	}
	return nil
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

// Run asks admission about the allocation, prints its answer and ends with its exit status.
func (o *Options) Run(ctx context.Context) error {
	c, ns, err := o.ClientIn()
	if err != nil {
		return err
	}
	var kase v1alpha1.Case
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: o.Case}, &kase); err != nil {
		return kit.NotFoundIn(err, "case", o.Case, ns)
	}
	v := verdict{Namespace: ns, Case: o.Case, To: o.To, CoWorkers: o.CoWorkers}
	changed := kase.DeepCopy()
	if o.To != "" {
		changed.Spec.AllocatedTo = o.To
		changed.Spec.CoWorkers = slices.DeleteFunc(changed.Spec.CoWorkers, func(w string) bool { return w == o.To })
	}
	for _, w := range o.CoWorkers {
		if w != changed.Spec.AllocatedTo && !slices.Contains(changed.Spec.CoWorkers, w) {
			changed.Spec.CoWorkers = append(changed.Spec.CoWorkers, w)
		}
	}
	if changed.Spec.AllocatedTo == kase.Spec.AllocatedTo && slices.Equal(changed.Spec.CoWorkers, kase.Spec.CoWorkers) {
		v.Allowed, v.Unchanged = true, true
		return o.say(v)
	}
	a, err := Ask(ctx, o.Flags, c, changed)
	if err != nil {
		fmt.Fprintf(o.Streams.ErrOut, "could not ask admission about case %s: %v\n", o.Case, err)
		return &kit.ExitError{Code: ExitUnknown, Err: err}
	}
	v.Allowed, v.Reasons, v.Warnings = a.Allowed, a.Reasons, a.Warnings
	return o.say(v)
}

// Answer is admission's answer about a change of a case: allowed, or refused with the webhook's
// reasons, with its warnings either way.
type Answer struct {
	Allowed  bool
	Reasons  []kit.Reason
	Warnings []string
}

// Ask asks admission about changed, the Case allocated as it would be, writing nothing. If the
// Case changed meanwhile (the operator writes its status), the latest version is allocated so
// and asked again. An error is a question that could not be asked (the webhook down, say).
func Ask(ctx context.Context, f *kit.Flags, c client.Client, changed *v1alpha1.Case) (Answer, error) {
	allocatedTo, coWorkers := changed.Spec.AllocatedTo, changed.Spec.CoWorkers
	return Put(ctx, f, c, changed, func(latest *v1alpha1.Case) error {
		latest.Spec.AllocatedTo, latest.Spec.CoWorkers = allocatedTo, coWorkers
		return nil
	}, client.DryRunAll)
}

// Put updates the Case to changed through admission, as the user, with opts (client.DryRunAll
// to ask only), and gives admission's answer. If the Case changed since changed was read (the
// operator writes its status), redo makes the change again on the latest version, or says why
// it no longer can, and the update is tried again. An error is an update that could not be
// made or asked about: the webhook down, say, or redo's reason.
func Put(ctx context.Context, f *kit.Flags, c client.Client, changed *v1alpha1.Case, redo func(latest *v1alpha1.Case) error, opts ...client.UpdateOption) (Answer, error) {
	var a Answer
	var err error
	for range 5 {
		f.Warnings.Take()
		err = c.Update(ctx, changed, opts...)
		a.Warnings = f.Warnings.Take()
		if !apierrors.IsConflict(err) {
			break
		}
		latest := &v1alpha1.Case{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(changed), latest); err != nil {
			return a, err
		}
		if err := redo(latest); err != nil {
			return a, err
		}
		changed = latest
	}
	if err == nil {
		a.Allowed = true
		return a, nil
	}
	reasons, refused := kit.AdmissionRefusal(err)
	if !refused {
		return a, err
	}
	a.Reasons = reasons
	return a, nil
}

// say prints the verdict and ends with its exit status.
func (o *Options) say(v verdict) error {
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
		return &kit.ExitError{Code: ExitRefused, Err: errors.New("refused")}
	}
	return nil
}

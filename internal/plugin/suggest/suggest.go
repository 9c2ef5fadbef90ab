// Package suggest is `kubectl caseload suggest`: who in a case's team could take it, asked of
// the admission webhook by a server-side dry run for each practitioner, ranked by the headroom
// they would have left; and when nobody could, what an exception or cover would take, as the
// policy engine decides it.
package suggest

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/plugin/explain"
	"caseload.dev/caseload-operator/internal/plugin/kit"
	"caseload.dev/caseload-operator/internal/plugin/offline"
	"caseload.dev/caseload-operator/internal/policy"
)

// exitNobody is suggest's exit status when nobody in the team could take the case.
const exitNobody = 1

// Options are `kubectl caseload suggest`'s: the case.
type Options struct {
	*kit.Flags
	Case string
}

// NewCommand is `kubectl caseload suggest`.
func NewCommand(f *kit.Flags) *cobra.Command {
	o := &Options{Flags: f}
	return &cobra.Command{
		Use:   "suggest CASE",
		Short: "Who in the case's team could take it, most room left after it first",
		Long: "kubectl caseload suggest asks the admission webhook, by a server-side dry run for each practitioner of the case's " +
			"team, whether they could lead the case, so grade exclusions, availability, absences and every Deny quota count " +
			"as they would for the real allocation. Those who could are ranked by the headroom they would have left. When " +
			"nobody could, it says so, and what an exception or cover would take. Exit status 0 when someone could, 1 when nobody.",
		Args: cobra.ExactArgs(1),
		RunE: kit.RunE(o),
	}
}

// Complete takes the case from the arguments.
func (o *Options) Complete(args []string) error { o.Case = args[0]; return nil }

// Validate has nothing to check before the case is read: whether it is open is the cluster's to say.
func (o *Options) Validate() error { return nil }

// candidate is a practitioner suggest considered, as -o json and -o yaml give them.
type candidate struct {
	Name     string `json:"name"`
	Grade    string `json:"grade"`
	Headroom string `json:"headroom"`
	// HeadroomAfter is their headroom once the case weighs on them, under the quota their status
	// names; empty when it cannot be worked out (no quota yet).
	HeadroomAfter string   `json:"headroomAfter,omitempty"`
	Allowed       bool     `json:"allowed"`
	Reasons       []string `json:"reasons,omitempty"`
	Warnings      []string `json:"warnings,omitempty"`
	after         policy.Milli
	known         bool
	// exceptable and away say, from the engine's decision, what could answer a refusal: an
	// exception within what the quotas allow, or cover while they are away.
	exceptable, away bool
}

// Run asks admission about each practitioner of the case's team, and prints them ranked.
func (o *Options) Run(ctx context.Context) error {
	name := o.Case
	c, ns, err := o.ClientIn()
	if err != nil {
		return err
	}
	var kase v1alpha1.Case
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &kase); err != nil {
		return kit.NotFoundIn(err, "case", name, ns)
	}
	if !kase.IsOpen() {
		return fmt.Errorf("case %s is closed: there is nobody to suggest", name)
	}
	// The council read once: the engine says what each candidate would carry, and why a refusal
	// could or could not be answered by an exception, as the webhook decides it.
	council, err := offline.ReadCouncil(ctx, o.Flags, c, ns)
	if err != nil {
		return err
	}
	cal := council.Calendar
	team, err := council.Team(ctx, kase.Spec.Team)
	if err != nil {
		return err
	}
	set := policy.Set(team.Policies)
	var out []candidate
	for _, m := range team.View.Members {
		p := m.Practitioner
		if p.Name == kase.Spec.AllocatedTo {
			continue
		}
		changed := kase.DeepCopy()
		changed.Spec.AllocatedTo = p.Name
		if i := slices.Index(changed.Spec.CoWorkers, p.Name); i >= 0 {
			changed.Spec.CoWorkers = append(changed.Spec.CoWorkers[:i:i], changed.Spec.CoWorkers[i+1:]...)
		}
		cand := candidate{Name: p.Name, Grade: p.Grade, Headroom: "-"}
		if today := set.Practitioner(m, team.Day); today.Capped {
			cand.Headroom = today.Figures.Headroom.String()
			// What they would carry as the case's lead, any share they hold of it now given up.
			holdings := slices.DeleteFunc(slices.Clone(m.Holdings), func(h policy.Holding) bool { return h.Case.Name == kase.Name })
			holdings = append(holdings, policy.Holding{Case: policy.CaseFrom(changed, cal.Calendar), Role: v1alpha1.RoleLead})
			after := set.Practitioner(policy.Member{Practitioner: p, Holdings: holdings}, team.Day)
			cand.after, cand.known, cand.HeadroomAfter = after.Figures.Headroom, true, after.Figures.Headroom.String()
		}
		a, err := explain.Ask(ctx, o.Flags, c, changed)
		if err != nil {
			return err
		}
		cand.Allowed, cand.Warnings = a.Allowed, a.Warnings
		for _, r := range a.Reasons {
			cand.Reasons = append(cand.Reasons, r.Message)
		}
		if !a.Allowed {
			// The engine's decision about the same change, on the team as read: the candidate is
			// its member, so the change is decided for them alone, as the webhook decides it.
			change := policy.ChangeOf(&kase, changed, cal.Calendar)
			d := policy.DecideChange(team.Policies, team.View, team.Day, change.Before, change.After, change.Subjects, nil)
			cand.exceptable = d.Exceptable()
			cand.away = slices.ContainsFunc(d.Denials, policy.Finding.Away)
		}
		out = append(out, cand)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		switch {
		case a.Allowed != b.Allowed:
			return a.Allowed
		case a.known != b.known:
			return a.known
		case a.after != b.after:
			return a.after > b.after
		}
		return a.Name < b.Name
	})
	return o.print(kase, out)
}

// print writes the candidates, and when nobody could take the case, what it would take; it
// ends with exit status 1 then.
func (o *Options) print(kase v1alpha1.Case, out []candidate) error {
	name, teamName := kase.Name, kase.Spec.Team
	if o.Output == "json" || o.Output == "yaml" {
		return o.Print(kit.Table{Items: out})
	}
	t := kit.Table{Headers: []string{"PRACTITIONER", "GRADE", "HEADROOM", "AFTER THE CASE", "ADMISSION"}}
	for _, cand := range out {
		verdict := "allowed"
		if !cand.Allowed {
			verdict = "refused: " + strings.Join(cand.Reasons, "; ")
		} else if len(cand.Warnings) > 0 {
			verdict += " (warning: " + strings.Join(cand.Warnings, "; ") + ")"
		}
		t.Rows = append(t.Rows, []string{cand.Name, cand.Grade, cand.Headroom, kit.OrDash(cand.HeadroomAfter), verdict})
	}
	if len(out) == 0 {
		fmt.Fprintf(o.Streams.Out, "team %s has nobody else to take case %s\n", teamName, name)
		return &kit.ExitError{Code: exitNobody, Err: fmt.Errorf("nobody")}
	}
	if err := o.Print(t); err != nil {
		return err
	}
	if out[0].Allowed {
		return nil
	}
	fmt.Fprintf(o.Streams.Out, "\nnobody in team %s can take case %s as things stand.\n", teamName, name)
	var exceptable, away []string
	for _, cand := range out {
		switch {
		case cand.exceptable:
			exceptable = append(exceptable, cand.Name)
		case cand.away:
			away = append(away, cand.Name)
		}
	}
	if len(exceptable) > 0 {
		fmt.Fprintf(o.Streams.Out, "an approved exception could admit it for %s: annotate the case with %s giving the reason, as someone who may approve.\n",
			strings.Join(exceptable, ", "), v1alpha1.ExceptionReasonAnnotation)
	}
	if len(away) > 0 {
		fmt.Fprintf(o.Streams.Out, "%s cannot take new work while away: cover from another team, or a practitioner moved into team %s, would be needed.\n",
			strings.Join(away, ", "), teamName)
	}
	if len(exceptable) == 0 && len(away) == 0 {
		fmt.Fprintf(o.Streams.Out, "the team needs more capacity: cover from another team, a practitioner moved in, or a quota that allows more.\n")
	}
	return &kit.ExitError{Code: exitNobody, Err: fmt.Errorf("nobody can take case %s", name)}
}

package allocate

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/plugin/kit"
	"caseload.dev/caseload-operator/internal/words"
)

// print writes the plan in the format --output names: a table of proposals with what is left
// over after it, YAML patches, or JSON.
func (o *Options) print(out councilPlan) error {
	switch o.Output {
	case "json":
		return o.Print(kit.Table{Items: out})
	case "yaml":
		return o.patches(out)
	}
	w := o.Streams.Out
	t := kit.Table{Headers: []string{"TEAM", "CASE", "TYPE", "WAITING", "DEADLINE", "LEAD", "GRADE", "WEIGHT", "AFTER", "ADMISSION"}}
	proposed := 0
	for _, tp := range out.Teams {
		for _, p := range tp.Proposals {
			proposed++
			after := fmt.Sprintf("%d%% %s", p.Utilisation, p.Band)
			if p.Band == "" {
				after = "not capped"
			}
			if p.PastMaxBand {
				after += ", past " + out.MaxBand
			}
			verdict := p.Admission
			if len(p.Reasons) > 0 {
				verdict += ": " + strings.Join(p.Reasons, "; ")
			}
			if len(p.Warnings) > 0 {
				verdict += " (warning: " + strings.Join(p.Warnings, "; ") + ")"
			}
			deadline := kit.OrDash(p.Deadline)
			if p.Deadline != "" && p.Deadline < out.Day {
				deadline += " (past)"
			}
			t.Rows = append(t.Rows, []string{tp.Team, p.Case, p.Type, fmt.Sprintf("%dd", p.WaitingDays), deadline, p.Lead, p.Grade, p.Weight, after, verdict})
		}
	}
	if proposed > 0 {
		if err := o.Print(t); err != nil {
			return err
		}
	}
	where := "namespace " + out.Namespace
	if o.Team != "" {
		where = "team " + o.Team + " of " + where
	}
	left := 0
	for _, tp := range out.Teams {
		left += len(tp.Unplaced)
	}
	if proposed == 0 && left == 0 {
		fmt.Fprintf(w, "no case is waiting for a worker in %s\n", where)
	}
	gap := proposed > 0 // a blank line before each team's left-over cases, but at the top
	for _, tp := range out.Teams {
		if len(tp.Unplaced) == 0 {
			continue
		}
		if gap {
			fmt.Fprintln(w)
		}
		gap = true
		fmt.Fprintf(w, "team %s: %s\n", tp.Team, shortfall(tp))
		for _, u := range tp.Unplaced {
			fmt.Fprintf(w, "  %s (%s, %s): %s\n", u.Case, u.Type, amount(u.Weight, tp.Unit), strings.Join(u.Reasons, "; "))
			fmt.Fprintf(w, "    nearest remedy: %s\n", remedy(tp, u, out.Namespace))
		}
	}
	fmt.Fprintf(w, "\nplanned for %s in %s; highest band allowed %s, absences within %s kept from new cases\n", out.Day, out.TimeZone, out.MaxBand, words.Count(out.HorizonDays, "day"))
	if !out.Applied && proposed > 0 {
		disagreed := 0
		for _, tp := range out.Teams {
			for _, p := range tp.Proposals {
				if p.Admission != "agrees" {
					disagreed++
				}
			}
		}
		if disagreed == 0 {
			fmt.Fprintln(w, "admission, asked by a dry run of each allocation on the council as it is now, agrees with every proposal")
		} else {
			fmt.Fprintf(w, "admission, asked by a dry run of each allocation on the council as it is now, refuses %d of %d: the council changed since it was read, or the plan is wrong; run allocate again\n", disagreed, proposed)
		}
		fmt.Fprintln(w, "nothing was written: --apply makes these allocations through admission, one at a time, as you")
	}
	return nil
}

// shortfall is the team's line about what it cannot place: how many cases, and the capacity it
// lacks for them, in its policy's unit and in full-time practitioners.
func shortfall(tp teamPlan) string {
	n := words.Count(len(tp.Unplaced), "case")
	switch {
	case tp.Short == "":
		return n + " cannot be placed within caps; the team has the room in total, but nobody who may lead them has enough of it"
	case tp.ShortFTE == "":
		return fmt.Sprintf("%s cannot be placed within caps; the team is short of %s", n, amount(tp.Short, tp.Unit))
	}
	return fmt.Sprintf("%s cannot be placed within caps; the team is short of %s (%s FTE at the policy's rate of %s per %s)",
		n, amount(tp.Short, tp.Unit), tp.ShortFTE, amount(tp.RatePerFTE, tp.Unit), tp.RatePer)
}

// amount is a weight in unit ("points", "weighted cases"): "1 point", "1.5 points".
func amount(weight, unit string) string {
	if weight == "1" {
		unit = strings.TrimSuffix(unit, "s")
	}
	return weight + " " + unit
}

// remedy is the nearest thing that would let the case be placed: an exception the quota allows,
// cover until an absent member is back, or the capacity the team lacks.
func remedy(tp teamPlan, u unplaced, namespace string) string {
	switch {
	case u.Exception != "":
		return fmt.Sprintf("an exception for %s, within what the quota allows: someone who may approve caseloadquotas in namespace %s allocates the case to %s with the annotation %s giving the reason",
			u.Exception, namespace, u.Exception, v1alpha1.ExceptionReasonAnnotation)
	case u.CoverFrom != "":
		return fmt.Sprintf("cover from another team until an absent member is back, the first on %s (kubectl caseload forecast %s)", u.CoverFrom, tp.Team)
	case u.Short != "":
		return fmt.Sprintf("%s more capacity in the team: cover from another team, or a practitioner moved in", amount(u.Short, tp.Unit))
	}
	return "a practitioner who may lead it, covering from another team or moved in"
}

// patches writes the plan as YAML, a document per allocation in the order to make them, each a
// merge patch of its Case (a merge patch replaces the co-workers of a case whose co-worker it
// makes the lead; server-side apply would keep them, the list being a set owned by its writer);
// the cases left over are comments.
func (o *Options) patches(out councilPlan) error {
	w := o.Streams.Out
	fmt.Fprintf(w, "# kubectl caseload allocate: namespace %s, planned for %s in %s.\n", out.Namespace, out.Day, out.TimeZone)
	fmt.Fprintf(w, "# A document per allocation, in the order to make them, each a merge patch of its Case\n")
	fmt.Fprintf(w, "# (kubectl patch --type merge); kubectl caseload allocate --apply makes them through admission.\n")
	for _, tp := range out.Teams {
		for _, p := range tp.Proposals {
			patch := map[string]any{
				"apiVersion": v1alpha1.GroupVersion.String(), "kind": "Case",
				"metadata": map[string]any{"name": p.Case, "namespace": out.Namespace},
				"spec":     map[string]any{"allocatedTo": p.Lead},
			}
			if slices.Contains(p.coWorkers, p.Lead) {
				// The lead was a co-worker: the patch leaves them out of the co-workers.
				c := &v1alpha1.Case{Spec: v1alpha1.CaseSpec{CoWorkers: slices.Clone(p.coWorkers)}}
				give(c, p.Lead)
				patch["spec"].(map[string]any)["coWorkers"] = c.Spec.CoWorkers
			}
			data, err := yaml.Marshal(patch)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "---\n# team %s: case %s (%s, waiting %s) to %s (%s): %s, %d%% %s after it", tp.Team, p.Case, p.Type, words.Count(p.WaitingDays, "day"),
				p.Lead, p.Grade, amount(p.Weight, tp.Unit), p.Utilisation, p.Band)
			if p.PastMaxBand {
				fmt.Fprintf(w, ", past %s: nobody else could take it", out.MaxBand)
			}
			if p.Admission != "" && p.Admission != "agrees" {
				fmt.Fprintf(w, "; admission %s", p.Admission)
			}
			fmt.Fprintln(w)
			if _, err := w.Write(data); err != nil {
				return err
			}
		}
	}
	for _, tp := range out.Teams {
		if len(tp.Unplaced) == 0 {
			continue
		}
		fmt.Fprintf(w, "# team %s: %s\n", tp.Team, shortfall(tp))
		for _, u := range tp.Unplaced {
			comment(w, fmt.Sprintf("%s (%s, %s): %s; nearest remedy: %s", u.Case, u.Type, amount(u.Weight, tp.Unit), strings.Join(u.Reasons, "; "), remedy(tp, u, out.Namespace)))
		}
	}
	return nil
}

// comment writes s as one YAML comment line, whatever it holds.
func comment(w io.Writer, s string) {
	fmt.Fprintf(w, "#   %s\n", strings.ReplaceAll(s, "\n", " "))
}

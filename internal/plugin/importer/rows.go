package importer

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/policy"
)

// caseRow is a row of the cases extract as the Case it asks for.
type caseRow struct {
	line      int
	reference string
	// name is the Case's name, from the reference (objectName).
	name string
	// spec is what the row asks for, with the CRD's defaults (complexity Standard, one child).
	spec v1alpha1.CaseSpec
}

// workerRow is a row of the workforce extract as the Practitioner it asks for.
type workerRow struct {
	line   int
	worker string
	name   string
	// spec has FTE written as the operator writes figures ("0.6"), or empty when the extract
	// gives none.
	spec v1alpha1.PractitionerSpec
}

// referenceShape is the CRD's pattern of a case reference.
var referenceShape = regexp.MustCompile(v1alpha1.ReferencePattern)

// tokenShape is what a worker id or a team code must look like to name an object.
var tokenShape = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$`)

// objectName is the name an object is known by for a token of a case-management system (a case
// reference, a worker id, a team): lower-cased, with '-' for '_', and, where dots would not make
// a valid name, '-' for '.' and no separator at the end. "LCS_1042" is lcs-1042, "jo.bloggs"
// stays jo.bloggs, "A..1." is a--1. Distinct tokens may meet in one name ("LCS-1" and
// "lcs_1"): the import refuses such rows rather than choose.
func objectName(token string) (string, error) {
	if !tokenShape.MatchString(token) {
		return "", fmt.Errorf("not a token of letters, digits, '.', '_' or '-' starting with a letter or digit")
	}
	name := strings.ReplaceAll(strings.ToLower(token), "_", "-")
	if len(validation.IsDNS1123Subdomain(name)) == 0 {
		return name, nil
	}
	name = strings.TrimRight(strings.ReplaceAll(name, ".", "-"), "-")
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return "", fmt.Errorf("cannot be made an object name: %s", strings.Join(errs, "; "))
	}
	return name, nil
}

// rowReader reads the fields of one row through a column map, collecting what is wrong with it.
type rowReader struct {
	cols     columnMap
	at       map[string]int
	fields   []string
	problems []string
}

// get is the field's value through its values map; "" for a column the extract does not have.
// known is false, and the row has a problem, for a code the values map does not know.
func (r *rowReader) get(key string) (value string, known bool) {
	i := r.at[key]
	if i < 0 {
		return "", true
	}
	v, ok := r.cols.value(key, r.fields[i])
	if !ok {
		r.problem("%s %q is not in the mapping's values.%s", key, v, key)
		return "", false
	}
	return v, true
}

// text is get, for a field whose unknown codes need nothing more said.
func (r *rowReader) text(key string) string {
	v, _ := r.get(key)
	return v
}

func (r *rowReader) problem(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

// date reads a date field, and says whether it is after today.
func (r *rowReader) date(m *importMapping, key, value, today string) v1alpha1.Date {
	if value == "" {
		return ""
	}
	t, err := m.parseDate(value)
	if err != nil {
		r.problem("%s: %v", key, err)
		return ""
	}
	d := t.Format(time.DateOnly)
	if d > today {
		r.problem("%s %s is after today", key, d)
	}
	return v1alpha1.Date(d)
}

// team reads a team field: the name of one of the council's Teams.
func (r *rowReader) team(teams map[string]bool) string {
	raw, known := r.get("team")
	if raw == "" {
		if known {
			r.problem("no team")
		}
		return ""
	}
	name, err := objectName(raw)
	if err != nil || !teams[name] {
		r.problem("the council has no Team %q (a values.team map in a mapping file turns a system's team codes into Team names)", raw)
		return ""
	}
	return name
}

// caseRows reads the cases of x: the rows that can be applied, and what is wrong with the rest.
// teams are the names of the council's Teams; today is YYYY-MM-DD.
func (m *importMapping) caseRows(x *extract, teams map[string]bool, today string) ([]caseRow, []rowProblem, error) {
	at, err := x.columns(m.cases)
	if err != nil {
		return nil, nil, err
	}
	problems := append([]rowProblem(nil), x.malformed...)
	rows := make([]caseRow, 0, len(x.records))
	// Rows that name a case, valid or not, by reference and by name: two rows of one case, or of
	// two cases one name would merge, are refused together.
	byRef, byName := map[string][]int{}, map[string][]int{}
	refOf := map[int]string{}
	for _, rec := range x.records {
		r := rowReader{cols: m.cases, at: at, fields: rec.fields}
		row := caseRow{line: rec.line}
		key := ""
		row.reference = strings.TrimSpace(rec.fields[at["reference"]])
		switch {
		case row.reference == "":
			r.problem("no reference")
		case !referenceShape.MatchString(row.reference):
			// Not repeated: what is not a pseudonymous token may be a name.
			r.problem("the reference is not a pseudonymous token (letters, digits, '.', '_' or '-', at most 63, starting with a letter or digit)")
		case looksLikeDate(m, row.reference):
			r.problem("the reference looks like a date, not a pseudonymous token")
		default:
			key = row.reference
			row.name, _ = objectName(row.reference)
			byRef[row.reference] = append(byRef[row.reference], rec.line)
			byName[row.name] = append(byName[row.name], rec.line)
			refOf[rec.line] = row.reference
		}
		row.spec.Reference = row.reference
		row.spec.Team = r.team(teams)
		switch typ, known := r.get("type"); {
		case typ == "":
			if known {
				r.problem("no case type")
			}
		case !isTypeName(typ):
			r.problem("type %q is not a case type such as ChildInNeed (a values.type map in a mapping file turns a system's codes into types)", typ)
		default:
			row.spec.Type = typ
		}
		row.spec.Complexity = v1alpha1.ComplexityStandard
		if c := r.text("complexity"); c != "" {
			i := slices.IndexFunc([]v1alpha1.Complexity{v1alpha1.ComplexityLow, v1alpha1.ComplexityStandard, v1alpha1.ComplexityHigh},
				func(level v1alpha1.Complexity) bool { return strings.EqualFold(c, string(level)) })
			if i < 0 {
				r.problem("complexity %q is not Low, Standard or High", c)
			} else {
				row.spec.Complexity = []v1alpha1.Complexity{v1alpha1.ComplexityLow, v1alpha1.ComplexityStandard, v1alpha1.ComplexityHigh}[i]
			}
		}
		row.spec.Children = 1
		if c := r.text("children"); c != "" {
			n, err := strconv.Atoi(c)
			if err != nil || n < v1alpha1.MinChildren || n > v1alpha1.MaxChildren {
				r.problem("children %q is not a number from %d to %d", c, v1alpha1.MinChildren, v1alpha1.MaxChildren)
			} else {
				row.spec.Children = int32(n)
			}
		}
		if opened, known := r.get("opened"); opened == "" {
			if known {
				r.problem("no opened date")
			}
		} else {
			row.spec.OpenedOn = r.date(m, "opened", opened, today)
		}
		row.spec.ClosedOn = r.date(m, "closed", r.text("closed"), today)
		if row.spec.ClosedOn != "" && row.spec.OpenedOn != "" && row.spec.ClosedOn < row.spec.OpenedOn {
			r.problem("closed %s is before opened %s", row.spec.ClosedOn, row.spec.OpenedOn)
		}
		if w := r.text("allocatedWorker"); w != "" {
			if name, err := objectName(w); err != nil {
				r.problem("allocated worker %q is %v", w, err)
			} else {
				row.spec.AllocatedTo = name
			}
		}
		if ws := r.text("coWorkers"); ws != "" {
			for _, w := range strings.Split(ws, m.cases.coWorker) {
				if w = strings.TrimSpace(w); w == "" {
					continue
				}
				name, err := objectName(w)
				switch {
				case err != nil:
					r.problem("co-worker %q is %v", w, err)
				case name == row.spec.AllocatedTo:
					r.problem("%s is both the allocated worker and a co-worker", w)
				case !slices.Contains(row.spec.CoWorkers, name):
					row.spec.CoWorkers = append(row.spec.CoWorkers, name)
				}
			}
			if len(row.spec.CoWorkers) > 5 {
				r.problem("%d co-workers: a case has at most 5", len(row.spec.CoWorkers))
			}
		}
		if len(r.problems) > 0 {
			problems = append(problems, rowProblem{File: x.file, Line: rec.line, Key: key, Reason: strings.Join(r.problems, "; ")})
			continue
		}
		rows = append(rows, row)
	}
	// One case on two lines, or two references that are one name.
	bad := map[int]string{}
	for ref, lines := range byRef {
		if len(lines) > 1 {
			for _, l := range lines {
				bad[l] = fmt.Sprintf("reference %s is on lines %s: which is right cannot be told", ref, joinLines(lines))
			}
		}
	}
	for name, lines := range byName {
		refs := map[string]bool{}
		for _, l := range lines {
			refs[refOf[l]] = true
		}
		if len(refs) > 1 {
			var on []string
			for _, l := range lines {
				on = append(on, fmt.Sprintf("%s (line %d)", refOf[l], l))
			}
			for _, l := range lines {
				if _, ok := bad[l]; !ok {
					bad[l] = fmt.Sprintf("references %s would all be Case %s: names do not tell case or '_' from '-' apart", strings.Join(on, ", "), name)
				}
			}
		}
	}
	if len(bad) > 0 {
		rows = slices.DeleteFunc(rows, func(r caseRow) bool { return bad[r.line] != "" })
		for i := range problems {
			if why, ok := bad[problems[i].Line]; ok && problems[i].File == x.file {
				problems[i].Reason += "; " + why
				delete(bad, problems[i].Line)
			}
		}
		for l, why := range bad {
			problems = append(problems, rowProblem{File: x.file, Line: l, Key: refOf[l], Reason: why})
		}
	}
	sortProblems(problems)
	return rows, problems, nil
}

// looksLikeDate reports whether a reference reads as a date, as a date of birth would: written
// yyyy-mm-dd, or as the extract writes dates where that has separators (a layout of digits
// only, yyyymmdd, would take numeric references for dates).
func looksLikeDate(m *importMapping, s string) bool {
	if _, err := time.Parse(time.DateOnly, s); err == nil {
		return true
	}
	if !strings.ContainsAny(m.dateLayout, "/-. ") {
		return false
	}
	_, err := time.Parse(m.dateLayout, s)
	return err == nil
}

// workerRows reads the practitioners of x, as caseRows reads cases.
func (m *importMapping) workerRows(x *extract, teams map[string]bool) ([]workerRow, []rowProblem, error) {
	at, err := x.columns(m.workers)
	if err != nil {
		return nil, nil, err
	}
	problems := append([]rowProblem(nil), x.malformed...)
	rows := make([]workerRow, 0, len(x.records))
	byName := map[string][]int{}
	for _, rec := range x.records {
		r := rowReader{cols: m.workers, at: at, fields: rec.fields}
		row := workerRow{line: rec.line, worker: strings.TrimSpace(rec.fields[at["workerId"]])}
		key := ""
		if row.worker == "" {
			r.problem("no worker id")
		} else if name, err := objectName(row.worker); err != nil {
			r.problem("the worker id is %v", err)
		} else {
			row.name, key = name, row.worker
			byName[name] = append(byName[name], rec.line)
		}
		row.spec.Team = r.team(teams)
		switch g, known := r.get("grade"); {
		case g == "":
			if known {
				r.problem("no grade")
			}
		case !isTypeName(g):
			r.problem("grade %q is not a grade such as SocialWorker (a values.grade map in a mapping file turns a system's codes into grades)", g)
		default:
			row.spec.Grade = g
		}
		if f := r.text("fte"); f != "" {
			fte, err := canonicalFTE(f)
			if err != nil {
				r.problem("fte %q is not a share of full time: more than 0 and at most 1, such as 0.6", f)
			}
			row.spec.FTE = fte
		}
		if len(r.problems) > 0 {
			problems = append(problems, rowProblem{File: x.file, Line: rec.line, Key: key, Reason: strings.Join(r.problems, "; ")})
			continue
		}
		rows = append(rows, row)
	}
	for name, lines := range byName {
		if len(lines) < 2 {
			continue
		}
		why := fmt.Sprintf("worker %s is on lines %s: which is right cannot be told", name, joinLines(lines))
		rows = slices.DeleteFunc(rows, func(r workerRow) bool { return r.name == name })
		for _, l := range lines {
			i := slices.IndexFunc(problems, func(p rowProblem) bool { return p.Line == l })
			if i >= 0 {
				problems[i].Reason += "; " + why
			} else {
				problems = append(problems, rowProblem{File: x.file, Line: l, Key: name, Reason: why})
			}
		}
	}
	sortProblems(problems)
	return rows, problems, nil
}

// canonicalFTE writes a share of full time as the operator writes figures: "0.60" is "0.6".
func canonicalFTE(s string) (string, error) {
	m, err := policy.ParseMilli(s)
	if err != nil || m <= 0 || m > policy.One {
		return "", fmt.Errorf("%q is not more than 0 and at most 1", s)
	}
	return m.String(), nil
}

func joinLines(lines []int) string {
	s := make([]string, len(lines))
	for i, l := range lines {
		s[i] = strconv.Itoa(l)
	}
	return strings.Join(s, " and ")
}

func sortProblems(ps []rowProblem) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].File != ps[j].File {
			return ps[i].File < ps[j].File
		}
		return ps[i].Line < ps[j].Line
	})
}

package importer

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"sigs.k8s.io/yaml"

	"caseload.dev/caseload-operator/api/v1alpha1"
	"caseload.dev/caseload-operator/internal/plugin/kit"
)

// MappingVersion is the apiVersion of a mapping file. A file of another version is refused
// rather than misread.
const MappingVersion = "import.caseload.dev/v1"

// importMappingFile is a mapping file as written: which header of the extract holds each field,
// how its dates are written, and what its codes mean. What it leaves out keeps the default.
type importMappingFile struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Delimiter separates the fields of a line: "," unless set (";" or a tab in some exports).
	Delimiter string `json:"delimiter,omitempty"`
	// DateLayout is how dates are written, e.g. dd/mm/yyyy; yyyy-mm-dd unless set.
	DateLayout    string               `json:"dateLayout,omitempty"`
	Cases         importMappingSection `json:"cases,omitempty"`
	Practitioners importMappingSection `json:"practitioners,omitempty"`
}

type importMappingSection struct {
	// Columns maps a field to the header of the column that holds it.
	Columns map[string]string `json:"columns,omitempty"`
	// Values maps, per field, a value of the extract to the value the field takes.
	Values map[string]map[string]string `json:"values,omitempty"`
	// CoWorkerSeparator separates the co-workers of a case within their field: ";" unless set.
	CoWorkerSeparator string `json:"coWorkerSeparator,omitempty"`
}

// importField is a field an extract may hold.
type importField struct {
	key      string // the field's name in a mapping file
	header   string // its default header
	required bool
	// coded fields hold a system's codes when they have a values map: a value the map does not
	// know (nor names as a target) is refused rather than guessed.
	coded bool
}

// The fields of the two extracts, in the order a default header has them.
var (
	caseFields = []importField{
		{key: "reference", header: "reference", required: true},
		{key: "team", header: "team", required: true, coded: true},
		{key: "type", header: "type", required: true, coded: true},
		{key: "complexity", header: "complexity", coded: true},
		{key: "children", header: "children"},
		{key: "opened", header: "opened", required: true},
		{key: "closed", header: "closed"},
		{key: "allocatedWorker", header: "allocated_worker"},
		{key: "coWorkers", header: "co_workers"},
	}
	workerFields = []importField{
		{key: "workerId", header: "worker_id", required: true},
		{key: "team", header: "team", required: true, coded: true},
		{key: "grade", header: "grade", required: true, coded: true},
		{key: "fte", header: "fte"},
	}
)

// columnMap is one extract's mapping, validated.
type columnMap struct {
	fields []importField
	// headers is the header of each field's column.
	headers map[string]string
	// explicit are the fields the mapping file names: their column must be in the extract.
	explicit map[string]bool
	values   map[string]map[string]string
	// targets are the values each values map gives, which the field may also hold as they are.
	targets  map[string]map[string]bool
	coWorker string
}

// importMapping is a validated mapping of both extracts.
type importMapping struct {
	delimiter rune
	// dateLayout is Go's layout; dateText the layout as the file or the default wrote it.
	dateLayout, dateText string
	cases, workers       columnMap
}

// defaultDateLayout is how dates are written unless a mapping says otherwise.
const defaultDateLayout = "yyyy-mm-dd"

// defaultImportMapping is the mapping of an extract with the default headers.
func defaultImportMapping() *importMapping {
	m, err := newImportMapping(importMappingFile{APIVersion: MappingVersion, Kind: "ImportMapping"})
	if err != nil {
		panic(err)
	}
	return m
}

// readImportMapping reads and validates a mapping file.
func readImportMapping(path string) (*importMapping, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f importMappingFile
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("mapping %s: %w", path, err)
	}
	m, err := newImportMapping(f)
	if err != nil {
		return nil, fmt.Errorf("mapping %s: %w", path, err)
	}
	return m, nil
}

// typeShape is the CRDs' pattern of a case type and a grade.
var typeShape = regexp.MustCompile(v1alpha1.TypePattern)

// isTypeName reports whether s is what a case type and a grade must look like.
func isTypeName(s string) bool { return len(s) <= v1alpha1.MaxTypeLength && typeShape.MatchString(s) }

// newImportMapping validates f and fills in the defaults.
func newImportMapping(f importMappingFile) (*importMapping, error) {
	if f.APIVersion != MappingVersion || f.Kind != "ImportMapping" {
		return nil, fmt.Errorf("it is %s %s, not an ImportMapping of %s: start the file with\n  apiVersion: %s\n  kind: ImportMapping",
			kit.OrDash(f.APIVersion), kit.OrDash(f.Kind), MappingVersion, MappingVersion)
	}
	m := &importMapping{delimiter: ','}
	if f.Delimiter != "" {
		r, size := utf8.DecodeRuneInString(f.Delimiter)
		if size != len(f.Delimiter) || r == '"' || r == '\r' || r == '\n' || r == utf8.RuneError {
			return nil, fmt.Errorf("delimiter %q: give one character, such as \",\", \";\" or \"\\t\"", f.Delimiter)
		}
		m.delimiter = r
	}
	m.dateText = f.DateLayout
	if m.dateText == "" {
		m.dateText = defaultDateLayout
	}
	layout, err := goDateLayout(m.dateText)
	if err != nil {
		return nil, err
	}
	m.dateLayout = layout
	if m.cases, err = newColumnMap("cases", caseFields, f.Cases); err != nil {
		return nil, err
	}
	if m.workers, err = newColumnMap("practitioners", workerFields, f.Practitioners); err != nil {
		return nil, err
	}
	if f.Practitioners.CoWorkerSeparator != "" {
		return nil, fmt.Errorf("practitioners.coWorkerSeparator: co-workers are a field of cases; set cases.coWorkerSeparator")
	}
	if strings.ContainsRune(m.cases.coWorker, m.delimiter) {
		return nil, fmt.Errorf("cases.coWorkerSeparator %q is the delimiter of the fields too: choose another, such as \";\" or \"|\"", m.cases.coWorker)
	}
	return m, nil
}

func newColumnMap(section string, fields []importField, s importMappingSection) (columnMap, error) {
	c := columnMap{fields: fields, headers: map[string]string{}, explicit: map[string]bool{}, values: map[string]map[string]string{},
		targets: map[string]map[string]bool{}, coWorker: s.CoWorkerSeparator}
	if c.coWorker == "" {
		c.coWorker = ";"
	}
	known := func(key string) (importField, error) {
		i := slices.IndexFunc(fields, func(f importField) bool { return f.key == key })
		if i < 0 {
			keys := make([]string, len(fields))
			for j, f := range fields {
				keys[j] = f.key
			}
			return importField{}, fmt.Errorf("%s has no field %q: the fields are %s", section, key, strings.Join(keys, ", "))
		}
		return fields[i], nil
	}
	for _, f := range fields {
		c.headers[f.key] = f.header
	}
	for key, header := range s.Columns {
		if _, err := known(key); err != nil {
			return c, fmt.Errorf("%s.columns: %w", section, err)
		}
		header = strings.TrimSpace(header)
		if header == "" {
			return c, fmt.Errorf("%s.columns.%s is empty: name the header of the column that holds it", section, key)
		}
		c.headers[key], c.explicit[key] = header, true
	}
	// Two fields cannot come from one column; a default header that a named column takes over is
	// no longer the default's.
	seen := map[string]string{}
	for _, f := range fields {
		h := normalHeader(c.headers[f.key])
		if other, ok := seen[h]; ok {
			if c.explicit[f.key] && c.explicit[other] {
				return c, fmt.Errorf("%s.columns: %s and %s both name column %q", section, other, f.key, c.headers[f.key])
			}
			loser := f.key
			if c.explicit[f.key] {
				loser = other
				seen[h] = f.key
			}
			c.headers[loser] = ""
			continue
		}
		seen[h] = f.key
	}
	for key, values := range s.Values {
		f, err := known(key)
		if err != nil {
			return c, fmt.Errorf("%s.values: %w", section, err)
		}
		if key == "reference" || key == "workerId" {
			return c, fmt.Errorf("%s.values.%s: a pseudonymous %s is taken as it is, never mapped", section, key, f.header)
		}
		c.values[key], c.targets[key] = map[string]string{}, map[string]bool{}
		for from, to := range values {
			to = strings.TrimSpace(to)
			if err := validTarget(key, to); err != nil {
				return c, fmt.Errorf("%s.values.%s maps %q to %q: %w", section, key, from, to, err)
			}
			c.values[key][strings.TrimSpace(from)] = to
			c.targets[key][to] = true
		}
	}
	return c, nil
}

// validTarget checks, where it can be checked before any row is read, a value a values map gives.
func validTarget(key, to string) error {
	switch key {
	case "complexity":
		if to != "" && !slices.Contains([]v1alpha1.Complexity{v1alpha1.ComplexityLow, v1alpha1.ComplexityStandard, v1alpha1.ComplexityHigh}, v1alpha1.Complexity(to)) {
			return fmt.Errorf("complexity is Low, Standard or High (or empty for Standard)")
		}
	case "type", "grade":
		if !isTypeName(to) {
			return fmt.Errorf("a %s is a name of letters and digits, starting with a letter, such as ChildInNeed or SocialWorker", key)
		}
	case "team":
		if to == "" {
			return fmt.Errorf("a team is required: map the code to the name of a Team")
		}
	}
	return nil
}

// value is what field key of a row holds: raw, through the field's values map. ok is false for
// a code the map does not know.
func (c columnMap) value(key, raw string) (string, bool) {
	raw = strings.TrimSpace(raw)
	m, mapped := c.values[key]
	if !mapped || raw == "" {
		return raw, true
	}
	if to, ok := m[raw]; ok {
		return to, true
	}
	coded := slices.ContainsFunc(c.fields, func(f importField) bool { return f.key == key && f.coded })
	return raw, !coded || c.targets[key][raw]
}

// goDateLayout turns a layout such as dd/mm/yyyy into Go's (02/01/2006). d and m take one or two
// digits; dd and mm take two.
func goDateLayout(layout string) (string, error) {
	var out strings.Builder
	count := map[byte]int{}
	for i := 0; i < len(layout); {
		switch {
		case strings.HasPrefix(layout[i:], "yyyy"):
			out.WriteString("2006")
			count['y']++
			i += 4
		case strings.HasPrefix(layout[i:], "mm"):
			out.WriteString("01")
			count['m']++
			i += 2
		case strings.HasPrefix(layout[i:], "dd"):
			out.WriteString("02")
			count['d']++
			i += 2
		case layout[i] == 'm':
			out.WriteString("1")
			count['m']++
			i++
		case layout[i] == 'd':
			out.WriteString("2")
			count['d']++
			i++
		case strings.IndexByte("/-. ", layout[i]) >= 0:
			out.WriteByte(layout[i])
			i++
		default:
			return "", fmt.Errorf("dateLayout %q: write it with yyyy, mm (or m), dd (or d) and the separators / - . or a space, such as dd/mm/yyyy", layout)
		}
	}
	if count['y'] != 1 || count['m'] != 1 || count['d'] != 1 {
		return "", fmt.Errorf("dateLayout %q: it needs the year (yyyy), the month (mm) and the day (dd), once each", layout)
	}
	return out.String(), nil
}

// parseDate reads a date written in the layout, with any time of day after it (as some systems
// write 00:00:00) left aside.
func (m *importMapping) parseDate(s string) (time.Time, error) {
	t, err := time.Parse(m.dateLayout, s)
	if err == nil {
		return t, nil
	}
	if i := strings.IndexAny(s, " T"); i > 0 && !strings.ContainsAny(m.dateLayout, " ") {
		if t, err2 := time.Parse(m.dateLayout, s[:i]); err2 == nil && looksLikeTime(s[i+1:]) {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date written %s", s, m.dateText)
}

var timeOfDay = regexp.MustCompile(`^\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$`)

func looksLikeTime(s string) bool { return timeOfDay.MatchString(strings.TrimSpace(s)) }

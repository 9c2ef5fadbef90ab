package importer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestGoDateLayout(t *testing.T) {
	for _, tc := range []struct {
		layout, value, want, err string
	}{
		{layout: "yyyy-mm-dd", value: "2025-03-01", want: "2025-03-01"},
		{layout: "dd/mm/yyyy", value: "01/03/2025", want: "2025-03-01"},
		{layout: "dd/mm/yyyy", value: "01/03/2025 00:00:00", want: "2025-03-01"},
		{layout: "dd/mm/yyyy", value: "01/03/2025T09:30", want: "2025-03-01"},
		{layout: "d/m/yyyy", value: "1/3/2025", want: "2025-03-01"},
		{layout: "d/m/yyyy", value: "11/12/2025", want: "2025-12-11"},
		{layout: "mm/dd/yyyy", value: "03/01/2025", want: "2025-03-01"},
		{layout: "yyyymmdd", value: "20250301", want: "2025-03-01"},
		{layout: "dd.mm.yyyy", value: "01.03.2025", want: "2025-03-01"},
		{layout: "dd/mm/yyyy", value: "1/3/2025", err: `"1/3/2025" is not a date written dd/mm/yyyy`},
		{layout: "dd/mm/yyyy", value: "31/02/2025", err: "is not a date written dd/mm/yyyy"},
		{layout: "dd/mm/yyyy", value: "01/03/2025 lunchtime", err: "is not a date"},
		{layout: "yyyy-mm-dd", value: "01/03/2025", err: "is not a date written yyyy-mm-dd"},
		{layout: "dd/mm/yy", err: `dateLayout "dd/mm/yy": write it with yyyy`},
		{layout: "dd/mm", err: "it needs the year (yyyy), the month (mm) and the day (dd), once each"},
		{layout: "dd/mm/yyyy/dd", err: "once each"},
	} {
		m, err := newImportMapping(importMappingFile{APIVersion: MappingVersion, Kind: "ImportMapping", DateLayout: tc.layout})
		if err != nil {
			if tc.err == "" || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("layout %q: %v, want %q", tc.layout, err, tc.err)
			}
			continue
		}
		got, err := m.parseDate(tc.value)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q as %s: %v, %v, want the error %q", tc.value, tc.layout, got, err, tc.err)
		case tc.err == "" && (err != nil || got.Format(time.DateOnly) != tc.want):
			t.Errorf("%q as %s: %v, %v, want %s", tc.value, tc.layout, got, err, tc.want)
		}
	}
}

func TestImportMappingFile(t *testing.T) {
	const head = "apiVersion: import.caseload.dev/v1\nkind: ImportMapping\n"
	for _, tc := range []struct {
		name, file, err string
		check           func(t *testing.T, m *importMapping)
	}{
		{name: "a Mosaic-style layout", file: head + `delimiter: ";"
dateLayout: dd/mm/yyyy
cases:
  columns: {reference: PERSON_CASE_ID, team: TEAM_CODE, type: CASE_TYPE_CODE, allocatedWorker: WORKER_ID}
  coWorkerSeparator: "|"
  values:
    type: {CP: ChildProtection}
    complexity: {"3": High, "0": ""}
practitioners:
  columns: {workerId: STAFF_ID}
  values:
    grade: {NQSW: NewlyQualified}
`, check: func(t *testing.T, m *importMapping) {
			if m.delimiter != ';' || m.cases.coWorker != "|" || m.workers.coWorker != ";" || m.dateLayout != "02/01/2006" {
				t.Errorf("delimiter %q, separators %q and %q, layout %q", m.delimiter, m.cases.coWorker, m.workers.coWorker, m.dateLayout)
			}
			if m.cases.headers["reference"] != "PERSON_CASE_ID" || m.cases.headers["opened"] != "opened" || m.workers.headers["workerId"] != "STAFF_ID" {
				t.Errorf("headers %v and %v: named ones from the file, the others the default", m.cases.headers, m.workers.headers)
			}
			if v, ok := m.cases.value("type", "CP"); v != "ChildProtection" || !ok {
				t.Errorf("type CP is %q %v", v, ok)
			}
			if v, ok := m.cases.value("type", "ChildProtection"); v != "ChildProtection" || !ok {
				t.Errorf("a type already written as the map's target is %q %v, want it kept", v, ok)
			}
			if _, ok := m.cases.value("type", "CIN"); ok {
				t.Error("a type code the map does not know was taken as it is")
			}
			if v, ok := m.cases.value("complexity", " 0 "); v != "" || !ok {
				t.Errorf("complexity 0 is %q %v, want empty (the default)", v, ok)
			}
			if v, ok := m.cases.value("team", "north"); v != "north" || !ok {
				t.Errorf("team without a map is %q %v", v, ok)
			}
		}},
		{name: "a named column takes a default header over", file: head + "cases:\n  columns: {reference: team}\n", check: func(t *testing.T, m *importMapping) {
			if m.cases.headers["reference"] != "team" || m.cases.headers["team"] != "" {
				t.Errorf("headers %v: reference from column team, and team from no column", m.cases.headers)
			}
		}},
		{name: "no apiVersion", file: "cases: {}\n", err: "not an ImportMapping of import.caseload.dev/v1"},
		{name: "an unknown key", file: head + "cases:\n  colums: {}\n", err: `unknown field "colums"`},
		{name: "an unknown field", file: head + "cases:\n  columns: {refrence: ID}\n", err: `cases.columns: cases has no field "refrence": the fields are reference, team, type`},
		{name: "an empty header", file: head + "cases:\n  columns: {reference: \" \"}\n", err: "cases.columns.reference is empty"},
		{name: "two fields from one column", file: head + "cases:\n  columns: {opened: DATE, closed: DATE}\n", err: `both name column "DATE"`},
		{name: "a mapped reference", file: head + "cases:\n  values:\n    reference: {A: B}\n", err: "a pseudonymous reference is taken as it is, never mapped"},
		{name: "a complexity that is not one", file: head + "cases:\n  values:\n    complexity: {\"4\": Extreme}\n", err: `maps "4" to "Extreme": complexity is Low, Standard or High`},
		{name: "a type that is not a name", file: head + "cases:\n  values:\n    type: {CIN: Child in need}\n", err: "a type is a name of letters and digits"},
		{name: "a team to nowhere", file: head + "cases:\n  values:\n    team: {T9: \"\"}\n", err: "a team is required"},
		{name: "a delimiter of two characters", file: head + "delimiter: \",;\"\n", err: "give one character"},
		{name: "a separator that is the delimiter", file: head + "cases:\n  coWorkerSeparator: \",\"\n", err: "is the delimiter of the fields too"},
		{name: "a separator for practitioners", file: head + "practitioners:\n  coWorkerSeparator: \"|\"\n", err: "co-workers are a field of cases"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "mapping.yaml")
			if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			m, err := readImportMapping(path)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "mapping "+path) {
					t.Fatalf("got %v, want an error naming the file and saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, m)
		})
	}
}

func TestDefaultImportMapping(t *testing.T) {
	m := defaultImportMapping()
	var headers []string
	for _, f := range caseFields {
		headers = append(headers, m.cases.headers[f.key])
	}
	if got := strings.Join(headers, ","); got != "reference,team,type,complexity,children,opened,closed,allocated_worker,co_workers" {
		t.Errorf("default case headers %s", got)
	}
	if m.delimiter != ',' || m.cases.coWorker != ";" || m.dateText != "yyyy-mm-dd" {
		t.Errorf("delimiter %q, co-worker separator %q, dates %s", m.delimiter, m.cases.coWorker, m.dateText)
	}
}

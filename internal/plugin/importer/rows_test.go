package importer

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"caseload.dev/caseload-operator/api/v1alpha1"
)

func TestObjectName(t *testing.T) {
	for _, tc := range []struct{ token, want, err string }{
		{token: "LCS-1042", want: "lcs-1042"},
		{token: "LCS_1042", want: "lcs-1042"},
		{token: "jo.bloggs", want: "jo.bloggs"},
		{token: "SW_00.01", want: "sw-00.01"},
		{token: "A..1.", want: "a--1"},
		{token: "A.-1", want: "a--1"},
		{token: "C-1_", want: "c-1"},
		{token: "1234567", want: "1234567"},
		{token: strings.Repeat("a", 253), want: strings.Repeat("a", 253)},
		{token: "", err: "not a token"},
		{token: "-C1", err: "not a token"},
		{token: "Jo Bloggs", err: "not a token"},
		{token: "C/1", err: "not a token"},
		{token: strings.Repeat("a", 254), err: "not a token"},
	} {
		got, err := objectName(tc.token)
		if (err != nil) != (tc.err != "") || got != tc.want || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("objectName(%q) = %q, %v; want %q, %q", tc.token, got, err, tc.want, tc.err)
		}
	}
}

func TestParseExtract(t *testing.T) {
	text := "\ufeffreference , Team\r\n" +
		"C-1,north\r\n" +
		"\r\n" +
		"C-2,\"south, east\"\r\n" +
		"C-3,north,extra\r\n" +
		"C-4,\"north\r\n" +
		"multi\"\r\n" +
		"C-5,no\"rth\r\n" +
		"C-6,north\r\n" +
		",\r\n"
	x, err := parseExtract("cases.csv", strings.NewReader(text), ',')
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(x.header, []string{"reference", "Team"}) {
		t.Errorf("header %q, want the byte-order mark and spaces gone", x.header)
	}
	var got []string
	for _, r := range x.records {
		got = append(got, fmt.Sprintf("%d:%s", r.line, strings.Join(r.fields, "|")))
	}
	if want := []string{"2:C-1|north", "4:C-2|south, east", "9:C-6|north"}; !slices.Equal(got, want) {
		t.Errorf("records %q, want %q (blank lines skipped, lines counted from 1 with the header)", got, want)
	}
	var bad []string
	for _, p := range x.malformed {
		bad = append(bad, fmt.Sprintf("%s line %d: %s", p.File, p.Line, p.Reason))
	}
	if want := []string{
		"cases.csv line 5: 3 fields where the header has 2: a field with the delimiter in it must be quoted",
		"cases.csv line 6: a quoted field runs on to line 7: close the quote on this line (a field the import reads is one line)",
		"cases.csv line 7: read into the quoted field that starts on line 6",
		`cases.csv line 8: not a line of CSV: bare " in non-quoted-field`,
	}; !slices.Equal(bad, want) {
		t.Errorf("malformed %q, want %q", bad, want)
	}

	// A quote left open takes in the rows after it: each is reported, so that three rows are
	// three rows.
	x, err = parseExtract("cases.csv", strings.NewReader("reference,team,type\nC-1,\"north,ChildInNeed\nC-2,north\",ChildInNeed\nC-3,north,ChildInNeed\n"), ',')
	if err != nil {
		t.Fatal(err)
	}
	bad = nil
	for _, p := range x.malformed {
		bad = append(bad, fmt.Sprintf("line %d: %s", p.Line, p.Reason))
	}
	if want := []string{
		"line 2: a quoted field runs on to line 3: close the quote on this line (a field the import reads is one line)",
		"line 3: read into the quoted field that starts on line 2",
	}; len(x.records) != 1 || x.records[0].line != 4 || !slices.Equal(bad, want) {
		t.Errorf("records %v, malformed %q; want line 4 read, and %q", x.records, bad, want)
	}

	for _, tc := range []struct{ text, err string }{
		{"", "cases.csv is empty"},
		{"reference,team,Reference\n", `columns 1 and 3 are both headed "Reference"`},
	} {
		if _, err := parseExtract("cases.csv", strings.NewReader(tc.text), ','); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: %v, want %q", tc.text, err, tc.err)
		}
	}
}

func TestExtractColumns(t *testing.T) {
	x := &extract{file: "cases.csv", header: []string{"Reference", "Team", "Type", "Opened", "Allocated Worker", "notes"}}
	at, err := x.columns(defaultImportMapping().cases)
	if err != nil {
		t.Fatal(err)
	}
	if at["reference"] != 0 || at["allocatedWorker"] != 4 || at["closed"] != -1 || at["coWorkers"] != -1 {
		t.Errorf("columns %v: headers match whatever their case and spacing, and optional ones may be missing", at)
	}
	x.header = []string{"ref", "team", "type"}
	if _, err := x.columns(defaultImportMapping().cases); err == nil || !strings.Contains(err.Error(), `cases.csv has no column for reference (column "reference"), opened (column "opened")`) {
		t.Errorf("missing columns: %v", err)
	}
}

// rowsOf reads the lines of a cases extract (the default header first) on 2026-11-30.
func rowsOf(t *testing.T, m *importMapping, lines ...string) ([]caseRow, []rowProblem) {
	t.Helper()
	x, err := parseExtract("cases.csv", strings.NewReader(strings.Join(lines, "\n")+"\n"), m.delimiter)
	if err != nil {
		t.Fatal(err)
	}
	rows, problems, err := m.caseRows(x, map[string]bool{"north": true, "child-protection": true}, "2026-11-30")
	if err != nil {
		t.Fatal(err)
	}
	return rows, problems
}

func TestCaseRows(t *testing.T) {
	const header = "reference,team,type,complexity,children,opened,closed,allocated_worker,co_workers"
	for _, tc := range []struct {
		name, line string
		want       v1alpha1.CaseSpec
		problem    string
	}{
		{name: "defaults", line: "LCS-1,north,ChildInNeed,,,2025-01-02,,,",
			want: v1alpha1.CaseSpec{Reference: "LCS-1", Team: "north", Type: "ChildInNeed", Complexity: "Standard", Children: 1, OpenedOn: "2025-01-02"}},
		{name: "everything", line: "LCS_2, Child_Protection ,ChildProtection,high,3,2025-01-02,2025-06-30,SW_1,SW_2; SW_3 ;SW_2;",
			want: v1alpha1.CaseSpec{Reference: "LCS_2", Team: "child-protection", Type: "ChildProtection", Complexity: "High", Children: 3,
				OpenedOn: "2025-01-02", ClosedOn: "2025-06-30", AllocatedTo: "sw-1", CoWorkers: []string{"sw-2", "sw-3"}}},
		{name: "closed on the day it opened", line: "C,north,EarlyHelp,,,2025-01-02,2025-01-02,,",
			want: v1alpha1.CaseSpec{Reference: "C", Team: "north", Type: "EarlyHelp", Complexity: "Standard", Children: 1, OpenedOn: "2025-01-02", ClosedOn: "2025-01-02"}},
		{name: "no reference", line: ",north,ChildInNeed,,,2025-01-02,,,", problem: "no reference"},
		{name: "a name for a reference", line: "Jo Bloggs,north,ChildInNeed,,,2025-01-02,,,", problem: "the reference is not a pseudonymous token"},
		{name: "a date for a reference", line: "2015-03-01,north,ChildInNeed,,,2025-01-02,,,", problem: "the reference looks like a date"},
		{name: "a reference too long", line: strings.Repeat("A", 64) + ",north,ChildInNeed,,,2025-01-02,,,", problem: "the reference is not a pseudonymous token"},
		{name: "no team", line: "C,,ChildInNeed,,,2025-01-02,,,", problem: "no team"},
		{name: "an unknown team", line: "C,south,ChildInNeed,,,2025-01-02,,,", problem: `the council has no Team "south"`},
		{name: "no type", line: "C,north,,,,2025-01-02,,,", problem: "no case type"},
		{name: "a type in words", line: "C,north,Child in need,,,2025-01-02,,,", problem: `type "Child in need" is not a case type`},
		{name: "an unknown complexity", line: "C,north,ChildInNeed,Extreme,,2025-01-02,,,", problem: `complexity "Extreme" is not Low, Standard or High`},
		{name: "no children", line: "C,north,ChildInNeed,,0,2025-01-02,,,", problem: `children "0" is not a number from 1 to 20`},
		{name: "too many children", line: "C,north,ChildInNeed,,21,2025-01-02,,,", problem: `children "21" is not a number from 1 to 20`},
		{name: "children in words", line: "C,north,ChildInNeed,,two,2025-01-02,,,", problem: `children "two" is not a number`},
		{name: "no opened date", line: "C,north,ChildInNeed,,,,,,", problem: "no opened date"},
		{name: "a bad date", line: "C,north,ChildInNeed,,,2025-02-30,,,", problem: `opened: "2025-02-30" is not a date written yyyy-mm-dd`},
		{name: "closed before opened", line: "C,north,ChildInNeed,,,2025-02-03,2025-02-02,,", problem: "closed 2025-02-02 is before opened 2025-02-03"},
		{name: "closed in the future", line: "C,north,ChildInNeed,,,2025-02-03,9999-12-31,,", problem: "closed 9999-12-31 is after today"},
		{name: "a worker id with a space", line: "C,north,ChildInNeed,,,2025-01-02,,SW 1,", problem: `allocated worker "SW 1" is not a token`},
		{name: "the lead a co-worker too", line: "C,north,ChildInNeed,,,2025-01-02,,SW_1,sw-1", problem: "sw-1 is both the allocated worker and a co-worker"},
		{name: "six co-workers", line: "C,north,ChildInNeed,,,2025-01-02,,,a;b;c;d;e;f", problem: "6 co-workers: a case has at most 5"},
		{name: "everything wrong at once", line: "C,south,,Extreme,,,,,", problem: `Team names); no case type; complexity "Extreme" is not Low, Standard or High; no opened date`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, problems := rowsOf(t, defaultImportMapping(), header, tc.line)
			if tc.problem != "" {
				if len(rows) != 0 || len(problems) != 1 || problems[0].Line != 2 || !strings.Contains(problems[0].Reason, tc.problem) {
					t.Fatalf("rows %+v, problems %+v; want line 2 rejected: %s", rows, problems, tc.problem)
				}
				return
			}
			if len(problems) != 0 || len(rows) != 1 {
				t.Fatalf("problems %+v", problems)
			}
			if got := rows[0].spec; fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("spec %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestCaseRowsRefuseWhatCannotBeTold(t *testing.T) {
	rows, problems := rowsOf(t, defaultImportMapping(),
		"reference,team,type,opened",
		"DUP,north,ChildInNeed,2025-01-02",      // 2
		"LCS-1,north,ChildInNeed,2025-01-02",    // 3
		"DUP,north,ChildInNeed,2099-01-02",      // 4: a duplicate, and wrong besides
		"lcs_1,north,ChildInNeed,2025-01-02",    // 5: the same name as line 3
		"OK,north,ChildInNeed,2025-01-02",       // 6
		"Jo Bloggs,north,ChildInNeed,2025-01-2", // 7: not a token; not a duplicate of anything
	)
	if len(rows) != 1 || rows[0].name != "ok" {
		t.Errorf("rows %+v, want only OK", rows)
	}
	var got []string
	for _, p := range problems {
		got = append(got, fmt.Sprintf("%d (%s): %s", p.Line, p.Key, p.Reason))
	}
	want := []string{
		"2 (DUP): reference DUP is on lines 2 and 4: which is right cannot be told",
		"3 (LCS-1): references LCS-1 (line 3), lcs_1 (line 5) would all be Case lcs-1: names do not tell case or '_' from '-' apart",
		"4 (DUP): opened 2099-01-02 is after today; reference DUP is on lines 2 and 4: which is right cannot be told",
		"5 (lcs_1): references LCS-1 (line 3), lcs_1 (line 5) would all be Case lcs-1: names do not tell case or '_' from '-' apart",
		`7 (): the reference is not a pseudonymous token (letters, digits, '.', '_' or '-', at most 63, starting with a letter or digit); opened: "2025-01-2" is not a date written yyyy-mm-dd`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestCaseRowsThroughAMapping(t *testing.T) {
	m, err := newImportMapping(importMappingFile{APIVersion: MappingVersion, Kind: "ImportMapping", Delimiter: "\t", DateLayout: "dd/mm/yyyy",
		Cases: importMappingSection{
			Columns:           map[string]string{"reference": "ID", "team": "TEAM", "type": "TYPE", "opened": "START", "closed": "END", "allocatedWorker": "WORKER"},
			CoWorkerSeparator: "|",
			Values:            map[string]map[string]string{"type": {"CP": "ChildProtection"}, "team": {"T1": "north"}, "closed": {"31/12/9999": ""}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	rows, problems := rowsOf(t, m,
		"ID\tTEAM\tTYPE\tSTART\tEND\tWORKER",
		"M-1\tT1\tCP\t03/02/2025 00:00:00\t31/12/9999\tW1",
		"M-2\tT2\tCP\t03/02/2025\t\t",
		"M-3\tT1\tCIN\t03/02/2025\t\t",
		"03/02/2015\tT1\tCP\t03/02/2025\t\t",
	)
	if len(rows) != 1 || fmt.Sprint(rows[0].spec) != fmt.Sprint(v1alpha1.CaseSpec{Reference: "M-1", Team: "north", Type: "ChildProtection",
		Complexity: "Standard", Children: 1, OpenedOn: "2025-02-03", AllocatedTo: "w1"}) {
		t.Errorf("rows %+v", rows)
	}
	var got []string
	for _, p := range problems {
		got = append(got, fmt.Sprintf("%d: %s", p.Line, p.Reason))
	}
	want := []string{`3: team "T2" is not in the mapping's values.team`, `4: type "CIN" is not in the mapping's values.type`,
		"5: the reference is not a pseudonymous token (letters, digits, '.', '_' or '-', at most 63, starting with a letter or digit)"}
	if !slices.Equal(got, want) {
		t.Errorf("problems %q, want %q", got, want)
	}
}

func TestWorkerRows(t *testing.T) {
	x, err := parseExtract("staff.csv", strings.NewReader("worker_id,team,grade,fte\n"+
		"SW_1,north,SocialWorker,0.60\n"+ // 2
		"SW_2,north,NewlyQualified,\n"+ // 3
		"SW_3,south,SocialWorker,1\n"+ // 4
		"SW_4,north,Social Worker,1.5\n"+ // 5
		"sw-1,north,SocialWorker,1\n"+ // 6: SW_1 again
		"SW 5,north,SocialWorker,0\n"), ',') // 7
	if err != nil {
		t.Fatal(err)
	}
	rows, problems, err := defaultImportMapping().workerRows(x, map[string]bool{"north": true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].name != "sw-2" || fmt.Sprint(rows[0].spec) != fmt.Sprint(v1alpha1.PractitionerSpec{Team: "north", Grade: "NewlyQualified"}) {
		t.Errorf("rows %+v, want sw-2 alone, with no FTE given", rows)
	}
	var got []string
	for _, p := range problems {
		got = append(got, fmt.Sprintf("%d: %s", p.Line, p.Reason))
	}
	want := []string{
		"2: worker sw-1 is on lines 2 and 6: which is right cannot be told",
		`4: the council has no Team "south" (a values.team map in a mapping file turns a system's team codes into Team names)`,
		`5: grade "Social Worker" is not a grade such as SocialWorker (a values.grade map in a mapping file turns a system's codes into grades); fte "1.5" is not a share of full time: more than 0 and at most 1, such as 0.6`,
		"6: worker sw-1 is on lines 2 and 6: which is right cannot be told",
		`7: the worker id is not a token of letters, digits, '.', '_' or '-' starting with a letter or digit; fte "0" is not a share of full time: more than 0 and at most 1, such as 0.6`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if fte, err := canonicalFTE("0.60"); fte != "0.6" || err != nil {
		t.Errorf("FTE 0.60 is %q (%v), want 0.6 as the operator writes it", fte, err)
	}
}

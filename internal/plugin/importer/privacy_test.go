package importer

import (
	"strings"
	"testing"
)

func TestHeaderLooksPersonal(t *testing.T) {
	for _, tc := range []struct{ header, want string }{
		{"Surname", "a person's name"},
		{"FORENAME", "a person's name"},
		{"first_name", "a person's name"},
		{"LastName", "a person's name"},
		{"Full Name", "a person's name"},
		{"name", "a person's name"},
		{"Child's name", "a person's name"},
		{"CHILD_SURNAME", "a person's name"},
		{"worker name", "a person's name"},
		{"Known As", "a person's name"},
		{"dob", "a date of birth"},
		{"D.O.B.", "a date of birth"},
		{"Date of Birth", "a date of birth"},
		{"birth_date", "a date of birth"},
		{"ChildDOB", "a date of birth"},
		{"Address", "an address or contact detail"},
		{"address line 1", "an address or contact detail"},
		{"Street", "an address or contact detail"},
		{"Post Code", "an address or contact detail"},
		{"postcode", "an address or contact detail"},
		{"UPRN", "an address or contact detail"},
		{"email", "an address or contact detail"},
		{"Telephone", "an address or contact detail"},
		{"NHS Number", "an NHS number (or CHI number)"},
		{"nhs_no", "an NHS number (or CHI number)"},
		{"NHSNumber", "an NHS number (or CHI number)"},
		{"CHI number", "an NHS number (or CHI number)"},
		{"NI Number", "a personal identifier (National Insurance or unique pupil number)"},
		{"UPN", "a personal identifier (National Insurance or unique pupil number)"},
		// What a council's extract has besides.
		{"reference", ""}, {"team", ""}, {"Team Name", ""}, {"case type name", ""}, {"allocated_worker", ""}, {"co_workers", ""},
		{"opened", ""}, {"START_DATE", ""}, {"children", ""}, {"complexity", ""}, {"worker_id", ""}, {"grade", ""}, {"fte", ""},
		{"GROUP_NUMBER", ""}, {"", ""}, {"Service", ""}, {"LA", ""},
	} {
		if got := headerLooksPersonal(tc.header); got != tc.want {
			t.Errorf("header %q looks like %q, want %q", tc.header, got, tc.want)
		}
	}
}

func TestValidNHSNumber(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  bool
	}{
		{"9434765919", true}, // NHS England's example number
		{"943 476 5919", true},
		{"943-476-5919", true},
		{"4010232137", true},
		{"9434765918", false}, // the check digit wrong
		{"1000000010", false}, // the check would be 10: never issued
		{"943476591", false},
		{"94347659190", false},
		{"94347 65919", false},
		{"LCS-943476", false},
	} {
		if got := validNHSNumber(tc.value); got != tc.want {
			t.Errorf("validNHSNumber(%q) = %v, want %v", tc.value, got, tc.want)
		}
	}
}

func TestValuesLookPersonal(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []string
		want   string
	}{
		{"NHS numbers", []string{"9434765919", "", "4010232137"}, "NHS numbers"},
		{"NHS numbers spaced", []string{"943 476 5919"}, "NHS numbers"},
		{"ten-digit ids, of which one passes by chance", []string{"9434765919", "1234567890", "1111111112", "2222222220", "3333333331", "4444444441",
			"5555555552", "6666666662", "7777777772", "8888888882", "9999999992"}, ""},
		{"postcodes", []string{"WS1 1AA", "B11AA", "m1 1ae", "EC1A 1BB"}, "postcodes"},
		{"references", []string{"LCS-1042", "LCS-1043", "A1"}, ""},
		{"dates", []string{"2025-01-02", "02/01/2025"}, ""},
		{"an email address among others", []string{"LCS-1", "jo@example.org"}, "email addresses"},
		{"empty", []string{"", " "}, ""},
		{"worker ids", []string{"SW_00_01", "sw-00-02"}, ""},
	} {
		if got := valuesLookPersonal(tc.values); (tc.want == "") != (got == "") || !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestPersonalDataNamesColumnsNotValues(t *testing.T) {
	x, err := parseExtract("cases.csv", strings.NewReader("reference,team,Surname,notes,\nC-1,north,Smith,9434765919,WS1 1AA\n"), ',')
	if err != nil {
		t.Fatal(err)
	}
	found := personalData(x)
	err = &personalDataError{columns: found}
	want := []string{`cases.csv column 3 "Surname": a person's name`, `cases.csv column 4 "notes": NHS numbers`, `cases.csv column 5 (no header): postcodes`,
		"nothing was imported", "Remove these columns from the extract"}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("the refusal does not say %q:\n%v", w, err)
		}
	}
	for _, value := range []string{"Smith", "9434765919", "WS1"} {
		if strings.Contains(err.Error(), value) {
			t.Errorf("the refusal repeats %q", value)
		}
	}
	if len(found) != 3 {
		t.Errorf("found %+v, want three columns", found)
	}
}

package importer

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// personalColumn is a column of an extract that looks like personal data: the whole file is
// refused before anything is written. It never carries the column's values.
type personalColumn struct {
	File   string `json:"file"`
	Column int    `json:"column"`
	Header string `json:"header"`
	// Looks says what it looks like: "a person's name", "NHS numbers", ...
	Looks string `json:"looks"`
}

func (p personalColumn) String() string {
	header := fmt.Sprintf("%q", p.Header)
	if p.Header == "" {
		header = "(no header)"
	}
	return fmt.Sprintf("%s column %d %s: %s", p.File, p.Column, header, p.Looks)
}

// What a header can look like. Headers are split into words (at spaces, punctuation and a
// lower-case letter followed by a capital) and lower-cased before they are compared.
var (
	// A word that is a name on its own, whatever comes before it.
	nameWords = []string{"forename", "forenames", "surname", "surnames", "firstname", "lastname", "fullname", "givenname",
		"givennames", "familyname", "middlename", "middlenames", "nickname", "maidenname", "alias", "aliases"}
	// A run of words that is a name: "first name", "known as".
	namePhrases = []string{"forename", "surname", "firstname", "lastname", "fullname", "givenname", "familyname", "middlename",
		"maidenname", "preferredname", "previousname", "knownas"}
	// Words before "name" that make it the name of something other than a person.
	thingNames = []string{"team", "service", "type", "council", "authority", "la", "unit", "org", "organisation",
		"organization", "district", "area", "file", "quota", "grade", "role", "status", "category", "case", "casetype", "site", "office"}
	birthPhrases   = []string{"birth", "dob"}
	addressPhrases = []string{"address", "street", "postcode", "postalcode", "zipcode", "housenumber", "houseno", "uprn", "email", "phone", "mobile"}
	addressWords   = []string{"addr", "zip", "tel"}
	nhsPhrases     = []string{"nhs", "chinumber"}
	nhsWords       = []string{"chi", "chino"}
	idPhrases      = []string{"nationalinsurance", "ninumber", "uniquepupilnumber"}
	idWords        = []string{"nino", "upn"}
)

// headerWords splits a header into lower-case words: "Child's DOB" is child, s, dob and
// "FirstName" is first, name.
func headerWords(h string) []string {
	var words []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	rs := []rune(h)
	for i, r := range rs {
		switch {
		case !unicode.IsLetter(r) && !unicode.IsDigit(r):
			flush()
		case unicode.IsUpper(r) && i > 0 && unicode.IsLower(rs[i-1]):
			flush()
			cur = append(cur, r)
		default:
			cur = append(cur, r)
		}
	}
	flush()
	return words
}

// headerLooksPersonal says what a column's header makes it look like, or "" when nothing.
func headerLooksPersonal(h string) string {
	words := headerWords(h)
	compact := strings.Join(words, "")
	has := func(phrases []string) bool {
		return slices.ContainsFunc(phrases, func(p string) bool { return strings.Contains(compact, p) })
	}
	word := func(ws []string) bool {
		return slices.ContainsFunc(words, func(w string) bool { return slices.Contains(ws, w) })
	}
	switch {
	case has(nhsPhrases) || word(nhsWords):
		return "an NHS number (or CHI number)"
	case has(idPhrases) || word(idWords):
		return "a personal identifier (National Insurance or unique pupil number)"
	case has(birthPhrases) || word([]string{"dob"}):
		return "a date of birth"
	case has(addressPhrases) || word(addressWords):
		return "an address or contact detail"
	case word(nameWords) || has(namePhrases):
		return "a person's name"
	}
	for i, w := range words {
		if (w == "name" || w == "names") && (i == 0 || !slices.Contains(thingNames, words[i-1])) {
			return "a person's name"
		}
	}
	return ""
}

var (
	nhsShape = regexp.MustCompile(`^\d{3}[ -]?\d{3}[ -]?\d{4}$`)
	// UK postcodes as Royal Mail writes them, the space optional.
	postcodeShape = regexp.MustCompile(`^(?i:GIR ?0AA|[A-PR-UWYZ][A-HK-Y]?[0-9][0-9A-HJKPSTUW]? ?[0-9][ABD-HJLNP-UW-Z]{2})$`)
	emailShape    = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
)

// validNHSNumber reports whether s is ten digits (spaces or hyphens in the 3-3-4 groups allowed)
// whose last is the modulus 11 check digit of the first nine, as every NHS number's is.
func validNHSNumber(s string) bool {
	s = strings.TrimSpace(s)
	if !nhsShape.MatchString(s) {
		return false
	}
	digits := strings.NewReplacer(" ", "", "-", "").Replace(s)
	sum := 0
	for i := range 9 {
		sum += int(digits[i]-'0') * (10 - i)
	}
	check := 11 - sum%11
	if check == 11 {
		check = 0
	}
	return check != 10 && check == int(digits[9]-'0')
}

// valuesLookPersonal says what a column's values make it look like, or "" when nothing: NHS
// numbers when nearly all of its ten-digit values pass the NHS check (a tenth of any ten-digit
// numbers would), postcodes when nearly all its values are postcodes, email addresses when any
// value is one.
func valuesLookPersonal(values []string) string {
	filled, tenDigits, nhs, postcodes, emails := 0, 0, 0, 0, 0
	for _, v := range values {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		filled++
		if nhsShape.MatchString(v) {
			tenDigits++
			if validNHSNumber(v) {
				nhs++
			}
		}
		if postcodeShape.MatchString(v) {
			postcodes++
		}
		if emailShape.MatchString(v) {
			emails++
		}
	}
	switch {
	case nhs > 0 && nhs*10 >= tenDigits*9:
		return "NHS numbers: its values pass the NHS number check"
	case postcodes > 0 && postcodes*10 >= filled*9:
		return "postcodes: its values are written as postcodes"
	case emails > 0:
		return "email addresses: its values are email addresses"
	}
	return ""
}

// personalData is every column of x that looks like personal data, by its header or by its
// values, whether or not the import reads it.
func personalData(x *extract) []personalColumn {
	var out []personalColumn
	values := make([]string, 0, len(x.records))
	for i, h := range x.header {
		looks := headerLooksPersonal(h)
		if looks == "" {
			values = values[:0]
			for _, r := range x.records {
				values = append(values, r.fields[i])
			}
			looks = valuesLookPersonal(values)
		}
		if looks != "" {
			out = append(out, personalColumn{File: x.file, Column: i + 1, Header: h, Looks: looks})
		}
	}
	return out
}

// personalDataError is the refusal of extracts that hold personal data: it names each column
// and what to do, and never repeats a value.
type personalDataError struct{ columns []personalColumn }

func (e *personalDataError) Error() string {
	var b strings.Builder
	b.WriteString("nothing was imported: the extract holds what looks like personal data\n")
	for _, c := range e.columns {
		fmt.Fprintf(&b, "  %s\n", c)
	}
	b.WriteString("Remove these columns from the extract (from the report or query that produces it) and import again. " +
		"A case is known here by its pseudonymous reference only: never a name, a date of birth, an address or an NHS number " +
		"(see docs/import.md). Practitioners are known by worker id only.")
	return b.String()
}

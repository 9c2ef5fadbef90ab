package importer

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// extract is a CSV file from a case-management system as read: its header and its records, each
// with the line it starts on.
type extract struct {
	file    string
	header  []string
	records []record
	// malformed are the lines that could not be read as a record of the header's fields.
	malformed []rowProblem
}

type record struct {
	line   int
	fields []string
}

// rowProblem is a row the import leaves out, and why.
type rowProblem struct {
	File string `json:"file"`
	Line int    `json:"line"`
	// Key is the row's case reference or worker id, where it is a pseudonymous token.
	Key    string `json:"key,omitempty"`
	Reason string `json:"reason"`
}

func (p rowProblem) String() string {
	where := fmt.Sprintf("%s line %d", p.File, p.Line)
	if p.Key != "" {
		where += " (" + p.Key + ")"
	}
	return where + ": " + p.Reason
}

// readExtract reads a CSV file whose first line is its header. A line that is not a record of
// the header's fields is kept as malformed, and reading goes on. What is said about its rows
// names the file without its directory.
func readExtract(path string, delimiter rune) (*extract, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseExtract(filepath.Base(path), f, delimiter)
}

func parseExtract(name string, in io.Reader, delimiter rune) (*extract, error) {
	r := csv.NewReader(bufio.NewReaderSize(in, 1<<16))
	r.Comma = delimiter
	r.FieldsPerRecord = -1
	x := &extract{file: name}
	header, err := r.Read()
	switch {
	case errors.Is(err, io.EOF):
		return nil, fmt.Errorf("%s is empty: an extract starts with a header line naming its columns", name)
	case err != nil:
		return nil, fmt.Errorf("%s: the header line cannot be read: %w", name, err)
	}
	for i, h := range header {
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff") // the byte-order mark spreadsheets write
		}
		x.header = append(x.header, strings.TrimSpace(h))
	}
	seen := map[string]int{}
	for i, h := range x.header {
		if h == "" {
			continue
		}
		if j, ok := seen[normalHeader(h)]; ok {
			return nil, fmt.Errorf("%s: columns %d and %d are both headed %q: which is which cannot be told", name, j+1, i+1, h)
		}
		seen[normalHeader(h)] = i
	}
	for {
		fields, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var parseErr *csv.ParseError
		if errors.As(err, &parseErr) {
			x.malformed = append(x.malformed, rowProblem{File: name, Line: parseErr.StartLine, Reason: "not a line of CSV: " + parseErr.Err.Error()})
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		line, _ := r.FieldPos(0)
		if blank(fields) {
			continue // the empty lines spreadsheets leave at the end
		}
		if last := lastLine(r, fields); last > line {
			// A quote left open takes the lines after it into one field: those rows would vanish
			// into this one. No column an import reads holds more than a line.
			x.malformed = append(x.malformed, rowProblem{File: name, Line: line,
				Reason: fmt.Sprintf("a quoted field runs on to line %d: close the quote on this line (a field the import reads is one line)", last)})
			for l := line + 1; l <= last; l++ {
				x.malformed = append(x.malformed, rowProblem{File: name, Line: l, Reason: fmt.Sprintf("read into the quoted field that starts on line %d", line)})
			}
			continue
		}
		if len(fields) != len(x.header) {
			x.malformed = append(x.malformed, rowProblem{File: name, Line: line,
				Reason: fmt.Sprintf("%d fields where the header has %d: a field with the delimiter in it must be quoted", len(fields), len(x.header))})
			continue
		}
		x.records = append(x.records, record{line: line, fields: fields})
	}
	return x, nil
}

// lastLine is the line the record r has just read ends on: the line of its last field, and of any
// line breaks inside its fields.
func lastLine(r *csv.Reader, fields []string) int {
	last := 0
	for i, f := range fields {
		l, _ := r.FieldPos(i)
		last = max(last, l+strings.Count(f, "\n"))
	}
	return last
}

func blank(fields []string) bool {
	for _, f := range fields {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// normalHeader is a header as it is matched: case, spaces, hyphens and underscores aside, so
// "Allocated Worker" is the column allocated_worker.
func normalHeader(h string) string {
	return strings.NewReplacer(" ", "_", "-", "_").Replace(strings.ToLower(strings.TrimSpace(h)))
}

// columns finds the column of each field of c: -1 for an optional field the extract does not
// have. A required field, or one the mapping file names, must be there.
func (x *extract) columns(c columnMap) (map[string]int, error) {
	at := map[string]int{}
	for i, h := range x.header {
		if h != "" {
			at[normalHeader(h)] = i
		}
	}
	out := map[string]int{}
	var missing []string
	for _, f := range c.fields {
		h := c.headers[f.key]
		i, ok := at[normalHeader(h)]
		switch {
		case ok && h != "":
			out[f.key] = i
		case f.required || c.explicit[f.key]:
			missing = append(missing, fmt.Sprintf("%s (column %q)", f.key, h))
		default:
			out[f.key] = -1
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s has no column for %s; its columns are %s (a mapping file, --mapping, says which column holds each field)",
			x.file, strings.Join(missing, ", "), strings.Join(quoted(x.header), ", "))
	}
	return out, nil
}

func quoted(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

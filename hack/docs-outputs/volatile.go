package main

import (
	"regexp"
	"strings"
)

// Some of what the commands print differs from run to run however fixed the day: kubectl tells
// an object's age by the real clock, and the operator's clock, set to the fixed instant when the
// sandbox starts, runs on from it, so what admission stamps carries the time it happened. A page
// shows what a run printed; the check, and a run that writes (which leaves a block alone when
// only these differ), compare with these, and only these, masked:
//
//   - a cell of an AGE column (kubectl's tables: the header names the column);
//   - the time of day of an RFC 3339 timestamp (its date stays: the fixed day's);
//   - the time of day an ExceptionApproval's name ends with (CASE-YYYYMMDD-HHMMSS; the date stays).
//
// Figures, bands, names and counts are never masked: they are what the pages are for.
var (
	timeOfDay    = regexp.MustCompile(`\b(\d{4}-\d{2}-\d{2}T)\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})`)
	approvalName = regexp.MustCompile(`\b(c-\d+-\d{8}-)\d{6}\b`)
)

// masked is lines with what varies from run to run masked, for comparing.
func masked(lines []string) []string {
	out := make([]string, len(lines))
	age := -1 // the AGE column's offset in the table being read, or -1
	for i, l := range lines {
		switch {
		case l == "" || strings.HasPrefix(l, prompt):
			age = -1
		case strings.HasPrefix(l, "NAME "):
			age = column(l, "AGE")
		case age >= 0 && len(l) > age:
			end := strings.IndexByte(l[age:], ' ')
			if end < 0 {
				end = len(l) - age
			}
			l = l[:age] + "<age>" + l[age+end:]
		}
		l = timeOfDay.ReplaceAllString(l, "${1}<time>${3}")
		out[i] = approvalName.ReplaceAllString(l, "${1}<time>")
	}
	return out
}

// column is the offset of the column named name in a table's header line, or -1.
func column(header, name string) int {
	for i := 0; i+len(name) <= len(header); i++ {
		if header[i:i+len(name)] == name && (i == 0 || header[i-1] == ' ') &&
			(i+len(name) == len(header) || header[i+len(name)] == ' ') {
			return i
		}
	}
	return -1
}

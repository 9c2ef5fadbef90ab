// Package words writes the counts and names people read in messages, status and output: "1 case",
// "3 practitioners", "2 policies". Every package that counts something in prose counts it here,
// so that no message says "1 councils".
package words

import (
	"strconv"
	"strings"
)

// irregular are the plurals that no rule below gives.
var irregular = map[string]string{"child": "children", "person": "people", "is": "are", "was": "were", "has": "have"}

// Plural is the plural of noun, whose last word is the one that changes ("open case" becomes
// "open cases").
func Plural(noun string) string {
	head, last := "", noun
	if i := strings.LastIndexByte(noun, ' '); i >= 0 {
		head, last = noun[:i+1], noun[i+1:]
	}
	if p, ok := irregular[last]; ok {
		return head + p
	}
	switch {
	case strings.HasSuffix(last, "y") && len(last) > 1 && !strings.ContainsRune("aeiou", rune(last[len(last)-2])):
		return head + last[:len(last)-1] + "ies"
	case strings.HasSuffix(last, "s"), strings.HasSuffix(last, "x"), strings.HasSuffix(last, "ch"), strings.HasSuffix(last, "sh"):
		return head + last + "es"
	}
	return head + last + "s"
}

// Count is n and noun, in the plural unless n is 1: "1 case", "0 cases", "12 practitioners".
func Count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + Plural(noun)
}

// Of is noun in the plural unless n is 1, without the number: for "3 of 5 practitioners".
func Of(n int, noun string) string {
	if n == 1 {
		return noun
	}
	return Plural(noun)
}

// Package policy is the caseload policy engine: case weights, effective capacity, bands, the
// allocation decision and the audit of a team. It is pure Go with no Kubernetes client, shared
// by the reconcilers, the admission webhook and the kubectl plugin, so every one of them reaches
// the same figures and says them the same way.
//
// All arithmetic is exact, in thousandths (Milli). Weights round up and capacities round down to
// the thousandth, so rounding never admits an allocation that the exact figures would refuse.
package policy

import (
	"fmt"
	"strconv"
	"strings"
)

// Milli is a decimal figure in thousandths: 1500 is 1.5.
type Milli int64

// One is 1 in thousandths.
const One Milli = 1000

// maxIntegerDigits bounds parsed figures so that a product of two never overflows int64.
const maxIntegerDigits = 6

// ParseMilli parses a decimal such as "15", "1.5" or "-0.25" with at most three decimals.
func ParseMilli(s string) (Milli, error) {
	text := s
	negative := strings.HasPrefix(text, "-")
	if negative {
		text = text[1:]
	}
	whole, frac, hasPoint := strings.Cut(text, ".")
	if whole == "" || len(whole) > maxIntegerDigits || (hasPoint && (frac == "" || len(frac) > 3)) {
		return 0, fmt.Errorf("%q is not a decimal with at most %d digits before and 3 after the point", s, maxIntegerDigits)
	}
	for _, r := range whole + frac {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("%q is not a decimal with at most %d digits before and 3 after the point", s, maxIntegerDigits)
		}
	}
	w, _ := strconv.ParseInt(whole, 10, 64)
	f := int64(0)
	if frac != "" {
		f, _ = strconv.ParseInt((frac + "00")[:3], 10, 64)
	}
	m := Milli(w*1000 + f)
	if negative {
		m = -m
	}
	return m, nil
}

// MustParseMilli parses a decimal known to be valid, such as a literal in a test.
func MustParseMilli(s string) Milli {
	m, err := ParseMilli(s)
	if err != nil {
		panic(err)
	}
	return m
}

// String writes the figure as a manager reads it: "15", "15.6", "0.125", "-2.5".
func (m Milli) String() string {
	sign := ""
	v := int64(m)
	if v < 0 {
		sign = "-"
		v = -v
	}
	whole, frac := v/1000, v%1000
	if frac == 0 {
		return fmt.Sprintf("%s%d", sign, whole)
	}
	return strings.TrimRight(fmt.Sprintf("%s%d.%03d", sign, whole, frac), "0")
}

// mulDivUp returns ceil(a*b/d) for non-negative a, b and positive d.
func mulDivUp(a, b, d int64) int64 {
	p := a * b
	q := p / d
	if p%d != 0 && p > 0 {
		q++
	}
	return q
}

// mulDivDown returns floor(a*b/d) for non-negative a, b and positive d.
func mulDivDown(a, b, d int64) int64 {
	return a * b / d
}

// percentOf returns how many whole percent a is of b, rounded down; 0 when b is 0.
func percentOf(a, b Milli) int32 {
	if b <= 0 {
		return 0
	}
	return int32(mulDivDown(int64(a), 100, int64(b)))
}

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
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// Milli is a decimal figure in thousandths: 1500 is 1.5.
type Milli int64

// One is 1 in thousandths.
const One Milli = 1000

// The largest figures the CRD schema allows, so that the engine applies the same bounds to a
// quota read from a file: a Decimal (caps, FTE), a CaseWeight and a Multiplier. With them a case
// weighs at most 9999.999 x 99.999 + 9999.999 x 19 (about 1.19 million), and the sums status
// holds stay far inside int64 thousandths (docs/capacity.md).
const (
	MaxDecimal    Milli = 999_999_999
	MaxCaseWeight Milli = 9_999_999
	MaxMultiplier Milli = 99_999
)

// maxIntegerDigits is the most digits before the point that a figure may have: status figures
// (v1alpha1.Figure) are sums and reach sixteen, the most int64 thousandths hold.
const maxIntegerDigits = 16

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
	if w > (math.MaxInt64-999)/1000 {
		return 0, fmt.Errorf("%q is too large a figure", s)
	}
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

// mulDivUp returns ceil(a*b/d) for non-negative a, b and positive d. The product is taken in
// 128 bits, so figures as large as the schema allows (a six-digit average times the FTE of every
// member of a council) never overflow; a quotient beyond int64 saturates at its largest value.
func mulDivUp(a, b, d int64) int64 {
	q, r := mulDiv(a, b, d)
	if r != 0 && q < math.MaxInt64 {
		q++
	}
	return q
}

// mulDivDown returns floor(a*b/d) for non-negative a, b and positive d (see mulDivUp).
func mulDivDown(a, b, d int64) int64 {
	q, _ := mulDiv(a, b, d)
	return q
}

func mulDiv(a, b, d int64) (q int64, r uint64) {
	if a <= 0 || b <= 0 {
		return 0, 0
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi >= uint64(d) {
		return math.MaxInt64, 0
	}
	uq, ur := bits.Div64(hi, lo, uint64(d))
	if uq > math.MaxInt64 {
		return math.MaxInt64, 0
	}
	return int64(uq), ur
}

// exceeds reports whether a*b > c*d for non-negative figures, compared exactly in 128 bits.
func exceeds(a, b, c, d int64) bool {
	h1, l1 := bits.Mul64(uint64(max(a, 0)), uint64(max(b, 0)))
	h2, l2 := bits.Mul64(uint64(max(c, 0)), uint64(max(d, 0)))
	return h1 > h2 || (h1 == h2 && l1 > l2)
}

// PercentOf returns how many whole percent a is of b, rounded down; 0 when b is 0: the
// utilisation status shows, and the health-check report too.
func PercentOf(a, b Milli) int32 {
	if b <= 0 {
		return 0
	}
	return int32(mulDivDown(int64(a), 100, int64(b)))
}

package policy

import (
	"fmt"
	"time"
)

// Day is a calendar day, held as midnight UTC. Councils count days, not hours.
type Day struct{ t time.Time }

// ParseDay parses YYYY-MM-DD.
func ParseDay(s string) (Day, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Day{}, fmt.Errorf("%q is not a date written YYYY-MM-DD", s)
	}
	return Day{t}, nil
}

// MustParseDay parses a date known to be valid, such as a literal in a test.
func MustParseDay(s string) Day {
	d, err := ParseDay(s)
	if err != nil {
		panic(err)
	}
	return d
}

// DayOf is the calendar day (UTC) of an instant.
func DayOf(t time.Time) Day {
	y, m, d := t.UTC().Date()
	return Day{time.Date(y, m, d, 0, 0, 0, 0, time.UTC)}
}

// IsZero reports whether the day was never set.
func (d Day) IsZero() bool { return d.t.IsZero() }

// AddDays is the day n days later.
func (d Day) AddDays(n int) Day { return Day{d.t.AddDate(0, 0, n)} }

// Before reports whether d is earlier than o.
func (d Day) Before(o Day) bool { return d.t.Before(o.t) }

// After reports whether d is later than o.
func (d Day) After(o Day) bool { return d.t.After(o.t) }

// DaysSince is the number of whole days from o to d.
func (d Day) DaysSince(o Day) int { return int(d.t.Sub(o.t).Hours() / 24) }

// Start is the instant the day begins.
func (d Day) Start() time.Time { return d.t }

// String writes the day as YYYY-MM-DD.
func (d Day) String() string {
	if d.t.IsZero() {
		return ""
	}
	return d.t.Format(time.DateOnly)
}

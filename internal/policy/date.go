package policy

import (
	"fmt"
	"time"
)

// Day is a calendar day. Councils count days, not hours: which day it is, and when the next
// one begins, is a question for the council's Calendar.
type Day struct{ t time.Time } // midnight UTC of the date, for arithmetic only

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

// String writes the day as YYYY-MM-DD.
func (d Day) String() string {
	if d.t.IsZero() {
		return ""
	}
	return d.t.Format(time.DateOnly)
}

// earliest is the earlier of two days, ignoring a zero one.
func earliest(a, b Day) Day {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// Calendar places instants on the days of one council: its time zone decides which day it is,
// and when a day begins. Every day boundary (overdue, allocation deadlines, the end of a
// reduction or an absence, "today") is counted in it. The zero Calendar is UTC.
type Calendar struct{ loc *time.Location }

// UTC is the calendar of a council that names no time zone.
var UTC = Calendar{}

// CalendarIn is the calendar of a time zone.
func CalendarIn(loc *time.Location) Calendar { return Calendar{loc: loc} }

// LoadCalendar is the calendar of an IANA time zone name such as "Europe/London"; an empty
// name is UTC.
func LoadCalendar(name string) (Calendar, error) {
	if name == "" {
		return UTC, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return UTC, fmt.Errorf("%q is not a known IANA time zone, such as Europe/London", name)
	}
	return Calendar{loc: loc}, nil
}

// Location is the calendar's time zone.
func (c Calendar) Location() *time.Location {
	if c.loc == nil {
		return time.UTC
	}
	return c.loc
}

// Name is the time zone's name, e.g. "Europe/London" or "UTC".
func (c Calendar) Name() string { return c.Location().String() }

// DayOf is the day on which the instant falls in the council's time zone.
func (c Calendar) DayOf(t time.Time) Day {
	y, m, d := t.In(c.Location()).Date()
	return Day{time.Date(y, m, d, 0, 0, 0, 0, time.UTC)}
}

// Start is the instant the day begins in the council's time zone. On a day whose midnight a
// daylight-saving change skips, it is the first instant of the day that exists.
func (c Calendar) Start(d Day) time.Time {
	if d.IsZero() {
		return time.Time{}
	}
	y, m, dd := d.t.Date()
	return time.Date(y, m, dd, 0, 0, 0, 0, c.Location())
}

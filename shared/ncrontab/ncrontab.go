// Package ncrontab parses the six-field NCRONTAB schedules of Azure Functions
// timer triggers and computes when they next fire, so a standalone server can
// run a timer function from the schedule in its function.json.
//
// An expression has six whitespace-separated fields:
//
//	{second} {minute} {hour} {day} {month} {day-of-week}
//
// Each field is "*", a number, a range "a-b", a step "*/n", "a-b/n" or "a/n"
// (from a to the field's maximum), or a comma-separated list of these.
// Months accept JAN..DEC and days of the week SUN..SAT (case-insensitive);
// day-of-week 0 and 7 both mean Sunday.
//
// As in classic cron, when both the day and day-of-week fields are restricted
// (neither is exactly "*"), a day matches if either field matches; when one
// of them is "*", only the other one restricts.
package ncrontab

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// Field indexes, in the order they appear in an expression.
const (
	fSecond = iota
	fMinute
	fHour
	fDay
	fMonth
	fDayOfWeek
	numFields
)

// searchYears bounds Next so impossible schedules such as "0 0 0 30 2 *"
// return instead of searching forever.
const searchYears = 5

// fieldSpec describes the values one field accepts.
type fieldSpec struct {
	name string
	min  int
	// max is the largest value "*" and "a/n" expand to.
	max int
	// limit is the largest value accepted literally; it differs from max
	// only for day-of-week, where 7 is an alias for Sunday.
	limit int
	// names maps three-letter names to values, starting at min.
	names []string
}

// fieldSpecs is a constant table indexed by field.
var fieldSpecs = [numFields]fieldSpec{
	fSecond: {name: "second", min: 0, max: 59, limit: 59},
	fMinute: {name: "minute", min: 0, max: 59, limit: 59},
	fHour:   {name: "hour", min: 0, max: 23, limit: 23},
	fDay:    {name: "day", min: 1, max: 31, limit: 31},
	fMonth: {name: "month", min: 1, max: 12, limit: 12, names: []string{
		"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
		"JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
	}},
	fDayOfWeek: {name: "day-of-week", min: 0, max: 6, limit: 7, names: []string{
		"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT",
	}},
}

// Schedule is a parsed NCRONTAB expression. It is immutable and safe for
// concurrent use.
type Schedule struct {
	// masks holds one bit per allowed value of each field (bit v = value v).
	masks [numFields]uint64
	// domStar and dowStar record whether the day and day-of-week fields
	// were exactly "*", which decides how the two combine.
	domStar, dowStar bool
	expr             string
}

// Parse parses "{second} {minute} {hour} {day} {month} {day-of-week}".
func Parse(expr string) (*Schedule, error) {
	fields := strings.Fields(expr)
	if len(fields) != numFields {
		return nil, fmt.Errorf("ncrontab: expected 6 fields {second} {minute} {hour} {day} {month} {day-of-week}, found %d in %q", len(fields), expr)
	}
	s := &Schedule{expr: strings.Join(fields, " ")}
	for i, text := range fields {
		mask, err := parseField(&fieldSpecs[i], text)
		if err != nil {
			return nil, fmt.Errorf("ncrontab: %s field %q: %w", fieldSpecs[i].name, text, err)
		}
		s.masks[i] = mask
	}
	s.domStar = fields[fDay] == "*"
	s.dowStar = fields[fDayOfWeek] == "*"
	return s, nil
}

// String returns the expression as parsed (normalised whitespace).
func (s *Schedule) String() string {
	if s == nil {
		return ""
	}
	return s.expr
}

// parseField turns one field into a bit mask. Errors omit the field name;
// Parse adds it.
func parseField(spec *fieldSpec, text string) (uint64, error) {
	var mask uint64
	for item := range strings.SplitSeq(text, ",") {
		if item == "" {
			return 0, fmt.Errorf("empty list item")
		}
		m, err := parseItem(spec, item)
		if err != nil {
			return 0, err
		}
		mask |= m
	}
	return mask, nil
}

// parseItem parses one list item: "*", "a", "a-b", each optionally "/n".
func parseItem(spec *fieldSpec, item string) (uint64, error) {
	base, stepText, hasStep := strings.Cut(item, "/")
	step := 1
	if hasStep {
		if strings.Contains(stepText, "/") {
			return 0, fmt.Errorf("malformed step in %q: more than one \"/\"", item)
		}
		if base == "" {
			return 0, fmt.Errorf("missing value before \"/\" in %q", item)
		}
		if stepText == "" {
			return 0, fmt.Errorf("missing step after \"/\" in %q", item)
		}
		n, ok := parseNumber(stepText)
		if !ok {
			return 0, fmt.Errorf("invalid step %q", stepText)
		}
		// A step wider than the field can only ever select its start, which
		// almost certainly is not what was meant.
		span := spec.max - spec.min + 1
		if n < 1 || n > span {
			return 0, fmt.Errorf("step %s out of range 1-%d", stepText, span)
		}
		step = n
	}

	var lo, hi int
	switch {
	case base == "*":
		lo, hi = spec.min, spec.max
	case strings.Contains(base, "-"):
		loText, hiText, _ := strings.Cut(base, "-")
		if loText == "" || hiText == "" || strings.Contains(hiText, "-") {
			return 0, fmt.Errorf("malformed range %q", base)
		}
		var err error
		if lo, err = parseValue(spec, loText); err != nil {
			return 0, err
		}
		if hi, err = parseValue(spec, hiText); err != nil {
			return 0, err
		}
		if lo > hi {
			return 0, fmt.Errorf("range %s is reversed", base)
		}
	default:
		v, err := parseValue(spec, base)
		if err != nil {
			return 0, err
		}
		lo, hi = v, v
		if hasStep {
			// "a/n" runs from a to the end of the field.
			hi = max(spec.max, v)
		}
	}

	var mask uint64
	for v := lo; v <= hi; v += step {
		mask |= 1 << uint(v)
	}
	if spec.limit > spec.max && mask&(1<<uint(spec.limit)) != 0 {
		// Day-of-week 7 is Sunday; fold it onto 0 so matching needs no
		// special case.
		mask = mask&^(1<<uint(spec.limit)) | 1<<uint(spec.min)
	}
	return mask, nil
}

// parseValue parses a number or, where the field has them, a name.
func parseValue(spec *fieldSpec, text string) (int, error) {
	if n, ok := parseNumber(text); ok {
		if n < spec.min || n > spec.limit {
			return 0, fmt.Errorf("value %s out of range %d-%d", text, spec.min, spec.limit)
		}
		return n, nil
	}
	for i, name := range spec.names {
		if strings.EqualFold(text, name) {
			return spec.min + i, nil
		}
	}
	return 0, fmt.Errorf("invalid value %q", text)
}

// parseNumber accepts only plain decimal digits; strconv.Atoi alone would
// also allow signs. Over-long numbers fail rather than overflow.
func parseNumber(text string) (int, bool) {
	if text == "" || len(text) > 9 {
		return 0, false
	}
	for i := 0; i < len(text); i++ {
		if text[i] < '0' || text[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(text)
	return n, err == nil
}

// Next returns the first instant strictly after t (evaluated in t's
// location; callers pass UTC) that matches, or the zero time if none within
// 5 years (e.g. "0 0 0 30 2 *").
//
// Matching uses the wall clock of t's location: wall times skipped by a DST
// transition never fire, and a repeated wall time fires once.
func (s *Schedule) Next(t time.Time) time.Time {
	if s == nil {
		return time.Time{}
	}
	loc := t.Location()
	// Search on the wall clock expressed in UTC, where every day has 24
	// hours, and map candidates back to loc only once they match.
	w := wallOf(t).Add(time.Second)
	limit := w.AddDate(searchYears, 0, 0)
	for w.Before(limit) {
		year, month, day := w.Date()
		hour, minute, second := w.Clock()

		if m, ok := nextBit(s.masks[fMonth], int(month)); !ok {
			w = time.Date(year+1, time.January, 1, 0, 0, 0, 0, time.UTC)
			continue
		} else if m != int(month) {
			w = time.Date(year, time.Month(m), 1, 0, 0, 0, 0, time.UTC)
			continue
		}
		if !s.dayMatches(w) {
			w = time.Date(year, month, day+1, 0, 0, 0, 0, time.UTC)
			continue
		}
		if h, ok := nextBit(s.masks[fHour], hour); !ok {
			w = time.Date(year, month, day+1, 0, 0, 0, 0, time.UTC)
			continue
		} else if h != hour {
			w = time.Date(year, month, day, h, 0, 0, 0, time.UTC)
			continue
		}
		if m, ok := nextBit(s.masks[fMinute], minute); !ok {
			w = time.Date(year, month, day, hour+1, 0, 0, 0, time.UTC)
			continue
		} else if m != minute {
			w = time.Date(year, month, day, hour, m, 0, 0, time.UTC)
			continue
		}
		if sec, ok := nextBit(s.masks[fSecond], second); !ok {
			w = time.Date(year, month, day, hour, minute+1, 0, 0, time.UTC)
			continue
		} else if sec != second {
			w = time.Date(year, month, day, hour, minute, sec, 0, time.UTC)
			continue
		}

		if r, ok := instant(w, t, loc); ok {
			return r
		}
		w = w.Add(time.Second)
	}
	return time.Time{}
}

// dayMatches applies the day and day-of-week fields to the date of w.
func (s *Schedule) dayMatches(w time.Time) bool {
	dom := s.masks[fDay]&(1<<uint(w.Day())) != 0
	dow := s.masks[fDayOfWeek]&(1<<uint(w.Weekday())) != 0
	if !s.domStar && !s.dowStar {
		return dom || dow
	}
	// A "*" field has every bit set, so this leaves only the other one.
	return dom && dow
}

// matches reports whether the wall clock w satisfies every field.
func (s *Schedule) matches(w time.Time) bool {
	hour, minute, second := w.Clock()
	return s.masks[fMonth]&(1<<uint(w.Month())) != 0 &&
		s.dayMatches(w) &&
		s.masks[fHour]&(1<<uint(hour)) != 0 &&
		s.masks[fMinute]&(1<<uint(minute)) != 0 &&
		s.masks[fSecond]&(1<<uint(second)) != 0
}

// nextBit returns the smallest set bit of mask at or above from.
func nextBit(mask uint64, from int) (int, bool) {
	rest := mask >> uint(from) << uint(from)
	if rest == 0 {
		return 0, false
	}
	return bits.TrailingZeros64(rest), true
}

// wallOf returns t's wall clock, to whole seconds, as a UTC time.
func wallOf(t time.Time) time.Time {
	year, month, day := t.Date()
	hour, minute, second := t.Clock()
	return time.Date(year, month, day, hour, minute, second, 0, time.UTC)
}

// instant maps the wall clock w to an instant in loc that is after t. It
// fails when w does not exist in loc (a DST gap) or every instant with that
// wall clock is not after t.
func instant(w, t time.Time, loc *time.Location) (time.Time, bool) {
	year, month, day := w.Date()
	hour, minute, second := w.Clock()
	r := time.Date(year, month, day, hour, minute, second, 0, loc)
	if !wallOf(r).Equal(w) {
		return time.Time{}, false
	}
	if r.After(t) {
		return r, true
	}
	// time.Date picked an earlier occurrence of a repeated wall time; t may
	// sit in the later one, which uses t's own offset.
	_, offset := t.Zone()
	alt := w.Add(-time.Duration(offset) * time.Second).In(loc)
	if wallOf(alt).Equal(w) && alt.After(t) {
		return alt, true
	}
	return time.Time{}, false
}

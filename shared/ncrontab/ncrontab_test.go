package ncrontab

import (
	"strings"
	"testing"
	"time"
)

// at parses an RFC 3339 time for test tables.
func at(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("bad test time %q: %v", s, err)
	}
	return v
}

func TestNext(t *testing.T) {
	tests := []struct {
		name string
		expr string
		from string
		want string // empty means the zero time
	}{
		// Azure Functions examples from function.json schedules.
		{"daily later today", "0 0 2 * * *", "2026-06-15T01:00:00Z", "2026-06-15T02:00:00Z"},
		{"daily strictly after", "0 0 2 * * *", "2026-06-15T02:00:00Z", "2026-06-16T02:00:00Z"},
		{"daily sub-second past", "0 0 2 * * *", "2026-06-15T02:00:00.5Z", "2026-06-16T02:00:00Z"},
		{"daily just before", "0 0 2 * * *", "2026-06-15T01:59:59.999Z", "2026-06-15T02:00:00Z"},
		{"daily year rollover", "0 0 2 * * *", "2026-12-31T03:00:00Z", "2027-01-01T02:00:00Z"},
		{"every 5 minutes", "0 */5 * * * *", "2026-06-15T10:03:17Z", "2026-06-15T10:05:00Z"},
		{"every 5 minutes hour rollover", "0 */5 * * * *", "2026-06-15T10:55:00Z", "2026-06-15T11:00:00Z"},
		{"every 10 seconds", "*/10 * * * * *", "2026-06-15T10:00:05Z", "2026-06-15T10:00:10Z"},
		{"every 10 seconds year rollover", "*/10 * * * * *", "2026-12-31T23:59:55Z", "2027-01-01T00:00:00Z"},
		{"every second", "* * * * * *", "2026-06-15T10:00:00.999Z", "2026-06-15T10:00:01Z"},
		{"last second of year", "59 59 23 31 12 *", "2026-06-15T00:00:00Z", "2026-12-31T23:59:59Z"},
		{"new year", "0 0 0 1 1 *", "2026-12-31T23:59:59Z", "2027-01-01T00:00:00Z"},

		// Day and month rollover.
		{"first of month", "0 0 0 1 * *", "2026-01-31T12:00:00Z", "2026-02-01T00:00:00Z"},
		{"31st skips 30-day month", "0 0 0 31 * *", "2026-04-01T00:00:00Z", "2026-05-31T00:00:00Z"},
		{"30th skips february", "0 0 0 30 * *", "2026-02-01T00:00:00Z", "2026-03-30T00:00:00Z"},
		{"feb 29 in leap year 2028", "0 0 12 29 2 *", "2026-03-01T00:00:00Z", "2028-02-29T12:00:00Z"},
		{"feb 29 next leap year", "0 0 0 29 2 *", "2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"},
		{"feb 28 then mar 1 in leap year", "0 0 0 1 3 *", "2028-02-28T00:00:00Z", "2028-03-01T00:00:00Z"},

		// Impossible dates.
		{"feb 30 never", "0 0 0 30 2 *", "2026-01-01T00:00:00Z", ""},
		{"31st of short months never", "0 0 0 31 4,6,9,11 *", "2026-01-01T00:00:00Z", ""},

		// Lists, ranges and steps.
		{"list same hour", "0 15,45 8,17 * * *", "2026-06-15T08:20:00Z", "2026-06-15T08:45:00Z"},
		{"list next hour in list", "0 15,45 8,17 * * *", "2026-06-15T08:45:00Z", "2026-06-15T17:15:00Z"},
		{"list next day", "0 15,45 8,17 * * *", "2026-06-15T17:50:00Z", "2026-06-16T08:15:00Z"},
		{"range step minutes", "0 10-30/10 * * * *", "2026-06-15T10:31:00Z", "2026-06-15T11:10:00Z"},
		{"range step hours", "0 0 1-10/3 * * *", "2026-06-15T05:00:00Z", "2026-06-15T07:00:00Z"},
		{"range step hours past end", "0 0 1-10/3 * * *", "2026-06-15T10:00:00Z", "2026-06-16T01:00:00Z"},
		{"start step runs to max", "30/15 * * * * *", "2026-06-15T10:00:46Z", "2026-06-15T10:01:30Z"},
		{"start step within minute", "30/15 * * * * *", "2026-06-15T10:00:31Z", "2026-06-15T10:00:45Z"},
		{"mixed list items", "0 0 0 1,10-12,20/5 * *", "2026-06-12T00:00:00Z", "2026-06-20T00:00:00Z"},
		{"mixed list items step", "0 0 0 1,10-12,20/5 * *", "2026-06-25T00:00:00Z", "2026-06-30T00:00:00Z"},
		{"mixed list items wrap month", "0 0 0 1,10-12,20/5 * *", "2026-06-30T00:00:00Z", "2026-07-01T00:00:00Z"},
		{"hour range", "0 0 9-17 * * *", "2026-06-15T17:30:00Z", "2026-06-16T09:00:00Z"},

		// Month names.
		{"month names", "0 0 0 1 jan,Jul *", "2026-02-01T00:00:00Z", "2026-07-01T00:00:00Z"},
		{"month name next year", "0 0 0 1 DEC *", "2026-12-01T00:00:00Z", "2027-12-01T00:00:00Z"},
		{"month name wraps to january", "0 0 0 1 JAN *", "2026-06-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		{"month list wraps to next year", "0 0 0 * 1,3 *", "2026-03-31T00:00:00Z", "2027-01-01T00:00:00Z"},
		{"month name range", "0 0 0 1 mar-may *", "2026-05-01T00:00:00Z", "2027-03-01T00:00:00Z"},

		// Day-of-week (2026-06-13 is a Saturday, 2026-06-15 a Monday).
		{"monday name", "0 0 9 * * MON", "2026-06-13T00:00:00Z", "2026-06-15T09:00:00Z"},
		{"weekday range lowercase", "0 0 9 * * mon-fri", "2026-06-13T10:00:00Z", "2026-06-15T09:00:00Z"},
		{"weekday range next day", "0 0 9 * * Mon-Fri", "2026-06-15T09:00:00Z", "2026-06-16T09:00:00Z"},
		{"weekday range over weekend", "0 0 9 * * 1-5", "2026-06-19T09:00:00Z", "2026-06-22T09:00:00Z"},
		{"7 is sunday", "0 0 0 * * 7", "2026-06-15T00:00:00Z", "2026-06-21T00:00:00Z"},
		{"0 is sunday", "0 0 0 * * 0", "2026-06-15T00:00:00Z", "2026-06-21T00:00:00Z"},
		{"SUN is sunday", "0 0 0 * * sun", "2026-06-15T00:00:00Z", "2026-06-21T00:00:00Z"},
		{"range ending at 7", "0 0 0 * * 5-7", "2026-06-15T00:00:00Z", "2026-06-19T00:00:00Z"},
		{"range ending at 7 includes sunday", "0 0 0 * * 6-7", "2026-06-20T00:00:00Z", "2026-06-21T00:00:00Z"},
		{"dow step", "0 0 0 * * */2", "2026-06-15T00:00:00Z", "2026-06-16T00:00:00Z"},
		{"dow start step", "0 0 0 * * 1/3", "2026-06-16T00:00:00Z", "2026-06-18T00:00:00Z"},

		// Day and day-of-week: OR when both are restricted, else AND.
		// 2026-06-05 and 2026-06-12 are Fridays.
		{"dom or dow picks friday", "0 0 0 13 * FRI", "2026-06-01T00:00:00Z", "2026-06-05T00:00:00Z"},
		{"dom or dow picks 13th", "0 0 0 13 * FRI", "2026-06-12T00:00:00Z", "2026-06-13T00:00:00Z"},
		{"dom step or dow", "0 0 0 */2 * MON", "2026-06-07T00:00:00Z", "2026-06-08T00:00:00Z"},
		{"dom only when dow star", "0 0 0 13 * *", "2026-06-01T00:00:00Z", "2026-06-13T00:00:00Z"},
		{"dow only when dom star", "0 0 0 * * FRI", "2026-06-06T00:00:00Z", "2026-06-12T00:00:00Z"},
		{"dow star and month restrict", "0 0 0 * 2 *", "2026-06-01T00:00:00Z", "2027-02-01T00:00:00Z"},
		{"dom or dow restricted by month", "0 0 0 1 2 MON", "2026-06-01T00:00:00Z", "2027-02-01T00:00:00Z"},
		{"dom or dow in month picks monday", "0 0 0 1 2 MON", "2027-02-01T00:00:00Z", "2027-02-08T00:00:00Z"},
		{"impossible dom rescued by dow", "0 0 0 30 2 MON", "2026-01-01T00:00:00Z", "2026-02-02T00:00:00Z"},

		// Whitespace is normalised.
		{"extra whitespace", "  0\t0  2 * *   * ", "2026-06-15T01:00:00Z", "2026-06-15T02:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(tt.expr)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.expr, err)
			}
			from := at(t, tt.from)
			got := s.Next(from)
			if tt.want == "" {
				if !got.IsZero() {
					t.Fatalf("Next(%s) = %s, want zero time", tt.from, got.Format(time.RFC3339))
				}
				return
			}
			want := at(t, tt.want)
			if !got.Equal(want) {
				t.Fatalf("Next(%s) = %s, want %s", tt.from, got.Format(time.RFC3339), tt.want)
			}
			if got.Location() != from.Location() {
				t.Errorf("Next location = %v, want %v", got.Location(), from.Location())
			}
		})
	}
}

// TestNextSequence checks repeated calls walk the schedule in order, as a
// timer loop would.
func TestNextSequence(t *testing.T) {
	s, err := Parse("0 0,30 9 * * MON,WED")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"2026-06-15T09:00:00Z",
		"2026-06-15T09:30:00Z",
		"2026-06-17T09:00:00Z",
		"2026-06-17T09:30:00Z",
		"2026-06-22T09:00:00Z",
	}
	cur := at(t, "2026-06-14T23:00:00Z")
	for i, w := range want {
		cur = s.Next(cur)
		if !cur.Equal(at(t, w)) {
			t.Fatalf("call %d: got %s, want %s", i+1, cur.Format(time.RFC3339), w)
		}
	}
}

// TestNextMatchesBruteForce compares Next against a second-by-second scan,
// which is slow but obviously follows the fields.
func TestNextMatchesBruteForce(t *testing.T) {
	exprs := []string{
		"* * * * * *",
		"*/7 * * * * *",
		"13 */11 * * * *",
		"0 0 */5 * * *",
		"0 58/3 23 * * *",
		"5,55 59 23 * * *",
		"0 0 0 * * 2,4",
		"0 0 12 1,15 * 5",
		"30 30 6 * * 7",
		"0 0 0 28-31 * *",
	}
	starts := []string{
		"2026-06-15T10:00:00Z",
		"2026-02-27T23:59:30Z",
		"2028-02-28T22:15:59.5Z",
		"2026-12-31T23:58:00Z",
	}
	const window = 4 * 24 * time.Hour
	for _, expr := range exprs {
		s, err := Parse(expr)
		if err != nil {
			t.Fatalf("Parse(%q): %v", expr, err)
		}
		for _, start := range starts {
			from := at(t, start)
			want, found := bruteNext(s, from, window)
			got := s.Next(from)
			if found && !got.Equal(want) {
				t.Errorf("%q from %s: Next = %s, brute force = %s", expr, start, got.Format(time.RFC3339), want.Format(time.RFC3339))
			}
			if !found && !got.IsZero() && got.Before(from.Add(window)) {
				t.Errorf("%q from %s: Next = %s, brute force found nothing before it", expr, start, got.Format(time.RFC3339))
			}
		}
	}
}

// bruteNext scans every second after from (UTC) for up to window.
func bruteNext(s *Schedule, from time.Time, window time.Duration) (time.Time, bool) {
	end := from.Add(window)
	for c := from.Truncate(time.Second).Add(time.Second); c.Before(end); c = c.Add(time.Second) {
		if s.matches(c) {
			return c, true
		}
	}
	return time.Time{}, false
}

func TestNextFixedZone(t *testing.T) {
	// Matching uses the wall clock of t's location, not UTC.
	plus2 := time.FixedZone("UTC+2", 2*60*60)
	s, err := Parse("0 0 2 * * *")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 6, 15, 1, 0, 0, 0, plus2)
	got := s.Next(from)
	want := time.Date(2026, 6, 15, 2, 0, 0, 0, plus2)
	if !got.Equal(want) || got.Location() != plus2 {
		t.Fatalf("Next = %s, want %s", got, want)
	}
	if got.UTC().Hour() != 0 {
		t.Fatalf("Next in UTC = %s, want 00:00 UTC", got.UTC())
	}
}

func TestNextDST(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no tz database: %v", err)
	}
	tests := []struct {
		name       string
		expr       string
		from, want time.Time
	}{
		{
			// 02:30 does not exist on 2026-03-08, so that day is skipped.
			name: "spring forward gap skipped",
			expr: "0 30 2 * * *",
			from: time.Date(2026, 3, 7, 3, 0, 0, 0, ny),
			want: time.Date(2026, 3, 9, 2, 30, 0, 0, ny),
		},
		{
			name: "spring forward next valid wall time",
			expr: "0 */30 * * * *",
			from: time.Date(2026, 3, 8, 1, 45, 0, 0, ny),
			want: time.Date(2026, 3, 8, 3, 0, 0, 0, ny),
		},
		{
			// 06:10 UTC is 01:10 EST, the second 01:10 of 2026-11-01;
			// the next 01:30 is the EST one, not the earlier EDT one.
			name: "fall back second pass",
			expr: "0 */30 * * * *",
			from: time.Date(2026, 11, 1, 6, 10, 0, 0, time.UTC).In(ny),
			want: time.Date(2026, 11, 1, 6, 30, 0, 0, time.UTC),
		},
		{
			name: "fall back first pass",
			expr: "0 */30 * * * *",
			from: time.Date(2026, 11, 1, 5, 10, 0, 0, time.UTC).In(ny),
			want: time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			got := s.Next(tt.from)
			if !got.Equal(tt.want) {
				t.Fatalf("Next(%s) = %s, want %s", tt.from, got, tt.want.In(ny))
			}
			if !got.After(tt.from) {
				t.Fatalf("Next(%s) = %s is not after it", tt.from, got)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		expr string
		want string
	}{
		{"empty", "", "expected 6 fields {second} {minute} {hour} {day} {month} {day-of-week}, found 0"},
		{"blank", " \t ", "found 0"},
		{"five fields", "0 0 2 * *", "found 5 in \"0 0 2 * *\""},
		{"seven fields", "0 0 2 * * * 2026", "found 7"},
		{"second too big", "60 * * * * *", `ncrontab: second field "60": value 60 out of range 0-59`},
		{"minute too big", "0 60 * * * *", `ncrontab: minute field "60": value 60 out of range 0-59`},
		{"hour too big", "0 0 25 * * *", `ncrontab: hour field "25": value 25 out of range 0-23`},
		{"day zero", "0 0 0 0 * *", `ncrontab: day field "0": value 0 out of range 1-31`},
		{"day too big", "0 0 0 32 * *", `ncrontab: day field "32": value 32 out of range 1-31`},
		{"month zero", "0 0 0 * 0 *", `ncrontab: month field "0": value 0 out of range 1-12`},
		{"month too big", "0 0 0 * 13 *", `ncrontab: month field "13": value 13 out of range 1-12`},
		{"dow too big", "0 0 0 * * 8", `ncrontab: day-of-week field "8": value 8 out of range 0-7`},
		{"out of range in list", "0 0 1,2,24 * * *", `ncrontab: hour field "1,2,24": value 24 out of range 0-23`},
		{"out of range range end", "0 0 20-24 * * *", `hour field "20-24": value 24 out of range 0-23`},
		{"step zero", "*/0 * * * * *", `ncrontab: second field "*/0": step 0 out of range 1-60`},
		{"step zero on range", "0 1-5/0 * * * *", `minute field "1-5/0": step 0 out of range 1-60`},
		{"step too big", "0 0 */25 * * *", `hour field "*/25": step 25 out of range 1-24`},
		{"step not a number", "0 */x * * * *", `minute field "*/x": invalid step "x"`},
		{"negative step", "0 */-1 * * * *", `invalid step "-1"`},
		{"missing step", "0 5/ * * * *", `minute field "5/": missing step after "/" in "5/"`},
		{"missing step base", "0 /5 * * * *", `minute field "/5": missing value before "/" in "/5"`},
		{"double step", "0 */5/2 * * * *", `minute field "*/5/2": malformed step in "*/5/2"`},
		{"reversed range", "0 0 5-2 * * *", `ncrontab: hour field "5-2": range 5-2 is reversed`},
		{"reversed name range", "0 0 0 * * FRI-MON", `day-of-week field "FRI-MON": range FRI-MON is reversed`},
		{"reversed month range", "0 0 0 1 DEC-JAN *", `month field "DEC-JAN": range DEC-JAN is reversed`},
		{"seven then one", "0 0 0 * * 7-1", `range 7-1 is reversed`},
		{"empty list item", "0 1,,2 * * * *", `ncrontab: minute field "1,,2": empty list item`},
		{"trailing comma", "0 1, * * * *", `minute field "1,": empty list item`},
		{"leading comma", "0 ,1 * * * *", `minute field ",1": empty list item`},
		{"lone comma", "0 0 0 , * *", `day field ",": empty list item`},
		{"missing range start", "0 -5 * * * *", `minute field "-5": malformed range "-5"`},
		{"missing range end", "0 5- * * * *", `minute field "5-": malformed range "5-"`},
		{"double range", "0 1-2-3 * * * *", `minute field "1-2-3": malformed range "1-2-3"`},
		{"star in range", "0 *-5 * * * *", `minute field "*-5": invalid value "*"`},
		{"word", "0 abc * * * *", `minute field "abc": invalid value "abc"`},
		{"question mark", "? * * * * *", `second field "?": invalid value "?"`},
		{"plus sign", "+5 * * * * *", `second field "+5": invalid value "+5"`},
		{"huge number", "0 0 0 99999999999999999999 * *", `day field "99999999999999999999": invalid value`},
		{"decimal", "0 1.5 * * * *", `invalid value "1.5"`},
		{"last day", "0 0 0 L * *", `day field "L": invalid value "L"`},
		{"nth weekday", "0 0 0 * * MON#2", `invalid value "MON#2"`},
		{"month name in dow", "0 0 0 * * JAN", `day-of-week field "JAN": invalid value "JAN"`},
		{"dow name in month", "0 0 0 * MON *", `month field "MON": invalid value "MON"`},
		{"name in hour", "0 0 MON * * *", `hour field "MON": invalid value "MON"`},
		{"full month name", "0 0 0 * JANUARY *", `invalid value "JANUARY"`},
		{"name as step", "0 0 0 * * */MON", `invalid step "MON"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(tt.expr)
			if err == nil {
				t.Fatalf("Parse(%q) = %q, want error containing %q", tt.expr, s, tt.want)
			}
			if s != nil {
				t.Errorf("Parse(%q) returned a schedule with its error", tt.expr)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "ncrontab: ") {
				t.Errorf("error %q lacks the ncrontab: prefix", msg)
			}
			if !strings.Contains(msg, tt.want) {
				t.Errorf("Parse(%q) error = %q, want it to contain %q", tt.expr, msg, tt.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	tests := []struct{ expr, want string }{
		{"0 0 2 * * *", "0 0 2 * * *"},
		{"  0\t*/5\n *  *  * * ", "0 */5 * * * *"},
		{"0 0 9 * jan-Mar mon-FRI", "0 0 9 * jan-Mar mon-FRI"},
	}
	for _, tt := range tests {
		s, err := Parse(tt.expr)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.expr, err)
		}
		if got := s.String(); got != tt.want {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.expr, got, tt.want)
		}
	}
}

func TestNilSchedule(t *testing.T) {
	// A nil *Schedule (e.g. from an ignored Parse error) must not panic.
	var s *Schedule
	if got := s.Next(time.Now()); !got.IsZero() {
		t.Errorf("nil Next = %s, want zero", got)
	}
	if got := s.String(); got != "" {
		t.Errorf("nil String = %q, want empty", got)
	}
}

func TestExpand(t *testing.T) {
	env := map[string]string{
		"SEATSYNC_SYNC_SCHEDULE": "0 */5 * * * *",
		"MIN":                    "30",
		"HOUR":                   "2",
		"EMPTY":                  "",
		"PERCENT":                "%MIN%",
	}
	lookup := func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
	tests := []struct {
		name    string
		expr    string
		lookup  func(string) (string, bool)
		want    string
		wantErr string
	}{
		{name: "no tokens", expr: "0 0 2 * * *", lookup: lookup, want: "0 0 2 * * *"},
		{name: "whole schedule", expr: "%SEATSYNC_SYNC_SCHEDULE%", lookup: lookup, want: "0 */5 * * * *"},
		{name: "one field", expr: "0 %MIN% * * * *", lookup: lookup, want: "0 30 * * * *"},
		{name: "two tokens", expr: "0 %MIN% %HOUR% * * *", lookup: lookup, want: "0 30 2 * * *"},
		{name: "adjacent tokens", expr: "%HOUR%%MIN%", lookup: lookup, want: "230"},
		{name: "token inside field", expr: "0 1,%MIN% * * * *", lookup: lookup, want: "0 1,30 * * * *"},
		{name: "value not re-expanded", expr: "%PERCENT%", lookup: lookup, want: "%MIN%"},
		{name: "nil lookup without tokens", expr: "0 0 2 * * *", want: "0 0 2 * * *"},
		{name: "unknown", expr: "%NOPE%", lookup: lookup, wantErr: "ncrontab: variable %NOPE% is not set"},
		{name: "unknown after known", expr: "0 %MIN% %NOPE% * * *", lookup: lookup, wantErr: "%NOPE% is not set"},
		{name: "empty value", expr: "%EMPTY%", lookup: lookup, wantErr: "ncrontab: variable %EMPTY% is empty"},
		{name: "empty name", expr: "0 %% * * * *", lookup: lookup, wantErr: "ncrontab: empty variable name %%"},
		{name: "unterminated", expr: "%SEATSYNC_SYNC_SCHEDULE", lookup: lookup, wantErr: `ncrontab: unterminated %SEATSYNC_SYNC_SCHEDULE in "%SEATSYNC_SYNC_SCHEDULE"`},
		{name: "unterminated after token", expr: "%MIN% %HOUR", lookup: lookup, wantErr: "unterminated %HOUR"},
		{name: "name with space", expr: "0 5% * * * %", lookup: lookup, wantErr: `ncrontab: invalid variable name " * * * "`},
		{name: "nil lookup", expr: "%MIN%", wantErr: "%MIN% is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Expand(tt.expr, tt.lookup)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Expand(%q) = %q, want error containing %q", tt.expr, got, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Expand(%q) error = %q, want it to contain %q", tt.expr, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Expand(%q): %v", tt.expr, err)
			}
			if got != tt.want {
				t.Fatalf("Expand(%q) = %q, want %q", tt.expr, got, tt.want)
			}
		})
	}
}

// FuzzParse checks Parse never panics and that any schedule it accepts
// behaves consistently. Seeds live in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	from := time.Date(2026, 6, 15, 10, 20, 30, 500_000_000, time.UTC)
	f.Fuzz(func(t *testing.T, expr string) {
		s, err := Parse(expr)
		if err != nil {
			if s != nil {
				t.Fatalf("Parse(%q) returned a schedule and error %v", expr, err)
			}
			if !strings.HasPrefix(err.Error(), "ncrontab: ") {
				t.Fatalf("Parse(%q) error %q lacks the ncrontab: prefix", expr, err)
			}
			return
		}
		next := s.Next(from)
		if !next.IsZero() {
			if !next.After(from) {
				t.Fatalf("%q: Next(%s) = %s, not after", expr, from, next)
			}
			if !s.matches(next) {
				t.Fatalf("%q: Next(%s) = %s does not match", expr, from, next)
			}
		}
		// Nothing may match between from and next; checking the first hour
		// keeps each run fast while covering the second/minute logic.
		if want, found := bruteNext(s, from, time.Hour); found && !next.Equal(want) {
			t.Fatalf("%q: Next(%s) = %s, brute force = %s", expr, from, next, want)
		}

		again, err := Parse(s.String())
		if err != nil {
			t.Fatalf("Parse(String() = %q) of %q: %v", s.String(), expr, err)
		}
		if again.String() != s.String() {
			t.Fatalf("String not stable: %q then %q", s.String(), again.String())
		}
		if got := again.Next(from); !got.Equal(next) {
			t.Fatalf("%q: reparsed Next = %s, original Next = %s", expr, got, next)
		}
	})
}

// BenchmarkNextImpossible measures the worst case: searching the whole
// five-year window without a match.
func BenchmarkNextImpossible(b *testing.B) {
	s, err := Parse("0 0 0 31 4,6,9,11 *")
	if err != nil {
		b.Fatal(err)
	}
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for b.Loop() {
		if !s.Next(from).IsZero() {
			b.Fatal("unexpected match")
		}
	}
}

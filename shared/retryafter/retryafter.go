// Package retryafter reads the Retry-After header of Microsoft's APIs, which
// may be whole seconds, fractional seconds (Graph sends "2.128") or an HTTP
// date. Every Microsoft client of seatsync uses it, so that none of them
// truncates a fraction as kiota's retry handler does.
package retryafter

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Max caps a wait: a day is far beyond any real Retry-After, and the cap keeps
// a bad header from overflowing a duration or parking a retry loop forever.
const Max = 24 * time.Hour

// Parse returns the wait that h's Retry-After asks for, measured from now.
// ok is false when the header is absent or unreadable.
func Parse(h http.Header, now time.Time) (d time.Duration, ok bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	// ParseFloat also takes "NaN", "Inf" and hex floats; insisting on a
	// leading digit or dot keeps to what the header means.
	if c := v[0]; c >= '0' && c <= '9' || c == '.' {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			return 0, false
		}
		if f > Max.Seconds() {
			return Max, true
		}
		return time.Duration(f * float64(time.Second)), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return min(max(t.Sub(now), 0), Max), true
}

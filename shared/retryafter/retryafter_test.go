package retryafter_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/seatsync/seatsync/shared/retryafter"
)

func TestParse(t *testing.T) {
	now := time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"3", 3 * time.Second, true},
		{"2.128", 2128 * time.Millisecond, true}, // Graph's own sample: the fraction counts
		{"0.5", 500 * time.Millisecond, true},
		{".25", 250 * time.Millisecond, true},
		{" 7 ", 7 * time.Second, true},
		{"0", 0, true},
		{"-1", 0, false},
		{"NaN", 0, false},
		{"Inf", 0, false},
		{"0x10", 0, false},
		{"soon", 0, false},
		{"999999999999", retryafter.Max, true},
		{"Sun, 22 Nov 2026 02:00:30 GMT", 30 * time.Second, true},
		{"Sun, 22 Nov 2026 01:59:00 GMT", 0, true}, // in the past: retry now
		{"Mon, 21 Dec 2026 02:00:00 GMT", retryafter.Max, true},
	} {
		h := http.Header{}
		if tc.in != "" {
			h.Set("Retry-After", tc.in)
		}
		got, ok := retryafter.Parse(h, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Parse(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

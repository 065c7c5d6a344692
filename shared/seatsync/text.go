package seatsync

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// IsGUID reports whether s is a GUID in the 8-4-4-4-12 hex form Microsoft
// uses for tenant, SKU and subscription ids. Ids that go into URL paths or
// table keys are checked with it first.
func IsGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// CleanText makes text from a server safe to log, store and show: valid
// UTF-8, no control characters (which could forge log lines), runs of white
// space folded to one space, and at most limit characters (cut with "…").
func CleanText(s string, limit int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if limit <= 0 || utf8.RuneCountInString(s) <= limit {
		return s
	}
	r := []rune(s)
	return string(r[:limit-1]) + "…"
}

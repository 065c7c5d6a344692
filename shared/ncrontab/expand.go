package ncrontab

import (
	"fmt"
	"strings"
	"unicode"
)

// Expand replaces %NAME% tokens using lookup (e.g. os.LookupEnv); an unknown
// or empty name is an error naming it. Used for schedules like
// "%SEATSYNC_SYNC_SCHEDULE%", which Azure Functions resolves from app
// settings.
//
// Substituted values are inserted literally and not expanded again. A nil
// lookup treats every name as unknown. A variable that is set but empty is
// an error too, since an empty schedule can never parse.
func Expand(expr string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(expr, "%") {
		return expr, nil
	}
	var b strings.Builder
	rest := expr
	for {
		before, after, found := strings.Cut(rest, "%")
		b.WriteString(before)
		if !found {
			return b.String(), nil
		}
		name, tail, closed := strings.Cut(after, "%")
		if !closed {
			return "", fmt.Errorf("ncrontab: unterminated %%%s in %q", after, expr)
		}
		if name == "" {
			return "", fmt.Errorf("ncrontab: empty variable name %%%% in %q", expr)
		}
		// Whitespace means a stray "%" spans fields rather than naming a
		// variable, so report it instead of looking it up.
		if strings.ContainsFunc(name, unicode.IsSpace) {
			return "", fmt.Errorf("ncrontab: invalid variable name %q in %q", name, expr)
		}
		var value string
		ok := false
		if lookup != nil {
			value, ok = lookup(name)
		}
		if !ok {
			return "", fmt.Errorf("ncrontab: variable %%%s%% is not set", name)
		}
		if value == "" {
			return "", fmt.Errorf("ncrontab: variable %%%s%% is empty", name)
		}
		b.WriteString(value)
		rest = tail
	}
}

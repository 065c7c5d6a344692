package seatsync

import (
	"fmt"
	"strings"
	"time"
)

// APIFailure is what a client of an outside HTTP API (Graph, Partner
// Center) knows of a failed call. Their typed errors format themselves
// through it, so that every client's errors read alike: advice for an MSP
// first, then the facts support needs.
type APIFailure struct {
	Advice      string // words an MSP can act on
	Code        string // the stable seatsync code
	Status      int    // 0: no HTTP response
	Service     string // names the service's own code: "Graph", "Partner Center"
	ServiceCode string
	Message     string // the service's text, already cleaned
	Err         error
	RetryAfter  time.Duration
	// IDs are the request ids support asks for, as name/value pairs in
	// the order to show them; empty values are left out.
	IDs [][2]string
}

// Text is the full error text.
func (f APIFailure) Text() string {
	var b strings.Builder
	b.WriteString(f.Advice)
	if f.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d", f.Status)
	} else {
		b.WriteString(" (no HTTP response")
	}
	if f.ServiceCode != "" {
		fmt.Fprintf(&b, ", %s code %s", f.Service, f.ServiceCode)
	}
	b.WriteString(")")
	if f.Message != "" {
		fmt.Fprintf(&b, ": %s", f.Message)
	}
	if f.Err != nil {
		fmt.Fprintf(&b, ": %v", f.Err)
	}
	if f.RetryAfter > 0 {
		fmt.Fprintf(&b, "; retry after %s", f.RetryAfter)
	}
	sep := "; "
	for _, id := range f.IDs {
		if id[1] != "" {
			fmt.Fprintf(&b, "%s%s %s", sep, id[0], id[1])
			sep = ", "
		}
	}
	return b.String()
}

// Problem is the failure as stored with a tenant and shown in the PSA API:
// the code and the advice with the status, without the service's own text
// (which support reads in the log).
func (f APIFailure) Problem() Problem {
	msg := f.Advice
	if f.Status != 0 {
		msg += fmt.Sprintf(" (HTTP %d).", f.Status)
	} else {
		msg += "."
	}
	return Problem{Code: f.Code, Message: msg}
}

// AsError serves a typed error's As method: it lets ErrorCode and
// ErrorMessage, which the rest of seatsync uses on any error, see p without
// knowing the error's package. cause is the typed error itself.
func AsError(target any, p Problem, cause error) bool {
	t, ok := target.(**Error)
	if !ok {
		return false
	}
	*t = &Error{Code: p.Code, Message: p.Message, Err: cause}
	return true
}

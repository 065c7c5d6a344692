package partnercenter

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/seatsync/seatsync/shared/seatsync"
)

// Kind is what a caller does about an error.
type Kind int

// The kinds of Error.
const (
	// KindOther is any other rejection (a 400, a 409, a refused redirect):
	// a defect on one side or the other, not fixed by waiting.
	KindOther Kind = iota
	// KindUnauthorized (401): the partner's token was refused; the partner
	// must connect seatsync again.
	KindUnauthorized
	// KindForbidden (403): the connected user lacks a Partner Center role,
	// or the partner has no relationship with the customer.
	KindForbidden
	// KindNotFound (404): the customer is gone from the partner's list.
	KindNotFound
	// KindThrottled (429, after the retry budget is spent): come back later.
	KindThrottled
	// KindUnavailable (5xx, no response, or a response that cannot be
	// read): come back later.
	KindUnavailable
)

// Stable error codes, one per Kind, in seatsync's vocabulary: they end up in
// a tenant's lastError and PSA tools may match on them.
const (
	CodeOther        = "partner_center_error"
	CodeUnauthorized = "partner_center_unauthorized"
	CodeForbidden    = "partner_center_forbidden"
	CodeNotFound     = "customer_not_found"
	CodeThrottled    = "throttled"
	CodeUnavailable  = "partner_center_unavailable"
)

// maxMessage bounds Error.Message: Partner Center's text is shown to people
// and stored with the tenant, and a server could send a whole page.
const maxMessage = 300

// Code returns the stable seatsync error code of k.
func (k Kind) Code() string {
	switch k {
	case KindUnauthorized:
		return CodeUnauthorized
	case KindForbidden:
		return CodeForbidden
	case KindNotFound:
		return CodeNotFound
	case KindThrottled:
		return CodeThrottled
	case KindUnavailable:
		return CodeUnavailable
	default:
		return CodeOther
	}
}

// String implements fmt.Stringer.
func (k Kind) String() string {
	switch k {
	case KindUnauthorized:
		return "unauthorized"
	case KindForbidden:
		return "forbidden"
	case KindNotFound:
		return "not found"
	case KindThrottled:
		return "throttled"
	case KindUnavailable:
		return "unavailable"
	default:
		return "other"
	}
}

// advice is what an MSP reads for k: what happened and what to do about it.
func (k Kind) advice() string {
	switch k {
	case KindUnauthorized:
		return "Partner Center did not accept seatsync's sign-in; connect seatsync again with a partner account"
	case KindForbidden:
		return "Partner Center refused access; the connected partner user needs the Admin agent or Sales agent role in Partner Center, and the customer must still have a reseller relationship with the partner"
	case KindNotFound:
		return "Partner Center does not know this customer; the reseller relationship may have ended or the customer was removed"
	case KindThrottled:
		return "Partner Center is throttling seatsync's requests; the sync will try again later"
	case KindUnavailable:
		return "Partner Center could not be reached or gave an unusable answer; the sync will try again later"
	default:
		return "Partner Center rejected the request"
	}
}

// Error is a failed Partner Center call.
type Error struct {
	// Status is the HTTP status; 0 when no response came.
	Status int
	// Code is Partner Center's error code (its "code", else "errorName"),
	// "" when the body had none.
	Code string
	// Message is Partner Center's description of the error, or ours when
	// the response was unusable; at most 300 characters, and never a token.
	Message string
	// RequestID and CorrelationID are the MS-RequestId and
	// MS-CorrelationId of the request, which Microsoft support asks for.
	RequestID, CorrelationID string
	// RetryAfter is the wait the server asked for (or the next backoff)
	// when the retry budget ran out; 0 when not retryable.
	RetryAfter time.Duration
	// Err is the cause when there was no usable response (a network error);
	// for logs.
	Err error

	// unusable marks a response with a success status that could not be
	// read (not JSON, too large), which Status alone cannot tell.
	unusable bool
}

// Kind classifies e.
func (e *Error) Kind() Kind {
	switch {
	case e.unusable, e.Status == 0, e.Status >= 500:
		return KindUnavailable
	case e.Status == http.StatusUnauthorized:
		return KindUnauthorized
	case e.Status == http.StatusForbidden:
		return KindForbidden
	case e.Status == http.StatusNotFound:
		return KindNotFound
	case e.Status == http.StatusTooManyRequests:
		return KindThrottled
	default:
		return KindOther
	}
}

// Error reads as advice for an MSP followed by the facts support needs.
func (e *Error) Error() string { return e.failure().Text() }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Problem is e as stored with a tenant and shown in the PSA API: the stable
// code and the advice with the status, without Partner Center's own text
// (which support reads in the log).
func (e *Error) Problem() seatsync.Problem { return e.failure().Problem() }

func (e *Error) failure() seatsync.APIFailure {
	return seatsync.APIFailure{Advice: e.Kind().advice(), Code: e.Kind().Code(), Status: e.Status,
		Service: "Partner Center", ServiceCode: e.Code, Message: e.Message, Err: e.Err, RetryAfter: e.RetryAfter,
		IDs: [][2]string{{"MS-RequestId", e.RequestID}, {"MS-CorrelationId", e.CorrelationID}}}
}

// As lets seatsync.ErrorCode and seatsync.ErrorMessage, which the rest of
// seatsync uses on any error, see e's code and advice without knowing this
// package.
func (e *Error) As(target any) bool { return seatsync.AsError(target, e.Problem(), e) }

// errorBody is the union of the error shapes Partner Center (and the
// gateway in front of it) is seen to send: {"code","description",
// "errorName"}, the throttling {"statusCode","message"}, and an
// {"error":{"code","message"}} envelope.
type errorBody struct {
	Code        json.RawMessage `json:"code"`
	ErrorName   string          `json:"errorName"`
	Description string          `json:"description"`
	Message     string          `json:"message"`
	Error       *struct {
		Code    json.RawMessage `json:"code"`
		Message string          `json:"message"`
	} `json:"error"`
}

// responseError builds the *Error of a non-2xx response. token is removed
// from anything taken from the body, in case a server echoes it.
func responseError(resp *http.Response, body []byte, token, requestID, correlationID string) *Error {
	e := &Error{Status: resp.StatusCode, RequestID: requestID, CorrelationID: correlationID}
	var eb errorBody
	if err := json.Unmarshal(trimBOM(body), &eb); err == nil {
		e.Code = rawCode(eb.Code)
		if e.Code == "" {
			e.Code = eb.ErrorName
		}
		e.Message = eb.Description
		if e.Message == "" {
			e.Message = eb.Message
		}
		if eb.Error != nil {
			if e.Code == "" {
				e.Code = rawCode(eb.Error.Code)
			}
			if e.Message == "" {
				e.Message = eb.Error.Message
			}
		}
	} else if len(bytes.TrimSpace(body)) > 0 && !looksLikeHTML(resp, body) {
		// A plain-text error from a proxy still says something useful;
		// an HTML error page does not.
		e.Message = string(body)
	}
	e.Code = clean(e.Code, token, 100)
	e.Message = clean(e.Message, token, maxMessage)
	return e
}

// rawCode turns a code that may be a JSON number or string into text.
func rawCode(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

func looksLikeHTML(resp *http.Response, body []byte) bool {
	if strings.Contains(resp.Header.Get("Content-Type"), "html") {
		return true
	}
	return bytes.HasPrefix(bytes.TrimSpace(body), []byte("<"))
}

// clean makes server text safe to show and store: no token, no control
// characters (which could forge log lines), at most limit characters.
func clean(s, token string, limit int) string {
	if token != "" {
		s = strings.ReplaceAll(s, token, seatsync.Redacted)
	}
	return seatsync.CleanText(s, limit)
}

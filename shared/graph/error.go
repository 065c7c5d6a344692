package graph

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/seatsync/seatsync/shared/seatsync"
)

// Kind is what a caller does about an error.
type Kind int

// The kinds of Error.
const (
	// KindOther is any other rejection (a 400, a 409, a redirect): a defect
	// on one side or the other, not fixed by waiting.
	KindOther Kind = iota
	// KindForbidden (403, typically Authorization_RequestDenied): the
	// partner has no GDAP access to the tenant, or the partner user lacks a
	// role there.
	KindForbidden
	// KindNotFound (404): the tenant is gone or the resource is missing.
	KindNotFound
	// KindUnauthorized (401): the token was rejected, or the app has no
	// consent in the tenant.
	KindUnauthorized
	// KindThrottled (429, after the retry budget is spent): come back later.
	KindThrottled
	// KindUnavailable (5xx, no response, or a response that cannot be
	// read): come back later.
	KindUnavailable
)

// Stable error codes, one per Kind, in seatsync's vocabulary: they end up in
// a tenant's lastError and PSA tools may match on them. Never rename one.
const (
	CodeOther        = "graph_error"
	CodeForbidden    = "no_gdap_access"
	CodeNotFound     = "tenant_not_found"
	CodeUnauthorized = "graph_unauthorized"
	CodeThrottled    = "throttled"
	CodeUnavailable  = "graph_unavailable"
)

// maxMessage bounds Error.Message: Graph's text is shown to people and
// stored with the tenant, and a server could send a whole page.
const maxMessage = 300

// Code returns the stable seatsync error code of k.
func (k Kind) Code() string {
	switch k {
	case KindForbidden:
		return CodeForbidden
	case KindNotFound:
		return CodeNotFound
	case KindUnauthorized:
		return CodeUnauthorized
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
	case KindForbidden:
		return "forbidden"
	case KindNotFound:
		return "not found"
	case KindUnauthorized:
		return "unauthorized"
	case KindThrottled:
		return "throttled"
	case KindUnavailable:
		return "unavailable"
	default:
		return "other"
	}
}

// advice is what an MSP reads for k: what happened and what to do about it.
// partner says the call was made in the partner's own tenant, where GDAP is
// not what grants access.
func (k Kind) advice(partner bool) string {
	switch k {
	case KindForbidden:
		if partner {
			return "Microsoft Graph refused access in the partner tenant: the connected partner user lacks a role or permission this call needs; connect seatsync again with a partner admin account"
		}
		return "Microsoft Graph refused access to this tenant: no GDAP access to this tenant or the partner user lacks a role; add the security group with Global Reader (or Directory Readers) to the GDAP relationship"
	case KindNotFound:
		return "Microsoft Graph did not find it: the tenant is gone or the resource is missing"
	case KindUnauthorized:
		return "Microsoft Graph rejected seatsync's token: the token was refused or consent is missing in the tenant; grant consent again"
	case KindThrottled:
		return "Microsoft Graph is throttling seatsync's requests; the sync will try again later"
	case KindUnavailable:
		return "Microsoft Graph could not be reached or gave an unusable answer; the sync will try again later"
	default:
		return "Microsoft Graph rejected the request"
	}
}

// Error is a failed Graph call.
type Error struct {
	// Status is the HTTP status; 0 when no response came.
	Status int
	// Code is Graph's error code (such as Authorization_RequestDenied), ""
	// when the body had none.
	Code string
	// Message is Graph's description of the error, or ours when the
	// response was unusable; at most 300 characters, and never a token.
	Message string
	// RequestID and ClientRequestID identify the request in Microsoft's
	// logs (the innerError's, else the response headers'); support asks
	// for them.
	RequestID, ClientRequestID string
	// RetryAfter is the wait the server asked for (or the next backoff)
	// when the retry budget ran out; 0 when not retryable.
	RetryAfter time.Duration
	// TenantID is the tenant the call was for, "" for the partner's own.
	TenantID string
	// Err is the cause when there was no usable response (a network
	// error, a body that does not parse); for logs.
	Err error

	// unusable marks a response with a success status that could not be
	// read, which Status alone cannot tell.
	unusable bool
}

// Kind classifies e.
func (e *Error) Kind() Kind {
	switch {
	case e.unusable, e.Status == 0, e.Status >= 500:
		return KindUnavailable
	case e.Status == http.StatusForbidden:
		return KindForbidden
	case e.Status == http.StatusNotFound:
		return KindNotFound
	case e.Status == http.StatusUnauthorized:
		return KindUnauthorized
	case e.Status == http.StatusTooManyRequests:
		return KindThrottled
	default:
		return KindOther
	}
}

// Transient reports whether trying again later may succeed without anyone
// doing anything.
func (e *Error) Transient() bool {
	k := e.Kind()
	return k == KindThrottled || k == KindUnavailable
}

// Error reads as advice for an MSP followed by the facts support needs.
func (e *Error) Error() string { return e.failure().Text() }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Problem is e as stored with a tenant and shown in the PSA API: the stable
// code and the advice with the status, without Graph's own text (which
// support reads in the log).
func (e *Error) Problem() seatsync.Problem { return e.failure().Problem() }

func (e *Error) failure() seatsync.APIFailure {
	return seatsync.APIFailure{Advice: e.Kind().advice(e.TenantID == ""), Code: e.Kind().Code(), Status: e.Status,
		Service: "Graph", ServiceCode: e.Code, Message: e.Message, Err: e.Err, RetryAfter: e.RetryAfter,
		IDs: [][2]string{{"request-id", e.RequestID}, {"client-request-id", e.ClientRequestID}}}
}

// As lets seatsync.ErrorCode and seatsync.ErrorMessage, which the rest of
// seatsync uses on any error, see e's code and advice without knowing this
// package.
func (e *Error) As(target any) bool { return seatsync.AsError(target, e.Problem(), e) }

// LogValue implements slog.LogValuer: the fields an operator needs to find
// the request in Microsoft's logs.
func (e *Error) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("kind", e.Kind().String()),
		slog.String("code", e.Kind().Code()),
		slog.Int("status", e.Status),
	}
	if e.Code != "" {
		attrs = append(attrs, slog.String("graphCode", e.Code))
	}
	if e.Message != "" {
		attrs = append(attrs, slog.String("message", e.Message))
	}
	if e.TenantID != "" {
		attrs = append(attrs, slog.String("tenantId", e.TenantID))
	}
	if e.RequestID != "" {
		attrs = append(attrs, slog.String("requestId", e.RequestID))
	}
	if e.ClientRequestID != "" {
		attrs = append(attrs, slog.String("clientRequestId", e.ClientRequestID))
	}
	if e.RetryAfter > 0 {
		attrs = append(attrs, slog.Duration("retryAfter", e.RetryAfter))
	}
	if e.Err != nil {
		attrs = append(attrs, slog.String("cause", e.Err.Error()))
	}
	return slog.GroupValue(attrs...)
}

// errorBody is Graph's OData error body.
type errorBody struct {
	Error *struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		InnerError *struct {
			RequestID       string `json:"request-id"`
			ClientRequestID string `json:"client-request-id"`
		} `json:"innerError"`
	} `json:"error"`
}

// responseError builds the *Error of a non-2xx response with body (already
// read, maybe cut short). token is removed from anything taken from the
// response, in case a server echoes it.
func responseError(resp *http.Response, body []byte, token, tenant string) *Error {
	e := &Error{
		Status:          resp.StatusCode,
		TenantID:        tenant,
		RequestID:       resp.Header.Get("request-id"),
		ClientRequestID: resp.Header.Get("client-request-id"),
	}
	var eb errorBody
	if err := json.Unmarshal(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")), &eb); err == nil && eb.Error != nil {
		e.Code = eb.Error.Code
		e.Message = eb.Error.Message
		if in := eb.Error.InnerError; in != nil {
			// The body's ids are the ones Graph logged; the headers say
			// the same when both are present.
			if in.RequestID != "" {
				e.RequestID = in.RequestID
			}
			if in.ClientRequestID != "" {
				e.ClientRequestID = in.ClientRequestID
			}
		}
	} else if len(bytes.TrimSpace(body)) > 0 && !looksLikeHTML(resp, body) {
		// A plain-text error from a proxy still says something useful;
		// an HTML error page does not.
		e.Message = string(body)
	}
	e.Code = clean(e.Code, token, 100)
	e.Message = clean(e.Message, token, maxMessage)
	e.RequestID = clean(e.RequestID, token, 100)
	e.ClientRequestID = clean(e.ClientRequestID, token, 100)
	return e
}

func looksLikeHTML(resp *http.Response, body []byte) bool {
	if strings.Contains(strings.ToLower(resp.Header.Get("Content-Type")), "html") {
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

// unusable is the *Error of a response that arrived but cannot be used.
func unusable(status int, tenant, message string, cause error) *Error {
	return &Error{Status: status, TenantID: tenant, unusable: true, Message: message, Err: cause}
}

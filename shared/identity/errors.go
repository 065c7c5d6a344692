package identity

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/seatsync/seatsync/shared/seatsync"
)

// Error codes of identity failures, as stored on connection and tenant rows
// and returned by the API. They are part of the PSA contract: never rename
// one.
const (
	ETokenExpired        = "token_expired"
	EMFARequired         = "mfa_required"
	EConsentRequired     = "consent_required"
	EInvalidClient       = "invalid_client"
	EConditionalAccess   = "conditional_access"
	ETenantNotFound      = "tenant_not_found"
	EThrottled           = "throttled"
	EIdentityUnavailable = "identity_unavailable"
	EIdentityError       = "identity_error"
)

// Kind says what went wrong with a token request, in terms of what the MSP
// (or the sync) has to do about it.
type Kind int

// Kinds of identity failures.
const (
	// KindOther is a refusal that fits no other kind (invalid_scope, …).
	KindOther Kind = iota
	// KindExpiredOrRevoked: the refresh token or code is dead (inactivity,
	// revocation, password reset, code already used); grant consent again.
	KindExpiredOrRevoked
	// KindInteractionRequired: the user must sign in again, usually with MFA
	// or because of a sign-in frequency policy.
	KindInteractionRequired
	// KindConsentRequired: the app is not consented (or not authorized for
	// the partner) in the tenant asked for.
	KindConsentRequired
	// KindInvalidClient: seatsync's own app id or client secret was refused.
	KindInvalidClient
	// KindConditionalAccess: a Conditional Access policy blocks the token.
	KindConditionalAccess
	// KindTenantNotFound: no such tenant, or the partner's user has no
	// access to it.
	KindTenantNotFound
	// KindThrottled: HTTP 429; see Error.RetryAfter.
	KindThrottled
	// KindUnavailable: 5xx, network failure, or an answer that is not the
	// documented wire format.
	KindUnavailable
)

// String returns the kind's name, for logs.
func (k Kind) String() string {
	switch k {
	case KindOther:
		return "other"
	case KindExpiredOrRevoked:
		return "expired_or_revoked"
	case KindInteractionRequired:
		return "interaction_required"
	case KindConsentRequired:
		return "consent_required"
	case KindInvalidClient:
		return "invalid_client"
	case KindConditionalAccess:
		return "conditional_access"
	case KindTenantNotFound:
		return "tenant_not_found"
	case KindThrottled:
		return "throttled"
	case KindUnavailable:
		return "unavailable"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Code returns the kind's stable seatsync error code.
func (k Kind) Code() string {
	switch k {
	case KindExpiredOrRevoked:
		return ETokenExpired
	case KindInteractionRequired:
		return EMFARequired
	case KindConsentRequired:
		return EConsentRequired
	case KindInvalidClient:
		return EInvalidClient
	case KindConditionalAccess:
		return EConditionalAccess
	case KindTenantNotFound:
		return ETenantNotFound
	case KindThrottled:
		return EThrottled
	case KindUnavailable:
		return EIdentityUnavailable
	}
	return EIdentityError
}

// grant names the request an Error came from, so that the message speaks of
// the right thing (a dead consent code is not a dead refresh token).
type grant int

const (
	grantRefresh grant = iota
	grantCode
	grantStore // no stored refresh token at all
)

// Error is a failed token request. Every field is safe to log: Description is
// Microsoft's own text, which names codes and ids but never a token.
type Error struct {
	Kind Kind
	// AADSTS is the identity platform's error number (700082 for
	// AADSTS700082), or 0 when the answer had none.
	AADSTS int
	// OAuthError is the OAuth 2.0 "error" value, such as "invalid_grant".
	OAuthError string
	// SubError is Microsoft's "suberror" value, such as "bad_token".
	SubError string
	// Description is Microsoft's error_description, cut to 500 characters.
	Description   string
	TraceID       string
	CorrelationID string
	// HTTPStatus is the token endpoint's status, or 0 when no answer came.
	HTTPStatus int
	// RetryAfter is the wait the endpoint asked for (429, 503), or 0.
	RetryAfter time.Duration
	// Err is the cause (a network error), for logs only.
	Err error

	grant grant
	// reason is our own fixed words for an answer we could not use ("sent
	// an answer that is not JSON"); never text from the answer.
	reason string
}

// Transient reports whether trying again later may succeed without anyone
// doing anything.
func (e *Error) Transient() bool {
	return e.Kind == KindThrottled || e.Kind == KindUnavailable
}

// Code returns the stable seatsync error code of the failure.
func (e *Error) Code() string { return e.Kind.Code() }

// Message says in plain words what happened and what the MSP should do. It
// never holds a token, code or secret, nor Microsoft's description (which
// may name users and is not written for an MSP).
func (e *Error) Message() string {
	var m string
	switch e.Kind {
	case KindExpiredOrRevoked:
		if e.grant == grantCode {
			m = "the sign-in code has expired, was already used or does not match this request: start the consent again"
		} else {
			m = "the partner's refresh token has expired or was revoked: grant consent again"
		}
	case KindInteractionRequired:
		m = "the partner's user must sign in again with multi-factor authentication: grant consent again"
	case KindConsentRequired:
		if e.grant == grantStore {
			m = "no partner consent is stored: grant consent"
		} else {
			m = "the app is not consented or not authorized in this tenant: grant consent again, and for a customer tenant check that the app is authorized for the partner"
		}
	case KindInvalidClient:
		m = "the app's client ID or client secret was refused: check the application ID and renew the client secret"
	case KindConditionalAccess:
		m = "a Conditional Access policy blocked the sign-in: review the tenant's Conditional Access policies"
	case KindTenantNotFound:
		m = "the tenant was not found, or the partner's user has no access to it: check the tenant ID and the GDAP relationship"
	case KindThrottled:
		m = "Microsoft's sign-in service is throttling requests: try again later"
	case KindUnavailable:
		if e.reason != "" {
			m = "Microsoft's sign-in service " + e.reason + ": try again later"
		} else {
			m = "Microsoft's sign-in service is unavailable: try again later"
		}
	default:
		m = "Microsoft's sign-in service refused the request"
		if isErrorWord(e.OAuthError) {
			m += " (" + e.OAuthError + ")"
		}
	}
	switch {
	case e.AADSTS != 0:
		m += " (AADSTS" + strconv.Itoa(e.AADSTS) + ")"
	case e.HTTPStatus != 0 && e.Kind != KindOther:
		m += " (HTTP " + strconv.Itoa(e.HTTPStatus) + ")"
	}
	return m
}

// Error implements error. It is the Message: the cause and Description are
// left to structured logs (LogAttrs), so that an error string can be shown.
func (e *Error) Error() string { return e.Message() }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// As lets seatsync.ErrorCode and seatsync.ErrorMessage see an identity
// failure as a *seatsync.Error with the kind's code and the plain message.
func (e *Error) As(target any) bool {
	return seatsync.AsError(target, seatsync.Problem{Code: e.Code(), Message: e.Message()}, e)
}

// isErrorWord reports whether s looks like an OAuth error value, which is
// then safe to show: a fixed word, not free text.
func isErrorWord(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && r != '_' {
			return false
		}
	}
	return true
}

// aadstsKind maps the identity platform's error numbers to kinds. The
// numbers are more specific than the OAuth error value (50076 arrives as
// invalid_grant, yet it needs MFA, not a new consent), so they win.
func aadstsKind(code int) (Kind, bool) {
	switch code {
	case 700082, // refresh token expired due to inactivity
		70008,  // refresh token expired or revoked
		50173,  // grant revoked: password changed or reset
		700084, // single-page-app refresh token lifetime reached
		54005:  // authorization code already redeemed
		return KindExpiredOrRevoked, true
	case 50076, // MFA required by policy or a new location
		50078, // the MFA presented has expired
		50079, // the user must register for MFA
		70043, // sign-in frequency (Conditional Access)
		50158: // external security challenge not met
		return KindInteractionRequired, true
	case 65001, // no consent for the app
		90099: // app not authorized for the partner in the customer tenant
		return KindConsentRequired, true
	case 7000215, // wrong client secret
		7000222, // client secret expired
		7000218, // no client secret or assertion sent
		700016:  // app not found in the directory
		return KindInvalidClient, true
	case 53003, // blocked by Conditional Access
		53000, // device not compliant
		53001: // device not domain joined
		return KindConditionalAccess, true
	case 90002, // tenant not found
		90072, // the user's account does not exist in the tenant
		50020: // user from the identity provider does not exist in the tenant
		return KindTenantNotFound, true
	}
	return KindOther, false
}

// oauthKind maps OAuth error values, used when no known number came.
func oauthKind(oauthError string) (Kind, bool) {
	switch oauthError {
	case "invalid_grant":
		return KindExpiredOrRevoked, true
	case "interaction_required":
		return KindInteractionRequired, true
	case "consent_required":
		return KindConsentRequired, true
	case "invalid_client", "unauthorized_client":
		return KindInvalidClient, true
	case "temporarily_unavailable", "server_error":
		return KindUnavailable, true
	}
	return KindOther, false
}

// classify picks the kind of a failed answer: the HTTP status first (a 429
// or 5xx is transient whatever the body says), then the AADSTS number, then
// the OAuth error value.
func classify(status, aadsts int, oauthError string) Kind {
	switch {
	case status == http.StatusTooManyRequests:
		return KindThrottled
	case status >= 500:
		return KindUnavailable
	}
	if k, ok := aadstsKind(aadsts); ok {
		return k
	}
	if k, ok := oauthKind(oauthError); ok {
		return k
	}
	return KindOther
}

// AADSTSFromDescription finds "AADSTS<digits>" in Microsoft's description,
// for answers whose error_codes array is missing (and for the authorize
// redirect's error_description, which never has one).
func AADSTSFromDescription(desc string) int {
	i := strings.Index(desc, "AADSTS")
	if i < 0 {
		return 0
	}
	rest := desc[i+len("AADSTS"):]
	n := 0
	for n < len(rest) && n < 9 && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	if n == 0 {
		return 0
	}
	v, err := strconv.Atoi(rest[:n])
	if err != nil {
		return 0
	}
	return v
}

// unavailable builds a KindUnavailable error for an answer that is not the
// documented wire format. reason is fixed text of ours, never the body.
func unavailable(status int, g grant, reason string, cause error) *Error {
	return &Error{Kind: KindUnavailable, HTTPStatus: status, grant: g, reason: reason, Err: cause}
}

// LogValue implements slog.LogValuer: the fields an operator needs to find
// the failure in Microsoft's sign-in logs (trace and correlation ids).
func (e *Error) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("kind", e.Kind.String()),
		slog.String("code", e.Code()),
		slog.String("message", e.Message()),
	}
	if e.AADSTS != 0 {
		attrs = append(attrs, slog.Int("aadsts", e.AADSTS))
	}
	if e.OAuthError != "" {
		attrs = append(attrs, slog.String("oauthError", e.OAuthError))
	}
	if e.SubError != "" {
		attrs = append(attrs, slog.String("subError", e.SubError))
	}
	if e.Description != "" {
		attrs = append(attrs, slog.String("description", e.Description))
	}
	if e.HTTPStatus != 0 {
		attrs = append(attrs, slog.Int("status", e.HTTPStatus))
	}
	if e.TraceID != "" {
		attrs = append(attrs, slog.String("traceId", e.TraceID))
	}
	if e.CorrelationID != "" {
		attrs = append(attrs, slog.String("correlationId", e.CorrelationID))
	}
	if e.RetryAfter > 0 {
		attrs = append(attrs, slog.Duration("retryAfter", e.RetryAfter))
	}
	if e.Err != nil {
		attrs = append(attrs, slog.String("cause", e.Err.Error()))
	}
	return slog.GroupValue(attrs...)
}

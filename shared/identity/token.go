package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/seatsync/seatsync/shared/retryafter"
	"github.com/seatsync/seatsync/shared/seatsync"
)

// maxBody caps how much of a token endpoint answer is read. Real answers
// are a few KiB; anything near the cap is not the token endpoint talking.
const maxBody = 1 << 20

// maxLifetime is the longest access-token lifetime accepted. The platform
// issues one to about a day; a larger expires_in is a malformed answer and
// would pin a token in the cache.
const maxLifetime = 7 * 24 * time.Hour

// TokenResponse is a successful token answer.
type TokenResponse struct {
	AccessToken seatsync.Secret
	// RefreshToken is the rotated refresh token; zero when the answer had
	// none, in which case the one just used stays valid.
	RefreshToken seatsync.Secret
	// IDToken is set when openid was among the scopes of the grant.
	IDToken seatsync.Secret
	// ExpiresAt is when the access token expires, counted from when the
	// request was sent (so a slow answer errs on the early side).
	ExpiresAt time.Time
	// Scope is opaque: v2 answers space-separated names, some documented
	// answers URL-encode it.
	Scope     string
	TokenType string
}

// ExchangeCode redeems the code from the consent redirect at
// {login}/{tenant}/oauth2/v2.0/token. verifier, redirectURI and scopes must
// be those of the AuthRequest that produced the code; tenant is usually the
// same as there ("organizations").
func (c *Client) ExchangeCode(ctx context.Context, tenant string, code, verifier seatsync.Secret, redirectURI string, scopes []string) (*TokenResponse, error) {
	if err := checkTenant(tenant); err != nil {
		return nil, err
	}
	if code.IsZero() {
		return nil, errors.New("identity: the authorization code is empty")
	}
	if err := checkVerifier(verifier); err != nil {
		return nil, err
	}
	if err := checkRedirectURI(redirectURI); err != nil {
		return nil, err
	}
	scope, err := joinScopes(scopes)
	if err != nil {
		return nil, err
	}
	return c.token(ctx, tokenRequest{
		grant:  grantCode,
		tenant: tenant,
		scope:  scope,
		public: url.Values{
			"grant_type":   {"authorization_code"},
			"redirect_uri": {redirectURI},
		},
		secrets: []secretField{{"code", code}, {"code_verifier", verifier}},
	})
}

// Refresh redeems refreshToken at {login}/{tenant}/oauth2/v2.0/token for
// one resource's scope (such as "https://graph.microsoft.com/.default
// offline_access"). tenant may be a customer tenant: a refresh token is not
// bound to a tenant, so the partner's token buys tokens in every customer
// tenant the partner may act in. The answer's RefreshToken is the rotated
// one; include offline_access in scope to be sure to get it.
func (c *Client) Refresh(ctx context.Context, tenant string, refreshToken seatsync.Secret, scope string) (*TokenResponse, error) {
	if err := checkTenant(tenant); err != nil {
		return nil, err
	}
	if refreshToken.IsZero() {
		return nil, errors.New("identity: the refresh token is empty")
	}
	if err := checkScope(scope); err != nil {
		return nil, err
	}
	return c.token(ctx, tokenRequest{
		grant:   grantRefresh,
		tenant:  tenant,
		scope:   scope,
		public:  url.Values{"grant_type": {"refresh_token"}},
		secrets: []secretField{{"refresh_token", refreshToken}},
	})
}

// tokenRequest is one form post to the token endpoint, with its secret
// fields kept apart until the body is encoded.
type tokenRequest struct {
	grant   grant
	tenant  string
	scope   string
	public  url.Values
	secrets []secretField
}

type secretField struct {
	name  string
	value seatsync.Secret
}

func (g grant) String() string {
	if g == grantCode {
		return "authorization_code"
	}
	return "refresh_token"
}

// token sends r and reads the answer. Every failure is an *Error (wrapped
// with the grant and tenant), except the caller's own cancellation, which
// comes back as ctx.Err().
func (c *Client) token(ctx context.Context, r tokenRequest) (*TokenResponse, error) {
	requestID, err := newGUID()
	if err != nil {
		return nil, err
	}
	endpoint := c.login + "/" + url.PathEscape(r.tenant) + "/oauth2/v2.0/token"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(c.encodeForm(r)))
	if err != nil {
		return nil, fmt.Errorf("identity: build token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("client-request-id", requestID)

	sentAt := c.now()
	began := time.Now()
	resp, err := c.hc.Do(req)
	var (
		tr      *TokenResponse
		status  int
		traceID string
		ierr    *Error
	)
	if err != nil {
		if ctx.Err() != nil {
			c.logRequest(ctx, r, requestID, 0, "", time.Since(began), nil, ctx.Err())
			return nil, fmt.Errorf("identity: %s request to tenant %s: %w", r.grant, r.tenant, ctx.Err())
		}
		ierr = unavailable(0, r.grant, "could not be reached", err)
	} else {
		status = resp.StatusCode
		traceID = resp.Header.Get("x-ms-request-id")
		tr, ierr = c.readAnswer(resp, r.grant, sentAt)
		_ = resp.Body.Close()
		if ierr != nil && ierr.Err != nil && ctx.Err() != nil {
			// The body read failed because the caller gave up.
			c.logRequest(ctx, r, requestID, status, traceID, time.Since(began), nil, ctx.Err())
			return nil, fmt.Errorf("identity: %s request to tenant %s: %w", r.grant, r.tenant, ctx.Err())
		}
	}
	c.logRequest(ctx, r, requestID, status, traceID, time.Since(began), ierr, nil)
	if ierr != nil {
		return nil, fmt.Errorf("identity: %s request to tenant %s: %w", r.grant, r.tenant, ierr)
	}
	return tr, nil
}

// encodeForm builds the form body. It is the one place where the client
// secret, codes, verifiers and refresh tokens are revealed: they go straight
// into the body of the request that must carry them.
func (c *Client) encodeForm(r tokenRequest) string {
	form := make(url.Values, len(r.public)+len(r.secrets)+3)
	for k, v := range r.public {
		form[k] = v
	}
	form.Set("client_id", c.clientID)
	form.Set("scope", r.scope)
	for _, f := range r.secrets {
		form.Set(f.name, f.value.Reveal())
	}
	form.Set("client_secret", c.secret.Reveal())
	return form.Encode()
}

// readAnswer turns the endpoint's answer into a TokenResponse or an *Error.
// The body never leaves this function except as parsed, typed fields.
func (c *Client) readAnswer(resp *http.Response, g grant, sentAt time.Time) (*TokenResponse, *Error) {
	status := resp.StatusCode
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, unavailable(status, g, "broke off its answer", err)
	}
	if len(raw) > maxBody {
		return nil, unavailable(status, g, "sent an answer larger than 1 MiB", nil)
	}
	switch {
	case status >= 200 && status < 300:
		return parseToken(raw, status, g, sentAt)
	case status >= 300 && status < 400:
		return nil, unavailable(status, g, "sent an unexpected redirect", nil)
	}
	return nil, c.parseError(resp, raw, g)
}

// tokenWire is the token answer as sent. The secret fields are plain
// strings only until parseToken wraps them.
type tokenWire struct {
	AccessToken  string          `json:"access_token"`
	RefreshToken string          `json:"refresh_token"`
	IDToken      string          `json:"id_token"`
	TokenType    string          `json:"token_type"`
	Scope        string          `json:"scope"`
	ExpiresIn    json.RawMessage `json:"expires_in"`
}

func parseToken(raw []byte, status int, g grant, sentAt time.Time) (*TokenResponse, *Error) {
	if len(raw) == 0 {
		return nil, unavailable(status, g, "sent an empty answer", nil)
	}
	var w tokenWire
	// The decoder's error is dropped on purpose: its text can quote the
	// body, and the body holds tokens.
	if json.Unmarshal(raw, &w) != nil {
		return nil, unavailable(status, g, "sent an answer that is not JSON", nil)
	}
	if w.AccessToken == "" {
		return nil, unavailable(status, g, "sent an answer without an access token", nil)
	}
	life, ok := parseExpiresIn(w.ExpiresIn)
	if !ok {
		return nil, unavailable(status, g, "sent an answer without a valid expires_in", nil)
	}
	return &TokenResponse{
		AccessToken:  seatsync.NewSecret(w.AccessToken),
		RefreshToken: seatsync.NewSecret(w.RefreshToken),
		IDToken:      seatsync.NewSecret(w.IDToken),
		ExpiresAt:    sentAt.Add(life),
		Scope:        w.Scope,
		TokenType:    w.TokenType,
	}, nil
}

// parseExpiresIn reads expires_in as v2.0 sends it (a number, 3599) or as
// v1 does (a string, "3599"). Missing, non-positive or absurd values fail.
func parseExpiresIn(raw json.RawMessage) (time.Duration, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, false
	}
	s := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, false
		}
		s = strings.TrimSpace(s)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 1 || f > maxLifetime.Seconds() {
		return 0, false
	}
	return time.Duration(f) * time.Second, true
}

// errorWire is the documented error answer of the token endpoint.
type errorWire struct {
	Error         string        `json:"error"`
	Description   string        `json:"error_description"`
	Codes         []json.Number `json:"error_codes"`
	TraceID       string        `json:"trace_id"`
	CorrelationID string        `json:"correlation_id"`
	SubError      string        `json:"suberror"`
}

func (c *Client) parseError(resp *http.Response, raw []byte, g grant) *Error {
	status := resp.StatusCode
	e := &Error{HTTPStatus: status, grant: g}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		e.RetryAfter, _ = retryafter.Parse(resp.Header, c.now())
	}
	var w errorWire
	if len(raw) == 0 || json.Unmarshal(raw, &w) != nil || w.Error == "" {
		// A proxy's HTML page, an empty 500, …: not the identity platform's
		// verdict on our request, so nothing to act on but waiting.
		e.Kind = classify(status, 0, "")
		if e.Kind != KindThrottled {
			e.Kind = KindUnavailable
			if len(raw) == 0 {
				e.reason = "sent an empty error answer"
			} else {
				e.reason = "sent an error answer that is not the documented JSON"
			}
		}
		e.TraceID = seatsync.CleanText(resp.Header.Get("x-ms-request-id"), 64)
		return e
	}
	e.OAuthError = seatsync.CleanText(w.Error, 64)
	e.SubError = seatsync.CleanText(w.SubError, 64)
	e.Description = seatsync.CleanText(w.Description, 500)
	e.TraceID = seatsync.CleanText(w.TraceID, 64)
	if e.TraceID == "" {
		e.TraceID = seatsync.CleanText(resp.Header.Get("x-ms-request-id"), 64)
	}
	e.CorrelationID = seatsync.CleanText(w.CorrelationID, 64)
	for _, n := range w.Codes {
		if v, err := strconv.Atoi(n.String()); err == nil && v > 0 {
			e.AADSTS = v
			break
		}
	}
	if e.AADSTS == 0 {
		e.AADSTS = AADSTSFromDescription(w.Description)
	}
	e.Kind = classify(status, e.AADSTS, w.Error)
	return e
}

// logRequest writes the one debug record of a token request: enough to find
// it in Microsoft's logs (trace and client request ids), never a token.
func (c *Client) logRequest(ctx context.Context, r tokenRequest, requestID string, status int, traceID string, d time.Duration, ierr *Error, cancel error) {
	if !c.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{
		slog.String("grant", r.grant.String()),
		slog.String("tenantId", r.tenant),
		slog.String("scope", r.scope),
		slog.Int("status", status),
		slog.Duration("duration", d),
		slog.String("clientRequestId", requestID),
	}
	if ierr != nil && ierr.TraceID != "" {
		traceID = ierr.TraceID
	}
	if traceID = seatsync.CleanText(traceID, 64); traceID != "" {
		attrs = append(attrs, slog.String("traceId", traceID))
	}
	switch {
	case cancel != nil:
		attrs = append(attrs, slog.String("cancelled", cancel.Error()))
	case ierr != nil:
		attrs = append(attrs, slog.Any("error", ierr))
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "identity: token request", attrs...)
}

package identity

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/seatsync/seatsync/shared/seatsync"
)

func TestExchangeCodeSendsForm(t *testing.T) {
	clock := newClock()
	f := newIdP(t, func(seen) answer {
		return answer{Body: tokenBody(testAT, testRT1, "hdr.payload.sig", 3599), Header: map[string]string{"x-ms-request-id": "trace-1"}}
	})
	c := newTestClient(t, f, clock, nil)
	redirect := "https://seatsync.example.com/api/v1/connection/callback"
	scopes := []string{"openid", "profile", "offline_access", "https://api.partnercenter.microsoft.com/user_impersonation"}
	tr, err := c.ExchangeCode(context.Background(), "organizations", seatsync.NewSecret(testCode), seatsync.NewSecret(testVerifier), redirect, scopes)
	if err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.Method != http.MethodPost || r.Path != "/organizations/oauth2/v2.0/token" {
		t.Errorf("request = %s %s", r.Method, r.Path)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type = %q", ct)
	}
	if id := r.Header.Get("client-request-id"); !seatsync.IsGUID(id) {
		t.Errorf("client-request-id = %q, want a GUID", id)
	}
	assertForm(t, r.Form, url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {testCode},
		"redirect_uri":  {redirect},
		"code_verifier": {testVerifier},
		"client_id":     {testClientID},
		"client_secret": {testClientSecret},
		"scope":         {strings.Join(scopes, " ")},
	})
	if tr.AccessToken.Reveal() != testAT || tr.RefreshToken.Reveal() != testRT1 || tr.IDToken.Reveal() != "hdr.payload.sig" {
		t.Error("tokens not returned as sent")
	}
	if want := clock.Now().Add(3599 * time.Second); !tr.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %v, want %v", tr.ExpiresAt, want)
	}
	if tr.TokenType != "Bearer" || tr.Scope != graphScope {
		t.Errorf("type %q scope %q", tr.TokenType, tr.Scope)
	}
}

func TestRefreshSendsForm(t *testing.T) {
	f := newIdP(t, func(seen) answer { return answer{Body: tokenBody(testAT, testRT2, "", 3599)} })
	c := newTestClient(t, f, newClock(), nil)
	scope := graphScope + " offline_access"
	if _, err := c.Refresh(context.Background(), customerTenant, seatsync.NewSecret(testRT1), scope); err != nil {
		t.Fatal(err)
	}
	r := f.requests()[0]
	if r.Method != http.MethodPost || r.Path != "/"+customerTenant+"/oauth2/v2.0/token" {
		t.Errorf("request = %s %s", r.Method, r.Path)
	}
	assertForm(t, r.Form, url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {testRT1},
		"client_id":     {testClientID},
		"client_secret": {testClientSecret},
		"scope":         {scope},
	})
}

// assertForm requires exactly the fields of want, each once.
func assertForm(t *testing.T, got, want url.Values) {
	t.Helper()
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected form field %s", k)
		}
	}
	for k, v := range want {
		if len(got[k]) != 1 || got[k][0] != v[0] {
			t.Errorf("form %s = %q, want %q", k, got[k], v[0])
		}
	}
}

func TestRefreshAndExchangeRejectBadInput(t *testing.T) {
	f := newIdP(t, func(seen) answer { return answer{Body: tokenBody(testAT, "", "", 3599)} })
	c := newTestClient(t, f, newClock(), nil)
	ctx := context.Background()
	rt := seatsync.NewSecret(testRT1)
	checks := map[string]error{}
	_, checks["tenant path"] = c.Refresh(ctx, "../common", rt, graphScope)
	_, checks["tenant empty"] = c.Refresh(ctx, "", rt, graphScope)
	_, checks["refresh token empty"] = c.Refresh(ctx, customerTenant, seatsync.Secret{}, graphScope)
	_, checks["scope empty"] = c.Refresh(ctx, customerTenant, rt, " ")
	_, checks["scope newline"] = c.Refresh(ctx, customerTenant, rt, graphScope+"\nx")
	_, checks["code empty"] = c.ExchangeCode(ctx, "organizations", seatsync.Secret{}, seatsync.NewSecret(testVerifier), "https://x.example/cb", []string{"openid"})
	_, checks["verifier short"] = c.ExchangeCode(ctx, "organizations", seatsync.NewSecret(testCode), seatsync.NewSecret("short"), "https://x.example/cb", []string{"openid"})
	_, checks["redirect"] = c.ExchangeCode(ctx, "organizations", seatsync.NewSecret(testCode), seatsync.NewSecret(testVerifier), "cb", []string{"openid"})
	for name, err := range checks {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if n := f.calls.Load(); n != 0 {
		t.Errorf("%d requests sent for invalid input", n)
	}
}

func TestExpiresIn(t *testing.T) {
	tests := []struct {
		name string
		body string
		want time.Duration // 0: must fail as unavailable
	}{
		{"v2 number", `{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"a"}`, 3599 * time.Second},
		{"v1 string", `{"token_type":"Bearer","scope":"user_impersonation","expires_in":"3600","ext_expires_in":"3600","expires_on":"1547581389","not_before":"1547577489","resource":"https://api.partnercenter.microsoft.com","access_token":"a","id_token":"b"}`, time.Hour},
		{"string with spaces", `{"expires_in":" 60 ","access_token":"a"}`, time.Minute},
		{"fractional number", `{"expires_in":3599.9,"access_token":"a"}`, 3599 * time.Second},
		{"ext_expires_in ignored", `{"expires_in":100,"ext_expires_in":9999,"access_token":"a"}`, 100 * time.Second},
		{"missing", `{"access_token":"a"}`, 0},
		{"null", `{"expires_in":null,"access_token":"a"}`, 0},
		{"zero", `{"expires_in":0,"access_token":"a"}`, 0},
		{"negative", `{"expires_in":-5,"access_token":"a"}`, 0},
		{"negative string", `{"expires_in":"-5","access_token":"a"}`, 0},
		{"empty string", `{"expires_in":"","access_token":"a"}`, 0},
		{"not a number", `{"expires_in":"soon","access_token":"a"}`, 0},
		{"boolean", `{"expires_in":true,"access_token":"a"}`, 0},
		{"absurd", `{"expires_in":1e12,"access_token":"a"}`, 0},
		{"NaN string", `{"expires_in":"NaN","access_token":"a"}`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newClock()
			f := newIdP(t, func(seen) answer { return answer{Body: tt.body} })
			c := newTestClient(t, f, clock, nil)
			tr, err := c.Refresh(context.Background(), customerTenant, seatsync.NewSecret(testRT1), graphScope)
			if tt.want == 0 {
				ie, ok := errors.AsType[*Error](err)
				if !ok || ie.Kind != KindUnavailable {
					t.Fatalf("err = %v, want KindUnavailable", err)
				}
				if !strings.Contains(err.Error(), "expires_in") {
					t.Errorf("message does not say what is wrong: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := tr.ExpiresAt.Sub(clock.Now()); got != tt.want {
				t.Errorf("lifetime = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRotatedRefreshToken(t *testing.T) {
	tests := []struct {
		name string
		rt   string
	}{
		{"rotated", testRT2},
		{"absent", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newIdP(t, func(seen) answer { return answer{Body: tokenBody(testAT, tt.rt, "", 3599)} })
			c := newTestClient(t, f, newClock(), nil)
			tr, err := c.Refresh(context.Background(), customerTenant, seatsync.NewSecret(testRT1), graphScope)
			if err != nil {
				t.Fatal(err)
			}
			if tr.RefreshToken.Reveal() != tt.rt {
				t.Errorf("refresh token = %q, want %q", tr.RefreshToken.Reveal(), tt.rt)
			}
			if tr.IDToken.IsZero() != true {
				t.Error("id token invented")
			}
		})
	}
}

// TestTokenErrors covers every AADSTS number the package classifies, plus
// the OAuth error fallbacks.
func TestTokenErrors(t *testing.T) {
	tests := []struct {
		oauthErr string
		aadsts   int
		status   int
		kind     Kind
		code     string
	}{
		{"invalid_grant", 700082, 400, KindExpiredOrRevoked, ETokenExpired},
		{"invalid_grant", 70008, 400, KindExpiredOrRevoked, ETokenExpired},
		{"invalid_grant", 50173, 400, KindExpiredOrRevoked, ETokenExpired},
		{"invalid_grant", 700084, 400, KindExpiredOrRevoked, ETokenExpired},
		{"invalid_grant", 54005, 400, KindExpiredOrRevoked, ETokenExpired},
		{"invalid_grant", 50076, 400, KindInteractionRequired, EMFARequired},
		{"interaction_required", 50076, 400, KindInteractionRequired, EMFARequired},
		{"invalid_grant", 50078, 400, KindInteractionRequired, EMFARequired},
		{"invalid_grant", 50079, 400, KindInteractionRequired, EMFARequired},
		{"invalid_grant", 70043, 400, KindInteractionRequired, EMFARequired},
		{"interaction_required", 50158, 400, KindInteractionRequired, EMFARequired},
		{"invalid_grant", 65001, 400, KindConsentRequired, EConsentRequired},
		{"invalid_grant", 90099, 400, KindConsentRequired, EConsentRequired},
		{"invalid_client", 7000215, 401, KindInvalidClient, EInvalidClient},
		{"invalid_client", 7000222, 401, KindInvalidClient, EInvalidClient},
		{"invalid_client", 7000218, 401, KindInvalidClient, EInvalidClient},
		{"unauthorized_client", 700016, 400, KindInvalidClient, EInvalidClient},
		{"invalid_grant", 53003, 400, KindConditionalAccess, EConditionalAccess},
		{"invalid_grant", 53000, 400, KindConditionalAccess, EConditionalAccess},
		{"invalid_grant", 53001, 400, KindConditionalAccess, EConditionalAccess},
		{"invalid_request", 90002, 400, KindTenantNotFound, ETenantNotFound},
		{"invalid_grant", 90072, 400, KindTenantNotFound, ETenantNotFound},
		{"invalid_grant", 50020, 400, KindTenantNotFound, ETenantNotFound},
		// No known number: the OAuth error value decides.
		{"invalid_grant", 9999999, 400, KindExpiredOrRevoked, ETokenExpired},
		{"interaction_required", 0, 400, KindInteractionRequired, EMFARequired},
		{"consent_required", 0, 400, KindConsentRequired, EConsentRequired},
		{"invalid_client", 0, 401, KindInvalidClient, EInvalidClient},
		{"temporarily_unavailable", 0, 400, KindUnavailable, EIdentityUnavailable},
		{"invalid_scope", 70011, 400, KindOther, EIdentityError},
		// The status wins over the body.
		{"invalid_grant", 700082, 500, KindUnavailable, EIdentityUnavailable},
		{"invalid_grant", 700082, 429, KindThrottled, EThrottled},
	}
	for _, tt := range tests {
		for _, withCodes := range []bool{true, false} {
			name := fmt.Sprintf("%s/%d/%d/codes=%v", tt.oauthErr, tt.aadsts, tt.status, withCodes)
			t.Run(name, func(t *testing.T) {
				body := errorBody(tt.oauthErr, tt.aadsts, withCodes)
				if tt.aadsts == 0 {
					body = fmt.Sprintf(`{"error":%q,"error_description":"no number here","trace_id":"t-1","correlation_id":"c-1"}`, tt.oauthErr)
				}
				f := newIdP(t, func(seen) answer { return answer{Status: tt.status, Body: body} })
				c := newTestClient(t, f, newClock(), nil)
				_, err := c.Refresh(context.Background(), customerTenant, seatsync.NewSecret(testRT1), graphScope)
				ie, ok := errors.AsType[*Error](err)
				if !ok {
					t.Fatalf("err = %v (%T), want *Error", err, err)
				}
				if ie.Kind != tt.kind {
					t.Errorf("kind = %v, want %v", ie.Kind, tt.kind)
				}
				if got := seatsync.ErrorCode(err); got != tt.code {
					t.Errorf("seatsync.ErrorCode = %q, want %q", got, tt.code)
				}
				if ie.HTTPStatus != tt.status {
					t.Errorf("status = %d", ie.HTTPStatus)
				}
				if ie.AADSTS != tt.aadsts {
					t.Errorf("AADSTS = %d, want %d", ie.AADSTS, tt.aadsts)
				}
				if tt.aadsts != 0 {
					if want := fmt.Sprintf("(AADSTS%d)", tt.aadsts); !strings.HasSuffix(ie.Error(), want) {
						t.Errorf("Error() = %q, want suffix %q", ie.Error(), want)
					}
					if ie.TraceID != "0000aaaa-11bb-cccc-dd22-eeeeee333333" || ie.CorrelationID != "aaaa0000-bb11-2222-33cc-444444dddddd" {
						t.Errorf("trace %q correlation %q", ie.TraceID, ie.CorrelationID)
					}
					if strings.ContainsAny(ie.Description, "\r\n") || !strings.HasPrefix(ie.Description, "AADSTS") {
						t.Errorf("description = %q", ie.Description)
					}
				}
				if !strings.HasPrefix(err.Error(), "identity: ") {
					t.Errorf("error not prefixed: %v", err)
				}
				if ie.Transient() != (tt.kind == KindThrottled || tt.kind == KindUnavailable) {
					t.Errorf("Transient = %v", ie.Transient())
				}
				if msg := seatsync.ErrorMessage(err); msg != ie.Message() || strings.Contains(msg, "internal error") {
					t.Errorf("seatsync.ErrorMessage = %q", msg)
				}
				for _, s := range []string{err.Error(), fmt.Sprintf("%+v %#v", err, err), ie.Message()} {
					assertNoSecret(t, "error text", s, allSecrets()...)
				}
			})
		}
	}
}

func TestErrorMessagesPerKind(t *testing.T) {
	for k := KindOther; k <= KindUnavailable; k++ {
		e := &Error{Kind: k, AADSTS: 700082}
		if e.Code() == "" || k.String() == "" || strings.HasPrefix(k.String(), "kind(") {
			t.Errorf("kind %d has no name or code", k)
		}
		if !strings.HasSuffix(e.Error(), "(AADSTS700082)") {
			t.Errorf("%v: %q lacks the AADSTS suffix", k, e.Error())
		}
	}
	seenCodes := map[string]Kind{}
	for k := KindOther; k <= KindUnavailable; k++ {
		if prev, dup := seenCodes[k.Code()]; dup {
			t.Errorf("kinds %v and %v share code %q", prev, k, k.Code())
		}
		seenCodes[k.Code()] = k
	}
	refresh := (&Error{Kind: KindExpiredOrRevoked, AADSTS: 700082}).Error()
	if refresh != "the partner's refresh token has expired or was revoked: grant consent again (AADSTS700082)" {
		t.Errorf("refresh message = %q", refresh)
	}
	code := (&Error{Kind: KindExpiredOrRevoked, AADSTS: 54005, grant: grantCode}).Error()
	if strings.Contains(code, "refresh token") {
		t.Errorf("a dead code is described as a refresh token: %q", code)
	}
	if got := (&Error{Kind: KindOther, OAuthError: "invalid scope <b>"}).Error(); strings.Contains(got, "<b>") {
		t.Errorf("free text in message: %q", got)
	}
}

func TestDescriptionIsCut(t *testing.T) {
	long := "AADSTS700082: " + strings.Repeat("é", 2000)
	body := fmt.Sprintf(`{"error":"invalid_grant","error_description":%q}`, long)
	f := newIdP(t, func(seen) answer { return answer{Status: 400, Body: body} })
	c := newTestClient(t, f, newClock(), nil)
	_, err := c.Refresh(context.Background(), customerTenant, seatsync.NewSecret(testRT1), graphScope)
	ie, ok := errors.AsType[*Error](err)
	if !ok {
		t.Fatal(err)
	}
	if n := len([]rune(ie.Description)); n != 500 {
		t.Errorf("description is %d runes, want 500", n)
	}
	if ie.AADSTS != 700082 || ie.Kind != KindExpiredOrRevoked {
		t.Errorf("number from description: %d %v", ie.AADSTS, ie.Kind)
	}
}

// TestUnusableAnswers: answers that are not the documented format must be
// KindUnavailable with our own words, never the body.
func TestUnusableAnswers(t *testing.T) {
	const marker = "BODYMARKER"
	huge := `{"access_token":"` + strings.Repeat("x", maxBody) + `","expires_in":3599}`
	tests := []struct {
		name   string
		a      answer
		kind   Kind
		retry  time.Duration
		phrase string // part of the message
	}{
		{"200 not JSON", answer{Body: "<html>" + marker + testRT1 + "</html>"}, KindUnavailable, 0, "not JSON"},
		{"200 empty", answer{Body: ""}, KindUnavailable, 0, "empty"},
		{"200 huge", answer{Body: huge}, KindUnavailable, 0, "1 MiB"},
		{"200 no access token", answer{Body: `{"token_type":"Bearer","expires_in":3599,"refresh_token":"` + testRT2 + `"}`}, KindUnavailable, 0, "without an access token"},
		{"200 JSON array", answer{Body: `["` + marker + `"]`}, KindUnavailable, 0, "not JSON"},
		{"400 HTML", answer{Status: 400, Body: "<html>" + marker + "</html>"}, KindUnavailable, 0, "not the documented JSON"},
		{"400 JSON without error", answer{Status: 400, Body: `{"message":"` + marker + `"}`}, KindUnavailable, 0, "not the documented JSON"},
		{"500 empty", answer{Status: 500}, KindUnavailable, 0, "empty"},
		{"502 HTML", answer{Status: 502, Body: "<html>" + marker + "</html>"}, KindUnavailable, 0, "HTTP 502"},
		{"503 retry-after", answer{Status: 503, Header: map[string]string{"Retry-After": "30"}, Body: `{"error":"temporarily_unavailable","error_description":"AADSTS90033: busy","error_codes":[90033]}`}, KindUnavailable, 30 * time.Second, "AADSTS90033"},
		{"429 seconds", answer{Status: 429, Header: map[string]string{"Retry-After": "120"}, Body: marker}, KindThrottled, 2 * time.Minute, "throttling"},
		{"429 http date", answer{Status: 429, Header: map[string]string{"Retry-After": "Mon, 02 Mar 2026 02:01:30 GMT"}}, KindThrottled, 90 * time.Second, "throttling"},
		{"429 no header", answer{Status: 429}, KindThrottled, 0, "HTTP 429"},
		{"302 redirect", answer{Status: 302, Header: map[string]string{"Location": "/followed"}}, KindUnavailable, 0, "redirect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newIdP(t, func(seen) answer { return tt.a })
			c := newTestClient(t, f, newClock(), nil)
			_, err := c.Refresh(context.Background(), customerTenant, seatsync.NewSecret(testRT1), graphScope)
			ie, ok := errors.AsType[*Error](err)
			if !ok {
				t.Fatalf("err = %v (%T), want *Error", err, err)
			}
			if ie.Kind != tt.kind {
				t.Errorf("kind = %v, want %v", ie.Kind, tt.kind)
			}
			if !ie.Transient() {
				t.Error("not transient")
			}
			if ie.RetryAfter != tt.retry {
				t.Errorf("RetryAfter = %v, want %v", ie.RetryAfter, tt.retry)
			}
			if !strings.Contains(err.Error(), tt.phrase) {
				t.Errorf("message %q lacks %q", err.Error(), tt.phrase)
			}
			if f.calls.Load() != 1 {
				t.Errorf("%d requests (a redirect was followed?)", f.calls.Load())
			}
			text := fmt.Sprintf("%v %+v %v", err, err, ie.LogValue())
			assertNoSecret(t, "error", text, append(allSecrets(), marker)...)
		})
	}
}

func TestContextCancelledMidRequest(t *testing.T) {
	arrived := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	f := newIdP(t, func(seen) answer {
		close(arrived)
		<-release
		return answer{Body: tokenBody(testAT, "", "", 3599)}
	})
	c := newTestClient(t, f, newClock(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-arrived
		cancel()
	}()
	start := time.Now()
	_, err := c.Refresh(ctx, customerTenant, seatsync.NewSecret(testRT1), graphScope)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if _, ok := errors.AsType[*Error](err); ok {
		t.Error("a cancellation is reported as an identity failure")
	}
	if time.Since(start) > 5*time.Second {
		t.Error("cancellation did not stop the request")
	}
}

func TestNetworkFailureIsUnavailable(t *testing.T) {
	f := newIdP(t, func(seen) answer { return answer{} })
	c := newTestClient(t, f, newClock(), nil)
	f.srv.Close()
	_, err := c.Refresh(context.Background(), customerTenant, seatsync.NewSecret(testRT1), graphScope)
	ie, ok := errors.AsType[*Error](err)
	if !ok || ie.Kind != KindUnavailable || ie.Err == nil || !ie.Transient() {
		t.Fatalf("err = %v, want unavailable with a cause", err)
	}
	assertNoSecret(t, "error", fmt.Sprintf("%v %v", err, ie.LogValue()), allSecrets()...)
}

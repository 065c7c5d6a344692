package mscloudsim_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seatsync/seatsync/shared/identity"
	"github.com/seatsync/seatsync/shared/mscloudsim"
	"github.com/seatsync/seatsync/shared/seatsync"
)

var (
	guidRE      = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	timestampRE = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$`)
)

// checkAADError checks a token endpoint error against the documented shape
// and returns it.
func checkAADError(t *testing.T, resp *http.Response, body []byte, status int, oauthErr string, code int) aadError {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status %d, want %d: %s", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	e := decode[aadError](t, body)
	if e.Error != oauthErr {
		t.Errorf("error %q, want %q", e.Error, oauthErr)
	}
	if !slices.Equal(e.Codes, []int{code}) {
		t.Errorf("error_codes %v, want [%d]", e.Codes, code)
	}
	prefix := fmt.Sprintf("AADSTS%d: ", code)
	if !strings.HasPrefix(e.Description, prefix) {
		t.Errorf("error_description %q does not start with %q", e.Description, prefix)
	}
	if !guidRE.MatchString(e.TraceID) || !guidRE.MatchString(e.CorrelationID) {
		t.Errorf("trace_id %q, correlation_id %q: want GUIDs", e.TraceID, e.CorrelationID)
	}
	if !timestampRE.MatchString(e.Timestamp) {
		t.Errorf("timestamp %q", e.Timestamp)
	}
	for _, part := range []string{"\r\nTrace ID: " + e.TraceID, "\r\nCorrelation ID: " + e.CorrelationID, "\r\nTimestamp: " + e.Timestamp} {
		if !strings.Contains(e.Description, part) {
			t.Errorf("error_description lacks %q: %q", part, e.Description)
		}
	}
	if !strings.HasSuffix(e.ErrorURI, fmt.Sprintf("/error?code=%d", code)) {
		t.Errorf("error_uri %q", e.ErrorURI)
	}
	return e
}

func TestAuthCodeFlowWithPKCE(t *testing.T) {
	s, urls := start(t, mscloudsim.Options{Seed: 1})
	q := authorizeCode(t, urls, authorizeQuery())
	if q.Get("state") != "state-123" || q.Get("code") == "" {
		t.Fatalf("redirect query %v", q)
	}
	resp, body := postForm(t, urls.Login+"/organizations/oauth2/v2.0/token", codeForm(q.Get("code")))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("redeem: %d %s", resp.StatusCode, body)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("Cache-Control %q", cc)
	}
	tb := decode[tokenBody](t, body)
	if string(tb.ExpiresIn) != "3599" {
		t.Errorf("expires_in %s, want the number 3599", tb.ExpiresIn)
	}
	if tb.TokenType != "Bearer" || tb.AccessToken == "" || tb.RefreshToken == "" || tb.IDToken == "" {
		t.Errorf("token answer %s", body)
	}
	if !strings.Contains(tb.Scope, "https://api.partnercenter.microsoft.com/user_impersonation") {
		t.Errorf("scope %q is not Partner Center's", tb.Scope)
	}

	// The id_token: unsigned JWT with the claims seatsync reads.
	parts := strings.Split(tb.IDToken, ".")
	if len(parts) != 3 || parts[2] != "" {
		t.Fatalf("id_token has %d segments (signature %q)", len(parts), parts[len(parts)-1])
	}
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if !strings.Contains(string(hdr), `"alg":"none"`) {
		t.Errorf("id_token header %s", hdr)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	p := s.Estate().Partner
	want := map[string]any{"tid": p.TenantID, "oid": p.User.ObjectID, "preferred_username": p.User.UserPrincipalName,
		"upn": p.User.UserPrincipalName, "name": p.User.DisplayName, "nonce": "nonce-456", "aud": mscloudsim.DefaultClientID,
		"iss": urls.Login + "/" + p.TenantID + "/v2.0"}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("claim %s = %v, want %v", k, claims[k], v)
		}
	}
	iat, _ := claims["iat"].(float64)
	exp, _ := claims["exp"].(float64)
	if iat <= 0 || exp <= iat {
		t.Errorf("iat %v exp %v", claims["iat"], claims["exp"])
	}
	// seatsync's own parser reads it.
	c, err := identity.ParseIDToken(seatsync.NewSecret(tb.IDToken))
	if err != nil || c.TenantID != p.TenantID || !c.Nonce.Equal(seatsync.NewSecret("nonce-456")) {
		t.Errorf("identity.ParseIDToken: %+v, %v", c, err)
	}

	// The access token reads Partner Center.
	r2, b2 := get(t, http.DefaultClient, urls.PartnerCenter+"/v1/customers?size=10", "Authorization", "Bearer "+tb.AccessToken)
	if r2.StatusCode != http.StatusOK {
		t.Errorf("Partner Center with the new token: %d %s", r2.StatusCode, b2)
	}
}

func TestCodeRedemptionErrors(t *testing.T) {
	clk := newClock()
	_, urls := start(t, mscloudsim.Options{Seed: 1, Now: clk.Now})
	code := authorizeCode(t, urls, authorizeQuery()).Get("code")
	tokenURL := urls.Login + "/organizations/oauth2/v2.0/token"
	with := func(k, v string) url.Values {
		f := codeForm(code)
		if v == "" {
			f.Del(k)
		} else {
			f.Set(k, v)
		}
		return f
	}
	for _, tc := range []struct {
		name     string
		form     url.Values
		status   int
		oauthErr string
		code     int
	}{
		{"wrong verifier", with("code_verifier", testVerifier+"x"), 400, "invalid_grant", 501481},
		{"missing verifier", with("code_verifier", ""), 400, "invalid_request", 900144},
		{"wrong redirect uri", with("redirect_uri", "https://seatsync.example/other"), 400, "invalid_grant", 50011},
		{"wrong secret", with("client_secret", "not-the-secret"), 401, "invalid_client", 7000215},
		{"no secret", with("client_secret", ""), 401, "invalid_client", 7000218},
		{"unknown client", with("client_id", "00000000-1111-2222-3333-444444444444"), 400, "unauthorized_client", 700016},
		{"unknown code", with("code", "simcode_made-up"), 400, "invalid_grant", 9002313},
		{"bad grant type", with("grant_type", "password"), 400, "unsupported_grant_type", 70003},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := postForm(t, tokenURL, tc.form)
			checkAADError(t, resp, body, tc.status, tc.oauthErr, tc.code)
		})
	}

	// None of those used the code up; the right request redeems it once.
	resp, body := postForm(t, tokenURL, codeForm(code))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("redeem after failed attempts: %d %s", resp.StatusCode, body)
	}
	resp, body = postForm(t, tokenURL, codeForm(code))
	checkAADError(t, resp, body, 400, "invalid_grant", 54005)

	// Codes live ten minutes.
	late := authorizeCode(t, urls, authorizeQuery()).Get("code")
	clk.Advance(10*time.Minute + time.Second)
	resp, body = postForm(t, tokenURL, codeForm(late))
	checkAADError(t, resp, body, 400, "invalid_grant", 70008)
}

func TestTokenEndpointWantsAForm(t *testing.T) {
	_, urls := start(t, mscloudsim.Options{Seed: 1})
	tokenURL := urls.Login + "/organizations/oauth2/v2.0/token"
	resp, err := http.Post(tokenURL, "application/json", strings.NewReader(`{"grant_type":"refresh_token"}`))
	if err != nil {
		t.Fatal(err)
	}
	b := readAll(t, resp)
	checkAADError(t, resp, b, 400, "invalid_request", 900144)

	// Query parameters are not the form.
	resp, err = http.Post(tokenURL+"?grant_type=refresh_token&client_id="+mscloudsim.DefaultClientID, "application/x-www-form-urlencoded", strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	b = readAll(t, resp)
	checkAADError(t, resp, b, 400, "invalid_request", 900144)

	r2, b2 := get(t, http.DefaultClient, tokenURL)
	checkAADError(t, r2, b2, 400, "invalid_request", 900561)

	// The correlation id echoes client-request-id.
	req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader("grant_type=refresh_token"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("client-request-id", "11111111-2222-4333-8444-555555555555")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	e := checkAADError(t, resp, readAll(t, resp), 400, "invalid_request", 900144)
	if e.CorrelationID != "11111111-2222-4333-8444-555555555555" {
		t.Errorf("correlation_id %q does not echo client-request-id", e.CorrelationID)
	}
}

func TestRefreshTokenRotation(t *testing.T) {
	clk := newClock()
	_, urls := start(t, mscloudsim.Options{Seed: 1, Now: clk.Now})
	rt0 := consent(t, urls).RefreshToken

	seen := map[string]bool{rt0: true}
	rt := rt0
	for i := range 3 {
		resp, body := refresh(t, urls, "organizations", rt, graphScope)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("refresh %d: %d %s", i, resp.StatusCode, body)
		}
		tb := decode[tokenBody](t, body)
		if tb.RefreshToken == "" || seen[tb.RefreshToken] {
			t.Fatalf("refresh %d did not rotate the refresh token", i)
		}
		if !strings.Contains(tb.Scope, "https://graph.microsoft.com/") {
			t.Errorf("scope %q is not Graph's", tb.Scope)
		}
		seen[tb.RefreshToken] = true
		rt = tb.RefreshToken
	}

	// Old refresh tokens keep working, until 90 days after their issue.
	clk.Advance(89 * 24 * time.Hour)
	if resp, body := refresh(t, urls, "organizations", rt0, graphScope); resp.StatusCode != http.StatusOK {
		t.Fatalf("the first refresh token after 89 days: %d %s", resp.StatusCode, body)
	} else {
		rt = decode[tokenBody](t, body).RefreshToken
	}
	clk.Advance(24 * time.Hour)
	resp, body := refresh(t, urls, "organizations", rt0, graphScope)
	e := checkAADError(t, resp, body, 400, "invalid_grant", 700082)
	if !strings.Contains(e.Description, "inactive for 90.00:00:00") {
		t.Errorf("description %q", e.Description)
	}
	// The one issued on day 89 still works.
	if resp, body := refresh(t, urls, "organizations", rt, graphScope); resp.StatusCode != http.StatusOK {
		t.Errorf("a refresh token issued a day ago: %d %s", resp.StatusCode, body)
	}
}

func TestCustomerTenantRedemption(t *testing.T) {
	s, urls := start(t, mscloudsim.Options{Seed: 1})
	e := s.Estate()
	rt := consent(t, urls).RefreshToken
	var dapOnly, gdap mscloudsim.Tenant
	for _, tn := range readable(e) {
		switch {
		case slices.Equal(tn.Relationships, []string{"dap"}):
			dapOnly = tn
		case tn.Has("gdap") && tn.Has("csp"):
			gdap = tn
		}
	}
	for _, tn := range []mscloudsim.Tenant{gdap, dapOnly, withFailure(t, e, mscloudsim.FailureNoRoles), withFailure(t, e, mscloudsim.FailureDeleted)} {
		for _, authority := range []string{tn.TenantID, tn.InitialDomain} {
			resp, body := refresh(t, urls, authority, rt, graphScope)
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s (%v) at %s: %d %s", tn.DisplayName, tn.Relationships, authority, resp.StatusCode, body)
			}
		}
	}
	tok := accessToken(t, urls, rt, gdap.TenantID, graphScope)
	resp, body := graphGet(t, urls, tok, "/v1.0/subscribedSkus")
	if resp.StatusCode != http.StatusOK {
		t.Errorf("subscribedSkus with the customer token: %d %s", resp.StatusCode, body)
	}

	resp, body = refresh(t, urls, "5f0e2b7c-0000-4000-8000-000000000000", rt, graphScope)
	checkAADError(t, resp, body, 400, "invalid_tenant", 90002)
}

func TestConfiguredTokenFailures(t *testing.T) {
	s, urls := start(t, mscloudsim.Options{Seed: 5})
	e := s.Estate()
	rt := consent(t, urls).RefreshToken
	for _, tc := range []struct {
		failure  mscloudsim.Failure
		oauthErr string
		code     int
		subError string
	}{
		{mscloudsim.FailureConsentMissing, "invalid_grant", 65001, "consent_required"},
		{mscloudsim.FailureMFARequired, "invalid_grant", 50076, "basic_action"},
		{mscloudsim.FailureTokenExpired, "invalid_grant", 700082, ""},
		{mscloudsim.FailureTenantNotFound, "invalid_tenant", 90002, ""},
		{mscloudsim.FailureNoAdminRelationship, "invalid_grant", 50020, ""},
	} {
		t.Run(string(tc.failure), func(t *testing.T) {
			tn := withFailure(t, e, tc.failure)
			resp, body := refresh(t, urls, tn.TenantID, rt, graphScope)
			got := checkAADError(t, resp, body, 400, tc.oauthErr, tc.code)
			if got.SubError != tc.subError {
				t.Errorf("suberror %q, want %q", got.SubError, tc.subError)
			}
			// The same refresh token still works at the partner.
			if resp, _ := refresh(t, urls, "organizations", rt, pcScope); resp.StatusCode != http.StatusOK {
				t.Errorf("the partner's own refresh failed after a customer failure: %d", resp.StatusCode)
			}
		})
	}
}

func TestAuthorizePageEscapesAndConsents(t *testing.T) {
	_, urls := start(t, mscloudsim.Options{Seed: 1})
	hostileState := `"><script>alert('state')</script>`
	hostileRedirect := `https://seatsync.example/cb?next=<img src=x onerror=alert(1)>`
	q := authorizeQuery()
	q.Set("state", hostileState)
	q.Set("redirect_uri", hostileRedirect)
	authorize := urls.Login + "/organizations/oauth2/v2.0/authorize?" + q.Encode()
	resp, body := get(t, noRedirect, authorize)
	page := string(body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("consent page: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{"<title>", `<form method="post" action="/organizations/oauth2/v2.0/authorize">`,
		`name="decision" value="consent"`, `name="decision" value="cancel"`, ">Consent<", ">Cancel<",
		html.EscapeString(mscloudsim.AppName), "https://api.partnercenter.microsoft.com/user_impersonation", "offline_access"} {
		if !strings.Contains(page, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	for _, raw := range []string{"<script>", "<img src=x"} {
		if strings.Contains(page, raw) {
			t.Errorf("consent page holds unescaped %q", raw)
		}
	}
	if !strings.Contains(page, "&lt;script&gt;") || !strings.Contains(page, "&lt;img") {
		t.Error("consent page does not show the escaped state and redirect URI")
	}
	m := regexp.MustCompile(`name="sim_request" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no sim_request field")
	}
	action := urls.Login + "/organizations/oauth2/v2.0/authorize"
	resp, _ = postForm(t, action, url.Values{"sim_request": {html.UnescapeString(m[1])}, "decision": {"consent"}})
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("consent POST: %d", resp.StatusCode)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc.Query().Get("state") != hostileState || loc.Query().Get("code") == "" || loc.Query().Get("next") != "<img src=x onerror=alert(1)>" {
		t.Errorf("redirect %s", loc)
	}
	// A request is answered once.
	resp, _ = postForm(t, action, url.Values{"sim_request": {html.UnescapeString(m[1])}, "decision": {"consent"}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("second answer to one request: %d, want 400", resp.StatusCode)
	}

	// Cancel goes back with access_denied.
	_, body = get(t, noRedirect, urls.Login+"/organizations/oauth2/v2.0/authorize?"+authorizeQuery().Encode())
	m = regexp.MustCompile(`name="sim_request" value="([^"]+)"`).FindStringSubmatch(string(body))
	resp, _ = postForm(t, action, url.Values{"sim_request": {html.UnescapeString(m[1])}, "decision": {"cancel"}})
	loc, _ = url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc.Query().Get("error") != "access_denied" ||
		!strings.HasPrefix(loc.Query().Get("error_description"), "AADSTS65004: ") || loc.Query().Get("state") != "state-123" ||
		loc.Query().Get("code") != "" {
		t.Errorf("cancel: %d %s", resp.StatusCode, loc)
	}
}

func TestAuthorizeValidation(t *testing.T) {
	_, urls := start(t, mscloudsim.Options{Seed: 1})
	for _, tc := range []struct {
		name   string
		tenant string
		change func(url.Values)
		page   string // an error page (no redirect) naming this
		err    string // else the redirect's error
		desc   string // and the start of its description
	}{
		{name: "unknown client", change: func(q url.Values) { q.Set("client_id", "00000000-1111-2222-3333-444444444444") }, page: "AADSTS700016"},
		{name: "redirect not http", change: func(q url.Values) { q.Set("redirect_uri", "ftp://seatsync.example/cb") }, page: "AADSTS50011"},
		{name: "no redirect", change: func(q url.Values) { q.Del("redirect_uri") }, page: "AADSTS900144"},
		{name: "unknown tenant", tenant: "nosuchtenant.onmicrosoft.com", page: "AADSTS90002"},
		{name: "no PKCE", change: func(q url.Values) { q.Del("code_challenge") }, err: "invalid_request", desc: "AADSTS900144"},
		{name: "plain PKCE", change: func(q url.Values) { q.Set("code_challenge_method", "plain") }, err: "invalid_request", desc: "AADSTS50149"},
		{name: "short challenge", change: func(q url.Values) { q.Set("code_challenge", "abc") }, err: "invalid_request", desc: "AADSTS501491"},
		{name: "token response", change: func(q url.Values) { q.Set("response_type", "token") }, err: "unsupported_response_type", desc: "AADSTS700054"},
		{name: "no scope", change: func(q url.Values) { q.Del("scope") }, err: "invalid_request", desc: "AADSTS900144"},
		{name: "foreign scope", change: func(q url.Values) { q.Set("scope", "openid https://vault.example.net/.default") }, err: "invalid_scope", desc: "AADSTS70011"},
		{name: "no state", change: func(q url.Values) { q.Del("state") }, err: "invalid_request", desc: "mscloudsim: state"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := authorizeQuery()
			if tc.change != nil {
				tc.change(q)
			}
			q.Set("sim_auto_consent", "1")
			tenant := tc.tenant
			if tenant == "" {
				tenant = "organizations"
			}
			resp, body := get(t, noRedirect, urls.Login+"/"+tenant+"/oauth2/v2.0/authorize?"+q.Encode())
			if tc.page != "" {
				if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), tc.page) || resp.Header.Get("Location") != "" {
					t.Errorf("want an error page with %s: %d %s", tc.page, resp.StatusCode, body)
				}
				return
			}
			loc, _ := url.Parse(resp.Header.Get("Location"))
			got := loc.Query()
			if resp.StatusCode != http.StatusFound || got.Get("error") != tc.err || !strings.HasPrefix(got.Get("error_description"), tc.desc) ||
				got.Get("code") != "" {
				t.Errorf("redirect %d %s, want error=%s %s…", resp.StatusCode, loc, tc.err, tc.desc)
			}
			if q.Get("state") != "" && got.Get("state") != q.Get("state") {
				t.Errorf("state %q not echoed", got.Get("state"))
			}
		})
	}
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return []byte(b.String())
}

package mscloudsim_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatsync/seatsync/shared/mscloudsim"
)

const (
	graphScope    = "https://graph.microsoft.com/.default"
	pcScope       = "https://api.partnercenter.microsoft.com/.default"
	consentScopes = "openid profile offline_access https://api.partnercenter.microsoft.com/user_impersonation https://graph.microsoft.com/Directory.Read.All"
	redirectURI   = "https://seatsync.example/api/consent/callback"
	testVerifier  = "verifier-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ"
)

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// start runs a simulator on loopback for the test.
func start(t *testing.T, opts mscloudsim.Options) (*mscloudsim.Sim, mscloudsim.URLs) {
	t.Helper()
	s := mscloudsim.New(opts)
	urls, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, urls
}

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// authorizeQuery is a valid authorize request's query.
func authorizeQuery() url.Values {
	return url.Values{
		"client_id":             {mscloudsim.DefaultClientID},
		"response_type":         {"code"},
		"response_mode":         {"query"},
		"redirect_uri":          {redirectURI},
		"scope":                 {consentScopes},
		"state":                 {"state-123"},
		"nonce":                 {"nonce-456"},
		"code_challenge":        {challenge(testVerifier)},
		"code_challenge_method": {"S256"},
		"prompt":                {"consent"},
	}
}

// get sends a GET and returns the response with its body read.
func get(t *testing.T, c *http.Client, u string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func postForm(t *testing.T, u string, form url.Values) (*http.Response, []byte) {
	t.Helper()
	resp, err := noRedirect.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// authorizeCode runs the authorize leg with sim_auto_consent and returns the
// redirect's query.
func authorizeCode(t *testing.T, urls mscloudsim.URLs, q url.Values) url.Values {
	t.Helper()
	q.Set("sim_auto_consent", "1")
	resp, _ := get(t, noRedirect, urls.Login+"/organizations/oauth2/v2.0/authorize?"+q.Encode())
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: status %d, want 302", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(loc.String(), redirectURI+"?") {
		t.Fatalf("authorize redirected to %s, want %s", loc, redirectURI)
	}
	return loc.Query()
}

// codeForm is the token request redeeming code.
func codeForm(code string) url.Values {
	return url.Values{
		"client_id":     {mscloudsim.DefaultClientID},
		"client_secret": {mscloudsim.DefaultClientSecret},
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {redirectURI},
		"code_verifier": {testVerifier},
		"scope":         {pcScope + " offline_access"},
	}
}

// tokenBody mirrors the documented v2.0 token answer.
type tokenBody struct {
	TokenType    string          `json:"token_type"`
	Scope        string          `json:"scope"`
	ExpiresIn    json.RawMessage `json:"expires_in"`
	ExtExpiresIn json.RawMessage `json:"ext_expires_in"`
	AccessToken  string          `json:"access_token"`
	RefreshToken string          `json:"refresh_token"`
	IDToken      string          `json:"id_token"`
}

// aadError mirrors the documented token error answer.
type aadError struct {
	Error         string `json:"error"`
	Description   string `json:"error_description"`
	Codes         []int  `json:"error_codes"`
	Timestamp     string `json:"timestamp"`
	TraceID       string `json:"trace_id"`
	CorrelationID string `json:"correlation_id"`
	ErrorURI      string `json:"error_uri"`
	SubError      string `json:"suberror"`
}

func decode[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decode %T: %v\n%s", v, err, body)
	}
	return v
}

// consent runs the whole consent flow and returns the code redemption's
// answer (a Partner Center token and the partner's refresh token).
func consent(t *testing.T, urls mscloudsim.URLs) tokenBody {
	t.Helper()
	q := authorizeCode(t, urls, authorizeQuery())
	resp, body := postForm(t, urls.Login+"/organizations/oauth2/v2.0/token", codeForm(q.Get("code")))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("code redemption: %d %s", resp.StatusCode, body)
	}
	return decode[tokenBody](t, body)
}

// refresh redeems rt at tenant's authority for scope.
func refresh(t *testing.T, urls mscloudsim.URLs, tenant, rt, scope string) (*http.Response, []byte) {
	t.Helper()
	return postForm(t, urls.Login+"/"+tenant+"/oauth2/v2.0/token", url.Values{
		"client_id":     {mscloudsim.DefaultClientID},
		"client_secret": {mscloudsim.DefaultClientSecret},
		"grant_type":    {"refresh_token"},
		"refresh_token": {rt},
		"scope":         {scope + " offline_access"},
	})
}

// accessToken returns an access token for scope in tenant, failing the test
// if there is none.
func accessToken(t *testing.T, urls mscloudsim.URLs, rt, tenant, scope string) string {
	t.Helper()
	resp, body := refresh(t, urls, tenant, rt, scope)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token for %s in %s: %d %s", scope, tenant, resp.StatusCode, body)
	}
	return decode[tokenBody](t, body).AccessToken
}

// graphGet GETs a Graph path (from /v1.0) with token.
func graphGet(t *testing.T, urls mscloudsim.URLs, token, path string, header ...string) (*http.Response, []byte) {
	t.Helper()
	h := append([]string{"Authorization", "Bearer " + token}, header...)
	if strings.HasPrefix(path, "http") {
		return get(t, http.DefaultClient, path, h...)
	}
	return get(t, http.DefaultClient, urls.Graph+path, h...)
}

// graphErr mirrors Graph's OData error.
type graphErr struct {
	Error struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		InnerError struct {
			Date      string `json:"date"`
			RequestID string `json:"request-id"`
		} `json:"innerError"`
	} `json:"error"`
}

// readable returns tenants whose Graph data a good token can read.
func readable(e mscloudsim.Estate) []mscloudsim.Tenant {
	var out []mscloudsim.Tenant
	for _, t := range e.Tenants {
		if t.Failure == mscloudsim.FailureNone {
			out = append(out, t)
		}
	}
	return out
}

func withFailure(t *testing.T, e mscloudsim.Estate, f mscloudsim.Failure) mscloudsim.Tenant {
	t.Helper()
	for _, tn := range e.Tenants {
		if tn.Failure == f {
			return tn
		}
	}
	t.Fatalf("no tenant with failure %q", f)
	return mscloudsim.Tenant{}
}

// inproc drives a simulator's handlers without a network, with fixed hosts,
// so that two simulators' bodies can be compared byte for byte.
type inproc struct {
	s *mscloudsim.Sim
}

func (p inproc) do(h http.Handler, method, target string, body io.Reader, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, body)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func (p inproc) token(t *testing.T, tenant, rt, scope string) tokenBody {
	t.Helper()
	form := url.Values{
		"client_id": {mscloudsim.DefaultClientID}, "client_secret": {mscloudsim.DefaultClientSecret},
		"grant_type": {"refresh_token"}, "refresh_token": {rt}, "scope": {scope},
	}
	rec := p.do(p.s.LoginHandler(), http.MethodPost, "http://login.test/"+tenant+"/oauth2/v2.0/token",
		strings.NewReader(form.Encode()), "Content-Type", "application/x-www-form-urlencoded")
	if rec.Code != http.StatusOK {
		t.Fatalf("token: %d %s", rec.Code, rec.Body)
	}
	return decode[tokenBody](t, rec.Body.Bytes())
}

func (p inproc) consent(t *testing.T) tokenBody {
	t.Helper()
	q := authorizeQuery()
	q.Set("sim_auto_consent", "1")
	rec := p.do(p.s.LoginHandler(), http.MethodGet, "http://login.test/organizations/oauth2/v2.0/authorize?"+q.Encode(), nil)
	if rec.Code != http.StatusFound {
		t.Fatalf("authorize: %d %s", rec.Code, rec.Body)
	}
	loc, _ := url.Parse(rec.Header().Get("Location"))
	rec = p.do(p.s.LoginHandler(), http.MethodPost, "http://login.test/organizations/oauth2/v2.0/token",
		strings.NewReader(codeForm(loc.Query().Get("code")).Encode()), "Content-Type", "application/x-www-form-urlencoded")
	if rec.Code != http.StatusOK {
		t.Fatalf("redeem: %d %s", rec.Code, rec.Body)
	}
	return decode[tokenBody](t, rec.Body.Bytes())
}

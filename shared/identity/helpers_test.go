package identity

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seatsync/seatsync/shared/seatsync"
)

// Secret values used across the tests. Each is distinctive so that a leak
// is found by a plain substring search.
const (
	testClientID     = "5b3c2a11-7d4e-4f60-9a8b-c0d1e2f3a4b5"
	testClientSecret = "CLIENTSECRET~q8Q.zZ_value"
	testRT1          = "RT1-0.AAAArefreshTokenOne"
	testRT2          = "RT2-0.BBBBrotatedTokenTwo"
	testAT           = "AT-eyJ0eXAiaccessTokenValue"
	testCode         = "CODE-AwABAAAAvPM1KaPlrEqd"
	testVerifier     = "VERIFIER-abcdefghijklmnopqrstuvwxyz0123456789ABCDEF"
	testState        = "STATE-3f9e2c71a0"
	testNonce        = "NONCE-8b1d44c2e9"

	customerTenant = "7d0a4a4e-2f1c-4c3e-9b55-3a1f2e6c8b10"
	partnerTenant  = "0f8fad5b-d9cb-469f-a165-70867728950e"
	graphScope     = "https://graph.microsoft.com/.default"
)

func allSecrets() []string {
	return []string{testClientSecret, testRT1, testRT2, testAT, testCode, testVerifier, testState, testNonce}
}

// assertNoSecret fails if text holds any of the secrets.
func assertNoSecret(t *testing.T, where, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("%s leaks secret %q: %s", where, s, text)
		}
	}
}

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// seen is one request as the fake identity platform received it.
type seen struct {
	Method string
	Path   string
	Header http.Header
	Form   url.Values
}

// answer is what the fake platform sends back.
type answer struct {
	Status int
	Header map[string]string
	Body   string
}

// fakeIdP is an identity platform token endpoint speaking the documented
// wire format, answering with respond and recording every request.
type fakeIdP struct {
	srv     *httptest.Server
	calls   atomic.Int64
	mu      sync.Mutex
	seen    []seen
	respond func(seen) answer
}

func newIdP(t *testing.T, respond func(seen) answer) *fakeIdP {
	t.Helper()
	f := &fakeIdP{respond: respond}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		s := seen{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Form: form}
		f.mu.Lock()
		f.seen = append(f.seen, s)
		f.mu.Unlock()
		a := f.respond(s)
		for k, v := range a.Header {
			w.Header().Set(k, v)
		}
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
		}
		if a.Status == 0 {
			a.Status = http.StatusOK
		}
		w.WriteHeader(a.Status)
		_, _ = io.WriteString(w, a.Body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeIdP) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.seen...)
}

// tokenBody is a v2.0 token answer; rt, idTok may be empty to leave them
// out; expiresIn is sent as given (number or string).
func tokenBody(at, rt, idTok string, expiresIn any) string {
	m := map[string]any{
		"token_type":     "Bearer",
		"scope":          "https://graph.microsoft.com/.default",
		"expires_in":     expiresIn,
		"ext_expires_in": expiresIn,
		"access_token":   at,
	}
	if rt != "" {
		m["refresh_token"] = rt
	}
	if idTok != "" {
		m["id_token"] = idTok
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// errorBody is a token endpoint error answer in the documented shape.
func errorBody(oauthErr string, code int, withCodes bool) string {
	desc := fmt.Sprintf("AADSTS%d: Something happened.\r\nTrace ID: 0000aaaa-11bb-cccc-dd22-eeeeee333333\r\nCorrelation ID: aaaa0000-bb11-2222-33cc-444444dddddd\r\nTimestamp: 2026-03-02 02:00:00Z", code)
	m := map[string]any{
		"error":             oauthErr,
		"error_description": desc,
		"timestamp":         "2026-03-02 02:00:00Z",
		"trace_id":          "0000aaaa-11bb-cccc-dd22-eeeeee333333",
		"correlation_id":    "aaaa0000-bb11-2222-33cc-444444dddddd",
		"error_uri":         fmt.Sprintf("https://login.microsoftonline.com/error?code=%d", code),
	}
	if withCodes {
		m["error_codes"] = []int{code}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// newTestClient returns a Client for f with the fake clock.
func newTestClient(t *testing.T, f *fakeIdP, clock *fakeClock, mod func(*Options)) *Client {
	t.Helper()
	o := &Options{Now: clock.Now}
	if mod != nil {
		mod(o)
	}
	c, err := New(f.srv.URL, testClientID, seatsync.NewSecret(testClientSecret), o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

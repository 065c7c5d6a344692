package partnercenter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seatsync/seatsync/shared/partnercenter"
	"github.com/seatsync/seatsync/shared/seatsync"
)

// testToken looks like a real access token so that a leak would be obvious.
const testToken = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.partner-delegated-token.c2lnbmF0dXJl"

// tokens is a seatsync.TokenSource that records what it was asked for.
type tokens struct {
	err   error
	calls atomic.Int32
	mu    sync.Mutex
	asked []string // "tenant|scope"
}

func (s *tokens) AccessToken(_ context.Context, tenantID, scope string) (seatsync.Secret, error) {
	s.calls.Add(1)
	s.mu.Lock()
	s.asked = append(s.asked, tenantID+"|"+scope)
	s.mu.Unlock()
	if s.err != nil {
		return seatsync.Secret{}, s.err
	}
	return seatsync.NewSecret(testToken), nil
}

// seen is one request as the fake Partner Center saw it.
type seen struct {
	Path, RawQuery string
	Header         http.Header
}

// fakePC is a Partner Center stand-in. Each test gives it a respond
// function; it checks the headers every request must carry and records the
// requests.
type fakePC struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	reqs    []seen
	respond func(w http.ResponseWriter, r *http.Request, n int) // n counts from 1
}

func newFakePC(t *testing.T, respond func(w http.ResponseWriter, r *http.Request, n int)) *fakePC {
	t.Helper()
	f := &fakePC{t: t, respond: respond}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.reqs = append(f.reqs, seen{Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone()})
		n := len(f.reqs)
		f.mu.Unlock()
		if r.Method != http.MethodGet {
			t.Errorf("method %s", r.Method)
		}
		if got := r.Header.Get("Authorization"); got != "Bearer "+testToken {
			t.Errorf("Authorization = %q", got)
		}
		if got := r.Header.Get("Accept"); got != "application/json" {
			t.Errorf("Accept = %q", got)
		}
		guidRE := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
		for _, h := range []string{"MS-RequestId", "MS-CorrelationId"} {
			if !guidRE.MatchString(r.Header.Get(h)) {
				t.Errorf("%s = %q, want a random GUID", h, r.Header.Get(h))
			}
		}
		f.respond(w, r, n)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakePC) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.reqs...)
}

// harness is a client of a fake with everything observable: the token
// source, the waits it asked for and its log.
type harness struct {
	t      *testing.T
	c      *partnercenter.Client
	tokens *tokens
	log    *syncBuffer
	mu     sync.Mutex
	sleeps []time.Duration
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newHarness returns a client of baseURL; edit adjusts the options. Waits
// are recorded, not slept, unless edit sets Sleep. At the end of the test
// the log is checked for the token.
func newHarness(t *testing.T, baseURL string, edit func(*partnercenter.Options)) *harness {
	t.Helper()
	h := &harness{t: t, tokens: &tokens{}, log: &syncBuffer{}}
	opts := &partnercenter.Options{
		Log: slog.New(slog.NewJSONHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Sleep: func(ctx context.Context, d time.Duration) error {
			h.mu.Lock()
			h.sleeps = append(h.sleeps, d)
			h.mu.Unlock()
			return ctx.Err()
		},
	}
	if edit != nil {
		edit(opts)
	}
	c, err := partnercenter.New(baseURL, h.tokens, opts)
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	t.Cleanup(func() {
		if strings.Contains(h.log.String(), testToken) || strings.Contains(h.log.String(), "partner-delegated-token") {
			t.Errorf("the token is in the log:\n%s", h.log.String())
		}
	})
	return h
}

func (h *harness) waits() []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]time.Duration(nil), h.sleeps...)
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeRaw answers body as it is.
func writeRaw(w http.ResponseWriter, status int, contentType, body string) {
	if contentType != "" {
		w.Header().Set("Content-Type", contentType)
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// customerJSON is one customer in the documented shape: id, companyProfile
// {tenantId, domain, companyName, attributes}, relationshipToPartner,
// attributes.
func customerJSON(id, tenantID, domain, name, rel string) map[string]any {
	profile := map[string]any{"tenantId": tenantID, "companyName": name,
		"attributes": map[string]any{"objectType": "CustomerCompanyProfile"}}
	if domain != "" {
		profile["domain"] = domain
	}
	c := map[string]any{"id": id, "companyProfile": profile, "attributes": map[string]any{"objectType": "Customer"}}
	if rel != "" {
		c["relationshipToPartner"] = rel
	}
	return c
}

// link is a Partner Center link with {"key","value"} headers.
func link(uri string, headers ...string) map[string]any {
	hs := []map[string]string{}
	for i := 0; i+1 < len(headers); i += 2 {
		hs = append(hs, map[string]string{"key": headers[i], "value": headers[i+1]})
	}
	return map[string]any{"uri": uri, "method": "GET", "headers": hs}
}

// page is a collection page; next and token may be empty.
func page(items []map[string]any, selfURI string, next map[string]any, token string) map[string]any {
	links := map[string]any{"self": link(selfURI)}
	if next != nil {
		links["next"] = next
	}
	p := map[string]any{"totalCount": len(items), "items": items, "links": links,
		"attributes": map[string]any{"objectType": "Collection"}}
	if token != "" {
		p["continuationToken"] = token
	}
	return p
}

// pcError returns the *partnercenter.Error in err, failing the test without one.
func pcError(t *testing.T, err error) *partnercenter.Error {
	t.Helper()
	pe, ok := errors.AsType[*partnercenter.Error](err)
	if !ok {
		t.Fatalf("error %v (%T) is not a *partnercenter.Error", err, err)
	}
	return pe
}

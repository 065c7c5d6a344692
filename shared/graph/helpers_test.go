package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seatsync/seatsync/shared/graph"
	"github.com/seatsync/seatsync/shared/seatsync"
)

// Tenants of the tests (own values).
const (
	partnerLabel = "partner"
	tenantA      = "6b1f0c3e-2d4a-4f7b-9a51-0c8e7d3b2a19"
	tenantB      = "c07e5d92-81f4-4a3c-b6e2-5f9d1a7c4e80"
)

// tokenFor is the token the fake token source gives for tenant ("" is the
// partner's own). It looks like a real access token so that a leak would be
// obvious, and it names the tenant so that the fake Graph can tell which
// tenant a request is for, as the real one does from the token.
func tokenFor(tenant string) string {
	if tenant == "" {
		tenant = partnerLabel
	}
	return "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.tenant-" + tenant + ".c2lnbmF0dXJlLXNlY3JldA"
}

// tenantOf reads the tenant ("" for the partner's own) back from an
// Authorization header; ok is false for anything but a token of tokenFor.
func tenantOf(authorization string) (tenant string, ok bool) {
	tok, found := strings.CutPrefix(authorization, "Bearer ")
	if !found {
		return "", false
	}
	_, rest, found := strings.Cut(tok, ".tenant-")
	if !found {
		return "", false
	}
	tenant, _, _ = strings.Cut(rest, ".")
	if tenant == partnerLabel {
		tenant = ""
	}
	return tenant, tok == tokenFor(tenant)
}

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
	return seatsync.NewSecret(tokenFor(tenantID)), nil
}

func (s *tokens) Asked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.asked...)
}

// seen is one request as the fake Graph saw it.
type seen struct {
	Method, Path, RawQuery string
	Tenant                 string
	Header                 http.Header
}

// fakeGraph is a Graph stand-in. Each test gives it a respond function
// that answers per path (and per tenant, from the token); it checks the
// token on every request and records the requests.
type fakeGraph struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	reqs    []seen
	respond func(w http.ResponseWriter, r *http.Request, tenant string, n int) // n counts from 1
}

func newFakeGraph(t *testing.T, respond func(w http.ResponseWriter, r *http.Request, tenant string, n int)) *fakeGraph {
	t.Helper()
	f := &fakeGraph{t: t, respond: respond}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tenant, ok := tenantOf(r.Header.Get("Authorization"))
		f.mu.Lock()
		f.reqs = append(f.reqs, seen{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Tenant: tenant, Header: r.Header.Clone()})
		n := len(f.reqs)
		f.mu.Unlock()
		if r.Method != http.MethodGet {
			t.Errorf("method %s", r.Method)
		}
		if !ok {
			t.Errorf("%s: Authorization header is not a test token", r.URL.Path)
			writeError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty.", "")
			return
		}
		f.respond(w, r, tenant, n)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGraph) Requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.reqs...)
}

// url is the fake's base URL plus p.
func (f *fakeGraph) url(p string) string { return f.srv.URL + p }

// sleeps records the waits a client asked for instead of waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) Waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// syncBuffer is a log sink safe for the concurrent writes of a test.
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

// harness is a client of a fake Graph with recorded tokens, waits and logs.
type harness struct {
	f      *fakeGraph
	c      *graph.Client
	tokens *tokens
	sleeps *sleeps
	log    *syncBuffer
}

func newHarness(t *testing.T, respond func(w http.ResponseWriter, r *http.Request, tenant string, n int), tweak func(*graph.Options)) *harness {
	t.Helper()
	h := &harness{f: newFakeGraph(t, respond), tokens: &tokens{}, sleeps: &sleeps{}, log: &syncBuffer{}}
	opts := &graph.Options{
		Log:   slog.New(slog.NewJSONHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Sleep: h.sleeps.Sleep,
	}
	if tweak != nil {
		tweak(opts)
	}
	c, err := graph.New(h.f.srv.URL, h.tokens, opts)
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	return h
}

// writeJSON answers v as Graph does: JSON with OData metadata parameters
// in the content type and a request-id header.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	w.Header().Set("request-id", "0e5a4f2c-9b7d-4c1e-8a36-d2f1b0c97e45")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeRaw answers body as is.
func writeRaw(w http.ResponseWriter, status int, contentType, body string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("request-id", "0e5a4f2c-9b7d-4c1e-8a36-d2f1b0c97e45")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// writeError answers Graph's OData error body (innerError with date,
// request-id and client-request-id, as the docs show them).
func writeError(w http.ResponseWriter, status int, code, message, retryAfter string) {
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	writeJSON(w, status, map[string]any{
		"error": map[string]any{
			"code":    code,
			"message": message,
			"innerError": map[string]any{
				"date":              "2025-03-04T02:17:41",
				"request-id":        "7f3c2b1a-5e4d-4c3b-9a2f-1e0d9c8b7a65",
				"client-request-id": "3a9e8d7c-6b5a-4f3e-8d2c-1b0a9f8e7d6c",
			},
		},
	})
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

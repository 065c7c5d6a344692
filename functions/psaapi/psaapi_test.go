package psaapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seatsync/seatsync/functions/psaapi"
	"github.com/seatsync/seatsync/shared/logctx"
	"github.com/seatsync/seatsync/shared/seatsync"
)

// fakeStore answers from its fields and records the Tenants calls.
type fakeStore struct {
	conn    seatsync.Connection
	connErr error
	tenants func(top int, continuation string) ([]seatsync.Tenant, string, error)
	calls   []tenantsCall
}

type tenantsCall struct {
	top          int
	continuation string
}

var _ psaapi.Store = (*fakeStore)(nil)

func (f *fakeStore) Connection(context.Context) (seatsync.Connection, error) {
	return f.conn, f.connErr
}

func (f *fakeStore) Tenants(_ context.Context, top int, continuation string) ([]seatsync.Tenant, string, error) {
	f.calls = append(f.calls, tenantsCall{top, continuation})
	if f.tenants == nil {
		return []seatsync.Tenant{}, "", nil
	}
	return f.tenants(top, continuation)
}

type testAPI struct {
	store   *fakeStore
	lic     *fakeLicences
	runs    *fakeRuns
	starter *fakeStarter
	api     *psaapi.API
	log     *bytes.Buffer
}

func newAPI(store *fakeStore, opts *psaapi.Options) *testAPI {
	var buf bytes.Buffer
	return &testAPI{store: store, api: psaapi.New(store, logctx.NewJSON(&buf, slog.LevelDebug), opts), log: &buf}
}

// do serves one request; target may be a path or an absolute URL.
func (a *testAPI) do(method, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	a.api.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}

// objectKeys decodes a JSON object and returns its sorted keys.
func objectKeys(t *testing.T, raw []byte) ([]string, map[string]json.RawMessage) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("not a JSON object: %s: %v", raw, err)
	}
	return slices.Sorted(maps.Keys(m)), m
}

func sorted(s ...string) []string { return slices.Sorted(slices.Values(s)) }

var (
	connectionFields = sorted("status", "partnerTenantId", "consentedBy", "consentedAt", "credentialsValidated",
		"validatedAt", "refreshTokenExpiresAt", "lastError")
	tenantFields = sorted("tenantId", "displayName", "defaultDomain", "relationships", "active", "status",
		"lastSyncedAt", "lastError")
)

// checkJSON asserts the status and the API's JSON headers.
func checkJSON(t *testing.T, rec *httptest.ResponseRecorder, status int) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	h := rec.Result().Header
	if h.Get("Content-Type") != "application/json; charset=utf-8" || h.Get("X-Content-Type-Options") != "nosniff" ||
		h.Get("Cache-Control") != "no-store" {
		t.Errorf("headers = %v", h)
	}
}

// checkError asserts the contract's error body and returns its message.
func checkError(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) string {
	t.Helper()
	checkJSON(t, rec, status)
	var body struct {
		Error map[string]string `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("error body %s: %v", rec.Body, err)
	}
	if body.Error["code"] != code || body.Error["message"] == "" || len(body.Error) != 2 {
		t.Errorf("error = %v, want code %q and a message", body.Error, code)
	}
	return body.Error["message"]
}

func ptr[T any](v T) *T { return &v }

func TestConnection(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.UTC)
	tests := []struct {
		name string
		conn seatsync.Connection
		want map[string]string // field → its JSON
	}{
		{
			name: "connected",
			conn: seatsync.Connection{Status: seatsync.Connected, PartnerTenantID: "11111111-2222-3333-4444-555555555555",
				ConsentedBy: "admin@partner.example", ConsentedAt: &at, CredentialsValidated: true,
				ValidatedAt: ptr(at.Add(time.Hour)), RefreshTokenExpiresAt: ptr(at.Add(90 * 24 * time.Hour)),
				LastError: &seatsync.Problem{Code: "consent_revoked", Message: "Consent was revoked."}},
			want: map[string]string{
				"status": `"connected"`, "partnerTenantId": `"11111111-2222-3333-4444-555555555555"`,
				"consentedBy": `"admin@partner.example"`, "consentedAt": `"2026-03-04T05:06:07.123456789Z"`,
				"credentialsValidated": `true`, "validatedAt": `"2026-03-04T06:06:07.123456789Z"`,
				"refreshTokenExpiresAt": `"2026-06-02T05:06:07.123456789Z"`,
				"lastError":             `{"code":"consent_revoked","message":"Consent was revoked."}`,
			},
		},
		{
			name: "not connected",
			conn: seatsync.Connection{Status: seatsync.NotConnected},
			want: map[string]string{
				"status": `"not_connected"`, "partnerTenantId": `""`, "consentedBy": `""`, "consentedAt": `null`,
				"credentialsValidated": `false`, "validatedAt": `null`, "refreshTokenExpiresAt": `null`, "lastError": `null`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newAPI(&fakeStore{conn: tc.conn}, nil)
			rec := a.do(http.MethodGet, "/api/v1/connection")
			checkJSON(t, rec, http.StatusOK)
			keys, m := objectKeys(t, rec.Body.Bytes())
			if !slices.Equal(keys, connectionFields) {
				t.Errorf("fields = %v, want %v", keys, connectionFields)
			}
			for k, want := range tc.want {
				if got := string(m[k]); got != want {
					t.Errorf("%s = %s, want %s", k, got, want)
				}
			}
		})
	}
}

func TestConnectionStoreError(t *testing.T) {
	a := newAPI(&fakeStore{connErr: errors.New("tables: query connections: dial tcp 10.0.0.7:10002: refused")}, nil)
	rec := a.do(http.MethodGet, "/api/v1/connection")
	checkError(t, rec, http.StatusInternalServerError, seatsync.EInternal)
	if strings.Contains(rec.Body.String(), "10.0.0.7") || strings.Contains(rec.Body.String(), "tables") {
		t.Errorf("detail in body: %s", rec.Body)
	}
	if !strings.Contains(a.log.String(), "10.0.0.7") {
		t.Errorf("detail not logged:\n%s", a.log)
	}
}

func TestTenantsList(t *testing.T) {
	synced := time.Date(2026, 11, 21, 2, 0, 0, 5, time.UTC)
	full := seatsync.Tenant{TenantID: "aaaaaaaa-0000-0000-0000-000000000001", DisplayName: "Contoso", DefaultDomain: "contoso.onmicrosoft.com",
		Relationships: []string{seatsync.RelationshipGDAP, seatsync.RelationshipCSP}, Active: true, Status: seatsync.TenantError,
		LastSyncedAt: &synced, LastError: &seatsync.Problem{Code: "forbidden", Message: "GDAP role missing."}}
	bare := seatsync.Tenant{TenantID: "bbbbbbbb-0000-0000-0000-000000000002", DisplayName: "Fabrikam", DefaultDomain: "fabrikam.example",
		Relationships: []string{}, Status: seatsync.TenantPending}
	store := &fakeStore{tenants: func(int, string) ([]seatsync.Tenant, string, error) {
		return []seatsync.Tenant{full, bare}, "", nil
	}}
	a := newAPI(store, nil)
	rec := a.do(http.MethodGet, "/api/v1/tenants")
	checkJSON(t, rec, http.StatusOK)
	keys, body := objectKeys(t, rec.Body.Bytes())
	if !slices.Equal(keys, []string{"value"}) {
		t.Errorf("top-level fields = %v, want [value] (no nextLink on the last page)", keys)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(body["value"], &items); err != nil || len(items) != 2 {
		t.Fatalf("value = %s (%v)", body["value"], err)
	}
	wants := []map[string]string{
		{"tenantId": `"aaaaaaaa-0000-0000-0000-000000000001"`, "displayName": `"Contoso"`,
			"defaultDomain": `"contoso.onmicrosoft.com"`, "relationships": `["gdap","csp"]`, "active": `true`,
			"status": `"error"`, "lastSyncedAt": `"2026-11-21T02:00:00.000000005Z"`,
			"lastError": `{"code":"forbidden","message":"GDAP role missing."}`},
		{"tenantId": `"bbbbbbbb-0000-0000-0000-000000000002"`, "relationships": `[]`, "active": `false`,
			"status": `"pending"`, "lastSyncedAt": `null`, "lastError": `null`},
	}
	for i, item := range items {
		keys, m := objectKeys(t, item)
		if !slices.Equal(keys, tenantFields) {
			t.Errorf("tenant %d fields = %v, want %v", i, keys, tenantFields)
		}
		for k, want := range wants[i] {
			if got := string(m[k]); got != want {
				t.Errorf("tenant %d %s = %s, want %s", i, k, got, want)
			}
		}
	}
}

func TestTenantsEmptyListIsArray(t *testing.T) {
	tests := []struct {
		name  string
		value []seatsync.Tenant
	}{
		{name: "empty slice", value: []seatsync.Tenant{}},
		{name: "nil slice", value: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newAPI(&fakeStore{tenants: func(int, string) ([]seatsync.Tenant, string, error) { return tc.value, "", nil }}, nil)
			rec := a.do(http.MethodGet, "/api/v1/tenants")
			checkJSON(t, rec, http.StatusOK)
			if got := strings.TrimSpace(rec.Body.String()); got != `{"value":[]}` {
				t.Errorf("body = %s, want {\"value\":[]}", got)
			}
		})
	}
}

func TestTenantsTop(t *testing.T) {
	tests := []struct {
		query   string
		wantTop int // 0: refused with 400 invalid
	}{
		{"", 100}, // the contract's default
		{"?top=1", 1},
		{"?top=1000", 1000},
		{"?top=37", 37},
		{"?$top=5", 5},
		{"?code=KEY", 100},
		{"?top=0", 0},
		{"?top=-1", 0},
		{"?top=1001", 0},
		{"?top=abc", 0},
		{"?top=1.5", 0},
		{"?top=99999999999999999999", 0},
		{"?$top=abc", 0},
		{"?$skiptoken=" + strings.Repeat("a", 4097), 0},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			a := newAPI(&fakeStore{}, nil)
			rec := a.do(http.MethodGet, "/api/v1/tenants"+tc.query)
			if tc.wantTop == 0 {
				checkError(t, rec, http.StatusBadRequest, seatsync.EInvalid)
				if len(a.store.calls) != 0 {
					t.Errorf("store called with %v for a refused request", a.store.calls)
				}
				return
			}
			checkJSON(t, rec, http.StatusOK)
			if want := []tenantsCall{{tc.wantTop, ""}}; !slices.Equal(a.store.calls, want) {
				t.Errorf("store calls = %v, want %v", a.store.calls, want)
			}
		})
	}
}

func TestTenantsNextLink(t *testing.T) {
	const token = "eyJwIjoidGVuYW50IiwiciI6ImFiYyJ9+/=&x" // characters that need escaping
	tests := []struct {
		name      string
		publicURL string
		target    string
		header    string // a key in x-functions-key
		wantBase  string // scheme://host[/prefix]
	}{
		{name: "request host", target: "http://psa.example.com/api/v1/tenants?code=KEY&top=50", wantBase: "http://psa.example.com"},
		{name: "request host over TLS", target: "https://psa.example.com:8443/api/v1/tenants?top=50&code=KEY", wantBase: "https://psa.example.com:8443"},
		{name: "key in header", target: "http://127.0.0.1:7071/api/v1/tenants?top=50", header: "KEY", wantBase: "http://127.0.0.1:7071"},
		{name: "public URL", publicURL: "https://seatsync.example.org", target: "http://127.0.0.1:7071/api/v1/tenants?top=50&code=KEY",
			wantBase: "https://seatsync.example.org"},
		{name: "public URL with trailing slash", publicURL: "https://seatsync.example.org/", target: "http://internal/api/v1/tenants?top=50&code=KEY",
			wantBase: "https://seatsync.example.org"},
		{name: "$top spelling", target: "http://psa.example.com/api/v1/tenants?$top=50&code=KEY", wantBase: "http://psa.example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := &fakeStore{tenants: func(top int, cont string) ([]seatsync.Tenant, string, error) {
				if cont == "" {
					return []seatsync.Tenant{{TenantID: "t1", Relationships: []string{}}}, token, nil
				}
				return []seatsync.Tenant{{TenantID: "t2", Relationships: []string{}}}, "", nil
			}}
			a := newAPI(store, &psaapi.Options{PublicURL: tc.publicURL})
			req := httptest.NewRequest(http.MethodGet, tc.target, nil)
			if tc.header != "" {
				req.Header.Set("x-functions-key", tc.header)
			}
			rec := httptest.NewRecorder()
			a.api.ServeHTTP(rec, req)
			checkJSON(t, rec, http.StatusOK)
			var page struct {
				NextLink string `json:"nextLink"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(page.NextLink, "KEY") {
				t.Fatalf("nextLink carries the key: %s", page.NextLink)
			}
			u, err := url.Parse(page.NextLink)
			if err != nil || !u.IsAbs() {
				t.Fatalf("nextLink %q is not an absolute URL (%v)", page.NextLink, err)
			}
			if got := u.Scheme + "://" + u.Host; got != tc.wantBase || u.Path != "/api/v1/tenants" {
				t.Errorf("nextLink %s: base %s path %s, want %s/api/v1/tenants", page.NextLink, got, u.Path, tc.wantBase)
			}
			q := u.Query()
			if q.Get("top") != "50" || q.Get("$skiptoken") != token || q.Has("code") || len(q) != 2 {
				t.Errorf("nextLink query = %v, want top=50 and $skiptoken=%q only", q, token)
			}

			// Following it passes the token back, with the same top.
			a.store.calls = nil
			next := httptest.NewRequest(http.MethodGet, page.NextLink, nil)
			next.Header.Set("x-functions-key", "KEY")
			rec = httptest.NewRecorder()
			a.api.ServeHTTP(rec, next)
			checkJSON(t, rec, http.StatusOK)
			if want := []tenantsCall{{50, token}}; !slices.Equal(a.store.calls, want) {
				t.Errorf("store calls = %v, want %v", a.store.calls, want)
			}
			keys, _ := objectKeys(t, rec.Body.Bytes())
			if !slices.Equal(keys, []string{"value"}) {
				t.Errorf("last page fields = %v, want no nextLink", keys)
			}
		})
	}
}

func TestTenantsStoreErrors(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		status  int
		code    string
		message string // "" for the generic internal message
		hidden  string // must not reach the body
	}{
		{name: "invalid", err: seatsync.Errorf(seatsync.EInvalid, "The continuation token is not valid; start again from the first page."),
			status: 400, code: seatsync.EInvalid, message: "The continuation token is not valid; start again from the first page."},
		{name: "wrapped invalid", err: fmt.Errorf("tenants: %w", seatsync.Errorf(seatsync.EInvalid, "Bad token.")),
			status: 400, code: seatsync.EInvalid, message: "Bad token."},
		{name: "plain", err: errors.New("tables: query tenants: dial tcp 10.0.0.7:10002: connection refused"),
			status: 500, code: seatsync.EInternal, hidden: "10.0.0.7"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newAPI(&fakeStore{tenants: func(int, string) ([]seatsync.Tenant, string, error) { return nil, "", tc.err }}, nil)
			rec := a.do(http.MethodGet, "/api/v1/tenants?$skiptoken=abc")
			msg := checkError(t, rec, tc.status, tc.code)
			want := tc.message
			if want == "" {
				want = seatsync.ErrorMessage(errors.New("x"))
			}
			if msg != want {
				t.Errorf("message = %q, want %q", msg, want)
			}
			if tc.hidden != "" {
				if strings.Contains(rec.Body.String(), tc.hidden) {
					t.Errorf("body leaks %q: %s", tc.hidden, rec.Body)
				}
				if !strings.Contains(a.log.String(), tc.hidden) {
					t.Errorf("detail not logged:\n%s", a.log)
				}
			}
		})
	}
}

func TestRoutesMethodsAndNotFound(t *testing.T) {
	tests := []struct {
		method, path string
		status       int
		code         string
		allow        string
	}{
		{http.MethodDelete, "/api/v1/tenants", 405, seatsync.EMethod, "GET"},
		{http.MethodPost, "/api/v1/tenants", 405, seatsync.EMethod, "GET"},
		{http.MethodPut, "/api/v1/tenants", 405, seatsync.EMethod, "GET"},
		{http.MethodPatch, "/api/v1/tenants", 405, seatsync.EMethod, "GET"},
		{http.MethodPost, "/api/v1/connection", 405, seatsync.EMethod, "GET"},
		{http.MethodGet, "/api/v1/unknown", 404, seatsync.ENotFound, ""},
		{http.MethodPost, "/api/v1/unknown", 404, seatsync.ENotFound, ""},
		{http.MethodGet, "/api/v1/tenants/" + tenantA + "/extra", 404, seatsync.ENotFound, ""},
		{http.MethodGet, "/api/v1/tenants/" + tenantA + "/licenses/x", 404, seatsync.ENotFound, ""},
		{http.MethodGet, "/api/v1/sync/runs", 404, seatsync.ENotFound, ""},
		{http.MethodGet, "/api/v1/", 404, seatsync.ENotFound, ""},
		{http.MethodGet, "/api/v1/sync", 405, seatsync.EMethod, "POST"},
		{http.MethodPut, "/api/v1/sync", 405, seatsync.EMethod, "POST"},
		{http.MethodPost, "/api/v1/tenants/" + tenantA, 405, seatsync.EMethod, "GET"},
		{http.MethodDelete, "/api/v1/tenants/" + tenantA + "/licenses", 405, seatsync.EMethod, "GET"},
		{http.MethodPost, "/api/v1/tenants/" + tenantA + "/subscriptions", 405, seatsync.EMethod, "GET"},
		{http.MethodPost, "/api/v1/tenants/" + tenantA + "/counts", 405, seatsync.EMethod, "GET"},
		{http.MethodPost, "/api/v1/licenses", 405, seatsync.EMethod, "GET"},
		{http.MethodPost, "/api/v1/changes", 405, seatsync.EMethod, "GET"},
		{http.MethodPost, "/api/v1/sync/runs/latest", 405, seatsync.EMethod, "GET"},
		{http.MethodDelete, "/api/v1/sync/runs/" + runDone, 405, seatsync.EMethod, "GET"},
		{http.MethodPost, "/api/v1/openapi.json", 405, seatsync.EMethod, "GET"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			a := newFullAPI()
			a.store.calls = nil
			rec := a.do(tc.method, tc.path+"?code=KEY")
			checkError(t, rec, tc.status, tc.code)
			a.noCalls(t)
			if got := rec.Result().Header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow = %q, want %q", got, tc.allow)
			}
			if len(a.store.calls) != 0 {
				t.Errorf("store called: %v", a.store.calls)
			}
			if strings.Contains(rec.Body.String(), "KEY") {
				t.Errorf("body echoes the query: %s", rec.Body)
			}
		})
	}
}

package consent_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatsync/seatsync/functions/consent"
	"github.com/seatsync/seatsync/shared/httpapi"
	"github.com/seatsync/seatsync/shared/identity"
	"github.com/seatsync/seatsync/shared/logctx"
	"github.com/seatsync/seatsync/shared/mscloudsim"
	"github.com/seatsync/seatsync/shared/seatsync"
	"github.com/seatsync/seatsync/shared/tables"
	"github.com/seatsync/seatsync/shared/tables/tablestest"
)

// ---------------------------------------------------------------------------
// Fakes.

// fakeClock is the handlers' clock; it starts at the real time so that the
// simulator (on the real clock) agrees with it until a test moves it.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Now().UTC().Truncate(time.Millisecond)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// memSecrets is an in-memory seatsync.SecretStore that records every write.
type memSecrets struct {
	mu      sync.Mutex
	writes  []secretWrite
	current map[string]secretWrite
	failSet error
}

type secretWrite struct {
	name  string
	value seatsync.Secret
	info  seatsync.SecretInfo
}

func newSecrets() *memSecrets { return &memSecrets{current: map[string]secretWrite{}} }

func (m *memSecrets) GetSecret(_ context.Context, name string) (seatsync.Secret, seatsync.SecretInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.current[name]
	if !ok {
		return seatsync.Secret{}, seatsync.SecretInfo{}, fmt.Errorf("memSecrets: %s: %w", name, seatsync.ErrSecretNotFound)
	}
	return w.value, w.info, nil
}

func (m *memSecrets) SetSecret(_ context.Context, name string, value seatsync.Secret, info seatsync.SecretInfo) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failSet != nil {
		return m.failSet
	}
	w := secretWrite{name: name, value: value, info: info}
	m.writes = append(m.writes, w)
	m.current[name] = w
	return nil
}

func (m *memSecrets) all() []secretWrite {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]secretWrite(nil), m.writes...)
}

// fakeRuns is a seatsync.RunStarter that records its calls.
type fakeRuns struct {
	mu    sync.Mutex
	calls []runCall
	err   error
}

type runCall struct {
	trigger   string
	tenantIDs []string
}

func (f *fakeRuns) StartRun(_ context.Context, trigger string, tenantIDs []string) (seatsync.Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, runCall{trigger, tenantIDs})
	if f.err != nil {
		return seatsync.Run{}, f.err
	}
	return seatsync.Run{RunID: fmt.Sprintf("run-%d", len(f.calls)), Trigger: trigger, Status: seatsync.RunRunning, StartedAt: time.Now()}, nil
}

func (f *fakeRuns) all() []runCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]runCall(nil), f.calls...)
}

// recordingStates wraps the real consent state store and keeps what was
// put, so that the log test can look for the sealed text too.
type recordingStates struct {
	*tables.ConsentStates
	mu  sync.Mutex
	put []tables.ConsentState
}

func (r *recordingStates) Put(ctx context.Context, st tables.ConsentState) error {
	r.mu.Lock()
	r.put = append(r.put, st)
	r.mu.Unlock()
	return r.ConsentStates.Put(ctx, st)
}

func (r *recordingStates) all() []tables.ConsentState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]tables.ConsentState(nil), r.put...)
}

// syncBuffer is a log sink safe for concurrent writers.
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

// wire is the transport of every client the handlers use (identity, Graph,
// Partner Center). It remembers every secret that crossed it (form fields of
// token requests, tokens of token answers, bearer tokens), so that tests can
// look for them where they must not be, and it can rewrite the id_token's
// claims to play a token endpoint that answers for another request.
type wire struct {
	base http.RoundTripper

	mu      sync.Mutex
	secrets map[string]bool
	rewrite func(claims map[string]any)
}

func newWire() *wire { return &wire{base: http.DefaultTransport, secrets: map[string]bool{}} }

func (w *wire) note(vs ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, v := range vs {
		if v != "" {
			w.secrets[v] = true
		}
	}
}

func (w *wire) seen() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for v := range w.secrets {
		out = append(out, v)
	}
	return out
}

func (w *wire) setRewrite(f func(map[string]any)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.rewrite = f
}

func (w *wire) RoundTrip(req *http.Request) (*http.Response, error) {
	if h := req.Header.Get("Authorization"); h != "" {
		w.note(strings.TrimSpace(strings.TrimPrefix(h, "Bearer")))
	}
	if mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" && req.Body != nil {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		_ = req.Body.Close()
		if form, err := url.ParseQuery(string(body)); err == nil {
			for _, k := range []string{"code", "code_verifier", "client_secret", "refresh_token"} {
				w.note(form.Get(k))
			}
		}
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
	}
	resp, err := w.base.RoundTrip(req)
	if err != nil || !strings.HasSuffix(req.URL.Path, "/oauth2/v2.0/token") {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	var tok map[string]any
	if json.Unmarshal(body, &tok) == nil {
		for _, k := range []string{"access_token", "refresh_token", "id_token"} {
			if s, ok := tok[k].(string); ok {
				w.note(s)
			}
		}
		w.mu.Lock()
		rewrite := w.rewrite
		w.mu.Unlock()
		if idt, ok := tok["id_token"].(string); ok && rewrite != nil {
			tok["id_token"] = rewriteIDToken(idt, rewrite)
			body, _ = json.Marshal(tok)
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// rewriteIDToken changes the claims of an unsigned id_token (the
// simulator's are "alg":"none").
func rewriteIDToken(tok string, f func(map[string]any)) string {
	parts := strings.Split(tok, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		panic(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		panic(err)
	}
	f(claims)
	payload, _ = json.Marshal(claims)
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}

// ---------------------------------------------------------------------------
// The fixture: the simulator, Azurite, the real identity, Graph and Partner
// Center clients, and both handlers behind an HTTP server on loopback.

type fixtureOptions struct {
	// partnerCenterURL replaces the simulator's Partner Center.
	partnerCenterURL string
}

type fixture struct {
	sim     *mscloudsim.Sim
	urls    mscloudsim.URLs
	estate  mscloudsim.Estate
	svc     *tables.Service
	store   *tables.Store
	states  *recordingStates
	secrets *memSecrets
	runs    *fakeRuns
	clock   *fakeClock
	logs    *syncBuffer
	wire    *wire
	opts    consent.Options
	public  string // the server's URL: SEATSYNC_PUBLIC_URL
	client  *http.Client
}

func newFixture(t *testing.T, fo fixtureOptions) *fixture {
	t.Helper()
	svc := tablestest.Isolated(t)
	if err := svc.EnsureTables(t.Context(), tables.AllTables()...); err != nil {
		t.Fatal(err)
	}
	sim := mscloudsim.New(mscloudsim.Options{Seed: 4, Tenants: 8})
	urls, err := sim.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)

	f := &fixture{sim: sim, urls: urls, estate: sim.Estate(), svc: svc, store: tables.NewStore(svc),
		states: &recordingStates{ConsentStates: tables.NewConsentStates(svc)}, secrets: newSecrets(), runs: &fakeRuns{},
		clock: newClock(), logs: &syncBuffer{}, wire: newWire()}
	log := logctx.NewJSON(f.logs, slog.LevelDebug)
	hc := &http.Client{Transport: f.wire, Timeout: 30 * time.Second}
	idc, err := identity.New(urls.Login, mscloudsim.DefaultClientID, seatsync.NewSecret(mscloudsim.DefaultClientSecret),
		&identity.Options{HTTPClient: hc, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	pcURL := urls.PartnerCenter
	if fo.partnerCenterURL != "" {
		pcURL = fo.partnerCenterURL
	}
	validate, err := consent.NewValidator(idc, urls.Graph, pcURL, &consent.ValidatorOptions{HTTPClient: hc, Log: log, MaxRetryWait: -1})
	if err != nil {
		t.Fatal(err)
	}

	srv := httptest.NewUnstartedServer(nil)
	f.public = "http://" + srv.Listener.Addr().String()
	f.opts = consent.Options{
		Identity:    idc,
		Secrets:     f.secrets,
		States:      f.states,
		Connections: f.store,
		Validate:    validate,
		Runs:        f.runs,
		PublicURL:   f.public,
		GraphURL:    urls.Graph,
		Log:         log,
		Now:         f.clock.Now,
	}
	mux := http.NewServeMux()
	mux.Handle("GET /api/consent", consent.Start(f.opts))
	mux.Handle("GET /api/consent/callback", consent.Callback(f.opts))
	srv.Config.Handler = httpapi.Log(log, mux)
	srv.Start()
	t.Cleanup(srv.Close)
	f.client = &http.Client{Timeout: 2 * time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return f
}

// get sends a GET with cookies and returns the answer and its body.
func (f *fixture) get(t *testing.T, u string, cookies ...*http.Cookie) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// start opens /api/consent (query may be "") and returns the consent cookie
// and the authorize URL it redirects to.
func (f *fixture) start(t *testing.T, query string) (*http.Cookie, *url.URL, *http.Response) {
	t.Helper()
	u := f.public + "/api/consent"
	if query != "" {
		u += "?" + query
	}
	resp, body := f.get(t, u)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("GET /api/consent: %d, want 302\n%s", resp.StatusCode, body)
	}
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == consent.CookieName {
			ck = c
		}
	}
	if ck == nil || ck.Value == "" {
		t.Fatalf("GET /api/consent set no %s cookie: %q", consent.CookieName, resp.Header.Values("Set-Cookie"))
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return &http.Cookie{Name: ck.Name, Value: ck.Value}, loc, resp
}

// authorize plays the admin consenting on the simulator's page
// (sim_auto_consent=1) and returns where the simulator sends the browser.
func (f *fixture) authorize(t *testing.T, authURL *url.URL) string {
	t.Helper()
	resp, body := f.get(t, authURL.String()+"&sim_auto_consent=1")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: %d, want 302\n%s", resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, f.public+consent.CallbackPath+"?") {
		t.Fatalf("authorize redirected elsewhere: %s", loc)
	}
	return loc
}

// consentAndCallback runs start, authorize and the callback in one browser.
func (f *fixture) consentAndCallback(t *testing.T) (*http.Response, string) {
	t.Helper()
	ck, authURL, _ := f.start(t, "")
	cb := f.authorize(t, authURL)
	return f.get(t, cb, ck)
}

// callbackWith is the callback URL of a started consent with the given
// query parameters besides state.
func (f *fixture) callbackWith(authURL *url.URL, params url.Values) string {
	params.Set("state", authURL.Query().Get("state"))
	return f.public + consent.CallbackPath + "?" + params.Encode()
}

func (f *fixture) connectionRows(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for r, err := range f.svc.Table(tables.ConnectionsTable).Query(t.Context(), "") {
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := r.Decode(&m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// assertNothingStored checks that no token, connection or run came of a
// refused callback.
func (f *fixture) assertNothingStored(t *testing.T) {
	t.Helper()
	if w := f.secrets.all(); len(w) != 0 {
		t.Errorf("secret store written %d times, want none", len(w))
	}
	if rows := f.connectionRows(t); len(rows) != 0 {
		t.Errorf("connection rows %v, want none", rows)
	}
	if c := f.runs.all(); len(c) != 0 {
		t.Errorf("runs started %v, want none", c)
	}
}

// assertPage checks a page's status, that it says want, and its headers.
func assertPage(t *testing.T, resp *http.Response, body string, status int, want ...string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status %d, want %d\n%s", resp.StatusCode, status, body)
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %q:\n%s", w, body)
		}
	}
	h := resp.Header
	if ct := h.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	csp := h.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe") {
		t.Errorf("Content-Security-Policy %q is not strict", csp)
	}
	if h.Get("X-Frame-Options") != "DENY" || h.Get("Cache-Control") != "no-store" || h.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("headers X-Frame-Options %q, Cache-Control %q, Referrer-Policy %q", h.Get("X-Frame-Options"), h.Get("Cache-Control"), h.Get("Referrer-Policy"))
	}
	// Nothing loaded from anywhere: no script, no external asset.
	for _, bad := range []string{"<script", "<img", "<link", "<iframe", "<object", "@import"} {
		if strings.Contains(strings.ToLower(body), bad) {
			t.Errorf("page holds %q", bad)
		}
	}
}

// assertCookieCleared checks that the answer ends the consent cookie.
func assertCookieCleared(t *testing.T, resp *http.Response) {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == consent.CookieName && c.Value == "" && c.MaxAge < 0 && c.Path == "/api/consent" {
			return
		}
	}
	t.Errorf("the consent cookie was not cleared: %q", resp.Header.Values("Set-Cookie"))
}

var hiddenRequest = regexp.MustCompile(`name="sim_request" value="([^"]+)"`)

// decline answers the simulator's consent page with Cancel and returns
// where it sends the browser.
func (f *fixture) decline(t *testing.T, authURL *url.URL) string {
	t.Helper()
	resp, body := f.get(t, authURL.String())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("consent page: %d\n%s", resp.StatusCode, body)
	}
	m := hiddenRequest.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no sim_request on the consent page:\n%s", body)
	}
	form := url.Values{"sim_request": {m[1]}, "decision": {"cancel"}}
	action := f.urls.Login + authURL.Path
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, action, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("cancel: %d, want 302", resp.StatusCode)
	}
	return resp.Header.Get("Location")
}

// memStates is an in-memory StateStore for the tests that need no Azurite.
type memStates struct {
	mu   sync.Mutex
	rows map[string]tables.ConsentState
}

func (m *memStates) Put(_ context.Context, st tables.ConsentState) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rows == nil {
		m.rows = map[string]tables.ConsentState{}
	}
	m.rows[st.StateHash] = st
	return nil
}

func (m *memStates) Consume(_ context.Context, h string) (tables.ConsentState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.rows[h]
	if !ok {
		return st, tables.ErrConsentStateUsed
	}
	delete(m.rows, h)
	return st, nil
}

func (m *memStates) Sweep(context.Context, time.Time) (int, error) { return 0, nil }

var errBoom = errors.New("boom")

type nopConnections struct{}

func (nopConnections) Connection(context.Context) (seatsync.Connection, error) {
	return seatsync.Connection{Status: seatsync.NotConnected}, nil
}

func (nopConnections) PutConnection(context.Context, seatsync.Connection) error { return nil }

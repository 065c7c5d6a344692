package consent_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seatsync/seatsync/functions/consent"
	"github.com/seatsync/seatsync/shared/identity"
	"github.com/seatsync/seatsync/shared/mscloudsim"
	"github.com/seatsync/seatsync/shared/seatsync"
	"github.com/seatsync/seatsync/shared/tables"
)

const (
	keyToken = "login POST /{tenant}/oauth2/v2.0/token"
	keyGDAP  = "graph GET /v1.0/tenantRelationships/delegatedAdminCustomers"
	keyPC    = "partnercenter GET /v1/customers"
)

func TestStartRedirectsToAuthorizeWithEveryParameter(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	ck, loc, resp := f.start(t, "")

	// The cookie: HttpOnly, SameSite=Lax, scoped to the consent routes, ten
	// minutes; not Secure here only because the public URL is http on
	// loopback (make run). TestStartCookieSecure covers https.
	var set *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == consent.CookieName {
			set = c
		}
	}
	if !set.HttpOnly || set.SameSite != http.SameSiteLaxMode || set.Path != "/api/consent" || set.MaxAge != 600 || set.Secure {
		t.Errorf("cookie %q: want HttpOnly, SameSite=Lax, Path=/api/consent, Max-Age=600, not Secure on http loopback", resp.Header.Get("Set-Cookie"))
	}
	if len(ck.Value) < 40 {
		t.Errorf("cookie value of %d characters is too short to be random", len(ck.Value))
	}
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("redirect headers: Cache-Control %q, Referrer-Policy %q", resp.Header.Get("Cache-Control"), resp.Header.Get("Referrer-Policy"))
	}

	if got, want := loc.Scheme+"://"+loc.Host, f.urls.Login; got != want {
		t.Errorf("redirects to %s, want the simulator's login %s", got, want)
	}
	if loc.Path != "/organizations/oauth2/v2.0/authorize" {
		t.Errorf("path %s", loc.Path)
	}
	q := loc.Query()
	want := map[string]string{
		"client_id":             mscloudsim.DefaultClientID,
		"response_type":         "code",
		"response_mode":         "query",
		"redirect_uri":          f.public + "/api/consent/callback",
		"code_challenge_method": "S256",
		"prompt":                "consent",
		"scope": "openid profile offline_access https://api.partnercenter.microsoft.com/user_impersonation " +
			f.urls.Graph + "/DelegatedAdminRelationship.Read.All " + f.urls.Graph + "/Directory.Read.All",
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
	for _, k := range []string{"state", "nonce"} {
		if len(q.Get(k)) < 40 {
			t.Errorf("%s %q is missing or short", k, q.Get(k))
		}
	}
	if len(q.Get("code_challenge")) != 43 {
		t.Errorf("code_challenge %q is not an S256 challenge", q.Get("code_challenge"))
	}
	if q.Get("state") == ck.Value || q.Get("state") == q.Get("nonce") {
		t.Error("state, nonce and cookie must be independent random values")
	}

	// The state is stored server side by its hash only, with the cookie's
	// hash, expiring in ten minutes, and holds neither value in the clear.
	put := f.states.all()
	if len(put) != 1 {
		t.Fatalf("%d states stored, want 1", len(put))
	}
	st := put[0]
	if st.StateHash == q.Get("state") || len(st.StateHash) != 64 || len(st.CookieHash) != 64 {
		t.Errorf("state row keys: %q, %q", st.StateHash, st.CookieHash)
	}
	if !st.ExpiresAt.Equal(f.clock.Now().Add(10*time.Minute)) || st.RedirectURI != want["redirect_uri"] || st.TenantID != "" {
		t.Errorf("state row: %+v", st)
	}
	row, err := f.svc.Table(tables.ConsentStatesTable).Get(t.Context(), "consent", st.StateHash)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{q.Get("state"), q.Get("nonce"), ck.Value} {
		if strings.Contains(string(row.JSON), secret) {
			t.Errorf("the consent state row holds a secret in the clear: %s", row.JSON)
		}
	}

	// Two starts are two independent consents.
	ck2, loc2, _ := f.start(t, "")
	if ck2.Value == ck.Value || loc2.Query().Get("state") == q.Get("state") {
		t.Error("a second start reused the first one's values")
	}
}

func TestStartCookieSecure(t *testing.T) {
	idc, err := identity.New("https://login.microsoftonline.com", mscloudsim.DefaultClientID, seatsync.NewSecret("s"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for public, secure := range map[string]bool{
		"https://seatsync.example.com":       true,
		"https://localhost:8443":             true,
		"http://127.0.0.1:7071":              false,
		"http://localhost:7071":              false,
		"http://[::1]:7071":                  false,
		"https://proxy.example.com/seatsync": true,
	} {
		h := consent.Start(consent.Options{Identity: idc, Secrets: newSecrets(), States: &memStates{}, Connections: nopConnections{},
			PublicURL: public})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/consent", nil))
		if rec.Code != http.StatusFound {
			t.Fatalf("%s: status %d\n%s", public, rec.Code, rec.Body)
		}
		c := rec.Result().Cookies()
		pu, _ := url.Parse(public)
		if len(c) != 1 || c[0].Secure != secure || !c[0].HttpOnly || c[0].SameSite != http.SameSiteLaxMode || c[0].Path != pu.Path+"/api/consent" {
			t.Errorf("%s: cookie %q, want Secure=%v and Path=%s/api/consent", public, rec.Header().Get("Set-Cookie"), secure, pu.Path)
		}
		loc, _ := url.Parse(rec.Header().Get("Location"))
		if got := loc.Query().Get("redirect_uri"); got != public+"/api/consent/callback" {
			t.Errorf("%s: redirect_uri %q", public, got)
		}
		if loc.Host != "login.microsoftonline.com" || !strings.Contains(loc.Query().Get("scope"), "https://graph.microsoft.com/Directory.Read.All") {
			t.Errorf("%s: authorize URL %s", public, loc.Redacted())
		}
	}
}

func TestConsentHappyPath(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	partner := f.estate.Partner
	ck, authURL, _ := f.start(t, "")
	cb := f.authorize(t, authURL)
	f.sim.ResetCalls()
	resp, body := f.get(t, cb, ck)

	gdap, csp := 0, 0
	for _, tn := range f.estate.Tenants {
		if tn.Has(mscloudsim.RelGDAP) {
			gdap++
		}
		if tn.Has(mscloudsim.RelCSP) {
			csp++
		}
	}
	assertPage(t, resp, body, http.StatusOK, "Connected: credentials validated", partner.TenantID, partner.User.UserPrincipalName,
		strconv.Itoa(gdap)+" GDAP customers through Microsoft Graph", strconv.Itoa(csp)+" customers through Partner Center", "run-1")
	assertCookieCleared(t, resp)

	// The refresh token, once, under the partner tenant's name, with
	// content type, tags and expiry and no secret beside it.
	writes := f.secrets.all()
	if len(writes) != 1 {
		t.Fatalf("secret written %d times, want 1", len(writes))
	}
	w := writes[0]
	now := f.clock.Now()
	if w.name != seatsync.RefreshTokenSecretName(partner.TenantID) || w.value.IsZero() {
		t.Errorf("secret %q (empty %v)", w.name, w.value.IsZero())
	}
	if !slices.Contains(f.wire.seen(), w.value.Reveal()) || !strings.HasPrefix(w.value.Reveal(), "simRT_") {
		t.Error("the stored secret is not the refresh token the token endpoint issued")
	}
	if w.info.ContentType != seatsync.RefreshTokenContentType || w.info.ExpiresAt == nil || !w.info.ExpiresAt.Equal(now.Add(90*24*time.Hour)) ||
		w.info.Tags[seatsync.TagPartnerTenantID] != partner.TenantID || w.info.Tags["consentedBy"] != partner.User.UserPrincipalName {
		t.Errorf("secret info %+v", w.info)
	}
	for k, v := range w.info.Tags {
		if strings.Contains(v, "simRT_") || strings.Contains(k, "simRT_") || strings.Contains(w.info.ContentType, "simRT_") {
			t.Errorf("tag %s holds a secret", k)
		}
	}

	// The connection: connected and validated.
	conn, err := f.store.Connection(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if conn.Status != seatsync.Connected || conn.PartnerTenantID != partner.TenantID || conn.ConsentedBy != partner.User.UserPrincipalName ||
		!conn.CredentialsValidated || conn.ValidatedAt == nil || conn.ConsentedAt == nil || !conn.ConsentedAt.Equal(now) ||
		conn.RefreshTokenExpiresAt == nil || !conn.RefreshTokenExpiresAt.Equal(now.Add(90*24*time.Hour)) || conn.LastError != nil {
		t.Errorf("connection %+v", conn)
	}
	if rows := f.connectionRows(t); len(rows) != 1 {
		t.Errorf("%d connection rows, want 1", len(rows))
	}
	for _, row := range f.connectionRows(t) {
		if b, _ := json.Marshal(row); strings.Contains(string(b), "simRT_") || strings.Contains(string(b), "simAT_") {
			t.Errorf("connection row holds a token: %s", b)
		}
	}

	// The first run, once, for every tenant.
	if c := f.runs.all(); len(c) != 1 || c[0].trigger != seatsync.TriggerConsent || c[0].tenantIDs != nil {
		t.Errorf("runs %+v, want one consent run", c)
	}

	// The validation really read Graph and Partner Center at the partner's
	// own tenant.
	calls := f.sim.Calls()
	if calls[keyGDAP] < 1 || calls[keyPC] < 1 {
		t.Errorf("validation calls: GDAP %d, Partner Center %d", calls[keyGDAP], calls[keyPC])
	}
	if calls[keyToken] != calls[keyToken+" tenant="+partner.TenantID] {
		t.Errorf("token requests outside the partner tenant: %d of %d", calls[keyToken]-calls[keyToken+" tenant="+partner.TenantID], calls[keyToken])
	}

	// The state is spent.
	if _, err := f.states.Consume(t.Context(), f.states.all()[0].StateHash); err == nil {
		t.Error("the state is still there after the callback")
	}
}

func TestCallbackForgedState(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	ck, authURL, _ := f.start(t, "")
	cb := f.authorize(t, authURL)
	u, _ := url.Parse(cb)
	q := u.Query()
	forged, _ := identity.NewState()
	for name, state := range map[string]string{"random": forged.Reveal(), "empty": "", "huge": strings.Repeat("a", 4000)} {
		q.Set("state", state)
		u.RawQuery = q.Encode()
		resp, body := f.get(t, u.String(), ck)
		assertPage(t, resp, body, http.StatusBadRequest)
		if !strings.Contains(body, "unknown or was already used") && !strings.Contains(body, "not opened by a consent") {
			t.Errorf("%s state: page does not say the state is unknown:\n%s", name, body)
		}
	}
	f.assertNothingStored(t)

	// The forged callbacks did not spend the real state.
	resp, body := f.get(t, cb, ck)
	assertPage(t, resp, body, http.StatusOK, "Connected: credentials validated")
}

func TestCallbackReplayedState(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	ck, authURL, _ := f.start(t, "")
	cb := f.authorize(t, authURL)
	resp, body := f.get(t, cb, ck)
	assertPage(t, resp, body, http.StatusOK, "Connected")
	before, _ := f.store.Connection(t.Context())
	f.clock.Advance(time.Minute)

	resp, body = f.get(t, cb, ck)
	assertPage(t, resp, body, http.StatusBadRequest, "unknown or was already used", "Nothing was changed")
	if n := len(f.secrets.all()); n != 1 {
		t.Errorf("secret written %d times, want 1", n)
	}
	if n := len(f.runs.all()); n != 1 {
		t.Errorf("%d runs, want 1", n)
	}
	after, _ := f.store.Connection(t.Context())
	if !after.ConsentedAt.Equal(*before.ConsentedAt) || after.Status != before.Status {
		t.Errorf("the replay changed the connection: %+v → %+v", before, after)
	}
}

func TestCallbackExpiredState(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	ck, authURL, _ := f.start(t, "")
	cb := f.authorize(t, authURL)
	f.clock.Advance(10*time.Minute + time.Second)
	resp, body := f.get(t, cb, ck)
	assertPage(t, resp, body, http.StatusBadRequest, "took too long", "10 minutes")
	f.assertNothingStored(t)
	if n := f.sim.Calls()[keyToken]; n != 0 {
		t.Errorf("the code was redeemed (%d token requests) for an expired state", n)
	}
	// Spent even though it failed.
	f.clock.Advance(-time.Minute)
	resp, body = f.get(t, cb, ck)
	assertPage(t, resp, body, http.StatusBadRequest, "already used")
}

func TestCallbackCrossBrowser(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cookie func(f *fixture, t *testing.T) []*http.Cookie
		want   string
	}{
		{"no cookie", func(*fixture, *testing.T) []*http.Cookie { return nil }, "cookie is missing"},
		{"empty cookie", func(*fixture, *testing.T) []*http.Cookie {
			return []*http.Cookie{{Name: consent.CookieName, Value: ""}}
		}, "cookie is missing"},
		{"another browser's cookie", func(f *fixture, t *testing.T) []*http.Cookie {
			other, _, _ := f.start(t, "")
			return []*http.Cookie{other}
		}, "started a different consent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, fixtureOptions{})
			ck, authURL, _ := f.start(t, "")
			cb := f.authorize(t, authURL)
			resp, body := f.get(t, cb, tc.cookie(f, t)...)
			assertPage(t, resp, body, http.StatusBadRequest, "Finish the consent in the browser that started it", tc.want)
			f.assertNothingStored(t)
			if n := f.sim.Calls()[keyToken]; n != 0 {
				t.Errorf("the code was redeemed (%d token requests) from another browser", n)
			}
			// Single use even on failure: the right browser cannot finish
			// it afterwards either.
			resp, body = f.get(t, cb, ck)
			assertPage(t, resp, body, http.StatusBadRequest, "already used")
			f.assertNothingStored(t)
		})
	}
}

func TestCallbackMissingCode(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	ck, authURL, _ := f.start(t, "")
	resp, body := f.get(t, f.callbackWith(authURL, url.Values{}), ck)
	assertPage(t, resp, body, http.StatusBadRequest, "no sign-in code")
	assertCookieCleared(t, resp)
	f.assertNothingStored(t)
}

func TestCallbackAccessDenied(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	ck, authURL, _ := f.start(t, "")
	cb := f.decline(t, authURL)
	if !strings.Contains(cb, "error=access_denied") {
		t.Fatalf("the simulator's cancel went to %s", cb)
	}
	resp, body := f.get(t, cb, ck)
	assertPage(t, resp, body, http.StatusBadRequest, "Consent was declined", "start again", f.public+"/api/consent", "access_denied", "AADSTS65004")
	f.assertNothingStored(t)
}

func TestCallbackAdminApprovalNeeded(t *testing.T) {
	for name, params := range map[string]url.Values{
		"consent_required": {"error": {"consent_required"}, "error_description": {"AADSTS65001: The user or administrator has not consented to use the application."}},
		"AADSTS90094":      {"error": {"access_denied"}, "error_description": {"AADSTS90094: An administrator of Contoso has set a policy that prevents you from granting it the permissions it is requesting."}},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, fixtureOptions{})
			ck, authURL, _ := f.start(t, "")
			resp, body := f.get(t, f.callbackWith(authURL, params), ck)
			assertPage(t, resp, body, http.StatusBadRequest, "An administrator must approve seatsync first", "Admin consent requests", f.public+"/api/consent")
			f.assertNothingStored(t)
		})
	}
}

func TestCallbackEscapesHostileErrorDescription(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	ck, authURL, _ := f.start(t, "")
	hostile := `<script>alert('x')</script><img src=x onerror=alert(1)>"><a href="javascript:alert(2)">click</a>`
	resp, body := f.get(t, f.callbackWith(authURL, url.Values{"error": {`server_error<b>`}, "error_description": {hostile}}), ck)
	assertPage(t, resp, body, http.StatusBadRequest, "Microsoft did not complete the sign-in", "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;")
	for _, raw := range []string{"<script", "<img", "<b>", `href="javascript`, "onerror=alert(1)>"} {
		if strings.Contains(body, raw) {
			t.Errorf("the page holds %q unescaped:\n%s", raw, body)
		}
	}
	f.assertNothingStored(t)
}

func TestCallbackTokenEndpointFailure(t *testing.T) {
	for _, tc := range []struct {
		name string
		kind mscloudsim.FaultKind
		want string
	}{
		{"unavailable", mscloudsim.FaultUnavailable, "Microsoft&#39;s sign-in service is unavailable"},
		{"garbage", mscloudsim.FaultMalformed, "sent an answer that is not JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, fixtureOptions{})
			ck, authURL, _ := f.start(t, "")
			cb := f.authorize(t, authURL)
			f.sim.Inject(mscloudsim.Fault{Endpoint: keyToken, Kind: tc.kind})
			resp, body := f.get(t, cb, ck)
			assertPage(t, resp, body, http.StatusBadGateway, "The sign-in could not be finished", tc.want, "Nothing was stored")
			f.assertNothingStored(t)
		})
	}
}

func TestCallbackIDTokenOfAnotherTenant(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	partner := f.estate.Partner.TenantID
	other := f.estate.Tenants[0].TenantID
	f.wire.setRewrite(func(c map[string]any) { c["tid"] = other })
	ck, authURL, _ := f.start(t, "tenant="+strings.ToUpper(partner))
	if authURL.Path != "/"+partner+"/oauth2/v2.0/authorize" {
		t.Errorf("a consent started for a tenant signs in at %s", authURL.Path)
	}
	cb := f.authorize(t, authURL)
	resp, body := f.get(t, cb, ck)
	assertPage(t, resp, body, http.StatusBadRequest, "You signed in to another tenant", partner, other, "Nothing was stored")
	f.assertNothingStored(t)
}

func TestStartRefusesBadTenant(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	resp, body := f.get(t, f.public+"/api/consent?tenant=..%2Fevil")
	assertPage(t, resp, body, http.StatusBadRequest, "That is not a tenant ID")
	if len(f.states.all()) != 0 {
		t.Error("a state was stored for a bad tenant")
	}
}

func TestCallbackIDTokenNotForThisRequest(t *testing.T) {
	for name, rewrite := range map[string]func(map[string]any){
		"nonce":    func(c map[string]any) { c["nonce"] = "not-the-nonce-of-this-request" },
		"no nonce": func(c map[string]any) { delete(c, "nonce") },
		"audience": func(c map[string]any) { c["aud"] = "00000000-0000-0000-0000-000000000001" },
		"no tid":   func(c map[string]any) { c["tid"] = "" },
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, fixtureOptions{})
			f.wire.setRewrite(rewrite)
			ck, authURL, _ := f.start(t, "")
			cb := f.authorize(t, authURL)
			resp, body := f.get(t, cb, ck)
			if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusBadGateway {
				t.Errorf("status %d", resp.StatusCode)
			}
			assertPage(t, resp, body, resp.StatusCode, "Nothing was stored")
			f.assertNothingStored(t)
		})
	}
}

func TestCallbackSecretStoreFailureStoresNothing(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	f.secrets.failSet = errBoom
	resp, body := f.consentAndCallback(t)
	assertPage(t, resp, body, http.StatusInternalServerError, "The consent could not be stored", "nothing was recorded", "Key Vault")
	if rows := f.connectionRows(t); len(rows) != 0 {
		t.Errorf("connection rows without their token: %v", rows)
	}
	if n := len(f.runs.all()); n != 0 {
		t.Errorf("%d runs started without a token", n)
	}
	if conn, _ := f.store.Connection(t.Context()); conn.Status != seatsync.NotConnected {
		t.Errorf("connection %+v", conn)
	}
}

func TestCallbackValidationFailureMarksInvalid(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	f.sim.Inject(mscloudsim.Fault{Endpoint: keyGDAP, Kind: mscloudsim.FaultUnavailable, Count: 5})
	resp, body := f.consentAndCallback(t)
	assertPage(t, resp, body, http.StatusOK, "Connected, but the credentials did not work", "Microsoft Graph (listing your GDAP customers) failed", "start the consent again")
	conn, err := f.store.Connection(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if conn.Status != seatsync.Invalid || conn.CredentialsValidated || conn.ValidatedAt != nil || conn.LastError == nil ||
		conn.LastError.Code != "graph_unavailable" || !strings.Contains(conn.LastError.Message, "Microsoft Graph") ||
		strings.Contains(conn.LastError.Message, "Partner Center") {
		t.Errorf("connection %+v, lastError %+v", conn, conn.LastError)
	}
	// The token is kept (the consent itself worked) and the run started.
	if len(f.secrets.all()) != 1 || len(f.runs.all()) != 1 {
		t.Errorf("secrets %d, runs %d; want 1 and 1", len(f.secrets.all()), len(f.runs.all()))
	}
}

func TestCallbackPartnerCenterForbiddenIsOptional(t *testing.T) {
	pc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"code":900126,"description":"The partner is not authorized for this operation.","data":[],"source":"PartnerFD"}`))
	}))
	defer pc.Close()
	f := newFixture(t, fixtureOptions{partnerCenterURL: pc.URL})
	resp, body := f.consentAndCallback(t)
	assertPage(t, resp, body, http.StatusOK, "credentials validated, with a warning", "Partner Center refused access", "Direct CSP")
	conn, _ := f.store.Connection(t.Context())
	if conn.Status != seatsync.Connected || !conn.CredentialsValidated || conn.ValidatedAt == nil ||
		conn.LastError == nil || conn.LastError.Code != "partner_center_forbidden" {
		t.Errorf("connection %+v, lastError %+v", conn, conn.LastError)
	}
}

func TestCallbackPartnerCenterFailureNamed(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	f.sim.Inject(mscloudsim.Fault{Endpoint: keyPC, Kind: mscloudsim.FaultMalformed})
	resp, body := f.consentAndCallback(t)
	assertPage(t, resp, body, http.StatusOK, "did not work", "Microsoft Graph works, but Partner Center (listing your customers) failed")
	conn, _ := f.store.Connection(t.Context())
	if conn.Status != seatsync.Invalid || conn.CredentialsValidated || conn.LastError == nil || conn.LastError.Code != "partner_center_unavailable" {
		t.Errorf("connection %+v, lastError %+v", conn, conn.LastError)
	}
}

func TestCallbackRunStartFailureKeepsConnection(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	f.runs.err = seatsync.Errorf(seatsync.EConflict, "A sync run is already running.")
	resp, body := f.consentAndCallback(t)
	assertPage(t, resp, body, http.StatusOK, "Connected: credentials validated", "The first sync could not be started: A sync run is already running.", "POST /api/v1/sync")
	conn, _ := f.store.Connection(t.Context())
	if conn.Status != seatsync.Connected || !conn.CredentialsValidated {
		t.Errorf("connection %+v", conn)
	}
	if len(f.runs.all()) != 1 {
		t.Errorf("runs %v", f.runs.all())
	}
}

func TestReconsentSameTenantReplaces(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	resp, body := f.consentAndCallback(t)
	assertPage(t, resp, body, http.StatusOK, "Connected")
	first, _ := f.store.Connection(t.Context())
	f.clock.Advance(time.Hour)
	resp, body = f.consentAndCallback(t)
	assertPage(t, resp, body, http.StatusOK, "Connected", "run-2")
	if strings.Contains(body, "was connected to partner tenant") {
		t.Error("a re-consent of the same tenant is reported as a switch")
	}
	if rows := f.connectionRows(t); len(rows) != 1 {
		t.Errorf("%d connection rows after a re-consent, want 1", len(rows))
	}
	second, _ := f.store.Connection(t.Context())
	if !second.ConsentedAt.After(*first.ConsentedAt) {
		t.Errorf("consentedAt %v, then %v", first.ConsentedAt, second.ConsentedAt)
	}
	w := f.secrets.all()
	if len(w) != 2 || w[0].name != w[1].name || w[0].value.Equal(w[1].value) {
		t.Errorf("secret writes: %d; the second must replace the first under the same name with the new token", len(w))
	}
}

func TestConsentOfAnotherPartnerTenantIsReported(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	earlier := f.clock.Now().Add(-24 * time.Hour)
	old := seatsync.Connection{Status: seatsync.Connected, PartnerTenantID: "11111111-2222-3333-4444-555555555555",
		ConsentedBy: "someone@other.example", ConsentedAt: &earlier, CredentialsValidated: true}
	if err := f.store.PutConnection(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	resp, body := f.consentAndCallback(t)
	assertPage(t, resp, body, http.StatusOK, "Connected", "was connected to partner tenant "+old.PartnerTenantID, "someone@other.example")
	if rows := f.connectionRows(t); len(rows) != 2 {
		t.Errorf("%d connection rows, want the old and the new", len(rows))
	}
	conn, _ := f.store.Connection(t.Context())
	if conn.PartnerTenantID != f.estate.Partner.TenantID {
		t.Errorf("the connection in use is %s, want the new partner tenant", conn.PartnerTenantID)
	}
}

func TestNotConfigured(t *testing.T) {
	for _, h := range []http.Handler{consent.Start(consent.Options{}), consent.Callback(consent.Options{})} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/api/consent", nil)
		req.Header.Set("Accept", "text/html,application/xhtml+xml")
		h.ServeHTTP(rec, req)
		body := rec.Body.String()
		assertPage(t, rec.Result(), body, http.StatusServiceUnavailable, "not configured", "SEATSYNC_CLIENT_ID", "SEATSYNC_CLIENT_SECRET", "SEATSYNC_PUBLIC_URL", "SEATSYNC_KEYVAULT_URL")

		rec = httptest.NewRecorder()
		req = httptest.NewRequest(http.MethodGet, "/api/consent", nil)
		req.Header.Set("Accept", "application/json")
		h.ServeHTTP(rec, req)
		var got struct{ Error seatsync.Problem }
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != http.StatusServiceUnavailable || got.Error.Code != "not_configured" ||
			!strings.Contains(got.Error.Message, "SEATSYNC_PUBLIC_URL") {
			t.Errorf("JSON answer %d %s", rec.Code, rec.Body)
		}
	}
	// Only what is missing is named.
	idc, _ := identity.New("https://login.microsoftonline.com", mscloudsim.DefaultClientID, seatsync.NewSecret("s"), nil)
	rec := httptest.NewRecorder()
	consent.Start(consent.Options{Identity: idc, Secrets: newSecrets(), States: &memStates{}}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/consent", nil))
	if body := rec.Body.String(); rec.Code != http.StatusServiceUnavailable || !strings.Contains(body, "SEATSYNC_PUBLIC_URL") || strings.Contains(body, "SEATSYNC_CLIENT_ID") {
		t.Errorf("%d %s", rec.Code, body)
	}
}

func TestStartSweepsExpiredStates(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	f.start(t, "")
	old := f.states.all()[0]
	f.clock.Advance(2 * time.Hour)
	f.start(t, "")
	if _, err := f.svc.Table(tables.ConsentStatesTable).Get(t.Context(), "consent", old.StateHash); err == nil {
		t.Error("an expired consent state survived the next start's sweep")
	}
	if _, err := f.svc.Table(tables.ConsentStatesTable).Get(t.Context(), "consent", f.states.all()[1].StateHash); err != nil {
		t.Errorf("the new state is gone: %v", err)
	}
}

// TestLogsHoldNoSecrets runs the whole flow, a replay and a declined consent
// with debug logging and looks for every secret that crossed the wire in
// the logs and the pages.
func TestLogsHoldNoSecrets(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	var pages []string
	var secrets []string

	ck, authURL, _ := f.start(t, "")
	cb := f.authorize(t, authURL)
	cbq, _ := url.Parse(cb)
	resp, body := f.get(t, cb, ck)
	assertPage(t, resp, body, http.StatusOK, "Connected: credentials validated")
	pages = append(pages, body)
	_, body = f.get(t, cb, ck) // replay
	pages = append(pages, body)
	secrets = append(secrets, ck.Value, authURL.Query().Get("state"), authURL.Query().Get("nonce"), authURL.Query().Get("code_challenge"), cbq.Query().Get("code"))

	ck2, authURL2, _ := f.start(t, "")
	cb2 := f.decline(t, authURL2)
	_, body = f.get(t, cb2, ck2)
	pages = append(pages, body)
	secrets = append(secrets, ck2.Value, authURL2.Query().Get("state"), authURL2.Query().Get("nonce"))

	for _, st := range f.states.all() {
		secrets = append(secrets, st.Sealed)
	}
	wire := f.wire.seen()
	secrets = append(secrets, wire...)
	secrets = append(secrets, mscloudsim.DefaultClientSecret, f.secrets.all()[0].value.Reveal())

	// What crossed the wire includes each kind of secret.
	kinds := map[string]bool{}
	for _, s := range wire {
		for _, p := range []string{"simcode_", "simRT_", "simAT_", "eyJ"} {
			if strings.HasPrefix(s, p) {
				kinds[p] = true
			}
		}
		if s == mscloudsim.DefaultClientSecret {
			kinds["client secret"] = true
		}
		if sum := sha256.Sum256([]byte(s)); base64.RawURLEncoding.EncodeToString(sum[:]) == authURL.Query().Get("code_challenge") {
			kinds["verifier"] = true
		}
	}
	if len(kinds) < 6 {
		t.Fatalf("the wire capture missed kinds of secrets: %v", kinds)
	}

	logs := f.logs.String()
	for _, want := range []string{`"consent: started"`, `"consent: connected"`, `"identity: token request"`, `"consent: callback refused"`, `"reason":"consent declined"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the logs lack %s; are they captured?", want)
		}
	}
	for _, s := range secrets {
		if s == "" {
			t.Fatal("an empty secret in the list")
		}
		if strings.Contains(logs, s) {
			t.Errorf("the logs hold a secret (%.10s…)", s)
		}
		for i, p := range pages {
			if strings.Contains(p, s) {
				t.Errorf("page %d holds a secret (%.10s…)", i, s)
			}
		}
	}
}

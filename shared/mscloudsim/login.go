package mscloudsim

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/seatsync/seatsync/shared/seatsync"
)

// Lifetimes the identity platform documents.
const (
	codeLifetime    = 10 * time.Minute
	accessLifetime  = 3599 * time.Second
	refreshLifetime = 90 * 24 * time.Hour
	pendingLifetime = time.Hour
)

// pendingAuth is an authorize request waiting for the consent page's answer.
type pendingAuth struct {
	clientID, redirectURI, scope, state, nonce, challenge string
	created                                               time.Time
}

// authCode is an issued authorization code.
type authCode struct {
	clientID, redirectURI, scope, nonce, challenge string
	issued                                         time.Time
	used                                           bool
}

// refreshGrant is an issued refresh token: bound to the user and the app,
// not to a tenant or resource.
type refreshGrant struct {
	clientID string
	scope    string // the scopes consented to
	issued   time.Time
}

// accessGrant is an issued access token.
type accessGrant struct {
	tenantID string
	resource string
	clientID string
	expires  time.Time
}

// authority is the tenant a login path names.
type authority struct {
	tenantID string
	partner  bool
	index    int // customer index in the estate; -1 for the partner
}

// LoginHandler serves the identity platform: /{tenant}/oauth2/v2.0/authorize
// and /{tenant}/oauth2/v2.0/token. It also serves GET /sim/calls and
// GET /sim/estate (JSON, not counted) for people looking at a running
// simulator.
func (s *Sim) LoginHandler() http.Handler {
	h := s.handler("login", s.loginRoute)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/sim/calls":
			writeJSON(w, http.StatusOK, s.Calls())
		case "/sim/estate":
			writeJSON(w, http.StatusOK, s.Estate())
		default:
			h.ServeHTTP(w, r)
		}
	})
}

func (s *Sim) loginRoute(r *http.Request) route {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if len(parts) == 4 && parts[0] != "" && parts[1] == "oauth2" && parts[2] == "v2.0" {
		tenant := ""
		if a, ok := s.authority(parts[0]); ok {
			tenant = a.tenantID
		}
		switch {
		case parts[3] == "authorize" && r.Method == http.MethodGet:
			return route{template: "GET /{tenant}/oauth2/v2.0/authorize", tenant: tenant, body: bodyHTML, serve: s.authorize}
		case parts[3] == "authorize" && r.Method == http.MethodPost:
			return route{template: "POST /{tenant}/oauth2/v2.0/authorize", tenant: tenant, body: bodyHTML, serve: s.consent}
		case parts[3] == "token":
			return route{template: r.Method + " /{tenant}/oauth2/v2.0/token", tenant: tenant, body: bodyJSON, serve: s.token}
		}
	}
	return route{template: r.Method + " (unknown)", body: bodyText, serve: func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "404 page not found", http.StatusNotFound)
	}}
}

// authority resolves the tenant segment of a login path: the partner's
// tenant (its id, its domain, organizations or common) or a customer's (id
// or domain).
func (s *Sim) authority(seg string) (authority, bool) {
	l := strings.ToLower(seg)
	switch l {
	case "organizations", "common", s.opts.PartnerTenantID, strings.ToLower(s.estate.Partner.DefaultDomain):
		return authority{tenantID: s.opts.PartnerTenantID, partner: true, index: -1}, true
	}
	if i, ok := s.tenantIndex(l); ok {
		return authority{tenantID: s.estate.Tenants[i].TenantID, index: i}, true
	}
	return authority{}, false
}

func pathTenant(r *http.Request) string {
	seg, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	return seg
}

// aadFailure is an identity platform error.
type aadFailure struct {
	status   int // HTTP status at the token endpoint (400 if 0)
	err      string
	code     int // AADSTS number; 0 for the simulator's own checks
	text     string
	suberror string
	claims   string
}

func (f aadFailure) description() string {
	if f.code == 0 {
		return "mscloudsim: " + f.text
	}
	return fmt.Sprintf("AADSTS%d: %s", f.code, f.text)
}

// aadErrorBody is the token endpoint's documented error shape.
type aadErrorBody struct {
	Error         string `json:"error"`
	Description   string `json:"error_description"`
	Codes         []int  `json:"error_codes"`
	Timestamp     string `json:"timestamp"`
	TraceID       string `json:"trace_id"`
	CorrelationID string `json:"correlation_id"`
	ErrorURI      string `json:"error_uri,omitempty"`
	SubError      string `json:"suberror,omitempty"`
	Claims        string `json:"claims,omitempty"`
}

func (s *Sim) loginError(w http.ResponseWriter, r *http.Request, status int, f aadFailure) {
	if status == 0 {
		status = http.StatusBadRequest
	}
	trace := s.guid()
	corr := r.Header.Get("client-request-id")
	if !seatsync.IsGUID(corr) {
		corr = s.guid()
	}
	ts := s.now().UTC().Format("2006-01-02 15:04:05Z")
	b := aadErrorBody{
		Error:         f.err,
		Description:   fmt.Sprintf("%s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", f.description(), trace, corr, ts),
		Codes:         []int{},
		Timestamp:     ts,
		TraceID:       trace,
		CorrelationID: corr,
		SubError:      f.suberror,
		Claims:        f.claims,
	}
	if f.code != 0 {
		b.Codes = []int{f.code}
		b.ErrorURI = baseURL(r) + "/error?code=" + fmt.Sprint(f.code)
	}
	w.Header().Set("x-ms-request-id", trace)
	w.Header().Set("client-request-id", corr)
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, status, b)
}

// The authorize endpoint.

func (s *Sim) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	clientID := q.Get("client_id")
	if clientID == "" {
		s.errorPage(w, r, aadFailure{err: "invalid_request", code: 900144, text: "The request must contain the parameter 'client_id'."})
		return
	}
	if !strings.EqualFold(clientID, s.opts.ClientID) {
		s.errorPage(w, r, aadFailure{err: "unauthorized_client", code: 700016,
			text: fmt.Sprintf("No application with identifier '%s' is registered in the directory.", clientID)})
		return
	}
	redirect := q.Get("redirect_uri")
	if redirect == "" {
		s.errorPage(w, r, aadFailure{err: "invalid_request", code: 900144, text: "The request must contain the parameter 'redirect_uri'."})
		return
	}
	if !redirectOK(redirect) {
		s.errorPage(w, r, aadFailure{err: "invalid_request", code: 50011,
			text: fmt.Sprintf("The redirect URI '%s' is not an absolute http or https URL without a fragment.", redirect)})
		return
	}
	a, ok := s.authority(pathTenant(r))
	if !ok {
		s.errorPage(w, r, aadFailure{err: "invalid_tenant", code: 90002, text: fmt.Sprintf("Tenant '%s' not found.", pathTenant(r))})
		return
	}
	if !a.partner {
		s.errorPage(w, r, aadFailure{err: "invalid_request", code: 50020,
			text: fmt.Sprintf("The partner's user %s cannot sign in to tenant '%s' directly; sign in to the partner tenant or 'organizations'.",
				s.estate.Partner.User.UserPrincipalName, a.tenantID)})
		return
	}
	state := q.Get("state")
	fail := func(f aadFailure) { s.redirectError(w, r, redirect, state, f) }
	if rt := q.Get("response_type"); rt != "code" {
		fail(aadFailure{err: "unsupported_response_type", code: 700054,
			text: fmt.Sprintf("response_type '%s' is not enabled for the application; it may use 'code'.", rt)})
		return
	}
	if rm := q.Get("response_mode"); rm != "" && rm != "query" {
		fail(aadFailure{err: "invalid_request", text: "response_mode must be query (or absent): the simulator redirects with a query."})
		return
	}
	scope := q.Get("scope")
	if strings.TrimSpace(scope) == "" {
		fail(aadFailure{err: "invalid_request", code: 900144, text: "The request must contain the parameter 'scope'."})
		return
	}
	if _, bad := s.parseScopes(scope); bad != "" {
		fail(aadFailure{err: "invalid_scope", code: 70011, text: fmt.Sprintf("The scope '%s' is not one this app registration may ask for.", bad)})
		return
	}
	if state == "" {
		fail(aadFailure{err: "invalid_request", text: "state is required: seatsync must bind the answer to its request."})
		return
	}
	challenge := q.Get("code_challenge")
	if challenge == "" {
		fail(aadFailure{err: "invalid_request", code: 900144, text: "The request must contain the parameter 'code_challenge' (PKCE is required)."})
		return
	}
	if m := q.Get("code_challenge_method"); m != "S256" {
		fail(aadFailure{err: "invalid_request", code: 50149,
			text: fmt.Sprintf("Invalid code_challenge_method '%s'; the simulator requires S256.", m)})
		return
	}
	if !challengeOK(challenge) {
		fail(aadFailure{err: "invalid_request", code: 501491, text: "Invalid size of code_challenge: an S256 challenge is 43 base64url characters."})
		return
	}
	nonce := q.Get("nonce")
	if len(nonce) > 1024 {
		fail(aadFailure{err: "invalid_request", text: "nonce is longer than 1024 characters."})
		return
	}
	switch p := q.Get("prompt"); p {
	case "", "login", "consent", "select_account":
	case "none":
		fail(aadFailure{err: "login_required", code: 50058, text: "A silent sign-in request was sent but no user is signed in."})
		return
	default:
		fail(aadFailure{err: "invalid_request", code: 90023, text: fmt.Sprintf("Invalid prompt value '%s'.", p)})
		return
	}
	p := &pendingAuth{clientID: s.opts.ClientID, redirectURI: redirect, scope: scope, state: state, nonce: nonce,
		challenge: challenge, created: s.now()}
	if q.Get("sim_auto_consent") == "1" {
		s.redirectCode(w, r, p)
		return
	}
	id := s.secret("simreq_")
	s.mu.Lock()
	s.pending[id] = p
	s.mu.Unlock()
	s.consentPage(w, r, id, p)
}

func redirectOK(v string) bool {
	u, err := url.Parse(v)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.Fragment == "" && u.User == nil
}

func challengeOK(c string) bool {
	if len(c) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(c)
	return err == nil
}

var consentTemplate = template.Must(template.New("consent").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Permissions requested - {{.AppName}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em}button{font-size:1em;padding:.4em 1.2em;margin-right:1em}code{word-break:break-all}</style>
</head>
<body>
<p>Microsoft identity platform (simulated by mscloudsim)</p>
<h1>Permissions requested</h1>
<p>Signed in as <strong>{{.User}}</strong> ({{.Partner}}).</p>
<p><strong>{{.AppName}}</strong> asks for these permissions, for your organization and the customers you manage:</p>
<ul>
{{range .Scopes}}<li><code>{{.}}</code></li>
{{end}}</ul>
<p>Accepting sends you back to <code>{{.RedirectURI}}</code> (state <code>{{.State}}</code>).</p>
<form method="post" action="{{.Action}}">
<input type="hidden" name="sim_request" value="{{.RequestID}}">
<button type="submit" name="decision" value="consent">Consent</button>
<button type="submit" name="decision" value="cancel">Cancel</button>
</form>
</body>
</html>
`))

func (s *Sim) consentPage(w http.ResponseWriter, r *http.Request, id string, p *pendingAuth) {
	data := struct {
		AppName, User, Partner, RedirectURI, State, Action, RequestID string
		Scopes                                                        []string
	}{
		AppName:     AppName,
		User:        s.estate.Partner.User.UserPrincipalName,
		Partner:     s.estate.Partner.DisplayName,
		RedirectURI: p.redirectURI,
		State:       p.state,
		Action:      "/" + url.PathEscape(pathTenant(r)) + "/oauth2/v2.0/authorize",
		RequestID:   id,
		Scopes:      strings.Fields(p.scope),
	}
	setPageHeaders(w)
	w.WriteHeader(http.StatusOK)
	_ = consentTemplate.Execute(w, data)
}

var errorTemplate = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in failed</title></head>
<body>
<h1>Sorry, but we could not sign you in</h1>
<p><code>{{.Error}}</code></p>
<p>{{.Description}}</p>
</body>
</html>
`))

// errorPage shows an authorize failure that cannot go back to the app (the
// app or its redirect URI is not to be trusted).
func (s *Sim) errorPage(w http.ResponseWriter, r *http.Request, f aadFailure) {
	setPageHeaders(w)
	w.WriteHeader(http.StatusBadRequest)
	_ = errorTemplate.Execute(w, struct{ Error, Description string }{f.err, f.description()})
}

func setPageHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
}

// consent answers the consent page's form.
func (s *Sim) consent(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, r, aadFailure{err: "invalid_request", text: "The consent form could not be read."})
		return
	}
	id := r.PostForm.Get("sim_request")
	s.mu.Lock()
	p := s.pending[id]
	delete(s.pending, id)
	s.mu.Unlock()
	if p == nil || s.now().Sub(p.created) > pendingLifetime {
		s.errorPage(w, r, aadFailure{err: "invalid_request", text: "This sign-in request was already answered or has expired; start again from the app."})
		return
	}
	switch r.PostForm.Get("decision") {
	case "consent":
		s.redirectCode(w, r, p)
	case "cancel":
		s.redirectError(w, r, p.redirectURI, p.state, aadFailure{err: "access_denied", code: 65004,
			text: "The user declined to consent to access the app."})
	default:
		s.errorPage(w, r, aadFailure{err: "invalid_request", text: "The consent form needs decision=consent or decision=cancel."})
	}
}

func (s *Sim) redirectCode(w http.ResponseWriter, r *http.Request, p *pendingAuth) {
	code := s.secret("simcode_")
	s.mu.Lock()
	s.codes[code] = &authCode{clientID: p.clientID, redirectURI: p.redirectURI, scope: p.scope, nonce: p.nonce,
		challenge: p.challenge, issued: s.now()}
	s.mu.Unlock()
	redirectWith(w, p.redirectURI, [][2]string{{"code", code}, {"state", p.state}})
}

func (s *Sim) redirectError(w http.ResponseWriter, r *http.Request, redirect, state string, f aadFailure) {
	params := [][2]string{{"error", f.err}, {"error_description", f.description()}}
	if state != "" {
		params = append(params, [2]string{"state", state})
	}
	redirectWith(w, redirect, params)
}

// redirectWith sends a 302 to redirect with params added to its query, in
// order.
func redirectWith(w http.ResponseWriter, redirect string, params [][2]string) {
	u, _ := url.Parse(redirect)
	var b strings.Builder
	b.WriteString(u.RawQuery)
	for _, kv := range params {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(kv[0]) + "=" + url.QueryEscape(kv[1]))
	}
	u.RawQuery = b.String()
	w.Header().Set("Location", u.String())
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusFound)
}

// Scopes.

var oidcScopes = map[string]bool{"openid": true, "profile": true, "email": true, "offline_access": true}

// scopeSet is a parsed scope parameter.
type scopeSet struct {
	resource string          // the resource of the first non-OpenID scope; "" if none
	oidc     map[string]bool // the OpenID Connect scopes asked for
}

// parseScopes reads a space-separated scope list. bad is the first scope
// naming no resource the simulator knows.
func (s *Sim) parseScopes(scope string) (scopeSet, string) {
	ss := scopeSet{oidc: map[string]bool{}}
	for _, sc := range strings.Fields(scope) {
		if oidcScopes[strings.ToLower(sc)] {
			ss.oidc[strings.ToLower(sc)] = true
			continue
		}
		res := s.scopeResource(sc)
		if res == "" {
			return ss, sc
		}
		if ss.resource == "" {
			ss.resource = res
		}
	}
	return ss, ""
}

// scopeResource maps one scope to its resource: a URI's scheme and host
// (https://graph.microsoft.com/.default, or the simulator's own Graph URL,
// which is what a client pointed at it asks for), Graph's application id,
// or Graph for a bare permission name (User.Read).
func (s *Sim) scopeResource(sc string) string {
	if i := strings.Index(sc, "://"); i >= 0 {
		host, _, _ := strings.Cut(sc[i+3:], "/")
		switch strings.ToLower(host) {
		case "graph.microsoft.com":
			return ResourceGraph
		case "api.partnercenter.microsoft.com":
			return ResourcePartnerCenter
		}
		s.mu.Lock()
		own := s.graphHost
		s.mu.Unlock()
		if own != "" && strings.EqualFold(host, own) {
			return ResourceGraph
		}
		return ""
	}
	if app, _, ok := strings.Cut(sc, "/"); ok {
		if strings.EqualFold(app, "00000003-0000-0000-c000-000000000000") {
			return ResourceGraph
		}
		return ""
	}
	for _, r := range sc {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return ""
		}
	}
	return ResourceGraph
}

// grantedScope is the scope an access token for resource carries.
func grantedScope(resource string, oidc map[string]bool) string {
	var parts []string
	switch resource {
	case ResourcePartnerCenter:
		parts = []string{ResourcePartnerCenter + "/user_impersonation"}
	default:
		for _, p := range []string{"DelegatedAdminRelationship.Read.All", "Directory.Read.All", "Organization.Read.All", "User.Read"} {
			parts = append(parts, ResourceGraph+"/"+p)
		}
	}
	for _, o := range []string{"openid", "profile", "email"} {
		if oidc[o] {
			parts = append(parts, o)
		}
	}
	return strings.Join(parts, " ")
}

// The token endpoint.

type tokenResponse struct {
	TokenType    string `json:"token_type"`
	Scope        string `json:"scope"`
	ExpiresIn    int    `json:"expires_in"`
	ExtExpiresIn int    `json:"ext_expires_in"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
}

func (s *Sim) token(w http.ResponseWriter, r *http.Request) {
	fail := func(f aadFailure) { s.loginError(w, r, f.status, f) }
	if r.Method != http.MethodPost {
		fail(aadFailure{err: "invalid_request", code: 900561, text: "The endpoint only accepts POST requests."})
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		fail(aadFailure{err: "invalid_request", code: 900144,
			text: "The request body must be a form (application/x-www-form-urlencoded) containing the parameter 'grant_type'."})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		fail(aadFailure{err: "invalid_request", code: 900144, text: "The request body could not be read as a form."})
		return
	}
	form := r.PostForm // the form only: query parameters are ignored
	a, ok := s.authority(pathTenant(r))
	if !ok {
		fail(aadFailure{err: "invalid_tenant", code: 90002,
			text: fmt.Sprintf("Tenant '%s' not found. Check the tenant identifier and the cloud you sign in to.", pathTenant(r))})
		return
	}
	clientID, secret := form.Get("client_id"), form.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok && clientID == "" && secret == "" {
		clientID, secret = u, p
	}
	switch {
	case clientID == "":
		fail(aadFailure{err: "invalid_request", code: 900144, text: "The request body must contain the parameter 'client_id'."})
		return
	case !strings.EqualFold(clientID, s.opts.ClientID):
		fail(aadFailure{status: http.StatusBadRequest, err: "unauthorized_client", code: 700016,
			text: fmt.Sprintf("No application with identifier '%s' is registered in directory '%s'.", clientID, a.tenantID)})
		return
	case secret == "":
		fail(aadFailure{status: http.StatusUnauthorized, err: "invalid_client", code: 7000218,
			text: "The request body must contain the parameter 'client_secret' or 'client_assertion'."})
		return
	case subtle.ConstantTimeCompare([]byte(secret), []byte(s.opts.ClientSecret)) != 1:
		fail(aadFailure{status: http.StatusUnauthorized, err: "invalid_client", code: 7000215,
			text: fmt.Sprintf("Invalid client secret provided: send the secret's value, not its id, of a secret of app '%s'.", s.opts.ClientID)})
		return
	}
	switch gt := form.Get("grant_type"); gt {
	case "authorization_code":
		s.redeemCode(w, r, a, form)
	case "refresh_token":
		s.redeemRefresh(w, r, a, form)
	case "":
		fail(aadFailure{err: "invalid_request", code: 900144, text: "The request body must contain the parameter 'grant_type'."})
	default:
		fail(aadFailure{err: "unsupported_grant_type", code: 70003, text: fmt.Sprintf("The app asked for grant type '%s', which the simulator does not support.", gt)})
	}
}

func (s *Sim) redeemCode(w http.ResponseWriter, r *http.Request, a authority, form url.Values) {
	fail := func(f aadFailure) { s.loginError(w, r, f.status, f) }
	code := form.Get("code")
	if code == "" {
		fail(aadFailure{err: "invalid_request", code: 900144, text: "The request body must contain the parameter 'code'."})
		return
	}
	now := s.now()
	s.mu.Lock()
	c := s.codes[code]
	var snapshot authCode
	if c != nil {
		snapshot = *c
	}
	s.mu.Unlock()
	switch {
	case c == nil:
		fail(aadFailure{err: "invalid_grant", code: 9002313, text: "Invalid request: the authorization code is malformed or was not issued here."})
		return
	case snapshot.used:
		fail(aadFailure{err: "invalid_grant", code: 54005, text: "The OAuth2 authorization code was already redeemed; start a new authorization or use the refresh token."})
		return
	case now.Sub(snapshot.issued) > codeLifetime:
		fail(aadFailure{err: "invalid_grant", code: 70008, text: "The authorization code has expired. Send a new interactive authorization request for this user and resource."})
		return
	case form.Get("redirect_uri") != snapshot.redirectURI:
		fail(aadFailure{err: "invalid_grant", code: 50011,
			text: fmt.Sprintf("The reply address '%s' does not match the reply address '%s' given when the authorization code was requested.",
				form.Get("redirect_uri"), snapshot.redirectURI)})
		return
	case form.Get("code_verifier") == "":
		fail(aadFailure{err: "invalid_request", code: 900144, text: "The request body must contain the parameter 'code_verifier'."})
		return
	case !verifierMatches(form.Get("code_verifier"), snapshot.challenge):
		fail(aadFailure{err: "invalid_grant", code: 501481, text: "The code_verifier does not match the code_challenge of the authorization request."})
		return
	}
	scope := form.Get("scope")
	if scope == "" {
		scope = snapshot.scope
	}
	ss, bad := s.parseScopes(scope)
	if bad != "" {
		fail(aadFailure{err: "invalid_scope", code: 70011, text: fmt.Sprintf("The scope '%s' is not one this app registration may ask for.", bad)})
		return
	}
	if f := s.tenantAccess(a, nil); f != nil {
		fail(*f)
		return
	}
	s.mu.Lock()
	if c.used { // lost a race with another redemption of the same code
		s.mu.Unlock()
		fail(aadFailure{err: "invalid_grant", code: 54005, text: "The OAuth2 authorization code was already redeemed; start a new authorization or use the refresh token."})
		return
	}
	c.used = true
	s.mu.Unlock()
	consented, _ := s.parseScopes(snapshot.scope)
	resp := s.issue(r, a, ss, snapshot.scope, consented.oidc["offline_access"])
	if consented.oidc["openid"] {
		resp.IDToken = s.idToken(r, a.tenantID, snapshot.nonce)
	}
	s.tokenAnswer(w, resp)
}

func verifierMatches(verifier, challenge string) bool {
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}

func (s *Sim) redeemRefresh(w http.ResponseWriter, r *http.Request, a authority, form url.Values) {
	fail := func(f aadFailure) { s.loginError(w, r, f.status, f) }
	rt := form.Get("refresh_token")
	if rt == "" {
		fail(aadFailure{err: "invalid_request", code: 900144, text: "The request body must contain the parameter 'refresh_token'."})
		return
	}
	s.mu.Lock()
	g := s.refresh[rt]
	var grant refreshGrant
	if g != nil {
		grant = *g
	}
	s.mu.Unlock()
	now := s.now()
	switch {
	case g == nil:
		fail(aadFailure{err: "invalid_grant", code: 9002313, text: "Invalid request: the refresh token is malformed or was not issued here."})
		return
	case !strings.EqualFold(grant.clientID, s.opts.ClientID):
		fail(aadFailure{err: "invalid_grant", code: 70000, text: "The refresh token was issued to another application."})
		return
	case now.Sub(grant.issued) >= refreshLifetime:
		fail(aadFailure{err: "invalid_grant", code: 700082, text: fmt.Sprintf(
			"The refresh token has expired due to inactivity. The token was issued on %s and was inactive for 90.00:00:00.",
			grant.issued.UTC().Format("2006-01-02T15:04:05.0000000Z"))})
		return
	}
	scope := form.Get("scope")
	if scope == "" {
		scope = grant.scope
	}
	ss, bad := s.parseScopes(scope)
	if bad != "" {
		fail(aadFailure{err: "invalid_scope", code: 70011, text: fmt.Sprintf("The scope '%s' is not one this app registration may ask for.", bad)})
		return
	}
	if f := s.tenantAccess(a, &grant.issued); f != nil {
		fail(*f)
		return
	}
	resp := s.issue(r, a, ss, grant.scope, true)
	if ss.oidc["openid"] {
		resp.IDToken = s.idToken(r, a.tenantID, "")
	}
	s.tokenAnswer(w, resp)
}

// tenantAccess checks that the partner's user may get tokens in tenant a;
// refreshIssued is the refresh token's issue time for a refresh grant, nil
// for a code redemption.
func (s *Sim) tenantAccess(a authority, refreshIssued *time.Time) *aadFailure {
	if a.partner {
		return nil
	}
	t := s.tenantAt(a.index)
	p := s.estate.Partner
	switch t.Failure {
	case FailureTenantNotFound:
		return &aadFailure{err: "invalid_tenant", code: 90002,
			text: fmt.Sprintf("Tenant '%s' not found. Check the tenant identifier and the cloud you sign in to; a tenant without active subscriptions may have been removed.", t.TenantID)}
	case FailureNoAdminRelationship:
		return &aadFailure{err: "invalid_grant", code: 50020,
			text: fmt.Sprintf("User account '%s' from identity provider '%s/%s/' does not exist in tenant '%s' and cannot access the application '%s' in that tenant.",
				p.User.UserPrincipalName, "https://sts.windows.net", p.TenantID, t.DisplayName, p.ClientID)}
	case FailureConsentMissing:
		return &aadFailure{err: "invalid_grant", code: 65001, suberror: "consent_required",
			text: fmt.Sprintf("The user or administrator has not consented to use the application with ID '%s' named '%s' in this tenant. Send an interactive authorization request for this user and resource.", p.ClientID, p.AppName)}
	case FailureMFARequired:
		return &aadFailure{err: "invalid_grant", code: 50076, suberror: "basic_action",
			claims: `{"access_token":{"capolids":{"essential":true,"values":["` + nameGUID("ca-policy", t.TenantID) + `"]}}}`,
			text:   "Because of a configuration change made by the tenant's administrator, or because you moved to a new location, you must use multi-factor authentication to access this tenant."}
	case FailureTokenExpired:
		if refreshIssued != nil {
			return &aadFailure{err: "invalid_grant", code: 700082, text: fmt.Sprintf(
				"The refresh token has expired due to inactivity. The token was issued on %s and was inactive for 90.00:00:00.",
				refreshIssued.UTC().Format("2006-01-02T15:04:05.0000000Z"))}
		}
	}
	return nil
}

// issue makes an access token for tenant a and the resource of ss, and a
// refresh token when withRefresh.
func (s *Sim) issue(r *http.Request, a authority, ss scopeSet, consented string, withRefresh bool) tokenResponse {
	resource := ss.resource
	if resource == "" {
		resource = ResourceGraph
	}
	now := s.now()
	at := s.secret("simAT_")
	resp := tokenResponse{TokenType: "Bearer", Scope: grantedScope(resource, ss.oidc),
		ExpiresIn: int(accessLifetime / time.Second), ExtExpiresIn: int(accessLifetime / time.Second), AccessToken: at}
	var rt string
	if withRefresh {
		rt = s.secret("simRT_")
	}
	s.mu.Lock()
	if s.issued++; s.issued%1024 == 0 {
		s.pruneLocked(now)
	}
	s.access[at] = &accessGrant{tenantID: a.tenantID, resource: resource, clientID: s.opts.ClientID, expires: now.Add(accessLifetime)}
	if rt != "" {
		s.refresh[rt] = &refreshGrant{clientID: s.opts.ClientID, scope: consented, issued: now}
		resp.RefreshToken = rt
	}
	s.mu.Unlock()
	return resp
}

// pruneLocked forgets codes, tokens and consent requests a day after they
// stopped working (until then they still get their own error), so that a
// long-running simulator stays small. s.mu is held.
func (s *Sim) pruneLocked(now time.Time) {
	const grace = 24 * time.Hour
	for k, c := range s.codes {
		if now.Sub(c.issued) > codeLifetime+grace {
			delete(s.codes, k)
		}
	}
	for k, a := range s.access {
		if now.Sub(a.expires) > grace {
			delete(s.access, k)
		}
	}
	for k, r := range s.refresh {
		if now.Sub(r.issued) > refreshLifetime+grace {
			delete(s.refresh, k)
		}
	}
	for k, p := range s.pending {
		if now.Sub(p.created) > pendingLifetime {
			delete(s.pending, k)
		}
	}
}

func (s *Sim) tokenAnswer(w http.ResponseWriter, resp tokenResponse) {
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("x-ms-request-id", s.guid())
	writeJSON(w, http.StatusOK, resp)
}

// idToken is an unsigned JWT ("alg":"none", empty signature) with the claims
// seatsync reads.
func (s *Sim) idToken(r *http.Request, tenantID, nonce string) string {
	now := s.now()
	u := s.estate.Partner.User
	claims := struct {
		Aud               string `json:"aud"`
		Iss               string `json:"iss"`
		Iat               int64  `json:"iat"`
		Nbf               int64  `json:"nbf"`
		Exp               int64  `json:"exp"`
		Name              string `json:"name"`
		Nonce             string `json:"nonce,omitempty"`
		Oid               string `json:"oid"`
		PreferredUsername string `json:"preferred_username"`
		Sub               string `json:"sub"`
		Tid               string `json:"tid"`
		Upn               string `json:"upn"`
		Ver               string `json:"ver"`
	}{
		Aud: s.opts.ClientID, Iss: baseURL(r) + "/" + tenantID + "/v2.0",
		Iat: now.Unix(), Nbf: now.Unix(), Exp: now.Add(time.Hour).Unix(),
		Name: u.DisplayName, Nonce: nonce, Oid: u.ObjectID, PreferredUsername: u.UserPrincipalName,
		Sub: s.mac("sub", u.ObjectID, s.opts.ClientID), Tid: tenantID, Upn: u.UserPrincipalName, Ver: "2.0",
	}
	payload, _ := json.Marshal(claims)
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"JWT","alg":"none"}`))
	return header + "." + base64.RawURLEncoding.EncodeToString(payload) + "."
}

// bearer returns the grant of the request's bearer token: ok is false when
// there is none or it is unknown; the grant may have expired.
func (s *Sim) bearer(r *http.Request) (accessGrant, string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return accessGrant{}, "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.access[strings.TrimSpace(tok)]
	if g == nil {
		return accessGrant{}, "present", false
	}
	return *g, "present", true
}

// writeJSON writes v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "mscloudsim: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// Package consent is the Secure Application Model consent flow that connects
// seatsync to the partner's Partner Center: the consent function (Start, GET
// /api/consent) and the consentcallback function (Callback, GET
// /api/consent/callback), whose function.json stays in its own folder.
//
// Start makes a single-use state, a PKCE verifier and a nonce, binds them to
// the browser with a cookie, keeps them server side for ten minutes, and
// redirects the partner's admin to Microsoft's authorize endpoint. Callback
// spends the state (whatever happens next), checks that it is known,
// unexpired and comes back to the browser that started it, redeems the code,
// reads who consented and in which partner tenant from the id_token, stores
// the refresh token in the secret store, records the connection, validates
// the credentials through Graph and Partner Center, starts the first sync,
// and answers a small page saying what happened and what to do next.
//
// Secrets. The state, the code, the verifier, the nonce, the cookie value
// and the tokens never reach a log line, a page or a table row in the clear:
// the consent state row holds hashes of the state and the cookie and the
// verifier and nonce sealed with a key derived from both (seal.go).
package consent

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/seatsync/seatsync/shared/httpapi"
	"github.com/seatsync/seatsync/shared/identity"
	"github.com/seatsync/seatsync/shared/partnercenter"
	"github.com/seatsync/seatsync/shared/seatsync"
	"github.com/seatsync/seatsync/shared/tables"
)

const (
	// CookieName is the cookie that binds a consent to the browser that
	// started it.
	CookieName = "seatsync_consent"
	// StateLifetime is how long a started consent may take; the cookie
	// lives as long.
	StateLifetime = 10 * time.Minute
	// CallbackPath is where Microsoft sends the browser back, after
	// SEATSYNC_PUBLIC_URL.
	CallbackPath = "/api/consent/callback"
	startPath    = "/api/consent"

	// sweepEvery spaces the removal of abandoned states (done by Start).
	sweepEvery = time.Hour
	// finishTimeout bounds what the callback does after the code is
	// redeemed: it runs to the end even if the browser goes away, so that
	// a stored token always gets its connection row.
	finishTimeout = 3 * time.Minute
	// defaultGraphURL is Graph's resource in the global cloud.
	defaultGraphURL = "https://graph.microsoft.com"
)

// Setting names the not-configured page names.
const (
	settingClientID     = "SEATSYNC_CLIENT_ID"
	settingClientSecret = "SEATSYNC_CLIENT_SECRET"
	settingPublicURL    = "SEATSYNC_PUBLIC_URL"
	settingKeyVault     = "SEATSYNC_KEYVAULT_URL"
)

// partnerCenterImpersonation is Partner Center's delegated scope.
var partnerCenterImpersonation = strings.TrimSuffix(partnercenter.Scope, ".default") + "user_impersonation"

// Identity is the part of *identity.Client the flow uses.
type Identity interface {
	ClientID() string
	AuthorizeURL(identity.AuthRequest) (string, error)
	ExchangeCode(ctx context.Context, tenant string, code, verifier seatsync.Secret, redirectURI string, scopes []string) (*identity.TokenResponse, error)
}

// StateStore keeps pending consent states: *tables.ConsentStates.
type StateStore interface {
	Put(ctx context.Context, st tables.ConsentState) error
	// Consume returns the state and deletes it, once; an error wrapping
	// tables.ErrConsentStateUsed for a state unknown or already consumed.
	Consume(ctx context.Context, stateHash string) (tables.ConsentState, error)
	// Sweep deletes the states that expired before now.
	Sweep(ctx context.Context, now time.Time) (int, error)
}

// ConnectionStore records the partner's connection: *tables.Store.
type ConnectionStore interface {
	Connection(ctx context.Context) (seatsync.Connection, error)
	PutConnection(ctx context.Context, c seatsync.Connection) error
}

// Options are the flow's dependencies and settings.
type Options struct {
	// Identity is the app registration's identity client; nil when
	// SEATSYNC_CLIENT_ID or SEATSYNC_CLIENT_SECRET is not set, and then
	// both routes answer a page naming the missing settings. (Do not pass
	// a nil *identity.Client: it is not a nil Identity.)
	Identity Identity
	// Secrets keeps the refresh token; nil answers "not configured".
	Secrets seatsync.SecretStore
	// States keeps the pending consents (tables.NewConsentStates).
	States StateStore
	// Connections records the connection (tables.NewStore).
	Connections ConnectionStore
	// Validate checks the new credentials (NewValidator); nil skips the
	// check, and the connection is recorded as not validated.
	Validate Validator
	// Runs starts the first sync; nil: none is started, and the page says
	// the nightly sync will do it.
	Runs seatsync.RunStarter
	// PublicURL is SEATSYNC_PUBLIC_URL; the redirect URI is PublicURL +
	// CallbackPath. "" answers "not configured".
	PublicURL string
	// GraphURL is SEATSYNC_GRAPH_URL, the Graph resource the delegated
	// permissions are asked for (default https://graph.microsoft.com).
	GraphURL string
	// SecretName names the secret of a partner tenant's refresh token
	// (default seatsync.RefreshTokenSecretName).
	SecretName func(partnerTenantID string) string
	// Log receives one record per consent step; nil discards.
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// flow is both handlers' shared state.
type flow struct {
	o         Options
	publicURL string
	graphURL  string
	secure    bool
	// cookiePath covers both routes (/api/consent and its callback) under
	// the public URL's path, if it has one.
	cookiePath string
	log        *slog.Logger
	now        func() time.Time
	name       func(string) string

	mu        sync.Mutex
	lastSweep time.Time
}

func newFlow(o Options) *flow {
	f := &flow{o: o, log: o.Log, now: o.Now, name: o.SecretName}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	if f.now == nil {
		f.now = time.Now
	}
	if f.name == nil {
		f.name = seatsync.RefreshTokenSecretName
	}
	f.publicURL = strings.TrimRight(strings.TrimSpace(o.PublicURL), "/")
	f.graphURL = strings.TrimRight(strings.TrimSpace(o.GraphURL), "/")
	if f.graphURL == "" {
		f.graphURL = defaultGraphURL
	}
	f.secure = true
	f.cookiePath = startPath
	if u, err := url.Parse(f.publicURL); err == nil {
		if u.Scheme == "http" && isLoopback(u.Hostname()) {
			// make run: http://127.0.0.1:7071, where a Secure cookie
			// would never come back.
			f.secure = false
		}
		f.cookiePath = strings.TrimRight(u.EscapedPath(), "/") + startPath
	}
	return f
}

// Start is the consent function's handler (GET /api/consent, function key):
// it starts a consent and redirects the browser to Microsoft. The optional
// query parameter tenant (the partner tenant's id) sends the admin to that
// tenant's sign-in and makes the callback insist on it.
func Start(o Options) http.Handler { return http.HandlerFunc(newFlow(o).start) }

// Callback is the consentcallback function's handler (GET
// /api/consent/callback, anonymous): Microsoft sends the browser here.
func Callback(o Options) http.Handler { return http.HandlerFunc(newFlow(o).callback) }

// NotAvailable answers in the API's error format that the consent flow is
// not available. Start and Callback replace it; it stays until the wiring
// does.
func NotAvailable(log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpapi.WriteError(w, r, log, seatsync.Errorf(seatsync.ENotImplemented, "Partner consent is not available in this version of seatsync."))
	})
}

func (f *flow) redirectURI() string { return f.publicURL + CallbackPath }

// scopes are what the authorize request asks for: sign-in and a refresh
// token, Partner Center as the partner's user, and the Graph delegated
// permissions the sync's reads need (GDAP customers; DAP contracts,
// subscribedSkus, directory subscriptions, the organization and user counts
// are all covered by Directory.Read.All).
func (f *flow) scopes() []string {
	return []string{"openid", "profile", "offline_access", partnerCenterImpersonation,
		f.graphURL + "/DelegatedAdminRelationship.Read.All", f.graphURL + "/Directory.Read.All"}
}

// exchangeScopes are the code redemption's: a token request names one
// resource, and what is wanted from it is the refresh token and the id_token.
func exchangeScopes() []string {
	return []string{"openid", "profile", "offline_access", partnerCenterImpersonation}
}

// missing names the settings the flow cannot run without.
func (f *flow) missing() []string {
	var m []string
	if f.o.Identity == nil {
		m = append(m, settingClientID, settingClientSecret)
	}
	if f.publicURL == "" {
		m = append(m, settingPublicURL)
	}
	if f.o.Secrets == nil {
		m = append(m, settingKeyVault)
	}
	return m
}

func (f *flow) notConfigured(w http.ResponseWriter, r *http.Request, missing []string) {
	f.log.WarnContext(r.Context(), "consent: not configured", "missing", strings.Join(missing, ","))
	msg := "Partner consent is not configured: set " + strings.Join(missing, ", ") + " in the app settings (see README.md), then open this link again."
	if !wantsHTML(r) {
		httpapi.WriteJSON(w, http.StatusServiceUnavailable, map[string]seatsync.Problem{"error": {Code: "not_configured", Message: msg}})
		return
	}
	var next []string
	for _, s := range missing {
		switch s {
		case settingClientID:
			next = append(next, s+": the application (client) ID of seatsync's multi-tenant app registration.")
		case settingClientSecret:
			next = append(next, s+": a client secret of that app registration (in Azure, a Key Vault reference).")
		case settingPublicURL:
			next = append(next, s+": the address of this app, such as https://seatsync-contoso.azurewebsites.net; "+
				"register {"+s+"}"+CallbackPath+" as a redirect URI of the app registration.")
		case settingKeyVault:
			next = append(next, s+": the Key Vault that keeps the partner's refresh token (standalone mode keeps it in SEATSYNC_DATA_DIR instead).")
		}
	}
	writePage(w, page{Status: http.StatusServiceUnavailable, Title: "Partner consent is not configured",
		Paragraphs: []string{msg}, Next: next})
}

func (f *flow) internal(w http.ResponseWriter, r *http.Request, what string, err error) {
	attrs := []any{"step", what}
	if err != nil {
		attrs = append(attrs, "error", err.Error())
	}
	f.log.ErrorContext(r.Context(), "consent: failed", attrs...)
	writePage(w, page{Status: http.StatusInternalServerError, Title: "Something went wrong on seatsync's side",
		Paragraphs: []string{"seatsync could not " + what + ". Nothing was changed. The server log has the details."},
		RetryURL:   f.retryURL()})
}

func (f *flow) retryURL() string {
	if f.publicURL == "" {
		return ""
	}
	return f.publicURL + startPath
}

// start answers GET /api/consent.
func (f *flow) start(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if m := f.missing(); len(m) > 0 {
		f.notConfigured(w, r, m)
		return
	}
	if f.o.States == nil || f.o.Connections == nil {
		f.internal(w, r, "start the consent (the consent state or connection store is not wired)", nil)
		return
	}
	tenant := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("tenant")))
	if tenant != "" && !seatsync.IsGUID(tenant) {
		writePage(w, page{Status: http.StatusBadRequest, Title: "That is not a tenant ID",
			Paragraphs: []string{"The tenant parameter must be the partner tenant's ID, a GUID such as 7c2a9d5e-3b1f-4e8a-a6d4-0f5b2c8e1a93, or be left out."}})
		return
	}
	f.maybeSweep(ctx)

	state, err1 := identity.NewState()
	nonce, err2 := identity.NewNonce()
	verifier, err3 := identity.NewVerifier()
	cookie, err4 := identity.NewState()
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		f.internal(w, r, "make the consent's random values", err)
		return
	}
	stateHash := hashSecret(state)
	sealedText, err := seal(state, cookie, verifier, nonce, stateHash)
	if err != nil {
		f.internal(w, r, "seal the consent state", err)
		return
	}
	authURL, err := f.o.Identity.AuthorizeURL(identity.AuthRequest{
		RedirectURI: f.redirectURI(),
		Scopes:      f.scopes(),
		State:       state,
		Nonce:       nonce,
		Verifier:    verifier,
		Prompt:      "consent",
		Tenant:      tenant,
	})
	if err != nil {
		// Only settings can make it fail (the redirect URI, the scopes).
		f.internal(w, r, "build Microsoft's sign-in address from the settings ("+settingPublicURL+", SEATSYNC_GRAPH_URL)", err)
		return
	}
	now := f.now()
	err = f.o.States.Put(ctx, tables.ConsentState{
		StateHash:   stateHash,
		CookieHash:  hashSecret(cookie),
		Sealed:      sealedText,
		RedirectURI: f.redirectURI(),
		TenantID:    tenant,
		CreatedAt:   now,
		ExpiresAt:   now.Add(StateLifetime),
	})
	if err != nil {
		f.internal(w, r, "save the consent state", err)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     CookieName,
		Value:    cookie.Reveal(),
		Path:     f.cookiePath,
		MaxAge:   int(StateLifetime / time.Second),
		Secure:   f.secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	})
	setPageHeaders(w.Header())
	w.Header().Set("Location", authURL)
	w.WriteHeader(http.StatusFound)
	f.log.InfoContext(ctx, "consent: started", "tenant", tenantOrAny(tenant), "expiresAt", now.Add(StateLifetime).UTC())
}

func tenantOrAny(t string) string {
	if t == "" {
		return "organizations"
	}
	return t
}

// maybeSweep removes abandoned consent states, at most once per sweepEvery.
// States are only ever added here, so sweeping here bounds the table.
func (f *flow) maybeSweep(ctx context.Context) {
	now := f.now()
	f.mu.Lock()
	due := f.lastSweep.IsZero() || now.Sub(f.lastSweep) >= sweepEvery
	if due {
		f.lastSweep = now
	}
	f.mu.Unlock()
	if !due {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	n, err := f.o.States.Sweep(ctx, now)
	switch {
	case err != nil:
		f.log.WarnContext(ctx, "consent: sweeping expired consent states failed", "error", err.Error())
	case n > 0:
		f.log.InfoContext(ctx, "consent: swept expired consent states", "removed", n)
	}
}

// clearCookie ends the browser binding.
func (f *flow) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: f.cookiePath, MaxAge: -1,
		Secure: f.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// refuse answers a callback that cannot go on, logging why (never a value).
func (f *flow) refuse(w http.ResponseWriter, r *http.Request, reason string, p page) {
	f.log.WarnContext(r.Context(), "consent: callback refused", "reason", reason)
	if p.Status == 0 {
		p.Status = http.StatusBadRequest
	}
	if p.RetryURL == "" {
		p.RetryURL = f.retryURL()
	}
	writePage(w, p)
}

// callback answers GET /api/consent/callback.
func (f *flow) callback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if m := f.missing(); len(m) > 0 {
		f.notConfigured(w, r, m)
		return
	}
	if f.o.States == nil || f.o.Connections == nil {
		f.internal(w, r, "finish the consent (the consent state or connection store is not wired)", nil)
		return
	}
	q := r.URL.Query()
	stateParam := q.Get("state")
	if stateParam == "" || len(stateParam) > 512 {
		f.refuse(w, r, "no state", page{Title: "This page was not opened by a consent seatsync started",
			Paragraphs: []string{"The address has no valid state, so seatsync cannot tell which consent it belongs to. Nothing was changed."}})
		return
	}
	state := seatsync.NewSecret(stateParam)

	// Spend the state first: whatever follows, it is never good again.
	rec, err := f.o.States.Consume(ctx, hashSecret(state))
	switch {
	case errors.Is(err, tables.ErrConsentStateUsed):
		f.refuse(w, r, "state unknown or already used", page{Title: "This consent link is unknown or was already used",
			Paragraphs: []string{"Each consent seatsync starts can be finished once. This one was already used, has been removed after it expired, or was never started by this seatsync. Nothing was changed."}})
		return
	case err != nil:
		f.internal(w, r, "read the consent state", err)
		return
	}
	f.clearCookie(w)
	now := f.now()
	if !now.Before(rec.ExpiresAt) {
		f.refuse(w, r, "state expired", page{Title: "This consent took too long",
			Paragraphs: []string{"A consent must be finished within " + strconv.Itoa(int(StateLifetime/time.Minute)) + " minutes of starting it. Nothing was changed."}})
		return
	}
	ck, err := r.Cookie(CookieName)
	if err != nil || ck.Value == "" {
		f.refuse(w, r, "no browser-binding cookie", page{Title: "Finish the consent in the browser that started it",
			Paragraphs: []string{"This browser did not start this consent (its seatsync cookie is missing), so seatsync refuses to finish it: a consent link must not be passed on or opened elsewhere. Nothing was changed."},
			Next:       []string{"Start again in this browser, and finish the sign-in in the same browser window."}})
		return
	}
	cookie := seatsync.NewSecret(ck.Value)
	if !seatsync.ConstantTimeEqual(hashSecret(cookie), rec.CookieHash) {
		f.refuse(w, r, "browser-binding cookie does not match", page{Title: "Finish the consent in the browser that started it",
			Paragraphs: []string{"This browser started a different consent than the one Microsoft sent back, so seatsync refuses to finish it. Nothing was changed."},
			Next:       []string{"Start again, and finish the sign-in in the same browser window before starting another consent."}})
		return
	}
	verifier, nonce, err := unseal(state, cookie, rec.StateHash, rec.Sealed)
	if err != nil {
		f.refuse(w, r, "consent state does not open", page{Title: "This consent cannot be finished",
			Paragraphs: []string{"seatsync could not read back what it kept for this consent. Nothing was changed."}})
		return
	}

	if e := q.Get("error"); e != "" {
		f.microsoftError(w, r, e, q.Get("error_description"))
		return
	}
	codeParam := q.Get("code")
	if codeParam == "" {
		f.refuse(w, r, "no code", page{Title: "Microsoft sent no sign-in code",
			Paragraphs: []string{"Microsoft sent the browser back without a sign-in code or an error, so there is nothing to finish. Nothing was changed."}})
		return
	}
	tenant := tenantOrAny(rec.TenantID)
	tr, err := f.o.Identity.ExchangeCode(ctx, tenant, seatsync.NewSecret(codeParam), verifier, rec.RedirectURI, exchangeScopes())
	if err != nil {
		f.exchangeFailed(w, r, err)
		return
	}
	claims, err := identity.ParseIDToken(tr.IDToken)
	if err != nil {
		f.log.WarnContext(ctx, "consent: id token unusable", "error", err.Error())
		f.refuse(w, r, "id token unusable", page{Status: http.StatusBadGateway, Title: "Microsoft's answer did not say who signed in",
			Paragraphs: []string{"The sign-in worked, but Microsoft's answer had no usable ID token, so seatsync cannot tell which partner tenant consented. Nothing was stored."}})
		return
	}
	if nonce.IsZero() || !claims.Nonce.Equal(nonce) {
		f.refuse(w, r, "id token nonce does not match", page{Title: "Microsoft's answer does not belong to this consent",
			Paragraphs: []string{"The ID token Microsoft returned was not issued for this consent request (its nonce differs). Nothing was stored."}})
		return
	}
	if !hasAudience(claims.Audience, f.o.Identity.ClientID()) {
		f.refuse(w, r, "id token audience is not this app", page{Title: "Microsoft's answer does not belong to this app",
			Paragraphs: []string{"The ID token Microsoft returned was issued to another application than seatsync's app registration (" + settingClientID + "). Nothing was stored."}})
		return
	}
	tid := strings.ToLower(claims.TenantID)
	if !seatsync.IsGUID(tid) {
		f.refuse(w, r, "id token has no tenant id", page{Status: http.StatusBadGateway, Title: "Microsoft's answer did not name your tenant",
			Paragraphs: []string{"The ID token has no tenant ID, so seatsync cannot tell which partner tenant consented. Sign in with a work account of the partner tenant. Nothing was stored."}})
		return
	}
	if rec.TenantID != "" && tid != rec.TenantID {
		f.log.WarnContext(ctx, "consent: signed in to another tenant than requested", "requestedTenant", rec.TenantID, "tenantId", tid)
		f.refuse(w, r, "id token tenant is not the one requested", page{Title: "You signed in to another tenant",
			Paragraphs: []string{"This consent was started for partner tenant " + rec.TenantID + ", but the account that signed in belongs to tenant " + tid + ". Nothing was stored."},
			Next:       []string{"Sign in with an admin agent account of partner tenant " + rec.TenantID + ", or start the consent without a tenant."}})
		return
	}
	if tr.RefreshToken.IsZero() {
		f.refuse(w, r, "no refresh token", page{Status: http.StatusBadGateway, Title: "Microsoft returned no refresh token",
			Paragraphs: []string{"The sign-in worked, but Microsoft's answer had no refresh token (offline_access), which the nightly sync needs. Nothing was stored."}})
		return
	}
	who := consentedBy(claims)

	// From here on the work finishes even if the browser goes away: a
	// stored token must get its connection row.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	f.finish(fctx, w, tid, who, tr.RefreshToken)
}

// finish stores the token, records and validates the connection, starts the
// first run and answers the page.
func (f *flow) finish(ctx context.Context, w http.ResponseWriter, tid, who string, rt seatsync.Secret) {
	prev, err := f.o.Connections.Connection(ctx)
	if err != nil {
		f.log.WarnContext(ctx, "consent: reading the existing connection failed", "error", err.Error())
		prev = seatsync.Connection{Status: seatsync.NotConnected}
	}

	now := f.now().UTC()
	expires := now.Add(seatsync.DefaultRefreshTokenLifetime)
	name := f.name(tid)
	err = f.o.Secrets.SetSecret(ctx, name, rt, seatsync.SecretInfo{
		ContentType: seatsync.RefreshTokenContentType,
		Tags: map[string]string{
			seatsync.TagPartnerTenantID: tid,
			seatsync.TagIssuedAt:        now.Format(time.RFC3339Nano),
			"consentedBy":               who,
		},
		ExpiresAt: &expires,
		UpdatedAt: now,
	})
	if err != nil {
		f.log.ErrorContext(ctx, "consent: storing the refresh token failed", "tenantId", tid, "secret", name, "error", err.Error())
		writePage(w, page{Status: http.StatusInternalServerError, Title: "The consent could not be stored",
			Paragraphs: []string{"Microsoft accepted the consent, but seatsync could not store the refresh token in its secret store (Key Vault), so nothing was recorded: seatsync is not connected by this consent."},
			Next: []string{"Check that the app's managed identity may set secrets in the Key Vault (the Key Vault Secrets Officer role) and that the vault is reachable; the server log has the details.",
				"Then start the consent again."},
			RetryURL: f.retryURL()})
		return
	}

	conn := seatsync.Connection{
		Status:                seatsync.Connected,
		PartnerTenantID:       tid,
		ConsentedBy:           who,
		ConsentedAt:           &now,
		RefreshTokenExpiresAt: &expires,
	}
	if err := f.o.Connections.PutConnection(ctx, conn); err != nil {
		f.log.ErrorContext(ctx, "consent: recording the connection failed", "tenantId", tid, "error", err.Error())
		writePage(w, page{Status: http.StatusInternalServerError, Title: "The connection could not be recorded",
			Paragraphs: []string{"The refresh token is stored, but seatsync could not record the connection in Table Storage, so it does not know it is connected. The server log has the details."},
			Next:       []string{"Start the consent again: it replaces the stored token and records the connection."},
			RetryURL:   f.retryURL()})
		return
	}

	var v Validation
	if f.o.Validate != nil {
		v = f.o.Validate(ctx, rt, tid)
	}
	validated, status, problem := v.outcome()
	conn.Status, conn.CredentialsValidated, conn.LastError = status, validated, problem
	if validated {
		at := f.now().UTC()
		conn.ValidatedAt = &at
	}
	recorded := true
	if err := f.o.Connections.PutConnection(ctx, conn); err != nil {
		recorded = false
		f.log.ErrorContext(ctx, "consent: recording the validation failed", "tenantId", tid, "error", err.Error())
	}
	logAttrs := []any{"tenantId", tid, "status", status, "credentialsValidated", validated}
	for _, p := range []struct {
		name string
		part Part
	}{{"graph", v.Graph}, {"partnerCenter", v.PartnerCenter}} {
		if p.part.Err != nil {
			logAttrs = append(logAttrs, p.name+"Error", p.part.Err)
		} else if p.part.Checked {
			logAttrs = append(logAttrs, p.name+"Customers", p.part.Customers)
		}
	}

	var run seatsync.Run
	var runErr error
	if f.o.Runs == nil {
		runErr = errNoRuns
	} else if run, runErr = f.o.Runs.StartRun(ctx, seatsync.TriggerConsent, nil); runErr == nil && run.RunID == "" {
		runErr = errors.New("consent: the run starter returned no run id")
	}
	if runErr != nil {
		logAttrs = append(logAttrs, "runError", runErr.Error())
	} else {
		logAttrs = append(logAttrs, "runId", run.RunID)
	}
	f.log.InfoContext(ctx, "consent: connected", logAttrs...)

	switched := prev.Status != seatsync.NotConnected && prev.PartnerTenantID != "" && !strings.EqualFold(prev.PartnerTenantID, tid)
	if switched {
		f.log.WarnContext(ctx, "consent: a different partner tenant consented", "previousTenantId", prev.PartnerTenantID, "tenantId", tid)
	}
	writePage(w, f.resultPage(conn, v, problem, recorded, switched, prev, run, runErr))
}

var errNoRuns = errors.New("consent: no run starter")

func (f *flow) resultPage(conn seatsync.Connection, v Validation, problem *seatsync.Problem, recorded, switched bool, prev seatsync.Connection, run seatsync.Run, runErr error) page {
	p := page{Status: http.StatusOK}
	switch {
	case conn.CredentialsValidated && problem == nil:
		p.Tone, p.Title = toneOK, "Connected: credentials validated"
		listed := plural(v.Graph.Customers, "GDAP customer") + " through Microsoft Graph"
		if v.PartnerCenter.Checked {
			listed += " and " + plural(v.PartnerCenter.Customers, "customer") + " through Partner Center"
		}
		p.Paragraphs = append(p.Paragraphs, "seatsync is connected to your partner tenant. The refresh token is stored in the secret store (never in a table or a log), and seatsync listed "+listed+".")
	case conn.CredentialsValidated:
		p.Tone, p.Title = toneWarn, "Connected: credentials validated, with a warning"
		p.Paragraphs = append(p.Paragraphs, "seatsync is connected to your partner tenant and listed "+plural(v.Graph.Customers, "GDAP customer")+" through Microsoft Graph.", problem.Message)
	case conn.Status == seatsync.Invalid:
		p.Tone, p.Title = toneBad, "Connected, but the credentials did not work"
		p.Paragraphs = append(p.Paragraphs, "The refresh token is stored, but checking it failed, so the connection is marked invalid.", problem.Message)
		p.Next = append(p.Next, "Fix what the message above names, then start the consent again: it replaces the stored token.")
		p.RetryURL = f.retryURL()
	default:
		p.Tone, p.Title = toneWarn, "Connected: credentials not checked"
		if problem != nil {
			p.Paragraphs = append(p.Paragraphs, problem.Message)
		}
	}
	if switched {
		p.Paragraphs = append(p.Paragraphs, "Note: seatsync was connected to partner tenant "+prev.PartnerTenantID+
			" (consented by "+prev.ConsentedBy+"). This consent connects partner tenant "+conn.PartnerTenantID+
			", which the sync now uses; the earlier connection is kept as a separate record with its own token.")
	}
	if !recorded {
		p.Paragraphs = append(p.Paragraphs, "The result of the check could not be recorded; GET /api/v1/connection may still show the connection as not validated. The server log has the details.")
	}
	p.Facts = []fact{
		{"Partner tenant", conn.PartnerTenantID},
		{"Consented by", conn.ConsentedBy},
		{"Consented at", fmtTime(conn.ConsentedAt)},
		{"Refresh token expires", fmtTime(conn.RefreshTokenExpiresAt) + " unless the nightly sync renews it"},
	}
	if runErr == nil {
		p.Facts = append(p.Facts, fact{"First sync run", run.RunID})
		p.Next = append(p.Next, "The first sync run ("+run.RunID+") has started; follow it with GET /api/v1/sync/runs/"+run.RunID+".")
	} else {
		msg := "The first sync could not be started"
		if !errors.Is(runErr, errNoRuns) && seatsync.ErrorCode(runErr) != seatsync.EInternal {
			msg += ": " + seatsync.ErrorMessage(runErr)
		}
		p.Facts = append(p.Facts, fact{"First sync run", "not started"})
		p.Next = append(p.Next, msg+". The connection is kept; start a sync with POST /api/v1/sync or wait for the nightly sync.")
	}
	p.Next = append(p.Next, "GET /api/v1/connection shows the connection's state at any time, including when the refresh token expires.",
		"Point your PSA tool at /api/v1/ (see the README) once the first sync has finished.")
	return p
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "unknown"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// consentedBy is who consented, for display: the sign-in name, else the UPN,
// the display name or the object id.
func consentedBy(c identity.Claims) string {
	for _, s := range []string{c.PreferredUsername, c.UPN, c.Name, c.ObjectID} {
		if s = seatsync.CleanText(s, 256); s != "" {
			return s
		}
	}
	return "unknown"
}

func hasAudience(aud, clientID string) bool {
	for _, a := range strings.Fields(aud) {
		if strings.EqualFold(a, clientID) {
			return true
		}
	}
	return false
}

// exchangeFailed explains a failed code redemption.
func (f *flow) exchangeFailed(w http.ResponseWriter, r *http.Request, err error) {
	ie, ok := errors.AsType[*identity.Error](err)
	if !ok {
		f.log.ErrorContext(r.Context(), "consent: code redemption failed", "error", err.Error())
		f.refuse(w, r, "code redemption failed", page{Status: http.StatusBadGateway, Title: "The sign-in could not be finished",
			Paragraphs: []string{"seatsync could not redeem Microsoft's sign-in code. Nothing was stored. The server log has the details."}})
		return
	}
	f.log.WarnContext(r.Context(), "consent: code redemption refused", "error", ie)
	status := http.StatusBadGateway
	next := []string{"Start the consent again."}
	switch ie.Kind {
	case identity.KindInvalidClient:
		next = []string{"Check " + settingClientID + " and renew " + settingClientSecret + " (the app registration's client secret), then start the consent again."}
	case identity.KindInteractionRequired, identity.KindConditionalAccess:
		next = []string{"Sign in with multi-factor authentication (Microsoft requires MFA for partner access) and start the consent again."}
	}
	f.refuse(w, r, "code redemption refused: "+ie.Code(), page{Status: status, Title: "The sign-in could not be finished",
		Paragraphs: []string{"Redeeming the sign-in code failed: " + ie.Message() + ". Nothing was stored."}, Next: next})
}

// microsoftError explains an error Microsoft sent back instead of a code.
// error_description is Microsoft's text; it is shown escaped, for support.
func (f *flow) microsoftError(w http.ResponseWriter, r *http.Request, code, desc string) {
	code = seatsync.CleanText(code, 64)
	desc = seatsync.CleanText(desc, 500)
	aadsts := identity.AADSTSFromDescription(desc)
	p := page{Detail: desc}
	reason := "microsoft error"
	switch {
	case code == "consent_required" || aadsts == 65001 || aadsts == 90094 || aadsts == 90095 || aadsts == 90099:
		reason = "admin approval needed"
		p.Title = "An administrator must approve seatsync first"
		p.Paragraphs = []string{"Microsoft says your account cannot grant seatsync the permissions it asks for: the tenant requires an administrator's approval. Nothing was changed."}
		p.Next = []string{"Sign in with a Global Administrator of the partner tenant (with MFA) and grant consent; or have one approve seatsync's request under Entra ID › Enterprise applications › Admin consent requests.",
			"Then start the consent again with your Partner Center admin agent account."}
	case code == "access_denied":
		reason = "consent declined"
		p.Title = "Consent was declined"
		p.Paragraphs = []string{"The sign-in was cancelled or the permissions were declined, so seatsync is not connected by this consent. Nothing was changed."}
		p.Next = []string{"If that was a mistake, start again and accept the permissions seatsync asks for."}
	case code == "interaction_required" || code == "login_required" || aadsts == 50076 || aadsts == 50079:
		reason = "sign-in needed"
		p.Title = "Microsoft needs you to sign in again"
		p.Paragraphs = []string{"Microsoft asked for an interactive sign-in, usually with multi-factor authentication, which partner access requires. Nothing was changed."}
		p.Next = []string{"Start again and complete the multi-factor sign-in."}
	default:
		p.Title = "Microsoft did not complete the sign-in"
		p.Paragraphs = []string{"Microsoft sent back an error instead of a sign-in code. Nothing was changed."}
		p.Next = []string{"Start again; if it keeps failing, the error below says why."}
	}
	if isErrorWord(code) {
		p.Paragraphs = append(p.Paragraphs, "Microsoft's error code: "+code+".")
	}
	f.log.WarnContext(r.Context(), "consent: microsoft answered with an error", "error", codeOrOther(code), "aadsts", aadsts, "description", desc)
	f.refuse(w, r, reason, p)
}

func codeOrOther(code string) string {
	if isErrorWord(code) {
		return code
	}
	return "(not an OAuth error word)"
}

func isErrorWord(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && r != '_' {
			return false
		}
	}
	return true
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && ip.IsLoopback()
}

package mscloudsim_test

// Contract tests: seatsync's real identity, graph, partnercenter and catalog
// clients read a whole simulated estate the way the sync will, and what they
// read is compared field by field with the simulator's truth (Sim.Estate),
// the call counters (Sim.Calls) and the design's promises: typed errors an
// MSP can act on, and the minimum number of calls per tenant.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatsync/seatsync/shared/catalog"
	"github.com/seatsync/seatsync/shared/graph"
	"github.com/seatsync/seatsync/shared/identity"
	"github.com/seatsync/seatsync/shared/mscloudsim"
	"github.com/seatsync/seatsync/shared/partnercenter"
	"github.com/seatsync/seatsync/shared/retryafter"
	"github.com/seatsync/seatsync/shared/seatsync"
	"github.com/seatsync/seatsync/shared/tables/tablestest"
)

// Calls keys of the endpoints the sync uses.
const (
	keyToken     = "login POST /{tenant}/oauth2/v2.0/token"
	keyGDAP      = "graph GET /v1.0/tenantRelationships/delegatedAdminCustomers"
	keyContracts = "graph GET /v1.0/contracts"
	keyOrg       = "graph GET /v1.0/organization"
	keySkus      = "graph GET /v1.0/subscribedSkus"
	keyDirSubs   = "graph GET /v1.0/directory/subscriptions"
	keyCount     = "graph GET /v1.0/users/$count"
	keyPCCust    = "partnercenter GET /v1/customers"
	keyPCSubs    = "partnercenter GET /v1/customers/{id}/subscriptions"
)

// graphMaxTop is graph.Client's $top on delegatedAdminCustomers (the most
// Graph documents); a smaller simulator page size wins.
const graphMaxTop = 300

// ---------------------------------------------------------------------------
// Fixture: a simulator, a consent through the real auth-code flow, and the
// real clients on top of it.

type contractOptions struct {
	sim mscloudsim.Options
	// now is the identity client's clock (nil: time.Now).
	now func() time.Time
	// graph tunes the graph client; its HTTPClient transport is wrapped by
	// the fixture's recorder.
	graph graph.Options
}

type contract struct {
	sim    *mscloudsim.Sim
	urls   mscloudsim.URLs
	estate mscloudsim.Estate
	tokens *identity.Tokens
	src    *simTokens
	rec    *recorder // every Graph request attempt, as the transport saw it
	graph  *graph.Client
	pc     *partnercenter.Client
}

func newContract(t *testing.T, o contractOptions) *contract {
	t.Helper()
	ctx := t.Context()
	s, urls := start(t, o.sim)
	e := s.Estate()
	client, rt := connect(t, urls, e, o.now)

	store := &memStore{rt: rt}
	tokens, err := identity.NewTokens(client, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	src := &simTokens{tokens: tokens, partner: e.Partner.TenantID, tenantOf: map[string]string{}}
	if alias := graphScopeAlias(t, ctx, client, rt, urls); alias != "" {
		src.from, src.to = urls.Graph+"/.default", alias
	}
	rec := &recorder{base: http.DefaultTransport, tenant: src.tenant}
	gopts := o.graph
	gopts.HTTPClient = &http.Client{Transport: rec}
	g, err := graph.New(urls.Graph, src, &gopts)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := partnercenter.New(urls.PartnerCenter, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.ResetCalls()
	return &contract{sim: s, urls: urls, estate: e, tokens: tokens, src: src, rec: rec, graph: g, pc: pc}
}

// connect runs the consent the way seatsync's consent function does: the
// authorize URL (PKCE S256) with sim_auto_consent=1, the redirect followed by
// hand to take the code, and identity.Client.ExchangeCode. It returns the
// client and the partner's refresh token.
func connect(t *testing.T, urls mscloudsim.URLs, e mscloudsim.Estate, now func() time.Time) (*identity.Client, seatsync.Secret) {
	t.Helper()
	client, err := identity.New(urls.Login, mscloudsim.DefaultClientID, seatsync.NewSecret(mscloudsim.DefaultClientSecret),
		&identity.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := identity.NewVerifier()
	if err != nil {
		t.Fatal(err)
	}
	state, _ := identity.NewState()
	nonce, _ := identity.NewNonce()
	scopes := strings.Fields(consentScopes)
	authURL, err := client.AuthorizeURL(identity.AuthRequest{RedirectURI: redirectURI, Scopes: scopes, State: state,
		Nonce: nonce, Verifier: verifier, Prompt: "consent"})
	if err != nil {
		t.Fatal(err)
	}
	resp, body := get(t, noRedirect, authURL+"&sim_auto_consent=1")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: status %d, want 302\n%s", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	if !strings.HasPrefix(loc.String(), redirectURI+"?") || q.Get("error") != "" || q.Get("code") == "" ||
		!state.Equal(seatsync.NewSecret(q.Get("state"))) {
		t.Fatalf("authorize redirected to %s", loc.Redacted())
	}
	tr, err := client.ExchangeCode(t.Context(), "organizations", seatsync.NewSecret(q.Get("code")), verifier, redirectURI, scopes)
	if err != nil {
		t.Fatalf("ExchangeCode: %v", err)
	}
	if tr.RefreshToken.IsZero() || tr.AccessToken.IsZero() {
		t.Fatal("ExchangeCode: no refresh or access token")
	}
	claims, err := identity.ParseIDToken(tr.IDToken)
	if err != nil || claims.TenantID != e.Partner.TenantID || !claims.Nonce.Equal(nonce) {
		t.Fatalf("id token: %+v, %v; want partner tenant %s and the nonce sent", claims, err, e.Partner.TenantID)
	}
	return client, tr.RefreshToken
}

// graphScopeAlias works around a simulator defect, only while it exists:
// graph.Client asks for "{graphURL}/.default" (right for every Microsoft
// cloud, whose Graph resource is its URL), which for the simulator is
// "http://127.0.0.1:port/.default", and the simulator's token endpoint
// refuses every scope whose host is not graph.microsoft.com or
// api.partnercenter.microsoft.com (AADSTS70011). When it does, the clients'
// token source asks for https://graph.microsoft.com/.default instead, which
// the simulator binds to its Graph. Once the simulator accepts its own Graph
// URL, this returns "" and the tests exercise the unaltered path.
func graphScopeAlias(t *testing.T, ctx context.Context, client *identity.Client, rt seatsync.Secret, urls mscloudsim.URLs) string {
	t.Helper()
	own := urls.Graph + "/.default"
	_, err := client.Refresh(ctx, "organizations", rt, own+" offline_access")
	var ie *identity.Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &ie) && ie.AADSTS == 70011:
		// The simulator must accept its own Graph URL as the Graph
		// resource, as a national cloud's token endpoint does.
		t.Fatalf("the simulator refuses graph.Client's scope %s (invalid_scope, AADSTS70011)", own)
		return ""
	default:
		t.Fatalf("token for %s: %v", own, err)
		return ""
	}
}

// simTokens is the token source both clients get: identity.Tokens, plus a
// record of which tenant each access token was issued for (so that the
// transport recorder can attribute requests), plus the scope alias above.
type simTokens struct {
	tokens   *identity.Tokens
	partner  string
	from, to string // scope rewrite; from "" = none

	mu       sync.Mutex
	tenantOf map[string]string // access token → tenant id
}

func (s *simTokens) AccessToken(ctx context.Context, tenantID, scope string) (seatsync.Secret, error) {
	if s.from != "" && scope == s.from {
		scope = s.to
	}
	tok, err := s.tokens.AccessToken(ctx, tenantID, scope)
	if err == nil {
		tenant := strings.ToLower(tenantID)
		if tenant == "" {
			tenant = s.partner
		}
		s.mu.Lock()
		s.tenantOf[tok.Reveal()] = tenant
		s.mu.Unlock()
	}
	return tok, err
}

func (s *simTokens) tenant(bearer string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tenantOf[bearer]
}

// recorder is an http.RoundTripper that notes every request attempt and its
// answer.
type recorder struct {
	base   http.RoundTripper
	tenant func(bearer string) string // nil: tenants unknown

	mu     sync.Mutex
	events []event
}

type event struct {
	tenant, path string
	status       int
	retryAfter   string
	ifNoneMatch  string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	ev := event{path: req.URL.Path, ifNoneMatch: req.Header.Get("If-None-Match")}
	if r.tenant != nil {
		ev.tenant = r.tenant(bearerOf(req.Header.Get("Authorization")))
	}
	if err == nil {
		ev.status = resp.StatusCode
		ev.retryAfter = resp.Header.Get("Retry-After")
	}
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	return resp, err
}

func (r *recorder) take() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.events
	r.events = nil
	return ev
}

func bearerOf(h string) string {
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// ---------------------------------------------------------------------------
// Reading the estate the way the sync will.

// customerRead is what the sync learns of one customer.
type customerRead struct {
	tenantID string
	gdap     *graph.Customer
	dap      *graph.Customer
	csp      *partnercenter.Customer

	// Graph, read with a token of the customer's authority; reading stops
	// at the first failure (graphErr), as a sync of the tenant would.
	org      graph.Organization
	skus     []graph.SubscribedSku
	subs     []graph.CompanySubscription
	counts   graph.UserCounts
	graphErr error
	// Partner Center, for customers it lists.
	pcSubs []partnercenter.Subscription
	pcErr  error
}

func (c *customerRead) rels() []string {
	var out []string
	if c.gdap != nil {
		out = append(out, mscloudsim.RelGDAP)
	}
	if c.dap != nil {
		out = append(out, mscloudsim.RelDAP)
	}
	if c.csp != nil {
		out = append(out, mscloudsim.RelCSP)
	}
	return out
}

// readPartner reads the partner-level lists once and merges them by tenant
// id (pc nil: Graph only).
func readPartner(t *testing.T, ctx context.Context, g *graph.Client, pc *partnercenter.Client) map[string]*customerRead {
	t.Helper()
	out := map[string]*customerRead{}
	get := func(id string) *customerRead {
		c := out[id]
		if c == nil {
			c = &customerRead{tenantID: id}
			out[id] = c
		}
		return c
	}
	gdap, err := g.DelegatedAdminCustomers(ctx)
	if err != nil {
		t.Fatalf("DelegatedAdminCustomers: %v", err)
	}
	for i := range gdap {
		if c := get(gdap[i].TenantID); c.gdap != nil {
			t.Errorf("GDAP customer %s listed twice", gdap[i].TenantID)
		} else {
			c.gdap = &gdap[i]
		}
	}
	dap, err := g.Contracts(ctx)
	if err != nil {
		t.Fatalf("Contracts: %v", err)
	}
	for i := range dap {
		if c := get(dap[i].TenantID); c.dap != nil {
			t.Errorf("DAP customer %s listed twice", dap[i].TenantID)
		} else {
			c.dap = &dap[i]
		}
	}
	if pc != nil {
		csp, err := pc.Customers(ctx)
		if err != nil {
			t.Fatalf("Partner Center Customers: %v", err)
		}
		for i := range csp {
			if c := get(csp[i].TenantID); c.csp != nil {
				t.Errorf("Partner Center customer %s listed twice", csp[i].TenantID)
			} else {
				c.csp = &csp[i]
			}
		}
	}
	return out
}

// readTenant reads one customer: Organization, SubscribedSkus,
// DirectorySubscriptions, UserCounts (stopping at the first failure), and
// Partner Center subscriptions when Partner Center lists the customer.
func readTenant(ctx context.Context, g *graph.Client, pc *partnercenter.Client, c *customerRead) {
	steps := []func() error{
		func() (err error) { c.org, err = g.Organization(ctx, c.tenantID); return err },
		func() (err error) { c.skus, err = g.SubscribedSkus(ctx, c.tenantID); return err },
		func() (err error) { c.subs, err = g.DirectorySubscriptions(ctx, c.tenantID); return err },
		func() (err error) { c.counts, err = g.UserCounts(ctx, c.tenantID); return err },
	}
	c.graphErr = nil
	for _, step := range steps {
		if c.graphErr = step(); c.graphErr != nil {
			break
		}
	}
	if pc != nil && c.csp != nil {
		c.pcSubs, c.pcErr = pc.Subscriptions(ctx, c.tenantID)
	}
}

// readTenants reads every customer, parallel at a time (1: in tenant id
// order).
func readTenants(ctx context.Context, g *graph.Client, pc *partnercenter.Client, customers map[string]*customerRead, parallel int) {
	ids := slices.Sorted(maps.Keys(customers))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for _, id := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			readTenant(ctx, g, pc, customers[id])
		})
	}
	wg.Wait()
}

// ---------------------------------------------------------------------------
// Comparing with the truth.

// coverage counts what the comparison saw, so that a test can insist the
// estate's interesting cases were actually compared.
type coverage struct {
	readable, suspended, warning, lockedOut, trials, annual, pcJoined, pcOnly, graphOnly, olderShape int
}

// checkEstate compares what was read with the estate, field by field;
// withPC false checks Graph only.
func checkEstate(t *testing.T, e mscloudsim.Estate, customers map[string]*customerRead, withPC bool) coverage {
	t.Helper()
	var cov coverage
	want := map[string]mscloudsim.Tenant{}
	for _, tn := range e.Tenants {
		if withPC || tn.Has(mscloudsim.RelGDAP) || tn.Has(mscloudsim.RelDAP) {
			want[tn.TenantID] = tn
		}
	}
	if got, exp := slices.Sorted(maps.Keys(customers)), slices.Sorted(maps.Keys(want)); !slices.Equal(got, exp) {
		t.Errorf("customers (union of the partner-level lists):\n got %v\nwant %v", got, exp)
	}
	for _, id := range slices.Sorted(maps.Keys(want)) {
		tn, c := want[id], customers[id]
		if c == nil {
			continue
		}
		name := fmt.Sprintf("%s (%s, %v, failure %q)", tn.DisplayName, tn.TenantID, tn.Relationships, tn.Failure)
		checkRelationships(t, name, tn, c, withPC)
		checkFailure(t, name, tn, c.graphErr)
		if tn.Failure == mscloudsim.FailureNone && c.graphErr == nil {
			cov.readable++
			checkGraphTenant(t, name, e, tn, c, &cov)
		}
		if withPC && tn.Has(mscloudsim.RelCSP) {
			checkPartnerCenter(t, name, e.Partner.TenantID, tn, c, &cov)
		}
	}
	return cov
}

func checkRelationships(t *testing.T, name string, tn mscloudsim.Tenant, c *customerRead, withPC bool) {
	t.Helper()
	wantRels := slices.Clone(tn.Relationships)
	if !withPC {
		wantRels = slices.DeleteFunc(wantRels, func(r string) bool { return r == mscloudsim.RelCSP })
	}
	if got := c.rels(); !slices.Equal(got, wantRels) {
		t.Errorf("%s: relationships %v, want %v", name, got, wantRels)
	}
	if c.gdap != nil && (c.gdap.DisplayName != tn.DisplayName || c.gdap.Relationship != seatsync.RelationshipGDAP) {
		t.Errorf("%s: GDAP customer %+v", name, *c.gdap)
	}
	if c.dap != nil && (c.dap.DisplayName != tn.DisplayName || c.dap.Relationship != seatsync.RelationshipDAP ||
		c.dap.DefaultDomain != tn.InitialDomain || c.dap.ContractType != "ResellerPartner") {
		t.Errorf("%s: DAP contract %+v", name, *c.dap)
	}
	if c.csp != nil && (c.csp.CompanyName != tn.DisplayName || c.csp.Domain != tn.InitialDomain || c.csp.RelationshipToPartner != "reseller") {
		t.Errorf("%s: Partner Center customer %+v", name, *c.csp)
	}
}

// checkFailure checks the typed error the design expects for a tenant
// configured to fail, and no error for the others.
func checkFailure(t *testing.T, name string, tn mscloudsim.Tenant, err error) {
	t.Helper()
	type identityWant struct {
		kind   identity.Kind
		aadsts int
		code   string
	}
	idWant := map[mscloudsim.Failure]identityWant{
		mscloudsim.FailureConsentMissing:      {identity.KindConsentRequired, 65001, identity.EConsentRequired},
		mscloudsim.FailureMFARequired:         {identity.KindInteractionRequired, 50076, identity.EMFARequired},
		mscloudsim.FailureTokenExpired:        {identity.KindExpiredOrRevoked, 700082, identity.ETokenExpired},
		mscloudsim.FailureTenantNotFound:      {identity.KindTenantNotFound, 90002, identity.ETenantNotFound},
		mscloudsim.FailureNoAdminRelationship: {identity.KindTenantNotFound, 50020, identity.ETenantNotFound},
	}
	graphWant := map[mscloudsim.Failure]struct {
		kind      graph.Kind
		status    int
		graphCode string
		code      string
	}{
		mscloudsim.FailureNoRoles: {graph.KindForbidden, http.StatusForbidden, "Authorization_RequestDenied", graph.CodeForbidden},
		mscloudsim.FailureDeleted: {graph.KindNotFound, http.StatusNotFound, "Request_ResourceNotFound", graph.CodeNotFound},
	}
	if tn.Failure == mscloudsim.FailureNone {
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		return
	}
	if err == nil {
		t.Errorf("%s: read without an error", name)
		return
	}
	if w, ok := idWant[tn.Failure]; ok {
		var ie *identity.Error
		if !errors.As(err, &ie) || ie.Kind != w.kind || ie.AADSTS != w.aadsts || ie.TraceID == "" || ie.CorrelationID == "" {
			t.Errorf("%s: %v (%#v); want identity kind %s, AADSTS%d, trace and correlation ids", name, err, ie, w.kind, w.aadsts)
		}
		if got := seatsync.ErrorCode(err); got != w.code {
			t.Errorf("%s: seatsync code %q, want %q", name, got, w.code)
		}
		var ge *graph.Error
		if errors.As(err, &ge) {
			t.Errorf("%s: a token failure came back as a Graph error %v: no Graph request should be made without a token", name, ge)
		}
		return
	}
	w, ok := graphWant[tn.Failure]
	if !ok {
		t.Fatalf("%s: the test knows no expected error for failure %q", name, tn.Failure)
	}
	var ge *graph.Error
	if !errors.As(err, &ge) || ge.Kind() != w.kind || ge.Status != w.status || ge.Code != w.graphCode ||
		ge.TenantID != tn.TenantID || ge.RequestID == "" {
		t.Errorf("%s: %v (%#v); want graph kind %s, HTTP %d %s for the tenant, with a request id", name, err, ge, w.kind, w.status, w.graphCode)
	}
	if got := seatsync.ErrorCode(err); got != w.code {
		t.Errorf("%s: seatsync code %q, want %q", name, got, w.code)
	}
}

func checkGraphTenant(t *testing.T, name string, e mscloudsim.Estate, tn mscloudsim.Tenant, c *customerRead, cov *coverage) {
	t.Helper()
	// Organization: the live name and domains.
	if c.org.ID != tn.TenantID || c.org.DisplayName != tn.DisplayName ||
		c.org.DefaultDomain != strings.ToLower(tn.DefaultDomain) || c.org.InitialDomain != tn.InitialDomain {
		t.Errorf("%s: organization %+v", name, c.org)
	}

	// subscribedSkus.
	if len(c.skus) != len(tn.SKUs) {
		t.Errorf("%s: %d SKUs, want %d", name, len(c.skus), len(tn.SKUs))
	}
	gotSKU := map[string]graph.SubscribedSku{}
	for _, s := range c.skus {
		if _, dup := gotSKU[s.SkuID]; dup {
			t.Errorf("%s: SKU %s twice", name, s.SkuID)
		}
		gotSKU[s.SkuID] = s
	}
	for _, w := range tn.SKUs {
		g, ok := gotSKU[w.SkuID]
		if !ok {
			t.Errorf("%s: SKU %s (%s) missing", name, w.SkuID, w.SkuPartNumber)
			continue
		}
		wantUnits := graph.LicenseUnits{Enabled: w.Enabled, Suspended: w.Suspended, Warning: w.Warning, LockedOut: w.LockedOut}
		wantAccount, wantSubIDs := tn.AccountID, w.SubscriptionIDs
		if tn.OlderShape {
			// The older shape has no accountId, lockedOut or subscriptionIds.
			wantAccount, wantSubIDs = "", nil
			cov.olderShape++
		}
		if g.SkuPartNumber != w.SkuPartNumber || g.PrepaidUnits != wantUnits || g.ConsumedUnits != w.Consumed ||
			g.CapabilityStatus != w.CapabilityStatus || g.AppliesTo != w.AppliesTo || g.AccountID != wantAccount ||
			!slices.Equal(g.SubscriptionIDs, wantSubIDs) {
			t.Errorf("%s: SKU %s\n got %+v\nwant %+v", name, w.SkuPartNumber, g, w)
		}
		cov.suspended += min(w.Suspended, 1)
		cov.warning += min(w.Warning, 1)
		cov.lockedOut += min(w.LockedOut, 1)
	}

	// directory/subscriptions.
	gotSub := map[string]graph.CompanySubscription{}
	for _, s := range c.subs {
		if _, dup := gotSub[s.ID]; dup {
			t.Errorf("%s: directory subscription %s twice", name, s.ID)
		}
		gotSub[s.ID] = s
	}
	n := 0
	for _, w := range tn.Subscriptions {
		if !w.InGraph {
			continue
		}
		n++
		g, ok := gotSub[w.ID]
		if !ok {
			t.Errorf("%s: directory subscription %s (%s) missing", name, w.ID, w.SkuPartNumber)
			continue
		}
		if g.CommerceSubscriptionID != w.CommerceSubscriptionID || g.SkuID != w.SkuID || g.SkuPartNumber != w.SkuPartNumber ||
			g.Status != w.Status || g.TotalLicenses != w.Quantity || g.IsTrial != w.IsTrial ||
			!g.CreatedDateTime.Equal(w.CreatedAt.Truncate(time.Second)) || !g.NextLifecycleDateTime.Equal(w.NextLifecycleAt.Truncate(time.Second)) ||
			g.OwnerTenantID != w.OwnerTenantID {
			t.Errorf("%s: directory subscription %s\n got %+v\nwant %+v", name, w.ID, g, w)
		}
		if w.OwnerTenantID == e.Partner.TenantID && g.OwnerType != "Company" {
			t.Errorf("%s: subscription %s owner type %q", name, w.ID, g.OwnerType)
		}
		if w.IsTrial {
			cov.trials++
		}
		if w.TermDuration == "P1Y" {
			cov.annual++
		}
	}
	if len(c.subs) != n {
		t.Errorf("%s: %d directory subscriptions, want %d", name, len(c.subs), n)
	}

	// User counts.
	if c.counts != (graph.UserCounts{LicensedUsers: tn.Users.Licensed, EnabledMembers: tn.Users.EnabledMembers}) {
		t.Errorf("%s: user counts %+v, want licensed %d, enabled members %d", name, c.counts, tn.Users.Licensed, tn.Users.EnabledMembers)
	}
}

// checkPartnerCenter compares a Direct CSP customer's Partner Center
// subscriptions with the truth, joined to Graph's directory subscriptions
// on the commerce subscription id as the sync joins them.
func checkPartnerCenter(t *testing.T, name, partner string, tn mscloudsim.Tenant, c *customerRead, cov *coverage) {
	t.Helper()
	if c.pcErr != nil {
		t.Errorf("%s: Partner Center subscriptions: %v", name, c.pcErr)
		return
	}
	pcByID := map[string]partnercenter.Subscription{}
	for _, s := range c.pcSubs {
		if _, dup := pcByID[s.ID]; dup {
			t.Errorf("%s: Partner Center subscription %s twice", name, s.ID)
		}
		pcByID[s.ID] = s
	}
	readable := tn.Failure == mscloudsim.FailureNone && c.graphErr == nil
	graphByCommerce := map[string]graph.CompanySubscription{}
	for _, s := range c.subs {
		graphByCommerce[s.CommerceSubscriptionID] = s
	}
	n := 0
	for _, w := range tn.Subscriptions {
		if !w.InPartnerCenter {
			if _, ok := pcByID[w.CommerceSubscriptionID]; ok {
				t.Errorf("%s: Partner Center lists %s, which the partner did not sell", name, w.CommerceSubscriptionID)
			}
			continue
		}
		n++
		p, ok := pcByID[w.CommerceSubscriptionID]
		if !ok {
			t.Errorf("%s: Partner Center subscription %s (%s) missing", name, w.CommerceSubscriptionID, w.ProductName)
			continue
		}
		if p.Quantity != w.Quantity || p.BillingCycle != w.BillingCycle || p.TermDuration != w.TermDuration ||
			p.CommitmentEndDate == nil || !p.CommitmentEndDate.Equal(w.CommitmentEndAt) || p.AutoRenewEnabled != w.AutoRenew ||
			p.IsTrial != w.IsTrial || p.Status != w.PartnerCenterStatus || p.OfferID != w.OfferID {
			t.Errorf("%s: Partner Center subscription %s\n got %+v\nwant %+v", name, w.CommerceSubscriptionID, p, w)
		}
		if !readable {
			continue
		}
		// The join.
		g, joined := graphByCommerce[p.ID]
		switch {
		case w.InGraph && !joined:
			t.Errorf("%s: Partner Center subscription %s has no directory subscription with that commerce id", name, p.ID)
		case !w.InGraph && joined:
			t.Errorf("%s: Partner Center-only subscription %s joined to directory subscription %s", name, p.ID, g.ID)
		case joined:
			cov.pcJoined++
			if g.TotalLicenses != p.Quantity || g.SkuID != w.SkuID {
				t.Errorf("%s: joined subscription %s: Graph %d seats of %s, Partner Center %d", name, p.ID, g.TotalLicenses, g.SkuID, p.Quantity)
			}
		default:
			cov.pcOnly++
		}
	}
	if len(c.pcSubs) != n {
		t.Errorf("%s: %d Partner Center subscriptions, want %d", name, len(c.pcSubs), n)
	}
	if readable {
		for _, g := range c.subs {
			if _, ok := pcByID[g.CommerceSubscriptionID]; !ok {
				cov.graphOnly++ // a self-service trial, or sold by another partner
				if g.OwnerTenantID == partner {
					t.Errorf("%s: subscription %s is the partner's but Partner Center does not list it", name, g.ID)
				}
			}
		}
	}
}

// ---------------------------------------------------------------------------
// Expected calls.

// pages is how many pages a list of n items takes at size per page (an
// empty list is one page).
func pages(n, size int) int { return max(1, (n+size-1)/size) }

// expectedCalls is the minimum the sync needs: each partner-level list once
// per page, and per customer tenant each Graph read once (users/$count
// twice: licensed and enabled members, two different filters; directory
// subscriptions once per page) until the first failure, and Partner Center
// subscriptions once per Direct CSP customer. Only "graph" and (withPC)
// "partnercenter" keys.
func expectedCalls(e mscloudsim.Estate, graphPage, pcPage int, withPC bool) map[string]int {
	want := map[string]int{}
	add := func(key, tenant string, n int) {
		if n == 0 {
			return
		}
		want[key] += n
		want[key+" tenant="+tenant] += n
	}
	var gdap, dap, csp int
	for _, tn := range e.Tenants {
		if tn.Has(mscloudsim.RelGDAP) {
			gdap++
		}
		if tn.Has(mscloudsim.RelDAP) {
			dap++
		}
		if tn.Has(mscloudsim.RelCSP) {
			csp++
		}
		if !withPC && !tn.Has(mscloudsim.RelGDAP) && !tn.Has(mscloudsim.RelDAP) {
			continue // not a customer the Graph lists show
		}
		switch tn.Failure {
		case mscloudsim.FailureNone:
			inGraph := 0
			for _, s := range tn.Subscriptions {
				if s.InGraph {
					inGraph++
				}
			}
			add(keyOrg, tn.TenantID, 1)
			add(keySkus, tn.TenantID, 1)
			add(keyDirSubs, tn.TenantID, pages(inGraph, graphPage))
			add(keyCount, tn.TenantID, 2)
		case mscloudsim.FailureNoRoles, mscloudsim.FailureDeleted:
			add(keyOrg, tn.TenantID, 1) // the first call fails; the read stops
		default:
			// No token: no Graph request at all.
		}
		if withPC && tn.Has(mscloudsim.RelCSP) {
			add(keyPCSubs, tn.TenantID, 1)
		}
	}
	p := e.Partner.TenantID
	add(keyGDAP, p, pages(gdap, min(graphPage, graphMaxTop)))
	add(keyContracts, p, pages(dap, graphPage))
	if withPC {
		add(keyPCCust, p, pages(csp, min(pcPage, 100)))
	}
	return want
}

// checkCalls compares the "graph" and (withPC) "partnercenter" counters with
// want exactly: no call missing, none made twice, none unexpected.
func checkCalls(t *testing.T, what string, got, want map[string]int, withPC bool) {
	t.Helper()
	keys := map[string]bool{}
	for k := range got {
		if strings.HasPrefix(k, "graph ") || (withPC && strings.HasPrefix(k, "partnercenter ")) {
			keys[k] = true
		}
	}
	for k := range want {
		keys[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if got[k] != want[k] {
			t.Errorf("%s: %s: %d calls, want %d", what, k, got[k], want[k])
		}
	}
}

// perTenant sums the calls of one tenant by service.
func perTenant(calls map[string]int, tenant string) (graphCalls, tokenCalls, pcCalls int) {
	suffix := " tenant=" + tenant
	for k, v := range calls {
		if !strings.HasSuffix(k, suffix) {
			continue
		}
		switch {
		case strings.HasPrefix(k, "graph "):
			graphCalls += v
		case strings.HasPrefix(k, keyToken+" "):
			tokenCalls += v
		case strings.HasPrefix(k, "partnercenter "):
			pcCalls += v
		}
	}
	return
}

// ---------------------------------------------------------------------------
// The tests.

// The whole estate, read through the real clients, is the truth: customers
// and relationship kinds, every readable tenant's SKUs, directory
// subscriptions, user counts and Partner Center subscriptions joined on the
// commerce id, and the typed error of every tenant configured to fail.
func TestContractFullEstateRead(t *testing.T) {
	c := newContract(t, contractOptions{sim: mscloudsim.Options{Seed: 1, Tenants: 25, GraphPageSize: 4, PartnerCenterPageSize: 10}})
	ctx := t.Context()
	if n := len(c.estate.Tenants); n != 25 {
		t.Fatalf("%d tenants", n)
	}
	customers := readPartner(t, ctx, c.graph, c.pc)
	readTenants(ctx, c.graph, c.pc, customers, 8)
	cov := checkEstate(t, c.estate, customers, true)

	// Every failure the estate is configured with was met and checked.
	failures := map[mscloudsim.Failure]int{}
	for _, tn := range c.estate.Tenants {
		failures[tn.Failure]++
	}
	for _, f := range []mscloudsim.Failure{mscloudsim.FailureConsentMissing, mscloudsim.FailureMFARequired, mscloudsim.FailureTokenExpired,
		mscloudsim.FailureTenantNotFound, mscloudsim.FailureNoAdminRelationship, mscloudsim.FailureNoRoles, mscloudsim.FailureDeleted} {
		if failures[f] == 0 {
			t.Errorf("the estate has no tenant failing with %q: the comparison does not cover it", f)
		}
	}
	// The comparison was not vacuous.
	if cov.readable != failures[mscloudsim.FailureNone] || cov.suspended == 0 || cov.warning == 0 || cov.lockedOut == 0 ||
		cov.trials == 0 || cov.annual == 0 || cov.pcJoined == 0 || cov.pcOnly == 0 || cov.graphOnly == 0 || cov.olderShape == 0 {
		t.Errorf("coverage %+v (readable tenants in the estate: %d): some case of the estate was not compared", cov, failures[mscloudsim.FailureNone])
	}
	// Paging was exercised: the lists took more than one page.
	calls := c.sim.Calls()
	if calls[keyGDAP] < 2 || calls[keyPCCust] < 2 {
		t.Errorf("partner-level lists took %d Graph and %d Partner Center pages; the test wants several", calls[keyGDAP], calls[keyPCCust])
	}
	t.Logf("compared %d customers, %d readable: %+v", len(customers), cov.readable, cov)
}

// The sync's reads make the minimum number of calls: each partner-level list
// once per page, each per-tenant read once, one token redemption per
// (tenant, resource) and none while a token is cached.
func TestContractMinimumCalls(t *testing.T) {
	const graphPage, pcPage = 8, 10
	c := newContract(t, contractOptions{sim: mscloudsim.Options{Seed: 1, Tenants: 25, GraphPageSize: graphPage, PartnerCenterPageSize: pcPage}})
	ctx := t.Context()
	e := c.estate
	p := e.Partner.TenantID
	want := expectedCalls(e, graphPage, pcPage, true)
	if want[keyGDAP] < 2 || want[keyPCCust] < 2 {
		t.Fatalf("page sizes %d/%d give single-page partner lists (%d, %d pages); the test wants several", graphPage, pcPage, want[keyGDAP], want[keyPCCust])
	}

	// Cold: an empty token cache.
	customers := readPartner(t, ctx, c.graph, c.pc)
	readTenants(ctx, c.graph, c.pc, customers, 8)
	checkEstate(t, e, customers, true)
	cold := c.sim.Calls()
	checkCalls(t, "cold", cold, want, true)
	if got := cold[keyToken+" tenant="+p]; got != 2 {
		t.Errorf("cold: %d token redemptions at the partner authority, want 2 (Graph and Partner Center)", got)
	}
	for _, tn := range e.Tenants {
		// Every customer needs one Graph token (failing ones fail there).
		if got := cold[keyToken+" tenant="+tn.TenantID]; got != 1 {
			t.Errorf("cold: %s (%q): %d token redemptions, want 1", tn.DisplayName, tn.Failure, got)
		}
	}

	// Warm: the same run again with the cache of the first.
	c.sim.ResetCalls()
	customers = readPartner(t, ctx, c.graph, c.pc)
	readTenants(ctx, c.graph, c.pc, customers, 8)
	checkEstate(t, e, customers, true)
	warm := c.sim.Calls()
	checkCalls(t, "warm", warm, want, true)
	for k := range warm {
		if strings.HasPrefix(k, "login ") && !strings.HasPrefix(k, keyToken) {
			t.Errorf("warm: unexpected identity call %s", k)
		}
	}
	if got := warm[keyToken+" tenant="+p]; got != 0 {
		t.Errorf("warm: %d token redemptions at the partner authority, want 0 (cached)", got)
	}
	redeemed := 0
	for _, tn := range e.Tenants {
		got := warm[keyToken+" tenant="+tn.TenantID]
		redeemed += got
		switch tn.Failure {
		case mscloudsim.FailureNone, mscloudsim.FailureNoRoles, mscloudsim.FailureDeleted:
			// The access token is cached.
			if got != 0 {
				t.Errorf("warm: %s (%q): %d token redemptions, want 0: its token is cached", tn.DisplayName, tn.Failure, got)
			}
		case mscloudsim.FailureTokenExpired:
			// identity.Tokens remembers a dead refresh token per tenant
			// (FailureTTL) instead of asking again.
			if got != 0 {
				t.Errorf("warm: %s (%q): %d token redemptions, want 0: the failure is remembered", tn.DisplayName, tn.Failure, got)
			}
		default:
			if got > 1 {
				t.Errorf("warm: %s (%q): %d token redemptions, want at most 1", tn.DisplayName, tn.Failure, got)
			}
		}
	}
	if warm[keyToken] != redeemed {
		t.Errorf("warm: %d token redemptions in all, %d attributed to customer tenants", warm[keyToken], redeemed)
	}

	// The figures for the README.
	type fig struct{ g, tok, pc int }
	figures := func(calls map[string]int) map[fig][]string {
		out := map[fig][]string{}
		for _, tn := range readable(e) {
			if !tn.Has(mscloudsim.RelCSP) {
				continue
			}
			g, tok, pc := perTenant(calls, tn.TenantID)
			out[fig{g, tok, pc}] = append(out[fig{g, tok, pc}], tn.DisplayName)
		}
		return out
	}
	coldFig, warmFig := figures(cold), figures(warm)
	if len(coldFig) != 1 || len(warmFig) != 1 {
		t.Errorf("readable Direct CSP tenants differ in calls: cold %v, warm %v", coldFig, warmFig)
	}
	for f, names := range coldFig {
		t.Logf("per readable Direct CSP tenant, cold token cache: %d Graph calls + %d token redemptions + %d Partner Center calls (%d tenants)",
			f.g, f.tok, f.pc, len(names))
		if f.g != 5 || f.tok != 1 || f.pc != 1 {
			t.Errorf("cold per-tenant figure %+v, want 5 Graph calls (organization, subscribedSkus, directory/subscriptions, 2× users/$count) + 1 token + 1 Partner Center", f)
		}
	}
	for f, names := range warmFig {
		t.Logf("per readable Direct CSP tenant, warm token cache: %d Graph calls + %d token redemptions + %d Partner Center calls (%d tenants)",
			f.g, f.tok, f.pc, len(names))
	}
	total := func(calls map[string]int) int {
		n := 0
		for k, v := range calls {
			if !strings.Contains(k, " tenant=") {
				n += v
			}
		}
		return n
	}
	t.Logf("partner level per run: %d delegatedAdminCustomers + %d contracts + %d Partner Center customers pages (page sizes %d/%d) + %d token redemptions (cold)",
		cold[keyGDAP], cold[keyContracts], cold[keyPCCust], graphPage, pcPage, cold[keyToken+" tenant="+p])
	t.Logf("whole run of %d tenants: %d calls cold, %d warm", len(e.Tenants), total(cold), total(warm))
}

// The product-names CSV names every SKU of the estate, and a refresh of a
// stale copy is a conditional request answered 304.
func TestContractCatalog(t *testing.T) {
	svc := tablestest.Isolated(t)
	ctx := t.Context()
	if err := svc.EnsureTables(ctx, "skucatalog"); err != nil {
		t.Fatal(err)
	}
	table := svc.Table("skucatalog")
	s, urls := start(t, mscloudsim.Options{Seed: 1, Tenants: 25})
	e := s.Estate()

	rec1 := &recorder{base: http.DefaultTransport}
	cat, err := catalog.NewSource(urls.CatalogCSV, table, &catalog.Options{HTTPClient: &http.Client{Transport: rec1}}).Catalog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	named := 0
	check := func(what string, cat *catalog.Catalog) {
		seen := map[string]bool{}
		for _, tn := range e.Tenants {
			for _, sku := range tn.SKUs {
				if seen[sku.SkuID] {
					continue
				}
				seen[sku.SkuID] = true
				if got := cat.Name(sku.SkuID, sku.SkuPartNumber); got != sku.ProductName || got == sku.SkuPartNumber {
					t.Errorf("%s: %s (%s) is named %q, want %q", what, sku.SkuID, sku.SkuPartNumber, got, sku.ProductName)
				}
				// Graph may send the GUID in upper case.
				if p, ok := cat.Lookup(strings.ToUpper(sku.SkuID)); !ok || p.PartNumber != sku.SkuPartNumber || len(p.ServicePlans) == 0 {
					t.Errorf("%s: Lookup(%s) = %+v, %v", what, sku.SkuID, p, ok)
				}
			}
		}
		named = len(seen)
	}
	check("first download", cat)
	if named < 5 {
		t.Errorf("the estate has only %d distinct SKUs", named)
	}
	if ev := rec1.take(); len(ev) != 1 || ev[0].status != http.StatusOK || ev[0].ifNoneMatch != "" {
		t.Errorf("first download: %+v, want one unconditional 200", ev)
	}
	if got := s.Calls()["catalog GET "+mscloudsim.CatalogPath]; got != 1 {
		t.Errorf("first download: %d catalog calls, want 1", got)
	}

	// A second process, whose cache age has run out at once: it loads the
	// table's copy and revalidates it.
	rec2 := &recorder{base: http.DefaultTransport}
	cat2, err := catalog.NewSource(urls.CatalogCSV, table, &catalog.Options{HTTPClient: &http.Client{Transport: rec2}, MaxAge: time.Nanosecond}).Catalog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	check("revalidated copy", cat2)
	if ev := rec2.take(); len(ev) != 1 || ev[0].status != http.StatusNotModified || ev[0].ifNoneMatch == "" {
		t.Errorf("second source: %+v, want one conditional request answered 304", ev)
	}
	if got := s.Calls()["catalog GET "+mscloudsim.CatalogPath]; got != 2 {
		t.Errorf("after the second source: %d catalog calls, want 2", got)
	}
}

// Throttling and faults: the graph client rides out small budgets by
// honouring Retry-After, retries a 503, and calls a malformed answer
// unavailable.
func TestContractThrottlingAndFaults(t *testing.T) {
	t.Run("budgets", func(t *testing.T) {
		const graphPage, budget = 8, 3
		clk := newClock()
		var mu sync.Mutex
		var waits []time.Duration
		c := newContract(t, contractOptions{
			sim: mscloudsim.Options{Seed: 1, Tenants: 25, GraphPageSize: graphPage, Now: clk.Now,
				Budgets: mscloudsim.Budgets{Window: time.Second, PerTenant: budget}},
			now: clk.Now,
			// The wait moves the simulator's clock instead of the test's:
			// deterministic, and no real sleeping.
			graph: graph.Options{Now: clk.Now, Sleep: func(ctx context.Context, d time.Duration) error {
				mu.Lock()
				waits = append(waits, d)
				mu.Unlock()
				clk.Advance(d)
				return ctx.Err()
			}},
		})
		ctx := t.Context()
		e := c.estate
		c.rec.take()

		// In tenant order, one at a time, so each tenant's window is its own.
		customers := readPartner(t, ctx, c.graph, nil)
		readTenants(ctx, c.graph, nil, customers, 1)
		checkEstate(t, e, customers, false)

		calls := c.sim.Calls()
		want := expectedCalls(e, graphPage, 0, false)
		events := c.rec.take()
		throttled := map[string]int{} // Calls key (with and without tenant) → 429s the client saw
		var retryAfters []time.Duration
		for _, ev := range events {
			if ev.status != http.StatusTooManyRequests {
				if ev.status != http.StatusOK && ev.status != http.StatusForbidden && ev.status != http.StatusNotFound {
					t.Errorf("unexpected answer %+v", ev)
				}
				continue
			}
			key := "graph GET " + ev.path
			throttled[key]++
			throttled[key+" tenant="+ev.tenant]++
			d, ok := retryafter.Parse(http.Header{"Retry-After": {ev.retryAfter}}, clk.Now())
			if !ok {
				t.Errorf("429 without a usable Retry-After: %+v", ev)
			}
			retryAfters = append(retryAfters, d)
		}
		if len(retryAfters) == 0 {
			t.Fatal("the budgets never throttled: the test proves nothing")
		}
		// Every 429 the client saw is a call the counters show beyond the
		// minimum, and nothing else is.
		keys := map[string]bool{}
		for k := range calls {
			if strings.HasPrefix(k, "graph ") {
				keys[k] = true
			}
		}
		for k := range want {
			keys[k] = true
		}
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			if extra := calls[k] - want[k]; extra != throttled[k] {
				t.Errorf("%s: %d calls = %d needed + %d extra, but the client saw %d 429s", k, calls[k], want[k], extra, throttled[k])
			}
		}
		// With no time passing but the waits, a tenant making n calls
		// against a budget of b per window is throttled ceil(n/b)-1 times.
		perTenantWant := map[string]int{}
		for k, v := range want {
			if _, tenant, ok := strings.Cut(k, " tenant="); ok {
				perTenantWant[tenant] += v
			}
		}
		perTenantGot := map[string]int{}
		for k, v := range throttled {
			if _, tenant, ok := strings.Cut(k, " tenant="); ok {
				perTenantGot[tenant] += v
			}
		}
		for tenant, n := range perTenantWant {
			if exp := int(math.Ceil(float64(n)/budget)) - 1; perTenantGot[tenant] != exp {
				t.Errorf("tenant %s: %d calls needed, %d 429s, want %d", tenant, n, perTenantGot[tenant], exp)
			}
		}
		// The client waited exactly what each Retry-After said.
		mu.Lock()
		gotWaits := slices.Clone(waits)
		mu.Unlock()
		if !slices.Equal(gotWaits, retryAfters) {
			t.Errorf("waits %v, want the Retry-After values %v", gotWaits, retryAfters)
		}
		t.Logf("budget %d per tenant per %s: %d 429s over %d Graph calls, all ridden out", budget, time.Second, len(retryAfters), calls[keyOrg]+calls[keySkus]+calls[keyDirSubs]+calls[keyCount]+calls[keyGDAP]+calls[keyContracts])
	})

	// One simulator for the fault cases.
	var mu sync.Mutex
	var waits []time.Duration
	c := newContract(t, contractOptions{
		sim: mscloudsim.Options{Seed: 1, Tenants: 25},
		graph: graph.Options{Sleep: func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			waits = append(waits, d)
			mu.Unlock()
			return ctx.Err()
		}},
	})
	takeWaits := func() []time.Duration {
		mu.Lock()
		defer mu.Unlock()
		w := waits
		waits = nil
		return w
	}
	var tn mscloudsim.Tenant
	for _, r := range readable(c.estate) {
		if len(r.SKUs) > 1 {
			tn = r
			break
		}
	}
	if tn.TenantID == "" {
		t.Fatal("no readable tenant with several SKUs")
	}
	wantSkus := func(t *testing.T, skus []graph.SubscribedSku) {
		t.Helper()
		var got, want []string
		for _, s := range skus {
			got = append(got, s.SkuID+"/"+strconv.Itoa(s.PrepaidUnits.Enabled))
		}
		for _, s := range tn.SKUs {
			want = append(want, s.SkuID+"/"+strconv.Itoa(s.Enabled))
		}
		sort.Strings(got)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Errorf("SKUs %v, want %v", got, want)
		}
	}
	skusKey := keySkus + " tenant=" + tn.TenantID

	t.Run("503 retried", func(t *testing.T) {
		ctx := t.Context()
		c.sim.ResetCalls()
		c.rec.take()
		takeWaits()
		c.sim.Inject(mscloudsim.Fault{Endpoint: keySkus, Tenant: tn.TenantID, Kind: mscloudsim.FaultUnavailable, RetryAfter: "0.2"})
		skus, err := c.graph.SubscribedSkus(ctx, tn.TenantID)
		if err != nil {
			t.Fatalf("SubscribedSkus after one 503: %v", err)
		}
		wantSkus(t, skus)
		if got := c.sim.Calls()[skusKey]; got != 2 {
			t.Errorf("%d subscribedSkus calls, want 2 (the 503 and its retry)", got)
		}
		var statuses []int
		for _, ev := range c.rec.take() {
			if ev.path == "/v1.0/subscribedSkus" {
				statuses = append(statuses, ev.status)
			}
		}
		if !slices.Equal(statuses, []int{http.StatusServiceUnavailable, http.StatusOK}) {
			t.Errorf("answers %v, want 503 then 200", statuses)
		}
		if w := takeWaits(); !slices.Equal(w, []time.Duration{200 * time.Millisecond}) {
			t.Errorf("waits %v, want the Retry-After of 200ms", w)
		}
	})

	t.Run("malformed is unavailable", func(t *testing.T) {
		ctx := t.Context()
		c.sim.ResetCalls()
		checkUnavailable := func(what string, err error) {
			t.Helper()
			var ge *graph.Error
			if !errors.As(err, &ge) || ge.Kind() != graph.KindUnavailable || !ge.Transient() {
				t.Errorf("%s with a malformed answer: %v (%#v), want graph kind unavailable", what, err, ge)
			}
			if got := seatsync.ErrorCode(err); got != graph.CodeUnavailable {
				t.Errorf("%s: seatsync code %q, want %q", what, got, graph.CodeUnavailable)
			}
		}

		c.sim.Inject(mscloudsim.Fault{Endpoint: keySkus, Tenant: tn.TenantID, Kind: mscloudsim.FaultMalformed})
		_, err := c.graph.SubscribedSkus(ctx, tn.TenantID)
		checkUnavailable("subscribedSkus", err)
		if got := c.sim.Calls()[skusKey]; got != 1 {
			t.Errorf("%d subscribedSkus calls, want 1 (a 200 is not retried)", got)
		}
		skus, err := c.graph.SubscribedSkus(ctx, tn.TenantID)
		if err != nil {
			t.Fatalf("SubscribedSkus after the fault: %v", err)
		}
		wantSkus(t, skus)

		c.sim.Inject(mscloudsim.Fault{Endpoint: keyCount, Tenant: tn.TenantID, Kind: mscloudsim.FaultMalformed})
		_, err = c.graph.UserCounts(ctx, tn.TenantID)
		checkUnavailable("users/$count", err)

		c.sim.Inject(mscloudsim.Fault{Endpoint: keyGDAP, Kind: mscloudsim.FaultMalformed})
		_, err = c.graph.DelegatedAdminCustomers(ctx)
		checkUnavailable("delegatedAdminCustomers", err)
		if w := takeWaits(); len(w) != 0 {
			t.Errorf("waited %v for malformed answers", w)
		}
	})
}

package mscloudsim_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatsync/seatsync/shared/identity"
	"github.com/seatsync/seatsync/shared/mscloudsim"
	"github.com/seatsync/seatsync/shared/partnercenter"
	"github.com/seatsync/seatsync/shared/seatsync"
)

// memStore is a RefreshTokenStore in memory.
type memStore struct {
	mu    sync.Mutex
	rt    seatsync.Secret
	saves int
}

func (m *memStore) Load(context.Context) (seatsync.Secret, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rt, nil
}

func (m *memStore) Save(_ context.Context, _, rt seatsync.Secret) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rt = rt
	m.saves++
	return nil
}

// seatsync's own identity and Partner Center clients work against the
// simulator: consent, refresh at the partner and at customers, the
// customer list over several pages, subscriptions, and the identity
// platform's failures mapped to the kinds seatsync acts on.
func TestRealClientsInteroperate(t *testing.T) {
	s, urls := start(t, mscloudsim.Options{Seed: 11, PartnerCenterPageSize: 4})
	e := s.Estate()
	ctx := t.Context()

	client, err := identity.New(urls.Login, mscloudsim.DefaultClientID, seatsync.NewSecret(mscloudsim.DefaultClientSecret), nil)
	if err != nil {
		t.Fatal(err)
	}
	verifier, _ := identity.NewVerifier()
	state, _ := identity.NewState()
	nonce, _ := identity.NewNonce()
	scopes := strings.Fields(consentScopes)
	authURL, err := client.AuthorizeURL(identity.AuthRequest{RedirectURI: redirectURI, Scopes: scopes, State: state, Nonce: nonce,
		Verifier: verifier, Prompt: "consent"})
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := get(t, noRedirect, authURL+"&sim_auto_consent=1")
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || !state.Equal(seatsync.NewSecret(loc.Query().Get("state"))) {
		t.Fatalf("authorize: %d %s", resp.StatusCode, loc)
	}
	tr, err := client.ExchangeCode(ctx, "organizations", seatsync.NewSecret(loc.Query().Get("code")), verifier, redirectURI, scopes)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := identity.ParseIDToken(tr.IDToken)
	if err != nil || claims.TenantID != e.Partner.TenantID || !claims.Nonce.Equal(nonce) || claims.Audience != mscloudsim.DefaultClientID {
		t.Fatalf("id token claims %+v, %v", claims, err)
	}
	if tr.RefreshToken.IsZero() || time.Until(tr.ExpiresAt) < 59*time.Minute {
		t.Fatalf("token answer: refresh token present %v, expires %s", !tr.RefreshToken.IsZero(), tr.ExpiresAt)
	}

	// Refresh, as nightlysync does.
	pcTok, err := client.Refresh(ctx, "organizations", tr.RefreshToken, partnercenter.Scope+" offline_access")
	if err != nil {
		t.Fatal(err)
	}
	if pcTok.RefreshToken.IsZero() || pcTok.RefreshToken.Equal(tr.RefreshToken) {
		t.Error("Refresh did not rotate the refresh token")
	}

	store := &memStore{rt: tr.RefreshToken}
	tokens, err := identity.NewTokens(client, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := partnercenter.New(urls.PartnerCenter, tokens, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.ResetCalls()
	customers, err := pc.Customers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	csp := cspTenants(e)
	if len(customers) != len(csp) {
		t.Fatalf("%d customers, want %d", len(customers), len(csp))
	}
	for i, c := range customers {
		if c.TenantID != csp[i].TenantID || c.CompanyName != csp[i].DisplayName || c.Domain != csp[i].InitialDomain || c.RelationshipToPartner != "reseller" {
			t.Errorf("customer %d = %+v, want %s", i, c, csp[i].DisplayName)
		}
	}
	if got, want := s.Calls()["partnercenter GET /v1/customers"], (len(csp)+3)/4; got != want {
		t.Errorf("the client made %d customer calls, want %d pages", got, want)
	}

	// A throttled page is retried after Retry-After.
	s.Inject(mscloudsim.Fault{Endpoint: "partnercenter GET /v1/customers", Kind: mscloudsim.FaultThrottle, RetryAfter: "0.05"})
	if again, err := pc.Customers(ctx); err != nil || len(again) != len(csp) {
		t.Errorf("after a 429: %d customers, %v", len(again), err)
	}

	for _, tn := range csp {
		subs, err := pc.Subscriptions(ctx, tn.TenantID)
		if err != nil {
			t.Fatalf("%s: %v", tn.DisplayName, err)
		}
		var want []mscloudsim.Subscription
		for _, s := range tn.Subscriptions {
			if s.InPartnerCenter {
				want = append(want, s)
			}
		}
		if len(subs) != len(want) {
			t.Fatalf("%s: %d subscriptions, want %d", tn.DisplayName, len(subs), len(want))
		}
		for i, got := range subs {
			w := want[i]
			if got.ID != w.CommerceSubscriptionID || got.Quantity != w.Quantity || got.BillingCycle != w.BillingCycle ||
				got.TermDuration != w.TermDuration || got.AutoRenewEnabled != w.AutoRenew || got.IsTrial != w.IsTrial ||
				got.CommitmentEndDate == nil || !got.CommitmentEndDate.Equal(w.CommitmentEndAt) || got.CreationDate == nil ||
				got.CreationDate.Sub(w.CreatedAt).Abs() > time.Second || got.Status != w.PartnerCenterStatus {
				t.Errorf("%s subscription %d = %+v, want %+v", tn.DisplayName, i, got, w)
			}
		}
	}

	// Customer tenants: Graph tokens from the customer authority.
	graphScope := "https://graph.microsoft.com/.default"
	for _, tn := range readable(e)[:4] {
		tok, err := tokens.AccessToken(ctx, tn.TenantID, graphScope)
		if err != nil {
			t.Fatalf("%s: %v", tn.DisplayName, err)
		}
		resp, body := graphGet(t, urls, tok.Reveal(), "/v1.0/subscribedSkus")
		if resp.StatusCode != http.StatusOK || len(decode[skuList](t, body).Value) != len(tn.SKUs) {
			t.Errorf("%s: subscribedSkus %d %s", tn.DisplayName, resp.StatusCode, body)
		}
	}
	for failure, kind := range map[mscloudsim.Failure]identity.Kind{
		mscloudsim.FailureConsentMissing:      identity.KindConsentRequired,
		mscloudsim.FailureMFARequired:         identity.KindInteractionRequired,
		mscloudsim.FailureTokenExpired:        identity.KindExpiredOrRevoked,
		mscloudsim.FailureTenantNotFound:      identity.KindTenantNotFound,
		mscloudsim.FailureNoAdminRelationship: identity.KindTenantNotFound,
	} {
		tn := withFailure(t, e, failure)
		_, err := tokens.AccessToken(ctx, tn.TenantID, graphScope)
		ie, ok := errors.AsType[*identity.Error](err)
		if !ok || ie.Kind != kind || ie.TraceID == "" || ie.CorrelationID == "" {
			t.Errorf("%s: %v (%+v), want kind %s", failure, err, ie, kind)
		}
	}
	// The partner's own token still comes: the failures were per tenant.
	if _, err := tokens.AccessToken(ctx, "", partnercenter.Scope); err != nil {
		t.Errorf("partner token after the customer failures: %v", err)
	}

	// A wrong client secret is the MSP's to fix.
	bad, _ := identity.New(urls.Login, mscloudsim.DefaultClientID, seatsync.NewSecret("wrong"), nil)
	_, err = bad.Refresh(ctx, "organizations", tr.RefreshToken, graphScope)
	if ie, ok := errors.AsType[*identity.Error](err); !ok || ie.Kind != identity.KindInvalidClient || ie.AADSTS != 7000215 {
		t.Errorf("wrong secret: %v", err)
	}
	if s.Calls()["login POST /{tenant}/oauth2/v2.0/token tenant="+e.Partner.TenantID] == 0 {
		t.Error("token calls at the partner authority are not counted by tenant")
	}
}

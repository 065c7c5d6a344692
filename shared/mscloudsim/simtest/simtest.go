// Package simtest gives tests the partner's tokens on a running Microsoft
// cloud simulator, obtained the way the consent function obtains them: an
// authorization code with PKCE, redeemed by the real identity client.
package simtest

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatsync/seatsync/shared/identity"
	"github.com/seatsync/seatsync/shared/mscloudsim"
	"github.com/seatsync/seatsync/shared/seatsync"
)

// Scopes and RedirectURI are those of the consent the helper performs.
const (
	Scopes      = "openid profile offline_access https://api.partnercenter.microsoft.com/user_impersonation https://graph.microsoft.com/Directory.Read.All"
	RedirectURI = "https://seatsync.example/api/consent/callback"
)

// MemoryRefreshToken keeps the partner's refresh token in memory: the
// identity cache's store in tests.
type MemoryRefreshToken struct {
	mu sync.Mutex
	rt seatsync.Secret
}

// Load returns the stored refresh token.
func (m *MemoryRefreshToken) Load(context.Context) (seatsync.Secret, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rt, nil
}

// Save keeps the rotated refresh token.
func (m *MemoryRefreshToken) Save(_ context.Context, _, rt seatsync.Secret) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rt = rt
	return nil
}

// PartnerTokens consents on the simulator at urls and returns the partner's
// token source.
func PartnerTokens(t testing.TB, urls mscloudsim.URLs) *identity.Tokens {
	t.Helper()
	client, err := identity.New(urls.Login, mscloudsim.DefaultClientID, seatsync.NewSecret(mscloudsim.DefaultClientSecret), nil)
	if err != nil {
		t.Fatal(err)
	}
	verifier, _ := identity.NewVerifier()
	state, _ := identity.NewState()
	nonce, _ := identity.NewNonce()
	scopes := strings.Fields(Scopes)
	authURL, err := client.AuthorizeURL(identity.AuthRequest{RedirectURI: RedirectURI, Scopes: scopes, State: state, Nonce: nonce,
		Verifier: verifier, Prompt: "consent"})
	if err != nil {
		t.Fatal(err)
	}
	noRedirect := &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(authURL + "&sim_auto_consent=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound || !state.Equal(seatsync.NewSecret(loc.Query().Get("state"))) {
		t.Fatalf("authorize: %d %v", resp.StatusCode, err)
	}
	tr, err := client.ExchangeCode(context.Background(), "organizations", seatsync.NewSecret(loc.Query().Get("code")), verifier, RedirectURI, scopes)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := identity.NewTokens(client, &MemoryRefreshToken{rt: tr.RefreshToken}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tokens
}

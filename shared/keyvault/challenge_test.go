package keyvault_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/seatsync/seatsync/shared/keyvault"
	"github.com/seatsync/seatsync/shared/seatsync"
)

const (
	vaultTenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	accessToken = "kv-access-token"
)

// recordingCredential hands out one access token and records what it was
// asked for.
type recordingCredential struct {
	mu   sync.Mutex
	asks []policy.TokenRequestOptions
}

func (c *recordingCredential) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.asks = append(c.asks, o)
	return azcore.AccessToken{Token: accessToken, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// seenRequest is what the vault received.
type seenRequest struct {
	Method, Path, APIVersion, Authorization, ContentType string
	Body                                                 []byte
}

// challengeVault speaks Key Vault's REST protocol as the azsecrets
// challenge policy expects: a request without a token gets 401 and a
// WWW-Authenticate challenge naming the tenant and resource, the retried
// request carries the token.
type challengeVault struct {
	mu      sync.Mutex
	seen    []seenRequest
	secrets map[string]map[string]any // name -> secret bundle JSON
}

func (v *challengeVault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.seen = append(v.seen, seenRequest{
		Method: r.Method, Path: r.URL.Path, APIVersion: r.URL.Query().Get("api-version"),
		Authorization: r.Header.Get("Authorization"), ContentType: r.Header.Get("Content-Type"), Body: body,
	})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if r.Header.Get("Authorization") == "" {
		// Key Vault's own header, as the policy parses it
		// (keyvault/internal challenge_policy.go): space-separated
		// key="value" pairs, the tenant as the authorization URL's path.
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer authorization="https://login.microsoftonline.com/%s", resource="https://vault.azure.net"`, vaultTenant))
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":{"code":"Unauthorized","message":"AKV10000: Request is missing a Bearer or PoP token."}}`)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+accessToken {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	name, _ := strings.CutPrefix(strings.TrimSuffix(r.URL.Path, "/"), "/secrets/")
	switch r.Method {
	case http.MethodPut:
		var b map[string]any
		if err := json.Unmarshal(body, &b); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		attrs, _ := b["attributes"].(map[string]any)
		if attrs == nil {
			attrs = map[string]any{}
		}
		attrs["enabled"], attrs["created"], attrs["updated"] = true, 1740830400, 1740830400
		b["attributes"] = attrs
		b["id"] = "https://" + r.Host + "/secrets/" + name + "/0123456789abcdef"
		v.secrets[name] = b
		_ = json.NewEncoder(w).Encode(b)
	case http.MethodGet:
		b, ok := v.secrets[name]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"error":{"code":"SecretNotFound","message":"A secret with (name/id) %s was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"}}`, name)
			return
		}
		_ = json.NewEncoder(w).Encode(b)
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

func TestChallengeProtocol(t *testing.T) {
	vault := &challengeVault{secrets: map[string]map[string]any{}}
	srv := httptest.NewTLSServer(vault)
	t.Cleanup(srv.Close)
	cred := &recordingCredential{}
	s, err := keyvault.New(srv.URL, cred, &keyvault.Options{
		// srv.Client() trusts the test server's certificate.
		ClientOptions: azcore.ClientOptions{Transport: srv.Client()},
		// The challenge names vault.azure.net, which 127.0.0.1 is not.
		DisableChallengeResourceVerification: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	const name = "seatsync-refresh-token-abc"
	exp := time.Date(2025, 5, 30, 8, 15, 42, 0, time.UTC)
	tags := map[string]string{"partnerTenantId": "abc", "issuedAt": "2025-03-01T08:15:42Z"}
	if err := s.SetSecret(ctx, name, seatsync.NewSecret("rt-value"), seatsync.SecretInfo{
		ContentType: seatsync.RefreshTokenContentType, Tags: tags, ExpiresAt: &exp,
	}); err != nil {
		t.Fatal(err)
	}

	cred.mu.Lock()
	asks := cred.asks
	cred.mu.Unlock()
	if len(asks) != 1 {
		t.Fatalf("credential asked %d times, want once", len(asks))
	}
	if got := asks[0].Scopes; len(got) != 1 || got[0] != "https://vault.azure.net/.default" {
		t.Errorf("scopes = %v, want the challenge's resource with /.default", got)
	}
	if asks[0].TenantID != vaultTenant {
		t.Errorf("tenant = %q, want the challenge's %q", asks[0].TenantID, vaultTenant)
	}

	vault.mu.Lock()
	seen := append([]seenRequest(nil), vault.seen...)
	vault.mu.Unlock()
	if len(seen) != 2 {
		t.Fatalf("vault saw %d requests, want 2 (challenge, then the authorized PUT): %+v", len(seen), seen)
	}
	// The policy elicits the challenge without the body, so the secret
	// does not travel before the vault has proved who it is.
	if first := seen[0]; first.Authorization != "" || len(first.Body) != 0 {
		t.Errorf("first request carried a token or the body: auth %q, %d bytes", first.Authorization, len(first.Body))
	}
	put := seen[1]
	if put.Method != http.MethodPut || put.Path != "/secrets/"+name || put.APIVersion == "" {
		t.Errorf("request = %s %s?api-version=%s, want PUT /secrets/%s?api-version=…", put.Method, put.Path, put.APIVersion, name)
	}
	if put.Authorization != "Bearer "+accessToken {
		t.Errorf("Authorization = %q", put.Authorization)
	}
	if !strings.HasPrefix(put.ContentType, "application/json") {
		t.Errorf("Content-Type = %q", put.ContentType)
	}
	var body struct {
		Value       string            `json:"value"`
		ContentType string            `json:"contentType"`
		Tags        map[string]string `json:"tags"`
		Attributes  struct {
			Exp *int64 `json:"exp"`
		} `json:"attributes"`
	}
	if err := json.Unmarshal(put.Body, &body); err != nil {
		t.Fatalf("PUT body %s: %v", put.Body, err)
	}
	if body.Value != "rt-value" || body.ContentType != seatsync.RefreshTokenContentType || !maps.Equal(body.Tags, tags) {
		t.Errorf("PUT body = %+v", body)
	}
	if body.Attributes.Exp == nil || *body.Attributes.Exp != exp.Unix() {
		t.Errorf("attributes.exp = %v, want %d (Unix seconds)", body.Attributes.Exp, exp.Unix())
	}

	// Reads reuse the token, and Key Vault's real 404 body is a missing
	// secret.
	got, info, err := s.GetSecret(ctx, name)
	if err != nil || got.Reveal() != "rt-value" || info.ContentType != seatsync.RefreshTokenContentType || info.ExpiresAt == nil || !info.ExpiresAt.Equal(exp) {
		t.Errorf("GetSecret = %q, %+v, %v", got.Reveal(), info, err)
	}
	if want := time.Unix(1740830400, 0); !info.UpdatedAt.Equal(want) {
		t.Errorf("UpdatedAt = %v, want %v", info.UpdatedAt, want)
	}
	_, _, err = s.GetSecret(ctx, "seatsync-refresh-token-other")
	if !errors.Is(err, seatsync.ErrSecretNotFound) {
		t.Errorf("GetSecret of a missing secret: %v, want ErrSecretNotFound", err)
	}
	vault.mu.Lock()
	n := len(vault.seen)
	vault.mu.Unlock()
	if n != 4 {
		t.Errorf("vault saw %d requests, want 4 (no further challenges)", n)
	}
}

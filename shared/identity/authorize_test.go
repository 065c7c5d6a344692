package identity

import (
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"

	"github.com/seatsync/seatsync/shared/seatsync"
)

func TestNewValidatesArguments(t *testing.T) {
	secret := seatsync.NewSecret(testClientSecret)
	tests := []struct {
		name, login, clientID string
		secret                seatsync.Secret
		wantLogin             string // "" means New must fail
	}{
		{"public cloud", "https://login.microsoftonline.com", testClientID, secret, "https://login.microsoftonline.com"},
		{"trailing slash forgiven", "https://login.microsoftonline.us/", testClientID, secret, "https://login.microsoftonline.us"},
		{"upper-case GUID", "https://login.microsoftonline.com", strings.ToUpper(testClientID), secret, "https://login.microsoftonline.com"},
		{"loopback http", "http://127.0.0.1:8080", testClientID, secret, "http://127.0.0.1:8080"},
		{"plain http elsewhere", "http://login.microsoftonline.com", testClientID, secret, ""},
		{"with path", "https://login.microsoftonline.com/organizations", testClientID, secret, ""},
		{"with query", "https://login.microsoftonline.com?x=1", testClientID, secret, ""},
		{"with user", "https://u:p@login.microsoftonline.com", testClientID, secret, ""},
		{"relative", "login.microsoftonline.com", testClientID, secret, ""},
		{"ftp", "ftp://login.microsoftonline.com", testClientID, secret, ""},
		{"client id not a GUID", "https://login.microsoftonline.com", "seatsync-app", secret, ""},
		{"client id braces", "https://login.microsoftonline.com", "{" + testClientID + "}", secret, ""},
		{"client id bad hex", "https://login.microsoftonline.com", "5b3c2a11-7d4e-4f60-9a8b-c0d1e2f3a4bZ", secret, ""},
		{"empty secret", "https://login.microsoftonline.com", testClientID, seatsync.Secret{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.login, tt.clientID, tt.secret, nil)
			if tt.wantLogin == "" {
				if err == nil {
					t.Fatalf("New accepted login %q client %q", tt.login, tt.clientID)
				}
				if !strings.HasPrefix(err.Error(), "identity: ") {
					t.Errorf("error not prefixed: %v", err)
				}
				assertNoSecret(t, "New error", err.Error(), testClientSecret)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.login != tt.wantLogin {
				t.Errorf("login = %q, want %q", c.login, tt.wantLogin)
			}
			if c.ClientID() != strings.ToLower(testClientID) {
				t.Errorf("client id = %q", c.ClientID())
			}
		})
	}
	if _, err := New("https://login.microsoftonline.com", testClientID, secret, &Options{RefreshMargin: -1}); err == nil {
		t.Error("negative RefreshMargin accepted")
	}
}

func TestAuthorizeURL(t *testing.T) {
	c, err := New("https://login.microsoftonline.com", testClientID, seatsync.NewSecret(testClientSecret), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The S256 challenge, computed here without the package's helper.
	sum := sha256.Sum256([]byte(testVerifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	pcScope := "https://api.partnercenter.microsoft.com/user_impersonation"

	tests := []struct {
		name     string
		req      AuthRequest
		wantPath string
		want     url.Values
	}{
		{
			name: "consent with nonce, default tenant",
			req: AuthRequest{
				RedirectURI: "https://seatsync.example.com/api/v1/connection/callback",
				Scopes:      []string{"openid", "profile", "offline_access", pcScope},
				State:       seatsync.NewSecret(testState),
				Nonce:       seatsync.NewSecret(testNonce),
				Verifier:    seatsync.NewSecret(testVerifier),
				Prompt:      "consent",
			},
			wantPath: "/organizations/oauth2/v2.0/authorize",
			want: url.Values{
				"client_id":             {testClientID},
				"response_type":         {"code"},
				"response_mode":         {"query"},
				"redirect_uri":          {"https://seatsync.example.com/api/v1/connection/callback"},
				"scope":                 {"openid profile offline_access " + pcScope},
				"state":                 {testState},
				"nonce":                 {testNonce},
				"code_challenge":        {challenge},
				"code_challenge_method": {"S256"},
				"prompt":                {"consent"},
			},
		},
		{
			name: "partner tenant, no nonce, no prompt, loopback redirect",
			req: AuthRequest{
				RedirectURI: "http://localhost:7071/callback",
				Scopes:      []string{"offline_access", graphScope},
				State:       seatsync.NewSecret(testState),
				Verifier:    seatsync.NewSecret(testVerifier),
				Tenant:      partnerTenant,
			},
			wantPath: "/" + partnerTenant + "/oauth2/v2.0/authorize",
			want: url.Values{
				"client_id":             {testClientID},
				"response_type":         {"code"},
				"response_mode":         {"query"},
				"redirect_uri":          {"http://localhost:7071/callback"},
				"scope":                 {"offline_access " + graphScope},
				"state":                 {testState},
				"code_challenge":        {challenge},
				"code_challenge_method": {"S256"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.AuthorizeURL(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(got)
			if err != nil {
				t.Fatal(err)
			}
			if u.Scheme != "https" || u.Host != "login.microsoftonline.com" || u.Path != tt.wantPath {
				t.Errorf("endpoint = %s://%s%s, want https://login.microsoftonline.com%s", u.Scheme, u.Host, u.Path, tt.wantPath)
			}
			q := u.Query()
			for k := range q {
				if _, ok := tt.want[k]; !ok {
					t.Errorf("unexpected parameter %s=%q", k, q.Get(k))
				}
			}
			for k, v := range tt.want {
				if len(q[k]) != 1 || q[k][0] != v[0] {
					t.Errorf("%s = %q, want %q", k, q[k], v[0])
				}
			}
			if strings.Contains(u.RawQuery, "+") {
				t.Errorf("spaces encoded as '+' rather than %%20: %s", u.RawQuery)
			}
			if strings.Contains(got, testVerifier) {
				t.Error("the verifier itself is in the authorize URL")
			}
			if strings.Contains(got, testClientSecret) {
				t.Error("the client secret is in the authorize URL")
			}
		})
	}
}

func TestAuthorizeURLRejects(t *testing.T) {
	c, err := New("https://login.microsoftonline.com", testClientID, seatsync.NewSecret(testClientSecret), nil)
	if err != nil {
		t.Fatal(err)
	}
	good := AuthRequest{
		RedirectURI: "https://seatsync.example.com/cb",
		Scopes:      []string{"openid", "offline_access"},
		State:       seatsync.NewSecret(testState),
		Verifier:    seatsync.NewSecret(testVerifier),
	}
	if _, err := c.AuthorizeURL(good); err != nil {
		t.Fatalf("baseline request refused: %v", err)
	}
	tests := []struct {
		name string
		mod  func(*AuthRequest)
	}{
		{"no state", func(r *AuthRequest) { r.State = seatsync.Secret{} }},
		{"no verifier", func(r *AuthRequest) { r.Verifier = seatsync.Secret{} }},
		{"verifier too short", func(r *AuthRequest) { r.Verifier = seatsync.NewSecret(strings.Repeat("a", 42)) }},
		{"verifier too long", func(r *AuthRequest) { r.Verifier = seatsync.NewSecret(strings.Repeat("a", 129)) }},
		{"verifier bad character", func(r *AuthRequest) { r.Verifier = seatsync.NewSecret(strings.Repeat("a", 50) + "+") }},
		{"no scopes", func(r *AuthRequest) { r.Scopes = nil }},
		{"empty scope", func(r *AuthRequest) { r.Scopes = []string{"openid", ""} }},
		{"scope with space", func(r *AuthRequest) { r.Scopes = []string{"openid profile"} }},
		{"bad prompt", func(r *AuthRequest) { r.Prompt = "admin_consent" }},
		{"http redirect not loopback", func(r *AuthRequest) { r.RedirectURI = "http://seatsync.example.com/cb" }},
		{"relative redirect", func(r *AuthRequest) { r.RedirectURI = "/cb" }},
		{"redirect with fragment", func(r *AuthRequest) { r.RedirectURI = "https://seatsync.example.com/cb#x" }},
		{"tenant with slash", func(r *AuthRequest) { r.Tenant = "common/../evil" }},
		{"tenant with dots", func(r *AuthRequest) { r.Tenant = ".." }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := good
			tt.mod(&r)
			got, err := c.AuthorizeURL(r)
			if err == nil {
				t.Fatalf("accepted: %s", got)
			}
			assertNoSecret(t, "error", err.Error(), allSecrets()...)
		})
	}
}

func TestNewVerifierStateNonce(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		v, err := NewVerifier()
		if err != nil {
			t.Fatal(err)
		}
		s := v.Reveal()
		if len(s) < 43 || len(s) > 128 {
			t.Fatalf("verifier length %d", len(s))
		}
		for _, r := range s {
			if !strings.ContainsRune("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~", r) {
				t.Fatalf("verifier character %q outside RFC 7636 unreserved", r)
			}
		}
		if seen[s] {
			t.Fatal("verifier repeated")
		}
		seen[s] = true
		if err := checkVerifier(v); err != nil {
			t.Fatalf("own verifier refused: %v", err)
		}
	}
	for name, f := range map[string]func() (seatsync.Secret, error){"state": NewState, "nonce": NewNonce} {
		a, err := f()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := f()
		if a.Equal(b) || len(a.Reveal()) < 32 {
			t.Errorf("%s not random enough: %d chars", name, len(a.Reveal()))
		}
		if url.QueryEscape(a.Reveal()) != a.Reveal() {
			t.Errorf("%s is not URL-safe", name)
		}
	}
}

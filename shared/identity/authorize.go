package identity

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/seatsync/seatsync/shared/seatsync"
)

// AuthRequest is the consent sign-in to send the partner's admin to.
type AuthRequest struct {
	// RedirectURI is where the platform sends the code; it must be
	// registered on the app exactly as given.
	RedirectURI string
	// Scopes may name several resources (openid, profile, offline_access,
	// Partner Center user_impersonation, Graph permissions).
	Scopes []string
	// State is echoed back on the redirect; the caller keeps it to match
	// the answer to this request (CSRF).
	State seatsync.Secret
	// Nonce ends up in the id_token; optional, sent when set.
	Nonce seatsync.Secret
	// Verifier is the PKCE code verifier (see NewVerifier); only its S256
	// challenge is sent now, the verifier itself goes with ExchangeCode.
	Verifier seatsync.Secret
	// Prompt is "", "login", "none", "consent" or "select_account".
	Prompt string
	// Tenant defaults to "organizations": any work account may sign in, and
	// the id_token says which partner tenant it belongs to.
	Tenant string
}

// AuthorizeURL returns the URL that starts the consent sign-in.
func (c *Client) AuthorizeURL(r AuthRequest) (string, error) {
	tenant := r.Tenant
	if tenant == "" {
		tenant = "organizations"
	}
	if err := checkTenant(tenant); err != nil {
		return "", err
	}
	if err := checkRedirectURI(r.RedirectURI); err != nil {
		return "", err
	}
	scope, err := joinScopes(r.Scopes)
	if err != nil {
		return "", err
	}
	if r.State.IsZero() {
		return "", errors.New("identity: the authorize request needs a state")
	}
	if err := checkVerifier(r.Verifier); err != nil {
		return "", err
	}
	switch r.Prompt {
	case "", "login", "none", "consent", "select_account":
	default:
		return "", fmt.Errorf("identity: prompt %q is not one of login, none, consent, select_account", r.Prompt)
	}
	q := url.Values{
		"client_id":             {c.clientID},
		"response_type":         {"code"},
		"response_mode":         {"query"},
		"redirect_uri":          {r.RedirectURI},
		"scope":                 {scope},
		"state":                 {r.State.Reveal()},
		"code_challenge":        {challengeS256(r.Verifier)},
		"code_challenge_method": {"S256"},
	}
	if !r.Nonce.IsZero() {
		q.Set("nonce", r.Nonce.Reveal())
	}
	if r.Prompt != "" {
		q.Set("prompt", r.Prompt)
	}
	// Encode writes a space as "+"; Microsoft's own examples use %20 in the
	// scope, and a literal "+" was already escaped as %2B, so every "+"
	// left stands for a space.
	enc := strings.ReplaceAll(q.Encode(), "+", "%20")
	return c.login + "/" + url.PathEscape(tenant) + "/oauth2/v2.0/authorize?" + enc, nil
}

// challengeS256 is the PKCE S256 code challenge of v: the unpadded base64url
// SHA-256 of the verifier's ASCII text.
func challengeS256(v seatsync.Secret) string {
	sum := sha256.Sum256([]byte(v.Reveal()))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// checkRedirectURI wants an absolute https URL, or http on a loopback host
// (the platform allows that for local development).
func checkRedirectURI(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Fragment != "" {
		return errors.New("identity: the redirect URI must be an absolute URL without a fragment")
	}
	if u.Scheme == "https" || (u.Scheme == "http" && isLoopback(u.Hostname())) {
		return nil
	}
	return errors.New("identity: the redirect URI must use https (http only on localhost)")
}

// joinScopes space-joins scopes, refusing empty lists and scopes holding a
// space (which would silently become two scopes).
func joinScopes(scopes []string) (string, error) {
	if len(scopes) == 0 {
		return "", errors.New("identity: no scopes requested")
	}
	for _, s := range scopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n") {
			return "", fmt.Errorf("identity: scope %q is empty or holds whitespace", s)
		}
		if err := checkScope(s); err != nil {
			return "", err
		}
	}
	return strings.Join(scopes, " "), nil
}

// verifierBytes is the entropy of a verifier: 48 random bytes encode to 64
// base64url characters, inside RFC 7636's 43 to 128.
const verifierBytes = 48

// NewVerifier returns a fresh PKCE code verifier: 64 characters of the
// RFC 7636 unreserved alphabet, from crypto/rand.
func NewVerifier() (seatsync.Secret, error) { return randomSecret(verifierBytes) }

// NewState returns a fresh random, URL-safe state value for AuthRequest.
func NewState() (seatsync.Secret, error) { return randomSecret(32) }

// NewNonce returns a fresh random, URL-safe nonce for AuthRequest.
func NewNonce() (seatsync.Secret, error) { return randomSecret(32) }

func randomSecret(n int) (seatsync.Secret, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return seatsync.Secret{}, fmt.Errorf("identity: random value: %w", err)
	}
	return seatsync.NewSecret(base64.RawURLEncoding.EncodeToString(b)), nil
}

// checkVerifier applies RFC 7636 section 4.1: 43 to 128 characters of
// A-Z a-z 0-9 - . _ ~. The platform refuses anything else at redemption,
// long after the user signed in, so catch it here.
func checkVerifier(v seatsync.Secret) error {
	s := v.Reveal()
	if len(s) < 43 || len(s) > 128 {
		return errors.New("identity: the code verifier must be 43 to 128 characters")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return errors.New("identity: the code verifier holds a character outside the RFC 7636 alphabet")
		}
	}
	return nil
}

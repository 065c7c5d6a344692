package keyvault

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/seatsync/seatsync/shared/seatsync"
)

// errCodeSecretNotFound is Key Vault's error code for a name with no secret
// (or only a deleted one). A 404 with another code is not a missing secret:
// it is a wrong vault URL or a proxy, and must not read as "no consent".
const errCodeSecretNotFound = "SecretNotFound"

// Options configure a Store. Pass nil for defaults.
type Options struct {
	// ClientOptions are the Azure SDK pipeline options: transport, retries,
	// cloud. Tests set Transport to azsecrets/fake's server transport or to
	// an httptest TLS server's client.
	ClientOptions azcore.ClientOptions
	// DisableChallengeResourceVerification lets the vault's authentication
	// challenge name a resource whose domain is not the vault URL's. Only a
	// test server (https://127.0.0.1:port) or an unusual private endpoint
	// needs it; otherwise it guards against sending a token for the vault
	// to a host that is not one.
	DisableChallengeResourceVerification bool
}

// Store is a seatsync.SecretStore in one Key Vault. It is safe for
// concurrent use.
type Store struct {
	client *azsecrets.Client
	host   string // for error messages: which vault
}

var _ seatsync.SecretStore = (*Store)(nil)

// New returns a Store for the vault at vaultURL (such as
// https://myvault.vault.azure.net), authenticating with cred (managed
// identity in Azure). It makes no request: the first call does, so startup
// stays fast.
func New(vaultURL string, cred azcore.TokenCredential, opts *Options) (*Store, error) {
	if cred == nil {
		return nil, errors.New("keyvault: no credential")
	}
	u, err := url.Parse(vaultURL)
	if err != nil {
		return nil, fmt.Errorf("keyvault: vault URL %q: %w", vaultURL, err)
	}
	// The SDK sends a bearer token only over TLS, and a path or query would
	// be silently mangled into every request URL.
	if u.Scheme != "https" || u.Host == "" || u.User != nil || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("keyvault: vault URL %q must be https://host[:port] with no path, such as https://myvault.vault.azure.net", vaultURL)
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	client, err := azsecrets.NewClient("https://"+u.Host, cred, &azsecrets.ClientOptions{
		ClientOptions:                        o.ClientOptions,
		DisableChallengeResourceVerification: o.DisableChallengeResourceVerification,
	})
	if err != nil {
		return nil, fmt.Errorf("keyvault: %w", err)
	}
	return &Store{client: client, host: u.Host}, nil
}

// GetSecret returns the latest version of the secret name and what is kept
// beside it. It returns an error wrapping seatsync.ErrSecretNotFound if the
// vault has no such secret, one wrapping seatsync.ErrInvalidSecretName
// (without a request) if Key Vault could not hold such a name, and otherwise
// one wrapping the SDK's *azcore.ResponseError or transport error.
func (s *Store) GetSecret(ctx context.Context, name string) (seatsync.Secret, seatsync.SecretInfo, error) {
	if err := seatsync.CheckSecretName(name); err != nil {
		return seatsync.Secret{}, seatsync.SecretInfo{}, fmt.Errorf("keyvault: get secret: %w", err)
	}
	resp, err := s.client.GetSecret(ctx, name, "", nil)
	if err != nil {
		if re, ok := errors.AsType[*azcore.ResponseError](err); ok && re.StatusCode == http.StatusNotFound && re.ErrorCode == errCodeSecretNotFound {
			// The SDK's text would add only the request line and the
			// service's message; the vault host says which vault.
			return seatsync.Secret{}, seatsync.SecretInfo{}, fmt.Errorf("keyvault: get secret %q from %s: %w", name, s.host, seatsync.ErrSecretNotFound)
		}
		return seatsync.Secret{}, seatsync.SecretInfo{}, fmt.Errorf("keyvault: get secret %q from %s: %w", name, s.host, err)
	}
	if resp.Value == nil {
		return seatsync.Secret{}, seatsync.SecretInfo{}, fmt.Errorf("keyvault: get secret %q from %s: the answer has no value", name, s.host)
	}
	info := seatsync.SecretInfo{Tags: fromTags(resp.Tags)}
	if resp.ContentType != nil {
		info.ContentType = *resp.ContentType
	}
	if a := resp.Attributes; a != nil {
		if a.Expires != nil {
			t := a.Expires.UTC()
			info.ExpiresAt = &t
		}
		switch {
		case a.Updated != nil:
			info.UpdatedAt = a.Updated.UTC()
		case a.Created != nil:
			info.UpdatedAt = a.Created.UTC()
		}
	}
	return seatsync.NewSecret(*resp.Value), info, nil
}

// SetSecret writes value as the new latest version of the secret name,
// with info's content type, tags and expiry (Key Vault keeps the expiry to
// the second; info.UpdatedAt is ignored, the vault sets it). It returns an
// error wrapping seatsync.ErrInvalidSecretName (without a request) for a
// name Key Vault could not hold, and otherwise one wrapping the SDK's
// error; neither ever holds the value.
func (s *Store) SetSecret(ctx context.Context, name string, value seatsync.Secret, info seatsync.SecretInfo) error {
	if err := seatsync.CheckSecretName(name); err != nil {
		return fmt.Errorf("keyvault: set secret: %w", err)
	}
	v := value.Reveal()
	params := azsecrets.SetSecretParameters{Value: &v, Tags: toTags(info.Tags)}
	if info.ContentType != "" {
		ct := info.ContentType
		params.ContentType = &ct
	}
	if info.ExpiresAt != nil {
		exp := info.ExpiresAt.UTC()
		params.SecretAttributes = &azsecrets.SecretAttributes{Expires: &exp}
	}
	// The SDK's errors carry the request line and the service's answer,
	// never the request body, so wrapping them cannot leak the value.
	if _, err := s.client.SetSecret(ctx, name, params, nil); err != nil {
		return fmt.Errorf("keyvault: set secret %q in %s: %w", name, s.host, err)
	}
	return nil
}

func toTags(m map[string]string) map[string]*string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]*string, len(m))
	for k, v := range m {
		out[k] = &v
	}
	return out
}

func fromTags(m map[string]*string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

package keyvault_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets/fake"

	"github.com/seatsync/seatsync/shared/keyvault"
	"github.com/seatsync/seatsync/shared/seatsync"
)

const fakeVaultURL = "https://fake-vault.vault.azure.net"

// fakeVault keeps secrets behind azsecrets/fake's server, versions and all,
// so that the real azsecrets client (and its challenge policy) runs
// against state rather than canned answers.
type fakeVault struct {
	mu       sync.Mutex
	versions map[string][]azsecrets.Secret // lower-cased name -> versions, latest last
	requests int
	// fail, when set, answers every request for that name with this status
	// and error code instead.
	fail map[string]failure
	now  time.Time
}

type failure struct {
	status int
	code   string
}

func newFakeVault() *fakeVault {
	return &fakeVault{
		versions: map[string][]azsecrets.Secret{},
		fail:     map[string]failure{},
		now:      time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
	}
}

func (v *fakeVault) server() *fake.Server {
	return &fake.Server{
		SetSecret: func(_ context.Context, name string, p azsecrets.SetSecretParameters, _ *azsecrets.SetSecretOptions) (resp azfake.Responder[azsecrets.SetSecretResponse], errResp azfake.ErrorResponder) {
			v.mu.Lock()
			defer v.mu.Unlock()
			v.requests++
			if f, ok := v.fail[name]; ok {
				errResp.SetResponseError(f.status, f.code)
				return
			}
			v.now = v.now.Add(time.Minute)
			key := strings.ToLower(name)
			ver := fmt.Sprintf("v%d", len(v.versions[key])+1)
			now := v.now
			attrs := azsecrets.SecretAttributes{Enabled: ptr(true), Created: &now, Updated: &now}
			if p.SecretAttributes != nil {
				attrs.Expires = p.SecretAttributes.Expires
			}
			s := azsecrets.Secret{
				ID:          ptr(azsecrets.ID(fakeVaultURL + "/secrets/" + name + "/" + ver)),
				Value:       p.Value,
				ContentType: p.ContentType,
				Tags:        maps.Clone(p.Tags),
				Attributes:  &attrs,
			}
			v.versions[key] = append(v.versions[key], s)
			resp.SetResponse(http.StatusOK, azsecrets.SetSecretResponse{Secret: s}, nil)
			return
		},
		GetSecret: func(_ context.Context, name, version string, _ *azsecrets.GetSecretOptions) (resp azfake.Responder[azsecrets.GetSecretResponse], errResp azfake.ErrorResponder) {
			// The fake's path pattern admits '/' in the name, so
			// ".../secrets/{name}/" (latest version) arrives as name
			// "{name}/" and ".../secrets/{name}/{version}" as one name.
			if n, ver, ok := strings.Cut(name, "/"); ok {
				name, version = n, ver
			}
			v.mu.Lock()
			defer v.mu.Unlock()
			v.requests++
			if f, ok := v.fail[name]; ok {
				errResp.SetResponseError(f.status, f.code)
				return
			}
			vs := v.versions[strings.ToLower(name)]
			if len(vs) == 0 || version != "" {
				// The store only ever asks for the latest version.
				errResp.SetResponseError(http.StatusNotFound, "SecretNotFound")
				return
			}
			resp.SetResponse(http.StatusOK, azsecrets.GetSecretResponse{Secret: vs[len(vs)-1]}, nil)
			return
		},
	}
}

func (v *fakeVault) requestCount() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.requests
}

func ptr[T any](v T) *T { return &v }

func newFakeStore(t *testing.T, v *fakeVault) *keyvault.Store {
	t.Helper()
	s, err := keyvault.New(fakeVaultURL, &azfake.TokenCredential{}, &keyvault.Options{
		ClientOptions: azcore.ClientOptions{Transport: fake.NewServerTransport(v.server())},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	v := newFakeVault()
	s := newFakeStore(t, v)
	ctx := t.Context()
	const name = "seatsync-refresh-token-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"

	// Key Vault keeps the expiry in whole seconds: a fraction must not
	// make the round trip fail, nor be invented on the way back.
	exp := time.Date(2025, 5, 30, 8, 15, 42, 600_000_000, time.UTC)
	tags := map[string]string{"partnerTenantId": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "issuedAt": "2025-03-01T08:15:42Z"}
	if err := s.SetSecret(ctx, name, seatsync.NewSecret("first-value"), seatsync.SecretInfo{ContentType: "text/old"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSecret(ctx, name, seatsync.NewSecret("second-value"), seatsync.SecretInfo{
		ContentType: seatsync.RefreshTokenContentType,
		Tags:        tags,
		ExpiresAt:   &exp,
		UpdatedAt:   time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC), // ignored: the vault sets it
	}); err != nil {
		t.Fatal(err)
	}

	got, info, err := s.GetSecret(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if got.Reveal() != "second-value" {
		t.Errorf("value = %q, want the latest version's", got.Reveal())
	}
	if info.ContentType != seatsync.RefreshTokenContentType {
		t.Errorf("content type = %q", info.ContentType)
	}
	if !maps.Equal(info.Tags, tags) {
		t.Errorf("tags = %v, want %v", info.Tags, tags)
	}
	if info.ExpiresAt == nil || !info.ExpiresAt.Equal(exp.Truncate(time.Second)) {
		t.Errorf("expires = %v, want %v", info.ExpiresAt, exp.Truncate(time.Second))
	}
	if want := time.Date(2025, 3, 1, 12, 2, 0, 0, time.UTC); !info.UpdatedAt.Equal(want) {
		t.Errorf("updated = %v, want the vault's time of the second write %v", info.UpdatedAt, want)
	}
}

func TestGetMissingIsNotFound(t *testing.T) {
	v := newFakeVault()
	s := newFakeStore(t, v)
	_, _, err := s.GetSecret(t.Context(), "seatsync-refresh-token-missing")
	if !errors.Is(err, seatsync.ErrSecretNotFound) {
		t.Fatalf("err = %v, want ErrSecretNotFound", err)
	}
	if !strings.Contains(err.Error(), "seatsync-refresh-token-missing") || !strings.Contains(err.Error(), "fake-vault.vault.azure.net") {
		t.Errorf("error %q does not say which secret in which vault", err)
	}
}

func TestNotFoundNeedsTheSecretNotFoundCode(t *testing.T) {
	// A 404 that is not Key Vault's SecretNotFound (a proxy, a wrong path)
	// is a misconfiguration; reading it as "no secret" would tell the MSP
	// to grant consent again.
	v := newFakeVault()
	v.fail["odd-404"] = failure{http.StatusNotFound, "ResourceNotFound"}
	s := newFakeStore(t, v)
	_, _, err := s.GetSecret(t.Context(), "odd-404")
	if err == nil || errors.Is(err, seatsync.ErrSecretNotFound) {
		t.Fatalf("err = %v, want an error that is not ErrSecretNotFound", err)
	}
}

func TestForbiddenErrorHidesValue(t *testing.T) {
	v := newFakeVault()
	v.fail["locked"] = failure{http.StatusForbidden, "Forbidden"}
	s := newFakeStore(t, v)
	const value = "0.AXYZ-very-secret-refresh-token"

	err := s.SetSecret(t.Context(), "locked", seatsync.NewSecret(value), seatsync.SecretInfo{ContentType: "text/plain"})
	if err == nil {
		t.Fatal("SetSecret succeeded against a 403")
	}
	if strings.Contains(err.Error(), value) {
		t.Errorf("error leaks the secret value: %q", err)
	}
	if !strings.Contains(err.Error(), `"locked"`) {
		t.Errorf("error %q does not name the secret", err)
	}
	re, ok := errors.AsType[*azcore.ResponseError](err)
	if !ok || re.StatusCode != http.StatusForbidden {
		t.Errorf("err = %v, want a wrapped *azcore.ResponseError with status 403", err)
	}
	if errors.Is(err, seatsync.ErrSecretNotFound) {
		t.Error("a 403 reads as ErrSecretNotFound")
	}

	_, _, err = s.GetSecret(t.Context(), "locked")
	if re, ok := errors.AsType[*azcore.ResponseError](err); !ok || re.StatusCode != http.StatusForbidden || errors.Is(err, seatsync.ErrSecretNotFound) {
		t.Errorf("GetSecret err = %v, want a 403 that is not ErrSecretNotFound", err)
	}
}

func TestBadNamesRefusedWithoutRequest(t *testing.T) {
	v := newFakeVault()
	s := newFakeStore(t, v)
	for _, name := range []string{
		"",
		"under_score",
		"dot.ted",
		"slash/../escape",
		"space d",
		"ünicode",
		"query?x=1",
		strings.Repeat("a", 128),
	} {
		t.Run(fmt.Sprintf("%.20q", name), func(t *testing.T) {
			err := s.SetSecret(t.Context(), name, seatsync.NewSecret("v"), seatsync.SecretInfo{})
			if !errors.Is(err, seatsync.ErrInvalidSecretName) {
				t.Errorf("SetSecret err = %v, want ErrInvalidSecretName", err)
			}
			_, _, err = s.GetSecret(t.Context(), name)
			if !errors.Is(err, seatsync.ErrInvalidSecretName) {
				t.Errorf("GetSecret err = %v, want ErrInvalidSecretName", err)
			}
		})
	}
	if n := v.requestCount(); n != 0 {
		t.Errorf("%d requests reached the vault for invalid names", n)
	}

	// The longest valid name does reach it.
	long := strings.Repeat("a-9", 42) + "z"
	if err := s.SetSecret(t.Context(), long, seatsync.NewSecret("v"), seatsync.SecretInfo{}); err != nil {
		t.Errorf("a valid 127-character name was refused: %v", err)
	}
}

func TestNewRefusesBadInput(t *testing.T) {
	cred := &azfake.TokenCredential{}
	for _, u := range []string{"", "http://myvault.vault.azure.net", "https://", "https://myvault.vault.azure.net/secrets", "https://myvault.vault.azure.net?x=1", "://bad"} {
		if _, err := keyvault.New(u, cred, nil); err == nil {
			t.Errorf("New(%q) accepted it", u)
		}
	}
	if _, err := keyvault.New(fakeVaultURL, nil, nil); err == nil {
		t.Error("New accepted a nil credential")
	}
	if _, err := keyvault.New(fakeVaultURL+"/", cred, nil); err != nil {
		t.Errorf("New refused a vault URL with a trailing slash: %v", err)
	}
}

func TestRefreshTokensOverKeyVault(t *testing.T) {
	// The refresh-token store over the real adapter: Key Vault's
	// second-granular expiry and its own update times must not upset it.
	v := newFakeVault()
	issued := time.Date(2025, 3, 1, 9, 30, 15, 250_000_000, time.UTC)
	rt := &seatsync.RefreshTokens{
		Store:           newFakeStore(t, v),
		PartnerTenantID: "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0",
		Now:             func() time.Time { return issued },
	}
	ctx := t.Context()
	if err := rt.Save(ctx, seatsync.Secret{}, seatsync.NewSecret("rt-1")); err != nil {
		t.Fatal(err)
	}
	if err := rt.Save(ctx, seatsync.NewSecret("rt-0"), seatsync.NewSecret("rt-1")); err != nil {
		t.Fatal(err)
	}
	got, err := rt.Load(ctx)
	if err != nil || got.Reveal() != "rt-1" {
		t.Fatalf("Load = %q, %v", got.Reveal(), err)
	}
	exp, err := rt.ExpiresAt(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := issued.Add(90 * 24 * time.Hour).Truncate(time.Second); exp == nil || !exp.Equal(want) {
		t.Errorf("ExpiresAt = %v, want %v", exp, want)
	}
	v.mu.Lock()
	n := len(v.versions["seatsync-refresh-token-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"])
	v.mu.Unlock()
	if n != 1 {
		t.Errorf("%d versions written, want 1 (the unchanged token is not written again)", n)
	}
}

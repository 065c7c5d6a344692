package seatsync

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// RefreshTokenContentType marks the secret holding a partner's refresh
// token, so that an operator looking at the vault knows what it is without
// reading the value.
const RefreshTokenContentType = "application/vnd.seatsync.refresh-token"

// DefaultRefreshTokenLifetime is how long the identity platform keeps a
// refresh token valid after it is issued.
const DefaultRefreshTokenLifetime = 90 * 24 * time.Hour

// Tags written beside the refresh token. They are never secret.
const (
	TagPartnerTenantID = "partnerTenantId"
	TagIssuedAt        = "issuedAt"
)

// RefreshTokens keeps one partner's refresh token in a SecretStore. It has
// the methods of identity.RefreshTokenStore (Load and Save), and ExpiresAt
// for the connection's refreshTokenExpiresAt. The fields are read on every
// call and must not change while it is in use; it is then safe for
// concurrent use as far as Store is.
type RefreshTokens struct {
	// Store holds the secret: Key Vault in Azure, local files standalone.
	Store SecretStore
	// PartnerTenantID is the partner's tenant; it names the secret (see
	// RefreshTokenSecretName) and is written as a tag.
	PartnerTenantID string
	// Name overrides the secret name derived from PartnerTenantID.
	Name string
	// Lifetime is how long a token lives from issue (default
	// DefaultRefreshTokenLifetime); it sets the secret's expiry.
	Lifetime time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (r *RefreshTokens) name() (string, error) {
	if r.Store == nil {
		return "", errors.New("seatsync: refresh tokens: no secret store")
	}
	name := r.Name
	if name == "" {
		if r.PartnerTenantID == "" {
			return "", errors.New("seatsync: refresh tokens: neither a secret name nor a partner tenant id is set")
		}
		name = RefreshTokenSecretName(r.PartnerTenantID)
	}
	return name, nil
}

func (r *RefreshTokens) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *RefreshTokens) lifetime() time.Duration {
	if r.Lifetime > 0 {
		return r.Lifetime
	}
	return DefaultRefreshTokenLifetime
}

// Load returns the stored refresh token. When none is stored it returns a
// zero Secret and no error: that is identity.RefreshTokenStore's contract,
// and what lets identity tell the MSP to grant consent rather than report a
// storage failure. Other store failures are returned wrapped.
func (r *RefreshTokens) Load(ctx context.Context) (Secret, error) {
	name, err := r.name()
	if err != nil {
		return Secret{}, err
	}
	v, _, err := r.Store.GetSecret(ctx, name)
	switch {
	case errors.Is(err, ErrSecretNotFound):
		return Secret{}, nil
	case err != nil:
		return Secret{}, fmt.Errorf("seatsync: load the refresh token: %w", err)
	}
	return v, nil
}

// Save stores new in place of old (what Load returned or Save last wrote).
//
// It reads the stored token first, because several processes redeem and
// rotate the same token. Nothing is written when the store already holds
// new. When the store holds neither old nor new, another writer got there
// since old was read; a lost race keeps the newest token, so that other
// token is kept (and Save returns nil) if it was issued after this call
// began, and replaced otherwise. Either token is valid: the platform does
// not revoke a refresh token when it rotates it.
//
// The secret written has content type RefreshTokenContentType, the tags
// TagPartnerTenantID and TagIssuedAt (this call's start, RFC 3339 in UTC)
// and expires Lifetime after that. Errors never hold a token.
func (r *RefreshTokens) Save(ctx context.Context, old, new Secret) error {
	name, err := r.name()
	if err != nil {
		return err
	}
	if new.IsZero() {
		return errors.New("seatsync: save the refresh token: the new token is empty")
	}
	// Taken before the read, so that anything written after the read began
	// counts as newer than ours.
	issuedAt := r.now().UTC()

	cur, info, err := r.Store.GetSecret(ctx, name)
	switch {
	case errors.Is(err, ErrSecretNotFound):
		// First consent, or the secret was deleted: write.
	case err != nil:
		return fmt.Errorf("seatsync: save the refresh token: read the stored one: %w", err)
	case cur.Equal(new):
		return nil
	case !cur.Equal(old):
		if t, ok := issuedAtOf(info); ok && t.After(issuedAt) {
			return nil
		}
	}

	tags := map[string]string{TagIssuedAt: issuedAt.Format(time.RFC3339Nano)}
	if r.PartnerTenantID != "" {
		tags[TagPartnerTenantID] = r.PartnerTenantID
	}
	exp := issuedAt.Add(r.lifetime())
	err = r.Store.SetSecret(ctx, name, new, SecretInfo{
		ContentType: RefreshTokenContentType,
		Tags:        tags,
		ExpiresAt:   &exp,
	})
	if err != nil {
		return fmt.Errorf("seatsync: save the refresh token: %w", err)
	}
	return nil
}

// ExpiresAt returns when the stored refresh token expires: the secret's
// expiry, or failing that its issue time plus Lifetime. It returns nil and
// no error when no token is stored, or when the secret (written by hand, say)
// says neither.
func (r *RefreshTokens) ExpiresAt(ctx context.Context) (*time.Time, error) {
	name, err := r.name()
	if err != nil {
		return nil, err
	}
	_, info, err := r.Store.GetSecret(ctx, name)
	switch {
	case errors.Is(err, ErrSecretNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("seatsync: refresh token expiry: %w", err)
	}
	if info.ExpiresAt != nil {
		t := *info.ExpiresAt
		return &t, nil
	}
	if t, ok := issuedAtOf(info); ok {
		t = t.Add(r.lifetime())
		return &t, nil
	}
	return nil, nil
}

// issuedAtOf returns when the stored token was issued: the TagIssuedAt tag
// Save writes, or the store's last-update time for a secret written some
// other way.
func issuedAtOf(info SecretInfo) (time.Time, bool) {
	if s, ok := info.Tags[TagIssuedAt]; ok {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t, true
		}
	}
	if !info.UpdatedAt.IsZero() {
		return info.UpdatedAt, true
	}
	return time.Time{}, false
}

package seatsync_test

import (
	"context"
	"errors"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatsync/seatsync/shared/identity"
	"github.com/seatsync/seatsync/shared/seatsync"
)

// RefreshTokens is what identity.Tokens keeps its refresh token in.
var _ identity.RefreshTokenStore = (*seatsync.RefreshTokens)(nil)

const partnerTenant = "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0"

// memSecrets is a SecretStore of one secret in memory that counts writes.
type memSecrets struct {
	mu     sync.Mutex
	value  seatsync.Secret
	info   seatsync.SecretInfo
	stored bool
	names  map[string]bool // names asked for
	sets   int
	getErr error
	setErr error
	// beforeGet, if set, runs once at the start of the next GetSecret: it
	// lets another writer slip in between a Save's start and its read.
	beforeGet func()
}

func (m *memSecrets) GetSecret(_ context.Context, name string) (seatsync.Secret, seatsync.SecretInfo, error) {
	m.mu.Lock()
	hook := m.beforeGet
	m.beforeGet = nil
	m.mu.Unlock()
	if hook != nil {
		hook()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.names[name] = true
	if m.getErr != nil {
		return seatsync.Secret{}, seatsync.SecretInfo{}, m.getErr
	}
	if !m.stored {
		return seatsync.Secret{}, seatsync.SecretInfo{}, seatsync.ErrSecretNotFound
	}
	info := m.info
	info.Tags = maps.Clone(info.Tags)
	return m.value, info, nil
}

func (m *memSecrets) SetSecret(_ context.Context, name string, v seatsync.Secret, info seatsync.SecretInfo) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.names[name] = true
	if m.setErr != nil {
		return m.setErr
	}
	m.sets++
	m.value, m.info, m.stored = v, info, true
	m.info.Tags = maps.Clone(info.Tags)
	return nil
}

func (m *memSecrets) current() (string, seatsync.SecretInfo, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.value.Reveal(), m.info, m.sets
}

func newMem() *memSecrets { return &memSecrets{names: map[string]bool{}} }

var t0 = time.Date(2025, 3, 1, 2, 0, 0, 0, time.UTC)

func at(d time.Duration) func() time.Time { return func() time.Time { return t0.Add(d) } }

func saver(m *memSecrets, now func() time.Time) *seatsync.RefreshTokens {
	return &seatsync.RefreshTokens{Store: m, PartnerTenantID: partnerTenant, Now: now}
}

func sec(s string) seatsync.Secret { return seatsync.NewSecret(s) }

func TestRefreshTokensSaveWritesOnlyWhenChanged(t *testing.T) {
	m := newMem()
	ctx := t.Context()
	r := saver(m, at(0))

	// First consent: nothing stored yet.
	if err := r.Save(ctx, seatsync.Secret{}, sec("rt-1")); err != nil {
		t.Fatal(err)
	}
	v, info, sets := m.current()
	if v != "rt-1" || sets != 1 {
		t.Fatalf("stored %q after %d writes", v, sets)
	}
	if info.ContentType != seatsync.RefreshTokenContentType {
		t.Errorf("content type %q", info.ContentType)
	}
	wantTags := map[string]string{"partnerTenantId": partnerTenant, "issuedAt": "2025-03-01T02:00:00Z"}
	if !maps.Equal(info.Tags, wantTags) {
		t.Errorf("tags %v, want %v", info.Tags, wantTags)
	}
	if want := t0.Add(90 * 24 * time.Hour); info.ExpiresAt == nil || !info.ExpiresAt.Equal(want) {
		t.Errorf("expires %v, want %v", info.ExpiresAt, want)
	}
	if !m.names[seatsync.RefreshTokenSecretName(partnerTenant)] || len(m.names) != 1 {
		t.Errorf("names used: %v", m.names)
	}

	// Another process already stored the same rotation: no new version.
	r.Now = at(time.Hour)
	if err := r.Save(ctx, sec("rt-0"), sec("rt-1")); err != nil {
		t.Fatal(err)
	}
	if _, _, sets := m.current(); sets != 1 {
		t.Errorf("%d writes, want 1: the store already held the new token", sets)
	}

	// A real rotation is written.
	if err := r.Save(ctx, sec("rt-1"), sec("rt-2")); err != nil {
		t.Fatal(err)
	}
	if v, info, sets := m.current(); v != "rt-2" || sets != 2 || info.Tags["issuedAt"] != "2025-03-01T03:00:00Z" {
		t.Errorf("stored %q (issued %s) after %d writes, want rt-2 issued at 03:00 after 2", v, info.Tags["issuedAt"], sets)
	}
}

func TestRefreshTokensLostRaceKeepsNewest(t *testing.T) {
	ctx := t.Context()
	m := newMem()
	if err := saver(m, at(0)).Save(ctx, seatsync.Secret{}, sec("rt-0")); err != nil {
		t.Fatal(err)
	}

	// B begins its save at +1m from rt-0; before its read, A (from a
	// different old token) writes a token issued at +2m. A is newer: B
	// must leave it.
	a := saver(m, at(2*time.Minute))
	b := saver(m, at(time.Minute))
	m.beforeGet = func() {
		if err := a.Save(ctx, sec("rt-a-old"), sec("rt-a")); err != nil {
			t.Error(err)
		}
	}
	if err := b.Save(ctx, sec("rt-0"), sec("rt-b")); err != nil {
		t.Fatal(err)
	}
	if v, info, sets := m.current(); v != "rt-a" || sets != 2 || info.Tags["issuedAt"] != "2025-03-01T02:02:00Z" {
		t.Errorf("stored %q (issued %s) after %d writes, want A's newer rt-a kept", v, info.Tags["issuedAt"], sets)
	}

	// A saver whose token is newer than the stored one replaces it, even
	// though the store no longer holds its old token.
	if err := saver(m, at(3*time.Minute)).Save(ctx, sec("rt-0"), sec("rt-c")); err != nil {
		t.Fatal(err)
	}
	if v, _, sets := m.current(); v != "rt-c" || sets != 3 {
		t.Errorf("stored %q after %d writes, want the newer rt-c", v, sets)
	}
}

func TestRefreshTokensRaceFallsBackToUpdatedAt(t *testing.T) {
	// A secret written without seatsync's tags (by hand, by an older
	// version) is dated by the store's update time.
	ctx := t.Context()
	m := newMem()
	m.value, m.stored = sec("by-hand"), true
	m.info = seatsync.SecretInfo{UpdatedAt: t0.Add(10 * time.Minute)}

	if err := saver(m, at(5*time.Minute)).Save(ctx, sec("rt-0"), sec("rt-old")); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := m.current(); v != "by-hand" {
		t.Errorf("stored %q, want the newer hand-written secret kept", v)
	}
	if err := saver(m, at(20*time.Minute)).Save(ctx, sec("rt-0"), sec("rt-new")); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := m.current(); v != "rt-new" {
		t.Errorf("stored %q, want rt-new over the older secret", v)
	}
}

func TestRefreshTokensExpiresAt(t *testing.T) {
	ctx := t.Context()
	m := newMem()
	r := saver(m, at(90*time.Second))

	if exp, err := r.ExpiresAt(ctx); exp != nil || err != nil {
		t.Errorf("ExpiresAt with nothing stored = %v, %v; want nil, nil", exp, err)
	}
	if err := r.Save(ctx, seatsync.Secret{}, sec("rt-1")); err != nil {
		t.Fatal(err)
	}
	exp, err := r.ExpiresAt(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2025, 5, 30, 2, 1, 30, 0, time.UTC); exp == nil || !exp.Equal(want) {
		t.Errorf("ExpiresAt = %v, want 90 days after issue, %v", exp, want)
	}

	// A secret without an expiry (another writer) expires Lifetime after
	// its issue tag.
	m.mu.Lock()
	m.info.ExpiresAt = nil
	m.mu.Unlock()
	r.Lifetime = 24 * time.Hour
	exp, err = r.ExpiresAt(ctx)
	if want := t0.Add(90*time.Second + 24*time.Hour); err != nil || exp == nil || !exp.Equal(want) {
		t.Errorf("ExpiresAt from the tag = %v, %v; want %v", exp, err, want)
	}
}

func TestRefreshTokensLoad(t *testing.T) {
	ctx := t.Context()
	m := newMem()
	r := saver(m, at(0))

	// identity.RefreshTokenStore: a zero Secret means no consent, which
	// identity turns into "grant consent"; an error would read as a
	// storage failure.
	got, err := r.Load(ctx)
	if err != nil || !got.IsZero() {
		t.Errorf("Load with nothing stored = %v, %v; want a zero Secret and no error", got.IsZero(), err)
	}
	if err := r.Save(ctx, seatsync.Secret{}, sec("rt-1")); err != nil {
		t.Fatal(err)
	}
	if got, err := r.Load(ctx); err != nil || got.Reveal() != "rt-1" {
		t.Errorf("Load = %q, %v", got.Reveal(), err)
	}
}

func TestRefreshTokensErrorsHoldNoSecret(t *testing.T) {
	ctx := t.Context()
	storeErr := errors.New("vault unavailable")
	const oldV, newV = "0.OLD-refresh-token-value", "0.NEW-refresh-token-value"

	check := func(t *testing.T, err error, wantCause error) {
		t.Helper()
		if err == nil {
			t.Fatal("no error")
		}
		if strings.Contains(err.Error(), oldV) || strings.Contains(err.Error(), newV) {
			t.Errorf("error holds a token: %q", err)
		}
		if wantCause != nil && !errors.Is(err, wantCause) {
			t.Errorf("error %q does not wrap %v", err, wantCause)
		}
	}

	m := newMem()
	m.getErr = storeErr
	r := saver(m, at(0))
	err := r.Save(ctx, sec(oldV), sec(newV))
	check(t, err, storeErr)
	if _, _, sets := m.current(); sets != 0 {
		t.Error("Save wrote although it could not read the stored token")
	}
	_, err = r.Load(ctx)
	check(t, err, storeErr)
	_, err = r.ExpiresAt(ctx)
	check(t, err, storeErr)

	m = newMem()
	m.setErr = storeErr
	check(t, saver(m, at(0)).Save(ctx, sec(oldV), sec(newV)), storeErr)

	check(t, saver(newMem(), at(0)).Save(ctx, sec(oldV), seatsync.Secret{}), nil)
}

func TestRefreshTokensNeedsStoreAndName(t *testing.T) {
	ctx := t.Context()
	for _, r := range []*seatsync.RefreshTokens{
		{PartnerTenantID: partnerTenant},
		{Store: newMem()},
	} {
		if _, err := r.Load(ctx); err == nil {
			t.Errorf("Load on %+v succeeded", r)
		}
		if err := r.Save(ctx, seatsync.Secret{}, sec("x")); err == nil {
			t.Errorf("Save on %+v succeeded", r)
		}
	}
	m := newMem()
	r := &seatsync.RefreshTokens{Store: m, Name: "custom-name"}
	if err := r.Save(ctx, seatsync.Secret{}, sec("x")); err != nil {
		t.Fatal(err)
	}
	if !m.names["custom-name"] || len(m.names) != 1 {
		t.Errorf("names used %v, want custom-name", m.names)
	}
	if _, info, _ := m.current(); len(info.Tags) != 1 {
		t.Errorf("tags %v, want only issuedAt without a partner tenant", info.Tags)
	}
}

func TestSecretNames(t *testing.T) {
	got := seatsync.RefreshTokenSecretName(partnerTenant)
	if want := "seatsync-refresh-token-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"; got != want {
		t.Errorf("RefreshTokenSecretName = %q, want %q", got, want)
	}
	if err := seatsync.CheckSecretName(got); err != nil {
		t.Errorf("the refresh token's own name is refused: %v", err)
	}
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"a", true},
		{"A-z-0-9", true},
		{"-", true},
		{strings.Repeat("x", 127), true},
		{"", false},
		{strings.Repeat("x", 128), false},
		{"a_b", false},
		{"a.b", false},
		{"a/b", false},
		{"a b", false},
		{"é", false},
		{"a\x00", false},
	} {
		err := seatsync.CheckSecretName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("CheckSecretName(%.20q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, seatsync.ErrInvalidSecretName) {
			t.Errorf("CheckSecretName(%.20q) = %v, does not wrap ErrInvalidSecretName", tc.name, err)
		}
	}
}

package consent_test

// Tests of tables.ConsentStates (shared/tables/consent.go) against Azurite.
// They live here because the consent flow is the store's only user.

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seatsync/seatsync/shared/tables"
	"github.com/seatsync/seatsync/shared/tables/tablestest"
)

func newStates(t *testing.T) (*tables.ConsentStates, *tables.Service) {
	t.Helper()
	svc := tablestest.Isolated(t)
	if err := svc.EnsureTables(t.Context(), tables.ConsentStatesTable); err != nil {
		t.Fatal(err)
	}
	return tables.NewConsentStates(svc), svc
}

func hexHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestConsentStatesPutConsume(t *testing.T) {
	s, _ := newStates(t)
	now := time.Date(2026, 3, 1, 10, 0, 0, 123456789, time.UTC)
	want := tables.ConsentState{StateHash: hexHash("state-1"), CookieHash: hexHash("cookie-1"), Sealed: "c2VhbGVk",
		RedirectURI: "https://seatsync.example.com/api/consent/callback", TenantID: "7c2a9d5e-3b1f-4e8a-a6d4-0f5b2c8e1a93",
		CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)}
	if err := s.Put(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(t.Context(), want); !errors.Is(err, tables.ErrExists) {
		t.Errorf("second Put of the same state: %v, want ErrExists", err)
	}
	got, err := s.Consume(t.Context(), want.StateHash)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("Consume = %+v\nwant %+v", got, want)
	}
	if _, err := s.Consume(t.Context(), want.StateHash); !errors.Is(err, tables.ErrConsentStateUsed) {
		t.Errorf("second Consume: %v, want ErrConsentStateUsed", err)
	}
	if _, err := s.Consume(t.Context(), hexHash("never-stored")); !errors.Is(err, tables.ErrConsentStateUsed) {
		t.Errorf("Consume of an unknown state: %v, want ErrConsentStateUsed", err)
	}
}

func TestConsentStatesConsumeOnceUnderRace(t *testing.T) {
	s, _ := newStates(t)
	now := time.Now()
	for round := range 5 {
		h := hexHash("race-" + string(rune('a'+round)))
		if err := s.Put(t.Context(), tables.ConsentState{StateHash: h, CookieHash: hexHash("c"), CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		var wins, used atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				_, err := s.Consume(t.Context(), h)
				switch {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, tables.ErrConsentStateUsed):
					used.Add(1)
				default:
					t.Errorf("Consume: %v", err)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 || used.Load() != 7 {
			t.Errorf("round %d: %d Consumes won and %d were refused, want 1 and 7", round, wins.Load(), used.Load())
		}
	}
}

func TestConsentStatesRefuseAnythingButHashes(t *testing.T) {
	s, _ := newStates(t)
	now := time.Now()
	for name, st := range map[string]tables.ConsentState{
		"raw state":        {StateHash: "wC3hHk2Y1mR0nZ8pQ4tV6xA9bD2fG5jL7sU0eI3oK1q", CookieHash: hexHash("c"), ExpiresAt: now},
		"uppercase hash":   {StateHash: strings.ToUpper(hexHash("s")), CookieHash: hexHash("c"), ExpiresAt: now},
		"raw cookie":       {StateHash: hexHash("s"), CookieHash: "cookie-value", ExpiresAt: now},
		"no expiry":        {StateHash: hexHash("s"), CookieHash: hexHash("c")},
		"path in the hash": {StateHash: "../" + hexHash("s")[3:], CookieHash: hexHash("c"), ExpiresAt: now},
	} {
		if err := s.Put(t.Context(), st); err == nil {
			t.Errorf("%s: Put accepted it", name)
		}
	}
	if _, err := s.Consume(t.Context(), "raw-state-value"); !errors.Is(err, tables.ErrConsentStateUsed) {
		t.Errorf("Consume of a raw state: %v", err)
	}
}

func TestConsentStatesSweep(t *testing.T) {
	s, svc := newStates(t)
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for i, exp := range []time.Duration{-time.Hour, -time.Second, time.Second, time.Hour} {
		st := tables.ConsentState{StateHash: hexHash("sweep-" + string(rune('0'+i))), CookieHash: hexHash("c"),
			CreatedAt: now.Add(exp - 10*time.Minute), ExpiresAt: now.Add(exp)}
		if err := s.Put(t.Context(), st); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.Sweep(t.Context(), now)
	if err != nil || n != 2 {
		t.Fatalf("Sweep = %d, %v; want 2", n, err)
	}
	left := 0
	for r, err := range svc.Table(tables.ConsentStatesTable).Query(t.Context(), "") {
		if err != nil {
			t.Fatal(err)
		}
		left++
		if r.RowKey == hexHash("sweep-0") || r.RowKey == hexHash("sweep-1") {
			t.Errorf("expired state %s left", r.RowKey)
		}
	}
	if left != 2 {
		t.Errorf("%d states left, want 2", left)
	}
	if n, err := s.Sweep(t.Context(), now); err != nil || n != 0 {
		t.Errorf("second Sweep = %d, %v", n, err)
	}
}

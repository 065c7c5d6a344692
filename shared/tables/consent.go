package tables

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// consentPartition is the one partition of ConsentStatesTable: a partner
// starts consent a handful of times in a deployment's life.
const consentPartition = "consent"

// ErrConsentStateUsed is wrapped by ConsentStates.Consume when there is no
// such state: never issued, already consumed, or swept after it expired. The
// three are one case on purpose: a state is good exactly once.
var ErrConsentStateUsed = errors.New("consent state unknown or already used")

// ConsentState is one pending consent: what the consent function must find
// again when Microsoft sends the partner's browser back. It holds no secret
// in the clear: the state and the browser-binding cookie appear only as
// SHA-256 hashes, and the PKCE verifier and nonce only sealed with a key that
// needs the state and the cookie to derive (the consent function seals and
// opens them; this package stores opaque text).
type ConsentState struct {
	// StateHash is the hex SHA-256 of the OAuth state; it is the row key.
	// It must be 64 lowercase hex characters, so that a raw state can
	// never end up as a key.
	StateHash string
	// CookieHash is the hex SHA-256 of the browser-binding cookie's value.
	CookieHash string
	// Sealed is the PKCE code verifier and the nonce, sealed (opaque here).
	Sealed string
	// RedirectURI is the redirect URI of the authorize request, which the
	// code redemption must repeat exactly.
	RedirectURI string
	// TenantID is the tenant the consent was started for ("" for any work
	// account's tenant); the id_token's tid must then match it.
	TenantID  string
	CreatedAt time.Time
	ExpiresAt time.Time
}

type consentStateRow struct {
	PartitionKey string
	RowKey       string // StateHash
	CookieHash   string
	Sealed       string
	RedirectURI  string
	TenantID     string
	CreatedAt    string
	ExpiresAt    string
}

// ConsentStates keeps pending consent states in ConsentStatesTable.
type ConsentStates struct {
	t *Table
}

// NewConsentStates returns the consent states of svc.
func NewConsentStates(svc *Service) *ConsentStates {
	return &ConsentStates{t: svc.Table(ConsentStatesTable)}
}

// checkHash accepts the hex SHA-256 form of the hashes, and nothing else.
func checkHash(what, s string) error {
	if len(s) != 64 {
		return fmt.Errorf("tables: consent state: %s must be a hex SHA-256 (64 characters)", what)
	}
	if _, err := hex.DecodeString(s); err != nil {
		return fmt.Errorf("tables: consent state: %s must be a hex SHA-256 (64 characters)", what)
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'F' {
			return fmt.Errorf("tables: consent state: %s must be lowercase hex", what)
		}
	}
	return nil
}

// Put stores a new pending state. It fails (wrapping ErrExists) if the state
// hash is taken, which for a random state means a defect.
func (s *ConsentStates) Put(ctx context.Context, st ConsentState) error {
	if err := checkHash("StateHash", st.StateHash); err != nil {
		return err
	}
	if err := checkHash("CookieHash", st.CookieHash); err != nil {
		return err
	}
	if st.ExpiresAt.IsZero() {
		return errors.New("tables: consent state: ExpiresAt is required")
	}
	_, err := s.t.Insert(ctx, consentStateRow{
		PartitionKey: consentPartition,
		RowKey:       st.StateHash,
		CookieHash:   st.CookieHash,
		Sealed:       st.Sealed,
		RedirectURI:  st.RedirectURI,
		TenantID:     st.TenantID,
		CreatedAt:    FormatTime(st.CreatedAt),
		ExpiresAt:    FormatTime(st.ExpiresAt),
	})
	return err
}

// Consume returns the state stored under stateHash and deletes it, as one
// step: it reads the row, then deletes it only if its ETag is unchanged, so
// of two concurrent Consumes of the same state exactly one succeeds. Any
// other outcome (no such row, or another caller deleted it first) is an
// error wrapping ErrConsentStateUsed. Consume does not look at ExpiresAt:
// the caller decides with its own clock, after the state is spent.
func (s *ConsentStates) Consume(ctx context.Context, stateHash string) (ConsentState, error) {
	if err := checkHash("StateHash", stateHash); err != nil {
		return ConsentState{}, fmt.Errorf("%w: %w", ErrConsentStateUsed, err)
	}
	r, err := s.t.Get(ctx, consentPartition, stateHash)
	if errors.Is(err, ErrNotFound) {
		return ConsentState{}, fmt.Errorf("tables: consent state: %w", ErrConsentStateUsed)
	}
	if err != nil {
		return ConsentState{}, err
	}
	// Table.Delete forgives a missing row; here a missing row means another
	// caller won, so the SDK call is made directly and every refusal counts.
	tag := azcore.ETag(r.ETag)
	if _, err := s.t.c.DeleteEntity(ctx, consentPartition, stateHash, &aztables.DeleteEntityOptions{IfMatch: &tag}); err != nil {
		if re, ok := errors.AsType[*azcore.ResponseError](err); ok &&
			(re.StatusCode == http.StatusNotFound || re.StatusCode == http.StatusPreconditionFailed) {
			return ConsentState{}, fmt.Errorf("tables: consent state: %w", ErrConsentStateUsed)
		}
		return ConsentState{}, s.t.wrap("delete", err)
	}
	var row consentStateRow
	if err := r.Decode(&row); err != nil {
		return ConsentState{}, err
	}
	st := ConsentState{StateHash: row.RowKey, CookieHash: row.CookieHash, Sealed: row.Sealed,
		RedirectURI: row.RedirectURI, TenantID: row.TenantID}
	if st.CreatedAt, err = ParseTime(row.CreatedAt); err != nil {
		return ConsentState{}, fmt.Errorf("tables: consent state: CreatedAt: %w", err)
	}
	if st.ExpiresAt, err = ParseTime(row.ExpiresAt); err != nil {
		return ConsentState{}, fmt.Errorf("tables: consent state: ExpiresAt: %w", err)
	}
	return st, nil
}

// Sweep deletes the states that expired before now (abandoned consents) and
// returns how many it deleted. A row consumed meanwhile is not an error.
func (s *ConsentStates) Sweep(ctx context.Context, now time.Time) (int, error) {
	filter := "PartitionKey eq " + Quote(consentPartition) + " and ExpiresAt lt " + Quote(FormatTime(now))
	var rows []Row
	for r, err := range s.t.Query(ctx, filter) {
		if err != nil {
			return 0, err
		}
		rows = append(rows, r)
	}
	n := 0
	for _, r := range rows {
		if err := s.t.Delete(ctx, r.PartitionKey, r.RowKey, r.ETag); err != nil {
			if errors.Is(err, ErrPrecondition) {
				continue
			}
			return n, err
		}
		n++
	}
	return n, nil
}

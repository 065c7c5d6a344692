package tables

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/seatsync/seatsync/shared/seatsync"
)

// The tables of seatsync's state.
const (
	TenantsTable     = "tenants"
	ConnectionsTable = "connections"
	// ConsentStatesTable holds pending consent states (single use, 10 min).
	ConsentStatesTable = "consentstates"
	// RunsTable holds sync runs; RunTenantsTable the per-run tenant results.
	RunsTable       = "runs"
	RunTenantsTable = "runtenants"
	// CatalogTable caches Microsoft's product-names CSV.
	CatalogTable = "catalog"
)

// AllTables lists every table seatsync uses, for EnsureTables at start.
func AllTables() []string {
	return []string{TenantsTable, ConnectionsTable, ConsentStatesTable, RunsTable, RunTenantsTable, CatalogTable, QueueTable, DeadLetterTable}
}

// Partition keys of single-partition tables.
const (
	tenantPartition     = "tenant"
	connectionPartition = "connection"
)

// Store reads and writes seatsync's state rows.
type Store struct {
	tenants, connections *Table
}

// NewStore returns the store in svc.
func NewStore(svc *Service) *Store {
	return &Store{tenants: svc.Table(TenantsTable), connections: svc.Table(ConnectionsTable)}
}

type tenantRow struct {
	PartitionKey     string
	RowKey           string // tenant id
	DisplayName      string
	DefaultDomain    string
	Relationships    string // comma-separated kinds
	Active           bool
	Status           string
	LastSyncedAt     string
	LastErrorCode    string
	LastErrorMessage string
}

func (r tenantRow) tenant() (seatsync.Tenant, error) {
	t := seatsync.Tenant{TenantID: r.RowKey, DisplayName: r.DisplayName, DefaultDomain: r.DefaultDomain,
		Relationships: []string{}, Active: r.Active, Status: r.Status}
	if r.Relationships != "" {
		t.Relationships = strings.Split(r.Relationships, ",")
	}
	var err error
	if t.LastSyncedAt, err = optTime(r.LastSyncedAt); err != nil {
		return t, fmt.Errorf("tables: tenant %s: LastSyncedAt: %w", r.RowKey, err)
	}
	if r.LastErrorCode != "" {
		t.LastError = &seatsync.Problem{Code: r.LastErrorCode, Message: r.LastErrorMessage}
	}
	return t, nil
}

func fromTenant(t seatsync.Tenant) tenantRow {
	r := tenantRow{PartitionKey: tenantPartition, RowKey: t.TenantID, DisplayName: t.DisplayName, DefaultDomain: t.DefaultDomain,
		Relationships: strings.Join(t.Relationships, ","), Active: t.Active, Status: t.Status, LastSyncedAt: fmtOptTime(t.LastSyncedAt)}
	if t.LastError != nil {
		r.LastErrorCode, r.LastErrorMessage = t.LastError.Code, t.LastError.Message
	}
	return r
}

func optTime(s string) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	t, err := ParseTime(s)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

func fmtOptTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return FormatTime(*t)
}

// PutTenants upserts tenant rows in transactions.
func (s *Store) PutTenants(ctx context.Context, ts []seatsync.Tenant) error {
	b := s.tenants.Batch()
	for _, t := range ts {
		if err := b.Upsert(ctx, fromTenant(t)); err != nil {
			return err
		}
	}
	return b.Flush(ctx)
}

// Tenants returns a page of tenants in tenant id order, and the
// continuation of the next page ("" at the end).
func (s *Store) Tenants(ctx context.Context, top int, continuation string) ([]seatsync.Tenant, string, error) {
	rows, next, err := s.tenants.Page(ctx, "PartitionKey eq "+Quote(tenantPartition), int32(top), continuation)
	if err != nil {
		if errors.Is(err, ErrBadContinuation) {
			return nil, "", seatsync.Errorf(seatsync.EInvalid, "The continuation token is not valid; start again from the first page.")
		}
		return nil, "", err
	}
	out := make([]seatsync.Tenant, 0, len(rows))
	for _, r := range rows {
		var row tenantRow
		if err := r.Decode(&row); err != nil {
			return nil, "", err
		}
		t, err := row.tenant()
		if err != nil {
			return nil, "", err
		}
		out = append(out, t)
	}
	return out, next, nil
}

type connectionRow struct {
	PartitionKey          string
	RowKey                string // partner tenant id
	Status                string
	ConsentedBy           string
	ConsentedAt           string
	CredentialsValidated  bool
	ValidatedAt           string
	RefreshTokenExpiresAt string
	LastErrorCode         string
	LastErrorMessage      string
}

// PutConnection records the connection of c.PartnerTenantID, replacing an
// earlier one of the same partner tenant.
func (s *Store) PutConnection(ctx context.Context, c seatsync.Connection) error {
	r := connectionRow{PartitionKey: connectionPartition, RowKey: c.PartnerTenantID, Status: c.Status, ConsentedBy: c.ConsentedBy,
		ConsentedAt: fmtOptTime(c.ConsentedAt), CredentialsValidated: c.CredentialsValidated, ValidatedAt: fmtOptTime(c.ValidatedAt),
		RefreshTokenExpiresAt: fmtOptTime(c.RefreshTokenExpiresAt)}
	if c.LastError != nil {
		r.LastErrorCode, r.LastErrorMessage = c.LastError.Code, c.LastError.Message
	}
	_, err := s.connections.Upsert(ctx, r)
	return err
}

// Connection returns the partner connection: the most recently consented
// one, or a not_connected state when there is none.
func (s *Store) Connection(ctx context.Context) (seatsync.Connection, error) {
	best := seatsync.Connection{Status: seatsync.NotConnected}
	for r, err := range s.connections.Query(ctx, "PartitionKey eq "+Quote(connectionPartition)) {
		if err != nil {
			return best, err
		}
		var row connectionRow
		if err := r.Decode(&row); err != nil {
			return best, err
		}
		c := seatsync.Connection{Status: row.Status, PartnerTenantID: row.RowKey, ConsentedBy: row.ConsentedBy, CredentialsValidated: row.CredentialsValidated}
		for _, f := range []struct {
			s   string
			dst **time.Time
		}{{row.ConsentedAt, &c.ConsentedAt}, {row.ValidatedAt, &c.ValidatedAt}, {row.RefreshTokenExpiresAt, &c.RefreshTokenExpiresAt}} {
			if *f.dst, err = optTime(f.s); err != nil {
				return best, fmt.Errorf("tables: connection %s: %w", row.RowKey, err)
			}
		}
		if row.LastErrorCode != "" {
			c.LastError = &seatsync.Problem{Code: row.LastErrorCode, Message: row.LastErrorMessage}
		}
		if best.ConsentedAt == nil || (c.ConsentedAt != nil && c.ConsentedAt.After(*best.ConsentedAt)) {
			best = c
		}
	}
	return best, nil
}

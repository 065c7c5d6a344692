package tables_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seatsync/seatsync/shared/seatsync"
	"github.com/seatsync/seatsync/shared/tables"
	"github.com/seatsync/seatsync/shared/tables/tablestest"
)

// The store's table names are fixed, so these tests share them with any
// other test of the package: each uses its own tenant ids, and the
// connection tests empty the connections table first.

func newStore(t *testing.T) (*tables.Store, *tables.Service) {
	t.Helper()
	svc := tablestest.Isolated(t)
	if err := svc.EnsureTables(t.Context(), tables.AllTables()...); err != nil {
		t.Fatal(err)
	}
	return tables.NewStore(svc), svc
}

// clearConnections deletes every connection row.
func clearConnections(t *testing.T, svc *tables.Service) {
	t.Helper()
	tb := svc.Table(tables.ConnectionsTable)
	var rows []tables.Row
	for r, err := range tb.Query(t.Context(), "") {
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	for _, r := range rows {
		if err := tb.Delete(t.Context(), r.PartitionKey, r.RowKey, ""); err != nil {
			t.Fatal(err)
		}
	}
}

func connectionRows(t *testing.T, svc *tables.Service) []string {
	t.Helper()
	var keys []string
	for r, err := range svc.Table(tables.ConnectionsTable).Query(t.Context(), "") {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, r.PartitionKey+"/"+r.RowKey)
	}
	return keys
}

func timePtr(t time.Time) *time.Time { return &t }

// sameTime reports whether a and b are both nil or equal instants.
func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

func connectionDiff(got, want seatsync.Connection) string {
	var d []string
	if got.Status != want.Status || got.PartnerTenantID != want.PartnerTenantID || got.ConsentedBy != want.ConsentedBy ||
		got.CredentialsValidated != want.CredentialsValidated {
		d = append(d, fmt.Sprintf("scalars: got %q %q %q %v, want %q %q %q %v", got.Status, got.PartnerTenantID, got.ConsentedBy,
			got.CredentialsValidated, want.Status, want.PartnerTenantID, want.ConsentedBy, want.CredentialsValidated))
	}
	for _, f := range []struct {
		name      string
		got, want *time.Time
	}{{"ConsentedAt", got.ConsentedAt, want.ConsentedAt}, {"ValidatedAt", got.ValidatedAt, want.ValidatedAt},
		{"RefreshTokenExpiresAt", got.RefreshTokenExpiresAt, want.RefreshTokenExpiresAt}} {
		if !sameTime(f.got, f.want) {
			d = append(d, fmt.Sprintf("%s: got %v, want %v", f.name, f.got, f.want))
		}
	}
	if !reflect.DeepEqual(got.LastError, want.LastError) {
		d = append(d, fmt.Sprintf("LastError: got %+v, want %+v", got.LastError, want.LastError))
	}
	return strings.Join(d, "; ")
}

func TestStoreConnection(t *testing.T) {
	store, svc := newStore(t)
	ctx := t.Context()
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	consented := time.Date(2026, 11, 20, 9, 15, 30, 123456789, zone)

	t.Run("no rows is not_connected", func(t *testing.T) {
		clearConnections(t, svc)
		got, err := store.Connection(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, seatsync.Connection{Status: seatsync.NotConnected}) {
			t.Fatalf("Connection() = %+v, want only status not_connected", got)
		}
	})

	roundTrips := []struct {
		name string
		conn seatsync.Connection
	}{
		{"every field set", seatsync.Connection{Status: seatsync.Invalid, PartnerTenantID: "0f0e0d0c-aaaa-bbbb-cccc-000000000001",
			ConsentedBy: "admin@partner.example", ConsentedAt: &consented, CredentialsValidated: true,
			ValidatedAt: timePtr(consented.Add(time.Nanosecond)), RefreshTokenExpiresAt: timePtr(time.Date(2027, 2, 18, 0, 0, 0, 1, time.UTC)),
			LastError: &seatsync.Problem{Code: "invalid_grant", Message: "The refresh token was revoked; consent again."}}},
		{"optional fields unset", seatsync.Connection{Status: seatsync.Connected, PartnerTenantID: "0f0e0d0c-aaaa-bbbb-cccc-000000000002",
			ConsentedBy: "ops@partner.example", ConsentedAt: &consented}},
	}
	for _, tc := range roundTrips {
		t.Run("round trip/"+tc.name, func(t *testing.T) {
			clearConnections(t, svc)
			if err := store.PutConnection(ctx, tc.conn); err != nil {
				t.Fatal(err)
			}
			got, err := store.Connection(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if d := connectionDiff(got, tc.conn); d != "" {
				t.Fatal(d)
			}
		})
	}

	t.Run("most recently consented wins", func(t *testing.T) {
		clearConnections(t, svc)
		// Row key order is none of consent order, and rows without a consent
		// time sort both first and last.
		conns := []seatsync.Connection{
			{Status: seatsync.Connected, PartnerTenantID: "p0-never", ConsentedBy: "a"},
			{Status: seatsync.Connected, PartnerTenantID: "p1-old", ConsentedBy: "b", ConsentedAt: timePtr(consented.Add(-48 * time.Hour))},
			{Status: seatsync.Invalid, PartnerTenantID: "p2-newest", ConsentedBy: "c", ConsentedAt: timePtr(consented.Add(time.Nanosecond)),
				LastError: &seatsync.Problem{Code: "x", Message: "y"}},
			{Status: seatsync.Connected, PartnerTenantID: "p3-middle", ConsentedBy: "d", ConsentedAt: &consented},
			{Status: seatsync.Connected, PartnerTenantID: "p4-never", ConsentedBy: "e"},
		}
		for _, c := range conns {
			if err := store.PutConnection(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		got, err := store.Connection(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d := connectionDiff(got, conns[2]); d != "" {
			t.Fatalf("got %s: %s", got.PartnerTenantID, d)
		}
	})

	t.Run("same partner replaces", func(t *testing.T) {
		clearConnections(t, svc)
		const partner = "0f0e0d0c-aaaa-bbbb-cccc-000000000003"
		versions := []seatsync.Connection{
			{Status: seatsync.Connected, PartnerTenantID: partner, ConsentedBy: "first@partner.example", ConsentedAt: &consented,
				CredentialsValidated: true, ValidatedAt: &consented},
			{Status: seatsync.Invalid, PartnerTenantID: partner, ConsentedBy: "first@partner.example", ConsentedAt: &consented,
				LastError: &seatsync.Problem{Code: "invalid_grant", Message: "Revoked."}},
			{Status: seatsync.Connected, PartnerTenantID: partner, ConsentedBy: "second@partner.example",
				ConsentedAt: timePtr(consented.Add(time.Hour))},
		}
		for i, c := range versions {
			if err := store.PutConnection(ctx, c); err != nil {
				t.Fatal(err)
			}
			if rows := connectionRows(t, svc); len(rows) != 1 {
				t.Fatalf("after put %d: rows %v, want one", i, rows)
			}
			got, err := store.Connection(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if d := connectionDiff(got, c); d != "" {
				t.Fatalf("after put %d: %s", i, d)
			}
		}
	})
}

func tenantDiff(got, want seatsync.Tenant) string {
	g, w := got, want
	if w.Relationships == nil {
		w.Relationships = []string{} // stored as "", read back as an empty list
	}
	g.LastSyncedAt, w.LastSyncedAt = nil, nil
	var d []string
	if !reflect.DeepEqual(g, w) {
		d = append(d, fmt.Sprintf("got %+v, want %+v", g, w))
	}
	if got.Relationships == nil {
		d = append(d, "Relationships is nil, want an empty list")
	}
	if !sameTime(got.LastSyncedAt, want.LastSyncedAt) {
		d = append(d, fmt.Sprintf("LastSyncedAt: got %v, want %v", got.LastSyncedAt, want.LastSyncedAt))
	}
	return strings.Join(d, "; ")
}

func TestStoreTenantsPaging(t *testing.T) {
	store, _ := newStore(t)
	ctx := t.Context()
	prefix := tablestest.Name("tenant") // unique to this run
	synced := time.Date(2026, 11, 21, 2, 0, 0, 987654321, time.FixedZone("UTC-8", -8*3600))
	const n = 150
	var want []seatsync.Tenant
	// Put them out of key order.
	for i := n - 1; i >= 0; i-- {
		tn := seatsync.Tenant{TenantID: fmt.Sprintf("%s-%03d", prefix, i), DisplayName: fmt.Sprintf("Customer %d, Ltd. — Ünïcode", i),
			DefaultDomain: fmt.Sprintf("c%d.onmicrosoft.com", i), Active: i%2 == 0}
		switch i % 3 {
		case 0:
			tn.Relationships = []string{seatsync.RelationshipGDAP, seatsync.RelationshipDAP}
			tn.Status = seatsync.TenantError
			tn.LastSyncedAt = timePtr(synced.Add(time.Duration(i) * time.Nanosecond))
			tn.LastError = &seatsync.Problem{Code: "forbidden", Message: fmt.Sprintf("GDAP role missing for %d.", i)}
		case 1:
			tn.Relationships = nil
			tn.Status = seatsync.TenantPending
		case 2:
			tn.Relationships = []string{seatsync.RelationshipCSP}
			tn.Status = seatsync.TenantOK
			tn.LastSyncedAt = timePtr(synced)
		}
		want = append(want, tn)
	}
	if err := store.PutTenants(ctx, want); err != nil {
		t.Fatal(err)
	}
	slices.Reverse(want) // now in tenant id order

	var all []string // every tenant id seen, ours or not, in page order
	var mine []seatsync.Tenant
	token, pages := "", 0
	for {
		page, next, err := store.Tenants(ctx, 100, token)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(page) > 100 {
			t.Fatalf("page %d has %d tenants, top was 100", pages, len(page))
		}
		for _, tn := range page {
			all = append(all, tn.TenantID)
			if strings.HasPrefix(tn.TenantID, prefix+"-") {
				mine = append(mine, tn)
			}
		}
		if next == "" {
			break
		}
		if next == token || pages > 1000 {
			t.Fatalf("paging does not advance: token %q", next)
		}
		token = next
	}
	if pages < 2 {
		t.Errorf("%d tenants came in %d page(s) of top 100", len(all), pages)
	}
	if !slices.IsSorted(all) || len(slices.Compact(slices.Clone(all))) != len(all) {
		t.Errorf("tenant ids are not in strictly increasing order across pages")
	}
	if len(mine) != n {
		t.Fatalf("read back %d of our %d tenants", len(mine), n)
	}
	for i := range mine {
		if d := tenantDiff(mine[i], want[i]); d != "" {
			t.Errorf("tenant %d: %s", i, d)
		}
	}
}

func TestStorePutTenantsReplaces(t *testing.T) {
	store, _ := newStore(t)
	ctx := t.Context()
	id := tablestest.Name("tenant")
	first := seatsync.Tenant{TenantID: id, DisplayName: "Old", DefaultDomain: "old.example", Relationships: []string{"gdap"},
		Active: true, Status: seatsync.TenantError, LastSyncedAt: timePtr(time.Date(2026, 1, 1, 0, 0, 0, 1, time.UTC)),
		LastError: &seatsync.Problem{Code: "forbidden", Message: "No."}}
	second := seatsync.Tenant{TenantID: id, DisplayName: "New", DefaultDomain: "new.example", Status: seatsync.TenantPending}
	for _, tn := range []seatsync.Tenant{first, second} {
		if err := store.PutTenants(ctx, []seatsync.Tenant{tn}); err != nil {
			t.Fatal(err)
		}
	}
	var found []seatsync.Tenant
	token := ""
	for {
		page, next, err := store.Tenants(ctx, 1000, token)
		if err != nil {
			t.Fatal(err)
		}
		for _, tn := range page {
			if tn.TenantID == id {
				found = append(found, tn)
			}
		}
		if next == "" {
			break
		}
		token = next
	}
	if len(found) != 1 {
		t.Fatalf("found %d rows of tenant %s, want 1", len(found), id)
	}
	if d := tenantDiff(found[0], second); d != "" {
		t.Fatal(d)
	}
}

func TestStoreTenantsBadContinuation(t *testing.T) {
	store, _ := newStore(t)
	for _, tok := range []string{
		"not-a-token",
		"!!!",
		"bm90IGpzb24",                  // base64 of "not json"
		"eyJwIjoiIiwiciI6IngifQ",       // {"p":"","r":"x"}: no partition
		"eyJwIjoidGVuYW50IiwiciI6Ingi", // truncated JSON
	} {
		t.Run(tok, func(t *testing.T) {
			ts, next, err := store.Tenants(t.Context(), 10, tok)
			e, ok := errors.AsType[*seatsync.Error](err)
			if !ok || e.Code != seatsync.EInvalid {
				t.Fatalf("Tenants(%q) = %d tenants, next %q, err %v; want a *seatsync.Error with code invalid", tok, len(ts), next, err)
			}
			if ts != nil || next != "" {
				t.Errorf("got %d tenants and next %q with the error", len(ts), next)
			}
			if e.Message == "" || strings.Contains(e.Message, tok) {
				t.Errorf("message = %q", e.Message)
			}
		})
	}
}

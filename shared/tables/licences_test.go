package tables_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/seatsync/seatsync/shared/seatsync"
	"github.com/seatsync/seatsync/shared/tables"
	"github.com/seatsync/seatsync/shared/tables/tablestest"
)

const (
	lt1   = "11111111-1111-4111-8111-111111111111"
	lt2   = "22222222-2222-4222-8222-222222222222"
	skuA  = "aaaaaaaa-0000-4000-8000-00000000000a"
	skuB  = "bbbbbbbb-0000-4000-8000-00000000000b"
	skuC  = "cccccccc-0000-4000-8000-00000000000c"
	run1  = "0f8fad5b-d9cb-469f-a165-000000000001"
	run2  = "0f8fad5b-d9cb-469f-a165-000000000002"
	run3  = "0f8fad5b-d9cb-469f-a165-000000000003"
	run3b = "0f8fad5b-d9cb-469f-a165-00000000003b"
)

func newLicences(t *testing.T, opts *tables.Options) (*tables.Licences, *tables.Service) {
	t.Helper()
	if opts == nil {
		opts = &tables.Options{}
	}
	opts.TablePrefix = tablestest.Name("l")
	svc, err := tables.NewFromConnectionString(tablestest.ConnectionString(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.EnsureTables(t.Context(), append(tables.AllTables(), tables.LicenceTables()...)...); err != nil {
		t.Fatal(err)
	}
	return tables.NewLicences(svc), svc
}

func lic(sku, part string, enabled, suspended, warning, lockedOut, consumed int) seatsync.License {
	return seatsync.License{SkuID: sku, SkuPartNumber: part, ProductName: "Product " + part, Enabled: enabled, Suspended: suspended,
		Warning: warning, LockedOut: lockedOut, Consumed: consumed, CapabilityStatus: "Enabled", AppliesTo: "User",
		SubscriptionIDs: []string{"sub-" + part}}
}

func change(tenant, sku, part, field string, from, to int, at time.Time, run string) seatsync.Change {
	return seatsync.Change{TenantID: tenant, SkuID: sku, SkuPartNumber: part, Field: field, From: from, To: to, DetectedAt: at, RunID: run}
}

func write(t *testing.T, l *tables.Licences, w tables.TenantSync) []seatsync.Change {
	t.Helper()
	ch, err := l.WriteTenantSync(t.Context(), w)
	if err != nil {
		t.Fatalf("WriteTenantSync %s: %v", w.RunID, err)
	}
	return ch
}

func sameChanges(t *testing.T, what string, got, want []seatsync.Change) {
	t.Helper()
	norm := func(cs []seatsync.Change) []string {
		var out []string
		for _, c := range cs {
			out = append(out, fmt.Sprintf("%s %s %s %s %d→%d at %s run %s", c.TenantID, c.SkuID, c.SkuPartNumber, c.Field, c.From, c.To,
				c.DetectedAt.UTC().Format(time.RFC3339Nano), c.RunID))
		}
		return out
	}
	if g, w := norm(got), norm(want); !slices.Equal(g, w) {
		t.Errorf("%s:\n got %s\nwant %s", what, strings.Join(g, "\n     "), strings.Join(w, "\n     "))
	}
}

// units reads the quantities of each SKU as "sku:enabled/suspended/warning/lockedOut/consumed avail status".
func units(ls []seatsync.License) []string {
	var out []string
	for _, l := range ls {
		out = append(out, fmt.Sprintf("%s:%d/%d/%d/%d/%d a%d %s", l.SkuPartNumber, l.Enabled, l.Suspended, l.Warning, l.LockedOut,
			l.Consumed, l.Available, l.CapabilityStatus))
	}
	return out
}

func licences(t *testing.T, l *tables.Licences, tenant string) []seatsync.License {
	t.Helper()
	ls, err := l.Licenses(t.Context(), tenant)
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

func changesIn(t *testing.T, l *tables.Licences, since, until time.Time) []seatsync.Change {
	t.Helper()
	cs, err := l.Changes(t.Context(), since, until)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// The change log: a new SKU's quantities change from 0, a changed quantity
// from its old value, and a vanished SKU is kept with zeros and logs its
// quantities going to 0. Other tenants are untouched.
func TestWriteTenantSyncChanges(t *testing.T) {
	l, _ := newLicences(t, nil)
	start1 := time.Date(2026, 10, 31, 23, 59, 0, 0, time.UTC) // the run starts in October…
	at1 := time.Date(2026, 11, 1, 0, 5, 0, 0, time.UTC)       // …and syncs in November
	got := write(t, l, tables.TenantSync{RunID: run1, RunStartedAt: start1, TenantID: lt1, SyncedAt: at1,
		Licenses: []seatsync.License{lic(skuA, "A", 10, 0, 0, 0, 8), lic(skuB, "B", 5, 2, 0, 0, 5)}})
	want1 := []seatsync.Change{
		change(lt1, skuA, "A", "enabled", 0, 10, at1, run1), change(lt1, skuA, "A", "consumed", 0, 8, at1, run1),
		change(lt1, skuB, "B", "enabled", 0, 5, at1, run1), change(lt1, skuB, "B", "suspended", 0, 2, at1, run1),
		change(lt1, skuB, "B", "consumed", 0, 5, at1, run1),
	}
	sameChanges(t, "first sync", got, want1)
	if u := units(licences(t, l, lt1)); !slices.Equal(u, []string{"A:10/0/0/0/8 a2 Enabled", "B:5/2/0/0/5 a0 Enabled"}) {
		t.Errorf("licences after the first sync: %v", u)
	}
	// Another tenant in the same run.
	write(t, l, tables.TenantSync{RunID: run1, RunStartedAt: start1, TenantID: lt2, SyncedAt: at1,
		Licenses: []seatsync.License{lic(skuA, "A", 1, 0, 0, 0, 1)}})

	start2 := time.Date(2026, 11, 2, 2, 0, 0, 0, time.UTC)
	at2 := start2.Add(3 * time.Minute)
	got = write(t, l, tables.TenantSync{RunID: run2, RunStartedAt: start2, TenantID: lt1, SyncedAt: at2,
		Licenses: []seatsync.License{lic(skuA, "A", 12, 0, 1, 0, 8), lic(skuC, "C", 3, 0, 0, 0, 0)}})
	want2 := []seatsync.Change{
		change(lt1, skuA, "A", "enabled", 10, 12, at2, run2), change(lt1, skuA, "A", "warning", 0, 1, at2, run2),
		change(lt1, skuB, "B", "enabled", 5, 0, at2, run2), change(lt1, skuB, "B", "suspended", 2, 0, at2, run2),
		change(lt1, skuB, "B", "consumed", 5, 0, at2, run2),
		change(lt1, skuC, "C", "enabled", 0, 3, at2, run2),
	}
	sameChanges(t, "second sync", got, want2)
	ls := licences(t, l, lt1)
	if u := units(ls); !slices.Equal(u, []string{"A:12/0/1/0/8 a5 Enabled", "B:0/0/0/0/0 a0 Deleted", "C:3/0/0/0/0 a3 Enabled"}) {
		t.Errorf("licences after the second sync: %v", u)
	}
	for _, x := range ls {
		if !x.SyncedAt.Equal(at2) || x.TenantID != "" {
			t.Errorf("licence %s: syncedAt %v tenantId %q", x.SkuPartNumber, x.SyncedAt, x.TenantID)
		}
	}
	if !slices.Equal(ls[1].SubscriptionIDs, []string{"sub-B"}) || ls[1].ProductName != "Product B" {
		t.Errorf("vanished SKU kept as %+v", ls[1])
	}

	// A third sync with B still gone logs nothing for it.
	start3 := time.Date(2026, 11, 3, 2, 0, 0, 0, time.UTC)
	got = write(t, l, tables.TenantSync{RunID: run3, RunStartedAt: start3, TenantID: lt1, SyncedAt: start3.Add(time.Minute),
		Licenses: []seatsync.License{lic(skuA, "A", 12, 0, 1, 0, 8), lic(skuC, "C", 3, 0, 0, 0, 0)}})
	sameChanges(t, "third sync, nothing changed", got, nil)

	// The log, from the earliest to the latest detection; the first run's
	// rows sit in October's partition (its start) though detected in
	// November.
	other := change(lt2, skuA, "A", "enabled", 0, 1, at1, run1)
	otherC := change(lt2, skuA, "A", "consumed", 0, 1, at1, run1)
	all := append(append(append([]seatsync.Change{}, want1...), other, otherC), want2...)
	sameChanges(t, "Changes since before everything", changesIn(t, l, at1.Add(-time.Hour), time.Time{}), all)
	sameChanges(t, "Changes since the first detection", changesIn(t, l, at1, time.Time{}), all)
	sameChanges(t, "Changes in [at1, at2)", changesIn(t, l, at1, at2), all[:len(all)-len(want2)])
	sameChanges(t, "Changes since just after the first detection", changesIn(t, l, at1.Add(time.Nanosecond), time.Time{}), want2)
	sameChanges(t, "Changes after the last", changesIn(t, l, at2.Add(time.Second), time.Time{}), nil)
	sameChanges(t, "Changes with until before since", changesIn(t, l, at2, at1), nil)
}

// Any past day is answered: each SKU's latest snapshot on or before it, a
// vanished SKU with zeros, a SKU that came later not at all; the day's last
// sync wins.
func TestLicensesAt(t *testing.T) {
	l, svc := newLicences(t, nil)
	ctx := t.Context()
	day := func(d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC) }
	sync := func(run string, d, hour int, ls ...seatsync.License) {
		t.Helper()
		at := day(d).Add(time.Duration(hour) * time.Hour)
		write(t, l, tables.TenantSync{RunID: run, RunStartedAt: at, TenantID: lt1, SyncedAt: at.Add(time.Minute), Licenses: ls})
	}
	sync(run1, 1, 2, lic(skuA, "A", 10, 0, 0, 0, 8), lic(skuB, "B", 5, 0, 0, 0, 5))
	sync(run2, 2, 2, lic(skuA, "A", 12, 0, 0, 0, 8), lic(skuC, "C", 3, 0, 0, 0, 0)) // B vanished
	sync(run3, 4, 2, lic(skuA, "A", 14, 0, 0, 0, 8), lic(skuC, "C", 3, 0, 0, 0, 0))
	sync(run3b, 4, 20, lic(skuA, "A", 15, 0, 0, 0, 8), lic(skuC, "C", 4, 0, 0, 0, 0)) // the day's last sync

	at := func(d int) []string {
		t.Helper()
		ls, err := l.LicensesAt(ctx, lt1, day(d).Add(13*time.Hour)) // the time of day is ignored
		if err != nil {
			t.Fatal(err)
		}
		return units(ls)
	}
	for _, c := range []struct {
		day  int
		want []string
	}{
		{0, nil}, // before the first sync
		{1, []string{"A:10/0/0/0/8 a2 Enabled", "B:5/0/0/0/5 a0 Enabled"}},
		{2, []string{"A:12/0/0/0/8 a4 Enabled", "B:0/0/0/0/0 a0 Deleted", "C:3/0/0/0/0 a3 Enabled"}},
		{3, []string{"A:12/0/0/0/8 a4 Enabled", "B:0/0/0/0/0 a0 Deleted", "C:3/0/0/0/0 a3 Enabled"}}, // no sync that day
		{4, []string{"A:15/0/0/0/8 a7 Enabled", "B:0/0/0/0/0 a0 Deleted", "C:4/0/0/0/0 a4 Enabled"}},
		{30, []string{"A:15/0/0/0/8 a7 Enabled", "B:0/0/0/0/0 a0 Deleted", "C:4/0/0/0/0 a4 Enabled"}},
	} {
		if got := at(c.day); !slices.Equal(got, c.want) {
			t.Errorf("LicensesAt(November %d):\n got %v\nwant %v", c.day, got, c.want)
		}
	}
	// One row per SKU and day; the long-vanished B is not written again.
	var keys []string
	for r, err := range svc.Table(tables.SnapshotsTable).Query(ctx, "PartitionKey eq "+tables.Quote(lt1)) {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, r.RowKey)
	}
	want := []string{"2026-11-01_" + skuA, "2026-11-01_" + skuB, "2026-11-02_" + skuA, "2026-11-02_" + skuB, "2026-11-02_" + skuC,
		"2026-11-04_" + skuA, "2026-11-04_" + skuC}
	if !slices.Equal(keys, want) {
		t.Errorf("snapshot rows:\n got %v\nwant %v", keys, want)
	}
	if ls, err := l.LicensesAt(ctx, lt2, day(4)); err != nil || len(ls) != 0 {
		t.Errorf("tenant never synced: %v, %v", ls, err)
	}
	if _, err := l.LicensesAt(ctx, "nope", day(4)); seatsync.ErrorCode(err) != seatsync.ENotFound {
		t.Errorf("bad tenant id: %v", err)
	}
}

// rowsOf returns every row of a table, as "pk/rk".
func rowsOf(t *testing.T, svc *tables.Service, table string) []string {
	t.Helper()
	var out []string
	for r, err := range svc.Table(table).Query(t.Context(), "") {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r.PartitionKey+"/"+r.RowKey)
	}
	return out
}

// rowJSON returns every row of a table as JSON, without the service's
// Timestamp and ETag and without SyncedAt.
func rowJSON(t *testing.T, svc *tables.Service, table string) []string {
	t.Helper()
	var out []string
	for r, err := range svc.Table(table).Query(t.Context(), "") {
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(r.JSON, &m); err != nil {
			t.Fatal(err)
		}
		delete(m, "Timestamp")
		delete(m, "odata.etag")
		delete(m, "SyncedAt")
		b, _ := json.Marshal(m)
		out = append(out, string(b))
	}
	return out
}

// A redelivered message writes the same rows and logs no change twice: the
// second delivery compares with the state before the run, not with what the
// first delivery wrote, and keeps the first detection time. When Microsoft
// changed back in between, the run's stale change row goes.
func TestWriteTenantSyncRedelivery(t *testing.T) {
	l, svc := newLicences(t, nil)
	start1 := time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)
	write(t, l, tables.TenantSync{RunID: run1, RunStartedAt: start1, TenantID: lt1, SyncedAt: start1.Add(time.Minute),
		Licenses: []seatsync.License{lic(skuA, "A", 10, 0, 0, 0, 8), lic(skuB, "B", 5, 0, 0, 0, 5)}})

	start2 := time.Date(2026, 11, 2, 2, 0, 0, 0, time.UTC)
	at2 := start2.Add(time.Minute)
	w := tables.TenantSync{RunID: run2, RunStartedAt: start2, TenantID: lt1, SyncedAt: at2,
		Licenses:      []seatsync.License{lic(skuA, "A", 12, 0, 0, 0, 9)},
		Subscriptions: []seatsync.Subscription{{SubscriptionID: "s1", CommerceSubscriptionID: "c1", SkuID: skuA, Quantity: 12, Status: "Enabled"}},
		Counts:        seatsync.UserCounts{LicensedUsers: 9, EnabledUsers: 11}}
	first := write(t, l, w)
	snapshot := map[string][]string{}
	for _, tb := range tables.LicenceTables() {
		snapshot[tb] = rowJSON(t, svc, tb)
	}

	// The same message again, an hour later.
	w.SyncedAt = at2.Add(time.Hour)
	again := write(t, l, w)
	sameChanges(t, "redelivery's changes", again, first)
	// The same rows, the same values: only the sync time moved (within
	// the same day, so the same snapshot rows).
	for _, tb := range tables.LicenceTables() {
		if got := rowJSON(t, svc, tb); !slices.Equal(got, snapshot[tb]) {
			t.Errorf("%s rows after redelivery:\n got %v\nwant %v", tb, got, snapshot[tb])
		}
	}
	// run1: A enabled, A consumed, B enabled, B consumed; run2: the same
	// four (A up, B gone).
	if n := len(rowsOf(t, svc, tables.ChangesTable)); n != 8 {
		t.Errorf("%d change rows, want 8", n)
	}

	// Microsoft changed back between deliveries: A consumed is 8 again, so
	// the run's change row for it is dropped; the others keep their time.
	w.Licenses = []seatsync.License{lic(skuA, "A", 12, 0, 0, 0, 8)}
	w.SyncedAt = at2.Add(2 * time.Hour)
	third := write(t, l, w)
	want := []seatsync.Change{
		change(lt1, skuA, "A", "enabled", 10, 12, at2, run2),
		change(lt1, skuB, "B", "enabled", 5, 0, at2, run2), change(lt1, skuB, "B", "consumed", 5, 0, at2, run2),
	}
	sameChanges(t, "redelivery after Microsoft changed back", third, want)
	sameChanges(t, "the run's log", changesIn(t, l, start2, time.Time{}), want)
}

// Subscriptions round-trip, one Graph does not list any more is kept as
// Deleted with quantity 0, and a Partner Center-only one has a key of its
// own. Counts round-trip.
func TestSubscriptionsAndCounts(t *testing.T) {
	l, _ := newLicences(t, nil)
	ctx := t.Context()
	created := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	end := time.Date(2027, 3, 3, 0, 0, 0, 0, time.UTC)
	yes := true
	subs := []seatsync.Subscription{
		{SubscriptionID: "11111111-aaaa-4aaa-8aaa-000000000001", CommerceSubscriptionID: "c1", SkuID: skuA, SkuPartNumber: "A",
			ProductName: "Product A", Quantity: 12, Status: "Enabled", CreatedAt: &created, NextLifecycleAt: &end,
			BillingCycle: "annual", TermDuration: "P1Y", CommitmentEndAt: &end, AutoRenew: &yes},
		{SubscriptionID: "11111111-aaaa-4aaa-8aaa-000000000002", CommerceSubscriptionID: "c2", SkuID: skuB, SkuPartNumber: "B",
			ProductName: "Product B", Quantity: 25, Status: "Enabled", IsTrial: true, CreatedAt: &created},
		{CommerceSubscriptionID: "c3", ProductName: "Azure plan", Quantity: 1, Status: "Enabled", BillingCycle: "monthly", AutoRenew: new(bool)},
	}
	at := time.Date(2026, 11, 1, 2, 1, 0, 0, time.UTC)
	w := tables.TenantSync{RunID: run1, RunStartedAt: at.Add(-time.Minute), TenantID: lt1, SyncedAt: at, Subscriptions: subs,
		Counts: seatsync.UserCounts{LicensedUsers: 7, EnabledUsers: 9}}
	write(t, l, w)
	got, err := l.Subscriptions(ctx, lt1)
	if err != nil {
		t.Fatal(err)
	}
	want := []seatsync.Subscription{subs[0], subs[1], subs[2]}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("subscriptions:\n got %+v\nwant %+v", got, want)
	}
	c, ok, err := l.Counts(ctx, lt1)
	if err != nil || !ok || c != (seatsync.UserCounts{LicensedUsers: 7, EnabledUsers: 9, SyncedAt: at}) {
		t.Errorf("counts: %+v %v %v", c, ok, err)
	}
	if _, ok, err := l.Counts(ctx, lt2); ok || err != nil {
		t.Errorf("counts of a tenant never synced: %v %v", ok, err)
	}

	// The trial is gone.
	w.RunID, w.RunStartedAt, w.SyncedAt = run2, at.Add(24*time.Hour), at.Add(24*time.Hour)
	w.Subscriptions = []seatsync.Subscription{subs[0], subs[2]}
	write(t, l, w)
	got, err = l.Subscriptions(ctx, lt1)
	if err != nil {
		t.Fatal(err)
	}
	gone := subs[1]
	gone.Status, gone.Quantity = tables.SubscriptionDeleted, 0
	if want := []seatsync.Subscription{subs[0], gone, subs[2]}; !reflect.DeepEqual(got, want) {
		t.Errorf("subscriptions after one vanished:\n got %+v\nwant %+v", got, want)
	}
	if _, err := l.WriteTenantSync(ctx, tables.TenantSync{RunID: run1, RunStartedAt: at, TenantID: lt1, SyncedAt: at,
		Subscriptions: []seatsync.Subscription{{Quantity: 1}}}); err == nil {
		t.Error("a subscription without any id was written")
	}
}

// Every transaction holds at most 100 entities of one partition, however
// many SKUs and changes a tenant has.
func TestWriteTenantSyncBatches(t *testing.T) {
	tr := &countingTransport{}
	l, svc := newLicences(t, &tables.Options{ClientOptions: azcore.ClientOptions{Transport: tr}})
	var ls []seatsync.License
	for i := range 150 {
		ls = append(ls, lic(fmt.Sprintf("aaaaaaaa-0000-4000-8000-%012d", i), fmt.Sprintf("P%03d", i), i+1, 1, 1, 1, i))
	}
	start := time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)
	ch := write(t, l, tables.TenantSync{RunID: run1, RunStartedAt: start, TenantID: lt1, SyncedAt: start.Add(time.Minute), Licenses: ls})
	if len(ch) != 150*5-1 { // the first SKU consumes 0
		t.Errorf("%d changes, want %d", len(ch), 150*5-1)
	}
	if got := tr.biggest.Load(); got != tables.MaxBatch {
		t.Errorf("largest transaction: %d entities, want %d", got, tables.MaxBatch)
	}
	// Changes 749 → 8, snapshot 150 → 2, licences 150 → 2.
	if got := tr.batches.Load(); got != 12 {
		t.Errorf("%d transactions, want 12", got)
	}
	if n := len(rowsOf(t, svc, tables.ChangesTable)); n != 749 {
		t.Errorf("%d change rows", n)
	}
	if n := len(licences(t, l, lt1)); n != 150 {
		t.Errorf("%d licence rows", n)
	}
}

// AllLicenses lists every tenant's licences with the tenant's name, and
// filters by tenant and SKU.
func TestAllLicenses(t *testing.T) {
	l, svc := newLicences(t, nil)
	ctx := t.Context()
	if err := tables.NewStore(svc).PutTenants(ctx, []seatsync.Tenant{{TenantID: lt1, DisplayName: "Contoso", Active: true, Status: seatsync.TenantOK}}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)
	write(t, l, tables.TenantSync{RunID: run1, RunStartedAt: at, TenantID: lt1, SyncedAt: at,
		Licenses: []seatsync.License{lic(skuA, "A", 1, 0, 0, 0, 1), lic(skuB, "B", 2, 0, 0, 0, 1)}})
	write(t, l, tables.TenantSync{RunID: run1, RunStartedAt: at, TenantID: lt2, SyncedAt: at,
		Licenses: []seatsync.License{lic(skuA, "A", 3, 0, 0, 0, 1)}})
	list := func(tenant, sku string) []string {
		t.Helper()
		ls, err := l.AllLicenses(ctx, tenant, sku)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, x := range ls {
			out = append(out, fmt.Sprintf("%s|%s|%s|%d", x.TenantID, x.TenantName, x.SkuPartNumber, x.Enabled))
		}
		return out
	}
	if got, want := list("", ""), []string{lt1 + "|Contoso|A|1", lt1 + "|Contoso|B|2", lt2 + "||A|3"}; !slices.Equal(got, want) {
		t.Errorf("all: %v", got)
	}
	if got, want := list("", strings.ToUpper(skuA)), []string{lt1 + "|Contoso|A|1", lt2 + "||A|3"}; !slices.Equal(got, want) {
		t.Errorf("skuId filter: %v", got)
	}
	if got, want := list(lt1, skuB), []string{lt1 + "|Contoso|B|2"}; !slices.Equal(got, want) {
		t.Errorf("both filters: %v", got)
	}
	if _, err := l.AllLicenses(ctx, "x'or'1", ""); seatsync.ErrorCode(err) != seatsync.EInvalid {
		t.Errorf("bad tenant filter: %v", err)
	}
}

// The tenant row records the sync's outcome and keeps everything else.
func TestRecordTenantSync(t *testing.T) {
	l, svc := newLicences(t, nil)
	ctx := t.Context()
	tn := seatsync.Tenant{TenantID: lt1, DisplayName: "Contoso", DefaultDomain: "contoso.com",
		Relationships: []string{seatsync.RelationshipGDAP, seatsync.RelationshipCSP}, Active: true, Status: seatsync.TenantPending}
	if err := tables.NewStore(svc).PutTenants(ctx, []seatsync.Tenant{tn}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)
	if err := l.RecordTenantSync(ctx, lt1, at, nil); err != nil {
		t.Fatal(err)
	}
	got, err := l.Tenant(ctx, strings.ToUpper(lt1))
	want := tn
	want.Status, want.LastSyncedAt = seatsync.TenantOK, &at
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("after success: %+v, %v", got, err)
	}
	p := seatsync.Problem{Code: "no_gdap_access", Message: "Add the roles."}
	if err := l.RecordTenantSync(ctx, lt1, at.Add(time.Hour), &p); err != nil {
		t.Fatal(err)
	}
	got, _ = l.Tenant(ctx, lt1)
	want.Status, want.LastError = seatsync.TenantError, &p
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after failure: %+v", got)
	}
	if _, err := l.Tenant(ctx, lt2); seatsync.ErrorCode(err) != seatsync.ENotFound || !errors.Is(err, tables.ErrNotFound) {
		t.Errorf("missing tenant: %v", err)
	}
	if err := l.RecordTenantSync(ctx, lt2, at, nil); seatsync.ErrorCode(err) != seatsync.ENotFound {
		t.Errorf("recording on a missing tenant: %v", err)
	}
}

// A run's progress comes from its tenants' results: running while one is
// pending, then succeeded, partial or failed, finished at the last result.
func TestRunProgress(t *testing.T) {
	_, svc := newLicences(t, nil)
	ctx := t.Context()
	runs := tables.NewRuns(svc)
	start := time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)
	ids := []string{lt1, lt2, "33333333-3333-4333-8333-333333333333"}
	create := func(id string, tenants []string, status string) {
		t.Helper()
		rec := tables.RunRecord{Run: seatsync.Run{RunID: id, Trigger: seatsync.TriggerManual, Status: status, StartedAt: start,
			TenantsTotal: len(tenants)}}
		if len(tenants) == 0 {
			rec.FinishedAt = &start
		}
		if err := runs.Create(ctx, rec, tenants); err != nil {
			t.Fatal(err)
		}
	}
	progress := func(id string) seatsync.Run {
		t.Helper()
		r, err := runs.Progress(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	set := func(run, tenant, status string, min int, p *seatsync.Problem) {
		t.Helper()
		if err := runs.SetResult(ctx, run, tenant, status, p, start.Add(time.Duration(min)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	check := func(what string, r seatsync.Run, status string, total, ok, failed int, finished int) {
		t.Helper()
		var fin *time.Time
		if finished >= 0 {
			f := start.Add(time.Duration(finished) * time.Minute)
			fin = &f
		}
		if r.Status != status || r.TenantsTotal != total || r.TenantsSucceeded != ok || r.TenantsFailed != failed ||
			!reflect.DeepEqual(r.FinishedAt, fin) || !r.StartedAt.Equal(start) {
			t.Errorf("%s: %+v (finished %v); want %s %d/%d/%d finished %v", what, r, r.FinishedAt, status, total, ok, failed, fin)
		}
	}

	create(run1, ids, seatsync.RunRunning)
	check("new run", progress(run1), seatsync.RunRunning, 3, 0, 0, -1)
	res, err := runs.Result(ctx, run1, lt1)
	if err != nil || res.Status != seatsync.ResultPending || res.Error != nil || res.FinishedAt != nil {
		t.Errorf("pending result: %+v, %v", res, err)
	}
	set(run1, lt1, seatsync.ResultSucceeded, 5, nil)
	p := &seatsync.Problem{Code: "no_gdap_access", Message: "Add the roles."}
	set(run1, ids[2], seatsync.ResultFailed, 9, p)
	check("two of three", progress(run1), seatsync.RunRunning, 3, 1, 1, -1)
	set(run1, lt2, seatsync.ResultSucceeded, 7, nil)
	check("all reported", progress(run1), seatsync.RunPartial, 3, 2, 1, 9)
	res, err = runs.Result(ctx, run1, ids[2])
	if err != nil || res.Status != seatsync.ResultFailed || !reflect.DeepEqual(res.Error, p) || !res.FinishedAt.Equal(start.Add(9*time.Minute)) {
		t.Errorf("failed result: %+v, %v", res, err)
	}
	all, err := runs.Results(ctx, run1)
	if err != nil || len(all) != 3 || all[0].TenantID != lt1 {
		t.Errorf("results: %+v, %v", all, err)
	}
	// Recording again (a redelivery) changes nothing but the row.
	set(run1, lt2, seatsync.ResultSucceeded, 8, nil)
	check("a result recorded twice", progress(run1), seatsync.RunPartial, 3, 2, 1, 9)

	create(run2, ids[:2], seatsync.RunRunning)
	set(run2, lt1, seatsync.ResultSucceeded, 1, nil)
	set(run2, lt2, seatsync.ResultSucceeded, 2, nil)
	check("all succeeded", progress(run2), seatsync.RunSucceeded, 2, 2, 0, 2)

	create(run3, ids[:2], seatsync.RunRunning)
	set(run3, lt1, seatsync.ResultFailed, 1, p)
	set(run3, lt2, seatsync.ResultFailed, 3, p)
	check("all failed", progress(run3), seatsync.RunFailed, 2, 0, 2, 3)

	create(run3b, nil, seatsync.RunSucceeded)
	check("no tenants", progress(run3b), seatsync.RunSucceeded, 0, 0, 0, 0)

	// A tenant that is not in the run gets no row.
	if err := runs.SetResult(ctx, run2, ids[2], seatsync.ResultSucceeded, nil, start); seatsync.ErrorCode(err) != seatsync.ENotFound {
		t.Errorf("result of a tenant outside the run: %v", err)
	}
	if ids, _ := runs.TenantIDs(ctx, run2); len(ids) != 2 {
		t.Errorf("the run has %d tenants after a stray result", len(ids))
	}
	if _, err := runs.Result(ctx, run2, ids[2]); seatsync.ErrorCode(err) != seatsync.ENotFound {
		t.Errorf("result of a tenant outside the run: %v", err)
	}
	if err := runs.SetResult(ctx, run2, lt1, seatsync.ResultPending, nil, start); err == nil {
		t.Error("a pending result was recorded")
	}
	if _, err := runs.Progress(ctx, "0f8fad5b-d9cb-469f-a165-0000000000ff"); seatsync.ErrorCode(err) != seatsync.ENotFound {
		t.Errorf("progress of no run: %v", err)
	}
}

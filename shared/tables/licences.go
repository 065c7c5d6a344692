package tables

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/seatsync/seatsync/shared/seatsync"
)

// The tables of the licence sync.
//
// LicencesTable holds the current state of every SKU of every tenant:
// PartitionKey tenantId, RowKey skuId. A SKU that Graph no longer lists is
// kept, with zero quantities and Vanished set, never deleted.
//
// SnapshotsTable holds the state of each day: PartitionKey tenantId, RowKey
// "{YYYY-MM-DD}_{skuId}" (the UTC day of the sync; the day's last sync
// wins). A day's partition range holds every SKU Graph listed that day, and
// a vanished SKU on the day it vanished (with zeros), so that the latest row
// of each SKU on or before a day is that day's state (LicensesAt).
//
// ChangesTable is the change log: PartitionKey "{YYYY-MM}", the month the
// run started, and RowKey "{run start, TimeFormat}_{tenantId}_{skuId}_{field}".
// The key names the run (by its start time, which Runs keeps and every
// delivery of the run's messages reads) rather than the moment of
// detection, so that a redelivered message writes the same keys again: a
// change is logged once however often its message is delivered. DetectedAt
// is when the change was first seen, kept when a redelivery rewrites the
// row.
//
// SubscriptionsTable holds each tenant's subscriptions: PartitionKey
// tenantId, RowKey the Graph subscription id, or "pc_{commerceSubscriptionId}"
// for a Partner Center subscription Graph does not list (an Azure plan). A
// subscription that is no longer listed is kept with status "Deleted" and
// quantity 0, as a vanished SKU is kept with zeros.
//
// CountsTable holds each tenant's user counts: PartitionKey tenantId,
// RowKey "counts".
const (
	LicencesTable      = "licences"
	SnapshotsTable     = "snapshots"
	ChangesTable       = "changes"
	SubscriptionsTable = "subscriptions"
	CountsTable        = "counts"
)

// LicenceTables lists the tables of the licence sync, for EnsureTables at
// start (AllTables does not include them).
func LicenceTables() []string {
	return []string{LicencesTable, SnapshotsTable, ChangesTable, SubscriptionsTable, CountsTable}
}

// Change fields, in the order changes are reported.
const (
	FieldEnabled   = "enabled"
	FieldSuspended = "suspended"
	FieldWarning   = "warning"
	FieldLockedOut = "lockedOut"
	FieldConsumed  = "consumed"
)

// CapabilityDeleted is the capability status a SKU gets when Graph no
// longer lists it (one of the values Graph itself uses).
const CapabilityDeleted = "Deleted"

// SubscriptionDeleted is the status a subscription row gets when neither
// Graph nor Partner Center lists the subscription any more.
const SubscriptionDeleted = "Deleted"

// ChangeLookback bounds how long after its run started a change can be
// detected (a message redelivered or delayed in the queue). Changes reads
// row keys from since minus ChangeLookback.
const ChangeLookback = 7 * 24 * time.Hour

const (
	countsKey = "counts"
	// pcOnlyPrefix starts the key of a subscription only Partner Center
	// lists.
	pcOnlyPrefix = "pc_"
	// dayFormat is the day part of snapshot keys; monthFormat the change
	// log's partitions.
	dayFormat   = "2006-01-02"
	monthFormat = "2006-01"
	// keyEnd sorts after every character of the ids in keys (hex, '-').
	keyEnd = "~"
)

// Licences reads and writes the licence sync's rows. It is safe for
// concurrent use.
type Licences struct {
	licences, snapshots, changes, subscriptions, counts, tenants *Table
	now                                                          func() time.Time
}

// NewLicences returns the licence rows kept in svc (create the tables with
// EnsureTables(LicenceTables()...)).
func NewLicences(svc *Service) *Licences {
	return &Licences{licences: svc.Table(LicencesTable), snapshots: svc.Table(SnapshotsTable), changes: svc.Table(ChangesTable),
		subscriptions: svc.Table(SubscriptionsTable), counts: svc.Table(CountsTable), tenants: svc.Table(TenantsTable), now: time.Now}
}

// units are the quantities of a SKU that the change log follows.
type units struct {
	Enabled, Suspended, Warning, LockedOut, Consumed int
}

type unitField struct {
	name string
	get  func(units) int
}

var unitFields = []unitField{
	{FieldEnabled, func(u units) int { return u.Enabled }},
	{FieldSuspended, func(u units) int { return u.Suspended }},
	{FieldWarning, func(u units) int { return u.Warning }},
	{FieldLockedOut, func(u units) int { return u.LockedOut }},
	{FieldConsumed, func(u units) int { return u.Consumed }},
}

func fieldIndex(name string) int {
	return slices.IndexFunc(unitFields, func(f unitField) bool { return f.name == name })
}

// licenceData is a SKU's state, as both the current and the snapshot rows
// keep it.
type licenceData struct {
	SkuID         string
	SkuPartNumber string
	ProductName   string
	units
	CapabilityStatus string
	AppliesTo        string
	// SubscriptionIDs are comma-separated.
	SubscriptionIDs string
	SyncedAt        string
	// Vanished: Graph no longer lists the SKU; its quantities are zero.
	Vanished bool
}

func (d licenceData) license() (seatsync.License, error) {
	l := seatsync.License{SkuID: d.SkuID, SkuPartNumber: d.SkuPartNumber, ProductName: d.ProductName,
		Enabled: d.Enabled, Suspended: d.Suspended, Warning: d.Warning, LockedOut: d.LockedOut, Consumed: d.Consumed,
		Available: Available(d.Enabled, d.Warning, d.Consumed), CapabilityStatus: d.CapabilityStatus, AppliesTo: d.AppliesTo,
		SubscriptionIDs: splitList(d.SubscriptionIDs)}
	var err error
	if l.SyncedAt, err = ParseTime(d.SyncedAt); err != nil {
		return l, fmt.Errorf("tables: licence %s: SyncedAt: %w", d.SkuID, err)
	}
	return l, nil
}

// Available is what the API reports as a SKU's available units: the units
// that can be assigned (enabled, and warning ones in their grace period)
// minus those assigned. It is negative when more are assigned than
// there are, which Graph allows for a while after a reduction.
func Available(enabled, warning, consumed int) int { return enabled + warning - consumed }

type licenceRow struct {
	PartitionKey string // tenant id
	RowKey       string // sku id
	licenceData
	// VanishedAt is when the sync first found the SKU gone ("" while it is
	// listed).
	VanishedAt string
	// RunID is the run that last wrote the row, and Base the quantities
	// before that run's sync (BaseExists false: the SKU was new to it). A
	// redelivered message of the same run compares with Base, not with
	// what its first delivery wrote, so it finds the same changes.
	RunID                                                                string
	BaseExists                                                           bool
	BaseEnabled, BaseSuspended, BaseWarning, BaseLockedOut, BaseConsumed int
}

func (r licenceRow) base() units {
	return units{r.BaseEnabled, r.BaseSuspended, r.BaseWarning, r.BaseLockedOut, r.BaseConsumed}
}

type snapshotRow struct {
	PartitionKey string // tenant id
	RowKey       string // "{YYYY-MM-DD}_{skuId}"
	Day          string
	licenceData
}

type changeRow struct {
	PartitionKey  string // "{YYYY-MM}" of the run's start
	RowKey        string // "{run start}_{tenantId}_{skuId}_{field}"
	RunID         string
	TenantID      string
	SkuID         string
	SkuPartNumber string
	Field         string
	From, To      int
	DetectedAt    string
}

type subscriptionRow struct {
	PartitionKey           string // tenant id
	RowKey                 string // subscription id, or "pc_{commerce id}"
	SubscriptionID         string
	CommerceSubscriptionID string
	SkuID                  string
	SkuPartNumber          string
	ProductName            string
	Quantity               int
	Status                 string
	IsTrial                bool
	CreatedAt              string
	NextLifecycleAt        string
	BillingCycle           string
	TermDuration           string
	CommitmentEndAt        string
	// AutoRenew is "true", "false" or "" (Partner Center does not know
	// the subscription).
	AutoRenew string
	SyncedAt  string
}

type countsRow struct {
	PartitionKey  string // tenant id
	RowKey        string // "counts"
	LicensedUsers int
	EnabledUsers  int
	SyncedAt      string
}

// TenantSync is what one tenant's sync read, for WriteTenantSync.
type TenantSync struct {
	// RunID is the run (a GUID) and RunStartedAt its start time, which
	// keys the change rows.
	RunID        string
	RunStartedAt time.Time
	TenantID     string
	// SyncedAt is when Microsoft was read.
	SyncedAt time.Time
	// Licenses are the SKUs Graph lists (Available, TenantID and
	// TenantName are ignored; SyncedAt is taken from SyncedAt).
	Licenses []seatsync.License
	// Subscriptions are Graph's directory subscriptions joined with
	// Partner Center's, and Partner Center's that Graph does not list.
	Subscriptions []seatsync.Subscription
	// Counts are the user counts (SyncedAt is taken from SyncedAt).
	Counts seatsync.UserCounts
}

func (w TenantSync) check() error {
	switch {
	case !seatsync.IsGUID(w.RunID):
		return fmt.Errorf("tables: tenant sync: run id %q is not a GUID", seatsync.CleanText(w.RunID, 64))
	case !seatsync.IsGUID(w.TenantID):
		return fmt.Errorf("tables: tenant sync: tenant id %q is not a GUID", seatsync.CleanText(w.TenantID, 64))
	case w.RunStartedAt.IsZero() || w.SyncedAt.IsZero():
		return errors.New("tables: tenant sync: no run start or sync time")
	}
	for _, l := range w.Licenses {
		if !seatsync.IsGUID(l.SkuID) {
			return fmt.Errorf("tables: tenant sync %s: SKU id %q is not a GUID", w.TenantID, seatsync.CleanText(l.SkuID, 64))
		}
	}
	for _, s := range w.Subscriptions {
		k := subscriptionKey(s)
		if k == "" {
			return fmt.Errorf("tables: tenant sync %s: a subscription has neither an id nor a commerce subscription id", w.TenantID)
		}
		if err := ValidKey(k); err != nil {
			return fmt.Errorf("tables: tenant sync %s: subscription id: %w", w.TenantID, err)
		}
	}
	return nil
}

// subscriptionKey is a subscription's RowKey: Graph's id, or the commerce
// (Partner Center) id with a prefix when Graph does not list it.
func subscriptionKey(s seatsync.Subscription) string {
	if id := strings.ToLower(strings.TrimSpace(s.SubscriptionID)); id != "" {
		return id
	}
	if id := strings.ToLower(strings.TrimSpace(s.CommerceSubscriptionID)); id != "" {
		return pcOnlyPrefix + id
	}
	return ""
}

// changePrefix starts the keys of the change rows of one tenant in one run.
func changePrefix(runStartedAt time.Time, tenantID string) string {
	return FormatTime(runStartedAt) + "_" + tenantID + "_"
}

func changePartition(runStartedAt time.Time) string { return runStartedAt.UTC().Format(monthFormat) }

// WriteTenantSync records one tenant's sync in run w.RunID and returns the
// changes the run found for the tenant: every quantity (enabled, suspended,
// warning, lockedOut, consumed) that differs from the state before the run.
// A SKU Graph no longer lists is kept with zero quantities, and its
// non-zero quantities are logged as changes to 0; a new SKU's non-zero
// quantities are logged as changes from 0.
//
// The writes go in this order, each in transactions of at most MaxBatch
// entities of one partition: the change rows, the day's snapshot, the
// subscriptions, the counts, and the current licence rows last. A write
// that fails part way is completed by the message's redelivery, which
// still compares with the state before the run (the current rows are
// written last, and each keeps the quantities its run started from), so
// it finds the same changes and writes them under the same keys. Change
// rows of the tenant in this run that the redelivery no longer finds
// (Microsoft changed back in between) are deleted in the same
// transaction, so the run's log for the tenant is always exactly what it
// changed.
func (l *Licences) WriteTenantSync(ctx context.Context, w TenantSync) ([]seatsync.Change, error) {
	w.TenantID, w.RunID = strings.ToLower(w.TenantID), strings.ToLower(w.RunID)
	w.Licenses = slices.Clone(w.Licenses)
	for i := range w.Licenses {
		w.Licenses[i].SkuID = strings.ToLower(w.Licenses[i].SkuID)
	}
	if err := w.check(); err != nil {
		return nil, err
	}
	syncedAt := FormatTime(w.SyncedAt)
	day := w.SyncedAt.UTC().Format(dayFormat)

	prev := map[string]licenceRow{}
	for r, err := range l.licences.Query(ctx, "PartitionKey eq "+Quote(w.TenantID)) {
		if err != nil {
			return nil, fmt.Errorf("tables: read licences of %s: %w", w.TenantID, err)
		}
		var row licenceRow
		if err := r.Decode(&row); err != nil {
			return nil, err
		}
		prev[r.RowKey] = row
	}

	// The new current rows, and the changes from each SKU's base.
	next := map[string]licenceRow{}
	for _, lic := range w.Licenses {
		row := licenceRow{PartitionKey: w.TenantID, RowKey: lic.SkuID, licenceData: licenceData{
			SkuID: lic.SkuID, SkuPartNumber: lic.SkuPartNumber, ProductName: lic.ProductName,
			units:            units{lic.Enabled, lic.Suspended, lic.Warning, lic.LockedOut, lic.Consumed},
			CapabilityStatus: lic.CapabilityStatus, AppliesTo: lic.AppliesTo,
			SubscriptionIDs: strings.Join(lic.SubscriptionIDs, ","), SyncedAt: syncedAt}}
		next[lic.SkuID] = row
	}
	for sku, p := range prev {
		if _, listed := next[sku]; listed {
			continue
		}
		row := p
		row.units, row.SyncedAt, row.Vanished, row.CapabilityStatus = units{}, syncedAt, true, CapabilityDeleted
		if !p.Vanished || p.VanishedAt == "" {
			row.VanishedAt = syncedAt
		}
		next[sku] = row
	}
	var changes []seatsync.Change
	for _, sku := range sortedKeys(next) {
		row := next[sku]
		p, had := prev[sku]
		var base units
		var baseExists bool
		switch {
		case had && p.RunID == w.RunID:
			base, baseExists = p.base(), p.BaseExists
		case had:
			base, baseExists = p.units, true
		}
		row.RunID, row.BaseExists = w.RunID, baseExists
		row.BaseEnabled, row.BaseSuspended, row.BaseWarning, row.BaseLockedOut, row.BaseConsumed =
			base.Enabled, base.Suspended, base.Warning, base.LockedOut, base.Consumed
		next[sku] = row
		for _, f := range unitFields {
			if from, to := f.get(base), f.get(row.units); from != to {
				changes = append(changes, seatsync.Change{TenantID: w.TenantID, SkuID: sku, SkuPartNumber: row.SkuPartNumber,
					Field: f.name, From: from, To: to, DetectedAt: w.SyncedAt.UTC(), RunID: w.RunID})
			}
		}
	}

	if err := l.writeChanges(ctx, w, changes); err != nil {
		return nil, err
	}

	snaps := l.snapshots.Batch()
	for _, sku := range sortedKeys(next) {
		row := next[sku]
		if row.Vanished && !strings.HasPrefix(row.VanishedAt, day) {
			// Gone before today: an earlier day's snapshot has its
			// zeros, which answer for today too.
			continue
		}
		if err := snaps.Upsert(ctx, snapshotRow{PartitionKey: w.TenantID, RowKey: day + "_" + sku, Day: day, licenceData: row.licenceData}); err != nil {
			return nil, err
		}
	}
	if err := snaps.Flush(ctx); err != nil {
		return nil, fmt.Errorf("tables: write snapshot of %s: %w", w.TenantID, err)
	}

	if err := l.writeSubscriptions(ctx, w, syncedAt); err != nil {
		return nil, err
	}

	if _, err := l.counts.Upsert(ctx, countsRow{PartitionKey: w.TenantID, RowKey: countsKey, LicensedUsers: w.Counts.LicensedUsers,
		EnabledUsers: w.Counts.EnabledUsers, SyncedAt: syncedAt}); err != nil {
		return nil, fmt.Errorf("tables: write counts of %s: %w", w.TenantID, err)
	}

	current := l.licences.Batch()
	for _, sku := range sortedKeys(next) {
		if err := current.Upsert(ctx, next[sku]); err != nil {
			return nil, err
		}
	}
	if err := current.Flush(ctx); err != nil {
		return nil, fmt.Errorf("tables: write licences of %s: %w", w.TenantID, err)
	}
	return changes, nil
}

// writeChanges writes the change rows of the tenant in the run, keeping the
// detection time of rows an earlier delivery wrote, and deletes those of
// its rows that are no longer changes. changes get the kept times.
func (l *Licences) writeChanges(ctx context.Context, w TenantSync, changes []seatsync.Change) error {
	pk := changePartition(w.RunStartedAt)
	prefix := changePrefix(w.RunStartedAt, w.TenantID)
	existing := map[string]changeRow{}
	filter := fmt.Sprintf("PartitionKey eq %s and RowKey ge %s and RowKey lt %s", Quote(pk), Quote(prefix), Quote(prefix+keyEnd))
	for r, err := range l.changes.Query(ctx, filter) {
		if err != nil {
			return fmt.Errorf("tables: read changes of %s: %w", w.TenantID, err)
		}
		var row changeRow
		if err := r.Decode(&row); err != nil {
			return err
		}
		existing[r.RowKey] = row
	}
	b := l.changes.Batch()
	keep := map[string]bool{}
	for i, c := range changes {
		rk := prefix + c.SkuID + "_" + c.Field
		keep[rk] = true
		detected := FormatTime(c.DetectedAt)
		if old, ok := existing[rk]; ok && old.DetectedAt != "" {
			if t, err := ParseTime(old.DetectedAt); err == nil {
				detected = old.DetectedAt
				changes[i].DetectedAt = t
			}
		}
		if err := b.Upsert(ctx, changeRow{PartitionKey: pk, RowKey: rk, RunID: c.RunID, TenantID: c.TenantID, SkuID: c.SkuID,
			SkuPartNumber: c.SkuPartNumber, Field: c.Field, From: c.From, To: c.To, DetectedAt: detected}); err != nil {
			return err
		}
	}
	for _, rk := range sortedKeys(existing) {
		if !keep[rk] {
			if err := b.Delete(ctx, pk, rk); err != nil {
				return err
			}
		}
	}
	if err := b.Flush(ctx); err != nil {
		return fmt.Errorf("tables: write changes of %s: %w", w.TenantID, err)
	}
	return nil
}

func (l *Licences) writeSubscriptions(ctx context.Context, w TenantSync, syncedAt string) error {
	prev := map[string]subscriptionRow{}
	for r, err := range l.subscriptions.Query(ctx, "PartitionKey eq "+Quote(w.TenantID)) {
		if err != nil {
			return fmt.Errorf("tables: read subscriptions of %s: %w", w.TenantID, err)
		}
		var row subscriptionRow
		if err := r.Decode(&row); err != nil {
			return err
		}
		prev[r.RowKey] = row
	}
	b := l.subscriptions.Batch()
	listed := map[string]bool{}
	for _, s := range w.Subscriptions {
		rk := subscriptionKey(s)
		listed[rk] = true
		row := subscriptionRow{PartitionKey: w.TenantID, RowKey: rk, SubscriptionID: s.SubscriptionID,
			CommerceSubscriptionID: s.CommerceSubscriptionID, SkuID: strings.ToLower(s.SkuID), SkuPartNumber: s.SkuPartNumber,
			ProductName: s.ProductName, Quantity: s.Quantity, Status: s.Status, IsTrial: s.IsTrial,
			CreatedAt: fmtOptTime(s.CreatedAt), NextLifecycleAt: fmtOptTime(s.NextLifecycleAt), BillingCycle: s.BillingCycle,
			TermDuration: s.TermDuration, CommitmentEndAt: fmtOptTime(s.CommitmentEndAt), SyncedAt: syncedAt}
		if s.AutoRenew != nil {
			row.AutoRenew = fmt.Sprint(*s.AutoRenew)
		}
		if err := b.Upsert(ctx, row); err != nil {
			return err
		}
	}
	for _, rk := range sortedKeys(prev) {
		row := prev[rk]
		if listed[rk] || row.Status == SubscriptionDeleted {
			continue
		}
		row.Status, row.Quantity, row.SyncedAt = SubscriptionDeleted, 0, syncedAt
		if err := b.Upsert(ctx, row); err != nil {
			return err
		}
	}
	if err := b.Flush(ctx); err != nil {
		return fmt.Errorf("tables: write subscriptions of %s: %w", w.TenantID, err)
	}
	return nil
}

// checkTenantID refuses an id that is not a GUID: ids become keys.
func checkTenantID(tenantID string) error {
	if !seatsync.IsGUID(tenantID) {
		return &seatsync.Error{Code: seatsync.ENotFound, Message: "No tenant has that id.", Err: ErrNotFound}
	}
	return nil
}

// Licenses returns the current licence rows of tenantID in SKU id order
// (none for a tenant never synced), vanished SKUs included with zeros.
func (l *Licences) Licenses(ctx context.Context, tenantID string) ([]seatsync.License, error) {
	tenantID = strings.ToLower(tenantID)
	if err := checkTenantID(tenantID); err != nil {
		return nil, err
	}
	out := []seatsync.License{}
	for r, err := range l.licences.Query(ctx, "PartitionKey eq "+Quote(tenantID)) {
		if err != nil {
			return nil, fmt.Errorf("tables: licences of %s: %w", tenantID, err)
		}
		var row licenceRow
		if err := r.Decode(&row); err != nil {
			return nil, err
		}
		lic, err := row.license()
		if err != nil {
			return nil, err
		}
		out = append(out, lic)
	}
	return out, nil
}

// LicensesAt returns tenantID's licences as they were at the end of the UTC
// day of day: for each SKU, its latest snapshot on or before that day (a
// SKU that had vanished by then has zeros; one that came later is absent).
// Days before the first sync have none.
func (l *Licences) LicensesAt(ctx context.Context, tenantID string, day time.Time) ([]seatsync.License, error) {
	tenantID = strings.ToLower(tenantID)
	if err := checkTenantID(tenantID); err != nil {
		return nil, err
	}
	upTo := day.UTC().Format(dayFormat) + "_" + keyEnd
	latest := map[string]snapshotRow{}
	filter := fmt.Sprintf("PartitionKey eq %s and RowKey le %s", Quote(tenantID), Quote(upTo))
	for r, err := range l.snapshots.Query(ctx, filter) {
		if err != nil {
			return nil, fmt.Errorf("tables: snapshots of %s: %w", tenantID, err)
		}
		var row snapshotRow
		if err := r.Decode(&row); err != nil {
			return nil, err
		}
		// Rows come in key order, day first: a later day overwrites.
		latest[row.SkuID] = row
	}
	out := []seatsync.License{}
	for _, sku := range sortedKeys(latest) {
		lic, err := latest[sku].license()
		if err != nil {
			return nil, err
		}
		out = append(out, lic)
	}
	return out, nil
}

// AllLicenses returns the current licence rows of every tenant, or of
// tenantID only, and of every SKU, or of skuID only ("" for no filter), in
// tenant and SKU id order, with TenantID and TenantName (the tenant row's
// display name) filled in.
func (l *Licences) AllLicenses(ctx context.Context, tenantID, skuID string) ([]seatsync.License, error) {
	tenantID, skuID = strings.ToLower(strings.TrimSpace(tenantID)), strings.ToLower(strings.TrimSpace(skuID))
	var conds []string
	if tenantID != "" {
		if !seatsync.IsGUID(tenantID) {
			return nil, seatsync.Errorf(seatsync.EInvalid, "The tenantId filter must be a tenant id (a GUID).")
		}
		conds = append(conds, "PartitionKey eq "+Quote(tenantID))
	}
	if skuID != "" {
		if !seatsync.IsGUID(skuID) {
			return nil, seatsync.Errorf(seatsync.EInvalid, "The skuId filter must be a SKU id (a GUID).")
		}
		conds = append(conds, "RowKey eq "+Quote(skuID))
	}
	names := map[string]string{}
	tfilter := "PartitionKey eq " + Quote(tenantPartition)
	if tenantID != "" {
		tfilter += " and RowKey eq " + Quote(tenantID)
	}
	for r, err := range l.tenants.Query(ctx, tfilter) {
		if err != nil {
			return nil, fmt.Errorf("tables: tenant names: %w", err)
		}
		var row tenantRow
		if err := r.Decode(&row); err != nil {
			return nil, err
		}
		names[row.RowKey] = row.DisplayName
	}
	out := []seatsync.License{}
	for r, err := range l.licences.Query(ctx, strings.Join(conds, " and ")) {
		if err != nil {
			return nil, fmt.Errorf("tables: licences: %w", err)
		}
		var row licenceRow
		if err := r.Decode(&row); err != nil {
			return nil, err
		}
		lic, err := row.license()
		if err != nil {
			return nil, err
		}
		lic.TenantID, lic.TenantName = row.PartitionKey, names[row.PartitionKey]
		out = append(out, lic)
	}
	return out, nil
}

// Subscriptions returns tenantID's subscriptions in key order (none for a
// tenant never synced), those no longer listed included with status
// "Deleted".
func (l *Licences) Subscriptions(ctx context.Context, tenantID string) ([]seatsync.Subscription, error) {
	tenantID = strings.ToLower(tenantID)
	if err := checkTenantID(tenantID); err != nil {
		return nil, err
	}
	out := []seatsync.Subscription{}
	for r, err := range l.subscriptions.Query(ctx, "PartitionKey eq "+Quote(tenantID)) {
		if err != nil {
			return nil, fmt.Errorf("tables: subscriptions of %s: %w", tenantID, err)
		}
		var row subscriptionRow
		if err := r.Decode(&row); err != nil {
			return nil, err
		}
		s := seatsync.Subscription{SubscriptionID: row.SubscriptionID, CommerceSubscriptionID: row.CommerceSubscriptionID,
			SkuID: row.SkuID, SkuPartNumber: row.SkuPartNumber, ProductName: row.ProductName, Quantity: row.Quantity,
			Status: row.Status, IsTrial: row.IsTrial, BillingCycle: row.BillingCycle, TermDuration: row.TermDuration}
		for _, f := range []struct {
			s   string
			dst **time.Time
		}{{row.CreatedAt, &s.CreatedAt}, {row.NextLifecycleAt, &s.NextLifecycleAt}, {row.CommitmentEndAt, &s.CommitmentEndAt}} {
			if *f.dst, err = optTime(f.s); err != nil {
				return nil, fmt.Errorf("tables: subscription %s/%s: %w", tenantID, row.RowKey, err)
			}
		}
		switch row.AutoRenew {
		case "true", "false":
			v := row.AutoRenew == "true"
			s.AutoRenew = &v
		}
		out = append(out, s)
	}
	return out, nil
}

// Counts returns tenantID's user counts, and false when it has none yet.
func (l *Licences) Counts(ctx context.Context, tenantID string) (seatsync.UserCounts, bool, error) {
	tenantID = strings.ToLower(tenantID)
	if err := checkTenantID(tenantID); err != nil {
		return seatsync.UserCounts{}, false, err
	}
	r, err := l.counts.Get(ctx, tenantID, countsKey)
	if errors.Is(err, ErrNotFound) {
		return seatsync.UserCounts{}, false, nil
	}
	if err != nil {
		return seatsync.UserCounts{}, false, fmt.Errorf("tables: counts of %s: %w", tenantID, err)
	}
	var row countsRow
	if err := r.Decode(&row); err != nil {
		return seatsync.UserCounts{}, false, err
	}
	c := seatsync.UserCounts{LicensedUsers: row.LicensedUsers, EnabledUsers: row.EnabledUsers}
	if c.SyncedAt, err = ParseTime(row.SyncedAt); err != nil {
		return c, false, fmt.Errorf("tables: counts of %s: SyncedAt: %w", tenantID, err)
	}
	return c, true, nil
}

// Changes returns the changes detected in [since, until) (until zero: no
// end), in detection order, then by tenant, SKU and field. It reads the
// month partitions of the runs that may have detected them: runs started
// up to ChangeLookback before since.
func (l *Licences) Changes(ctx context.Context, since, until time.Time) ([]seatsync.Change, error) {
	since = since.UTC()
	last := until.UTC()
	if until.IsZero() {
		last = l.now().UTC().Add(ChangeLookback)
	} else if !until.After(since) {
		return []seatsync.Change{}, nil
	}
	from := since.Add(-ChangeLookback)
	conds := []string{"RowKey ge " + Quote(FormatTime(from)), "DetectedAt ge " + Quote(FormatTime(since))}
	if !until.IsZero() {
		// A change's run started before it was detected.
		conds = append(conds, "RowKey lt "+Quote(FormatTime(until)), "DetectedAt lt "+Quote(FormatTime(until)))
	}
	out := []seatsync.Change{}
	first := time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, time.UTC)
	for month := first; !month.After(last); month = month.AddDate(0, 1, 0) {
		filter := "PartitionKey eq " + Quote(month.Format(monthFormat)) + " and " + strings.Join(conds, " and ")
		for r, err := range l.changes.Query(ctx, filter) {
			if err != nil {
				return nil, fmt.Errorf("tables: changes: %w", err)
			}
			var row changeRow
			if err := r.Decode(&row); err != nil {
				return nil, err
			}
			c := seatsync.Change{TenantID: row.TenantID, SkuID: row.SkuID, SkuPartNumber: row.SkuPartNumber, Field: row.Field,
				From: row.From, To: row.To, RunID: row.RunID}
			if c.DetectedAt, err = ParseTime(row.DetectedAt); err != nil {
				return nil, fmt.Errorf("tables: change %s: DetectedAt: %w", row.RowKey, err)
			}
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, func(a, b seatsync.Change) int {
		return cmp.Or(a.DetectedAt.Compare(b.DetectedAt), strings.Compare(a.TenantID, b.TenantID),
			strings.Compare(a.SkuID, b.SkuID), cmp.Compare(fieldIndex(a.Field), fieldIndex(b.Field)))
	})
	return out, nil
}

// Tenant returns the tenant row of tenantID; a seatsync.Error ENotFound
// (wrapping ErrNotFound) when there is none.
func (l *Licences) Tenant(ctx context.Context, tenantID string) (seatsync.Tenant, error) {
	t, _, err := l.tenant(ctx, tenantID)
	return t, err
}

func (l *Licences) tenant(ctx context.Context, tenantID string) (seatsync.Tenant, string, error) {
	tenantID = strings.ToLower(tenantID)
	if err := checkTenantID(tenantID); err != nil {
		return seatsync.Tenant{}, "", err
	}
	r, err := l.tenants.Get(ctx, tenantPartition, tenantID)
	if errors.Is(err, ErrNotFound) {
		return seatsync.Tenant{}, "", &seatsync.Error{Code: seatsync.ENotFound, Message: "No tenant has that id.", Err: err}
	}
	if err != nil {
		return seatsync.Tenant{}, "", fmt.Errorf("tables: tenant %s: %w", tenantID, err)
	}
	var row tenantRow
	if err := r.Decode(&row); err != nil {
		return seatsync.Tenant{}, "", err
	}
	t, err := row.tenant()
	return t, r.ETag, err
}

// maxTenantUpdates bounds the retries of RecordTenantSync when another
// writer (a fan-out updating names) keeps changing the row.
const maxTenantUpdates = 5

// RecordTenantSync records the outcome of a tenant's sync on its row:
// status ok, lastSyncedAt at and no lastError when problem is nil; status
// error and lastError problem (lastSyncedAt kept: the last success)
// otherwise. The other fields are kept: the row is replaced only if it did
// not change since it was read (a fan-out may be writing names at the same
// time), and read again if it did. A tenant without a row is a
// seatsync.Error ENotFound.
func (l *Licences) RecordTenantSync(ctx context.Context, tenantID string, at time.Time, problem *seatsync.Problem) error {
	for range maxTenantUpdates {
		t, etag, err := l.tenant(ctx, tenantID)
		if err != nil {
			return err
		}
		if problem == nil {
			at := at.UTC()
			t.Status, t.LastSyncedAt, t.LastError = seatsync.TenantOK, &at, nil
		} else {
			p := *problem
			t.Status, t.LastError = seatsync.TenantError, &p
		}
		_, err = l.tenants.Replace(ctx, fromTenant(t), etag)
		if errors.Is(err, ErrPrecondition) || errors.Is(err, ErrNotFound) {
			continue
		}
		return err
	}
	return fmt.Errorf("tables: tenant %s kept changing while its sync was recorded", tenantID)
}

func splitList(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

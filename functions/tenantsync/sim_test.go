package tenantsync_test

// End to end on the Microsoft cloud simulator: the real identity, Graph,
// Partner Center and catalog clients, the real fan-out and tables on
// Azurite, and every tenant-sync message delivered to the handler.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatsync/seatsync/functions/tenantsync"
	"github.com/seatsync/seatsync/shared/catalog"
	"github.com/seatsync/seatsync/shared/fanout"
	"github.com/seatsync/seatsync/shared/funchost"
	"github.com/seatsync/seatsync/shared/graph"
	"github.com/seatsync/seatsync/shared/identity"
	"github.com/seatsync/seatsync/shared/mscloudsim"
	"github.com/seatsync/seatsync/shared/mscloudsim/simtest"
	"github.com/seatsync/seatsync/shared/partnercenter"
	"github.com/seatsync/seatsync/shared/seatsync"
	"github.com/seatsync/seatsync/shared/tables"
	"github.com/seatsync/seatsync/shared/tables/tablestest"
)

const (
	// Calls keys of the simulator.
	keyToken   = "login POST /{tenant}/oauth2/v2.0/token"
	keySkus    = "graph GET /v1.0/subscribedSkus"
	keyDirSubs = "graph GET /v1.0/directory/subscriptions"
	keyCount   = "graph GET /v1.0/users/$count"
	keyPCSubs  = "partnercenter GET /v1/customers/{id}/subscriptions"
)

// memQueue keeps the messages sent.
type memQueue struct {
	mu   sync.Mutex
	msgs []seatsync.Message
}

func (q *memQueue) Send(_ context.Context, msgs []seatsync.Message) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.msgs = append(q.msgs, msgs...)
	return nil
}

func (q *memQueue) take() []seatsync.Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	m := q.msgs
	q.msgs = nil
	return m
}

// env is the whole sync on a simulator: fan-out, queue and handler.
type env struct {
	sim      *mscloudsim.Sim
	estate   mscloudsim.Estate
	svc      *tables.Service
	store    *tables.Store
	runs     *tables.Runs
	licences *tables.Licences
	starter  *fanout.Starter
	queue    *memQueue
	handler  *tenantsync.Handler
}

func newEnv(t *testing.T, simOpts mscloudsim.Options, gopts *graph.Options) *env {
	t.Helper()
	sim := mscloudsim.New(simOpts)
	urls, err := sim.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	tokens := simtest.PartnerTokens(t, urls)
	g, err := graph.New(urls.Graph, tokens, gopts)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := partnercenter.New(urls.PartnerCenter, tokens, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := tablestest.Isolated(t)
	if err := svc.EnsureTables(t.Context(), append(tables.AllTables(), tables.LicenceTables()...)...); err != nil {
		t.Fatal(err)
	}
	e := &env{sim: sim, estate: sim.Estate(), svc: svc, store: tables.NewStore(svc), runs: tables.NewRuns(svc),
		licences: tables.NewLicences(svc), queue: &memQueue{}}
	if e.starter, err = fanout.New(fanout.Options{Graph: g, PartnerCenter: pc, Store: e.store, Runs: e.runs, Queue: e.queue}); err != nil {
		t.Fatal(err)
	}
	src := catalog.NewSource(urls.CatalogCSV, svc.Table(tables.CatalogTable), nil)
	if e.handler, err = tenantsync.NewHandler(tenantsync.Options{Graph: g, PartnerCenter: pc, Catalog: src, Licences: e.licences,
		Runs: e.runs, Log: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	return e
}

// startRun starts a run of every tenant and returns it with its messages.
func (e *env) startRun(t *testing.T) (seatsync.Run, []seatsync.Message) {
	t.Helper()
	run, err := e.starter.StartRun(t.Context(), seatsync.TriggerManual, nil)
	if err != nil {
		t.Fatal(err)
	}
	msgs := e.queue.take()
	if len(msgs) != len(e.estate.Tenants) {
		t.Fatalf("run %s sent %d messages for %d tenants", run.RunID, len(msgs), len(e.estate.Tenants))
	}
	return run, msgs
}

// deliver hands every message to the handler, 8 at a time, as delivery n,
// and fails the test for any error.
func (e *env) deliver(t *testing.T, msgs []seatsync.Message, n int) {
	t.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, m := range msgs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := e.handler.Handle(t.Context(), funchost.ServiceBusMessage{Body: m.Body, MessageID: m.ID, DeliveryCount: n}); err != nil {
				t.Errorf("message %s, delivery %d: %v", m.ID, n, err)
			}
		})
	}
	wg.Wait()
}

// tableRows returns the rows of the licence tables and the run results as
// JSON, without the service's Timestamp and ETag and, with noSyncTimes,
// without the times a sync stamps (which a redelivery moves).
func (e *env) tableRows(t *testing.T, noSyncTimes bool) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, tb := range append(tables.LicenceTables(), tables.RunTenantsTable, tables.TenantsTable) {
		for r, err := range e.svc.Table(tb).Query(t.Context(), "") {
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(r.JSON, &m); err != nil {
				t.Fatal(err)
			}
			delete(m, "Timestamp")
			delete(m, "odata.etag")
			if noSyncTimes {
				for _, k := range []string{"SyncedAt", "LastSyncedAt", "FinishedAt"} {
					delete(m, k)
				}
			}
			b, _ := json.Marshal(m)
			out[tb] = append(out[tb], string(b))
		}
	}
	return out
}

func sameRows(t *testing.T, what string, got, want map[string][]string) {
	t.Helper()
	for _, tb := range slices.Sorted(maps.Keys(want)) {
		if !slices.Equal(got[tb], want[tb]) {
			t.Errorf("%s: table %s changed:\n got %d rows %v\nwant %d rows %v", what, tb, len(got[tb]), got[tb], len(want[tb]), want[tb])
		}
	}
}

func trunc(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC().Truncate(time.Second)
	return &t
}

func truncp(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	return trunc(*t)
}

// wantLicenses is a tenant's licences as the simulator holds them.
func wantLicenses(tn mscloudsim.Tenant) []seatsync.License {
	var out []seatsync.License
	for _, k := range tn.SKUs {
		ids := slices.Clone(k.SubscriptionIDs)
		slices.Sort(ids)
		out = append(out, seatsync.License{SkuID: k.SkuID, SkuPartNumber: k.SkuPartNumber, ProductName: k.ProductName,
			Enabled: k.Enabled, Suspended: k.Suspended, Warning: k.Warning, LockedOut: k.LockedOut, Consumed: k.Consumed,
			Available: k.Enabled + k.Warning - k.Consumed, CapabilityStatus: k.CapabilityStatus, AppliesTo: k.AppliesTo,
			SubscriptionIDs: ids})
	}
	slices.SortFunc(out, func(a, b seatsync.License) int { return strings.Compare(a.SkuID, b.SkuID) })
	return out
}

// wantSubscriptions is a tenant's subscriptions as the simulator holds
// them: Graph's, with Partner Center's terms where the partner sold them,
// and Partner Center's that Graph does not list.
func wantSubscriptions(tn mscloudsim.Tenant) map[string]seatsync.Subscription {
	out := map[string]seatsync.Subscription{}
	for _, s := range tn.Subscriptions {
		w := seatsync.Subscription{CommerceSubscriptionID: s.CommerceSubscriptionID, Quantity: s.Quantity, IsTrial: s.IsTrial,
			CreatedAt: trunc(s.CreatedAt)}
		switch {
		case s.InGraph:
			w.SubscriptionID, w.SkuID, w.SkuPartNumber, w.ProductName = s.ID, s.SkuID, s.SkuPartNumber, s.ProductName
			w.Status, w.NextLifecycleAt = s.Status, trunc(s.NextLifecycleAt)
		case s.InPartnerCenter:
			w.ProductName, w.Status = s.OfferName, map[string]string{"active": "Enabled"}[s.PartnerCenterStatus]
		default:
			continue
		}
		if s.InPartnerCenter {
			w.BillingCycle, w.TermDuration = s.BillingCycle, s.TermDuration
			if s.CommitmentEndAt.Year() < 9000 {
				w.CommitmentEndAt = trunc(s.CommitmentEndAt)
			}
			w.AutoRenew = &s.AutoRenew
		}
		out[s.CommerceSubscriptionID] = w
	}
	return out
}

// wantFailure is the code a tenant configured to fail records.
var wantFailure = map[mscloudsim.Failure]string{
	mscloudsim.FailureConsentMissing:      identity.EConsentRequired,
	mscloudsim.FailureMFARequired:         identity.EMFARequired,
	mscloudsim.FailureTokenExpired:        identity.ETokenExpired,
	mscloudsim.FailureTenantNotFound:      identity.ETenantNotFound,
	mscloudsim.FailureNoAdminRelationship: identity.ETenantNotFound,
	mscloudsim.FailureNoRoles:             graph.CodeForbidden,
	mscloudsim.FailureDeleted:             graph.CodeNotFound,
}

// checkEstate compares every tenant's rows with the simulator's truth.
func (e *env) checkEstate(t *testing.T, runID string) (readable, failing int) {
	t.Helper()
	ctx := t.Context()
	estate := e.sim.Estate()
	cov := map[string]int{}
	for _, tn := range estate.Tenants {
		name := fmt.Sprintf("%s (%s, %v, failure %q)", tn.DisplayName, tn.TenantID, tn.Relationships, tn.Failure)
		row, err := e.licences.Tenant(ctx, tn.TenantID)
		if err != nil {
			t.Errorf("%s: tenant row: %v", name, err)
			continue
		}
		res, err := e.runs.Result(ctx, runID, tn.TenantID)
		if err != nil {
			t.Errorf("%s: result: %v", name, err)
			continue
		}
		lics, err := e.licences.Licenses(ctx, tn.TenantID)
		if err != nil {
			t.Fatal(err)
		}
		if tn.Failure != mscloudsim.FailureNone {
			failing++
			code := wantFailure[tn.Failure]
			if row.Status != seatsync.TenantError || row.LastError == nil || row.LastError.Code != code || row.LastSyncedAt != nil {
				t.Errorf("%s: tenant row %+v (lastError %+v), want status error with code %s", name, row, row.LastError, code)
			}
			if res.Status != seatsync.ResultFailed || res.Error == nil || *res.Error != *row.LastError || res.FinishedAt == nil {
				t.Errorf("%s: result %+v, want failed with the tenant's lastError", name, res)
			}
			if len(lics) != 0 {
				t.Errorf("%s: %d licence rows for a tenant that cannot be read", name, len(lics))
			}
			if row.LastError != nil && (row.LastError.Message == "" || strings.Contains(row.LastError.Message, "Bearer")) {
				t.Errorf("%s: lastError message %q", name, row.LastError.Message)
			}
			continue
		}
		readable++
		if row.Status != seatsync.TenantOK || row.LastError != nil || row.LastSyncedAt == nil || !slices.Equal(row.Relationships, tn.Relationships) ||
			row.DisplayName != tn.DisplayName {
			t.Errorf("%s: tenant row %+v", name, row)
		}
		if res.Status != seatsync.ResultSucceeded || res.Error != nil || res.FinishedAt == nil {
			t.Errorf("%s: result %+v", name, res)
		}

		// Licences.
		for i := range lics {
			if row.LastSyncedAt != nil && !lics[i].SyncedAt.Equal(*row.LastSyncedAt) {
				t.Errorf("%s: licence %s synced at %v, tenant at %v", name, lics[i].SkuPartNumber, lics[i].SyncedAt, row.LastSyncedAt)
			}
			lics[i].SyncedAt = time.Time{}
			slices.Sort(lics[i].SubscriptionIDs)
			cov["suspended"] += min(lics[i].Suspended, 1)
			cov["warning"] += min(lics[i].Warning, 1)
			cov["lockedOut"] += min(lics[i].LockedOut, 1)
		}
		if want := wantLicenses(tn); !reflect.DeepEqual(lics, want) {
			t.Errorf("%s: licences\n got %+v\nwant %+v", name, lics, want)
		}
		if tn.OlderShape {
			cov["olderShape"]++
		}

		// Subscriptions.
		subs, err := e.licences.Subscriptions(ctx, tn.TenantID)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]seatsync.Subscription{}
		for _, s := range subs {
			s.CreatedAt, s.NextLifecycleAt, s.CommitmentEndAt = truncp(s.CreatedAt), truncp(s.NextLifecycleAt), truncp(s.CommitmentEndAt)
			got[s.CommerceSubscriptionID] = s
			switch {
			case s.SubscriptionID == "":
				cov["pcOnly"]++
			case s.BillingCycle != "":
				cov["joined"]++
			default:
				cov["graphOnly"]++
			}
		}
		if want := wantSubscriptions(tn); !reflect.DeepEqual(got, want) {
			for _, id := range slices.Sorted(maps.Keys(want)) {
				if !reflect.DeepEqual(got[id], want[id]) {
					t.Errorf("%s: subscription %s\n got %+v\nwant %+v", name, id, got[id], want[id])
				}
			}
			if len(got) != len(want) {
				t.Errorf("%s: %d subscriptions, want %d", name, len(got), len(want))
			}
		}

		// Counts.
		c, ok, err := e.licences.Counts(ctx, tn.TenantID)
		if err != nil || !ok || c.LicensedUsers != tn.Users.Licensed || c.EnabledUsers != tn.Users.EnabledMembers {
			t.Errorf("%s: counts %+v %v %v, want licensed %d, enabled %d", name, c, ok, err, tn.Users.Licensed, tn.Users.EnabledMembers)
		}
	}
	// The comparison saw the estate's interesting cases.
	for _, k := range []string{"suspended", "warning", "lockedOut", "olderShape", "pcOnly", "joined", "graphOnly"} {
		if cov[k] == 0 {
			t.Errorf("the estate gave no %s case to compare", k)
		}
	}
	return readable, failing
}

// pages is how many pages a list of n items takes at size per page.
func pages(n, size int) int { return max(1, (n+size-1)/size) }

// expectedCalls is the minimum a run's syncs need per tenant: one token
// for the tenant; subscribedSkus, directory/subscriptions (per page) and
// users/$count twice (the two counts) for a readable tenant, only
// subscribedSkus for one whose Graph refuses it, none for one that gets no
// token; and Partner Center's subscriptions once for a readable Direct CSP
// customer. The partner's own token is cached from the fan-out.
func expectedCalls(estate mscloudsim.Estate, graphPage int) map[string]int {
	want := map[string]int{}
	add := func(key, tenant string, n int) {
		if n > 0 {
			want[key+" tenant="+tenant] += n
		}
	}
	for _, tn := range estate.Tenants {
		add(keyToken, tn.TenantID, 1)
		switch tn.Failure {
		case mscloudsim.FailureNone:
			inGraph := 0
			for _, s := range tn.Subscriptions {
				if s.InGraph {
					inGraph++
				}
			}
			add(keySkus, tn.TenantID, 1)
			add(keyDirSubs, tn.TenantID, pages(inGraph, graphPage))
			add(keyCount, tn.TenantID, 2)
			if tn.Has(mscloudsim.RelCSP) {
				add(keyPCSubs, tn.TenantID, 1)
			}
		case mscloudsim.FailureNoRoles, mscloudsim.FailureDeleted:
			add(keySkus, tn.TenantID, 1)
		}
	}
	return want
}

// checkCalls compares the per-tenant counters of Graph, Partner Center and
// (withTokens) the token endpoint with want exactly.
func checkCalls(t *testing.T, what string, got, want map[string]int, withTokens bool) {
	t.Helper()
	keys := map[string]bool{}
	for k := range got {
		if strings.Contains(k, " tenant=") && (strings.HasPrefix(k, "graph ") || strings.HasPrefix(k, "partnercenter ") ||
			(withTokens && strings.HasPrefix(k, keyToken))) {
			keys[k] = true
		}
	}
	for k := range want {
		if withTokens || !strings.HasPrefix(k, keyToken) {
			keys[k] = true
		}
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if got[k] != want[k] {
			t.Errorf("%s: %s: %d calls, want %d", what, k, got[k], want[k])
		}
	}
}

// The whole sync of the simulator's 25 tenants: every readable tenant's
// rows equal the truth, every other one records why in an MSP's words and
// completes its message, with the minimum calls per tenant; redelivering
// every message changes nothing; a second run after quantities changed
// logs exactly those changes.
func TestSyncOnSimulator(t *testing.T) {
	const graphPage = 3 // so that some directory/subscriptions lists page
	e := newEnv(t, mscloudsim.Options{Seed: 11, GraphPageSize: graphPage}, nil)
	ctx := t.Context()
	if len(e.estate.Tenants) != mscloudsim.DefaultTenants {
		t.Fatalf("%d tenants", len(e.estate.Tenants))
	}

	run1, msgs := e.startRun(t)
	e.sim.ResetCalls()
	e.deliver(t, msgs, 1)
	checkCalls(t, "first run", e.sim.Calls(), expectedCalls(e.estate, graphPage), true)
	readable, failing := e.checkEstate(t, run1.RunID)
	if readable == 0 || failing == 0 {
		t.Fatalf("%d readable and %d failing tenants; the estate must have both", readable, failing)
	}
	p, err := e.runs.Progress(ctx, run1.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != seatsync.RunPartial || p.TenantsTotal != len(e.estate.Tenants) || p.TenantsSucceeded != readable ||
		p.TenantsFailed != failing || p.FinishedAt == nil {
		t.Errorf("run progress %+v; want partial, %d succeeded, %d failed, finished", p, readable, failing)
	}
	changes, err := e.licences.Changes(ctx, run1.StartedAt, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) == 0 {
		t.Error("the first sync logged no change (every SKU is new)")
	}
	for _, c := range changes {
		if c.From != 0 || c.RunID != run1.RunID {
			t.Errorf("first sync: change %+v is not from 0 in run %s", c, run1.RunID)
		}
	}

	// Redelivering every message: the result is there, so nothing is
	// called and nothing written.
	before := e.tableRows(t, false)
	e.sim.ResetCalls()
	e.deliver(t, msgs, 2)
	checkCalls(t, "redelivery after success", e.sim.Calls(), map[string]int{}, true)
	sameRows(t, "redelivery after success", e.tableRows(t, false), before)

	// A delivery that wrote the rows but died before recording its result
	// (the result reset to pending): the redelivery syncs again and
	// changes nothing but the sync times, and logs no change twice.
	before = e.tableRows(t, true)
	for _, tn := range e.estate.Tenants {
		if _, err := e.svc.Table(tables.RunTenantsTable).Upsert(ctx, map[string]string{"PartitionKey": run1.RunID, "RowKey": tn.TenantID,
			"Status": tables.RunTenantPending}); err != nil {
			t.Fatal(err)
		}
	}
	e.deliver(t, msgs, 3)
	sameRows(t, "redelivery after a crash", e.tableRows(t, true), before)
	again, err := e.licences.Changes(ctx, run1.StartedAt, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, changes) {
		t.Errorf("the change log moved on redelivery: %d changes, then %d", len(changes), len(again))
	}

	// The simulator changes quantities; the second run logs exactly those.
	var want []seatsync.Change
	set := 0
	for _, tn := range e.estate.Tenants {
		if tn.Failure != mscloudsim.FailureNone || set == 3 {
			continue
		}
		var k mscloudsim.SKU
		for _, s := range tn.SKUs {
			if s.Enabled > 1 && s.SkuID != mscloudsim.SKUTeamsExploratory {
				k = s
				break
			}
		}
		if k.SkuID == "" {
			continue
		}
		switch set {
		case 0: // more seats
			e.sim.SetQuantity(tn.TenantID, k.SkuID, k.Enabled+5)
			want = append(want, seatsync.Change{TenantID: tn.TenantID, SkuID: k.SkuID, SkuPartNumber: k.SkuPartNumber, Field: "enabled", From: k.Enabled, To: k.Enabled + 5})
		case 1: // fewer
			e.sim.SetQuantity(tn.TenantID, k.SkuID, 1)
			want = append(want, seatsync.Change{TenantID: tn.TenantID, SkuID: k.SkuID, SkuPartNumber: k.SkuPartNumber, Field: "enabled", From: k.Enabled, To: 1})
		case 2: // a new SKU
			sku := ""
			for _, cand := range []string{mscloudsim.SKUPowerBIPro, mscloudsim.SKUExchangePlan1,
				mscloudsim.SKUO365E3, mscloudsim.SKUM365E3, mscloudsim.SKUBusinessBasic, mscloudsim.SKUBusinessStandard, mscloudsim.SKUBusinessPremium} {
				if !slices.ContainsFunc(tn.SKUs, func(s mscloudsim.SKU) bool { return s.SkuID == cand }) {
					sku = cand
					break
				}
			}
			e.sim.SetQuantity(tn.TenantID, sku, 4)
			nt, _ := e.sim.Estate().Tenant(tn.TenantID)
			i := slices.IndexFunc(nt.SKUs, func(s mscloudsim.SKU) bool { return s.SkuID == sku })
			want = append(want, seatsync.Change{TenantID: tn.TenantID, SkuID: sku, SkuPartNumber: nt.SKUs[i].SkuPartNumber, Field: "enabled", From: 0, To: 4})
		}
		set++
	}
	run2, msgs2 := e.startRun(t)
	e.sim.ResetCalls()
	e.deliver(t, msgs2, 1)
	// The readable tenants' tokens are cached from the first run.
	checkCalls(t, "second run", e.sim.Calls(), expectedCalls(e.sim.Estate(), graphPage), false)
	e.checkEstate(t, run2.RunID)
	got, err := e.licences.Changes(ctx, run2.StartedAt, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if got[i].RunID != run2.RunID || got[i].DetectedAt.Before(run2.StartedAt) {
			t.Errorf("change %+v: not of run %s", got[i], run2.RunID)
		}
		got[i].RunID, got[i].DetectedAt = "", time.Time{}
	}
	key := func(c seatsync.Change) string { return c.TenantID + c.SkuID + c.Field }
	slices.SortFunc(got, func(a, b seatsync.Change) int { return strings.Compare(key(a), key(b)) })
	slices.SortFunc(want, func(a, b seatsync.Change) int { return strings.Compare(key(a), key(b)) })
	if len(want) != 3 || !reflect.DeepEqual(got, want) {
		t.Errorf("second run's changes:\n got %+v\nwant %+v", got, want)
	}
	// And redelivering the second run's messages adds none.
	e.deliver(t, msgs2, 2)
	if again, _ := e.licences.Changes(ctx, run2.StartedAt, time.Time{}); len(again) != len(got) {
		t.Errorf("%d changes after redelivery, %d before", len(again), len(got))
	}
}

// A message for a run or tenant that does not exist fails (to the
// dead-letter queue), without calling Microsoft.
func TestHandleUnknownRunOrTenant(t *testing.T) {
	e := newEnv(t, mscloudsim.Options{Seed: 5, Tenants: 4}, nil)
	run, msgs := e.startRun(t)
	e.sim.ResetCalls()
	body := func(runID, tenantID string) []byte {
		b, _ := json.Marshal(seatsync.TenantSyncMessage{RunID: runID, TenantID: tenantID})
		return b
	}
	var m seatsync.TenantSyncMessage
	if err := json.Unmarshal(msgs[0].Body, &m); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"unknown run":    body("0f8fad5b-d9cb-469f-a165-0000000000ff", m.TenantID),
		"unknown tenant": body(run.RunID, "7d0a4a4e-2f1c-4c3e-9b55-3a1f2e6c8b10"),
	} {
		err := e.handler.Handle(t.Context(), funchost.ServiceBusMessage{Body: b, MessageID: "x", DeliveryCount: 1})
		if seatsync.ErrorCode(err) != seatsync.ENotFound {
			t.Errorf("%s: %v, want not_found", name, err)
		}
	}
	for k, n := range e.sim.Calls() {
		if n != 0 {
			t.Errorf("%s: %d calls", k, n)
		}
	}
}

// A transient failure (Graph answering 503, or 429, beyond the client's
// retry budget) fails the invocation so that the message comes again, and
// records nothing; on the last delivery it is recorded, in words an MSP can
// act on, and the message completed. Other tenants are not affected.
func TestTransientFailures(t *testing.T) {
	for _, c := range []struct {
		name string
		kind mscloudsim.FaultKind
		code string
		says string
	}{
		{"unavailable", mscloudsim.FaultUnavailable, graph.CodeUnavailable, "Microsoft Graph was unavailable for this tenant on each of 10 attempts"},
		{"throttled", mscloudsim.FaultThrottle, graph.CodeThrottled, "Microsoft Graph kept throttling seatsync's requests for this tenant beyond the retry budget (10 attempts)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, mscloudsim.Options{Seed: 5, Tenants: 6}, nil)
			ctx := t.Context()
			run, msgs := e.startRun(t)
			var victim seatsync.Message
			var victimID string
			for _, m := range msgs {
				var tm seatsync.TenantSyncMessage
				_ = json.Unmarshal(m.Body, &tm)
				if tn, _ := e.estate.Tenant(tm.TenantID); tn.Failure == mscloudsim.FailureNone {
					victim, victimID = m, tm.TenantID
					break
				}
			}
			// One call gives up after its first try and 10 retries.
			const perCall = 11
			e.sim.Inject(mscloudsim.Fault{Endpoint: keySkus, Tenant: victimID, Kind: c.kind, Count: 2 * perCall, RetryAfter: "0.001"})

			err := e.handler.Handle(ctx, funchost.ServiceBusMessage{Body: victim.Body, MessageID: victim.ID, DeliveryCount: 1})
			if err == nil || seatsync.ErrorCode(err) != c.code {
				t.Fatalf("first delivery: %v; want an error with code %s", err, c.code)
			}
			if res, _ := e.runs.Result(ctx, run.RunID, victimID); res.Status != seatsync.ResultPending {
				t.Errorf("result after a transient failure: %+v", res)
			}
			if row, _ := e.licences.Tenant(ctx, victimID); row.Status != seatsync.TenantPending || row.LastError != nil {
				t.Errorf("tenant row after a transient failure: %+v", row)
			}

			// The others are synced meanwhile.
			var others []seatsync.Message
			for _, m := range msgs {
				if m.ID != victim.ID {
					others = append(others, m)
				}
			}
			e.deliver(t, others, 1)

			// The last delivery records it.
			err = e.handler.Handle(ctx, funchost.ServiceBusMessage{Body: victim.Body, MessageID: victim.ID, DeliveryCount: tenantsync.DefaultMaxDeliveries})
			if err != nil {
				t.Fatalf("last delivery: %v; want the failure recorded and the message completed", err)
			}
			res, err := e.runs.Result(ctx, run.RunID, victimID)
			if err != nil || res.Status != seatsync.ResultFailed || res.Error == nil || res.Error.Code != c.code || !strings.Contains(res.Error.Message, c.says) {
				t.Errorf("result after the last delivery: %+v (%+v), %v", res, res.Error, err)
			}
			row, _ := e.licences.Tenant(ctx, victimID)
			if row.Status != seatsync.TenantError || row.LastError == nil || *row.LastError != *res.Error {
				t.Errorf("tenant row after the last delivery: %+v", row)
			}
			p, err := e.runs.Progress(ctx, run.RunID)
			if err != nil || p.FinishedAt == nil || p.TenantsFailed == 0 || p.TenantsSucceeded+p.TenantsFailed != p.TenantsTotal {
				t.Errorf("run after the last delivery: %+v, %v", p, err)
			}
			if calls := e.sim.Calls()[keySkus+" tenant="+victimID]; calls != 2*perCall {
				t.Errorf("%d subscribedSkus calls for the tenant, want %d", calls, 2*perCall)
			}
		})
	}
}

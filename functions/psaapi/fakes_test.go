package psaapi_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatsync/seatsync/functions/psaapi"
	"github.com/seatsync/seatsync/shared/logctx"
	"github.com/seatsync/seatsync/shared/seatsync"
)

// fakeLicences answers from its maps and records every call as a line
// such as "LicensesAt aaaa… 2026-03-01T00:00:00Z".
type fakeLicences struct {
	mu       sync.Mutex
	tenants  map[string]seatsync.Tenant
	licenses map[string][]seatsync.License
	at       map[string][]seatsync.License // by day (YYYY-MM-DD), any tenant
	all      []seatsync.License
	subs     map[string][]seatsync.Subscription
	counts   map[string]seatsync.UserCounts
	changes  []seatsync.Change
	// err, when set, is what every method but Tenant returns.
	err   error
	calls []string
}

var _ psaapi.Licences = (*fakeLicences)(nil)

func (f *fakeLicences) record(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeLicences) Tenant(_ context.Context, id string) (seatsync.Tenant, error) {
	f.record("Tenant %s", id)
	t, ok := f.tenants[id]
	if !ok {
		return seatsync.Tenant{}, seatsync.Errorf(seatsync.ENotFound, "No customer tenant has the id %s.", id)
	}
	return t, nil
}

func (f *fakeLicences) Licenses(_ context.Context, id string) ([]seatsync.License, error) {
	f.record("Licenses %s", id)
	return clone(f.licenses[id]), f.err
}

func (f *fakeLicences) LicensesAt(_ context.Context, id string, day time.Time) ([]seatsync.License, error) {
	f.record("LicensesAt %s %s", id, day.Format(time.RFC3339Nano))
	return clone(f.at[day.Format(time.DateOnly)]), f.err
}

func (f *fakeLicences) AllLicenses(_ context.Context, tenantID, skuID string) ([]seatsync.License, error) {
	f.record("AllLicenses tenant=%s sku=%s", tenantID, skuID)
	var out []seatsync.License
	for _, l := range f.all {
		if (tenantID == "" || l.TenantID == tenantID) && (skuID == "" || l.SkuID == skuID) {
			out = append(out, l)
		}
	}
	return out, f.err
}

func (f *fakeLicences) Subscriptions(_ context.Context, id string) ([]seatsync.Subscription, error) {
	f.record("Subscriptions %s", id)
	return clone(f.subs[id]), f.err
}

func (f *fakeLicences) Counts(_ context.Context, id string) (seatsync.UserCounts, bool, error) {
	f.record("Counts %s", id)
	c, ok := f.counts[id]
	return c, ok, f.err
}

func (f *fakeLicences) Changes(_ context.Context, since, until time.Time) ([]seatsync.Change, error) {
	f.record("Changes %s %s", since.Format(time.RFC3339Nano), until.Format(time.RFC3339Nano))
	return clone(f.changes), f.err
}

func clone[T any](s []T) []T {
	if s == nil {
		return nil
	}
	return append([]T{}, s...)
}

// fakeRuns answers from runs and latest.
type fakeRuns struct {
	mu        sync.Mutex
	runs      map[string]seatsync.Run
	latest    string
	latestErr error
	err       error // returned by Progress when set
	calls     []string
}

var _ psaapi.Runs = (*fakeRuns)(nil)

func (f *fakeRuns) Progress(_ context.Context, id string) (seatsync.Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "Progress "+id)
	if f.err != nil {
		return seatsync.Run{}, f.err
	}
	r, ok := f.runs[id]
	if !ok {
		return seatsync.Run{}, seatsync.Errorf(seatsync.ENotFound, "No sync run has that id.")
	}
	return r, nil
}

func (f *fakeRuns) LatestID(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "LatestID")
	return f.latest, f.latestErr
}

// fakeStarter returns run and err, and records each call.
type fakeStarter struct {
	mu    sync.Mutex
	run   seatsync.Run
	err   error
	calls []startCall
}

type startCall struct {
	trigger string
	ids     []string
}

var _ seatsync.RunStarter = (*fakeStarter)(nil)

func (f *fakeStarter) StartRun(_ context.Context, trigger string, ids []string) (seatsync.Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, startCall{trigger, ids})
	return f.run, f.err
}

// The fixtures: tenant A has every field set, tenant B is bare (nulls,
// nil slices, never synced).
const (
	tenantA = "aaaaaaaa-0000-4000-8000-000000000001"
	tenantB = "bbbbbbbb-0000-4000-8000-000000000002"
	tenantC = "cccccccc-0000-4000-8000-000000000003" // not a tenant
	skuE3   = "6fd2c87f-b296-42f0-b197-1e91e994b900"
	skuBP   = "f245ecc8-75af-4f8e-b61f-27d8114de5f3"
	runDone = "11111111-2222-4333-8444-555555555555"
	runLive = "66666666-7777-4888-9999-000000000000"
)

// now is the tests' clock.
var now = time.Date(2026, 3, 15, 10, 30, 0, 0, time.UTC)

var (
	synced = time.Date(2026, 3, 15, 2, 0, 5, 123000000, time.UTC)

	fullTenant = seatsync.Tenant{TenantID: tenantA, DisplayName: "Contoso", DefaultDomain: "contoso.onmicrosoft.com",
		Relationships: []string{seatsync.RelationshipGDAP, seatsync.RelationshipCSP}, Active: true, Status: seatsync.TenantError,
		LastSyncedAt: &synced, LastError: &seatsync.Problem{Code: "gdap_roles", Message: "The GDAP relationship lacks the Global Reader role."}}
	bareTenant = seatsync.Tenant{TenantID: tenantB, DisplayName: "", DefaultDomain: "fabrikam.example", Status: seatsync.TenantPending}

	licE3 = seatsync.License{TenantID: tenantA, TenantName: "Contoso", SkuID: skuE3, SkuPartNumber: "ENTERPRISEPACK",
		ProductName: "Office 365 E3", Enabled: 25, Suspended: 1, Warning: 2, LockedOut: 3, Consumed: 27, Available: -2,
		CapabilityStatus: "Enabled", AppliesTo: "User", SubscriptionIDs: []string{"sub-1", "sub-2"}, SyncedAt: synced}
	licBP = seatsync.License{TenantID: tenantA, TenantName: "Contoso", SkuID: skuBP, SkuPartNumber: "O365_BUSINESS_PREMIUM",
		ProductName: "Microsoft 365 Business Standard", Enabled: 10, Consumed: 4, Available: 6,
		CapabilityStatus: "Warning", AppliesTo: "User", SyncedAt: synced} // SubscriptionIDs nil
	licB = seatsync.License{TenantID: tenantB, TenantName: "", SkuID: skuE3, SkuPartNumber: "ENTERPRISEPACK",
		ProductName: "Office 365 E3", Enabled: 5, Consumed: 5, CapabilityStatus: "Enabled", AppliesTo: "User",
		SubscriptionIDs: []string{}, SyncedAt: synced}

	fullSub = seatsync.Subscription{SubscriptionID: "sub-1", CommerceSubscriptionID: "9c1a3c8e-0000-4000-8000-00000000000a",
		SkuID: skuE3, SkuPartNumber: "ENTERPRISEPACK", ProductName: "Office 365 E3", Quantity: 20, Status: "Enabled",
		CreatedAt: ptr(synced.AddDate(-1, 0, 0)), NextLifecycleAt: ptr(synced.AddDate(0, 6, 0)),
		BillingCycle: "annual", TermDuration: "P1Y", CommitmentEndAt: ptr(synced.AddDate(0, 6, 0)), AutoRenew: ptr(false)}
	bareSub = seatsync.Subscription{SubscriptionID: "sub-2", SkuID: skuE3, SkuPartNumber: "ENTERPRISEPACK",
		ProductName: "Office 365 E3", Quantity: 5, Status: "Warning", IsTrial: true}

	counts = seatsync.UserCounts{LicensedUsers: 31, EnabledUsers: 40, SyncedAt: synced}

	change1 = seatsync.Change{TenantID: tenantA, SkuID: skuE3, SkuPartNumber: "ENTERPRISEPACK", Field: "consumed",
		From: 26, To: 27, DetectedAt: synced, RunID: runDone}
	change0 = seatsync.Change{TenantID: tenantA, SkuID: skuBP, SkuPartNumber: "O365_BUSINESS_PREMIUM", Field: "enabled",
		From: 12, To: 10, DetectedAt: synced.AddDate(0, 0, -1), RunID: runLive}

	finished     = synced.Add(5 * time.Minute)
	doneRunValue = seatsync.Run{RunID: runDone, Trigger: seatsync.TriggerSchedule, Status: seatsync.RunPartial,
		StartedAt: synced, FinishedAt: &finished, TenantsTotal: 2, TenantsSucceeded: 1, TenantsFailed: 1}
	liveRunValue = seatsync.Run{RunID: runLive, Trigger: seatsync.TriggerManual, Status: seatsync.RunRunning,
		StartedAt: now, TenantsTotal: 25}
)

func newLicences() *fakeLicences {
	return &fakeLicences{
		tenants:  map[string]seatsync.Tenant{tenantA: fullTenant, tenantB: bareTenant},
		licenses: map[string][]seatsync.License{tenantA: {licE3, licBP}},
		at:       map[string][]seatsync.License{"2026-03-01": {licE3}},
		all:      []seatsync.License{licE3, licBP, licB},
		subs:     map[string][]seatsync.Subscription{tenantA: {fullSub, bareSub}},
		counts:   map[string]seatsync.UserCounts{tenantA: counts},
		changes:  []seatsync.Change{change1, change0},
	}
}

// newFullAPI is the API with every part, fixtures and the tests' clock.
func newFullAPI() *testAPI {
	a := newAPI(&fakeStore{
		conn: seatsync.Connection{Status: seatsync.Connected, PartnerTenantID: tenantC, ConsentedBy: "admin@partner.example",
			ConsentedAt: &synced, CredentialsValidated: true, ValidatedAt: &synced, RefreshTokenExpiresAt: &finished,
			LastError: &seatsync.Problem{Code: "x", Message: "y"}},
		tenants: func(int, string) ([]seatsync.Tenant, string, error) {
			return []seatsync.Tenant{fullTenant, bareTenant}, "next-page", nil
		},
	}, nil)
	a.lic = newLicences()
	a.runs = &fakeRuns{runs: map[string]seatsync.Run{runDone: doneRunValue, runLive: liveRunValue}, latest: runLive}
	a.starter = &fakeStarter{run: liveRunValue}
	var buf bytes.Buffer
	a.log = &buf
	a.api = psaapi.New(a.store, logctx.NewJSON(&buf, slog.LevelDebug), &psaapi.Options{
		Licences: a.lic, Runs: a.runs, Starter: a.starter, Now: func() time.Time { return now },
	})
	return a
}

// send serves one request with a body and header pairs ("Name", "value", …).
func (a *testAPI) send(method, target, body string, header ...string) *httptest.ResponseRecorder {
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, target, nil)
	} else {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	a.api.ServeHTTP(rec, r)
	return rec
}

// noCalls asserts that no part was asked anything.
func (a *testAPI) noCalls(t *testing.T) {
	t.Helper()
	if a.lic != nil && len(a.lic.calls) > 0 {
		t.Errorf("licences called: %v", a.lic.calls)
	}
	if a.runs != nil && len(a.runs.calls) > 0 {
		t.Errorf("runs called: %v", a.runs.calls)
	}
	if a.starter != nil && len(a.starter.calls) > 0 {
		t.Errorf("starter called: %v", a.starter.calls)
	}
}

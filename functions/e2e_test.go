package main

// End to end: the real seatsync binary (`seatsync serve`) against the
// Microsoft cloud simulator and the test Azurite. The partner consents over
// plain HTTP (the simulator's sim_auto_consent skips its page), runs are
// started with POST /api/v1/sync, and every API route is compared with the
// simulator's truth.

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seatsync/seatsync/functions/psaapi"
	"github.com/seatsync/seatsync/shared/fanout"
	"github.com/seatsync/seatsync/shared/graph"
	"github.com/seatsync/seatsync/shared/identity"
	"github.com/seatsync/seatsync/shared/mscloudsim"
	"github.com/seatsync/seatsync/shared/seatsync"
	"github.com/seatsync/seatsync/shared/tables"
	"github.com/seatsync/seatsync/shared/tables/tablestest"
)

// Calls keys of the simulator.
const (
	e2eKeyToken   = "login POST /{tenant}/oauth2/v2.0/token"
	e2eKeySkus    = "graph GET /v1.0/subscribedSkus"
	e2eKeyDirSubs = "graph GET /v1.0/directory/subscriptions"
	e2eKeyCount   = "graph GET /v1.0/users/$count"
	e2eKeyPCSubs  = "partnercenter GET /v1/customers/{id}/subscriptions"
)

// e2eWantFailure is the lastError code of a tenant the simulator
// configures to fail.
var e2eWantFailure = map[mscloudsim.Failure]string{
	mscloudsim.FailureConsentMissing:      identity.EConsentRequired,
	mscloudsim.FailureMFARequired:         identity.EMFARequired,
	mscloudsim.FailureTokenExpired:        identity.ETokenExpired,
	mscloudsim.FailureTenantNotFound:      identity.ETenantNotFound,
	mscloudsim.FailureNoAdminRelationship: identity.ETenantNotFound,
	mscloudsim.FailureNoRoles:             graph.CodeForbidden, // no_gdap_access
	mscloudsim.FailureDeleted:             graph.CodeNotFound,
}

// e2e is a simulator and a `seatsync serve` on tables of their own.
type e2e struct {
	sim     *mscloudsim.Sim
	urls    mscloudsim.URLs
	bin     string
	cs      string
	prefix  string
	queue   string
	dataDir string
	env     map[string]string
	proc    *seatsyncProc
	base    string
	key     string
}

func newE2E(t *testing.T, bin string, simOpts mscloudsim.Options, concurrency int) *e2e {
	t.Helper()
	cs := tablestest.ConnectionString(t)
	sim := mscloudsim.New(simOpts)
	urls, err := sim.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	e := &e2e{sim: sim, urls: urls, bin: bin, cs: cs, prefix: tablestest.Name("ee"), queue: tablestest.Name("eeq"), dataDir: t.TempDir()}
	e.env = map[string]string{
		envTablesConnString: cs, envTablePrefix: e.prefix, envQueue: e.queue, envDataDir: e.dataDir,
		envLoginURL: urls.Login, envGraphURL: urls.Graph, envPartnerCenterURL: urls.PartnerCenter, envSKUCatalogURL: urls.CatalogCSV,
		envClientID: mscloudsim.DefaultClientID, envClientSecret: mscloudsim.DefaultClientSecret,
		envSyncConcurrency: strconv.Itoa(concurrency),
		// Midnight on 1 January: the nightly timer stays out of the way.
		envSyncSchedule: "0 0 0 1 1 *",
	}
	e.start(t)
	return e
}

// start runs `seatsync serve` on a new port, on the same tables and data
// directory as before.
func (e *e2e) start(t *testing.T) {
	t.Helper()
	port := freePort(t)
	e.base = fmt.Sprintf("http://127.0.0.1:%d", port)
	env := maps.Clone(e.env)
	env[envListen] = fmt.Sprintf("127.0.0.1:%d", port)
	env[envPublicURL] = e.base
	e.proc = startSeatsync(t, e.bin, env, "serve")
	e.proc.waitListening(t, port)
	e.key = strings.TrimSpace(string(mustRead(t, filepath.Join(e.dataDir, apiKeyFile))))
}

// svc is a client of the serve's tables.
func (e *e2e) svc(t *testing.T) *tables.Service {
	t.Helper()
	svc, err := tables.NewFromConnectionString(e.cs, &tables.Options{TablePrefix: e.prefix})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func (e *e2e) do(t *testing.T, method, path string, body []byte) httpResult {
	t.Helper()
	return httpDo(t, method, e.base+path, http.Header{"X-Functions-Key": {e.key}}, body)
}

// getJSON GETs path, wants 200 and JSON, and decodes it into v.
func (e *e2e) getJSON(t *testing.T, path string, v any) httpResult {
	t.Helper()
	r := e.do(t, "GET", path, nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: status %d; body %s", path, r.status, r.body)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("GET %s: %v; body %s", path, err, r.body)
	}
	return r
}

// consent is the partner's first step over plain HTTP: /api/consent
// redirects to the simulator's authorize endpoint, sim_auto_consent=1 skips
// its page and redirects to the callback with code and state, and the
// callback (with the consent cookie) connects and starts the first run.
func (e *e2e) consent(t *testing.T) {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string, want int) *http.Response {
		t.Helper()
		resp, err := c.Get(u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("GET %s: status %d, want %d; body:\n%s\nseatsync stdout:\n%s", u, resp.StatusCode, want, b.String(), e.proc.stdout)
		}
		if want == http.StatusOK {
			page := strings.ToLower(b.String())
			if !strings.Contains(page, "connected") || !strings.Contains(page, "validated") || !strings.Contains(page, "first sync run") {
				t.Fatalf("the page after consent does not say connected, validated and the first run:\n%s", b.String())
			}
		}
		return resp
	}
	authorize := get(e.base+"/api/consent?code="+url.QueryEscape(e.key), http.StatusFound).Header.Get("Location")
	if !strings.HasPrefix(authorize, e.urls.Login+"/") {
		t.Fatalf("consent redirects to %q, not the simulator's sign-in", authorize)
	}
	callback := get(authorize+"&sim_auto_consent=1", http.StatusFound).Header.Get("Location")
	if !strings.HasPrefix(callback, e.base+"/api/consent/callback?") {
		t.Fatalf("the sign-in redirects to %q, not seatsync's callback", callback)
	}
	get(callback, http.StatusOK)

	var conn seatsync.Connection
	e.getJSON(t, "/api/v1/connection", &conn)
	if conn.Status != seatsync.Connected || !conn.CredentialsValidated || conn.PartnerTenantID != e.sim.Estate().Partner.TenantID {
		t.Fatalf("connection after consent: %+v", conn)
	}
}

// latestRun is GET /sync/runs/latest.
func (e *e2e) latestRun(t *testing.T) seatsync.Run {
	t.Helper()
	var run seatsync.Run
	e.getJSON(t, "/api/v1/sync/runs/latest", &run)
	return run
}

// startSync is POST /sync: 202, the run, its Location.
func (e *e2e) startSync(t *testing.T) seatsync.Run {
	t.Helper()
	r := e.do(t, "POST", "/api/v1/sync", nil)
	r.wantJSON(t, http.StatusAccepted)
	var run seatsync.Run
	if err := json.Unmarshal(r.body, &run); err != nil || !seatsync.IsGUID(run.RunID) {
		t.Fatalf("POST /sync: body %s (%v)", r.body, err)
	}
	if run.Trigger != seatsync.TriggerManual || run.Status != seatsync.RunRunning || run.StartedAt.IsZero() {
		t.Errorf("POST /sync: run %+v, want a running manual run", run)
	}
	if loc := r.header.Get("Location"); loc != "/api/v1/sync/runs/"+run.RunID {
		t.Errorf("POST /sync: Location %q", loc)
	}
	return run
}

// waitRun polls the run until it is no longer running.
func (e *e2e) waitRun(t *testing.T, runID string, timeout time.Duration) seatsync.Run {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var run seatsync.Run
		e.getJSON(t, "/api/v1/sync/runs/"+runID, &run)
		if run.Status != seatsync.RunRunning {
			return run
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s still running after %v: %+v\nseatsync stdout (tail):\n%s", runID, timeout, run, tail(e.proc.stdout.String(), 4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// wantRunTotals checks a finished run against the estate: every tenant
// counted, the readable ones succeeded, the failing ones failed, partial.
func wantRunTotals(t *testing.T, what string, run seatsync.Run, estate mscloudsim.Estate, active int) {
	t.Helper()
	readable, failing := 0, 0
	for _, tn := range estate.Tenants {
		if tn.Failure == mscloudsim.FailureNone {
			readable++
		} else {
			failing++
		}
	}
	if run.Status != seatsync.RunPartial || run.TenantsTotal != active || run.TenantsSucceeded != readable ||
		run.TenantsFailed != failing || run.FinishedAt == nil {
		t.Errorf("%s: run %+v; want partial, %d tenants, %d succeeded, %d failed, finished", what, run, active, readable, failing)
	}
}

// jsonLines parses a log as JSON lines (logRecords would also flag an
// error object's own tenantId as a repeated key).
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for line := range strings.Lines(out) {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Errorf("log line is not JSON: %q", line)
			continue
		}
		recs = append(recs, r)
	}
	return recs
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

type apiList[T any] struct {
	Value    []T    `json:"value"`
	NextLink string `json:"nextLink"`
}

// e2eWantLicenses is a tenant's licences as the simulator holds them, with
// the product names of the catalog.
func e2eWantLicenses(tn mscloudsim.Tenant) []seatsync.License {
	names := map[string]string{}
	for _, p := range mscloudsim.Products() {
		names[p.SkuID] = p.Name
	}
	var out []seatsync.License
	for _, k := range tn.SKUs {
		var ids []string
		if len(k.SubscriptionIDs) > 0 {
			ids = slices.Sorted(slices.Values(k.SubscriptionIDs))
		}
		out = append(out, seatsync.License{SkuID: k.SkuID, SkuPartNumber: k.SkuPartNumber, ProductName: names[k.SkuID],
			Enabled: k.Enabled, Suspended: k.Suspended, Warning: k.Warning, LockedOut: k.LockedOut, Consumed: k.Consumed,
			Available: k.Enabled + k.Warning - k.Consumed, CapabilityStatus: k.CapabilityStatus, AppliesTo: k.AppliesTo,
			SubscriptionIDs: ids})
	}
	slices.SortFunc(out, func(a, b seatsync.License) int { return strings.Compare(a.SkuID, b.SkuID) })
	return out
}

func e2eTrunc(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC().Truncate(time.Second)
	return &t
}

func e2eTruncp(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	return e2eTrunc(*t)
}

// e2eWantSubscriptions is a tenant's subscriptions as the simulator holds
// them: Graph's, with Partner Center's terms where the partner sold them,
// and Partner Center's that Graph does not list (as tenantsync's
// sim_test compares them).
func e2eWantSubscriptions(tn mscloudsim.Tenant) map[string]seatsync.Subscription {
	out := map[string]seatsync.Subscription{}
	for _, s := range tn.Subscriptions {
		w := seatsync.Subscription{CommerceSubscriptionID: s.CommerceSubscriptionID, Quantity: s.Quantity, IsTrial: s.IsTrial,
			CreatedAt: e2eTrunc(s.CreatedAt)}
		switch {
		case s.InGraph:
			w.SubscriptionID, w.SkuID, w.SkuPartNumber, w.ProductName = s.ID, s.SkuID, s.SkuPartNumber, s.ProductName
			w.Status, w.NextLifecycleAt = s.Status, e2eTrunc(s.NextLifecycleAt)
		case s.InPartnerCenter:
			w.ProductName, w.Status = s.OfferName, map[string]string{"active": "Enabled"}[s.PartnerCenterStatus]
		default:
			continue
		}
		if s.InPartnerCenter {
			w.BillingCycle, w.TermDuration = s.BillingCycle, s.TermDuration
			if s.CommitmentEndAt.Year() < 9000 {
				w.CommitmentEndAt = e2eTrunc(s.CommitmentEndAt)
			}
			w.AutoRenew = &s.AutoRenew
		}
		out[s.CommerceSubscriptionID] = w
	}
	return out
}

// checkTruth compares every route with the simulator's truth: /tenants,
// each tenant's licences, subscriptions and counts, and the CSV of every
// licence. It returns the current licences of each readable tenant.
func (e *e2e) checkTruth(t *testing.T, estate mscloudsim.Estate) map[string][]seatsync.License {
	t.Helper()
	var tl apiList[seatsync.Tenant]
	e.getJSON(t, "/api/v1/tenants", &tl)
	if tl.NextLink != "" || len(tl.Value) != len(estate.Tenants) {
		t.Errorf("/tenants: %d tenants (nextLink %q), want %d", len(tl.Value), tl.NextLink, len(estate.Tenants))
	}
	rows := map[string]seatsync.Tenant{}
	for _, r := range tl.Value {
		rows[r.TenantID] = r
	}
	current := map[string][]seatsync.License{}
	cov := map[string]int{}
	wantCSV := map[string]seatsync.License{}
	for _, tn := range estate.Tenants {
		name := fmt.Sprintf("%s (%s, %v, failure %q)", tn.DisplayName, tn.TenantID, tn.Relationships, tn.Failure)
		row, ok := rows[tn.TenantID]
		if !ok {
			t.Errorf("%s: not in /tenants", name)
			continue
		}
		// The domain comes from the DAP contract or Partner Center, both
		// of which give the initial (onmicrosoft.com) domain; GDAP gives
		// none.
		domain := ""
		if tn.Has(mscloudsim.RelDAP) || tn.Has(mscloudsim.RelCSP) {
			domain = tn.InitialDomain
		}
		if !row.Active || row.DisplayName != tn.DisplayName || row.DefaultDomain != domain || !slices.Equal(row.Relationships, tn.Relationships) {
			t.Errorf("%s: /tenants row %+v, want active, name %q, domain %q, relationships %v", name, row, tn.DisplayName, domain, tn.Relationships)
		}
		var one seatsync.Tenant
		e.getJSON(t, "/api/v1/tenants/"+tn.TenantID, &one)
		if !reflect.DeepEqual(one, row) {
			t.Errorf("%s: /tenants/{id} %+v, /tenants %+v", name, one, row)
		}
		var lics apiList[seatsync.License]
		e.getJSON(t, "/api/v1/tenants/"+tn.TenantID+"/licenses", &lics)
		var subs apiList[seatsync.Subscription]
		e.getJSON(t, "/api/v1/tenants/"+tn.TenantID+"/subscriptions", &subs)
		counts := e.do(t, "GET", "/api/v1/tenants/"+tn.TenantID+"/counts", nil)

		if tn.Failure != mscloudsim.FailureNone {
			code := e2eWantFailure[tn.Failure]
			if row.Status != seatsync.TenantError || row.LastError == nil || row.LastError.Code != code || row.LastError.Message == "" || row.LastSyncedAt != nil {
				t.Errorf("%s: /tenants row %+v (lastError %+v), want status error with code %s", name, row, row.LastError, code)
			}
			if len(lics.Value) != 0 || len(subs.Value) != 0 {
				t.Errorf("%s: %d licences and %d subscriptions for a tenant that cannot be read", name, len(lics.Value), len(subs.Value))
			}
			counts.wantError(t, http.StatusNotFound, "not_found")
			cov[code]++
			continue
		}
		if row.Status != seatsync.TenantOK || row.LastError != nil || row.LastSyncedAt == nil {
			t.Errorf("%s: /tenants row %+v (lastError %+v), want ok", name, row, row.LastError)
		}

		// Licences.
		// As served, for ?at= to compare with (the checks below edit them).
		current[tn.TenantID] = slices.Clone(lics.Value)
		for i := range current[tn.TenantID] {
			current[tn.TenantID][i].SubscriptionIDs = slices.Clone(lics.Value[i].SubscriptionIDs)
		}
		got := lics.Value
		for i := range got {
			if row.LastSyncedAt != nil && !got[i].SyncedAt.Equal(*row.LastSyncedAt) {
				t.Errorf("%s: licence %s synced at %v, the tenant at %v", name, got[i].SkuPartNumber, got[i].SyncedAt, row.LastSyncedAt)
			}
			if got[i].TenantID != "" || got[i].TenantName != "" {
				t.Errorf("%s: licence %s repeats the tenant", name, got[i].SkuID)
			}
			got[i].SyncedAt = time.Time{}
			if len(got[i].SubscriptionIDs) == 0 {
				got[i].SubscriptionIDs = nil
			}
			slices.Sort(got[i].SubscriptionIDs)
			wl := got[i]
			wl.TenantID, wl.TenantName = tn.TenantID, tn.DisplayName
			wantCSV[tn.TenantID+"/"+got[i].SkuID] = wl
		}
		want := e2eWantLicenses(tn)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: licences\n got %+v\nwant %+v", name, got, want)
		}
		for _, k := range tn.SKUs {
			if k.ProductName == "" || k.ProductName == k.SkuPartNumber {
				t.Errorf("%s: the simulator's SKU %s has no real product name", name, k.SkuPartNumber)
			}
		}

		// Subscriptions.
		gotSubs := map[string]seatsync.Subscription{}
		for _, s := range subs.Value {
			s.CreatedAt, s.NextLifecycleAt, s.CommitmentEndAt = e2eTruncp(s.CreatedAt), e2eTruncp(s.NextLifecycleAt), e2eTruncp(s.CommitmentEndAt)
			gotSubs[s.CommerceSubscriptionID] = s
			switch {
			case s.SubscriptionID == "":
				cov["pcOnly"]++
			case s.BillingCycle != "":
				cov["joined"]++
			default:
				cov["graphOnly"]++
			}
		}
		if len(gotSubs) != len(subs.Value) {
			t.Errorf("%s: %d subscriptions with %d commerce ids", name, len(subs.Value), len(gotSubs))
		}
		if wantSubs := e2eWantSubscriptions(tn); !reflect.DeepEqual(gotSubs, wantSubs) {
			for _, id := range slices.Sorted(maps.Keys(wantSubs)) {
				if !reflect.DeepEqual(gotSubs[id], wantSubs[id]) {
					t.Errorf("%s: subscription %s\n got %+v\nwant %+v", name, id, gotSubs[id], wantSubs[id])
				}
			}
			if len(gotSubs) != len(wantSubs) {
				t.Errorf("%s: %d subscriptions, want %d", name, len(gotSubs), len(wantSubs))
			}
		}

		// Counts.
		counts.wantJSON(t, http.StatusOK)
		var c seatsync.UserCounts
		if err := json.Unmarshal(counts.body, &c); err != nil || c.LicensedUsers != tn.Users.Licensed || c.EnabledUsers != tn.Users.EnabledMembers || c.SyncedAt.IsZero() {
			t.Errorf("%s: counts %s (%v), want licensed %d, enabled %d", name, counts.body, err, tn.Users.Licensed, tn.Users.EnabledMembers)
		}
		cov["readable"]++
	}
	for _, k := range []string{"readable", "pcOnly", "joined", "graphOnly", graph.CodeForbidden} {
		if cov[k] == 0 {
			t.Errorf("the estate gave no %s case to compare", k)
		}
	}

	// GET /licenses?format=csv: one row per (tenant, SKU) of the readable
	// tenants, the same numbers as the tenant routes.
	r := e.do(t, "GET", "/api/v1/licenses?format=csv", nil)
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("/licenses?format=csv: %d %q", r.status, r.header.Get("Content-Type"))
	}
	recs, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
	if err != nil || len(recs) == 0 {
		t.Fatalf("/licenses?format=csv: %v\n%s", err, r.body)
	}
	if !slices.Equal(recs[0], psaapi.CSVColumns) {
		t.Errorf("CSV header %v", recs[0])
	}
	seen := map[string]bool{}
	for _, rec := range recs[1:] {
		if len(rec) != len(psaapi.CSVColumns) {
			t.Errorf("CSV row %v", rec)
			continue
		}
		k := rec[0] + "/" + rec[2]
		w, ok := wantCSV[k]
		if !ok || seen[k] {
			t.Errorf("CSV row for %s: unexpected or repeated", k)
			continue
		}
		seen[k] = true
		want := []string{w.TenantID, w.TenantName, w.SkuID, w.SkuPartNumber, w.ProductName, strconv.Itoa(w.Enabled), strconv.Itoa(w.Suspended),
			strconv.Itoa(w.Warning), strconv.Itoa(w.LockedOut), strconv.Itoa(w.Consumed), strconv.Itoa(w.Available), w.CapabilityStatus,
			w.AppliesTo, strings.Join(w.SubscriptionIDs, ";")}
		got := slices.Clone(rec[:14])
		ids := strings.Split(got[13], ";")
		slices.Sort(ids)
		got[13] = strings.Join(ids, ";")
		if !slices.Equal(got, want) {
			t.Errorf("CSV row %s\n got %q\nwant %q", k, got, want)
		}
	}
	if len(seen) != len(wantCSV) {
		t.Errorf("CSV has %d licence rows, want %d (one per SKU of each readable tenant)", len(seen), len(wantCSV))
	}
	return current
}

// checkAt checks GET /tenants/{id}/licenses?at=: today's snapshot is the
// current licences, and the day before (no sync then) is empty. Both runs
// of a test are today; across midnight the check is left out.
func (e *e2e) checkAt(t *testing.T, current map[string][]seatsync.License, runs ...seatsync.Run) {
	t.Helper()
	today := time.Now().UTC().Truncate(24 * time.Hour)
	for _, r := range runs {
		if r.StartedAt.UTC().Truncate(24*time.Hour) != today || r.FinishedAt == nil || r.FinishedAt.UTC().Truncate(24*time.Hour) != today {
			t.Logf("?at= check left out: run %s is not all today (%s)", r.RunID, today.Format(time.DateOnly))
			return
		}
	}
	for _, id := range slices.Sorted(maps.Keys(current)) {
		var at apiList[seatsync.License]
		e.getJSON(t, "/api/v1/tenants/"+id+"/licenses?at="+today.Format(time.DateOnly), &at)
		if !reflect.DeepEqual(at.Value, current[id]) {
			t.Errorf("tenant %s: licences at %s\n got %+v\nwant %+v (the current ones)", id, today.Format(time.DateOnly), at.Value, current[id])
		}
		var before apiList[seatsync.License]
		e.getJSON(t, "/api/v1/tenants/"+id+"/licenses?at="+today.AddDate(0, 0, -1).Format(time.DateOnly), &before)
		if before.Value == nil || len(before.Value) != 0 {
			t.Errorf("tenant %s: licences the day before the first sync: %+v, want []", id, before.Value)
		}
	}
}

// e2eExpectedCalls is the minimum a run needs per customer tenant from
// Graph and Partner Center (the tokens are cached from the run before):
// subscribedSkus, directory/subscriptions (per page) and users/$count twice
// for a readable tenant, only subscribedSkus for one whose Graph refuses
// it, none for one that gets no token; and Partner Center's subscriptions
// once for a readable Direct CSP customer.
func e2eExpectedCalls(estate mscloudsim.Estate) map[string]int {
	want := map[string]int{}
	for _, tn := range estate.Tenants {
		switch tn.Failure {
		case mscloudsim.FailureNone:
			inGraph := 0
			for _, s := range tn.Subscriptions {
				if s.InGraph {
					inGraph++
				}
			}
			want[e2eKeySkus+" tenant="+tn.TenantID] = 1
			want[e2eKeyDirSubs+" tenant="+tn.TenantID] = max(1, (inGraph+mscloudsim.DefaultGraphPageSize-1)/mscloudsim.DefaultGraphPageSize)
			want[e2eKeyCount+" tenant="+tn.TenantID] = 2
			if tn.Has(mscloudsim.RelCSP) {
				want[e2eKeyPCSubs+" tenant="+tn.TenantID] = 1
			}
		case mscloudsim.FailureNoRoles, mscloudsim.FailureDeleted:
			want[e2eKeySkus+" tenant="+tn.TenantID] = 1
		}
	}
	return want
}

// TestEndToEndSync is the "done when": consent, POST /sync, every
// route filled with the simulator's truth; a second run after the
// simulator changes quantities logs exactly those changes, with the
// minimum calls per tenant.
func TestEndToEndSync(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	e := newE2E(t, bin, mscloudsim.Options{Tenants: 25, Seed: 1}, 4)
	estate := e.sim.Estate()

	e.consent(t)
	consentRun := e.latestRun(t)
	if consentRun.Trigger != seatsync.TriggerConsent {
		t.Fatalf("latest run after consent: %+v, want the consent's", consentRun)
	}
	run1 := e.startSync(t)
	run1 = e.waitRun(t, run1.RunID, 60*time.Second)
	consentRun = e.waitRun(t, consentRun.RunID, 60*time.Second)

	var tl apiList[seatsync.Tenant]
	e.getJSON(t, "/api/v1/tenants", &tl)
	active := 0
	for _, tn := range tl.Value {
		if tn.Active {
			active++
		}
	}
	if active != len(estate.Tenants) {
		t.Errorf("%d active tenants, want %d", active, len(estate.Tenants))
	}
	wantRunTotals(t, "consent run", consentRun, estate, active)
	wantRunTotals(t, "first run", run1, estate, active)

	current := e.checkTruth(t, estate)
	e.checkAt(t, current, consentRun, run1)

	// The simulator changes quantities: one tenant buys 5 more seats of a
	// SKU, another goes down to 1 seat of one.
	var want []seatsync.Change
	for _, tn := range estate.Tenants {
		if tn.Failure != mscloudsim.FailureNone || len(want) == 2 {
			continue
		}
		i := slices.IndexFunc(tn.SKUs, func(k mscloudsim.SKU) bool { return k.Enabled > 1 && k.SkuID != mscloudsim.SKUTeamsExploratory })
		if i < 0 {
			continue
		}
		k := tn.SKUs[i]
		to := k.Enabled + 5
		if len(want) == 1 {
			to = 1
		}
		e.sim.SetQuantity(tn.TenantID, k.SkuID, to)
		want = append(want, seatsync.Change{TenantID: tn.TenantID, SkuID: k.SkuID, SkuPartNumber: k.SkuPartNumber, Field: "enabled", From: k.Enabled, To: to})
	}
	if len(want) != 2 {
		t.Fatalf("the estate has no two readable tenants with a SKU of more than one seat")
	}

	// The changes of the first syncs are over a second old.
	last := *run1.FinishedAt
	if consentRun.FinishedAt.After(last) {
		last = *consentRun.FinishedAt
	}
	time.Sleep(time.Until(last.Add(1100 * time.Millisecond)))
	e.sim.ResetCalls()
	run2 := e.startSync(t)
	run2 = e.waitRun(t, run2.RunID, 60*time.Second)
	calls := e.sim.Calls()
	estate2 := e.sim.Estate()
	wantRunTotals(t, "second run", run2, estate2, active)

	var changes apiList[seatsync.Change]
	since := run2.StartedAt.Add(-time.Second).UTC().Format(time.RFC3339Nano)
	e.getJSON(t, "/api/v1/changes?since="+url.QueryEscape(since), &changes)
	got := changes.Value
	for i := range got {
		if got[i].RunID != run2.RunID || got[i].DetectedAt.Before(run2.StartedAt) || got[i].DetectedAt.After(*run2.FinishedAt) {
			t.Errorf("change %+v: not of run %s (%v to %v)", got[i], run2.RunID, run2.StartedAt, run2.FinishedAt)
		}
		got[i].RunID, got[i].DetectedAt = "", time.Time{}
	}
	key := func(c seatsync.Change) string { return c.TenantID + c.SkuID + c.Field }
	slices.SortFunc(got, func(a, b seatsync.Change) int { return strings.Compare(key(a), key(b)) })
	slices.SortFunc(want, func(a, b seatsync.Change) int { return strings.Compare(key(a), key(b)) })
	if !reflect.DeepEqual(got, want) {
		t.Errorf("second run's changes:\n got %+v\nwant %+v", got, want)
	}

	current = e.checkTruth(t, estate2)
	e.checkAt(t, current, consentRun, run1, run2)

	// The second run's calls: exactly the minimum per customer tenant from
	// Graph and Partner Center, and at most one token per tenant.
	partner := estate.Partner.TenantID
	wantCalls := e2eExpectedCalls(estate2)
	keys := map[string]bool{}
	for k := range calls {
		if (strings.HasPrefix(k, "graph ") || strings.HasPrefix(k, "partnercenter ")) && strings.Contains(k, " tenant=") &&
			!strings.HasSuffix(k, " tenant="+partner) {
			keys[k] = true
		}
	}
	for k := range wantCalls {
		keys[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if calls[k] != wantCalls[k] {
			t.Errorf("second run: %s: %d calls, want %d", k, calls[k], wantCalls[k])
		}
	}
	tokens := 0
	tokenFor := map[string]int{}
	for _, tn := range estate2.Tenants {
		n := calls[e2eKeyToken+" tenant="+tn.TenantID]
		tokens += n
		if n > 0 {
			tokenFor[string(cmp.Or(tn.Failure, "readable"))] += n
		}
		if n > 1 {
			t.Errorf("second run: %d token requests for tenant %s, want at most 1", n, tn.TenantID)
		}
	}

	// The figures for the README.
	var readableCSP, readableOther, failing int
	for _, tn := range estate2.Tenants {
		switch {
		case tn.Failure != mscloudsim.FailureNone:
			failing++
		case tn.Has(mscloudsim.RelCSP):
			readableCSP++
		default:
			readableOther++
		}
	}
	perService := map[string]int{}
	fanoutCalls := map[string]int{}
	for k, n := range calls {
		if strings.Contains(k, " tenant=") {
			if strings.HasSuffix(k, " tenant="+partner) {
				fanoutCalls[strings.TrimSuffix(k, " tenant="+partner)] += n
			}
			continue
		}
		perService[k] += n
	}
	t.Logf("second run of %d tenants (%d readable Direct CSP, %d readable without CSP, %d failing): calls by endpoint %v",
		len(estate2.Tenants), readableCSP, readableOther, failing, perService)
	t.Logf("of which the fan-out, for the partner's own tenant: %v; customer token requests: %d (by tenant failure: %v)", fanoutCalls, tokens, tokenFor)
	for _, tn := range estate2.Tenants {
		if tn.Failure == mscloudsim.FailureNone && tn.Has(mscloudsim.RelCSP) {
			id := tn.TenantID
			t.Logf("per readable Direct CSP tenant (e.g. %s): subscribedSkus %d, directory/subscriptions %d, users/$count %d, Partner Center subscriptions %d, token %d",
				id, calls[e2eKeySkus+" tenant="+id], calls[e2eKeyDirSubs+" tenant="+id], calls[e2eKeyCount+" tenant="+id],
				calls[e2eKeyPCSubs+" tenant="+id], calls[e2eKeyToken+" tenant="+id])
			break
		}
	}

	if code := e.proc.stop(t); code != 0 {
		t.Errorf("exit %d after SIGTERM; stderr:\n%s", code, e.proc.stderr)
	}
	if strings.Contains(e.proc.stdout.String(), mscloudsim.DefaultClientSecret) {
		t.Error("the client secret reached the log")
	}
	if dl, err := e.deadLetters(t); err != nil || len(dl) != 0 {
		t.Errorf("dead letters: %+v (%v)", dl, err)
	}
}

func (e *e2e) deadLetters(t *testing.T) ([]tables.DeadLetter, error) {
	t.Helper()
	q, err := tables.NewQueue(e.svc(t), e.queue, nil)
	if err != nil {
		return nil, err
	}
	return q.DeadLetters(t.Context())
}

// routeBodies returns the status and body of every read route, for every
// tenant: what a PSA tool sees.
func (e *e2e) routeBodies(t *testing.T, since time.Time, runIDs ...string) map[string]string {
	t.Helper()
	paths := []string{"/api/v1/tenants", "/api/v1/licenses", "/api/v1/licenses?format=csv",
		"/api/v1/changes?since=" + url.QueryEscape(since.UTC().Format(time.RFC3339Nano))}
	for _, id := range runIDs {
		paths = append(paths, "/api/v1/sync/runs/"+id)
	}
	for _, tn := range e.sim.Estate().Tenants {
		p := "/api/v1/tenants/" + tn.TenantID
		paths = append(paths, p, p+"/licenses", p+"/licenses?at="+time.Now().UTC().Format(time.DateOnly), p+"/subscriptions", p+"/counts")
	}
	out := map[string]string{}
	for _, p := range paths {
		r := e.do(t, "GET", p, nil)
		out[p] = strconv.Itoa(r.status) + " " + string(r.body)
	}
	return out
}

// TestEndToEndRedeliveryChangesNothing delivers every message of a
// completed run again, as Service Bus may: through the serve's own queue,
// under new message ids (the original ids are still in the duplicate
// window) and the same bodies. Nothing calls Microsoft and no route
// answers differently.
func TestEndToEndRedeliveryChangesNothing(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	e := newE2E(t, bin, mscloudsim.Options{Tenants: 25, Seed: 1}, 4)
	e.consent(t)
	run := e.latestRun(t)
	run = e.waitRun(t, run.RunID, 60*time.Second)
	wantRunTotals(t, "consent run", run, e.sim.Estate(), len(e.sim.Estate().Tenants))
	e.checkTruth(t, e.sim.Estate())

	ctx := t.Context()
	svc := e.svc(t)
	ids, err := tables.NewRuns(svc).TenantIDs(ctx, run.RunID)
	if err != nil || len(ids) != len(e.sim.Estate().Tenants) {
		t.Fatalf("tenants of run %s: %d (%v)", run.RunID, len(ids), err)
	}
	q, err := tables.NewQueue(svc, e.queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	stats0, err := q.Stats(ctx)
	if err != nil || stats0.Active != 0 || stats0.Completed != len(ids) {
		t.Fatalf("queue after the run: %+v (%v), want %d completed", stats0, err, len(ids))
	}

	since := run.StartedAt.Add(-time.Minute)
	before := e.routeBodies(t, since, run.RunID)
	ignored := func() int {
		n := 0
		for _, r := range jsonLines(t, e.proc.stdout.String()) {
			if r["msg"] == "tenant sync: already done in this run; redelivery ignored" && r["runId"] == run.RunID {
				n++
			}
		}
		return n
	}
	ignored0 := ignored()
	e.sim.ResetCalls()

	var msgs []seatsync.Message
	for _, id := range ids {
		m, err := fanout.Message(run.RunID, id)
		if err != nil {
			t.Fatal(err)
		}
		m.ID = "redeliver/" + m.ID
		msgs = append(msgs, m)
	}
	if err := q.Send(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := q.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.Active == 0 && s.Completed == stats0.Completed+len(msgs) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue not drained after 30 s: %+v\nseatsync stdout (tail):\n%s", s, tail(e.proc.stdout.String(), 4000))
		}
		time.Sleep(100 * time.Millisecond)
	}

	if n := ignored() - ignored0; n != len(msgs) {
		t.Errorf("%d redeliveries were recognised as done, want %d", n, len(msgs))
	}
	after := e.routeBodies(t, since, run.RunID)
	for _, p := range slices.Sorted(maps.Keys(before)) {
		if after[p] != before[p] {
			t.Errorf("GET %s changed on redelivery:\nbefore %s\n after %s", p, before[p], after[p])
		}
	}
	for k, n := range e.sim.Calls() {
		if n != 0 && !strings.HasPrefix(k, "catalog ") {
			t.Errorf("redelivery called Microsoft: %s: %d", k, n)
		}
	}
	if dl, err := q.DeadLetters(ctx); err != nil || len(dl) != 0 {
		t.Errorf("dead letters: %+v (%v)", dl, err)
	}
	if code := e.proc.stop(t); code != 0 {
		t.Errorf("exit %d after SIGTERM; stderr:\n%s", code, e.proc.stderr)
	}
}

// TestEndToEndKillAndRestart kills the serve process (SIGKILL) in the
// middle of a run and starts it again on the same tables and data
// directory: the run completes, with the totals of an uninterrupted run and
// the simulator's truth in every route.
func TestEndToEndKillAndRestart(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	e := newE2E(t, bin, mscloudsim.Options{Tenants: 25, Seed: 1, Latency: 150 * time.Millisecond}, 1)
	estate := e.sim.Estate()
	e.consent(t)
	consentRun := e.latestRun(t)
	run := e.startSync(t)

	deadline := time.Now().Add(90 * time.Second)
	for {
		var p seatsync.Run
		e.getJSON(t, "/api/v1/sync/runs/"+run.RunID, &p)
		if p.Status != seatsync.RunRunning {
			t.Fatalf("the run finished before it could be interrupted: %+v", p)
		}
		if p.TenantsSucceeded+p.TenantsFailed >= 2 {
			t.Logf("killing seatsync with %d of %d tenants done", p.TenantsSucceeded+p.TenantsFailed, p.TenantsTotal)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run did not get two results in 90 s: %+v", p)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := e.proc.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	e.proc.wait(t, 10*time.Second)
	killed := time.Now()

	// The message the killed process held stays locked for the queue's
	// lock duration (1 minute, as Service Bus) before it comes back.
	e.start(t)
	run = e.waitRun(t, run.RunID, 90*time.Second)
	t.Logf("the run completed %v after the kill", time.Since(killed).Round(100*time.Millisecond))
	again := 0
	for _, r := range jsonLines(t, e.proc.stdout.String()) {
		if r["msg"] == "tenant sync requested" && r["deliveryCount"] != nil && r["deliveryCount"] != float64(1) {
			again++
			t.Logf("delivered again after the restart: run %v, tenant %v, delivery %v", r["runId"], r["tenantId"], r["deliveryCount"])
		}
	}
	if again == 0 {
		t.Logf("no message was in flight when the process was killed")
	}
	consentRun = e.waitRun(t, consentRun.RunID, 30*time.Second)
	wantRunTotals(t, "interrupted run", run, estate, len(estate.Tenants))
	wantRunTotals(t, "consent run", consentRun, estate, len(estate.Tenants))
	e.checkTruth(t, estate)

	if dl, err := e.deadLetters(t); err != nil || len(dl) != 0 {
		t.Errorf("dead letters: %+v (%v)", dl, err)
	}
	if code := e.proc.stop(t); code != 0 {
		t.Errorf("exit %d after SIGTERM; stderr:\n%s", code, e.proc.stderr)
	}
}

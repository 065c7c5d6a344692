package fanout_test

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seatsync/seatsync/shared/fanout"
	"github.com/seatsync/seatsync/shared/graph"
	"github.com/seatsync/seatsync/shared/partnercenter"
	"github.com/seatsync/seatsync/shared/seatsync"
	"github.com/seatsync/seatsync/shared/tables"
)

// The lists are merged by tenant id with every relationship kind (in the
// order gdap, dap, csp), the best name and domain; existing rows keep their
// sync state; new rows are pending; one message goes out per tenant.
func TestStartRunMergesSources(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	synced := time.Date(2026, 11, 21, 2, 3, 4, 0, time.UTC)
	e.put(t, seatsync.Tenant{TenantID: tid(1), DisplayName: "Old name", DefaultDomain: "contoso.onmicrosoft.com",
		Relationships: []string{"gdap"}, Active: true, Status: seatsync.TenantError, LastSyncedAt: &synced,
		LastError: &seatsync.Problem{Code: graph.CodeForbidden, Message: "no GDAP access"}})

	g := &fakeGraph{
		gdap: []graph.Customer{gdap(tid(1), "Contoso"), gdap(tid(2), "Fabrikam"), gdap(strings.ToUpper(tid(5)), "Upper Case")},
		dap: []graph.Customer{dap(tid(1), "Contoso (DAP copy)", "contoso.onmicrosoft.com"),
			dap(tid(3), "Northwind", "northwind.onmicrosoft.com")},
	}
	pc := &fakePC{customers: []partnercenter.Customer{csp(tid(1), "Contoso Ltd", "contoso.example"),
		csp(tid(2), "Fabrikam Inc", "fabrikam.onmicrosoft.com"), csp(tid(4), "Tailspin", "tailspin.onmicrosoft.com"),
		csp(tid(3), "", "")}}
	s := e.starter(t, g, pc, nil, 0)

	run, err := s.StartRun(ctx, seatsync.TriggerManual, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !seatsync.IsGUID(run.RunID) || run.Trigger != "manual" || run.Status != seatsync.RunRunning || run.TenantsTotal != 5 ||
		run.FinishedAt != nil || !run.StartedAt.Equal(e.now.Add(time.Minute)) {
		t.Errorf("run = %+v", run)
	}

	want := map[string]seatsync.Tenant{
		// Existing: names from the lists, state kept.
		tid(1): {TenantID: tid(1), DisplayName: "Contoso", DefaultDomain: "contoso.onmicrosoft.com", Relationships: []string{"gdap", "dap", "csp"},
			Active: true, Status: seatsync.TenantError, LastSyncedAt: &synced, LastError: &seatsync.Problem{Code: graph.CodeForbidden, Message: "no GDAP access"}},
		tid(2): {TenantID: tid(2), DisplayName: "Fabrikam", DefaultDomain: "fabrikam.onmicrosoft.com", Relationships: []string{"gdap", "csp"},
			Active: true, Status: seatsync.TenantPending},
		tid(3): {TenantID: tid(3), DisplayName: "Northwind", DefaultDomain: "northwind.onmicrosoft.com", Relationships: []string{"dap", "csp"},
			Active: true, Status: seatsync.TenantPending},
		tid(4): {TenantID: tid(4), DisplayName: "Tailspin", DefaultDomain: "tailspin.onmicrosoft.com", Relationships: []string{"csp"},
			Active: true, Status: seatsync.TenantPending},
		tid(5): {TenantID: tid(5), DisplayName: "Upper Case", DefaultDomain: "", Relationships: []string{"gdap"},
			Active: true, Status: seatsync.TenantPending},
	}
	checkTenants(t, e.tenants(t), want)

	ids := []string{tid(1), tid(2), tid(3), tid(4), tid(5)}
	checkMessages(t, e.drain(t), run.RunID, ids)
	rec, err := e.runs.Get(ctx, run.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Run.RunID != run.RunID || rec.Status != seatsync.RunRunning || rec.TenantsTotal != 5 || rec.Trigger != "manual" ||
		!rec.StartedAt.Equal(run.StartedAt) || rec.Error != nil || len(rec.Warnings) != 0 {
		t.Errorf("run row = %+v", rec)
	}
	if got, err := e.runs.TenantIDs(ctx, run.RunID); err != nil || !slices.Equal(got, ids) {
		t.Errorf("run tenants = %v, %v; want %v", got, err, ids)
	}
	if latest, err := e.runs.Latest(ctx); err != nil || latest.RunID != run.RunID {
		t.Errorf("Latest = %+v, %v", latest, err)
	}
}

func checkTenants(t *testing.T, got, want map[string]seatsync.Tenant) {
	t.Helper()
	for id, w := range want {
		g, ok := got[id]
		if !ok {
			t.Errorf("tenant %s: no row", id)
			continue
		}
		if d := tenantDiff(g, w); d != "" {
			t.Errorf("tenant %s: %s", id, d)
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("tenant %s: unexpected row %+v", id, got[id])
		}
	}
}

func tenantDiff(g, w seatsync.Tenant) string {
	var d []string
	if g.DisplayName != w.DisplayName || g.DefaultDomain != w.DefaultDomain || g.Active != w.Active || g.Status != w.Status {
		d = append(d, fmt.Sprintf("got %q %q active=%v %q, want %q %q active=%v %q", g.DisplayName, g.DefaultDomain, g.Active,
			g.Status, w.DisplayName, w.DefaultDomain, w.Active, w.Status))
	}
	if !slices.Equal(g.Relationships, w.Relationships) {
		d = append(d, fmt.Sprintf("relationships %v, want %v", g.Relationships, w.Relationships))
	}
	if (g.LastSyncedAt == nil) != (w.LastSyncedAt == nil) || (g.LastSyncedAt != nil && !g.LastSyncedAt.Equal(*w.LastSyncedAt)) {
		d = append(d, fmt.Sprintf("lastSyncedAt %v, want %v", g.LastSyncedAt, w.LastSyncedAt))
	}
	if (g.LastError == nil) != (w.LastError == nil) || (g.LastError != nil && *g.LastError != *w.LastError) {
		d = append(d, fmt.Sprintf("lastError %+v, want %+v", g.LastError, w.LastError))
	}
	return strings.Join(d, "; ")
}

// When every list answers, a tenant none shows becomes inactive (its row
// and sync state kept) and gets no message; it becomes active again when a
// list shows it again.
func TestStartRunMarksVanishedTenantsInactive(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	synced := time.Date(2026, 11, 21, 2, 3, 4, 0, time.UTC)
	gone := seatsync.Tenant{TenantID: tid(9), DisplayName: "Gone", DefaultDomain: "gone.onmicrosoft.com", Relationships: []string{"gdap", "csp"},
		Active: true, Status: seatsync.TenantOK, LastSyncedAt: &synced}
	e.put(t, gone)
	g := &fakeGraph{gdap: []graph.Customer{gdap(tid(1), "Contoso")}}
	pc := &fakePC{customers: []partnercenter.Customer{csp(tid(1), "Contoso", "contoso.onmicrosoft.com")}}
	s := e.starter(t, g, pc, nil, 0)

	run, err := s.StartRun(ctx, seatsync.TriggerSchedule, nil)
	if err != nil {
		t.Fatal(err)
	}
	inactive := gone
	inactive.Active = false
	checkTenants(t, e.tenants(t), map[string]seatsync.Tenant{
		tid(1): {TenantID: tid(1), DisplayName: "Contoso", DefaultDomain: "contoso.onmicrosoft.com", Relationships: []string{"gdap", "csp"},
			Active: true, Status: seatsync.TenantPending},
		tid(9): inactive,
	})
	checkMessages(t, e.drain(t), run.RunID, []string{tid(1)})
	if run.TenantsTotal != 1 {
		t.Errorf("tenantsTotal %d, want 1", run.TenantsTotal)
	}

	// A subset naming an inactive tenant is refused.
	if _, err := s.StartRun(ctx, seatsync.TriggerManual, []string{tid(9)}); seatsync.ErrorCode(err) != seatsync.EInvalid ||
		!strings.Contains(seatsync.ErrorMessage(err), tid(9)) || !strings.Contains(seatsync.ErrorMessage(err), "inactive") {
		t.Errorf("subset of an inactive tenant: %v", err)
	}

	// Back in a list: active again.
	g.dap = []graph.Customer{dap(tid(9), "Gone", "gone.onmicrosoft.com")}
	run2, err := s.StartRun(ctx, seatsync.TriggerSchedule, nil)
	if err != nil {
		t.Fatal(err)
	}
	back := gone
	back.Relationships = []string{"dap"}
	if d := tenantDiff(e.tenants(t)[tid(9)], back); d != "" {
		t.Errorf("tenant back: %s", d)
	}
	checkMessages(t, e.drain(t), run2.RunID, []string{tid(1), tid(9)})
}

// When a list fails and another answers, the run goes ahead with a warning
// naming the failed list; no tenant becomes inactive, and tenants keep the
// kind of the failed list.
func TestStartRunPartialSourceFailure(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.put(t,
		seatsync.Tenant{TenantID: tid(1), DisplayName: "Contoso", Relationships: []string{"gdap", "csp"}, Active: true, Status: seatsync.TenantOK},
		seatsync.Tenant{TenantID: tid(2), DisplayName: "CSP only", DefaultDomain: "csponly.onmicrosoft.com", Relationships: []string{"csp"},
			Active: true, Status: seatsync.TenantOK},
		seatsync.Tenant{TenantID: tid(3), DisplayName: "Left GDAP", Relationships: []string{"gdap"}, Active: true, Status: seatsync.TenantOK},
	)
	pcErr := fmt.Errorf("partnercenter: list customers: %w", &partnercenter.Error{Status: http.StatusServiceUnavailable})
	g := &fakeGraph{gdap: []graph.Customer{gdap(tid(1), "Contoso"), gdap(tid(4), "New GDAP")}}
	pc := &fakePC{err: pcErr}
	s := e.starter(t, g, pc, nil, 0)

	run, err := s.StartRun(ctx, seatsync.TriggerSchedule, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkTenants(t, e.tenants(t), map[string]seatsync.Tenant{
		tid(1): {TenantID: tid(1), DisplayName: "Contoso", Relationships: []string{"gdap", "csp"}, Active: true, Status: seatsync.TenantOK},
		tid(2): {TenantID: tid(2), DisplayName: "CSP only", DefaultDomain: "csponly.onmicrosoft.com", Relationships: []string{"csp"},
			Active: true, Status: seatsync.TenantOK},
		// Missing from a list that answered, but the failed list may
		// still show it: not marked inactive.
		tid(3): {TenantID: tid(3), DisplayName: "Left GDAP", Relationships: []string{"gdap"}, Active: true, Status: seatsync.TenantOK},
		tid(4): {TenantID: tid(4), DisplayName: "New GDAP", Relationships: []string{"gdap"}, Active: true, Status: seatsync.TenantPending},
	})
	checkMessages(t, e.drain(t), run.RunID, []string{tid(1), tid(2), tid(3), tid(4)})

	rec, err := e.runs.Get(ctx, run.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != seatsync.RunRunning || rec.Error != nil || len(rec.Warnings) != 1 ||
		rec.Warnings[0].Code != partnercenter.CodeUnavailable || !strings.Contains(rec.Warnings[0].Message, "Partner Center customer list") {
		t.Errorf("run = %+v", rec)
	}
}

// When every list fails, nothing is sent and no tenant row changes; a
// failed run records why, and StartRun returns the first list's error with
// its code.
func TestStartRunAllSourcesFail(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	before := seatsync.Tenant{TenantID: tid(1), DisplayName: "Contoso", Relationships: []string{"gdap"}, Active: true, Status: seatsync.TenantOK}
	e.put(t, before)
	unauthorized := &graph.Error{Status: http.StatusUnauthorized, Code: "InvalidAuthenticationToken"}
	g := &fakeGraph{gdapErr: unauthorized, dapErr: &graph.Error{Status: http.StatusUnauthorized}}
	pc := &fakePC{err: &partnercenter.Error{Status: http.StatusUnauthorized}}
	s := e.starter(t, g, pc, nil, 0)

	run, err := s.StartRun(ctx, seatsync.TriggerSchedule, nil)
	if err == nil {
		t.Fatalf("StartRun = %+v, want an error", run)
	}
	if !errors.Is(err, unauthorized) || seatsync.ErrorCode(err) != graph.CodeUnauthorized || run.RunID != "" {
		t.Errorf("StartRun = %+v, %v (code %s)", run, err, seatsync.ErrorCode(err))
	}
	checkTenants(t, e.tenants(t), map[string]seatsync.Tenant{tid(1): before})
	if msgs := e.drain(t); len(msgs) != 0 {
		t.Errorf("%d messages sent", len(msgs))
	}
	rec, err := e.runs.Latest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != seatsync.RunFailed || rec.FinishedAt == nil || rec.TenantsTotal != 0 || rec.Error == nil ||
		rec.Error.Code != graph.CodeUnauthorized || len(rec.Warnings) != 3 {
		t.Errorf("failed run = %+v", rec)
	}
	if ids, err := e.runs.TenantIDs(ctx, rec.RunID); err != nil || len(ids) != 0 {
		t.Errorf("failed run's tenants: %v, %v", ids, err)
	}
	if err := s.Resume(ctx, rec.RunID); seatsync.ErrorCode(err) != seatsync.EConflict {
		t.Errorf("Resume of a failed run: %v", err)
	}

	// Without Partner Center, the two Graph lists are all there is.
	s2 := e.starter(t, &fakeGraph{gdapErr: unauthorized, dapErr: unauthorized}, nil, nil, 0)
	if _, err := s2.StartRun(ctx, seatsync.TriggerManual, nil); seatsync.ErrorCode(err) != graph.CodeUnauthorized {
		t.Errorf("Graph only, both failing: %v", err)
	}
}

// A bad trigger, a tenant id that is not a GUID, or one that is not a
// customer is refused with EInvalid naming it, and nothing is written.
func TestStartRunInvalid(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	g := &fakeGraph{gdap: []graph.Customer{gdap(tid(1), "Contoso"), gdap(tid(2), "Fabrikam")}}
	s := e.starter(t, g, nil, nil, 0)

	for _, tc := range []struct {
		name, trigger string
		ids           []string
		words         []string
		listed        bool // the lists are read before the refusal
	}{
		{"empty trigger", "", nil, []string{"trigger"}, false},
		{"unknown trigger", "nightly", nil, []string{`"nightly"`}, false},
		{"not a GUID", "manual", []string{tid(1), "contoso.com", "../x"}, []string{`"contoso.com"`, `"../x"`}, false},
		{"unknown tenant", "manual", []string{tid(1), tid(7), tid(8)}, []string{tid(7), tid(8), "not customer tenants"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := g.calls.Load()
			run, err := s.StartRun(ctx, tc.trigger, tc.ids)
			if seatsync.ErrorCode(err) != seatsync.EInvalid {
				t.Fatalf("StartRun = %+v, %v; want EInvalid", run, err)
			}
			for _, w := range tc.words {
				if !strings.Contains(seatsync.ErrorMessage(err), w) {
					t.Errorf("message %q does not name %s", seatsync.ErrorMessage(err), w)
				}
			}
			if strings.Contains(seatsync.ErrorMessage(err), tid(1)) {
				t.Errorf("message %q names a good id", seatsync.ErrorMessage(err))
			}
			if listed := g.calls.Load() > calls; listed != tc.listed {
				t.Errorf("lists read: %v, want %v", listed, tc.listed)
			}
			if rows := e.tenants(t); len(rows) != 0 {
				t.Errorf("tenant rows written: %v", rows)
			}
			e.noRun(t)
			if msgs := e.drain(t); len(msgs) != 0 {
				t.Errorf("%d messages sent", len(msgs))
			}
		})
	}
}

// A run for some tenants sends their messages only (ids in any case, each
// once), and counts them; the tenant rows are still brought up to date.
func TestStartRunSubset(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	g := &fakeGraph{gdap: []graph.Customer{gdap(tid(1), "A"), gdap(tid(2), "B"), gdap(tid(3), "C")}}
	s := e.starter(t, g, nil, nil, 0)

	run, err := s.StartRun(ctx, seatsync.TriggerManual, []string{strings.ToUpper(tid(3)), tid(1), " " + tid(3) + " "})
	if err != nil {
		t.Fatal(err)
	}
	if run.TenantsTotal != 2 {
		t.Errorf("tenantsTotal %d, want 2", run.TenantsTotal)
	}
	checkMessages(t, e.drain(t), run.RunID, []string{tid(1), tid(3)})
	if ids, err := e.runs.TenantIDs(ctx, run.RunID); err != nil || !slices.Equal(ids, []string{tid(1), tid(3)}) {
		t.Errorf("run tenants %v, %v", ids, err)
	}
	if rows := e.tenants(t); len(rows) != 3 {
		t.Errorf("%d tenant rows, want 3", len(rows))
	}
}

// With no customer at all, the run is over as it starts.
func TestStartRunNoTenants(t *testing.T) {
	e := newEnv(t)
	s := e.starter(t, &fakeGraph{}, &fakePC{}, nil, 0)
	run, err := s.StartRun(t.Context(), seatsync.TriggerConsent, nil)
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != seatsync.RunSucceeded || run.TenantsTotal != 0 || run.FinishedAt == nil || !run.FinishedAt.Equal(run.StartedAt) {
		t.Errorf("run = %+v", run)
	}
	if rec, err := e.runs.Latest(t.Context()); err != nil || rec.RunID != run.RunID || rec.Status != seatsync.RunSucceeded {
		t.Errorf("Latest = %+v, %v", rec, err)
	}
}

// A send that fails half way returns the run and a SendError; Resume sends
// the rest, and the queue holds exactly one message per tenant: the ones
// sent twice were dropped as duplicates.
func TestStartRunFailsHalfWayAndResumes(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	const n = 120
	g := &fakeGraph{}
	var ids []string
	for i := range n {
		g.gdap = append(g.gdap, gdap(tid(i+1), fmt.Sprintf("Customer %d", i+1)))
		ids = append(ids, tid(i+1))
	}
	flaky := &flakyQueue{q: e.queue, budget: 70}
	s := e.starter(t, g, nil, flaky, 50)

	run, err := s.StartRun(ctx, seatsync.TriggerSchedule, nil)
	var se *fanout.SendError
	if !errors.As(err, &se) || se.RunID != run.RunID || !errors.Is(err, errQueueDown) || run.Status != seatsync.RunRunning {
		t.Fatalf("StartRun = %+v, %v; want the run and a SendError", run, err)
	}
	if st, err := e.queue.Stats(ctx); err != nil || st.Active != 70 {
		t.Fatalf("after the failure: %+v, %v; want 70 messages", st, err)
	}

	if err := s.Resume(ctx, run.RunID); err != nil {
		t.Fatal(err)
	}
	if flaky.sent != 70+n {
		t.Errorf("%d messages passed to the queue, want %d (Resume sends them all again)", flaky.sent, 70+n)
	}
	if st, err := e.queue.Stats(ctx); err != nil || st.Active != n {
		t.Errorf("after Resume: %+v, %v; want %d messages", st, err, n)
	}
	msgs := e.drain(t)
	checkMessages(t, msgs, run.RunID, ids)
	for _, m := range msgs {
		if m.Count != 1 {
			t.Errorf("message %s: delivery %d", m.ID, m.Count)
		}
	}

	// Resume again: still nothing new.
	if err := s.Resume(ctx, run.RunID); err != nil {
		t.Fatal(err)
	}
	if msgs := e.drain(t); len(msgs) != 0 {
		t.Errorf("a second Resume delivered %d messages", len(msgs))
	}
	if err := s.Resume(ctx, tid(999)); seatsync.ErrorCode(err) != seatsync.ENotFound {
		t.Errorf("Resume of no run: %v", err)
	}
}

// A second run when nothing changed writes no tenant row and sends its own
// messages; the latest run is the second.
func TestStartRunAgain(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	g := &fakeGraph{gdap: []graph.Customer{gdap(tid(1), "A")}, dap: []graph.Customer{dap(tid(2), "B", "b.onmicrosoft.com")}}
	s := e.starter(t, g, nil, nil, 0)
	first, err := s.StartRun(ctx, seatsync.TriggerSchedule, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows := e.svc.Table(tables.TenantsTable)
	etags := map[string]string{}
	for r, err := range rows.Query(ctx, "") {
		if err != nil {
			t.Fatal(err)
		}
		etags[r.RowKey] = r.ETag
	}
	second, err := s.StartRun(ctx, seatsync.TriggerManual, nil)
	if err != nil {
		t.Fatal(err)
	}
	if second.RunID == first.RunID || !second.StartedAt.After(first.StartedAt) {
		t.Errorf("runs %+v then %+v", first, second)
	}
	for r, err := range rows.Query(ctx, "") {
		if err != nil {
			t.Fatal(err)
		}
		if etags[r.RowKey] != r.ETag {
			t.Errorf("tenant %s rewritten though nothing changed", r.RowKey)
		}
	}
	msgs := e.drain(t)
	if len(msgs) != 4 {
		t.Errorf("%d messages, want 2 per run", len(msgs))
	}
	if latest, err := e.runs.Latest(ctx); err != nil || latest.RunID != second.RunID {
		t.Errorf("Latest = %+v, %v; want the second run", latest, err)
	}
}

func TestNew(t *testing.T) {
	e := newEnv(t)
	if _, err := fanout.New(fanout.Options{Store: e.store, Runs: e.runs, Queue: e.queue}); err == nil {
		t.Error("New without Graph succeeded")
	}
	if _, err := fanout.New(fanout.Options{Graph: &fakeGraph{}, Runs: e.runs, Queue: e.queue}); err == nil {
		t.Error("New without a store succeeded")
	}
	s, err := fanout.New(fanout.Options{Graph: &fakeGraph{}, Store: e.store, Runs: e.runs, Queue: e.queue,
		NewID: func() string { return "not-a-guid" }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.StartRun(t.Context(), seatsync.TriggerManual, nil); err == nil {
		t.Error("StartRun with a bad run id succeeded")
	}
	for range 100 {
		if id := fanout.NewGUID(); !seatsync.IsGUID(id) || id != strings.ToLower(id) || id[14] != '4' {
			t.Fatalf("NewGUID() = %q", id)
		}
	}
}

func TestMessage(t *testing.T) {
	m, err := fanout.Message(tid(7), tid(1))
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != tid(7)+"/"+tid(1) || string(m.Body) != `{"runId":"`+tid(7)+`","tenantId":"`+tid(1)+`"}` ||
		m.Properties["runId"] != tid(7) || m.Properties["tenantId"] != tid(1) || len(m.Properties) != 2 || len(m.ID) > 128 {
		t.Errorf("Message = %+v (%s)", m, m.Body)
	}
}

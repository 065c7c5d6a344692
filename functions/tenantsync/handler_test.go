package tenantsync_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seatsync/seatsync/functions/tenantsync"
	"github.com/seatsync/seatsync/shared/funchost"
	"github.com/seatsync/seatsync/shared/graph"
	"github.com/seatsync/seatsync/shared/partnercenter"
	"github.com/seatsync/seatsync/shared/seatsync"
	"github.com/seatsync/seatsync/shared/tables"
	"github.com/seatsync/seatsync/shared/tables/tablestest"
)

// fakeGraph answers with fixed values and errors.
type fakeGraph struct {
	skus                     []graph.SubscribedSku
	subs                     []graph.CompanySubscription
	skusErr, subsErr, cntErr error
	calls                    atomic.Int32
}

func (f *fakeGraph) SubscribedSkus(context.Context, string) ([]graph.SubscribedSku, error) {
	f.calls.Add(1)
	return f.skus, f.skusErr
}

func (f *fakeGraph) DirectorySubscriptions(context.Context, string) ([]graph.CompanySubscription, error) {
	f.calls.Add(1)
	return f.subs, f.subsErr
}

func (f *fakeGraph) UserCounts(context.Context, string) (graph.UserCounts, error) {
	f.calls.Add(1)
	return graph.UserCounts{LicensedUsers: 3, EnabledMembers: 4}, f.cntErr
}

type fakePC struct {
	subs  []partnercenter.Subscription
	err   error
	calls atomic.Int32
}

func (f *fakePC) Subscriptions(context.Context, string) ([]partnercenter.Subscription, error) {
	f.calls.Add(1)
	return f.subs, f.err
}

type fakeEnv struct {
	licences *tables.Licences
	runs     *tables.Runs
	msg      funchost.ServiceBusMessage
}

const fakeSku = "cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46"

// newFakeEnv records a run of one tenant with relationships rels and
// returns its message.
func newFakeEnv(t *testing.T, rels ...string) *fakeEnv {
	t.Helper()
	svc := tablestest.Isolated(t)
	ctx := t.Context()
	if err := svc.EnsureTables(ctx, append(tables.AllTables(), tables.LicenceTables()...)...); err != nil {
		t.Fatal(err)
	}
	e := &fakeEnv{licences: tables.NewLicences(svc), runs: tables.NewRuns(svc)}
	if err := tables.NewStore(svc).PutTenants(ctx, []seatsync.Tenant{{TenantID: tenant, DisplayName: "Contoso", Relationships: rels,
		Active: true, Status: seatsync.TenantPending}}); err != nil {
		t.Fatal(err)
	}
	if err := e.runs.Create(ctx, tables.RunRecord{Run: seatsync.Run{RunID: run, Trigger: seatsync.TriggerManual, Status: seatsync.RunRunning,
		StartedAt: time.Now().Add(-time.Minute), TenantsTotal: 1}}, []string{tenant}); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(seatsync.TenantSyncMessage{RunID: run, TenantID: tenant})
	e.msg = funchost.ServiceBusMessage{Body: body, MessageID: run + "/" + tenant, DeliveryCount: 1}
	return e
}

func (e *fakeEnv) handler(t *testing.T, g tenantsync.GraphReader, pc tenantsync.SubscriptionLister) *tenantsync.Handler {
	t.Helper()
	h, err := tenantsync.NewHandler(tenantsync.Options{Graph: g, PartnerCenter: pc, Licences: e.licences, Runs: e.runs})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (e *fakeEnv) result(t *testing.T) tables.RunTenantResult {
	t.Helper()
	res, err := e.runs.Result(t.Context(), run, tenant)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func readableGraph() *fakeGraph {
	return &fakeGraph{
		skus: []graph.SubscribedSku{{SkuID: fakeSku, SkuPartNumber: "SPB", CapabilityStatus: "Enabled", AppliesTo: "User", ConsumedUnits: 2,
			PrepaidUnits: graph.LicenseUnits{Enabled: 5}}},
		subs: []graph.CompanySubscription{{ID: "g1", CommerceSubscriptionID: "C1", SkuID: fakeSku, SkuPartNumber: "SPB", Status: "Enabled",
			TotalLicenses: 5}},
	}
}

// When the reads made at once fail differently, the failure someone must
// fix is recorded rather than retried: Partner Center refusing access wins
// over Graph throttling.
func TestPermanentFailureWinsOverTransient(t *testing.T) {
	e := newFakeEnv(t, seatsync.RelationshipGDAP, seatsync.RelationshipCSP)
	g := readableGraph()
	g.subsErr = &graph.Error{Status: http.StatusTooManyRequests, TenantID: tenant}
	pc := &fakePC{err: &partnercenter.Error{Status: http.StatusForbidden}}
	if err := e.handler(t, g, pc).Handle(t.Context(), e.msg); err != nil {
		t.Fatalf("Handle: %v; want the failure recorded", err)
	}
	res := e.result(t)
	if res.Status != seatsync.ResultFailed || res.Error == nil || res.Error.Code != partnercenter.CodeForbidden ||
		!strings.Contains(res.Error.Message, "Admin agent") {
		t.Errorf("result %+v (%+v)", res, res.Error)
	}
	if ls, _ := e.licences.Licenses(t.Context(), tenant); len(ls) != 0 {
		t.Errorf("licences written for a failed sync: %+v", ls)
	}
}

// Partner Center is read only for a Direct CSP customer; without a catalog
// the part number is the product name; the join takes Partner Center's
// terms and quantity.
func TestPartnerCenterOnlyForCSP(t *testing.T) {
	for _, c := range []struct {
		rels   []string
		pcRead bool
	}{
		{[]string{seatsync.RelationshipGDAP}, false},
		{[]string{seatsync.RelationshipGDAP, seatsync.RelationshipCSP}, true},
	} {
		e := newFakeEnv(t, c.rels...)
		g := readableGraph()
		end := time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC)
		pc := &fakePC{subs: []partnercenter.Subscription{{ID: "c1", Quantity: 6, BillingCycle: "annual", TermDuration: "P1Y",
			CommitmentEndDate: &end, AutoRenewEnabled: true}}}
		if err := e.handler(t, g, pc).Handle(t.Context(), e.msg); err != nil {
			t.Fatal(err)
		}
		if got := pc.calls.Load() == 1; got != c.pcRead {
			t.Errorf("%v: Partner Center read %v, want %v", c.rels, got, c.pcRead)
		}
		if n := g.calls.Load(); n != 3 {
			t.Errorf("%v: %d Graph reads, want 3", c.rels, n)
		}
		ls, _ := e.licences.Licenses(t.Context(), tenant)
		if len(ls) != 1 || ls[0].ProductName != "SPB" || ls[0].Available != 3 || ls[0].SubscriptionIDs[0] != "C1" {
			t.Errorf("%v: licences %+v", c.rels, ls)
		}
		subs, _ := e.licences.Subscriptions(t.Context(), tenant)
		if len(subs) != 1 {
			t.Fatalf("%v: subscriptions %+v", c.rels, subs)
		}
		s := subs[0]
		if c.pcRead {
			if s.Quantity != 6 || s.BillingCycle != "annual" || s.TermDuration != "P1Y" || s.CommitmentEndAt == nil ||
				!s.CommitmentEndAt.Equal(end) || s.AutoRenew == nil || !*s.AutoRenew {
				t.Errorf("joined subscription %+v", s)
			}
		} else if s.Quantity != 5 || s.BillingCycle != "" || s.AutoRenew != nil {
			t.Errorf("Graph-only subscription %+v", s)
		}
		if res := e.result(t); res.Status != seatsync.ResultSucceeded {
			t.Errorf("%v: result %+v", c.rels, res)
		}
	}
}

// A failure of our own (storage, a bug) and a timeout are retried, and on
// the last delivery recorded without internal detail.
func TestOwnFailuresOnLastDelivery(t *testing.T) {
	for _, c := range []struct {
		err  error
		code string
	}{
		{errors.New("tables: connection reset by peer"), seatsync.EInternal},
		{context.DeadlineExceeded, tenantsync.CodeTimeout},
	} {
		e := newFakeEnv(t, seatsync.RelationshipGDAP)
		g := readableGraph()
		g.skusErr = c.err
		h := e.handler(t, g, nil)
		if err := h.Handle(t.Context(), e.msg); err == nil {
			t.Errorf("%v: first delivery completed", c.err)
		}
		if res := e.result(t); res.Status != seatsync.ResultPending {
			t.Errorf("%v: result %+v after the first delivery", c.err, res)
		}
		e.msg.DeliveryCount = tenantsync.DefaultMaxDeliveries
		if err := h.Handle(t.Context(), e.msg); err != nil {
			t.Errorf("%v: last delivery: %v", c.err, err)
		}
		res := e.result(t)
		if res.Status != seatsync.ResultFailed || res.Error == nil || res.Error.Code != c.code ||
			strings.Contains(res.Error.Message, "connection reset") || !strings.Contains(res.Error.Message, "10 attempts") {
			t.Errorf("%v: result %+v (%+v)", c.err, res, res.Error)
		}
	}
}

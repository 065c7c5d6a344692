package fanout_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seatsync/seatsync/shared/fanout"
	"github.com/seatsync/seatsync/shared/graph"
	"github.com/seatsync/seatsync/shared/partnercenter"
	"github.com/seatsync/seatsync/shared/seatsync"
	"github.com/seatsync/seatsync/shared/tables"
	"github.com/seatsync/seatsync/shared/tables/tablestest"
)

// tid returns a tenant id that reads as its number.
func tid(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

// fakeGraph is a GraphLister with fixed answers.
type fakeGraph struct {
	gdap, dap       []graph.Customer
	gdapErr, dapErr error
	calls           atomic.Int32
}

func (f *fakeGraph) DelegatedAdminCustomers(context.Context) ([]graph.Customer, error) {
	f.calls.Add(1)
	return f.gdap, f.gdapErr
}

func (f *fakeGraph) Contracts(context.Context) ([]graph.Customer, error) {
	f.calls.Add(1)
	return f.dap, f.dapErr
}

// fakePC is a CustomerLister with fixed answers.
type fakePC struct {
	customers []partnercenter.Customer
	err       error
	calls     atomic.Int32
}

func (f *fakePC) Customers(context.Context) ([]partnercenter.Customer, error) {
	f.calls.Add(1)
	return f.customers, f.err
}

func gdap(id, name string) graph.Customer {
	return graph.Customer{TenantID: id, DisplayName: name, Relationship: seatsync.RelationshipGDAP}
}

func dap(id, name, domain string) graph.Customer {
	return graph.Customer{TenantID: id, DisplayName: name, DefaultDomain: domain, Relationship: seatsync.RelationshipDAP,
		ContractType: "ResellerPartner"}
}

func csp(id, name, domain string) partnercenter.Customer {
	return partnercenter.Customer{TenantID: id, CompanyName: name, Domain: domain, RelationshipToPartner: "reseller"}
}

// env is a fan-out on an isolated Azurite: the real store, runs and queue.
type env struct {
	svc   *tables.Service
	store *tables.Store
	runs  *tables.Runs
	queue *tables.Queue
	now   time.Time
}

func newEnv(t *testing.T) *env {
	t.Helper()
	svc := tablestest.Isolated(t)
	if err := svc.EnsureTables(t.Context(), tables.AllTables()...); err != nil {
		t.Fatal(err)
	}
	q, err := tables.NewQueue(svc, "tenant-sync", nil)
	if err != nil {
		t.Fatal(err)
	}
	return &env{svc: svc, store: tables.NewStore(svc), runs: tables.NewRuns(svc), queue: q,
		now: time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)}
}

// starter returns a Starter on e's tables; q nil means e's queue.
func (e *env) starter(t *testing.T, g fanout.GraphLister, pc fanout.CustomerLister, q seatsync.Queue, chunk int) *fanout.Starter {
	t.Helper()
	if q == nil {
		q = e.queue
	}
	var mu sync.Mutex
	clock := e.now
	s, err := fanout.New(fanout.Options{Graph: g, PartnerCenter: pc, Store: e.store, Runs: e.runs, Queue: q, Chunk: chunk,
		Now: func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			clock = clock.Add(time.Minute)
			return clock
		}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tenants returns every tenant row by id.
func (e *env) tenants(t *testing.T) map[string]seatsync.Tenant {
	t.Helper()
	out := map[string]seatsync.Tenant{}
	token := ""
	for {
		page, next, err := e.store.Tenants(t.Context(), 1000, token)
		if err != nil {
			t.Fatal(err)
		}
		for _, tn := range page {
			out[tn.TenantID] = tn
		}
		if next == "" {
			return out
		}
		token = next
	}
}

func (e *env) put(t *testing.T, ts ...seatsync.Tenant) {
	t.Helper()
	if err := e.store.PutTenants(t.Context(), ts); err != nil {
		t.Fatal(err)
	}
}

// received is one message as the queue delivered it.
type received struct {
	ID    string
	Body  map[string]any
	Props map[string]any
	Count int
}

// drain receives every visible message (and completes it), by ID; a
// second delivery of one ID fails the test.
func (e *env) drain(t *testing.T) map[string]received {
	t.Helper()
	out := map[string]received{}
	for {
		ds, err := e.queue.Receive(t.Context(), 50)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 0 {
			return out
		}
		for _, d := range ds {
			var body map[string]any
			if err := json.Unmarshal(d.Body, &body); err != nil {
				t.Fatalf("message %s: body %q is not JSON: %v", d.ID, d.Body, err)
			}
			if _, dup := out[d.ID]; dup {
				t.Errorf("message %s delivered twice", d.ID)
			}
			out[d.ID] = received{ID: d.ID, Body: body, Props: d.Properties, Count: d.DeliveryCount}
			if err := e.queue.Complete(t.Context(), d); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// checkMessages checks that msgs are exactly one per tenant of ids for run
// runID, each with the documented ID, body and properties.
func checkMessages(t *testing.T, msgs map[string]received, runID string, ids []string) {
	t.Helper()
	want := map[string]bool{}
	for _, id := range ids {
		want[runID+"/"+id] = true
	}
	if got := slices.Sorted(maps.Keys(msgs)); !slices.Equal(got, slices.Sorted(maps.Keys(want))) {
		t.Fatalf("messages:\n got %v\nwant %v", got, slices.Sorted(maps.Keys(want)))
	}
	for _, id := range ids {
		m := msgs[runID+"/"+id]
		wantBody := map[string]any{"runId": runID, "tenantId": id}
		if !maps.Equal(m.Body, wantBody) {
			t.Errorf("message %s: body %v, want %v", m.ID, m.Body, wantBody)
		}
		if !maps.Equal(m.Props, wantBody) {
			t.Errorf("message %s: properties %v, want %v", m.ID, m.Props, wantBody)
		}
	}
}

// noRun checks that no run was recorded.
func (e *env) noRun(t *testing.T) {
	t.Helper()
	if rec, err := e.runs.Latest(t.Context()); seatsync.ErrorCode(err) != seatsync.ENotFound || !errors.Is(err, tables.ErrNotFound) {
		t.Errorf("Latest = %+v, %v; want no run", rec, err)
	}
}

// flakyQueue passes the first budget messages to q, then fails once (part
// way through a Send), then passes everything.
type flakyQueue struct {
	q seatsync.Queue

	mu     sync.Mutex
	budget int
	failed bool
	sent   int // messages passed on
}

var errQueueDown = errors.New("queue: connection reset")

func (f *flakyQueue) Send(ctx context.Context, msgs []seatsync.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.failed && len(msgs) > f.budget {
		part := msgs[:f.budget]
		f.failed = true
		if err := f.q.Send(ctx, part); err != nil {
			return err
		}
		f.sent += len(part)
		return errQueueDown
	}
	if !f.failed {
		f.budget -= len(msgs)
	}
	if err := f.q.Send(ctx, msgs); err != nil {
		return err
	}
	f.sent += len(msgs)
	return nil
}

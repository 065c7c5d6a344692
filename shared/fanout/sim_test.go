package fanout_test

import (
	"slices"
	"testing"

	"github.com/seatsync/seatsync/shared/graph"
	"github.com/seatsync/seatsync/shared/mscloudsim"
	"github.com/seatsync/seatsync/shared/mscloudsim/simtest"
	"github.com/seatsync/seatsync/shared/partnercenter"
	"github.com/seatsync/seatsync/shared/seatsync"
)

const ()

// simClients consents on the simulator the way the consent function does
// (authorization code with PKCE) and returns the real Graph and Partner
// Center clients on the partner's token.
func simClients(t *testing.T, urls mscloudsim.URLs, pcOpts *partnercenter.Options) (*graph.Client, *partnercenter.Client) {
	t.Helper()
	tokens := simtest.PartnerTokens(t, urls)
	g, err := graph.New(urls.Graph, tokens, nil)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := partnercenter.New(urls.PartnerCenter, tokens, pcOpts)
	if err != nil {
		t.Fatal(err)
	}
	return g, pc
}

// End to end on the simulator: the real clients list the estate's 25
// tenants, every one gets a row with its relationships (those that cannot
// be synced too) and one message.
func TestStartRunOnSimulator(t *testing.T) {
	sim := mscloudsim.New(mscloudsim.Options{Seed: 3, GraphPageSize: 7, PartnerCenterPageSize: 6})
	urls, err := sim.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	estate := sim.Estate()
	g, pc := simClients(t, urls, &partnercenter.Options{MaxRetryWait: -1})
	e := newEnv(t)
	s := e.starter(t, g, pc, nil, 10)
	ctx := t.Context()

	sim.ResetCalls()
	run, err := s.StartRun(ctx, seatsync.TriggerManual, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(estate.Tenants) != mscloudsim.DefaultTenants || run.TenantsTotal != len(estate.Tenants) {
		t.Errorf("run of %d tenants; the estate has %d", run.TenantsTotal, len(estate.Tenants))
	}
	calls := sim.Calls()
	for _, k := range []string{"graph GET /v1.0/tenantRelationships/delegatedAdminCustomers", "graph GET /v1.0/contracts",
		"partnercenter GET /v1/customers"} {
		if calls[k] == 0 {
			t.Errorf("no call to %s", k)
		}
	}

	rows := e.tenants(t)
	if len(rows) != len(estate.Tenants) {
		t.Errorf("%d tenant rows, want %d", len(rows), len(estate.Tenants))
	}
	var ids []string
	failing := 0
	for _, tn := range estate.Tenants {
		ids = append(ids, tn.TenantID)
		if tn.Failure != mscloudsim.FailureNone {
			failing++
		}
		domain := ""
		if tn.Has(mscloudsim.RelDAP) || tn.Has(mscloudsim.RelCSP) {
			domain = tn.InitialDomain // what the lists say; Organization has the live one
		}
		want := seatsync.Tenant{TenantID: tn.TenantID, DisplayName: tn.DisplayName, DefaultDomain: domain,
			Relationships: tn.Relationships, Active: true, Status: seatsync.TenantPending}
		if d := tenantDiff(rows[tn.TenantID], want); d != "" {
			t.Errorf("tenant %s (%v, failure %q): %s", tn.TenantID, tn.Relationships, tn.Failure, d)
		}
	}
	if failing == 0 {
		t.Error("the estate has no tenant that cannot be synced; the test would not show they are listed")
	}
	slices.Sort(ids)
	checkMessages(t, e.drain(t), run.RunID, ids)

	// Partner Center down: the run goes ahead on Graph's lists with a
	// warning, and no tenant becomes inactive (not even the Partner
	// Center-only ones).
	sim.Inject(mscloudsim.Fault{Endpoint: "partnercenter GET /v1/customers", Kind: mscloudsim.FaultUnavailable, Count: 5})
	run2, err := s.StartRun(ctx, seatsync.TriggerSchedule, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := e.runs.Get(ctx, run2.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Warnings) != 1 || rec.Warnings[0].Code != partnercenter.CodeUnavailable {
		t.Errorf("run with Partner Center down: warnings %+v", rec.Warnings)
	}
	for id, row := range e.tenants(t) {
		if tn, _ := estate.Tenant(id); !row.Active || !slices.Equal(row.Relationships, tn.Relationships) {
			t.Errorf("tenant %s after a Partner Center failure: active %v, relationships %v", id, row.Active, row.Relationships)
		}
	}
	checkMessages(t, e.drain(t), run2.RunID, ids)
}

package graph_test

import (
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"testing"

	"github.com/seatsync/seatsync/shared/graph"
	"github.com/seatsync/seatsync/shared/seatsync"
)

// gdapCustomer is one delegatedAdminCustomer as the docs show it.
func gdapCustomer(tenant, name, etag string) map[string]any {
	return map[string]any{
		"@odata.type": "#microsoft.graph.delegatedAdminCustomer",
		"@odata.etag": etag,
		"id":          tenant,
		"tenantId":    tenant,
		"displayName": name,
	}
}

func TestDelegatedAdminCustomersFollowsThreePages(t *testing.T) {
	const (
		c1 = "1d4e7a20-3b5c-4d6e-8f90-a1b2c3d4e5f6"
		c2 = "2e5f8b31-4c6d-4e7f-9a01-b2c3d4e5f6a7"
		c3 = "3f609c42-5d7e-4f80-8b12-c3d4e5f6a7b8"
		c4 = "40a1ad53-6e8f-4091-9c23-d4e5f6a7b8c9"
	)
	var h *harness
	h = newHarness(t, func(w http.ResponseWriter, r *http.Request, tenant string, n int) {
		if r.URL.Path != "/v1.0/tenantRelationships/delegatedAdminCustomers" {
			t.Errorf("path %s", r.URL.Path)
		}
		if tenant != "" {
			t.Errorf("request %d with a token for tenant %q, want the partner's", n, tenant)
		}
		ctxURL := h.f.url("/v1.0/tenantRelationships/$metadata#delegatedAdminCustomers")
		switch n {
		case 1:
			writeJSON(w, 200, map[string]any{
				"@odata.context":  ctxURL,
				"value":           []any{gdapCustomer(c1, "Northwind Traders", `W/"JyJhYWEtMSIn"`), gdapCustomer(c2, "Fabrikam Ltd", `W/"JyJhYWEtMiIn"`)},
				"@odata.nextLink": h.f.url("/v1.0/tenantRelationships/delegatedAdminCustomers?$top=2&$skiptoken=RFNwdCsCAAAA"),
			})
		case 2:
			// A page may be empty and still have a next page.
			writeJSON(w, 200, map[string]any{
				"@odata.context":  ctxURL,
				"value":           []any{},
				"@odata.nextLink": h.f.url("/v1.0/tenantRelationships/delegatedAdminCustomers?$top=2&$skiptoken=RFNwdCsCBBBB"),
			})
		case 3:
			writeJSON(w, 200, map[string]any{
				"@odata.context": ctxURL,
				"value": []any{
					gdapCustomer(c3, "Tailspin Toys", `W/"JyJhYWEtMyIn"`),
					gdapCustomer(c1, "Northwind Traders", `W/"JyJhYWEtMSIn"`), // listed again
					gdapCustomer("not-a-guid", "Broken", `W/"JyJ4Iic="`),
					gdapCustomer(c4, "Wide World Importers", `W/"JyJhYWEtNCIn"`),
				},
			})
		default:
			t.Errorf("unexpected request %d", n)
			writeError(w, 400, "BadRequest", "no more pages", "")
		}
	}, func(o *graph.Options) { o.PageSize = 2 })

	got, err := h.c.DelegatedAdminCustomers(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []graph.Customer{
		{TenantID: c1, DisplayName: "Northwind Traders", Relationship: seatsync.RelationshipGDAP},
		{TenantID: c2, DisplayName: "Fabrikam Ltd", Relationship: seatsync.RelationshipGDAP},
		{TenantID: c3, DisplayName: "Tailspin Toys", Relationship: seatsync.RelationshipGDAP},
		{TenantID: c4, DisplayName: "Wide World Importers", Relationship: seatsync.RelationshipGDAP},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("customers =\n%+v\nwant\n%+v", got, want)
	}
	reqs := h.f.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	q, _ := url.ParseQuery(reqs[0].RawQuery)
	if q.Get("$top") != "2" || q.Get("$select") != "id,tenantId,displayName" {
		t.Errorf("first page query = %q", reqs[0].RawQuery)
	}
	// Next pages are the next link, in full.
	if q2, _ := url.ParseQuery(reqs[2].RawQuery); q2.Get("$skiptoken") != "RFNwdCsCBBBB" || q2.Get("$top") != "2" {
		t.Errorf("third page query = %q", reqs[2].RawQuery)
	}
	if asked := h.tokens.Asked(); len(asked) != 3 || asked[0] != "|"+h.f.url("/.default") {
		t.Errorf("tokens asked for %q, want the partner tenant and %s/.default", asked, h.f.srv.URL)
	}
}

func TestDelegatedAdminCustomersDefaultPageSize(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request, _ string, _ int) {
		writeJSON(w, 200, map[string]any{"value": []any{}})
	}, nil)
	got, err := h.c.DelegatedAdminCustomers(t.Context())
	if err != nil || len(got) != 0 {
		t.Fatalf("got %v, %v", got, err)
	}
	if q, _ := url.ParseQuery(h.f.Requests()[0].RawQuery); q.Get("$top") != "300" {
		t.Errorf("$top = %q, want 300", q.Get("$top"))
	}
}

func TestContracts(t *testing.T) {
	const (
		c1 = "5b2c8d64-7f91-4a2b-8c3d-e4f5a6b7c8d9"
		c2 = "6c3d9e75-8fa2-4b3c-9d4e-f5a6b7c8d9e0"
	)
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request, tenant string, n int) {
		if r.URL.Path != "/v1.0/contracts" || tenant != "" {
			t.Errorf("request %d: %s for tenant %q", n, r.URL.Path, tenant)
		}
		writeJSON(w, 200, map[string]any{
			"value": []any{
				map[string]any{"contractType": "ResellerPartner", "customerId": c1, "defaultDomainName": "northwindtraders.onmicrosoft.com", "displayName": "Northwind Traders", "id": "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"},
				map[string]any{"contractType": "ResellerPartner", "customerId": "6C3D9E75-8FA2-4B3C-9D4E-F5A6B7C8D9E0", "defaultDomainName": "contosoclinic.onmicrosoft.com", "displayName": "Contoso Clinic", "id": "8e7d6c5b-4a3f-4e2d-9c1b-0a9f8e7d6c5b"},
				map[string]any{"contractType": "ResellerPartner", "customerId": nil, "defaultDomainName": "orphan.onmicrosoft.com", "displayName": "Orphan", "id": "7f6e5d4c-3b2a-4f1e-8d0c-9b8a7f6e5d4c"},
			},
		})
	}, nil)
	got, err := h.c.Contracts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []graph.Customer{
		{TenantID: c1, DisplayName: "Northwind Traders", DefaultDomain: "northwindtraders.onmicrosoft.com", Relationship: seatsync.RelationshipDAP, ContractType: "ResellerPartner"},
		{TenantID: c2, DisplayName: "Contoso Clinic", DefaultDomain: "contosoclinic.onmicrosoft.com", Relationship: seatsync.RelationshipDAP, ContractType: "ResellerPartner"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("contracts =\n%+v\nwant\n%+v", got, want)
	}
	if !contains(h.log.String(), "without a customer id skipped") {
		t.Errorf("no warning about the skipped contract in %s", h.log.String())
	}
}

func TestNextLinkToAnotherHostIsRefused(t *testing.T) {
	for name, link := range map[string]string{
		"other host":   "https://graph.evil.example/v1.0/contracts?$skiptoken=abc",
		"other scheme": "https://127.0.0.1/v1.0/contracts?$skiptoken=abc",
		"relative":     "/v1.0/contracts?$skiptoken=abc",
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, func(w http.ResponseWriter, r *http.Request, _ string, n int) {
				writeJSON(w, 200, map[string]any{
					"value":           []any{map[string]any{"customerId": "5b2c8d64-7f91-4a2b-8c3d-e4f5a6b7c8d9", "displayName": "A"}},
					"@odata.nextLink": link,
				})
			}, nil)
			_, err := h.c.Contracts(t.Context())
			ge, ok := errors.AsType[*graph.Error](err)
			if !ok || ge.Kind() != graph.KindUnavailable {
				t.Fatalf("err = %v, want an unavailable *graph.Error", err)
			}
			if n := len(h.f.Requests()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
			if h.tokens.calls.Load() != 1 {
				t.Errorf("token source called %d times", h.tokens.calls.Load())
			}
		})
	}
}

func TestPagingIsBounded(t *testing.T) {
	var h *harness
	h = newHarness(t, func(w http.ResponseWriter, r *http.Request, _ string, n int) {
		writeJSON(w, 200, map[string]any{
			"value":           []any{},
			"@odata.nextLink": h.f.url("/v1.0/directory/subscriptions?$skiptoken=page" + string(rune('a'+n))),
		})
	}, nil)
	h.c.SetMaxPages(4)
	_, err := h.c.DirectorySubscriptions(t.Context(), tenantA)
	ge, ok := errors.AsType[*graph.Error](err)
	if !ok || ge.Kind() != graph.KindUnavailable || !contains(ge.Message, "stopped after 4") {
		t.Fatalf("err = %v", err)
	}
	if n := len(h.f.Requests()); n != 4 {
		t.Errorf("%d requests, want 4", n)
	}
}

func TestRepeatedNextLinkStops(t *testing.T) {
	var h *harness
	h = newHarness(t, func(w http.ResponseWriter, r *http.Request, _ string, n int) {
		writeJSON(w, 200, map[string]any{
			"value":           []any{},
			"@odata.nextLink": h.f.url("/v1.0/directory/subscriptions?$skiptoken=same"),
		})
	}, nil)
	_, err := h.c.DirectorySubscriptions(t.Context(), tenantA)
	if ge, ok := errors.AsType[*graph.Error](err); !ok || !contains(ge.Message, "repeated a next link") {
		t.Fatalf("err = %v", err)
	}
	if n := len(h.f.Requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

package graph_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seatsync/seatsync/shared/graph"
	"github.com/seatsync/seatsync/shared/seatsync"
)

const (
	skuBusiness = "a3f1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
	skuVoice    = "b4a2d3e5-6f70-4b8c-9dae-1f2a3b4c5d6e"
	skuStorage  = "c5b3e4f6-7081-4c9d-aebf-2a3b4c5d6e7f"
	subA1       = "d6c4f507-8192-4dae-bfc0-3b4c5d6e7f80"
	subA2       = "e7d50618-92a3-4ebf-80d1-4c5d6e7f8091"
)

// skusNew is a subscribedSkus answer in the current documented shape, with
// accountId, accountName, lockedOut and subscriptionIds.
func skusNew(base string) map[string]any {
	return map[string]any{
		"@odata.context": base + "/v1.0/$metadata#subscribedSkus",
		"value": []any{
			map[string]any{
				"accountName":      "Northwind Traders",
				"accountId":        "0f1e2d3c-4b5a-4968-8776-655443322110",
				"appliesTo":        "User",
				"capabilityStatus": "Enabled",
				"consumedUnits":    17,
				"id":               tenantA + "_" + skuBusiness,
				"prepaidUnits":     map[string]any{"enabled": 20, "lockedOut": 0, "suspended": 0, "warning": 3},
				"servicePlans": []any{
					map[string]any{"servicePlanId": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5e", "servicePlanName": "EXCHANGE_S_STANDARD", "provisioningStatus": "Success", "appliesTo": "User"},
				},
				"skuId":           skuBusiness,
				"skuPartNumber":   "O365_BUSINESS_PREMIUM",
				"subscriptionIds": []any{subA1, subA2},
			},
			map[string]any{
				"accountName":      "Northwind Traders",
				"accountId":        "0f1e2d3c-4b5a-4968-8776-655443322110",
				"appliesTo":        "Company",
				"capabilityStatus": "LockedOut",
				"consumedUnits":    0,
				"id":               tenantA + "_" + skuStorage,
				"prepaidUnits":     map[string]any{"enabled": 0, "lockedOut": 10, "suspended": 0, "warning": 0},
				"servicePlans":     []any{},
				"skuId":            skuStorage,
				"skuPartNumber":    "SHAREPOINTSTORAGE",
				"subscriptionIds":  []any{},
			},
		},
	}
}

// skusOld is a subscribedSkus answer in the older documented shape: no
// accountId, accountName, lockedOut or subscriptionIds.
func skusOld() map[string]any {
	return map[string]any{
		"value": []any{
			map[string]any{
				"appliesTo":        "User",
				"capabilityStatus": "Suspended",
				"consumedUnits":    4,
				"id":               tenantB + "_" + skuVoice,
				"prepaidUnits":     map[string]any{"enabled": 0, "suspended": 5, "warning": 0},
				"servicePlans": []any{
					map[string]any{"servicePlanId": "2b3c4d5e-6f70-4b8c-9dae-1f2a3b4c5d6f", "servicePlanName": "MCOEV", "provisioningStatus": "Disabled", "appliesTo": "User"},
				},
				"skuId":         skuVoice,
				"skuPartNumber": "MCOEV",
			},
		},
	}
}

func TestSubscribedSkusPerTenantToken(t *testing.T) {
	var h *harness
	h = newHarness(t, func(w http.ResponseWriter, r *http.Request, tenant string, n int) {
		if r.URL.Path != "/v1.0/subscribedSkus" {
			t.Errorf("path %s", r.URL.Path)
		}
		// Like Graph, the fake answers for the tenant the token is for.
		switch tenant {
		case tenantA:
			writeJSON(w, 200, skusNew(h.f.srv.URL))
		case tenantB:
			writeJSON(w, 200, skusOld())
		default:
			writeError(w, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.", "")
		}
	}, nil)

	gotA, err := h.c.SubscribedSkus(t.Context(), tenantA)
	if err != nil {
		t.Fatal(err)
	}
	wantA := []graph.SubscribedSku{
		{
			ID: tenantA + "_" + skuBusiness, AccountID: "0f1e2d3c-4b5a-4968-8776-655443322110", AccountName: "Northwind Traders",
			SkuID: skuBusiness, SkuPartNumber: "O365_BUSINESS_PREMIUM", AppliesTo: "User", CapabilityStatus: "Enabled",
			ConsumedUnits: 17, PrepaidUnits: graph.LicenseUnits{Enabled: 20, Warning: 3}, SubscriptionIDs: []string{subA1, subA2},
		},
		{
			ID: tenantA + "_" + skuStorage, AccountID: "0f1e2d3c-4b5a-4968-8776-655443322110", AccountName: "Northwind Traders",
			SkuID: skuStorage, SkuPartNumber: "SHAREPOINTSTORAGE", AppliesTo: "Company", CapabilityStatus: "LockedOut",
			PrepaidUnits: graph.LicenseUnits{LockedOut: 10}, SubscriptionIDs: []string{},
		},
	}
	if !reflect.DeepEqual(gotA, wantA) {
		t.Errorf("tenant A SKUs =\n%+v\nwant\n%+v", gotA, wantA)
	}

	// The older shape: the four newer fields come back zero or nil.
	gotB, err := h.c.SubscribedSkus(t.Context(), tenantB)
	if err != nil {
		t.Fatal(err)
	}
	wantB := []graph.SubscribedSku{{
		ID: tenantB + "_" + skuVoice, SkuID: skuVoice, SkuPartNumber: "MCOEV", AppliesTo: "User", CapabilityStatus: "Suspended",
		ConsumedUnits: 4, PrepaidUnits: graph.LicenseUnits{Suspended: 5},
	}}
	if !reflect.DeepEqual(gotB, wantB) {
		t.Errorf("tenant B SKUs =\n%+v\nwant\n%+v", gotB, wantB)
	}
	if gotB[0].SubscriptionIDs != nil {
		t.Errorf("SubscriptionIDs = %#v, want nil when absent", gotB[0].SubscriptionIDs)
	}

	reqs := h.f.Requests()
	if len(reqs) != 2 || reqs[0].Tenant != tenantA || reqs[1].Tenant != tenantB {
		t.Errorf("requests went with tokens for %+v", reqs)
	}
	scope := h.f.url("/.default")
	if got, want := h.tokens.Asked(), []string{tenantA + "|" + scope, tenantB + "|" + scope}; !reflect.DeepEqual(got, want) {
		t.Errorf("tokens asked for %q, want %q", got, want)
	}
}

func TestTenantIDMustBeAGUID(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request, _ string, _ int) {
		t.Errorf("unexpected request %s", r.URL)
	}, nil)
	for _, id := range []string{"", "../organization", "6b1f0c3e-2d4a-4f7b-9a51-0c8e7d3b2a1?", "contoso.onmicrosoft.com"} {
		_, err := h.c.SubscribedSkus(t.Context(), id)
		if seatsync.ErrorCode(err) != seatsync.EInvalid {
			t.Errorf("SubscribedSkus(%q) = %v, want an invalid-argument error", id, err)
		}
		if _, err := h.c.UserCounts(t.Context(), id); seatsync.ErrorCode(err) != seatsync.EInvalid {
			t.Errorf("UserCounts(%q) = %v", id, err)
		}
	}
	if h.tokens.calls.Load() != 0 {
		t.Error("a token was asked for")
	}
}

// companySubscription is one directory subscription as the docs show it.
func companySubscription(id, commerceID, skuID, part, status string, total int, trial bool, next any) map[string]any {
	return map[string]any{
		"createdDateTime":        "2024-05-01T08:30:00Z",
		"commerceSubscriptionId": commerceID,
		"id":                     id,
		"isTrial":                trial,
		"nextLifecycleDateTime":  next,
		"serviceStatus": []any{
			map[string]any{"appliesTo": "User", "provisioningStatus": "Success", "servicePlanId": "3c4d5e6f-7081-4c9d-aebf-2a3b4c5d6e70", "servicePlanName": "EXCHANGE_S_STANDARD"},
		},
		"skuId":         skuID,
		"skuPartNumber": part,
		"status":        status,
		"totalLicenses": total,
		"ownerId":       "4d5e6f70-8192-4dae-bfc0-3b4c5d6e7f81",
		"ownerTenantId": "5E6F7081-92A3-4EBF-80D1-4C5D6E7F8092",
		"ownerType":     "Company",
	}
}

func TestDirectorySubscriptionsFollowsThreePages(t *testing.T) {
	var h *harness
	h = newHarness(t, func(w http.ResponseWriter, r *http.Request, tenant string, n int) {
		if r.URL.Path != "/v1.0/directory/subscriptions" || tenant != tenantA {
			t.Errorf("request %d: %s for tenant %q", n, r.URL.Path, tenant)
		}
		next := h.f.url("/v1.0/directory/subscriptions?$skiptoken=X%27445370740200000%27&page=" + string(rune('1'+n)))
		switch n {
		case 1:
			writeJSON(w, 200, map[string]any{"value": []any{
				companySubscription(subA1, "f1e2d3c4-b5a6-4978-8695-a4b3c2d1e0f9", skuBusiness, "O365_BUSINESS_PREMIUM", "Enabled", 20, false, "2026-05-01T08:30:00Z"),
			}, "@odata.nextLink": next})
		case 2:
			writeJSON(w, 200, map[string]any{"value": []any{
				companySubscription(subA2, "e2d3c4b5-a6f7-4089-96a4-b3c2d1e0f9a8", skuBusiness, "O365_BUSINESS_PREMIUM", "Warning", 3, false, "2025-07-15T00:00:00Z"),
			}, "@odata.nextLink": next})
		case 3:
			writeJSON(w, 200, map[string]any{"value": []any{
				companySubscription("a8b9c0d1-e2f3-4a4b-8c5d-6e7f8091a2b3", "d3c4b5a6-f7e8-419a-a7b5-c2d1e0f9a8b7", skuStorage, "SHAREPOINTSTORAGE", "LockedOut", 10, true, nil),
			}})
		default:
			t.Errorf("unexpected request %d", n)
		}
	}, nil)
	got, err := h.c.DirectorySubscriptions(t.Context(), tenantA)
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2024, 5, 1, 8, 30, 0, 0, time.UTC)
	want := []graph.CompanySubscription{
		{ID: subA1, CommerceSubscriptionID: "f1e2d3c4-b5a6-4978-8695-a4b3c2d1e0f9", SkuID: skuBusiness, SkuPartNumber: "O365_BUSINESS_PREMIUM",
			Status: "Enabled", TotalLicenses: 20, CreatedDateTime: created, NextLifecycleDateTime: time.Date(2026, 5, 1, 8, 30, 0, 0, time.UTC),
			OwnerID: "4d5e6f70-8192-4dae-bfc0-3b4c5d6e7f81", OwnerTenantID: "5e6f7081-92a3-4ebf-80d1-4c5d6e7f8092", OwnerType: "Company"},
		{ID: subA2, CommerceSubscriptionID: "e2d3c4b5-a6f7-4089-96a4-b3c2d1e0f9a8", SkuID: skuBusiness, SkuPartNumber: "O365_BUSINESS_PREMIUM",
			Status: "Warning", TotalLicenses: 3, CreatedDateTime: created, NextLifecycleDateTime: time.Date(2025, 7, 15, 0, 0, 0, 0, time.UTC),
			OwnerID: "4d5e6f70-8192-4dae-bfc0-3b4c5d6e7f81", OwnerTenantID: "5e6f7081-92a3-4ebf-80d1-4c5d6e7f8092", OwnerType: "Company"},
		{ID: "a8b9c0d1-e2f3-4a4b-8c5d-6e7f8091a2b3", CommerceSubscriptionID: "d3c4b5a6-f7e8-419a-a7b5-c2d1e0f9a8b7", SkuID: skuStorage, SkuPartNumber: "SHAREPOINTSTORAGE",
			Status: "LockedOut", TotalLicenses: 10, IsTrial: true, CreatedDateTime: created,
			OwnerID: "4d5e6f70-8192-4dae-bfc0-3b4c5d6e7f81", OwnerTenantID: "5e6f7081-92a3-4ebf-80d1-4c5d6e7f8092", OwnerType: "Company"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("subscriptions =\n%+v\nwant\n%+v", got, want)
	}
	reqs := h.f.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	if q, _ := url.ParseQuery(reqs[2].RawQuery); q.Get("$skiptoken") != "X'445370740200000'" || q.Get("page") != "3" {
		t.Errorf("third request query %q is not the second next link", reqs[2].RawQuery)
	}
}

func TestOrganization(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request, tenant string, n int) {
		if r.URL.Path != "/v1.0/organization" || tenant != tenantB {
			t.Errorf("request %d: %s for tenant %q", n, r.URL.Path, tenant)
		}
		if q, _ := url.ParseQuery(r.URL.RawQuery); q.Get("$select") != "id,displayName,verifiedDomains" {
			t.Errorf("query %q", r.URL.RawQuery)
		}
		writeJSON(w, 200, map[string]any{
			"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#organization(id,displayName,verifiedDomains)",
			"value": []any{map[string]any{
				"id":          tenantB,
				"displayName": "Fabrikam\u00a0Ltd\n",
				"verifiedDomains": []any{
					map[string]any{"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": false, "isInitial": true, "name": "fabrikamltd.onmicrosoft.com", "type": "Managed"},
					map[string]any{"capabilities": "Email", "isDefault": true, "isInitial": false, "name": "Fabrikam.example", "type": "Managed"},
				},
			}},
		})
	}, nil)
	got, err := h.c.Organization(t.Context(), tenantB)
	if err != nil {
		t.Fatal(err)
	}
	want := graph.Organization{
		ID: tenantB, DisplayName: "Fabrikam Ltd", DefaultDomain: "fabrikam.example", InitialDomain: "fabrikamltd.onmicrosoft.com",
		VerifiedDomains: []string{"fabrikamltd.onmicrosoft.com", "fabrikam.example"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("organization = %+v, want %+v", got, want)
	}
}

func TestOrganizationWithoutDefaultDomainFallsBackToInitial(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request, _ string, _ int) {
		writeJSON(w, 200, map[string]any{"value": []any{map[string]any{
			"id": tenantA, "displayName": "Northwind",
			"verifiedDomains": []any{
				map[string]any{"isDefault": false, "isInitial": false, "name": "northwind.example"},
				map[string]any{"isDefault": false, "isInitial": true, "name": "northwind.onmicrosoft.com"},
			},
		}}})
	}, nil)
	got, err := h.c.Organization(t.Context(), tenantA)
	if err != nil || got.DefaultDomain != "northwind.onmicrosoft.com" {
		t.Fatalf("got %+v, %v", got, err)
	}
}

func TestOrganizationEmptyList(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request, _ string, _ int) {
		writeJSON(w, 200, map[string]any{"value": []any{}})
	}, nil)
	_, err := h.c.Organization(t.Context(), tenantA)
	if ge, ok := errors.AsType[*graph.Error](err); !ok || ge.Kind() != graph.KindUnavailable || ge.Status != 200 {
		t.Fatalf("err = %v", err)
	}
}

func TestUserCounts(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request, tenant string, n int) {
		if r.URL.Path != "/v1.0/users/$count" || tenant != tenantA {
			t.Errorf("request %d: %s for tenant %q", n, r.URL.Path, tenant)
		}
		if got := r.Header.Get("ConsistencyLevel"); got != "eventual" {
			t.Errorf("ConsistencyLevel = %q", got)
		}
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil || q.Get("$count") != "true" {
			t.Errorf("query %q lacks $count=true", r.URL.RawQuery)
		}
		if contains(r.URL.RawQuery, "+") {
			t.Errorf("query %q encodes spaces as +", r.URL.RawQuery)
		}
		switch q.Get("$filter") {
		case "assignedLicenses/$count ne 0":
			// Graph's $count answers may start with a byte-order mark.
			writeRaw(w, 200, "text/plain", "\ufeff17")
		case "accountEnabled eq true and userType eq 'Member'":
			writeRaw(w, 200, "text/plain;charset=utf-8", "23\r\n")
		default:
			t.Errorf("$filter = %q", q.Get("$filter"))
			writeError(w, 400, "Request_UnsupportedQuery", "Unsupported query.", "")
		}
	}, nil)
	got, err := h.c.UserCounts(t.Context(), tenantA)
	if err != nil {
		t.Fatal(err)
	}
	if want := (graph.UserCounts{LicensedUsers: 17, EnabledMembers: 23}); got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
	if n := len(h.f.Requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestUserCountsNotANumber(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request, _ string, _ int) {
		writeRaw(w, 200, "text/html", "<html>sign in</html>")
	}, nil)
	_, err := h.c.UserCounts(t.Context(), tenantA)
	ge, ok := errors.AsType[*graph.Error](err)
	if !ok || ge.Kind() != graph.KindUnavailable || ge.RequestID == "" {
		t.Fatalf("err = %v", err)
	}
}

func TestUserCountsRetriedLikeTheSDKCalls(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request, _ string, n int) {
		if n == 1 {
			writeError(w, 429, "TooManyRequests", "Please retry again later.", "1.25")
			return
		}
		writeRaw(w, 200, "text/plain", "5")
	}, nil)
	got, err := h.c.UserCounts(t.Context(), tenantA)
	if err != nil || got.LicensedUsers != 5 || got.EnabledMembers != 5 {
		t.Fatalf("got %+v, %v", got, err)
	}
	if w := h.sleeps.Waits(); len(w) != 1 || w[0] != 1250*time.Millisecond {
		t.Errorf("waits = %v, want [1.25s]", w)
	}
}

// countingTransport counts the requests of an Options.HTTPClient.
type countingTransport struct {
	n    atomic.Int32
	next http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// TestConcurrentTenantsKeepTheirTokens syncs many tenants at once on one
// Client (as tenantsync does), each answered by the fake for the tenant its
// token names, through a caller's HTTPClient transport.
func TestConcurrentTenantsKeepTheirTokens(t *testing.T) {
	ct := &countingTransport{next: http.DefaultTransport}
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request, tenant string, _ int) {
		// Each tenant has one SKU whose consumed units are its number.
		n, _ := strconv.Atoi(tenant[len(tenant)-2:])
		writeJSON(w, 200, map[string]any{"value": []any{map[string]any{
			"skuId": skuBusiness, "skuPartNumber": "O365_BUSINESS_PREMIUM", "consumedUnits": n,
			"appliesTo": "User", "capabilityStatus": "Enabled", "id": tenant + "_" + skuBusiness,
			"prepaidUnits": map[string]any{"enabled": 50, "suspended": 0, "warning": 0},
		}}})
	}, func(o *graph.Options) { o.HTTPClient = &http.Client{Transport: ct} })
	const tenants = 24
	var wg sync.WaitGroup
	for i := range tenants {
		wg.Go(func() {
			tenant := fmt.Sprintf("6b1f0c3e-2d4a-4f7b-9a51-0c8e7d3b2a%02d", i)
			got, err := h.c.SubscribedSkus(t.Context(), tenant)
			if err != nil {
				t.Errorf("%s: %v", tenant, err)
				return
			}
			if len(got) != 1 || got[0].ConsumedUnits != i || got[0].ID != tenant+"_"+skuBusiness {
				t.Errorf("%s: got %+v", tenant, got)
			}
		})
	}
	wg.Wait()
	if got := ct.n.Load(); got != tenants {
		t.Errorf("the caller's transport carried %d requests, want %d", got, tenants)
	}
}

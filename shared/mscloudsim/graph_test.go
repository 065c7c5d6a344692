package mscloudsim_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seatsync/seatsync/shared/mscloudsim"
)

// companySubscriptions mirrors Graph's directory/subscriptions page.
type companySubscriptions struct {
	Context  string `json:"@odata.context"`
	NextLink string `json:"@odata.nextLink"`
	Value    []struct {
		CreatedDateTime        string `json:"createdDateTime"`
		CommerceSubscriptionID string `json:"commerceSubscriptionId"`
		ID                     string `json:"id"`
		IsTrial                bool   `json:"isTrial"`
		NextLifecycleDateTime  string `json:"nextLifecycleDateTime"`
		ServiceStatus          []struct {
			AppliesTo          string `json:"appliesTo"`
			ProvisioningStatus string `json:"provisioningStatus"`
			ServicePlanID      string `json:"servicePlanId"`
			ServicePlanName    string `json:"servicePlanName"`
		} `json:"serviceStatus"`
		SkuID         string  `json:"skuId"`
		SkuPartNumber string  `json:"skuPartNumber"`
		Status        string  `json:"status"`
		TotalLicenses int     `json:"totalLicenses"`
		OwnerID       *string `json:"ownerId"`
		OwnerTenantID *string `json:"ownerTenantId"`
		OwnerType     *string `json:"ownerType"`
	} `json:"value"`
}

// contractsPage mirrors Graph's contracts page.
type contractsPage struct {
	Context  string `json:"@odata.context"`
	NextLink string `json:"@odata.nextLink"`
	Value    []struct {
		ContractType      string `json:"contractType"`
		CustomerID        string `json:"customerId"`
		DefaultDomainName string `json:"defaultDomainName"`
		DisplayName       string `json:"displayName"`
		ID                string `json:"id"`
	} `json:"value"`
}

// adminCustomersPage mirrors Graph's delegatedAdminCustomers page.
type adminCustomersPage struct {
	Context  string `json:"@odata.context"`
	NextLink string `json:"@odata.nextLink"`
	Value    []struct {
		Type        string `json:"@odata.type"`
		ETag        string `json:"@odata.etag"`
		ID          string `json:"id"`
		TenantID    string `json:"tenantId"`
		DisplayName string `json:"displayName"`
	} `json:"value"`
}

// organizations mirrors Graph's organization list.
type organizations struct {
	Context string `json:"@odata.context"`
	Value   []struct {
		ID                string `json:"id"`
		DisplayName       string `json:"displayName"`
		CountryLetterCode string `json:"countryLetterCode"`
		CreatedDateTime   string `json:"createdDateTime"`
		TenantType        string `json:"tenantType"`
		VerifiedDomains   []struct {
			Capabilities string `json:"capabilities"`
			IsDefault    bool   `json:"isDefault"`
			IsInitial    bool   `json:"isInitial"`
			Name         string `json:"name"`
			Type         string `json:"type"`
		} `json:"verifiedDomains"`
	} `json:"value"`
}

// graphFixture is a started simulator with the partner's Graph token and a
// token for one readable Direct CSP tenant with several SKUs.
type graphFixture struct {
	s       *mscloudsim.Sim
	urls    mscloudsim.URLs
	rt      string
	partner string // Graph token of the partner tenant
	tenant  mscloudsim.Tenant
	token   string // Graph token of tenant
}

func newGraphFixture(t *testing.T, opts mscloudsim.Options) graphFixture {
	t.Helper()
	s, urls := start(t, opts)
	f := graphFixture{s: s, urls: urls}
	f.rt = consent(t, urls).RefreshToken
	f.partner = accessToken(t, urls, f.rt, "organizations", graphScope)
	for _, tn := range readable(s.Estate()) {
		if tn.Has("csp") && len(tn.Subscriptions) > len(f.tenant.Subscriptions) {
			f.tenant = tn
		}
	}
	f.token = accessToken(t, urls, f.rt, f.tenant.TenantID, graphScope)
	return f
}

func TestGraphShapes(t *testing.T) {
	f := newGraphFixture(t, mscloudsim.Options{Seed: 2})
	e := f.s.Estate()
	tn := f.tenant

	// subscribedSkus: one unpaged list, the SKUs' units as the estate has them.
	resp, body := graphGet(t, f.urls, f.token, "/v1.0/subscribedSkus")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("subscribedSkus: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !guidRE.MatchString(resp.Header.Get("request-id")) {
		t.Errorf("request-id %q", resp.Header.Get("request-id"))
	}
	skus := decode[skuList](t, body)
	if !strings.HasSuffix(skus.Context, "/v1.0/$metadata#subscribedSkus") || strings.Contains(string(body), "nextLink") {
		t.Errorf("subscribedSkus context %q or paging in %s", skus.Context, body)
	}
	if len(skus.Value) != len(tn.SKUs) {
		t.Fatalf("%d SKUs, want %d", len(skus.Value), len(tn.SKUs))
	}
	for i, got := range skus.Value {
		want := tn.SKUs[i]
		if got.ID != tn.TenantID+"_"+want.SkuID || got.SkuID != want.SkuID || got.SkuPartNumber != want.SkuPartNumber ||
			got.CapabilityStatus != want.CapabilityStatus || got.ConsumedUnits != want.Consumed || got.AppliesTo != "User" ||
			got.PrepaidUnits.Enabled != want.Enabled || got.PrepaidUnits.Suspended != want.Suspended ||
			got.PrepaidUnits.Warning != want.Warning || got.PrepaidUnits.LockedOut != want.LockedOut ||
			!slices.Equal(got.SubscriptionIDs, want.SubscriptionIDs) || got.AccountID != tn.AccountID || got.AccountName != tn.DisplayName {
			t.Errorf("subscribedSku %d = %+v, want %+v", i, got, want)
		}
		if len(got.ServicePlans) == 0 || !guidRE.MatchString(got.ServicePlans[0].ServicePlanID) || got.ServicePlans[0].ServicePlanName == "" {
			t.Errorf("service plans %+v", got.ServicePlans)
		}
	}

	// directory/subscriptions: every Graph subscription, joined fields right.
	resp, body = graphGet(t, f.urls, f.token, "/v1.0/directory/subscriptions")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("directory/subscriptions: %d %s", resp.StatusCode, body)
	}
	subs := decode[companySubscriptions](t, body)
	var want []mscloudsim.Subscription
	for _, s := range tn.Subscriptions {
		if s.InGraph {
			want = append(want, s)
		}
	}
	if len(subs.Value) != len(want) || subs.NextLink != "" {
		t.Fatalf("%d subscriptions (next %q), want %d", len(subs.Value), subs.NextLink, len(want))
	}
	for i, got := range subs.Value {
		w := want[i]
		created, err1 := time.Parse(time.RFC3339, got.CreatedDateTime)
		next, err2 := time.Parse(time.RFC3339, got.NextLifecycleDateTime)
		if err1 != nil || err2 != nil || !created.Equal(w.CreatedAt.Truncate(time.Second)) || !next.Equal(w.NextLifecycleAt) {
			t.Errorf("subscription %d dates %q %q, want %v %v", i, got.CreatedDateTime, got.NextLifecycleDateTime, w.CreatedAt, w.NextLifecycleAt)
		}
		if got.ID != w.ID || got.CommerceSubscriptionID != w.CommerceSubscriptionID || got.SkuID != w.SkuID ||
			got.SkuPartNumber != w.SkuPartNumber || got.Status != w.Status || got.TotalLicenses != w.Quantity || got.IsTrial != w.IsTrial ||
			len(got.ServiceStatus) == 0 {
			t.Errorf("subscription %d = %+v, want %+v", i, got, w)
		}
		switch {
		case w.InPartnerCenter && (got.OwnerTenantID == nil || *got.OwnerTenantID != e.Partner.TenantID):
			t.Errorf("subscription %d sold by the partner has ownerTenantId %v", i, got.OwnerTenantID)
		case w.OwnerTenantID == "" && got.OwnerTenantID != nil:
			t.Errorf("self-service subscription %d has ownerTenantId %v", i, *got.OwnerTenantID)
		}
	}

	// contracts and delegatedAdminCustomers, with the partner's token.
	resp, body = graphGet(t, f.urls, f.partner, "/v1.0/contracts")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("contracts: %d %s", resp.StatusCode, body)
	}
	cs := decode[contractsPage](t, body)
	var dap, gdap []mscloudsim.Tenant
	for _, x := range e.Tenants {
		if x.Has("dap") {
			dap = append(dap, x)
		}
		if x.Has("gdap") {
			gdap = append(gdap, x)
		}
	}
	if len(cs.Value) != len(dap) {
		t.Fatalf("%d contracts, want %d", len(cs.Value), len(dap))
	}
	for i, c := range cs.Value {
		if c.CustomerID != dap[i].TenantID || c.DisplayName != dap[i].DisplayName || c.DefaultDomainName != dap[i].InitialDomain ||
			c.ContractType != "ResellerPartner" || !guidRE.MatchString(c.ID) || c.ID == c.CustomerID {
			t.Errorf("contract %d = %+v", i, c)
		}
	}
	resp, body = graphGet(t, f.urls, f.partner, "/v1.0/tenantRelationships/delegatedAdminCustomers")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("delegatedAdminCustomers: %d %s", resp.StatusCode, body)
	}
	dac := decode[adminCustomersPage](t, body)
	if !strings.HasSuffix(dac.Context, "/v1.0/tenantRelationships/$metadata#delegatedAdminCustomers") || len(dac.Value) != len(gdap) {
		t.Fatalf("delegatedAdminCustomers: context %q, %d customers, want %d", dac.Context, len(dac.Value), len(gdap))
	}
	for i, c := range dac.Value {
		if c.Type != "#microsoft.graph.delegatedAdminCustomer" || !strings.HasPrefix(c.ETag, `W/"`) || c.ID != gdap[i].TenantID ||
			c.TenantID != gdap[i].TenantID || c.DisplayName != gdap[i].DisplayName {
			t.Errorf("delegatedAdminCustomer %d = %+v", i, c)
		}
	}

	// $select keeps the annotations and the named properties only.
	_, body = graphGet(t, f.urls, f.partner, "/v1.0/tenantRelationships/delegatedAdminCustomers?$select=tenantId,displayName")
	var sel struct{ Value []map[string]any }
	_ = json.Unmarshal(body, &sel)
	if len(sel.Value) == 0 || len(sel.Value[0]) != 4 || sel.Value[0]["id"] != nil || sel.Value[0]["tenantId"] == nil {
		t.Errorf("$select answer %s", body)
	}

	// organization, in the customer's tenant and in the partner's.
	_, body = graphGet(t, f.urls, f.token, "/v1.0/organization")
	org := decode[organizations](t, body)
	if len(org.Value) != 1 || org.Value[0].ID != tn.TenantID || org.Value[0].DisplayName != tn.DisplayName || org.Value[0].TenantType != "AAD" {
		t.Fatalf("organization %s", body)
	}
	var def, initial string
	for _, d := range org.Value[0].VerifiedDomains {
		if d.IsDefault {
			def = d.Name
		}
		if d.IsInitial {
			initial = d.Name
		}
	}
	if def != tn.DefaultDomain || initial != tn.InitialDomain {
		t.Errorf("verified domains: default %q initial %q, want %q %q", def, initial, tn.DefaultDomain, tn.InitialDomain)
	}
	_, body = graphGet(t, f.urls, f.partner, "/v1.0/organization")
	if org := decode[organizations](t, body); len(org.Value) != 1 || org.Value[0].ID != e.Partner.TenantID {
		t.Errorf("partner organization %s", body)
	}

	// users/$count: text/plain numbers.
	for filter, want := range map[string]int{
		"":                             tn.Users.Total,
		"assignedLicenses/$count ne 0": tn.Users.Licensed,
		"accountEnabled eq true and userType eq 'Member'": tn.Users.EnabledMembers,
	} {
		path := "/v1.0/users/$count"
		if filter != "" {
			path += "?$filter=" + url.QueryEscape(filter)
		}
		resp, body := graphGet(t, f.urls, f.token, path, "ConsistencyLevel", "eventual")
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") || string(body) != strconv.Itoa(want) {
			t.Errorf("users/$count %q: %d %s %q, want %d", filter, resp.StatusCode, resp.Header.Get("Content-Type"), body, want)
		}
	}
	resp, body = graphGet(t, f.urls, f.token, "/v1.0/users/$count?$filter="+url.QueryEscape("startswith(displayName,'a')"), "ConsistencyLevel", "eventual")
	if resp.StatusCode != http.StatusBadRequest || decode[graphErr](t, body).Error.Code != "Request_UnsupportedQuery" {
		t.Errorf("unsupported filter: %d %s", resp.StatusCode, body)
	}
	// A query option the endpoint does not take.
	resp, body = graphGet(t, f.urls, f.token, "/v1.0/subscribedSkus?$filter="+url.QueryEscape("skuPartNumber eq 'SPB'"))
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("$filter on subscribedSkus: %d %s", resp.StatusCode, body)
	}
}

func TestGraphCountNeedsConsistencyLevel(t *testing.T) {
	f := newGraphFixture(t, mscloudsim.Options{Seed: 2})
	resp, body := graphGet(t, f.urls, f.token, "/v1.0/users/$count?$filter="+url.QueryEscape("assignedLicenses/$count ne 0"))
	ge := decode[graphErr](t, body)
	if resp.StatusCode != http.StatusBadRequest || ge.Error.Code != "Request_BadRequest" || !strings.Contains(ge.Error.Message, "ConsistencyLevel") ||
		!guidRE.MatchString(ge.Error.InnerError.RequestID) || ge.Error.InnerError.Date == "" {
		t.Errorf("$count without ConsistencyLevel: %d %s", resp.StatusCode, body)
	}
}

// followGraph walks a Graph list by @odata.nextLink and returns the raw
// items of every page and the page count.
func followGraph(t *testing.T, f graphFixture, token, path string) ([]json.RawMessage, []string) {
	t.Helper()
	var items []json.RawMessage
	var links []string
	next := path
	for next != "" {
		resp, body := graphGet(t, f.urls, token, next)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", next, resp.StatusCode, body)
		}
		var page struct {
			Next  string            `json:"@odata.nextLink"`
			Value []json.RawMessage `json:"value"`
		}
		_ = json.Unmarshal(body, &page)
		items = append(items, page.Value...)
		links = append(links, next)
		if len(links) > 100 {
			t.Fatal("paging does not end")
		}
		next = page.Next
	}
	return items, links
}

func TestGraphPaging(t *testing.T) {
	f := newGraphFixture(t, mscloudsim.Options{Seed: 4, GraphPageSize: 3})
	e := f.s.Estate()
	var gdap, dap []string
	for _, tn := range e.Tenants {
		if tn.Has("gdap") {
			gdap = append(gdap, tn.TenantID)
		}
		if tn.Has("dap") {
			dap = append(dap, tn.TenantID)
		}
	}
	ids := func(items []json.RawMessage, field string) []string {
		var out []string
		for _, it := range items {
			var m map[string]any
			_ = json.Unmarshal(it, &m)
			out = append(out, m[field].(string))
		}
		return out
	}
	pages := func(n, size int) int { return (n + size - 1) / size }

	items, links := followGraph(t, f, f.partner, "/v1.0/tenantRelationships/delegatedAdminCustomers")
	if got := ids(items, "tenantId"); !slices.Equal(got, gdap) || len(links) != pages(len(gdap), 3) {
		t.Errorf("delegatedAdminCustomers: %d items in %d pages, want %d in %d", len(got), len(links), len(gdap), pages(len(gdap), 3))
	}
	for _, l := range links[1:] {
		if !strings.HasPrefix(l, f.urls.Graph+"/v1.0/tenantRelationships/delegatedAdminCustomers?$skiptoken=") {
			t.Errorf("nextLink %s", l)
		}
	}
	items, links = followGraph(t, f, f.partner, "/v1.0/contracts?$top=2")
	if got := ids(items, "customerId"); !slices.Equal(got, dap) || len(links) != pages(len(dap), 2) {
		t.Errorf("contracts with $top=2: %d items in %d pages, want %d", len(got), len(links), len(dap))
	}
	if len(links) > 1 && !strings.Contains(links[1], "$top=2") {
		t.Errorf("the nextLink %s lost $top", links[1])
	}
	var subIDs []string
	for _, s := range f.tenant.Subscriptions {
		if s.InGraph {
			subIDs = append(subIDs, s.ID)
		}
	}
	items, links = followGraph(t, f, f.token, "/v1.0/directory/subscriptions")
	if got := ids(items, "id"); !slices.Equal(got, subIDs) || len(links) != pages(len(subIDs), 3) {
		t.Errorf("directory/subscriptions: %v in %d pages, want %v", got, len(links), subIDs)
	}

	// $count=true adds the whole list's count to every page.
	_, body := graphGet(t, f.urls, f.partner, "/v1.0/tenantRelationships/delegatedAdminCustomers?$count=true")
	var counted struct {
		Count int    `json:"@odata.count"`
		Next  string `json:"@odata.nextLink"`
	}
	_ = json.Unmarshal(body, &counted)
	if counted.Count != len(gdap) || !strings.Contains(counted.Next, "$count=true") {
		t.Errorf("$count=true: @odata.count %d, want %d; next %q", counted.Count, len(gdap), counted.Next)
	}

	// A skip token works only where it came from, and cannot be forged.
	_, body = graphGet(t, f.urls, f.partner, "/v1.0/contracts")
	next := decode[contractsPage](t, body).NextLink
	u, _ := url.Parse(next)
	tok := u.Query().Get("$skiptoken")
	for name, path := range map[string]string{
		"other list":   "/v1.0/tenantRelationships/delegatedAdminCustomers?$skiptoken=" + tok,
		"forged token": "/v1.0/contracts?$skiptoken=" + tok + "x",
		"bad $top":     "/v1.0/contracts?$top=0",
	} {
		resp, body := graphGet(t, f.urls, f.partner, path)
		if resp.StatusCode != http.StatusBadRequest || decode[graphErr](t, body).Error.Code == "" {
			t.Errorf("%s: %d %s", name, resp.StatusCode, body)
		}
	}
}

func TestGraphTokenChecks(t *testing.T) {
	clk := newClock()
	f := newGraphFixture(t, mscloudsim.Options{Seed: 2, Now: clk.Now})
	pc := accessToken(t, f.urls, f.rt, "organizations", pcScope)
	for _, tc := range []struct {
		name, token, path string
	}{
		{"partner token on customer data", f.partner, "/v1.0/subscribedSkus"},
		{"partner token on directory/subscriptions", f.partner, "/v1.0/directory/subscriptions"},
		{"customer token on partner data", f.token, "/v1.0/contracts"},
		{"customer token on delegatedAdminCustomers", f.token, "/v1.0/tenantRelationships/delegatedAdminCustomers"},
		{"Partner Center token", pc, "/v1.0/organization"},
		{"no token", "", "/v1.0/subscribedSkus"},
		{"unknown token", "eyJ0eXAiOiJKV1QifQ.e30.", "/v1.0/subscribedSkus"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := graphGet(t, f.urls, tc.token, tc.path, "ConsistencyLevel", "eventual")
			if resp.StatusCode != http.StatusUnauthorized || decode[graphErr](t, body).Error.Code != "InvalidAuthenticationToken" ||
				resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%d %s", resp.StatusCode, body)
			}
		})
	}
	clk.Advance(3600 * time.Second)
	resp, body := graphGet(t, f.urls, f.token, "/v1.0/subscribedSkus")
	if ge := decode[graphErr](t, body); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(ge.Error.Message, "expired") {
		t.Errorf("expired token: %d %s", resp.StatusCode, body)
	}
}

func TestGraphTenantFailures(t *testing.T) {
	f := newGraphFixture(t, mscloudsim.Options{Seed: 2})
	e := f.s.Estate()
	for _, tc := range []struct {
		failure mscloudsim.Failure
		status  int
		code    string
	}{
		{mscloudsim.FailureNoRoles, http.StatusForbidden, "Authorization_RequestDenied"},
		{mscloudsim.FailureDeleted, http.StatusNotFound, "Request_ResourceNotFound"},
	} {
		tn := withFailure(t, e, tc.failure)
		tok := accessToken(t, f.urls, f.rt, tn.TenantID, graphScope)
		for _, path := range []string{"/v1.0/subscribedSkus", "/v1.0/directory/subscriptions", "/v1.0/users/$count"} {
			resp, body := graphGet(t, f.urls, tok, path, "ConsistencyLevel", "eventual")
			if resp.StatusCode != tc.status || decode[graphErr](t, body).Error.Code != tc.code {
				t.Errorf("%s %s: %d %s, want %d %s", tc.failure, path, resp.StatusCode, body, tc.status, tc.code)
			}
		}
	}
}

func TestGraphBudgets(t *testing.T) {
	clk := newClock()
	f := newGraphFixture(t, mscloudsim.Options{Seed: 2, Now: clk.Now, Budgets: mscloudsim.Budgets{Window: time.Second, PerTenant: 2}})
	call := func(token string) *http.Response {
		resp, _ := graphGet(t, f.urls, token, "/v1.0/subscribedSkus")
		return resp
	}
	for i := range 2 {
		if r := call(f.token); r.StatusCode != http.StatusOK {
			t.Fatalf("call %d within the budget: %d", i, r.StatusCode)
		}
	}
	clk.Advance(750 * time.Millisecond)
	resp, body := graphGet(t, f.urls, f.token, "/v1.0/subscribedSkus")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "0.25" ||
		decode[graphErr](t, body).Error.Code != "TooManyRequests" {
		t.Fatalf("past the tenant budget: %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	// Another tenant has its own budget.
	other := readable(f.s.Estate())[0]
	if other.TenantID == f.tenant.TenantID {
		other = readable(f.s.Estate())[1]
	}
	if r := call(accessToken(t, f.urls, f.rt, other.TenantID, graphScope)); r.StatusCode != http.StatusOK {
		t.Errorf("another tenant: %d", r.StatusCode)
	}
	// Throttled calls use no budget: after the window, two more pass.
	for range 3 {
		call(f.token)
	}
	clk.Advance(250 * time.Millisecond)
	for i := range 2 {
		if r := call(f.token); r.StatusCode != http.StatusOK {
			t.Errorf("call %d after the window: %d", i, r.StatusCode)
		}
	}
	if r := call(f.token); r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "1" {
		t.Errorf("third call of the new window: %d %q", r.StatusCode, r.Header.Get("Retry-After"))
	}

	// The per-app budget spans tenants.
	clk2 := newClock()
	g := newGraphFixture(t, mscloudsim.Options{Seed: 2, Now: clk2.Now, Budgets: mscloudsim.Budgets{Window: 10 * time.Second, PerApp: 3}})
	var codes []int
	for _, tn := range readable(g.s.Estate())[:4] {
		codes = append(codes, call2(t, g, tn.TenantID))
	}
	if !slices.Equal(codes, []int{200, 200, 200, 429}) {
		t.Errorf("per-app budget: %v", codes)
	}
	clk2.Advance(10 * time.Second)
	if c := call2(t, g, readable(g.s.Estate())[4].TenantID); c != http.StatusOK {
		t.Errorf("after the app window: %d", c)
	}
}

func call2(t *testing.T, f graphFixture, tenant string) int {
	resp, _ := graphGet(t, f.urls, accessToken(t, f.urls, f.rt, tenant, graphScope), "/v1.0/subscribedSkus")
	return resp.StatusCode
}

func TestFaults(t *testing.T) {
	f := newGraphFixture(t, mscloudsim.Options{Seed: 2})
	other := readable(f.s.Estate())[0]
	if other.TenantID == f.tenant.TenantID {
		other = readable(f.s.Estate())[1]
	}
	otherToken := accessToken(t, f.urls, f.rt, other.TenantID, graphScope)
	skus := "graph GET /v1.0/subscribedSkus"

	// 503 twice, with Retry-After, then the real answer.
	f.s.Inject(mscloudsim.Fault{Endpoint: skus, Kind: mscloudsim.FaultUnavailable, Count: 2, RetryAfter: "0.5"})
	for i := range 2 {
		resp, body := graphGet(t, f.urls, f.token, "/v1.0/subscribedSkus")
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "0.5" || decode[graphErr](t, body).Error.Code == "" {
			t.Errorf("503 fault %d: %d %q %s", i, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
	if resp, _ := graphGet(t, f.urls, f.token, "/v1.0/subscribedSkus"); resp.StatusCode != http.StatusOK {
		t.Errorf("after the faults: %d", resp.StatusCode)
	}

	// A tenant's fault hits that tenant only.
	f.s.Inject(mscloudsim.Fault{Endpoint: skus, Tenant: other.TenantID, Kind: mscloudsim.FaultMalformed})
	if resp, body := graphGet(t, f.urls, f.token, "/v1.0/subscribedSkus"); resp.StatusCode != http.StatusOK || !json.Valid(body) {
		t.Errorf("another tenant's call was hit: %d %s", resp.StatusCode, body)
	}
	if resp, body := graphGet(t, f.urls, otherToken, "/v1.0/subscribedSkus"); resp.StatusCode != http.StatusOK || json.Valid(body) {
		t.Errorf("malformed fault: %d %s", resp.StatusCode, body)
	}
	f.s.Inject(mscloudsim.Fault{Endpoint: "graph GET /v1.0/users/$count", Kind: mscloudsim.FaultMalformed})
	if _, body := graphGet(t, f.urls, f.token, "/v1.0/users/$count", "ConsistencyLevel", "eventual"); isNumber(string(body)) {
		t.Errorf("malformed $count %q is a number", body)
	}

	// 429 with the Retry-After asked for.
	f.s.Inject(mscloudsim.Fault{Endpoint: "graph", Kind: mscloudsim.FaultThrottle, RetryAfter: "7"})
	if resp, _ := graphGet(t, f.urls, f.token, "/v1.0/organization"); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "7" {
		t.Errorf("throttle fault: %d %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	// A hang lasts until the client gives up.
	f.s.Inject(mscloudsim.Fault{Endpoint: "graph GET /v1.0/organization", Kind: mscloudsim.FaultHang})
	c := &http.Client{Timeout: 200 * time.Millisecond}
	req, _ := http.NewRequest(http.MethodGet, f.urls.Graph+"/v1.0/organization", nil)
	req.Header.Set("Authorization", "Bearer "+f.token)
	began := time.Now()
	_, err := c.Do(req)
	var ue *url.Error
	if !errors.As(err, &ue) || !ue.Timeout() || time.Since(began) < 200*time.Millisecond {
		t.Errorf("hang: %v after %s", err, time.Since(began))
	}
	if resp, _ := graphGet(t, f.urls, f.token, "/v1.0/organization"); resp.StatusCode != http.StatusOK {
		t.Errorf("after the hang: %d", resp.StatusCode)
	}

	// Faults of the identity platform and Partner Center have their shapes.
	f.s.Inject(mscloudsim.Fault{Endpoint: "login POST /{tenant}/oauth2/v2.0/token", Kind: mscloudsim.FaultUnavailable})
	resp, body := refresh(t, f.urls, "organizations", f.rt, graphScope)
	if e := decode[aadError](t, body); resp.StatusCode != http.StatusServiceUnavailable || e.Error != "temporarily_unavailable" {
		t.Errorf("token endpoint fault: %d %s", resp.StatusCode, body)
	}
	pc := accessToken(t, f.urls, f.rt, "organizations", pcScope)
	f.s.Inject(mscloudsim.Fault{Endpoint: "partnercenter", Kind: mscloudsim.FaultThrottle, RetryAfter: "3"})
	resp, body = get(t, http.DefaultClient, f.urls.PartnerCenter+"/v1/customers?size=5", "Authorization", "Bearer "+pc)
	var pt struct {
		StatusCode int    `json:"statusCode"`
		Message    string `json:"message"`
	}
	_ = json.Unmarshal(body, &pt)
	if resp.StatusCode != http.StatusTooManyRequests || pt.StatusCode != 429 || !strings.Contains(pt.Message, "3 seconds") || resp.Header.Get("Retry-After") != "3" {
		t.Errorf("Partner Center throttle fault: %d %s", resp.StatusCode, body)
	}
}

func TestInjectRefusesImpossibleFaults(t *testing.T) {
	s := mscloudsim.New(mscloudsim.Options{Seed: 1, Tenants: 2})
	for _, f := range []mscloudsim.Fault{
		{Endpoint: "grpah GET /v1.0/subscribedSkus", Kind: mscloudsim.FaultUnavailable},
		{Endpoint: "", Kind: mscloudsim.FaultUnavailable},
		{Endpoint: "graph", Kind: 0},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Inject(%+v) did not panic", f)
				}
			}()
			s.Inject(f)
		}()
	}
}

func isNumber(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}

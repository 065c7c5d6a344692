package mscloudsim_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seatsync/seatsync/shared/mscloudsim"
)

// pcLink mirrors a Partner Center link.
type pcLink struct {
	URI     string `json:"uri"`
	Method  string `json:"method"`
	Headers []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"headers"`
}

// customersPage mirrors Partner Center's customers collection.
type customersPage struct {
	TotalCount int `json:"totalCount"`
	Items      []struct {
		ID             string `json:"id"`
		CompanyProfile struct {
			TenantID    string `json:"tenantId"`
			Domain      string `json:"domain"`
			CompanyName string `json:"companyName"`
		} `json:"companyProfile"`
		RelationshipToPartner string `json:"relationshipToPartner"`
		Attributes            struct {
			ObjectType string `json:"objectType"`
		} `json:"attributes"`
	} `json:"items"`
	Links struct {
		Self pcLink  `json:"self"`
		Next *pcLink `json:"next"`
	} `json:"links"`
	ContinuationToken string `json:"continuationToken"`
	Attributes        struct {
		ObjectType string `json:"objectType"`
	} `json:"attributes"`
}

// pcSubscriptions mirrors Partner Center's subscriptions collection, with
// the documented fields.
type pcSubscriptions struct {
	TotalCount int `json:"totalCount"`
	Items      []struct {
		ID           string `json:"id"`
		OfferID      string `json:"offerId"`
		OfferName    string `json:"offerName"`
		FriendlyName string `json:"friendlyName"`
		ProductType  struct {
			ID string `json:"id"`
		} `json:"productType"`
		Quantity              int    `json:"quantity"`
		UnitType              string `json:"unitType"`
		CreationDate          string `json:"creationDate"`
		EffectiveStartDate    string `json:"effectiveStartDate"`
		CommitmentEndDate     string `json:"commitmentEndDate"`
		CommitmentEndDateTime string `json:"commitmentEndDateTime"`
		Status                string `json:"status"`
		AutoRenewEnabled      bool   `json:"autoRenewEnabled"`
		BillingType           string `json:"billingType"`
		BillingCycle          string `json:"billingCycle"`
		TermDuration          string `json:"termDuration"`
		IsTrial               bool   `json:"isTrial"`
		ContractType          string `json:"contractType"`
		OrderID               string `json:"orderId"`
		Links                 struct {
			Self pcLink `json:"self"`
		} `json:"links"`
		Attributes struct {
			ObjectType string `json:"objectType"`
		} `json:"attributes"`
	} `json:"items"`
	Links struct {
		Self pcLink `json:"self"`
	} `json:"links"`
}

func cspTenants(e mscloudsim.Estate) []mscloudsim.Tenant {
	var out []mscloudsim.Tenant
	for _, t := range e.Tenants {
		if t.Has("csp") {
			out = append(out, t)
		}
	}
	return out
}

func TestPartnerCenterCustomersPaging(t *testing.T) {
	s, urls := start(t, mscloudsim.Options{Seed: 6, PartnerCenterPageSize: 4})
	rt := consent(t, urls).RefreshToken
	tok := accessToken(t, urls, rt, "organizations", pcScope)
	var want []string
	for _, tn := range cspTenants(s.Estate()) {
		want = append(want, tn.TenantID)
	}
	auth := []string{"Authorization", "Bearer " + tok}

	// Shape 1: follow links.next, sending its headers.
	var viaLinks []string
	pages := 0
	target := urls.PartnerCenter + "/v1/customers?size=100"
	var header []string
	for target != "" {
		resp, body := get(t, http.DefaultClient, target, append(auth, header...)...)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", target, resp.StatusCode, body)
		}
		page := decode[customersPage](t, body)
		pages++
		if len(page.Items) > 4 || page.TotalCount != len(page.Items) || page.Attributes.ObjectType != "Collection" {
			t.Errorf("page %d: %d items, totalCount %d", pages, len(page.Items), page.TotalCount)
		}
		for _, it := range page.Items {
			if it.ID != it.CompanyProfile.TenantID || it.RelationshipToPartner != "reseller" || it.Attributes.ObjectType != "Customer" {
				t.Errorf("customer %+v", it)
			}
			viaLinks = append(viaLinks, it.CompanyProfile.TenantID)
		}
		target, header = "", nil
		if page.Links.Next != nil {
			n := page.Links.Next
			if n.Method != "GET" || len(n.Headers) != 1 || n.Headers[0].Key != "MS-ContinuationToken" || n.Headers[0].Value != page.ContinuationToken {
				t.Fatalf("next link %+v, body token %q", n, page.ContinuationToken)
			}
			if !strings.HasPrefix(n.URI, "/v1/customers?") || !strings.Contains(n.URI, "seekOperation=Next") {
				t.Errorf("next uri %q", n.URI)
			}
			target = urls.PartnerCenter + n.URI
			header = []string{n.Headers[0].Key, n.Headers[0].Value}
		} else if page.ContinuationToken != "" {
			t.Error("the last page has a continuation token")
		}
	}
	if !slices.Equal(viaLinks, want) || pages != (len(want)+3)/4 {
		t.Errorf("via links.next: %d customers in %d pages, want %d", len(viaLinks), pages, len(want))
	}

	// Shape 2: the body's continuationToken, asked for the SDK's way
	// (seekOperation=Next, the token in a header, no size).
	var viaToken []string
	_, body := get(t, http.DefaultClient, urls.PartnerCenter+"/v1/customers?size=100", auth...)
	page := decode[customersPage](t, body)
	for {
		for _, it := range page.Items {
			viaToken = append(viaToken, it.ID)
		}
		if page.ContinuationToken == "" {
			break
		}
		resp, body := get(t, http.DefaultClient, urls.PartnerCenter+"/v1/customers?seekOperation=Next",
			append(auth, "MS-ContinuationToken", page.ContinuationToken)...)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("seek: %d %s", resp.StatusCode, body)
		}
		page = decode[customersPage](t, body)
	}
	if !slices.Equal(viaToken, want) {
		t.Errorf("via continuationToken: %v, want %v", viaToken, want)
	}

	for name, h := range map[string][]string{
		"forged token": append(slices.Clone(auth), "MS-ContinuationToken", "bm90LWEtdG9rZW4"),
		"no token":     auth,
	} {
		resp, body := get(t, http.DefaultClient, urls.PartnerCenter+"/v1/customers?seekOperation=Next", h...)
		if resp.StatusCode != http.StatusBadRequest || decode[pcErrorBody](t, body).Description == "" {
			t.Errorf("%s: %d %s", name, resp.StatusCode, body)
		}
	}
	if resp, _ := get(t, http.DefaultClient, urls.PartnerCenter+"/v1/customers?size=0", auth...); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("size=0: %d", resp.StatusCode)
	}
}

// pcErrorBody mirrors Partner Center's error answer.
type pcErrorBody struct {
	Code        int    `json:"code"`
	Description string `json:"description"`
}

// Partner Center's subscriptions join Graph's directory/subscriptions on
// the commerce subscription id, for every readable Direct CSP tenant.
func TestPartnerCenterJoinsGraph(t *testing.T) {
	s, urls := start(t, mscloudsim.Options{Seed: 9})
	e := s.Estate()
	rt := consent(t, urls).RefreshToken
	pc := accessToken(t, urls, rt, "organizations", pcScope)
	joined, pcOnly, terms := 0, 0, map[string]bool{}
	for _, tn := range readable(e) {
		if !tn.Has("csp") {
			continue
		}
		resp, body := get(t, http.DefaultClient, urls.PartnerCenter+"/v1/customers/"+tn.TenantID+"/subscriptions", "Authorization", "Bearer "+pc)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s subscriptions: %d %s", tn.DisplayName, resp.StatusCode, body)
		}
		pcs := decode[pcSubscriptions](t, body)
		if pcs.TotalCount != len(pcs.Items) || pcs.Links.Self.URI != "/customers/"+tn.TenantID+"/subscriptions" {
			t.Errorf("collection totalCount %d of %d, self %q", pcs.TotalCount, len(pcs.Items), pcs.Links.Self.URI)
		}
		_, body = graphGet(t, urls, accessToken(t, urls, rt, tn.TenantID, graphScope), "/v1.0/directory/subscriptions")
		graph := decode[companySubscriptions](t, body)
		byCommerce := map[string]int{}
		partnerSold := 0
		for i, g := range graph.Value {
			byCommerce[g.CommerceSubscriptionID] = i
			if g.OwnerTenantID != nil && *g.OwnerTenantID == e.Partner.TenantID {
				partnerSold++
			}
		}
		inGraph := 0
		for _, it := range pcs.Items {
			created, err := time.Parse(time.RFC3339Nano, it.CreationDate)
			end, err2 := time.Parse(time.RFC3339, it.CommitmentEndDate)
			if err != nil || err2 != nil || end.Hour() != 0 || created.IsZero() || it.Attributes.ObjectType != "Subscription" ||
				!strings.HasSuffix(it.Links.Self.URI, "/subscriptions/"+it.ID) || it.UnitType == "" || it.OfferID == "" ||
				!slices.Contains([]string{"active", "expired", "suspended", "deleted"}, it.Status) ||
				!slices.Contains([]string{"monthly", "annual", "none"}, it.BillingCycle) {
				t.Errorf("%s: Partner Center subscription %+v", tn.DisplayName, it)
			}
			i, ok := byCommerce[it.ID]
			if !ok {
				if it.ProductType.ID == "OnlineServicesNCE" {
					t.Errorf("%s: Partner Center subscription %s (%s) has no Graph subscription", tn.DisplayName, it.ID, it.OfferName)
				}
				pcOnly++
				continue
			}
			inGraph++
			g := graph.Value[i]
			p := product(t, g.SkuID)
			if g.TotalLicenses != it.Quantity || it.OfferName != p.Name || g.IsTrial != it.IsTrial {
				t.Errorf("%s: Graph %+v and Partner Center %+v disagree", tn.DisplayName, g, it)
			}
			joined++
			terms[it.TermDuration+"/"+it.BillingCycle] = true
		}
		// Partner Center lists exactly what the partner sold.
		if inGraph != partnerSold {
			t.Errorf("%s: %d Partner Center subscriptions in Graph, Graph has %d sold by the partner", tn.DisplayName, inGraph, partnerSold)
		}
	}
	if joined < 15 || pcOnly < 1 || !terms["P1M/monthly"] || !terms["P1Y/annual"] || !terms["P1Y/monthly"] {
		t.Errorf("joined %d, Partner Center only %d, terms %v", joined, pcOnly, terms)
	}
}

func product(t *testing.T, skuID string) mscloudsim.Product {
	t.Helper()
	for _, p := range mscloudsim.Products() {
		if p.SkuID == skuID {
			return p
		}
	}
	t.Fatalf("no product %s", skuID)
	return mscloudsim.Product{}
}

func TestPartnerCenterErrors(t *testing.T) {
	s, urls := start(t, mscloudsim.Options{Seed: 6})
	e := s.Estate()
	rt := consent(t, urls).RefreshToken
	pc := accessToken(t, urls, rt, "organizations", pcScope)
	csp := cspTenants(e)[0]
	var notCSP mscloudsim.Tenant
	for _, tn := range e.Tenants {
		if !tn.Has("csp") {
			notCSP = tn
		}
	}
	customerPC := accessToken(t, urls, rt, readable(e)[0].TenantID, pcScope)
	for _, tc := range []struct {
		name, token, path string
		status            int
	}{
		{"Graph token", accessToken(t, urls, rt, "organizations", graphScope), "/v1/customers?size=5", 401},
		{"customer tenant token", customerPC, "/v1/customers?size=5", 401},
		{"no token", "", "/v1/customers?size=5", 401},
		{"not a customer", pc, "/v1/customers/" + notCSP.TenantID + "/subscriptions", 404},
		{"unknown customer", pc, "/v1/customers/1d2e3f40-0000-4000-8000-000000000000/subscriptions", 404},
		{"not a GUID", pc, "/v1/customers/..%2f..%2fadmin/subscriptions", 400},
		{"unknown path", pc, "/v1/invoices", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := []string{}
			if tc.token != "" {
				h = []string{"Authorization", "Bearer " + tc.token}
			}
			resp, body := get(t, http.DefaultClient, urls.PartnerCenter+tc.path, h...)
			pe := decode[pcErrorBody](t, body)
			if resp.StatusCode != tc.status || pe.Code != tc.status || pe.Description == "" {
				t.Errorf("%d %s, want %d", resp.StatusCode, body, tc.status)
			}
			if !guidRE.MatchString(resp.Header.Get("MS-RequestId")) {
				t.Errorf("MS-RequestId %q", resp.Header.Get("MS-RequestId"))
			}
		})
	}
	resp, _ := get(t, http.DefaultClient, urls.PartnerCenter+"/v1/customers/"+csp.TenantID+"/subscriptions",
		"Authorization", "Bearer "+pc, "MS-CorrelationId", "0a1b2c3d-0000-4000-8000-000000000001")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("MS-CorrelationId") != "0a1b2c3d-0000-4000-8000-000000000001" {
		t.Errorf("subscriptions: %d, MS-CorrelationId %q", resp.StatusCode, resp.Header.Get("MS-CorrelationId"))
	}
}

func TestPartnerCenterBudget(t *testing.T) {
	clk := newClock()
	_, urls := start(t, mscloudsim.Options{Seed: 6, Now: clk.Now, Budgets: mscloudsim.Budgets{Window: 2 * time.Second, PerApp: 1}})
	rt := consent(t, urls).RefreshToken
	pc := accessToken(t, urls, rt, "organizations", pcScope)
	if resp, _ := get(t, http.DefaultClient, urls.PartnerCenter+"/v1/customers?size=5", "Authorization", "Bearer "+pc); resp.StatusCode != http.StatusOK {
		t.Fatalf("first call: %d", resp.StatusCode)
	}
	clk.Advance(1500 * time.Millisecond)
	resp, body := get(t, http.DefaultClient, urls.PartnerCenter+"/v1/customers?size=5", "Authorization", "Bearer "+pc)
	pt := decode[struct {
		StatusCode int    `json:"statusCode"`
		Message    string `json:"message"`
	}](t, body)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "0.5" || pt.StatusCode != 429 || !strings.Contains(pt.Message, "0.5 seconds") {
		t.Errorf("past the budget: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	clk.Advance(500 * time.Millisecond)
	if resp, _ := get(t, http.DefaultClient, urls.PartnerCenter+"/v1/customers?size=5", "Authorization", "Bearer "+pc); resp.StatusCode != http.StatusOK {
		t.Errorf("after the window: %d", resp.StatusCode)
	}
}

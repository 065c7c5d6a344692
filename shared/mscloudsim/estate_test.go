package mscloudsim_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/seatsync/seatsync/shared/mscloudsim"
)

// The product table must name the real SKUs: Graph's skuId, skuPartNumber
// and the catalog's display name (checked by hand against Microsoft's CSV).
func TestProductsAreMicrosofts(t *testing.T) {
	want := map[string][2]string{
		"cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46": {"SPB", "Microsoft 365 Business Premium"},
		"05e9a617-0261-4cee-bb44-138d3ef5d965": {"SPE_E3", "Microsoft 365 E3"},
		"4b9405b0-7788-4568-add1-99614e613b69": {"EXCHANGESTANDARD", "Exchange Online (Plan 1)"},
		"3b555118-da6a-4418-894f-7df1e2096870": {"O365_BUSINESS_ESSENTIALS", "Microsoft 365 Business Basic"},
		"f245ecc8-75af-4f8e-b61f-27d8114de5f3": {"O365_BUSINESS_PREMIUM", "Microsoft 365 Business Standard"},
		"6fd2c87f-b296-42f0-b197-1e91e994b900": {"ENTERPRISEPACK", "Office 365 E3"},
		"710779e8-3d4a-4c88-adb9-386c958d1fdf": {"TEAMS_EXPLORATORY", "Microsoft Teams Exploratory"},
		"f8a1db68-be16-40ed-86d5-cb42ce701560": {"POWER_BI_PRO", "Power BI Pro"},
	}
	ps := mscloudsim.Products()
	if len(ps) != len(want) {
		t.Fatalf("%d products, want %d", len(ps), len(want))
	}
	for _, p := range ps {
		w, ok := want[p.SkuID]
		if !ok || p.PartNumber != w[0] || p.Name != w[1] {
			t.Errorf("product %s %s %q, want %v", p.SkuID, p.PartNumber, p.Name, w)
		}
		if len(p.ServicePlans) < 2 {
			t.Errorf("%s has %d service plans, want a few", p.PartNumber, len(p.ServicePlans))
		}
	}
}

func TestEstateDeterministic(t *testing.T) {
	a := mscloudsim.New(mscloudsim.Options{Seed: 7})
	b := mscloudsim.New(mscloudsim.Options{Seed: 7})
	c := mscloudsim.New(mscloudsim.Options{Seed: 8})
	if !reflect.DeepEqual(a.Estate(), b.Estate()) {
		t.Fatal("two simulators of seed 7 have different estates")
	}
	ja, _ := json.Marshal(a.Estate())
	jb, _ := json.Marshal(b.Estate())
	jc, _ := json.Marshal(c.Estate())
	if !bytes.Equal(ja, jb) {
		t.Fatal("estate JSON differs for the same seed")
	}
	if bytes.Equal(ja, jc) {
		t.Fatal("seeds 7 and 8 gave the same estate")
	}
	if a.Estate().Tenants[0].TenantID == c.Estate().Tenants[0].TenantID {
		t.Error("seeds 7 and 8 gave the same first tenant id")
	}

	ba, bb, bc := bodies(t, a), bodies(t, b), bodies(t, c)
	if len(ba) != len(bb) {
		t.Fatalf("%d bodies against %d", len(ba), len(bb))
	}
	for i := range ba {
		if !bytes.Equal(ba[i].body, bb[i].body) {
			t.Errorf("%s: bodies differ for the same seed:\n%s\n%s", ba[i].what, ba[i].body, bb[i].body)
		}
	}
	differ := 0
	for i := range min(len(ba), len(bc)) {
		if !bytes.Equal(ba[i].body, bc[i].body) {
			differ++
		}
	}
	if differ < len(ba)/2 {
		t.Errorf("only %d of %d bodies differ between seeds 7 and 8", differ, len(ba))
	}
}

type namedBody struct {
	what string
	body []byte
}

// bodies makes the same sequence of requests to s's handlers and returns
// every body: token answers, each Graph call (with paging), Partner Center
// and the catalog.
func bodies(t *testing.T, s *mscloudsim.Sim) []namedBody {
	t.Helper()
	p := inproc{s}
	var out []namedBody
	add := func(what string, b []byte) { out = append(out, namedBody{what, bytes.Clone(b)}) }
	ct := p.consent(t)
	tb, _ := json.Marshal(ct)
	add("code redemption", tb)
	graph := p.token(t, "organizations", ct.RefreshToken, graphScope)
	pc := p.token(t, "organizations", ct.RefreshToken, pcScope)
	for _, target := range []string{"/v1.0/tenantRelationships/delegatedAdminCustomers?$top=4", "/v1.0/contracts?$top=2", "/v1.0/organization"} {
		for target != "" {
			rec := p.do(s.GraphHandler(), http.MethodGet, "http://graph.test"+strings.TrimPrefix(target, "http://graph.test"), nil,
				"Authorization", "Bearer "+graph.AccessToken)
			add("graph "+target, rec.Body.Bytes())
			var page struct {
				Next string `json:"@odata.nextLink"`
			}
			_ = json.Unmarshal(rec.Body.Bytes(), &page)
			target = page.Next
		}
	}
	rec := p.do(s.PartnerCenterHandler(), http.MethodGet, "http://pc.test/v1/customers?size=100", nil, "Authorization", "Bearer "+pc.AccessToken)
	add("partner center customers", rec.Body.Bytes())
	for _, tn := range readable(s.Estate())[:3] {
		tok := p.token(t, tn.TenantID, ct.RefreshToken, graphScope)
		for _, path := range []string{"/v1.0/subscribedSkus", "/v1.0/directory/subscriptions", "/v1.0/organization",
			"/v1.0/users/$count?$filter=assignedLicenses/$count%20ne%200"} {
			rec := p.do(s.GraphHandler(), http.MethodGet, "http://graph.test"+path, nil,
				"Authorization", "Bearer "+tok.AccessToken, "ConsistencyLevel", "eventual")
			add(tn.DisplayName+" "+path, rec.Body.Bytes())
		}
		if tn.Has(mscloudsim.RelCSP) {
			rec := p.do(s.PartnerCenterHandler(), http.MethodGet, "http://pc.test/v1/customers/"+tn.TenantID+"/subscriptions", nil,
				"Authorization", "Bearer "+pc.AccessToken)
			add(tn.DisplayName+" partner center subscriptions", rec.Body.Bytes())
		}
	}
	rec = p.do(s.CatalogHandler(), http.MethodGet, "http://catalog.test"+mscloudsim.CatalogPath, nil)
	add("catalog", rec.Body.Bytes())
	return out
}

// For N=25 every seed must give the mix an MSP's estate has; a few seeds
// make sure it is built in, not luck.
func TestEstateMix(t *testing.T) {
	for _, seed := range []int64{1, 2, 3, 42, -9} {
		e := mscloudsim.New(mscloudsim.Options{Seed: seed, Tenants: 25}).Estate()
		checkMix(t, seed, e)
	}
}

func checkMix(t *testing.T, seed int64, e mscloudsim.Estate) {
	t.Helper()
	if len(e.Tenants) != 25 {
		t.Fatalf("seed %d: %d tenants", seed, len(e.Tenants))
	}
	known := map[string]mscloudsim.Product{}
	for _, p := range mscloudsim.Products() {
		known[p.SkuID] = p
	}
	ids, domains := map[string]bool{}, map[string]bool{}
	var dapOnly, gdapOnly, noRoles, csp, trials, suspended, warning, lockedOut, overAssigned, severalPerSKU, termMix int
	failures := map[mscloudsim.Failure]int{}
	for _, tn := range e.Tenants {
		if ids[tn.TenantID] || domains[tn.InitialDomain] {
			t.Errorf("seed %d: duplicate tenant %s %s", seed, tn.TenantID, tn.InitialDomain)
		}
		ids[tn.TenantID], domains[tn.InitialDomain] = true, true
		switch {
		case slices.Equal(tn.Relationships, []string{"dap"}):
			dapOnly++
		case slices.Equal(tn.Relationships, []string{"gdap"}):
			gdapOnly++
		}
		if tn.Has("gdap") && len(tn.GDAPRoles) == 0 {
			noRoles++
			if tn.Failure != mscloudsim.FailureNoRoles {
				t.Errorf("seed %d: %s has GDAP without roles but failure %q", seed, tn.DisplayName, tn.Failure)
			}
		}
		if tn.Has("csp") {
			csp++
		}
		failures[tn.Failure]++
		bySKU := map[string][]mscloudsim.Subscription{}
		for _, s := range tn.Subscriptions {
			if s.InPartnerCenter && !tn.Has("csp") {
				t.Errorf("seed %d: %s is not Direct CSP but Partner Center lists %s", seed, tn.DisplayName, s.CommerceSubscriptionID)
			}
			if s.IsTrial {
				trials++
			}
			if s.InGraph {
				bySKU[s.SkuID] = append(bySKU[s.SkuID], s)
			}
		}
		for _, subs := range bySKU {
			if len(subs) > 1 {
				severalPerSKU++
			}
			terms := map[string]bool{}
			for _, s := range subs {
				if s.InPartnerCenter {
					terms[s.TermDuration] = true
				}
			}
			if terms["P1M"] && terms["P1Y"] {
				termMix++
			}
		}
		for _, sku := range tn.SKUs {
			p, ok := known[sku.SkuID]
			if !ok || p.PartNumber != sku.SkuPartNumber {
				t.Errorf("seed %d: %s has unknown SKU %s %s", seed, tn.DisplayName, sku.SkuID, sku.SkuPartNumber)
			}
			// The prepaid units are the subscriptions' sums.
			var en, su, wa, lo int
			var subIDs []string
			for _, s := range bySKU[sku.SkuID] {
				switch s.Status {
				case "Enabled":
					en += s.Quantity
				case "Suspended":
					su += s.Quantity
				case "Warning":
					wa += s.Quantity
				case "LockedOut":
					lo += s.Quantity
				}
				subIDs = append(subIDs, s.CommerceSubscriptionID)
			}
			if en != sku.Enabled || su != sku.Suspended || wa != sku.Warning || lo != sku.LockedOut || !slices.Equal(subIDs, sku.SubscriptionIDs) {
				t.Errorf("seed %d: %s %s units %+v do not add up from its subscriptions", seed, tn.DisplayName, sku.SkuPartNumber, sku)
			}
			suspended += sku.Suspended
			warning += sku.Warning
			lockedOut += sku.LockedOut
			if sku.Consumed > sku.Enabled {
				overAssigned++
			}
		}
		if tn.Users.EnabledMembers > tn.Users.Total || tn.Users.Licensed > tn.Users.Total {
			t.Errorf("seed %d: %s user counts %+v", seed, tn.DisplayName, tn.Users)
		}
	}
	for what, got := range map[string]int{
		"DAP-only tenants": dapOnly, "GDAP-only tenants": gdapOnly, "trial subscriptions": trials,
		"suspended units": suspended, "warning units": warning, "locked-out units": lockedOut,
		"SKUs with a monthly and an annual term": termMix,
	} {
		if got < 1 {
			t.Errorf("seed %d: no %s", seed, what)
		}
	}
	if noRoles < 2 {
		t.Errorf("seed %d: %d GDAP tenants without roles, want 2", seed, noRoles)
	}
	if severalPerSKU < 2 {
		t.Errorf("seed %d: %d SKUs with several subscriptions, want at least 2", seed, severalPerSKU)
	}
	if overAssigned != 1 {
		t.Errorf("seed %d: %d over-assigned SKUs, want exactly 1", seed, overAssigned)
	}
	if csp < 15 {
		t.Errorf("seed %d: %d Direct CSP tenants, want most", seed, csp)
	}
	for _, f := range []mscloudsim.Failure{mscloudsim.FailureConsentMissing, mscloudsim.FailureMFARequired, mscloudsim.FailureTokenExpired,
		mscloudsim.FailureTenantNotFound, mscloudsim.FailureDeleted, mscloudsim.FailureNoAdminRelationship} {
		if failures[f] != 1 {
			t.Errorf("seed %d: %d tenants with failure %s, want 1", seed, failures[f], f)
		}
	}
	if failures[mscloudsim.FailureNone] < 12 {
		t.Errorf("seed %d: only %d readable tenants", seed, failures[mscloudsim.FailureNone])
	}
}

func TestSmallEstatesStayReadable(t *testing.T) {
	for n := 1; n <= 6; n++ {
		e := mscloudsim.New(mscloudsim.Options{Seed: int64(n), Tenants: n}).Estate()
		if len(e.Tenants) != n {
			t.Fatalf("%d tenants, want %d", len(e.Tenants), n)
		}
		if r := readable(e); len(r) < (n+1)/2 {
			t.Errorf("N=%d: %d readable tenants", n, len(r))
		}
	}
}

func TestSetQuantity(t *testing.T) {
	s, urls := start(t, mscloudsim.Options{Seed: 3})
	var tn mscloudsim.Tenant
	for _, c := range readable(s.Estate()) {
		if c.Has("csp") && len(c.SKUs) > 0 && c.SKUs[0].Enabled > 5 {
			tn = c
			break
		}
	}
	sku := tn.SKUs[0]
	rt := consent(t, urls).RefreshToken
	enabledInGraph := func(skuID string) int {
		tok := accessToken(t, urls, rt, tn.TenantID, graphScope)
		_, body := graphGet(t, urls, tok, "/v1.0/subscribedSkus")
		for _, k := range decode[skuList](t, body).Value {
			if k.SkuID == skuID {
				return k.PrepaidUnits.Enabled
			}
		}
		return -1
	}

	s.SetQuantity(tn.TenantID, sku.SkuID, sku.Enabled+7)
	if got := enabledInGraph(sku.SkuID); got != sku.Enabled+7 {
		t.Errorf("after +7: Graph says %d enabled, want %d", got, sku.Enabled+7)
	}
	s.SetQuantity(tn.TenantID, sku.SkuID, 2)
	if got := enabledInGraph(sku.SkuID); got != 2 {
		t.Errorf("after reducing to 2: Graph says %d", got)
	}
	if e, _ := s.Estate().Tenant(tn.TenantID); e.SKUs[0].Enabled != 2 || e.SKUs[0].Consumed != sku.Consumed {
		t.Errorf("estate after reduction: %+v (consumed must stay %d)", e.SKUs[0], sku.Consumed)
	}

	// A SKU the tenant lacks is bought: a new subscription, in Graph and
	// in Partner Center.
	var missing string
	for _, p := range mscloudsim.Products() {
		if !slices.ContainsFunc(tn.SKUs, func(k mscloudsim.SKU) bool { return k.SkuID == p.SkuID }) {
			missing = p.SkuID
			break
		}
	}
	s.SetQuantity(tn.TenantID, missing, 4)
	if got := enabledInGraph(missing); got != 4 {
		t.Errorf("new SKU: Graph says %d enabled, want 4", got)
	}
	e, _ := s.Estate().Tenant(tn.TenantID)
	last := e.Subscriptions[len(e.Subscriptions)-1]
	if last.SkuID != missing || last.Quantity != 4 || !last.InPartnerCenter {
		t.Errorf("new subscription %+v", last)
	}

	defer func() {
		if recover() == nil {
			t.Error("SetQuantity of an unknown tenant did not panic")
		}
	}()
	s.SetQuantity("00000000-0000-0000-0000-000000000001", missing, 1)
}

// skuList mirrors Graph's subscribedSkus answer.
type skuList struct {
	Context string `json:"@odata.context"`
	Value   []struct {
		AccountName      string `json:"accountName"`
		AccountID        string `json:"accountId"`
		AppliesTo        string `json:"appliesTo"`
		CapabilityStatus string `json:"capabilityStatus"`
		ConsumedUnits    int    `json:"consumedUnits"`
		ID               string `json:"id"`
		PrepaidUnits     struct {
			Enabled   int `json:"enabled"`
			LockedOut int `json:"lockedOut"`
			Suspended int `json:"suspended"`
			Warning   int `json:"warning"`
		} `json:"prepaidUnits"`
		ServicePlans []struct {
			ServicePlanID      string `json:"servicePlanId"`
			ServicePlanName    string `json:"servicePlanName"`
			ProvisioningStatus string `json:"provisioningStatus"`
			AppliesTo          string `json:"appliesTo"`
		} `json:"servicePlans"`
		SkuID           string   `json:"skuId"`
		SkuPartNumber   string   `json:"skuPartNumber"`
		SubscriptionIDs []string `json:"subscriptionIds"`
	} `json:"value"`
}

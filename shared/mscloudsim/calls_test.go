package mscloudsim_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"sync"
	"testing"

	"github.com/seatsync/seatsync/shared/mscloudsim"
)

func TestCallsCountExactly(t *testing.T) {
	s, urls := start(t, mscloudsim.Options{Seed: 1})
	e := s.Estate()
	rt := consent(t, urls).RefreshToken
	partnerGraph := accessToken(t, urls, rt, "organizations", graphScope)
	pc := accessToken(t, urls, rt, "organizations", pcScope)
	var tn mscloudsim.Tenant
	for _, c := range readable(e) {
		if c.Has("csp") {
			tn = c
			break
		}
	}
	before := s.Calls()
	if before["login POST /{tenant}/oauth2/v2.0/token"] != 3 || before["login GET /{tenant}/oauth2/v2.0/authorize"] != 1 {
		t.Errorf("calls so far %v", before)
	}
	s.ResetCalls()
	if got := s.Calls(); len(got) != 0 {
		t.Fatalf("after ResetCalls: %v", got)
	}

	tok := accessToken(t, urls, rt, tn.TenantID, graphScope)
	graphGet(t, urls, tok, "/v1.0/subscribedSkus")
	graphGet(t, urls, tok, "/v1.0/subscribedSkus")
	graphGet(t, urls, tok, "/v1.0/users/$count", "ConsistencyLevel", "eventual")
	graphGet(t, urls, tok, "/v1.0/me")
	graphGet(t, urls, partnerGraph, "/v1.0/tenantRelationships/delegatedAdminCustomers")
	get(t, http.DefaultClient, urls.PartnerCenter+"/v1/customers?size=10", "Authorization", "Bearer "+pc)
	get(t, http.DefaultClient, urls.PartnerCenter+"/v1/customers/"+tn.TenantID+"/subscriptions", "Authorization", "Bearer "+pc)
	get(t, http.DefaultClient, urls.CatalogCSV)
	get(t, http.DefaultClient, urls.Login+"/sim/calls") // not counted

	p, id := e.Partner.TenantID, tn.TenantID
	want := map[string]int{
		"login POST /{tenant}/oauth2/v2.0/token":                                  1,
		"login POST /{tenant}/oauth2/v2.0/token tenant=" + id:                     1,
		"graph GET /v1.0/subscribedSkus":                                          2,
		"graph GET /v1.0/subscribedSkus tenant=" + id:                             2,
		"graph GET /v1.0/users/$count":                                            1,
		"graph GET /v1.0/users/$count tenant=" + id:                               1,
		"graph GET (unknown)":                                                     1,
		"graph GET (unknown) tenant=" + id:                                        1,
		"graph GET /v1.0/tenantRelationships/delegatedAdminCustomers":             1,
		"graph GET /v1.0/tenantRelationships/delegatedAdminCustomers tenant=" + p: 1,
		"partnercenter GET /v1/customers":                                         1,
		"partnercenter GET /v1/customers tenant=" + p:                             1,
		"partnercenter GET /v1/customers/{id}/subscriptions":                      1,
		"partnercenter GET /v1/customers/{id}/subscriptions tenant=" + id:         1,
		"catalog GET " + mscloudsim.CatalogPath:                                   1,
	}
	if got := s.Calls(); !maps.Equal(got, want) {
		gb, _ := json.MarshalIndent(got, "", "  ")
		t.Errorf("calls:\n%s\nwant %v", gb, want)
	}

	// /sim/calls shows the same counters as JSON.
	_, body := get(t, http.DefaultClient, urls.Login+"/sim/calls")
	if got := decode[map[string]int](t, body); !maps.Equal(got, want) {
		t.Errorf("/sim/calls: %v", got)
	}

	// Counting is exact under concurrency.
	s.ResetCalls()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			for range 5 {
				resp, err := http.Get(urls.CatalogCSV)
				if err == nil {
					resp.Body.Close()
				}
			}
		})
	}
	wg.Wait()
	if got := s.Calls()["catalog GET "+mscloudsim.CatalogPath]; got != 100 {
		t.Errorf("100 concurrent calls counted %d", got)
	}
}

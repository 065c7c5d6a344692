package graph_test

// Golden responses: testdata/*.json follow Microsoft's documented Graph
// v1.0 examples field for field (names, nesting, types, which optional
// fields are present) with values of our own, and each is served through the
// real client call. Sources, per file:
//
//	subscribedskus.json        api-reference/v1.0/api/subscribedsku-list.md @ 08210e1f (accountId, accountName, lockedOut, subscriptionIds)
//	subscribedskus-older.json  the same page @ e58bfc5c, before those four fields were added
//	directory-subscriptions.json  api-reference/v1.0/api/directory-list-subscriptions.md @ 02ec3295 (no @odata.context, as documented)
//	contracts.json             api-reference/v1.0/api/contract-list.md @ b7c64905 (no @odata.context; GUIDs where the doc has "customerId-value")
//	delegatedadmincustomers-page{1,2}.json  tenantrelationship-list-delegatedadmincustomers.md @ d43e8453, paged as concepts/paging.md shows
//	organization.json          api-reference/v1.0/api/organization-list.md @ 02b4cba0 (the full, unselected object)
//	error-403-authorization-requestdenied.json  Graph's OData error with innerError {date, request-id, client-request-id}
//	error-429-toomanyrequests.json  concepts/throttling.md @ 28dd02d3, served with "Retry-After: 2.128"
//
// All of them are in microsoftgraph/microsoft-graph-docs-contrib; see
// /work/shared/reference/microsoft-apis.md §1–2.

import (
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/seatsync/seatsync/shared/graph"
	"github.com/seatsync/seatsync/shared/seatsync"
)

// Ids of the golden files.
const (
	goldenTenant      = "239830b5-94c4-4093-95b6-58673eb16724" // subscribedskus.json, directory-subscriptions.json, organization.json
	goldenTenantOlder = "d8357614-eae7-4e1a-a88b-410d93fc0267" // subscribedskus-older.json
	goldenPartner     = "fbb35141-6afc-4b5d-930f-16693efb2e62"
	goldenAccount     = "48367b92-267c-4666-b5b7-e2d7a0f02849"
	goldenSkuSPB      = "cdd51339-6aba-4935-9287-fbe02cca8c5c"
	goldenSkuVoice    = "6c58cd3b-140e-49ac-9a57-11b08aa43082"
	goldenSkipToken   = "IWINLGtCNtlIajt_CO5DnRqX3Uk4-qHnqEa83sTW10FpT5LUwZRvhhIk"

	// graphHost is what the golden files' @odata.context and
	// @odata.nextLink name; served bodies have the fake's URL instead.
	graphHost = "https://graph.microsoft.com"
	// headerRequestID is the request-id response header of the fake,
	// which an error body's innerError request-id must win over.
	headerRequestID = "9d3e1c55-2b7a-4f0e-8c61-4a5b6c7d8e9f"
)

// goldenBody reads testdata/name with Graph's host replaced by base, so
// that a next link leads back to the fake.
func goldenBody(t *testing.T, name, base string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), graphHost, base)
}

// serveGolden answers as Graph does: the status, OData JSON, a request-id
// header and the client-request-id echoed back.
func serveGolden(t *testing.T, w http.ResponseWriter, r *http.Request, status int, name string, header map[string]string) {
	t.Helper()
	base := "http://" + r.Host
	for k, v := range header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	w.Header().Set("request-id", headerRequestID)
	if id := r.Header.Get("client-request-id"); id != "" {
		w.Header().Set("client-request-id", id)
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(goldenBody(t, name, base)))
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func wantGoldenSkus() []graph.SubscribedSku {
	return []graph.SubscribedSku{
		{
			ID:               goldenTenant + "_" + goldenSkuSPB,
			AccountID:        goldenAccount,
			AccountName:      "Alpine Ski House GmbH",
			SkuID:            goldenSkuSPB, // upper case in the file
			SkuPartNumber:    "SPB",
			AppliesTo:        "User",
			CapabilityStatus: "Enabled",
			ConsumedUnits:    37,
			PrepaidUnits:     graph.LicenseUnits{Enabled: 40, Suspended: 0, Warning: 5, LockedOut: 0},
			SubscriptionIDs:  []string{"480fc4ca-589f-4729-a087-d3473d9fdf10", "53c97e71-e783-47c9-b082-814d4328f3ee"},
		},
		{
			ID:               goldenTenant + "_" + goldenSkuVoice,
			AccountID:        goldenAccount,
			AccountName:      "Alpine Ski House GmbH",
			SkuID:            goldenSkuVoice,
			SkuPartNumber:    "MCOEV",
			AppliesTo:        "User",
			CapabilityStatus: "LockedOut",
			ConsumedUnits:    3,
			PrepaidUnits:     graph.LicenseUnits{LockedOut: 8},
			SubscriptionIDs:  []string{"c5e96c39-8b28-4725-aea5-278a388e5fb9"},
		},
	}
}

// goldenCase is one documented success response (or a walk of pages) and
// what the client call must make of it.
type goldenCase struct {
	name   string
	tenant string   // the token's tenant, "" for the partner's own
	files  []string // answered in order, one per request
	path   string   // every request's path
	call   func(t *testing.T, c *graph.Client) (any, error)
	want   any
	check  func(t *testing.T, reqs []seen) // optional, on the requests
}

func TestGoldenGraphResponses(t *testing.T) {
	cases := []goldenCase{
		{
			name:   "subscribedSkus current shape",
			tenant: goldenTenant,
			files:  []string{"subscribedskus.json"},
			path:   "/v1.0/subscribedSkus",
			call: func(t *testing.T, c *graph.Client) (any, error) {
				return c.SubscribedSkus(t.Context(), goldenTenant)
			},
			want: wantGoldenSkus(),
		},
		{
			// No accountId, accountName, prepaidUnits.lockedOut or
			// subscriptionIds: zero values, and nil ids.
			name:   "subscribedSkus older shape",
			tenant: goldenTenantOlder,
			files:  []string{"subscribedskus-older.json"},
			path:   "/v1.0/subscribedSkus",
			call: func(t *testing.T, c *graph.Client) (any, error) {
				return c.SubscribedSkus(t.Context(), goldenTenantOlder)
			},
			want: []graph.SubscribedSku{
				{
					ID:               goldenTenantOlder + "_" + goldenSkuSPB,
					SkuID:            goldenSkuSPB,
					SkuPartNumber:    "SPB",
					AppliesTo:        "User",
					CapabilityStatus: "Warning",
					ConsumedUnits:    12,
					PrepaidUnits:     graph.LicenseUnits{Warning: 15},
				},
				{
					ID:               goldenTenantOlder + "_" + goldenSkuVoice,
					SkuID:            goldenSkuVoice,
					SkuPartNumber:    "MCOEV",
					AppliesTo:        "User",
					CapabilityStatus: "Suspended",
					ConsumedUnits:    0,
					PrepaidUnits:     graph.LicenseUnits{Suspended: 4},
				},
			},
		},
		{
			name:   "directory/subscriptions",
			tenant: goldenTenant,
			files:  []string{"directory-subscriptions.json"},
			path:   "/v1.0/directory/subscriptions",
			call: func(t *testing.T, c *graph.Client) (any, error) {
				return c.DirectorySubscriptions(t.Context(), goldenTenant)
			},
			want: []graph.CompanySubscription{
				{
					ID:                     "6310c787-c46e-4b20-8669-07141d20b6a7",
					CommerceSubscriptionID: "480fc4ca-589f-4729-a087-d3473d9fdf10",
					SkuID:                  goldenSkuSPB, // upper case in the file
					SkuPartNumber:          "SPB",
					Status:                 "Enabled",
					TotalLicenses:          30,
					IsTrial:                false,
					CreatedDateTime:        utc("2024-09-14T08:22:51Z"),
					NextLifecycleDateTime:  utc("2025-09-13T23:59:59Z"),
					OwnerID:                "bef5d9fb-50ec-411b-ba49-ad13eada50da",
					OwnerTenantID:          goldenPartner, // upper case in the file
					OwnerType:              "Company",
				},
				{
					ID:                     "2cb7bf7f-bfaf-4968-b095-17668c3802ed",
					CommerceSubscriptionID: "53c97e71-e783-47c9-b082-814d4328f3ee",
					SkuID:                  goldenSkuSPB,
					SkuPartNumber:          "SPB",
					Status:                 "Warning",
					TotalLicenses:          10,
					IsTrial:                true,
					CreatedDateTime:        utc("2025-01-03T16:05:09Z"),
					NextLifecycleDateTime:  utc("2025-02-02T16:05:09Z"),
					OwnerID:                "bef5d9fb-50ec-411b-ba49-ad13eada50da",
					OwnerTenantID:          goldenPartner,
					OwnerType:              "User",
				},
			},
		},
		{
			name:   "contracts",
			tenant: "",
			files:  []string{"contracts.json"},
			path:   "/v1.0/contracts",
			call: func(t *testing.T, c *graph.Client) (any, error) {
				return c.Contracts(t.Context())
			},
			want: []graph.Customer{
				{
					TenantID:      "5713ab8f-c801-4384-8ae1-2136acaa9807",
					DisplayName:   "Wingtip Toys B.V.",
					DefaultDomain: "wingtiptoysnl.onmicrosoft.com",
					Relationship:  seatsync.RelationshipDAP,
					ContractType:  "ResellerPartner",
				},
				{
					TenantID:      "4a59ff9e-cc85-4f9b-a390-504cd8eed099", // upper case in the file
					DisplayName:   "Lucerne Publishing",
					DefaultDomain: "lucernepublishing.onmicrosoft.com",
					Relationship:  seatsync.RelationshipDAP,
					ContractType:  "BreadthPartner",
				},
			},
		},
		{
			name:   "delegatedAdminCustomers two pages",
			tenant: "",
			files:  []string{"delegatedadmincustomers-page1.json", "delegatedadmincustomers-page2.json"},
			path:   "/v1.0/tenantRelationships/delegatedAdminCustomers",
			call: func(t *testing.T, c *graph.Client) (any, error) {
				return c.DelegatedAdminCustomers(t.Context())
			},
			want: []graph.Customer{
				{TenantID: "67449598-fa7f-492f-9993-5e135af4eb0d", DisplayName: "Adventure Works Cycles", Relationship: seatsync.RelationshipGDAP},
				{TenantID: "4b6025d0-6881-49c9-bfeb-b414bbaf7971", DisplayName: "Tailspin Toys (Europe)", Relationship: seatsync.RelationshipGDAP},
				{TenantID: "3f709c74-c8aa-4618-bf09-ebc016153849", DisplayName: "Proseware, Inc.", Relationship: seatsync.RelationshipGDAP},
			},
			check: func(t *testing.T, reqs []seen) {
				first, _ := url.ParseQuery(reqs[0].RawQuery)
				if first.Get("$top") != "300" || first.Get("$skiptoken") != "" {
					t.Errorf("first page query %q", reqs[0].RawQuery)
				}
				// The whole next link is followed, its $top and
				// $skiptoken as sent, and nothing of the first query.
				next, _ := url.ParseQuery(reqs[1].RawQuery)
				if next.Get("$top") != "2" || next.Get("$skiptoken") != goldenSkipToken || next.Has("$select") {
					t.Errorf("second page query %q, want the next link's", reqs[1].RawQuery)
				}
			},
		},
		{
			name:   "organization",
			tenant: goldenTenant,
			files:  []string{"organization.json"},
			path:   "/v1.0/organization",
			call: func(t *testing.T, c *graph.Client) (any, error) {
				return c.Organization(t.Context(), goldenTenant)
			},
			want: graph.Organization{
				ID:              goldenTenant, // upper case in the file
				DisplayName:     "Alpine Ski House GmbH",
				DefaultDomain:   "alpineskihouse.example",
				InitialDomain:   "alpineskihousech.onmicrosoft.com",
				VerifiedDomains: []string{"alpineskihousech.onmicrosoft.com", "alpineskihouse.example"},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(w http.ResponseWriter, r *http.Request, tenant string, n int) {
				if r.URL.Path != tc.path || tenant != tc.tenant {
					t.Errorf("request %d: %s for tenant %q, want %s for %q", n, r.URL.Path, tenant, tc.path, tc.tenant)
				}
				if n > len(tc.files) {
					t.Errorf("request %d: only %d pages", n, len(tc.files))
					writeError(w, http.StatusNotFound, "Request_ResourceNotFound", "no such page", "")
					return
				}
				serveGolden(t, w, r, http.StatusOK, tc.files[n-1], nil)
			}, nil)
			got, err := tc.call(t, h.c)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("decoded\n got %+v\nwant %+v", got, tc.want)
			}
			reqs := h.f.Requests()
			if len(reqs) != len(tc.files) {
				t.Fatalf("%d requests, want %d", len(reqs), len(tc.files))
			}
			if tc.check != nil {
				tc.check(t, reqs)
			}
		})
	}
}

func TestGoldenGraphErrors(t *testing.T) {
	t.Run("403 Authorization_RequestDenied", func(t *testing.T) {
		h := newHarness(t, func(w http.ResponseWriter, r *http.Request, _ string, _ int) {
			serveGolden(t, w, r, http.StatusForbidden, "error-403-authorization-requestdenied.json", nil)
		}, nil)
		_, err := h.c.SubscribedSkus(t.Context(), goldenTenant)
		ge, ok := errors.AsType[*graph.Error](err)
		if !ok {
			t.Fatalf("err = %v (%T), want *graph.Error", err, err)
		}
		// The innerError's ids win over the response headers.
		want := &graph.Error{
			Status:          http.StatusForbidden,
			Code:            "Authorization_RequestDenied",
			Message:         "Insufficient privileges to complete the operation.",
			RequestID:       "0020fe3f-b258-43a9-a898-cce962018a4f",
			ClientRequestID: "86053542-adc3-46bb-b944-eeff1dd9b3b1",
			TenantID:        goldenTenant,
		}
		if !reflect.DeepEqual(ge, want) {
			t.Errorf("error\n got %+v\nwant %+v", ge, want)
		}
		if ge.Kind() != graph.KindForbidden || seatsync.ErrorCode(err) != graph.CodeForbidden || ge.Transient() {
			t.Errorf("kind %v, code %q, transient %v", ge.Kind(), seatsync.ErrorCode(err), ge.Transient())
		}
		if n := len(h.f.Requests()); n != 1 {
			t.Errorf("%d requests, want 1 (a 403 is not retried)", n)
		}
	})

	t.Run("429 Retry-After 2.128 then OK", func(t *testing.T) {
		h := newHarness(t, func(w http.ResponseWriter, r *http.Request, _ string, n int) {
			if n == 1 {
				serveGolden(t, w, r, http.StatusTooManyRequests, "error-429-toomanyrequests.json", map[string]string{"Retry-After": "2.128"})
				return
			}
			serveGolden(t, w, r, http.StatusOK, "subscribedskus.json", nil)
		}, nil)
		got, err := h.c.SubscribedSkus(t.Context(), goldenTenant)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, wantGoldenSkus()) {
			t.Errorf("decoded after the retry\n got %+v\nwant %+v", got, wantGoldenSkus())
		}
		// The fraction counts: kiota's own handler would wait 2s.
		if w := h.sleeps.Waits(); !reflect.DeepEqual(w, []time.Duration{2128 * time.Millisecond}) {
			t.Errorf("waits %v, want [2.128s]", w)
		}
		reqs := h.f.Requests()
		if len(reqs) != 2 || reqs[1].Header.Get("Retry-Attempt") != "1" || reqs[1].Tenant != goldenTenant {
			t.Errorf("requests %+v", reqs)
		}
	})

	t.Run("429 Retry-After 2.128 with no budget", func(t *testing.T) {
		h := newHarness(t, func(w http.ResponseWriter, r *http.Request, _ string, _ int) {
			serveGolden(t, w, r, http.StatusTooManyRequests, "error-429-toomanyrequests.json", map[string]string{"Retry-After": "2.128"})
		}, func(o *graph.Options) { o.MaxRetryWait = -1 })
		_, err := h.c.SubscribedSkus(t.Context(), goldenTenant)
		ge, ok := errors.AsType[*graph.Error](err)
		if !ok {
			t.Fatalf("err = %v (%T), want *graph.Error", err, err)
		}
		reqs := h.f.Requests()
		if len(reqs) != 1 {
			t.Fatalf("%d requests, want 1", len(reqs))
		}
		// This innerError has no client-request-id: the one Graph echoed
		// (the request's own) is kept.
		want := &graph.Error{
			Status:          http.StatusTooManyRequests,
			Code:            "TooManyRequests",
			Message:         "Too many requests from this application; try again shortly.",
			RequestID:       "3829c4f6-e33d-4f9b-bab5-c7d51841ecbc",
			ClientRequestID: reqs[0].Header.Get("client-request-id"),
			RetryAfter:      2128 * time.Millisecond,
			TenantID:        goldenTenant,
		}
		if want.ClientRequestID == "" {
			t.Error("the request carried no client-request-id")
		}
		if !reflect.DeepEqual(ge, want) {
			t.Errorf("error\n got %+v\nwant %+v", ge, want)
		}
		if ge.Kind() != graph.KindThrottled || seatsync.ErrorCode(err) != graph.CodeThrottled || !ge.Transient() {
			t.Errorf("kind %v, code %q, transient %v", ge.Kind(), seatsync.ErrorCode(err), ge.Transient())
		}
	})
}

package partnercenter_test

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"testing"

	"github.com/seatsync/seatsync/shared/partnercenter"
	"github.com/seatsync/seatsync/shared/seatsync"
)

const (
	tenantA = "3f0c9a1e-5b7d-4c2a-9e8f-1a2b3c4d5e6f"
	tenantB = "7d2e4f60-8a91-4b3c-8d5e-6f708192a3b4"
	tenantC = "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f"
	tenantD = "0e1d2c3b-4a59-4687-b6a5-c4d3e2f1a0b9"
)

// wantCustomers is what every paging test expects from its three pages.
func wantCustomers() []partnercenter.Customer {
	return []partnercenter.Customer{
		{TenantID: tenantA, CompanyName: "Contoso Dental", Domain: "contosodental.onmicrosoft.com", RelationshipToPartner: "reseller"},
		{TenantID: tenantB, CompanyName: "Fabrikam Legal", Domain: "", RelationshipToPartner: "reseller"},
		{TenantID: tenantC, CompanyName: "Northwind Joinery", Domain: "northwindjoinery.onmicrosoft.com", RelationshipToPartner: ""},
		{TenantID: tenantD, CompanyName: "Tailspin Vets", Domain: "tailspinvets.onmicrosoft.com", RelationshipToPartner: "advisor"},
	}
}

// customerPages are the items of three pages: an upper-case tenant id (ids
// are lower-cased), a customer with no domain, one whose tenantId is the
// docs' placeholder (id is used), one with no relationship.
func customerPages() [3][]map[string]any {
	return [3][]map[string]any{
		{
			customerJSON(tenantA, "3F0C9A1E-5B7D-4C2A-9E8F-1A2B3C4D5E6F", "contosodental.onmicrosoft.com", "Contoso Dental", "reseller"),
			customerJSON(tenantB, tenantB, "", "Fabrikam Legal", "reseller"),
		},
		{
			customerJSON(tenantC, "<guid>", "northwindjoinery.onmicrosoft.com", "Northwind Joinery", ""),
		},
		{
			customerJSON(tenantD, tenantD, "tailspinvets.onmicrosoft.com", "Tailspin Vets", "advisor"),
			// Listed again on a later page: returned once.
			customerJSON(tenantA, tenantA, "contosodental.onmicrosoft.com", "Contoso Dental", "reseller"),
		},
	}
}

func checkOneCorrelation(t *testing.T, reqs []seen) {
	t.Helper()
	corr := reqs[0].Header.Get("MS-CorrelationId")
	ids := map[string]bool{}
	for _, r := range reqs {
		if r.Header.Get("MS-CorrelationId") != corr {
			t.Errorf("correlation id changed within a walk: %q then %q", corr, r.Header.Get("MS-CorrelationId"))
		}
		ids[r.Header.Get("MS-RequestId")] = true
	}
	if len(ids) != len(reqs) {
		t.Errorf("request ids reused across pages: %d ids for %d requests", len(ids), len(reqs))
	}
}

func TestCustomersPagesWithBodyContinuationToken(t *testing.T) {
	pages := customerPages()
	f := newFakePC(t, func(w http.ResponseWriter, r *http.Request, n int) {
		tok := r.Header.Get("MS-ContinuationToken")
		switch {
		case r.URL.Path != "/v1/customers":
			t.Errorf("path %s", r.URL.Path)
			w.WriteHeader(http.StatusNotFound)
		case n == 1 && r.URL.RawQuery == "size=100" && tok == "":
			writeJSON(w, 200, page(pages[0], "/v1/customers?size=100", nil, "seek-1,aGVsbG8=/x"))
		case n == 2 && r.URL.RawQuery == "seekOperation=Next" && tok == "seek-1,aGVsbG8=/x":
			writeJSON(w, 200, page(pages[1], "/v1/customers?seekOperation=Next", nil, "seek-2"))
		case n == 3 && r.URL.RawQuery == "seekOperation=Next" && tok == "seek-2":
			writeJSON(w, 200, page(pages[2], "/v1/customers?seekOperation=Next", nil, ""))
		default:
			t.Errorf("unexpected request %d: %s?%s token %q", n, r.URL.Path, r.URL.RawQuery, tok)
			w.WriteHeader(http.StatusBadRequest)
		}
	})
	h := newHarness(t, f.srv.URL, nil)
	got, err := h.c.Customers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, wantCustomers()) {
		t.Errorf("customers\n got %+v\nwant %+v", got, wantCustomers())
	}
	reqs := f.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	checkOneCorrelation(t, reqs)
	h.tokens.mu.Lock()
	defer h.tokens.mu.Unlock()
	for _, a := range h.tokens.asked {
		if a != "|"+partnercenter.Scope {
			t.Errorf("token asked for %q, want the partner's own tenant and Scope", a)
		}
	}
}

func TestCustomersPagesWithNextLinkHeaders(t *testing.T) {
	pages := customerPages()
	// The first next link has no "/v1" and the docs' second "?"; the second
	// has "/v1" and, besides the header, a stale body token that the
	// link's header must win over; the third page has no next link.
	f := newFakePC(t, func(w http.ResponseWriter, r *http.Request, n int) {
		tok := r.Header.Get("MS-ContinuationToken")
		switch {
		case n == 1 && r.URL.Path == "/v1/customers" && r.URL.RawQuery == "size=100":
			writeJSON(w, 200, page(pages[0], "/v1/customers?size=100",
				link("/customers?size=100?seekOperation=Next", "MS-ContinuationToken", "d1,e2_f3/g4=,h5", "X-Locale", "en-US"), ""))
		case n == 2 && r.URL.Path == "/v1/customers" && r.URL.RawQuery == "size=100&seekOperation=Next" &&
			tok == "d1,e2_f3/g4=,h5" && r.Header.Get("X-Locale") == "en-US":
			writeJSON(w, 200, page(pages[1], "/v1/customers?size=100",
				link("/v1/customers?seekOperation=Next", "MS-ContinuationToken", "link-2"), "stale-body-token"))
		case n == 3 && r.URL.Path == "/v1/customers" && r.URL.RawQuery == "seekOperation=Next" && tok == "link-2":
			writeJSON(w, 200, page(pages[2], "/v1/customers?seekOperation=Next", nil, ""))
		default:
			t.Errorf("unexpected request %d: %s?%s token %q", n, r.URL.Path, r.URL.RawQuery, tok)
			w.WriteHeader(http.StatusBadRequest)
		}
	})
	h := newHarness(t, f.srv.URL, nil)
	got, err := h.c.Customers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, wantCustomers()) {
		t.Errorf("customers\n got %+v\nwant %+v", got, wantCustomers())
	}
	if reqs := f.requests(); len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	} else {
		checkOneCorrelation(t, reqs)
	}
}

// A next link without the token header gets the body's token; headers in
// the object form are accepted; a link cannot replace the Authorization or
// the request ids.
func TestCustomersNextLinkVariants(t *testing.T) {
	pages := customerPages()
	f := newFakePC(t, func(w http.ResponseWriter, r *http.Request, n int) {
		tok := r.Header.Get("MS-ContinuationToken")
		switch {
		case n == 1:
			p := page(pages[0], "/v1/customers?size=100", link("/customers?seekOperation=Next"), "body-1")
			writeJSON(w, 200, p)
		case n == 2 && tok == "body-1" && r.URL.RawQuery == "seekOperation=Next":
			p := page(pages[1], "/v1/customers", nil, "")
			p["links"].(map[string]any)["next"] = map[string]any{
				"uri": "customers?seekOperation=Next", "method": "GET",
				"headers": map[string]string{"MS-ContinuationToken": "obj-2", "Authorization": "Bearer other", "MS-RequestId": "x"},
			}
			writeJSON(w, 200, p)
		case n == 3 && tok == "obj-2" && r.URL.Path == "/v1/customers":
			writeJSON(w, 200, page(pages[2], "/v1/customers", nil, ""))
		default:
			t.Errorf("unexpected request %d: %s?%s token %q", n, r.URL.Path, r.URL.RawQuery, tok)
			w.WriteHeader(http.StatusBadRequest)
		}
	})
	h := newHarness(t, f.srv.URL, nil)
	got, err := h.c.Customers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, wantCustomers()) {
		t.Errorf("customers\n got %+v\nwant %+v", got, wantCustomers())
	}
}

func TestCustomersRepeatedContinuationTokenStops(t *testing.T) {
	for _, form := range []string{"body", "link", "link without token"} {
		t.Run(form, func(t *testing.T) {
			f := newFakePC(t, func(w http.ResponseWriter, r *http.Request, n int) {
				items := []map[string]any{customerJSON(tenantA, tenantA, "", "Contoso", "reseller")}
				switch form {
				case "body":
					writeJSON(w, 200, page(items, "/v1/customers", nil, "same-token"))
				case "link":
					writeJSON(w, 200, page(items, "/v1/customers", link("/customers?seekOperation=Next", "MS-ContinuationToken", "same-token"), ""))
				default:
					writeJSON(w, 200, page(items, "/v1/customers", link("/customers?seekOperation=Next"), ""))
				}
			})
			h := newHarness(t, f.srv.URL, nil)
			_, err := h.c.Customers(context.Background())
			pe := pcError(t, err)
			if pe.Kind() != partnercenter.KindUnavailable {
				t.Errorf("kind %v, want unavailable: %v", pe.Kind(), err)
			}
			if n := len(f.requests()); n != 2 {
				t.Errorf("%d requests, want 2 (the token came back on the second page)", n)
			}
		})
	}
}

func TestCustomersPageBound(t *testing.T) {
	f := newFakePC(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 200, page(nil, "/v1/customers", nil, fmt.Sprintf("fresh-%d", n)))
	})
	h := newHarness(t, f.srv.URL, nil)
	h.c.SetMaxPages(5)
	_, err := h.c.Customers(context.Background())
	if pe := pcError(t, err); pe.Kind() != partnercenter.KindUnavailable {
		t.Errorf("kind %v: %v", pe.Kind(), err)
	}
	if n := len(f.requests()); n != 5 {
		t.Errorf("%d requests, want 5", n)
	}
}

// A next link to another server would take the partner's token there.
func TestCustomersNextLinkToAnotherServerRefused(t *testing.T) {
	elsewhere := newFakePC(t, func(w http.ResponseWriter, r *http.Request, n int) {
		t.Error("the other server was called")
	})
	f := newFakePC(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 200, page(nil, "/v1/customers", link(elsewhere.srv.URL+"/v1/customers", "MS-ContinuationToken", "t"), ""))
	})
	h := newHarness(t, f.srv.URL, nil)
	_, err := h.c.Customers(context.Background())
	if pe := pcError(t, err); pe.Kind() != partnercenter.KindUnavailable {
		t.Errorf("kind %v: %v", pe.Kind(), err)
	}
	if len(f.requests()) != 1 || len(elsewhere.requests()) != 0 {
		t.Errorf("requests: %d here, %d elsewhere", len(f.requests()), len(elsewhere.requests()))
	}
}

func TestCustomersSkipsCustomersWithoutTenantID(t *testing.T) {
	f := newFakePC(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 200, page([]map[string]any{
			customerJSON("<guid>", "<guid>", "", "No Id Ltd", "reseller"),
			customerJSON(tenantB, tenantB, "", "Fabrikam Legal", "reseller"),
		}, "/v1/customers", nil, ""))
	})
	h := newHarness(t, f.srv.URL, nil)
	got, err := h.c.Customers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].TenantID != tenantB {
		t.Errorf("customers %+v", got)
	}
}

func TestNewValidatesTheBaseURL(t *testing.T) {
	src := &tokens{}
	for _, bad := range []string{"", "api.partnercenter.microsoft.com", "http://api.partnercenter.microsoft.com",
		"https://user:pw@api.partnercenter.microsoft.com", "https://api.partnercenter.microsoft.com/?x=1"} {
		if _, err := partnercenter.New(bad, src, nil); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
	}
	if _, err := partnercenter.New("https://api.partnercenter.microsoft.com", nil, nil); err == nil {
		t.Error("New accepted a nil token source")
	}
	for _, good := range []string{"https://api.partnercenter.microsoft.com", "http://127.0.0.1:8080", "http://localhost:1/"} {
		if _, err := partnercenter.New(good, src, nil); err != nil {
			t.Errorf("New(%q): %v", good, err)
		}
	}
	// A base URL with "/v1" must not give "/v1/v1/customers".
	f := newFakePC(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if r.URL.Path != "/v1/customers" {
			t.Errorf("path %s", r.URL.Path)
		}
		writeJSON(w, 200, page(nil, "/v1/customers", nil, ""))
	})
	h := newHarness(t, f.srv.URL+"/v1/", nil)
	if _, err := h.c.Customers(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Customers errors carry seatsync's codes through seatsync.ErrorCode.
func TestCustomersForbiddenThroughSeatsyncErrorCode(t *testing.T) {
	f := newFakePC(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeJSON(w, 403, map[string]any{"code": 900407, "description": "The partner user has no Partner Center role.", "data": []any{}, "source": "PartnerFD"})
	})
	h := newHarness(t, f.srv.URL, nil)
	_, err := h.c.Customers(context.Background())
	if got := seatsync.ErrorCode(err); got != partnercenter.CodeForbidden {
		t.Errorf("seatsync.ErrorCode = %q", got)
	}
	if msg := seatsync.ErrorMessage(err); msg != pcError(t, err).Problem().Message {
		t.Errorf("seatsync.ErrorMessage = %q", msg)
	}
}

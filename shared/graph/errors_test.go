package graph_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/seatsync/seatsync/shared/graph"
	"github.com/seatsync/seatsync/shared/identity"
	"github.com/seatsync/seatsync/shared/seatsync"
)

func TestErrorKinds(t *testing.T) {
	for _, tc := range []struct {
		status    int
		code, msg string
		kind      graph.Kind
		seatsync  string
		advice    string
	}{
		{403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.", graph.KindForbidden, "no_gdap_access", "Global Reader (or Directory Readers) to the GDAP relationship"},
		{404, "Request_ResourceNotFound", "Resource 'x' does not exist or one of its queried reference-property objects are not present.", graph.KindNotFound, "tenant_not_found", "tenant is gone"},
		{401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.", graph.KindUnauthorized, "graph_unauthorized", "consent is missing"},
		{500, "UnknownError", "", graph.KindUnavailable, "graph_unavailable", "could not be reached"},
		{409, "Request_MultipleObjectsWithSameKeyValue", "Conflict.", graph.KindOther, "graph_error", "rejected the request"},
	} {
		h := newHarness(t, func(w http.ResponseWriter, r *http.Request, _ string, _ int) {
			writeError(w, tc.status, tc.code, tc.msg, "")
		}, nil)
		_, err := h.c.SubscribedSkus(t.Context(), tenantA)
		ge, ok := errors.AsType[*graph.Error](err)
		if !ok {
			t.Fatalf("%d: err = %v (%T)", tc.status, err, err)
		}
		if ge.Kind() != tc.kind || ge.Status != tc.status || ge.Code != tc.code || ge.Message != tc.msg {
			t.Errorf("%d: error = %+v, kind %v", tc.status, ge, ge.Kind())
		}
		if ge.RequestID != "7f3c2b1a-5e4d-4c3b-9a2f-1e0d9c8b7a65" || ge.ClientRequestID != "3a9e8d7c-6b5a-4f3e-8d2c-1b0a9f8e7d6c" {
			t.Errorf("%d: ids %q, %q", tc.status, ge.RequestID, ge.ClientRequestID)
		}
		if got := seatsync.ErrorCode(err); got != tc.seatsync {
			t.Errorf("%d: seatsync code = %q, want %q", tc.status, got, tc.seatsync)
		}
		if got := seatsync.ErrorMessage(err); !strings.Contains(got, tc.advice) || strings.Contains(got, tc.code) && tc.code != "" {
			t.Errorf("%d: seatsync message = %q", tc.status, got)
		}
		if p := ge.Problem(); p.Code != tc.seatsync || !strings.Contains(p.Message, "HTTP ") {
			t.Errorf("%d: problem = %+v", tc.status, p)
		}
		if n := len(h.f.Requests()); n != 1 {
			t.Errorf("%d: %d requests, want 1 (not retried)", tc.status, n)
		}
	}
}

func TestForbiddenInThePartnerTenantSaysSo(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request, _ string, _ int) {
		writeError(w, 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.", "")
	}, nil)
	_, err := h.c.DelegatedAdminCustomers(t.Context())
	if seatsync.ErrorCode(err) != graph.CodeForbidden || !strings.Contains(seatsync.ErrorMessage(err), "partner tenant") {
		t.Fatalf("err = %v", err)
	}
}

func TestMalformedJSON(t *testing.T) {
	for name, body := range map[string]string{
		"cut off":    `{"value":[{"skuId":"` + skuVoice + `","consumedUnits":`,
		"wrong type": `{"value":[{"skuId":"not-a-guid"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, func(w http.ResponseWriter, r *http.Request, _ string, _ int) {
				writeRaw(w, 200, "application/json", body)
			}, nil)
			_, err := h.c.SubscribedSkus(t.Context(), tenantA)
			ge, ok := errors.AsType[*graph.Error](err)
			if !ok || ge.Kind() != graph.KindUnavailable || ge.Status != 200 || ge.Err == nil {
				t.Fatalf("err = %v (%T)", err, err)
			}
			if ge.RequestID != "0e5a4f2c-9b7d-4c1e-8a36-d2f1b0c97e45" || ge.ClientRequestID == "" {
				t.Errorf("ids %q, %q", ge.RequestID, ge.ClientRequestID)
			}
			if seatsync.ErrorCode(err) != graph.CodeUnavailable {
				t.Errorf("code %q", seatsync.ErrorCode(err))
			}
		})
	}
}

func TestNotJSONSuccessAndEmptyBody(t *testing.T) {
	for name, respond := range map[string]func(w http.ResponseWriter){
		"html":  func(w http.ResponseWriter) { writeRaw(w, 200, "text/html", "<html>proxy login</html>") },
		"empty": func(w http.ResponseWriter) { writeRaw(w, 200, "application/json", "") },
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, func(w http.ResponseWriter, r *http.Request, _ string, _ int) { respond(w) }, nil)
			_, err := h.c.DirectorySubscriptions(t.Context(), tenantA)
			if ge, ok := errors.AsType[*graph.Error](err); !ok || ge.Kind() != graph.KindUnavailable {
				t.Fatalf("err = %v (%T)", err, err)
			}
		})
	}
}

func TestErrorBodiesThatAreNotOData(t *testing.T) {
	for name, tc := range map[string]struct {
		status          int
		contentType     string
		body            string
		kind            graph.Kind
		message         string
		requestIDHeader string
	}{
		"html gateway page": {502, "text/html", "<html><body><h1>502 Bad Gateway</h1></body></html>", graph.KindUnavailable, "", "0e5a4f2c-9b7d-4c1e-8a36-d2f1b0c97e45"},
		"plain text 403":    {403, "text/plain", "Forbidden by proxy policy\r\nfake-log-line", graph.KindForbidden, "Forbidden by proxy policy fake-log-line", "0e5a4f2c-9b7d-4c1e-8a36-d2f1b0c97e45"},
		"long message":      {400, "text/plain", strings.Repeat("x", 1000), graph.KindOther, strings.Repeat("x", 299) + "…", "0e5a4f2c-9b7d-4c1e-8a36-d2f1b0c97e45"},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, func(w http.ResponseWriter, r *http.Request, _ string, _ int) {
				writeRaw(w, tc.status, tc.contentType, tc.body)
			}, nil)
			_, err := h.c.Organization(t.Context(), tenantA)
			ge, ok := errors.AsType[*graph.Error](err)
			if !ok || ge.Kind() != tc.kind || ge.Status != tc.status || ge.Message != tc.message || ge.RequestID != tc.requestIDHeader {
				t.Fatalf("err = %+v", err)
			}
		})
	}
}

func TestTokenSourceErrorPassesThroughUnchanged(t *testing.T) {
	idErr := &identity.Error{Kind: identity.KindConsentRequired, AADSTS: 65001, HTTPStatus: 400}
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request, _ string, _ int) {
		t.Errorf("request %s sent without a token", r.URL)
	}, nil)
	h.tokens.err = idErr
	calls := []func() error{
		func() error { _, err := h.c.DelegatedAdminCustomers(t.Context()); return err },
		func() error { _, err := h.c.Contracts(t.Context()); return err },
		func() error { _, err := h.c.SubscribedSkus(t.Context(), tenantA); return err },
		func() error { _, err := h.c.DirectorySubscriptions(t.Context(), tenantA); return err },
		func() error { _, err := h.c.Organization(t.Context(), tenantA); return err },
		func() error { _, err := h.c.UserCounts(t.Context(), tenantA); return err },
	}
	for i, call := range calls {
		err := call()
		if err != error(idErr) {
			t.Errorf("call %d: err = %v (%T), want the identity error itself", i, err, err)
		}
		if got, ok := errors.AsType[*identity.Error](err); !ok || got != idErr {
			t.Errorf("call %d: errors.As does not find the identity error", i)
		}
		if seatsync.ErrorCode(err) != identity.EConsentRequired {
			t.Errorf("call %d: code %q", i, seatsync.ErrorCode(err))
		}
	}
	if n := len(h.f.Requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

func TestErrorStringCarriesTheFacts(t *testing.T) {
	e := &graph.Error{Status: 429, Code: "TooManyRequests", Message: "Please retry again later.", RequestID: "r-1", ClientRequestID: "c-1", RetryAfter: 2128e6, TenantID: tenantA}
	s := e.Error()
	for _, want := range []string{"throttling", "HTTP 429", "TooManyRequests", "Please retry again later.", "retry after 2.128s", "request-id r-1", "client-request-id c-1"} {
		if !strings.Contains(s, want) {
			t.Errorf("%q lacks %q", s, want)
		}
	}
	if !e.Transient() || (&graph.Error{Status: 403}).Transient() {
		t.Error("Transient wrong")
	}
	for k, code := range map[graph.Kind]string{
		graph.KindOther: "graph_error", graph.KindForbidden: "no_gdap_access", graph.KindNotFound: "tenant_not_found",
		graph.KindUnauthorized: "graph_unauthorized", graph.KindThrottled: "throttled", graph.KindUnavailable: "graph_unavailable",
	} {
		if k.Code() != code || k.String() == "" {
			t.Errorf("kind %d: code %q", k, k.Code())
		}
	}
}

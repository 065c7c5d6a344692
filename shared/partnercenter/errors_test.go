package partnercenter_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seatsync/seatsync/shared/partnercenter"
	"github.com/seatsync/seatsync/shared/seatsync"
)

func TestErrorKinds(t *testing.T) {
	long := strings.Repeat("Partner Center says no. ", 40)
	for _, tc := range []struct {
		name        string
		status      int
		contentType string
		body        string
		kind        partnercenter.Kind
		code        string // the seatsync code
		pcCode      string // Partner Center's code
		message     string // prefix of Error.Message
	}{
		{"401", 401, "application/json", `{"code":"900101","description":"The token is expired.","errorName":"TokenExpired","source":"PartnerFD"}`,
			partnercenter.KindUnauthorized, "partner_center_unauthorized", "900101", "The token is expired."},
		{"403", 403, "application/json", `{"code":900407,"description":"The user lacks the Admin agent role.","data":[],"source":"PartnerFD"}`,
			partnercenter.KindForbidden, "partner_center_forbidden", "900407", "The user lacks the Admin agent role."},
		{"404", 404, "application/json", `{"code":600008,"description":"The customer does not exist.","errorName":"CustomerNotFound"}`,
			partnercenter.KindNotFound, "customer_not_found", "600008", "The customer does not exist."},
		{"404 errorName only", 404, "application/json", `{"errorName":"CustomerNotFound","message":"gone"}`,
			partnercenter.KindNotFound, "customer_not_found", "CustomerNotFound", "gone"},
		{"429", 429, "application/json", `{ "statusCode": 429, "message": "Rate limit is exceeded. Try again in 3 seconds." }`,
			partnercenter.KindThrottled, "throttled", "", "Rate limit is exceeded."},
		{"500 envelope", 500, "application/json", `{"error":{"code":"InternalError","message":"Something broke."}}`,
			partnercenter.KindUnavailable, "partner_center_unavailable", "InternalError", "Something broke."},
		{"502 html", 502, "text/html", `<html><body><h1>Bad gateway</h1></body></html>`,
			partnercenter.KindUnavailable, "partner_center_unavailable", "", ""},
		{"503", 503, "text/plain", "Service Unavailable\r\n",
			partnercenter.KindUnavailable, "partner_center_unavailable", "", "Service Unavailable"},
		{"504 empty", 504, "", "",
			partnercenter.KindUnavailable, "partner_center_unavailable", "", ""},
		{"400", 400, "application/json", `{"code":2000,"description":"` + long + `"}`,
			partnercenter.KindOther, "partner_center_error", "2000", "Partner Center says no."},
		{"409", 409, "application/json", `{"code":800002,"description":"Conflict."}`,
			partnercenter.KindOther, "partner_center_error", "800002", "Conflict."},
		{"200 not JSON", 200, "text/html", `<html>sign in</html>`,
			partnercenter.KindUnavailable, "partner_center_unavailable", "", "the response is not JSON (Content-Type text/html)"},
		{"200 wrong shape", 200, "application/json", `{"items":[{"id":"x","quantity":"many"}]}`,
			partnercenter.KindUnavailable, "partner_center_unavailable", "", "the response is not in the documented shape"},
		{"200 truncated", 200, "application/json", `{"items":[{"id":"x"`,
			partnercenter.KindUnavailable, "partner_center_unavailable", "", "the response is not JSON"},
		{"200 too large", 200, "application/json", `{"items":[],"pad":"` + strings.Repeat("x", 16<<20) + `"}`,
			partnercenter.KindUnavailable, "partner_center_unavailable", "", "the response is larger than 16 MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakePC(t, func(w http.ResponseWriter, r *http.Request, n int) {
				writeRaw(w, tc.status, tc.contentType, tc.body)
			})
			// No retry budget, so each status shows as it came.
			h := newHarness(t, f.srv.URL, func(o *partnercenter.Options) { o.MaxRetryWait = -1 })
			_, err := h.c.Subscriptions(context.Background(), tenantA)
			pe := pcError(t, err)
			if pe.Kind() != tc.kind || pe.Kind().Code() != tc.code || seatsync.ErrorCode(err) != tc.code || pe.Problem().Code != tc.code {
				t.Errorf("kind %v code %q seatsync code %q, want %v %q", pe.Kind(), pe.Kind().Code(), seatsync.ErrorCode(err), tc.kind, tc.code)
			}
			if pe.Status != tc.status || pe.Code != tc.pcCode || !strings.HasPrefix(pe.Message, tc.message) {
				t.Errorf("status %d code %q message %q", pe.Status, pe.Code, pe.Message)
			}
			if tc.message == "" && pe.Message != "" {
				t.Errorf("message %q, want none", pe.Message)
			}
			if n := len([]rune(pe.Message)); n > 300 {
				t.Errorf("message of %d characters", n)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Errorf("%d requests, want 1", len(reqs))
			}
			if pe.RequestID != reqs[0].Header.Get("MS-RequestId") || pe.CorrelationID != reqs[0].Header.Get("MS-CorrelationId") {
				t.Errorf("ids %q %q, sent %q %q", pe.RequestID, pe.CorrelationID,
					reqs[0].Header.Get("MS-RequestId"), reqs[0].Header.Get("MS-CorrelationId"))
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "partnercenter: list subscriptions of customer "+tenantA+": ") {
				t.Errorf("error %q lacks the prefix", msg)
			}
			if !strings.Contains(msg, "HTTP "+strconv.Itoa(tc.status)) || !strings.Contains(msg, "Partner Center") {
				t.Errorf("error %q lacks the status or the advice", msg)
			}
			if p := pe.Problem(); !strings.Contains(p.Message, "HTTP "+strconv.Itoa(tc.status)) {
				t.Errorf("problem %+v", p)
			}
		})
	}
}

// The words matter: they are what an MSP reads in a tenant's lastError.
func TestErrorWords(t *testing.T) {
	for status, words := range map[int]string{
		401: "connect seatsync again",
		403: "Admin agent",
		404: "reseller relationship may have ended",
		429: "throttling",
		503: "try again later",
		400: "rejected the request",
	} {
		e := &partnercenter.Error{Status: status, RequestID: "r", CorrelationID: "c"}
		if !strings.Contains(e.Error(), words) || !strings.Contains(e.Error(), "HTTP "+strconv.Itoa(status)) ||
			!strings.Contains(e.Problem().Message, words) {
			t.Errorf("%d: %q / %q", status, e.Error(), e.Problem().Message)
		}
	}
	e := &partnercenter.Error{Err: errors.New("dial tcp: connection refused")}
	if e.Kind() != partnercenter.KindUnavailable || !strings.Contains(e.Error(), "no HTTP response") || !errors.Is(e, e.Err) {
		t.Errorf("no response: %v %q", e.Kind(), e.Error())
	}
}

func TestThrottledWithFractionalRetryAfterThenSucceeds(t *testing.T) {
	f := newFakePC(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.Header().Set("Retry-After", "0.2")
			writeRaw(w, 429, "application/json", `{ "statusCode": 429, "message": "Rate limit is exceeded. Try again in 1 seconds." }`)
			return
		}
		writeRaw(w, 200, "application/json", `{"totalCount":0,"items":[]}`)
	})
	h := newHarness(t, f.srv.URL, nil)
	if _, err := h.c.Subscriptions(context.Background(), tenantA); err != nil {
		t.Fatal(err)
	}
	waits := h.waits()
	if len(waits) != 1 || waits[0] < 200*time.Millisecond || waits[0] > 250*time.Millisecond {
		t.Errorf("waits %v, want one of 200ms", waits)
	}
	reqs := f.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	// Partner Center wants a retry to carry the same request id.
	if reqs[0].Header.Get("MS-RequestId") != reqs[1].Header.Get("MS-RequestId") {
		t.Error("the retry has a new MS-RequestId")
	}
}

func TestRetryAfterAsHTTPDate(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	f := newFakePC(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.Header().Set("Retry-After", now.Add(7*time.Second).Format(http.TimeFormat))
			writeRaw(w, 503, "", "")
			return
		}
		writeRaw(w, 200, "application/json", `{"items":[]}`)
	})
	h := newHarness(t, f.srv.URL, func(o *partnercenter.Options) { o.Now = func() time.Time { return now } })
	if _, err := h.c.Subscriptions(context.Background(), tenantA); err != nil {
		t.Fatal(err)
	}
	if w := h.waits(); len(w) != 1 || w[0] != 7*time.Second {
		t.Errorf("waits %v, want [7s]", w)
	}
}

func TestThrottledUntilTheBudgetIsSpent(t *testing.T) {
	f := newFakePC(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Retry-After", "1")
		writeRaw(w, 429, "application/json", `{ "statusCode": 429, "message": "Rate limit is exceeded. Try again in 1 seconds." }`)
	})
	h := newHarness(t, f.srv.URL, func(o *partnercenter.Options) { o.MaxRetryWait = 3 * time.Second })
	_, err := h.c.Customers(context.Background())
	pe := pcError(t, err)
	if pe.Kind() != partnercenter.KindThrottled || pe.Kind().Code() != "throttled" || pe.RetryAfter != time.Second {
		t.Errorf("kind %v retry after %v: %v", pe.Kind(), pe.RetryAfter, err)
	}
	if w := h.waits(); len(w) != 3 {
		t.Errorf("waits %v, want three of 1s", w)
	}
	if n := len(f.requests()); n != 4 {
		t.Errorf("%d requests, want 4", n)
	}
	if !strings.Contains(err.Error(), "retry after 1s") {
		t.Errorf("error %q does not say when to retry", err)
	}
}

// A Retry-After beyond the remaining budget is not waited for at all: the
// caller gets the throttled error at once and can come back later.
func TestRetryAfterBeyondTheBudgetReturnsAtOnce(t *testing.T) {
	f := newFakePC(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Retry-After", "57")
		writeRaw(w, 429, "application/json", `{"statusCode":429,"message":"Rate limit is exceeded. Try again in 57 seconds."}`)
	})
	h := newHarness(t, f.srv.URL, func(o *partnercenter.Options) { o.MaxRetryWait = 30 * time.Second })
	_, err := h.c.Customers(context.Background())
	if pe := pcError(t, err); pe.Kind() != partnercenter.KindThrottled || pe.RetryAfter != 57*time.Second {
		t.Errorf("%v", err)
	}
	if len(h.waits()) != 0 || len(f.requests()) != 1 {
		t.Errorf("waits %v, %d requests", h.waits(), len(f.requests()))
	}
}

func TestUnavailableThenOK(t *testing.T) {
	f := newFakePC(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			writeRaw(w, 503, "text/plain", "Service Unavailable")
			return
		}
		writeRaw(w, 200, "application/json", `{"items":[{"id":"s1","quantity":4}]}`)
	})
	h := newHarness(t, f.srv.URL, nil)
	subs, err := h.c.Subscriptions(context.Background(), tenantA)
	if err != nil || len(subs) != 1 || subs[0].Quantity != 4 {
		t.Fatalf("%v, %v", subs, err)
	}
	// No Retry-After: the first backoff, jittered between half and all of 1s.
	if w := h.waits(); len(w) != 1 || w[0] < 500*time.Millisecond || w[0] > time.Second {
		t.Errorf("waits %v", w)
	}
}

func TestUnavailableUntilTheBudgetIsSpent(t *testing.T) {
	f := newFakePC(t, func(w http.ResponseWriter, r *http.Request, n int) {
		writeRaw(w, 504, "", "")
	})
	h := newHarness(t, f.srv.URL, func(o *partnercenter.Options) { o.MaxRetryWait = 10 * time.Second })
	_, err := h.c.Subscriptions(context.Background(), tenantA)
	if pe := pcError(t, err); pe.Kind() != partnercenter.KindUnavailable || pe.Status != 504 {
		t.Errorf("%v", err)
	}
	var total time.Duration
	for i, w := range h.waits() {
		total += w
		if i > 0 && w < h.waits()[i-1]/2 {
			t.Errorf("backoff shrank: %v", h.waits())
		}
	}
	if total > 10*time.Second || len(h.waits()) < 2 {
		t.Errorf("waits %v (total %v) for a 10s budget", h.waits(), total)
	}
}

func TestClientErrorsAreNotRetried(t *testing.T) {
	for _, status := range []int{400, 401, 403, 404, 409, 500, 502} {
		f := newFakePC(t, func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Retry-After", "1")
			writeRaw(w, status, "application/json", `{"code":1,"description":"no"}`)
		})
		h := newHarness(t, f.srv.URL, nil)
		if _, err := h.c.Subscriptions(context.Background(), tenantA); err == nil {
			t.Errorf("%d: no error", status)
		}
		if n := len(f.requests()); n != 1 || len(h.waits()) != 0 {
			t.Errorf("%d: %d requests, waits %v; want exactly one request", status, n, h.waits())
		}
	}
}

func TestContextCancelledDuringAWait(t *testing.T) {
	f := newFakePC(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Retry-After", "30")
		writeRaw(w, 429, "", "")
	})
	// The real timer this time: the wait must end when ctx does.
	h := newHarness(t, f.srv.URL, func(o *partnercenter.Options) { o.Sleep = nil })
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := h.c.Customers(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("returned after %v", d)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d requests", n)
	}
}

func TestContextCancelledBeforeTheRequest(t *testing.T) {
	f := newFakePC(t, func(w http.ResponseWriter, r *http.Request, n int) {
		t.Error("request sent")
	})
	h := newHarness(t, f.srv.URL, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.c.Subscriptions(ctx, tenantA); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v", err)
	}
}

// A connection that drops without an answer is retried: the call is a GET.
func TestConnectionFailureRetried(t *testing.T) {
	var drops atomic.Int32
	f := newFakePC(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			drops.Add(1)
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			_ = conn.Close()
			return
		}
		writeRaw(w, 200, "application/json", `{"items":[]}`)
	})
	h := newHarness(t, f.srv.URL, nil)
	if _, err := h.c.Subscriptions(context.Background(), tenantA); err != nil {
		t.Fatal(err)
	}
	if drops.Load() != 1 || len(h.waits()) != 1 {
		t.Errorf("drops %d, waits %v", drops.Load(), h.waits())
	}
}

func TestConnectionRefusedIsUnavailable(t *testing.T) {
	f := newFakePC(t, func(w http.ResponseWriter, r *http.Request, n int) {})
	url := f.srv.URL
	f.srv.Close()
	h := newHarness(t, url, func(o *partnercenter.Options) { o.MaxRetryWait = 2 * time.Second })
	_, err := h.c.Customers(context.Background())
	pe := pcError(t, err)
	if pe.Kind() != partnercenter.KindUnavailable || pe.Status != 0 || pe.Err == nil || seatsync.ErrorCode(err) != "partner_center_unavailable" {
		t.Errorf("%v", err)
	}
	if len(h.waits()) == 0 {
		t.Error("connection failure not retried")
	}
}

func TestTokenSourceErrorSendsNoRequest(t *testing.T) {
	f := newFakePC(t, func(w http.ResponseWriter, r *http.Request, n int) {
		t.Error("request sent")
	})
	h := newHarness(t, f.srv.URL, nil)
	cause := errors.New("identity: the refresh token was revoked")
	h.tokens.err = cause
	for _, call := range []func() error{
		func() error { _, err := h.c.Customers(context.Background()); return err },
		func() error { _, err := h.c.Subscriptions(context.Background(), tenantA); return err },
	} {
		err := call()
		if !errors.Is(err, cause) || !strings.HasPrefix(err.Error(), "partnercenter: ") {
			t.Errorf("error %v, want the token source's", err)
		}
	}
	if len(f.requests()) != 0 || len(h.waits()) != 0 {
		t.Errorf("%d requests, waits %v", len(f.requests()), h.waits())
	}
}

// A server that echoes the Authorization header into its error must not get
// the token into an error string or the log.
func TestTheTokenIsInNoErrorAndNoLog(t *testing.T) {
	f := newFakePC(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Retry-After", "0")
		status := 401
		if n == 1 {
			status = 503 // one retry, so the retry path logs too
		}
		writeJSON(w, status, map[string]any{"code": r.Header.Get("Authorization"),
			"description": "Bad token " + r.Header.Get("Authorization")})
	})
	h := newHarness(t, f.srv.URL, nil)
	_, err := h.c.Subscriptions(context.Background(), tenantA)
	pe := pcError(t, err)
	for _, s := range []string{err.Error(), pe.Message, pe.Code, pe.Problem().Message, seatsync.ErrorMessage(err)} {
		if strings.Contains(s, testToken) {
			t.Errorf("the token leaked: %q", s)
		}
	}
	if !strings.Contains(pe.Message, seatsync.Redacted) {
		t.Errorf("message %q: the echoed token should show as redacted", pe.Message)
	}
	if !strings.Contains(h.log.String(), `"path":"/v1/customers/`+tenantA+`/subscriptions"`) ||
		!strings.Contains(h.log.String(), `"status":503`) || !strings.Contains(h.log.String(), `"requestId"`) {
		t.Errorf("debug log lacks the request:\n%s", h.log.String())
	}
}

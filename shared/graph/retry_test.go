package graph_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/seatsync/seatsync/shared/graph"
)

func okSkus(w http.ResponseWriter) { writeJSON(w, 200, skusOld()) }

func TestFractionalRetryAfterIsHonoured(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request, _ string, n int) {
		if n == 1 {
			writeError(w, 429, "TooManyRequests", "Please retry again later.", "0.5")
			return
		}
		okSkus(w)
	}, nil)
	got, err := h.c.SubscribedSkus(t.Context(), tenantB)
	if err != nil || len(got) != 1 {
		t.Fatalf("got %v, %v", got, err)
	}
	// kiota's RetryHandler would have waited 0s here.
	if w := h.sleeps.Waits(); len(w) != 1 || w[0] != 500*time.Millisecond {
		t.Fatalf("waits = %v, want exactly [500ms]", w)
	}
	reqs := h.f.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	if reqs[1].Header.Get("Retry-Attempt") != "1" || reqs[0].Header.Get("Retry-Attempt") != "" {
		t.Errorf("Retry-Attempt headers %q, %q", reqs[0].Header.Get("Retry-Attempt"), reqs[1].Header.Get("Retry-Attempt"))
	}
	if reqs[1].Tenant != tenantB {
		t.Errorf("retry went with a token for %q", reqs[1].Tenant)
	}
}

func TestGraphsSampleRetryAfter(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request, _ string, n int) {
		if n == 1 {
			writeError(w, 429, "TooManyRequests", "Please retry again later.", "2.128")
			return
		}
		okSkus(w)
	}, nil)
	if _, err := h.c.SubscribedSkus(t.Context(), tenantB); err != nil {
		t.Fatal(err)
	}
	if w := h.sleeps.Waits(); len(w) != 1 || w[0] != 2128*time.Millisecond {
		t.Fatalf("waits = %v, want [2.128s]", w)
	}
}

func TestRetryBudgetExhausted(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request, _ string, _ int) {
		writeError(w, 429, "TooManyRequests", "Please retry again later.", "30")
	}, func(o *graph.Options) { o.MaxRetryWait = time.Minute })
	_, err := h.c.SubscribedSkus(t.Context(), tenantA)
	ge, ok := errors.AsType[*graph.Error](err)
	if !ok {
		t.Fatalf("err = %v (%T), want *graph.Error", err, err)
	}
	if ge.Kind() != graph.KindThrottled || ge.Status != 429 || ge.Code != "TooManyRequests" || ge.RetryAfter != 30*time.Second {
		t.Errorf("error = %+v", ge)
	}
	if ge.RequestID != "7f3c2b1a-5e4d-4c3b-9a2f-1e0d9c8b7a65" || ge.ClientRequestID != "3a9e8d7c-6b5a-4f3e-8d2c-1b0a9f8e7d6c" {
		t.Errorf("ids = %q, %q", ge.RequestID, ge.ClientRequestID)
	}
	if ge.TenantID != tenantA {
		t.Errorf("TenantID = %q", ge.TenantID)
	}
	// 30s + 30s fit in a minute; a third 30s does not.
	if w := h.sleeps.Waits(); len(w) != 2 || w[0] != 30*time.Second || w[1] != 30*time.Second {
		t.Errorf("waits = %v", w)
	}
	if n := len(h.f.Requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
}

func TestNoRetriesWhenMaxRetryWaitIsNegative(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request, _ string, _ int) {
		writeError(w, 503, "serviceNotAvailable", "Service unavailable.", "0")
	}, func(o *graph.Options) { o.MaxRetryWait = -1 })
	_, err := h.c.SubscribedSkus(t.Context(), tenantA)
	if ge, ok := errors.AsType[*graph.Error](err); !ok || ge.Kind() != graph.KindUnavailable {
		t.Fatalf("err = %v", err)
	}
	if n := len(h.f.Requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestUnavailableThenOKWithBackoff(t *testing.T) {
	for _, status := range []int{503, 504} {
		h := newHarness(t, func(w http.ResponseWriter, r *http.Request, _ string, n int) {
			if n == 1 {
				// No Retry-After: backoff with jitter.
				writeError(w, status, "UnknownError", "", "")
				return
			}
			okSkus(w)
		}, nil)
		got, err := h.c.SubscribedSkus(t.Context(), tenantB)
		if err != nil || len(got) != 1 {
			t.Fatalf("%d: got %v, %v", status, got, err)
		}
		w := h.sleeps.Waits()
		if len(w) != 1 || w[0] < 500*time.Millisecond || w[0] > time.Second {
			t.Errorf("%d: waits = %v, want one backoff between 0.5s and 1s", status, w)
		}
	}
}

func TestBackoffGrowsWithoutRetryAfter(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request, _ string, n int) {
		if n <= 4 {
			writeRaw(w, 503, "text/html", "<html><body>Service Unavailable</body></html>")
			return
		}
		okSkus(w)
	}, nil)
	if _, err := h.c.SubscribedSkus(t.Context(), tenantB); err != nil {
		t.Fatal(err)
	}
	w := h.sleeps.Waits()
	if len(w) != 4 {
		t.Fatalf("waits = %v", w)
	}
	for i, d := range w {
		lo, hi := time.Second<<i/2, time.Second<<i
		if d < lo || d > hi {
			t.Errorf("wait %d = %v, want within [%v, %v]", i+1, d, lo, hi)
		}
	}
}

func TestBadRequestIsNotRetried(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request, _ string, _ int) {
		writeError(w, 400, "Request_BadRequest", "Invalid request.", "5")
	}, nil)
	_, err := h.c.DirectorySubscriptions(t.Context(), tenantA)
	ge, ok := errors.AsType[*graph.Error](err)
	if !ok || ge.Kind() != graph.KindOther || ge.Code != "Request_BadRequest" || ge.RetryAfter != 0 {
		t.Fatalf("err = %v", err)
	}
	if n := len(h.f.Requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
	if w := h.sleeps.Waits(); len(w) != 0 {
		t.Errorf("waited %v", w)
	}
}

func TestContextCancelledDuringWait(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request, _ string, _ int) {
		writeError(w, 429, "TooManyRequests", "Please retry again later.", "30")
	}, func(o *graph.Options) { o.Sleep = nil }) // the real timer
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := h.c.SubscribedSkus(ctx, tenantA)
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("returned after %v; the wait was not cut short", elapsed)
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n := len(h.f.Requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestContextCancelledWhileInjectedSleepWaits(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request, _ string, _ int) {
		writeError(w, 503, "serviceNotAvailable", "Try later.", "10")
	}, func(o *graph.Options) {
		o.Sleep = func(ctx context.Context, d time.Duration) error {
			cancel()
			<-ctx.Done()
			return ctx.Err()
		}
	})
	_, err := h.c.Organization(ctx, tenantA)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestDeadlineShorterThanRetryAfter(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request, _ string, _ int) {
		writeError(w, 429, "TooManyRequests", "Please retry again later.", "45")
	}, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := h.c.SubscribedSkus(ctx, tenantA)
	ge, ok := errors.AsType[*graph.Error](err)
	if !ok || ge.Kind() != graph.KindThrottled || ge.RetryAfter != 45*time.Second {
		t.Fatalf("err = %v, want throttled with RetryAfter 45s", err)
	}
	if w := h.sleeps.Waits(); len(w) != 0 {
		t.Errorf("waited %v into a deadline", w)
	}
}

func TestConnectionFailuresAreRetriedThenUnavailable(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request, _ string, _ int) {
		t.Error("the server is closed")
	}, func(o *graph.Options) { o.MaxRetryWait = 2 * time.Second })
	h.f.srv.Close()
	_, err := h.c.SubscribedSkus(t.Context(), tenantA)
	ge, ok := errors.AsType[*graph.Error](err)
	if !ok || ge.Kind() != graph.KindUnavailable || ge.Status != 0 || ge.Err == nil {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(ge.Error(), "no HTTP response") {
		t.Errorf("Error() = %q", ge.Error())
	}
	if w := h.sleeps.Waits(); len(w) == 0 {
		t.Error("a connection failure was not retried")
	}
}

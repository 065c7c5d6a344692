package graph_test

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/seatsync/seatsync/shared/graph"
	"github.com/seatsync/seatsync/shared/seatsync"
)

func TestLoopbackGraphHostGetsTheToken(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request, tenant string, _ int) {
		if got, want := r.Header.Get("Authorization"), "Bearer "+tokenFor(tenantA); got != want {
			t.Errorf("Authorization = %q, want %q", got, want)
		}
		okSkus(w)
	}, nil)
	if !strings.HasPrefix(h.f.srv.URL, "http://127.0.0.1:") {
		t.Fatalf("test server at %s, not 127.0.0.1", h.f.srv.URL)
	}
	if got := h.c.AllowedHosts(); len(got) != 1 || !got["127.0.0.1"] {
		t.Errorf("allowed hosts = %v, want only 127.0.0.1", got)
	}
	if _, err := h.c.SubscribedSkus(t.Context(), tenantA); err != nil {
		t.Fatal(err)
	}
	if n := len(h.f.Requests()); n != 1 {
		t.Errorf("%d requests", n)
	}
}

func TestNoTokenForAnotherHost(t *testing.T) {
	toks := &tokens{}
	c, err := graph.New("http://127.0.0.1:8089", toks, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.TokenFor(t.Context(), "http://127.0.0.1:8089/v1.0/subscribedSkus", tenantA)
	if err != nil || tok != tokenFor(tenantA) {
		t.Fatalf("own host: %q, %v", tok, err)
	}
	for _, u := range []string{
		"https://graph.microsoft.com/v1.0/subscribedSkus", // the default host is not ours here
		"http://127.0.0.1:8090/v1.0/subscribedSkus",       // another port
		"https://127.0.0.1:8089/v1.0/subscribedSkus",      // another scheme
		"http://localhost:8089/v1.0/subscribedSkus",
	} {
		tok, err := c.TokenFor(t.Context(), u, tenantA)
		if err == nil || tok != "" {
			t.Errorf("%s: token %q, err %v; want a refusal", u, tok, err)
		}
	}
	if got := toks.calls.Load(); got != 1 {
		t.Errorf("token source called %d times, want once (for the own host)", got)
	}
}

func TestDefaultGraphHostScope(t *testing.T) {
	toks := &tokens{}
	c, err := graph.New("https://graph.microsoft.com/", toks, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.TokenFor(t.Context(), "https://graph.microsoft.com/v1.0/organization", ""); err != nil {
		t.Fatal(err)
	}
	if got := toks.Asked(); len(got) != 1 || got[0] != "|https://graph.microsoft.com/.default" {
		t.Errorf("asked %q", got)
	}
}

func TestNewRejectsBadURLs(t *testing.T) {
	for _, u := range []string{
		"", "graph.microsoft.com", "http://graph.microsoft.com", "ftp://127.0.0.1",
		"https://user:pw@graph.microsoft.com", "https://graph.microsoft.com?x=1", "https://graph.microsoft.com/v1.0",
		"https://graph.microsoft.com/#frag",
	} {
		if _, err := graph.New(u, &tokens{}, nil); err == nil {
			t.Errorf("New(%q) accepted", u)
		} else if strings.Contains(err.Error(), "pw") {
			t.Errorf("New(%q) error shows the password: %v", u, err)
		}
	}
	if _, err := graph.New("https://graph.microsoft.com", nil, nil); err == nil {
		t.Error("New without a token source accepted")
	}
	for _, u := range []string{"https://graph.microsoft.us", "http://localhost:7071", "http://[::1]:9000/graph"} {
		if _, err := graph.New(u, &tokens{}, nil); err != nil {
			t.Errorf("New(%q): %v", u, err)
		}
	}
}

// TestTokensNeverLogged runs retries and failures with a server that echoes
// the token back in its error messages, with debug logging on, and looks
// for the token everywhere.
func TestTokensNeverLogged(t *testing.T) {
	h := newHarness(t, func(w http.ResponseWriter, r *http.Request, _ string, n int) {
		echoed := "Token " + r.Header.Get("Authorization") + " was not accepted"
		switch n {
		case 1:
			writeError(w, 429, "TooManyRequests", echoed, "0.25")
		case 2:
			writeError(w, 503, "serviceNotAvailable", echoed, "")
		default:
			writeError(w, 403, "Authorization_RequestDenied", echoed, "")
		}
	}, nil)
	_, err := h.c.SubscribedSkus(t.Context(), tenantA)
	ge, ok := errors.AsType[*graph.Error](err)
	if !ok || ge.Kind() != graph.KindForbidden {
		t.Fatalf("err = %v", err)
	}
	// The error is logged the way callers log it, too.
	slog.New(slog.NewTextHandler(h.log, nil)).Error("sync failed", "error", ge, "err", err)

	tok := tokenFor(tenantA)
	secretPart := strings.Split(tok, ".")[2]
	logs := h.log.String()
	for what, s := range map[string]string{
		"log": logs, "Error()": err.Error(), "Message": ge.Message, "seatsync message": seatsync.ErrorMessage(err),
	} {
		if strings.Contains(s, tok) || strings.Contains(s, secretPart) {
			t.Errorf("token in %s: %s", what, s)
		}
	}
	if !strings.Contains(ge.Message, seatsync.Redacted) {
		t.Errorf("echoed token not redacted in %q", ge.Message)
	}
	for _, want := range []string{"graph: waiting to retry", "graph: request", `"waitMs":250`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

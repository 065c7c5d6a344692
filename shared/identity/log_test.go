package identity

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/seatsync/seatsync/shared/logctx"
	"github.com/seatsync/seatsync/shared/seatsync"
)

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestNoSecretInLogs runs the whole flow (consent URL, code redemption, id
// token, refresh with rotation, cached tokens, failures) with a debug JSON
// logger, logs every result and error the way a caller would, and then
// searches the output for every secret value used.
func TestNoSecretInLogs(t *testing.T) {
	idTok := jwt(idHeader, idPayload, "sig-"+testAT)
	var fail bool
	var mu sync.Mutex
	f := newIdP(t, func(s seen) answer {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return answer{Status: 400, Body: errorBody("invalid_grant", 700082, true), Header: map[string]string{"x-ms-request-id": "trace-fail"}}
		}
		switch s.Form.Get("grant_type") {
		case "authorization_code":
			return answer{Body: tokenBody(testAT, testRT1, idTok, 3599), Header: map[string]string{"x-ms-request-id": "trace-code"}}
		default:
			return answer{Body: tokenBody(testAT+"-"+tenantOf(s), testRT2, "", "3599"), Header: map[string]string{"x-ms-request-id": "trace-refresh"}}
		}
	})
	var buf syncBuffer
	log := logctx.NewJSON(&buf, slog.LevelDebug)
	c := newTestClient(t, f, newClock(), func(o *Options) { o.Log = log })
	ctx := logctx.With(context.Background(), slog.String("invocationId", "inv-1"))

	req := AuthRequest{
		RedirectURI: "https://seatsync.example.com/cb",
		Scopes:      []string{"openid", "profile", "offline_access", graphScope},
		State:       seatsync.NewSecret(testState),
		Nonce:       seatsync.NewSecret(testNonce),
		Verifier:    seatsync.NewSecret(testVerifier),
		Prompt:      "consent",
	}
	authURL, err := c.AuthorizeURL(req)
	if err != nil {
		t.Fatal(err)
	}
	log.InfoContext(ctx, "consent started", "request", req)
	tr, err := c.ExchangeCode(ctx, "organizations", seatsync.NewSecret(testCode), req.Verifier, req.RedirectURI, req.Scopes)
	if err != nil {
		t.Fatal(err)
	}
	log.InfoContext(ctx, "code redeemed", "response", tr, "responseText", fmt.Sprintf("%+v", tr))
	claims, err := ParseIDToken(tr.IDToken)
	if err != nil {
		t.Fatal(err)
	}
	log.InfoContext(ctx, "consented", "claims", claims, "claimsText", fmt.Sprintf("%+v", claims))

	store := &memStore{token: tr.RefreshToken}
	tk := newTestTokens(t, c, store, nil)
	for _, tenant := range []string{customerTenant, partnerTenant, customerTenant} {
		tok, err := tk.AccessToken(ctx, tenant, graphScope)
		if err != nil {
			t.Fatal(err)
		}
		log.InfoContext(ctx, "token", "token", tok, "tenantId", tenant)
	}
	mu.Lock()
	fail = true
	mu.Unlock()
	_, err = tk.AccessToken(ctx, "contoso.onmicrosoft.com", graphScope)
	if err == nil {
		t.Fatal("want a failure")
	}
	log.ErrorContext(ctx, "sync failed", "err", err, "errText", err.Error(), "code", seatsync.ErrorCode(err), "message", seatsync.ErrorMessage(err))
	_, err = c.Refresh(ctx, customerTenant, seatsync.NewSecret(testRT2), graphScope)
	log.ErrorContext(ctx, "refresh failed", "err", err)
	if _, err := ParseIDToken(seatsync.NewSecret(testRT1 + ".x")); err != nil {
		log.ErrorContext(ctx, "bad id token", "err", err)
	}

	out := buf.String()
	secrets := append(allSecrets(),
		idTok, strings.Split(idTok, ".")[1], "sig-"+testAT, testAT+"-"+customerTenant,
		url.QueryEscape(testClientSecret), base64.RawURLEncoding.EncodeToString([]byte(testClientSecret)))
	assertNoSecret(t, "log", out, secrets...)
	// The authorize URL carries state and nonce by design; it must not
	// carry the rest.
	assertNoSecret(t, "authorize URL", authURL, testClientSecret, testVerifier, testCode, testRT1)

	// The log must actually hold the request records, or the test proves
	// nothing.
	for _, want := range []string{`"msg":"identity: token request"`, `"traceId":"trace-code"`, `"traceId":"trace-refresh"`,
		`"grant":"refresh_token"`, `"tenantId":"` + customerTenant + `"`, `"invocationId":"inv-1"`, `"aadsts":700082`, `"clientRequestId":"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s", want)
		}
	}
	if n := strings.Count(out, `"msg":"identity: token request"`); n != 5 {
		t.Errorf("%d token request records, want 5", n)
	}
}

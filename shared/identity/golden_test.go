package identity

// Golden responses: testdata/*.json follow the identity platform's
// documented token endpoint answers field for field (names, types, which
// optional fields are present) with values of our own, and each is served
// through the real ExchangeCode or Refresh. Sources (see
// /work/shared/reference/microsoft-apis.md §4):
//
//	token-v2.json              MicrosoftDocs/entra-docs v2-oauth2-auth-code-flow.md @ d821fc77:
//	                           number expires_in, URL-encoded scope, refresh_token, id_token
//	token-v2-ext-expires.json  microsoft-graph-docs-contrib concepts/auth-v2-user.md (2023-06-09):
//	                           ext_expires_in, space-separated scope, no id_token
//	token-v1-string-expires.json  kvamseek/partner-center developer/enable-secure-app-model.md, the
//	                           v1 refresh answer: expires_in, ext_expires_in, expires_on and
//	                           not_before as strings, resource, id_token, no refresh_token
//	error-700082.json          the body observed in Azure/azure-cli#14244 (one line, invalid_grant)
//	error-50076.json           the body observed in az CLI output (interaction_required,
//	                           suberror basic_action)
//	error-65001.json           reference-error-codes.md @ 3164b3b5's sample shape, including its
//	                           stray space after the correlation_id comma
//	error-7000215.json         the same shape, invalid_client, served as HTTP 401

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/seatsync/seatsync/shared/seatsync"
)

// The tokens of the golden files.
const (
	goldenV2AccessToken  = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsImtpZCI6IldrOXhNM1JVUTJoclp6TnNRakJtV1EifQ.eyJhdWQiOiJodHRwczovL2FwaS5wYXJ0bmVyY2VudGVyLm1pY3Jvc29mdC5jb20ifQ.Z29sZGVuLXYyLWNvZGUtYWNjZXNz"
	goldenV2RefreshToken = "1.AXkAwtGaU4WM1EW2f0mQzieqVhEqPFtOfWBPmovA0eLzpLV5AAB5AA.AgABAwEAAAApTwJmzXqdR4BN2miheQMYAgDs_wUA9P8golden-code-rt"
	goldenV2IDToken      = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiI1YjNjMmExMS03ZDRlLTRmNjAtOWE4Yi1jMGQxZTJmM2E0YjUiLCJ0aWQiOiI1MzlhZDFjMiJ9.aWQtdG9rZW4tZ29sZGVu"
	goldenExtAccessToken = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsImtpZCI6IldrOXhNM1JVUTJoclp6TnNRakJtV1EifQ.eyJhdWQiOiJodHRwczovL2dyYXBoLm1pY3Jvc29mdC5jb20ifQ.Z29sZGVuLXYyLWdyYXBoLWFjY2Vzcw"
	goldenExtRefresh     = "1.AXkAwtGaU4WM1EW2f0mQzieqVhEqPFtOfWBPmovA0eLzpLV5AAB5AA.AgABAwEAAAApTwJmzXqdR4BN2miheQMYAgDs_wUA9P8golden-rotated-rt"
	goldenV1AccessToken  = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2FwaS5wYXJ0bmVyY2VudGVyLm1pY3Jvc29mdC5jb20iLCJ2ZXIiOiIxLjAifQ.Z29sZGVuLXYxLWFjY2Vzcw"
	goldenV1IDToken      = "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.eyJhdWQiOiI1YjNjMmExMS03ZDRlLTRmNjAtOWE4Yi1jMGQxZTJmM2E0YjUiLCJ2ZXIiOiIxLjAifQ."
)

// golden returns testdata/name as it is.
func golden(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// goldenGrant runs ExchangeCode or Refresh against the fake.
type goldenGrant struct {
	name string
	path string // the token endpoint path it posts to
	run  func(ctx context.Context, c *Client) (*TokenResponse, error)
}

var (
	goldenExchange = goldenGrant{
		name: "authorization_code",
		path: "/organizations/oauth2/v2.0/token",
		run: func(ctx context.Context, c *Client) (*TokenResponse, error) {
			return c.ExchangeCode(ctx, "organizations", seatsync.NewSecret(testCode), seatsync.NewSecret(testVerifier),
				"https://seatsync.example.com/api/v1/connection/callback",
				[]string{"openid", "offline_access", "https://api.partnercenter.microsoft.com/user_impersonation"})
		},
	}
	goldenRefresh = goldenGrant{
		name: "refresh_token",
		path: "/" + customerTenant + "/oauth2/v2.0/token",
		run: func(ctx context.Context, c *Client) (*TokenResponse, error) {
			return c.Refresh(ctx, customerTenant, seatsync.NewSecret(testRT1), graphScope+" offline_access")
		},
	}
)

func TestGoldenTokenResponses(t *testing.T) {
	sent := newClock().Now() // the fake clock's time, when each request goes out
	for _, tc := range []struct {
		file  string
		grant goldenGrant
		want  TokenResponse
	}{
		{
			file:  "token-v2.json",
			grant: goldenExchange,
			want: TokenResponse{
				AccessToken:  seatsync.NewSecret(goldenV2AccessToken),
				RefreshToken: seatsync.NewSecret(goldenV2RefreshToken),
				IDToken:      seatsync.NewSecret(goldenV2IDToken),
				ExpiresAt:    sent.Add(4171 * time.Second),
				// Opaque: kept URL-encoded as sent.
				Scope:     "https%3A%2F%2Fapi.partnercenter.microsoft.com%2Fuser_impersonation",
				TokenType: "Bearer",
			},
		},
		{
			// ext_expires_in does not stretch the lifetime.
			file:  "token-v2-ext-expires.json",
			grant: goldenRefresh,
			want: TokenResponse{
				AccessToken:  seatsync.NewSecret(goldenExtAccessToken),
				RefreshToken: seatsync.NewSecret(goldenExtRefresh),
				ExpiresAt:    sent.Add(5077 * time.Second),
				Scope:        "Directory.Read.All Organization.Read.All User.Read",
				TokenType:    "Bearer",
			},
		},
		{
			// expires_in is the string "3277"; no refresh_token, so the one
			// just used stays (RefreshToken zero).
			file:  "token-v1-string-expires.json",
			grant: goldenRefresh,
			want: TokenResponse{
				AccessToken: seatsync.NewSecret(goldenV1AccessToken),
				IDToken:     seatsync.NewSecret(goldenV1IDToken),
				ExpiresAt:   sent.Add(3277 * time.Second),
				Scope:       "user_impersonation",
				TokenType:   "Bearer",
			},
		},
	} {
		t.Run(tc.file, func(t *testing.T) {
			body := golden(t, tc.file)
			f := newIdP(t, func(seen) answer { return answer{Body: body} })
			c := newTestClient(t, f, newClock(), nil)
			got, err := tc.grant.run(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("decoded\n got %+v\nwant %+v", *got, tc.want)
			}
			reqs := f.requests()
			if len(reqs) != 1 || reqs[0].Method != http.MethodPost || reqs[0].Path != tc.grant.path ||
				reqs[0].Form.Get("grant_type") != tc.grant.name {
				t.Errorf("requests %+v", reqs)
			}
		})
	}
}

func TestGoldenTokenErrors(t *testing.T) {
	for _, tc := range []struct {
		file   string
		status int
		want   Error
	}{
		{
			file:   "error-700082.json",
			status: http.StatusBadRequest,
			want: Error{
				Kind: KindExpiredOrRevoked, AADSTS: 700082, OAuthError: "invalid_grant",
				Description: "AADSTS700082: The refresh token has expired due to inactivity. The token was issued on 2025-12-01T03:14:27.6648213Z and was inactive for 90.00:00:00. Trace ID: c4910685-905e-400d-bc4a-514fea6a486a Correlation ID: 0142e0dc-fb74-433f-bc58-1cea0e46b78c Timestamp: 2026-03-02 02:00:41Z",
				TraceID:     "c4910685-905e-400d-bc4a-514fea6a486a", CorrelationID: "0142e0dc-fb74-433f-bc58-1cea0e46b78c",
				HTTPStatus: http.StatusBadRequest, grant: grantRefresh,
			},
		},
		{
			file:   "error-50076.json",
			status: http.StatusBadRequest,
			want: Error{
				Kind: KindInteractionRequired, AADSTS: 50076, OAuthError: "interaction_required", SubError: "basic_action",
				Description: "AADSTS50076: Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access 'fa335765-27f3-4c16-ab20-6782520d26ea'. Trace ID: d22cee35-0df4-4dfb-8f53-a76f0bafbc2e Correlation ID: 1a75ed33-c230-45bd-977e-b875a984cf04 Timestamp: 2026-03-02 02:01:05Z",
				TraceID:     "d22cee35-0df4-4dfb-8f53-a76f0bafbc2e", CorrelationID: "1a75ed33-c230-45bd-977e-b875a984cf04",
				HTTPStatus: http.StatusBadRequest, grant: grantRefresh,
			},
		},
		{
			// invalid_grant alone would read as a dead token; the number
			// says consent.
			file:   "error-65001.json",
			status: http.StatusBadRequest,
			want: Error{
				Kind: KindConsentRequired, AADSTS: 65001, OAuthError: "invalid_grant",
				Description: "AADSTS65001: The user or administrator has not consented to use the application with ID '5b3c2a11-7d4e-4f60-9a8b-c0d1e2f3a4b5' named 'seatsync'. Send an interactive authorization request for this user and resource. Trace ID: f53f2402-1a70-4f61-a3b7-9cbd68bae210 Correlation ID: 1476d6c0-85f6-401e-92bb-c27fcab6641e Timestamp: 2026-03-02 02:02:19Z",
				TraceID:     "f53f2402-1a70-4f61-a3b7-9cbd68bae210", CorrelationID: "1476d6c0-85f6-401e-92bb-c27fcab6641e",
				HTTPStatus: http.StatusBadRequest, grant: grantRefresh,
			},
		},
		{
			file:   "error-7000215.json",
			status: http.StatusUnauthorized,
			want: Error{
				Kind: KindInvalidClient, AADSTS: 7000215, OAuthError: "invalid_client",
				Description: "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '5b3c2a11-7d4e-4f60-9a8b-c0d1e2f3a4b5'. Trace ID: 3a277ec1-e352-47b0-8ab8-e12c6fd9ff35 Correlation ID: e9cdb713-b02a-437a-b73a-0b8dc0a059c1 Timestamp: 2026-03-02 02:03:37Z",
				TraceID:     "3a277ec1-e352-47b0-8ab8-e12c6fd9ff35", CorrelationID: "e9cdb713-b02a-437a-b73a-0b8dc0a059c1",
				HTTPStatus: http.StatusUnauthorized, grant: grantRefresh,
			},
		},
	} {
		t.Run(tc.file, func(t *testing.T) {
			body := golden(t, tc.file)
			f := newIdP(t, func(seen) answer {
				return answer{Status: tc.status, Body: body, Header: map[string]string{"x-ms-request-id": "7e0c4b1a-0000-4000-8000-00000000d00d"}}
			})
			c := newTestClient(t, f, newClock(), nil)
			got, err := goldenRefresh.run(context.Background(), c)
			if got != nil {
				t.Errorf("got a token answer %+v", got)
			}
			ie, ok := errors.AsType[*Error](err)
			if !ok {
				t.Fatalf("err = %v (%T), want *Error", err, err)
			}
			// The body's trace_id wins over x-ms-request-id.
			if !reflect.DeepEqual(*ie, tc.want) {
				t.Errorf("error\n got %+v\nwant %+v", *ie, tc.want)
			}
			if ie.Transient() || seatsync.ErrorCode(err) != tc.want.Kind.Code() {
				t.Errorf("transient %v, seatsync code %q", ie.Transient(), seatsync.ErrorCode(err))
			}
			if n := f.calls.Load(); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

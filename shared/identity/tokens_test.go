package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seatsync/seatsync/shared/seatsync"
)

// memStore is a RefreshTokenStore in memory that counts its calls.
type memStore struct {
	mu      sync.Mutex
	token   seatsync.Secret
	loadErr error
	saveErr error
	loads   atomic.Int64
	saves   []savePair
}

type savePair struct{ old, new string }

func (s *memStore) Load(context.Context) (seatsync.Secret, error) {
	s.loads.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token, s.loadErr
}

func (s *memStore) Save(_ context.Context, old, new seatsync.Secret) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.saves = append(s.saves, savePair{old.Reveal(), new.Reveal()})
	if s.saveErr != nil {
		return s.saveErr
	}
	s.token = new
	return nil
}

func (s *memStore) saved() []savePair {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]savePair(nil), s.saves...)
}

func (s *memStore) set(tok string) {
	s.mu.Lock()
	s.token = seatsync.NewSecret(tok)
	s.mu.Unlock()
}

// tenantOf is the tenant segment of a token request path.
func tenantOf(s seen) string { return strings.Split(strings.TrimPrefix(s.Path, "/"), "/")[0] }

// perTenantAnswer answers with an access token naming the tenant, scope and
// the request count, so that tests can tell tokens apart.
func perTenantAnswer(f **fakeIdP, rt string, expiresIn int) func(seen) answer {
	return func(s seen) answer {
		n := (*f).calls.Load()
		at := fmt.Sprintf("AT-%s-%s-%d", tenantOf(s), s.Form.Get("scope"), n)
		return answer{Body: tokenBody(at, rt, "", expiresIn)}
	}
}

func newTestTokens(t *testing.T, c *Client, store RefreshTokenStore, o *TokensOptions) *Tokens {
	t.Helper()
	tk, err := NewTokens(c, store, o)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestTokensOneRefreshForConcurrentCallers(t *testing.T) {
	release := make(chan struct{})
	f := newIdP(t, func(seen) answer {
		<-release
		return answer{Body: tokenBody(testAT, testRT1, "", 3599)}
	})
	c := newTestClient(t, f, newClock(), nil)
	store := &memStore{token: seatsync.NewSecret(testRT1)}
	tk := newTestTokens(t, c, store, nil)

	const n = 50
	var started, done sync.WaitGroup
	got := make([]seatsync.Secret, n)
	errs := make([]error, n)
	for i := range n {
		started.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			started.Done()
			got[i], errs[i] = tk.AccessToken(context.Background(), customerTenant, graphScope)
		}()
	}
	started.Wait()
	time.Sleep(50 * time.Millisecond) // let the callers reach the shared refresh
	close(release)
	done.Wait()
	for i := range n {
		if errs[i] != nil || got[i].Reveal() != testAT {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
	}
	if calls := f.calls.Load(); calls != 1 {
		t.Errorf("%d token requests for %d concurrent callers, want 1", calls, n)
	}
	if loads := store.loads.Load(); loads != 1 {
		t.Errorf("%d store loads, want 1", loads)
	}
}

func TestTokensSeparateTenantsAndScopes(t *testing.T) {
	var f *fakeIdP
	f = newIdP(t, perTenantAnswer(&f, "", 3599))
	c := newTestClient(t, f, newClock(), nil)
	tk := newTestTokens(t, c, &memStore{token: seatsync.NewSecret(testRT1)}, nil)
	ctx := context.Background()
	pcScope := "https://api.partnercenter.microsoft.com/.default"
	asks := []struct{ tenant, scope, wantPath string }{
		{customerTenant, graphScope, "/" + customerTenant + "/oauth2/v2.0/token"},
		{partnerTenant, graphScope, "/" + partnerTenant + "/oauth2/v2.0/token"},
		{"", pcScope, "/organizations/oauth2/v2.0/token"},
		{customerTenant, pcScope, "/" + customerTenant + "/oauth2/v2.0/token"},
	}
	tokens := map[string]bool{}
	for round := range 2 {
		for _, a := range asks {
			tok, err := tk.AccessToken(ctx, a.tenant, a.scope)
			if err != nil {
				t.Fatal(err)
			}
			if round == 0 {
				if tokens[tok.Reveal()] {
					t.Errorf("%s %s got another key's token", a.tenant, a.scope)
				}
				tokens[tok.Reveal()] = true
			} else if !tokens[tok.Reveal()] {
				t.Errorf("%s %s: second round got a new token", a.tenant, a.scope)
			}
		}
	}
	reqs := f.requests()
	if len(reqs) != len(asks) {
		t.Fatalf("%d requests, want %d", len(reqs), len(asks))
	}
	for i, a := range asks {
		if reqs[i].Path != a.wantPath {
			t.Errorf("request %d path = %s, want %s", i, reqs[i].Path, a.wantPath)
		}
		if want := a.scope + " offline_access"; reqs[i].Form.Get("scope") != want {
			t.Errorf("request %d scope = %q, want %q", i, reqs[i].Form.Get("scope"), want)
		}
		if reqs[i].Form.Get("refresh_token") != testRT1 {
			t.Errorf("request %d used another refresh token", i)
		}
	}
}

func TestTokensReusedUntilMargin(t *testing.T) {
	tests := []struct {
		name      string
		expiresIn int
		margin    time.Duration
		renewAt   time.Duration // lifetime at which a new token is fetched
	}{
		{"hour token, default margin", 3600, 0, 55 * time.Minute},
		{"hour token, 10 min margin", 3600, 10 * time.Minute, 50 * time.Minute},
		{"short token renewed half-way", 300, 0, 150 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newClock()
			var f *fakeIdP
			f = newIdP(t, perTenantAnswer(&f, "", tt.expiresIn))
			c := newTestClient(t, f, clock, func(o *Options) { o.RefreshMargin = tt.margin })
			tk := newTestTokens(t, c, &memStore{token: seatsync.NewSecret(testRT1)}, &TokensOptions{ReloadInterval: time.Hour})
			ctx := context.Background()
			first, err := tk.AccessToken(ctx, customerTenant, graphScope)
			if err != nil {
				t.Fatal(err)
			}
			clock.Add(tt.renewAt - time.Second)
			again, err := tk.AccessToken(ctx, customerTenant, graphScope)
			if err != nil {
				t.Fatal(err)
			}
			if !again.Equal(first) || f.calls.Load() != 1 {
				t.Fatalf("token replaced before the margin (%d requests)", f.calls.Load())
			}
			clock.Add(time.Second)
			renewed, err := tk.AccessToken(ctx, customerTenant, graphScope)
			if err != nil {
				t.Fatal(err)
			}
			if renewed.Equal(first) || f.calls.Load() != 2 {
				t.Fatalf("token not replaced at the margin (%d requests)", f.calls.Load())
			}
		})
	}
}

func TestTokensRotation(t *testing.T) {
	tests := []struct {
		name      string
		answerRT  string
		wantSaves []savePair
	}{
		{"rotated is saved once", testRT2, []savePair{{testRT1, testRT2}}},
		{"same token is not saved", testRT1, nil},
		{"absent token is not saved", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newIdP(t, func(seen) answer { return answer{Body: tokenBody(testAT, tt.answerRT, "", 3599)} })
			c := newTestClient(t, f, newClock(), nil)
			store := &memStore{token: seatsync.NewSecret(testRT1)}
			tk := newTestTokens(t, c, store, nil)
			var wg sync.WaitGroup
			for i := range 30 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					// 30 callers over 3 tenants: 3 refreshes, each rotating.
					tenant := []string{customerTenant, partnerTenant, "contoso.onmicrosoft.com"}[i%3]
					if _, err := tk.AccessToken(context.Background(), tenant, graphScope); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if got := store.saved(); fmt.Sprint(got) != fmt.Sprint(tt.wantSaves) {
				t.Errorf("saves = %v, want %v", got, tt.wantSaves)
			}
			if f.calls.Load() != 3 {
				t.Errorf("%d requests, want 3", f.calls.Load())
			}
		})
	}
}

// TestTokensUseNewestRefreshToken: after a rotation, the next redemption
// uses the rotated token, not the one first loaded.
func TestTokensUseNewestRefreshToken(t *testing.T) {
	f := newIdP(t, func(s seen) answer {
		next := map[string]string{testRT1: testRT2, testRT2: "RT3-third"}[s.Form.Get("refresh_token")]
		return answer{Body: tokenBody(testAT, next, "", 3599)}
	})
	c := newTestClient(t, f, newClock(), nil)
	store := &memStore{token: seatsync.NewSecret(testRT1)}
	tk := newTestTokens(t, c, store, &TokensOptions{SaveInterval: -1})
	for _, tenant := range []string{customerTenant, partnerTenant} {
		if _, err := tk.AccessToken(context.Background(), tenant, graphScope); err != nil {
			t.Fatal(err)
		}
	}
	reqs := f.requests()
	if reqs[0].Form.Get("refresh_token") != testRT1 || reqs[1].Form.Get("refresh_token") != testRT2 {
		t.Errorf("refresh tokens used: %s, %s", reqs[0].Form.Get("refresh_token"), reqs[1].Form.Get("refresh_token"))
	}
	want := []savePair{{testRT1, testRT2}, {testRT2, "RT3-third"}}
	if got := store.saved(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("saves = %v, want %v (SaveInterval < 0 saves every rotation)", got, want)
	}
}

func TestTokensSaveInterval(t *testing.T) {
	clock := newClock()
	var n atomic.Int64
	f := newIdP(t, func(seen) answer {
		return answer{Body: tokenBody(testAT, fmt.Sprintf("RT-rotated-%d", n.Add(1)), "", 3599)}
	})
	c := newTestClient(t, f, clock, nil)
	store := &memStore{token: seatsync.NewSecret(testRT1)}
	tk := newTestTokens(t, c, store, &TokensOptions{SaveInterval: 5 * time.Minute, ReloadInterval: time.Hour})
	ask := func(tenant string) {
		t.Helper()
		if _, err := tk.AccessToken(context.Background(), tenant, graphScope); err != nil {
			t.Fatal(err)
		}
	}
	ask(customerTenant)
	ask(partnerTenant) // rotated again within the interval: kept in memory only
	clock.Add(5 * time.Minute)
	ask("contoso.onmicrosoft.com")
	want := []savePair{{testRT1, "RT-rotated-1"}, {"RT-rotated-1", "RT-rotated-3"}}
	if got := store.saved(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("saves = %v, want %v", got, want)
	}
}

func TestTokensSaveFailureKeepsToken(t *testing.T) {
	f := newIdP(t, func(seen) answer { return answer{Body: tokenBody(testAT, testRT2, "", 3599)} })
	c := newTestClient(t, f, newClock(), nil)
	store := &memStore{token: seatsync.NewSecret(testRT1), saveErr: errors.New("vault down")}
	tk := newTestTokens(t, c, store, nil)
	tok, err := tk.AccessToken(context.Background(), customerTenant, graphScope)
	if err != nil || tok.Reveal() != testAT {
		t.Fatalf("a failed save failed the access token: %v", err)
	}
	// The failed save is tried again at the next rotation.
	if _, err := tk.AccessToken(context.Background(), partnerTenant, graphScope); err != nil {
		t.Fatal(err)
	}
	if got := len(store.saved()); got != 2 {
		t.Errorf("%d save attempts, want 2", got)
	}
}

func TestTokensStoreReadOncePerInterval(t *testing.T) {
	clock := newClock()
	var f *fakeIdP
	f = newIdP(t, perTenantAnswer(&f, "", 3599))
	c := newTestClient(t, f, clock, nil)
	store := &memStore{token: seatsync.NewSecret(testRT1)}
	tk := newTestTokens(t, c, store, &TokensOptions{ReloadInterval: 5 * time.Minute})
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tenant := fmt.Sprintf("%08d-0000-4000-8000-000000000000", i)
			if _, err := tk.AccessToken(context.Background(), tenant, graphScope); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if loads := store.loads.Load(); loads != 1 {
		t.Errorf("%d loads for 40 tenants, want 1", loads)
	}
	if calls := f.calls.Load(); calls != 40 {
		t.Errorf("%d token requests, want 40", calls)
	}
	clock.Add(4 * time.Minute)
	if _, err := tk.AccessToken(context.Background(), "contoso.onmicrosoft.com", graphScope); err != nil {
		t.Fatal(err)
	}
	if loads := store.loads.Load(); loads != 1 {
		t.Errorf("reloaded within the interval: %d loads", loads)
	}
	clock.Add(time.Minute)
	store.set(testRT2) // a re-consent elsewhere
	if _, err := tk.AccessToken(context.Background(), "fabrikam.onmicrosoft.com", graphScope); err != nil {
		t.Fatal(err)
	}
	if loads := store.loads.Load(); loads != 2 {
		t.Errorf("%d loads after the interval, want 2", loads)
	}
	reqs := f.requests()
	if last := reqs[len(reqs)-1]; last.Form.Get("refresh_token") != testRT2 {
		t.Error("the reloaded refresh token was not used")
	}
}

func TestTokensCancelledCallerDoesNotBreakOthers(t *testing.T) {
	arrived := make(chan struct{})
	release := make(chan struct{})
	f := newIdP(t, func(seen) answer {
		close(arrived)
		<-release
		return answer{Body: tokenBody(testAT, "", "", 3599)}
	})
	c := newTestClient(t, f, newClock(), nil)
	tk := newTestTokens(t, c, &memStore{token: seatsync.NewSecret(testRT1)}, nil)

	ctx1, cancel1 := context.WithCancel(context.Background())
	err1 := make(chan error, 1)
	go func() {
		_, err := tk.AccessToken(ctx1, customerTenant, graphScope)
		err1 <- err
	}()
	<-arrived // the first caller's refresh is at the server
	type result struct {
		tok seatsync.Secret
		err error
	}
	res2 := make(chan result, 1)
	go func() {
		tok, err := tk.AccessToken(context.Background(), customerTenant, graphScope)
		res2 <- result{tok, err}
	}()
	cancel1()
	select {
	case err := <-err1:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled caller got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled caller still waiting")
	}
	close(release)
	r := <-res2
	if r.err != nil || r.tok.Reveal() != testAT {
		t.Fatalf("other caller: %v", r.err)
	}
	if f.calls.Load() != 1 {
		t.Errorf("%d requests, want 1", f.calls.Load())
	}
	// The cancelled caller's ctx did not cancel the shared request: the
	// token is cached.
	if _, err := tk.AccessToken(context.Background(), customerTenant, graphScope); err != nil || f.calls.Load() != 1 {
		t.Errorf("token not cached after the shared refresh: %v, %d requests", err, f.calls.Load())
	}
}

func TestTokensFailureMemory(t *testing.T) {
	tests := []struct {
		name     string
		a        answer
		remember bool
		code     string
	}{
		{"expired refresh token", answer{Status: 400, Body: errorBody("invalid_grant", 700082, true)}, true, ETokenExpired},
		{"invalid client secret", answer{Status: 401, Body: errorBody("invalid_client", 7000215, true)}, true, EInvalidClient},
		{"MFA required", answer{Status: 400, Body: errorBody("invalid_grant", 50076, true)}, false, EMFARequired},
		{"unavailable", answer{Status: 503}, false, EIdentityUnavailable},
		{"throttled", answer{Status: 429, Header: map[string]string{"Retry-After": "1"}}, false, EThrottled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newClock()
			f := newIdP(t, func(seen) answer { return tt.a })
			c := newTestClient(t, f, clock, nil)
			tk := newTestTokens(t, c, &memStore{token: seatsync.NewSecret(testRT1)}, nil)
			ctx := context.Background()
			for i := range 3 {
				_, err := tk.AccessToken(ctx, customerTenant, graphScope)
				if seatsync.ErrorCode(err) != tt.code {
					t.Fatalf("call %d: code %q, want %q (%v)", i, seatsync.ErrorCode(err), tt.code, err)
				}
				assertNoSecret(t, "error", err.Error(), allSecrets()...)
			}
			want := int64(3)
			if tt.remember {
				want = 1
			}
			if got := f.calls.Load(); got != want {
				t.Errorf("%d requests for 3 calls, want %d", got, want)
			}
			// Another tenant is not blocked by this tenant's failure.
			_, _ = tk.AccessToken(ctx, partnerTenant, graphScope)
			if got := f.calls.Load(); got != want+1 {
				t.Errorf("another tenant was blocked: %d requests", got)
			}
			clock.Add(time.Minute)
			_, _ = tk.AccessToken(ctx, customerTenant, graphScope)
			if got := f.calls.Load(); got != want+2 {
				t.Errorf("failure remembered past a minute: %d requests", got)
			}
		})
	}
}

// TestTokensDeadTokenReloadsStore: after the stored token is refused, a
// re-consent is picked up within a minute, not after the reload interval.
func TestTokensDeadTokenReloadsStore(t *testing.T) {
	clock := newClock()
	f := newIdP(t, func(s seen) answer {
		if s.Form.Get("refresh_token") == testRT1 {
			return answer{Status: 400, Body: errorBody("invalid_grant", 700082, true)}
		}
		return answer{Body: tokenBody(testAT, "", "", 3599)}
	})
	c := newTestClient(t, f, clock, nil)
	store := &memStore{token: seatsync.NewSecret(testRT1)}
	tk := newTestTokens(t, c, store, &TokensOptions{ReloadInterval: time.Hour})
	ctx := context.Background()
	if _, err := tk.AccessToken(ctx, customerTenant, graphScope); seatsync.ErrorCode(err) != ETokenExpired {
		t.Fatalf("err = %v", err)
	}
	// Within a minute of the load, other tenants do not make the dead
	// token a store read each.
	if _, err := tk.AccessToken(ctx, partnerTenant, graphScope); seatsync.ErrorCode(err) != ETokenExpired {
		t.Fatalf("err = %v", err)
	}
	if loads := store.loads.Load(); loads != 1 {
		t.Errorf("%d loads right after the refusal, want 1", loads)
	}
	store.set(testRT2) // the MSP grants consent again
	clock.Add(time.Minute)
	tok, err := tk.AccessToken(ctx, customerTenant, graphScope)
	if err != nil || tok.Reveal() != testAT {
		t.Fatalf("re-consent not picked up: %v", err)
	}
	if loads := store.loads.Load(); loads != 2 {
		t.Errorf("%d loads, want 2", loads)
	}
}

func TestTokensStoreProblems(t *testing.T) {
	f := newIdP(t, func(seen) answer { return answer{Body: tokenBody(testAT, "", "", 3599)} })
	c := newTestClient(t, f, newClock(), nil)
	ctx := context.Background()

	tk := newTestTokens(t, c, &memStore{}, nil)
	_, err := tk.AccessToken(ctx, customerTenant, graphScope)
	if seatsync.ErrorCode(err) != EConsentRequired || !strings.Contains(seatsync.ErrorMessage(err), "no partner consent") {
		t.Errorf("empty store: %v (%s)", err, seatsync.ErrorCode(err))
	}

	vaultDown := errors.New("vault unreachable")
	tk = newTestTokens(t, c, &memStore{loadErr: vaultDown}, nil)
	_, err = tk.AccessToken(ctx, customerTenant, graphScope)
	if !errors.Is(err, vaultDown) {
		t.Errorf("store error not wrapped: %v", err)
	}
	if f.calls.Load() != 0 {
		t.Error("token request without a refresh token")
	}

	if _, err := tk.AccessToken(ctx, "bad/tenant", graphScope); err == nil {
		t.Error("bad tenant accepted")
	}
	if _, err := tk.AccessToken(ctx, customerTenant, ""); err == nil {
		t.Error("empty scope accepted")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := tk.AccessToken(cancelled, customerTenant, graphScope); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: %v", err)
	}
	if _, err := NewTokens(nil, &memStore{}, nil); err == nil {
		t.Error("NewTokens accepted a nil client")
	}
}

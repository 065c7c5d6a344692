package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/seatsync/seatsync/shared/seatsync"
)

// RefreshTokenStore keeps the partner's refresh token (Key Vault in Azure,
// one secret per partner tenant).
type RefreshTokenStore interface {
	// Load returns the stored refresh token; a zero Secret means no consent
	// has been stored.
	Load(ctx context.Context) (seatsync.Secret, error)
	// Save replaces old (what Load returned or Save last wrote) with new. It
	// is called only when a refresh rotated the token to a different one.
	Save(ctx context.Context, old, new seatsync.Secret) error
}

// TokensOptions tune Tokens; the zero value (or nil) is fine for production.
type TokensOptions struct {
	// ReloadInterval is how long a refresh token read from the store is used
	// before the store is read again (default 5 min). Reading it per tenant
	// would be hundreds of Key Vault reads per run; reading it again at all
	// is what picks up a re-consent or another process's rotation.
	ReloadInterval time.Duration
	// SaveInterval spaces the writes of rotated refresh tokens (default
	// 5 min; negative writes every rotation). Every redemption, at each
	// customer tenant, rotates the token, and the platform keeps the old
	// one valid, so writing the newest one every few minutes keeps the
	// stored token fresh without a Key Vault version per tenant.
	SaveInterval time.Duration
	// FailureTTL is how long a dead refresh token or refused client
	// credential is remembered per tenant and scope before trying again
	// (default 1 min), so retries do not hammer the sign-in service.
	FailureTTL time.Duration
	// Timeout bounds one shared refresh (store read, token request, store
	// write); default 2 min. It runs on its own, so that a caller giving up
	// does not fail the others waiting for it.
	Timeout time.Duration
}

// Tokens is the process's access-token cache: a seatsync.TokenSource that
// redeems the partner's refresh token per (tenant, scope), reuses each access
// token until RefreshMargin before it expires, and makes one token request
// however many callers ask at once. It is safe for concurrent use.
type Tokens struct {
	c         *Client
	store     RefreshTokenStore
	reload    time.Duration
	saveEvery time.Duration
	failTTL   time.Duration
	timeout   time.Duration

	mu       sync.Mutex
	rt       seatsync.Secret // newest refresh token this process knows
	stored   seatsync.Secret // what the store holds, as far as we know
	refused  seatsync.Secret // a refresh token the platform called dead
	loadedAt time.Time
	loading  *loadCall
	savedAt  time.Time
	saving   bool
	entries  map[cacheKey]*entry
}

var _ seatsync.TokenSource = (*Tokens)(nil)

type cacheKey struct{ tenant, scope string }

// entry is the state of one (tenant, scope).
type entry struct {
	token     seatsync.Secret
	renewAt   time.Time // when the token is no longer handed out
	failure   error     // remembered dead-credential failure
	failUntil time.Time
	call      *call // the refresh in flight, if any
}

// call is one refresh shared by every caller that asked while it ran.
type call struct {
	done  chan struct{}
	token seatsync.Secret
	err   error
}

type loadCall struct {
	done chan struct{}
	rt   seatsync.Secret
	err  error
}

// NewTokens returns an access-token cache redeeming the refresh token in
// store with c.
func NewTokens(c *Client, store RefreshTokenStore, opts *TokensOptions) (*Tokens, error) {
	if c == nil || store == nil {
		return nil, errors.New("identity: NewTokens needs a client and a refresh token store")
	}
	var o TokensOptions
	if opts != nil {
		o = *opts
	}
	t := &Tokens{
		c:         c,
		store:     store,
		reload:    orDefault(o.ReloadInterval, 5*time.Minute),
		saveEvery: o.SaveInterval,
		failTTL:   orDefault(o.FailureTTL, time.Minute),
		timeout:   orDefault(o.Timeout, 2*time.Minute),
		entries:   make(map[cacheKey]*entry),
	}
	switch {
	case o.SaveInterval == 0:
		t.saveEvery = 5 * time.Minute
	case o.SaveInterval < 0:
		t.saveEvery = 0
	}
	return t, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// AccessToken returns an access token for scope in tenantID ("" means the
// partner's own tenant). A caller whose ctx ends stops waiting with
// ctx.Err(); the shared refresh goes on for the others.
func (t *Tokens) AccessToken(ctx context.Context, tenantID, scope string) (seatsync.Secret, error) {
	if err := ctx.Err(); err != nil {
		return seatsync.Secret{}, fmt.Errorf("identity: access token: %w", err)
	}
	authority := strings.ToLower(tenantID)
	if authority == "" {
		// The refresh token's own user's home tenant: the partner's.
		authority = "organizations"
	}
	if err := checkTenant(authority); err != nil {
		return seatsync.Secret{}, err
	}
	if err := checkScope(scope); err != nil {
		return seatsync.Secret{}, err
	}
	key := cacheKey{tenant: authority, scope: scope}

	t.mu.Lock()
	now := t.c.now()
	e := t.entries[key]
	if e == nil {
		e = &entry{}
		t.entries[key] = e
	}
	if !e.token.IsZero() && now.Before(e.renewAt) {
		tok := e.token
		t.mu.Unlock()
		return tok, nil
	}
	if e.failure != nil && now.Before(e.failUntil) {
		err := e.failure
		t.mu.Unlock()
		return seatsync.Secret{}, err
	}
	cl := e.call
	if cl == nil {
		cl = &call{done: make(chan struct{})}
		e.call = cl
		// WithoutCancel keeps ctx's values (log attributes) but not its
		// cancellation: the refresh belongs to every waiter, not to the
		// first caller.
		go t.refresh(context.WithoutCancel(ctx), key, cl)
	}
	t.mu.Unlock()

	select {
	case <-cl.done:
		return cl.token, cl.err
	case <-ctx.Done():
		return seatsync.Secret{}, fmt.Errorf("identity: access token for tenant %s: %w", authority, ctx.Err())
	}
}

// refresh runs one shared refresh and publishes its result to the entry and
// to the waiters.
func (t *Tokens) refresh(ctx context.Context, key cacheKey, cl *call) {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	tok, renewAt, err := t.redeem(ctx, key)

	t.mu.Lock()
	e := t.entries[key]
	e.call = nil
	if err == nil {
		e.token, e.renewAt = tok, renewAt
		e.failure = nil
	} else if remember(err) {
		e.failure, e.failUntil = err, t.c.now().Add(t.failTTL)
	}
	cl.token, cl.err = tok, err
	t.mu.Unlock()
	close(cl.done)
}

// remember reports whether err is a dead credential, which trying again in
// a second will not cure. Other failures are retried at the next call.
func remember(err error) bool {
	ie, ok := errors.AsType[*Error](err)
	return ok && (ie.Kind == KindExpiredOrRevoked || ie.Kind == KindInvalidClient)
}

// redeem gets the refresh token, redeems it for key and keeps the rotated
// one. It returns the access token and when to stop handing it out.
func (t *Tokens) redeem(ctx context.Context, key cacheKey) (seatsync.Secret, time.Time, error) {
	rt, err := t.refreshToken(ctx)
	if err != nil {
		return seatsync.Secret{}, time.Time{}, err
	}
	sentAt := t.c.now()
	resp, err := t.c.Refresh(ctx, key.tenant, rt, withOfflineAccess(key.scope))
	if err != nil {
		if ie, ok := errors.AsType[*Error](err); ok && (ie.Kind == KindExpiredOrRevoked || ie.Kind == KindInteractionRequired) {
			t.markStale(rt)
		}
		return seatsync.Secret{}, time.Time{}, err
	}
	if !resp.RefreshToken.IsZero() {
		t.rotated(ctx, resp.RefreshToken)
	}
	// A token that lives less than twice the margin is renewed half-way
	// through its life instead, or it would never be reused at all.
	margin := min(t.c.margin, resp.ExpiresAt.Sub(sentAt)/2)
	return resp.AccessToken, resp.ExpiresAt.Add(-margin), nil
}

// withOfflineAccess adds offline_access to scope: without it the answer
// need not carry a rotated refresh token, and the stored one would age.
func withOfflineAccess(scope string) string {
	for _, s := range strings.Fields(scope) {
		if s == "offline_access" {
			return scope
		}
	}
	return scope + " offline_access"
}

// refreshToken returns the refresh token, reading the store when the one in
// memory is older than the reload interval. Concurrent readers share one
// Load.
func (t *Tokens) refreshToken(ctx context.Context) (seatsync.Secret, error) {
	t.mu.Lock()
	age := t.c.now().Sub(t.loadedAt)
	fresh := !t.rt.IsZero() && age < t.reload
	if fresh && !t.refused.IsZero() && t.rt.Equal(t.refused) && age >= t.failTTL {
		// The token in memory was refused: read the store again in case
		// the MSP has granted consent since, but at most once per
		// FailureTTL, or a dead token refused by every tenant would
		// become a store read per tenant.
		fresh = false
	}
	if fresh {
		rt := t.rt
		t.mu.Unlock()
		return rt, nil
	}
	lc := t.loading
	if lc != nil {
		t.mu.Unlock()
		select {
		case <-lc.done:
			return lc.rt, lc.err
		case <-ctx.Done():
			return seatsync.Secret{}, fmt.Errorf("identity: load the refresh token: %w", ctx.Err())
		}
	}
	lc = &loadCall{done: make(chan struct{})}
	t.loading = lc
	t.mu.Unlock()

	rt, err := t.store.Load(ctx)
	switch {
	case err != nil:
		err = fmt.Errorf("identity: load the refresh token: %w", err)
	case rt.IsZero():
		err = fmt.Errorf("identity: load the refresh token: %w", &Error{Kind: KindConsentRequired, grant: grantStore})
	}

	t.mu.Lock()
	t.loading = nil
	if err == nil {
		t.rt, t.stored, t.loadedAt = rt, rt, t.c.now()
	}
	lc.rt, lc.err = rt, err
	t.mu.Unlock()
	close(lc.done)
	return rt, err
}

// markStale records that rt was refused as expired or revoked, so that the
// next refresh reads the store again (see refreshToken) and picks up a
// re-consent without waiting out the reload interval.
func (t *Tokens) markStale(rt seatsync.Secret) {
	t.mu.Lock()
	t.refused = rt
	t.mu.Unlock()
}

// rotated adopts the refresh token of an answer for the next refreshes and,
// when it differs from the stored one, writes it to the store unless a write
// happened within the save interval. Comparing with the stored token rather
// than the one just used means a failed write is retried at the next answer.
func (t *Tokens) rotated(ctx context.Context, rt seatsync.Secret) {
	t.mu.Lock()
	t.rt = rt
	now := t.c.now()
	if t.saving || rt.Equal(t.stored) || (!t.savedAt.IsZero() && now.Sub(t.savedAt) < t.saveEvery) {
		t.mu.Unlock()
		return
	}
	t.saving = true
	old := t.stored
	t.mu.Unlock()

	err := t.store.Save(ctx, old, rt)

	t.mu.Lock()
	t.saving = false
	if err == nil {
		t.stored, t.savedAt = rt, now
	}
	t.mu.Unlock()
	if err != nil {
		// The access token is good and the stored refresh token still
		// works (the platform does not revoke it on use), so this is a
		// warning: the next rotation tries again.
		t.c.log.LogAttrs(ctx, slog.LevelWarn, "identity: saving the rotated refresh token failed", slog.String("error", err.Error()))
	}
}

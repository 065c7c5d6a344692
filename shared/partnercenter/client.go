package partnercenter

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	randv2 "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/seatsync/seatsync/shared/retryafter"
	"github.com/seatsync/seatsync/shared/seatsync"
)

// Scope is the scope of the partner's token for Partner Center.
const Scope = "https://api.partnercenter.microsoft.com/.default"

// DefaultMaxRetryWait is the default Options.MaxRetryWait: long enough to
// ride out a 429's typical "try again in a minute", short enough that one
// tenant's sync does not hold its queue message for long.
const DefaultMaxRetryWait = 2 * time.Minute

const (
	// maxBody bounds what one response may make us hold in memory. A page
	// of customers or one customer's subscriptions is far smaller.
	maxBody = 16 << 20
	// customersPageSize is the size of a customers page. The docs' example
	// asks for 40 and state no maximum; 100 keeps pages (and requests for
	// partners with thousands of customers) reasonable.
	customersPageSize = 100
	// defaultMaxPages bounds one walk of a collection, so that a server
	// that keeps sending new tokens cannot hold a sync for ever: 10,000
	// pages of 100 is ten times the largest partner estate.
	defaultMaxPages = 10_000
	// maxRetries bounds the retries of one request even when the waits
	// are short (a server sending "Retry-After: 0").
	maxRetries = 10
	// backoffBase and backoffCap shape the backoff when no Retry-After
	// came: 1s, 2s, 4s, … at most 30s, each jittered down to half so that
	// tenants synced in parallel do not retry in step.
	backoffBase = time.Second
	backoffCap  = 30 * time.Second
	// requestTimeout bounds one attempt on the default HTTP client, so a
	// connection that hangs is given up and retried.
	requestTimeout = 90 * time.Second

	continuationHeader = "MS-ContinuationToken"
)

// Options configure a Client. Pass nil for defaults.
type Options struct {
	// HTTPClient makes the requests; nil for one with a 90 s timeout per
	// attempt that does not follow redirects (a bearer token must not go
	// where Partner Center did not say).
	HTTPClient *http.Client
	// Log receives debug records of each request (method, path, status,
	// duration, request ids) and warnings; nil discards them.
	Log *slog.Logger
	// MaxRetryWait is the total time one request may spend waiting to
	// retry 429, 503, 504 and connection failures; 0 means
	// DefaultMaxRetryWait, negative means no retries.
	MaxRetryWait time.Duration
	// Now is the clock; nil for time.Now.
	Now func() time.Time
	// Sleep waits d or until ctx is done, returning ctx's error then; nil
	// for a timer. Tests record the waits instead.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Client reads customers and subscriptions from Partner Center. It is safe
// for concurrent use.
type Client struct {
	base     string // scheme://host[/prefix], no trailing slash
	baseURL  *url.URL
	tokens   seatsync.TokenSource
	http     *http.Client
	log      *slog.Logger
	maxWait  time.Duration
	now      func() time.Time
	sleep    func(ctx context.Context, d time.Duration) error
	maxPages int
}

// New returns a Client of the Partner Center at baseURL (such as
// https://api.partnercenter.microsoft.com; a trailing /v1 is dropped) that
// calls with tokens from tokens. http is refused except on loopback, where
// a local stand-in runs.
func New(baseURL string, tokens seatsync.TokenSource, opts *Options) (*Client, error) {
	if tokens == nil {
		return nil, errors.New("partnercenter: no token source")
	}
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil {
		return nil, fmt.Errorf("partnercenter: base URL: %w", err)
	}
	switch {
	case u.Host == "" || u.Opaque != "":
		return nil, fmt.Errorf("partnercenter: base URL %q is not an absolute URL", u.Redacted())
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("partnercenter: base URL %q must not carry user info, a query or a fragment", u.Redacted())
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	default:
		return nil, fmt.Errorf("partnercenter: base URL %q must be https (http only on loopback)", u.Redacted())
	}
	u.Path = strings.TrimSuffix(strings.TrimRight(u.Path, "/"), "/v1")
	u.RawPath = ""
	c := &Client{
		base:     u.String(),
		baseURL:  u,
		tokens:   tokens,
		maxWait:  DefaultMaxRetryWait,
		now:      time.Now,
		sleep:    sleep,
		maxPages: defaultMaxPages,
	}
	if opts != nil {
		c.http, c.log = opts.HTTPClient, opts.Log
		if opts.MaxRetryWait != 0 {
			c.maxWait = max(opts.MaxRetryWait, 0)
		}
		if opts.Now != nil {
			c.now = opts.Now
		}
		if opts.Sleep != nil {
			c.sleep = opts.Sleep
		}
	}
	if c.http == nil {
		c.http = &http.Client{
			Timeout: requestTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Customers returns all the partner's customers, following every page. A
// customer listed twice is returned once; one without a tenant id is
// skipped with a warning, as nothing can be synced for it.
func (c *Client) Customers(ctx context.Context) ([]Customer, error) {
	first, err := c.endpoint("/v1/customers", "size="+strconv.Itoa(customersPageSize))
	if err != nil {
		return nil, fmt.Errorf("partnercenter: list customers: %w", err)
	}
	var out []Customer
	seen := make(map[string]bool)
	skipped := 0
	pages, err := walk(ctx, c, first, "/v1/customers", func(items []wireCustomer) {
		for _, w := range items {
			id := w.tenantID()
			if id == "" {
				skipped++
				continue
			}
			if seen[id] {
				continue
			}
			seen[id] = true
			out = append(out, Customer{
				TenantID:              id,
				CompanyName:           w.CompanyProfile.CompanyName,
				Domain:                w.CompanyProfile.Domain,
				RelationshipToPartner: w.RelationshipToPartner,
			})
		}
	})
	if err != nil {
		return nil, fmt.Errorf("partnercenter: list customers: %w", err)
	}
	if skipped > 0 {
		c.log.WarnContext(ctx, "partnercenter: customers without a tenant id skipped", "skipped", skipped)
	}
	c.log.DebugContext(ctx, "partnercenter: listed customers", "pages", pages, "customers", len(out))
	return out, nil
}

// Subscriptions returns the subscriptions of the customer with tenant id
// customerTenantID. Partner Center documents no paging for this list; a
// next link is followed all the same, should one come.
func (c *Client) Subscriptions(ctx context.Context, customerTenantID string) ([]Subscription, error) {
	// The id goes into the path: anything but a GUID could reach another
	// resource ("../", "?", "#").
	if !seatsync.IsGUID(customerTenantID) {
		return nil, fmt.Errorf("partnercenter: list subscriptions: %q is not a customer tenant id (a GUID)", clean(customerTenantID, "", 64))
	}
	path := "/v1/customers/" + strings.ToLower(customerTenantID) + "/subscriptions"
	first, err := c.endpoint(path, "")
	if err != nil {
		return nil, fmt.Errorf("partnercenter: list subscriptions of customer %s: %w", customerTenantID, err)
	}
	var out []Subscription
	_, err = walk(ctx, c, first, path, func(items []wireSubscription) {
		for _, w := range items {
			out = append(out, w.subscription(ctx, c.log))
		}
	})
	if err != nil {
		return nil, fmt.Errorf("partnercenter: list subscriptions of customer %s: %w", customerTenantID, err)
	}
	return out, nil
}

// pageRequest is the request for one page.
type pageRequest struct {
	url    *url.URL
	header http.Header // from the previous page's next link
}

// walk GETs first and every following page, giving each page's items to
// each, and returns the number of pages. seekPath is where a next page is
// asked for when a page carries only a body continuationToken.
func walk[T any](ctx context.Context, c *Client, first *url.URL, seekPath string, each func([]T)) (int, error) {
	// One correlation id ties the pages of a walk together in Partner
	// Center's logs; each request has its own request id.
	correlationID := newGUID()
	req := pageRequest{url: first}
	seen := make(map[string]bool)
	for page := 1; ; page++ {
		if page > c.maxPages {
			return page - 1, &Error{Status: http.StatusOK, unusable: true, CorrelationID: correlationID,
				Message: fmt.Sprintf("Partner Center kept sending next pages; stopped after %d", c.maxPages)}
		}
		var col collection[T]
		if err := c.get(ctx, req, correlationID, &col); err != nil {
			return page, fmt.Errorf("page %d: %w", page, err)
		}
		each(col.Items)
		next, ok, err := c.nextPage(col.Links.Next, col.ContinuationToken, seekPath)
		if err != nil {
			if pe, isPE := errors.AsType[*Error](err); isPE {
				pe.CorrelationID = correlationID
			}
			return page, fmt.Errorf("page %d: %w", page, err)
		}
		if !ok {
			return page, nil
		}
		// A token handed out twice means the server is going round in
		// circles; without a token, the same next URL does.
		key := "token:" + next.header.Get(continuationHeader)
		if key == "token:" {
			key = "url:" + next.url.String()
		}
		if seen[key] {
			return page, &Error{Status: http.StatusOK, unusable: true, CorrelationID: correlationID,
				Message: fmt.Sprintf("Partner Center repeated a continuation token after page %d", page)}
		}
		seen[key] = true
		req = next
	}
}

// nextPage works out the request for the page after one with the next link
// next and the body token token; ok is false on the last page.
func (c *Client) nextPage(next *link, token, seekPath string) (pageRequest, bool, error) {
	token = strings.TrimSpace(token)
	h := make(http.Header)
	if next != nil && strings.TrimSpace(next.URI) != "" {
		if next.Method != "" && !strings.EqualFold(next.Method, http.MethodGet) {
			return pageRequest{}, false, malformed("the next link asks for %s, not GET", clean(next.Method, "", 16))
		}
		u, err := c.resolve(next.URI)
		if err != nil {
			return pageRequest{}, false, err
		}
		for _, kv := range next.Headers {
			name, value := strings.TrimSpace(kv[0]), kv[1]
			if !validHeaderName(name) || !validHeaderValue(value) {
				return pageRequest{}, false, malformed("the next link carries a malformed header")
			}
			if reservedHeader(name) {
				// Ours to set: a link must not replace the token or ids.
				continue
			}
			h.Add(name, value)
		}
		if h.Get(continuationHeader) == "" && token != "" {
			h.Set(continuationHeader, token)
		}
		return pageRequest{url: u, header: h}, true, nil
	}
	if token == "" {
		return pageRequest{}, false, nil
	}
	if !validHeaderValue(token) {
		return pageRequest{}, false, malformed("the continuation token is malformed")
	}
	// The seek form the SDK uses: the same collection, seekOperation=Next,
	// the token in a header.
	u, err := c.endpoint(seekPath, "seekOperation=Next")
	if err != nil {
		return pageRequest{}, false, err
	}
	h.Set(continuationHeader, token)
	return pageRequest{url: u, header: h}, true, nil
}

// resolve turns a link's URI into a URL on the same server. Partner Center
// links are relative and mostly leave out "/v1" ("/customers/…"), though the
// customers self link has it. An absolute link must name our own server,
// since the request carries the partner's token.
func (c *Client) resolve(ref string) (*url.URL, error) {
	ref = strings.TrimSpace(ref)
	// Partner Center's docs show a next link with a second "?" where an
	// "&" is meant ("…&size=2?seekOperation=Next").
	if i := strings.IndexByte(ref, '?'); i >= 0 {
		ref = ref[:i+1] + strings.ReplaceAll(ref[i+1:], "?", "&")
	}
	u, err := url.Parse(ref)
	if err != nil {
		return nil, malformed("the next link is not a URL")
	}
	u.Fragment, u.RawFragment = "", ""
	if u.Scheme != "" || u.Host != "" {
		if u.User != nil || !strings.EqualFold(u.Scheme, c.baseURL.Scheme) || !strings.EqualFold(u.Host, c.baseURL.Host) {
			return nil, malformed("the next link points to another server (%s)", clean(u.Host, "", 100))
		}
		return u, nil
	}
	p := u.EscapedPath()
	switch {
	case strings.HasPrefix(p, "/v1/"):
	case strings.HasPrefix(p, "/"):
		p = "/v1" + p
	default:
		p = "/v1/" + p
	}
	return c.endpoint(p, u.RawQuery)
}

// endpoint is the URL of path (escaped, from "/v1/…") with rawQuery.
func (c *Client) endpoint(path, rawQuery string) (*url.URL, error) {
	s := c.base + path
	if rawQuery != "" {
		s += "?" + rawQuery
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, malformed("cannot build a request URL")
	}
	return u, nil
}

// get GETs r into out, retrying what is worth retrying within the budget.
// The request id stays the same over the retries, as Partner Center asks,
// so that it can tell a retry from a new request.
func (c *Client) get(ctx context.Context, r pageRequest, correlationID string, out any) error {
	requestID := newGUID()
	var waited time.Duration
	for attempt := 1; ; attempt++ {
		t := c.attempt(ctx, r, requestID, correlationID, attempt, out)
		if t.err == nil {
			return nil
		}
		pe, ok := errors.AsType[*Error](t.err)
		if !ok || !t.retry {
			return t.err
		}
		wait := t.after
		if !t.hinted {
			wait = backoff(attempt)
		}
		if attempt > maxRetries || waited+wait > c.maxWait {
			pe.RetryAfter = max(wait, time.Millisecond)
			return pe
		}
		c.log.DebugContext(ctx, "partnercenter: waiting to retry",
			"path", r.url.Path, "status", pe.Status, "waitMs", wait.Milliseconds(), "attempt", attempt,
			"requestId", requestID, "correlationId", correlationID)
		if err := c.sleep(ctx, wait); err != nil {
			return fmt.Errorf("gave up waiting %s to retry after %s: %w", wait, statusText(pe), err)
		}
		waited += wait
	}
}

// try is the outcome of one attempt.
type try struct {
	err    error         // nil on success
	retry  bool          // err is worth another attempt
	after  time.Duration // the server's Retry-After
	hinted bool          // there was a Retry-After
}

func (c *Client) attempt(ctx context.Context, r pageRequest, requestID, correlationID string, n int, out any) try {
	tok, err := c.tokens.AccessToken(ctx, "", Scope)
	if err != nil {
		return try{err: fmt.Errorf("get a Partner Center token: %w", err)}
	}
	if tok.IsZero() {
		return try{err: errors.New("get a Partner Center token: the token source gave an empty token")}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url.String(), nil)
	if err != nil {
		return try{err: fmt.Errorf("build request: %w", err)}
	}
	for name, values := range r.header {
		req.Header[name] = values
	}
	req.Header.Set("Authorization", "Bearer "+tok.Reveal())
	req.Header.Set("Accept", "application/json")
	req.Header.Set("MS-RequestId", requestID)
	req.Header.Set("MS-CorrelationId", correlationID)

	start := c.now()
	resp, err := c.http.Do(req)
	logAttrs := []any{"method", http.MethodGet, "path", r.url.Path, "attempt", n,
		"requestId", requestID, "correlationId", correlationID}
	if err != nil {
		c.log.DebugContext(ctx, "partnercenter: request failed",
			append(logAttrs, "durationMs", c.now().Sub(start).Milliseconds(), "error", err.Error())...)
		if ctxErr := ctx.Err(); ctxErr != nil {
			return try{err: fmt.Errorf("GET %s: %w", r.url.Path, ctxErr)}
		}
		e := &Error{RequestID: requestID, CorrelationID: correlationID, Err: err}
		// A certificate that does not verify will not verify in a minute.
		_, badCert := errors.AsType[*tls.CertificateVerificationError](err)
		return try{err: e, retry: !badCert}
	}
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	_ = resp.Body.Close()
	c.log.DebugContext(ctx, "partnercenter: request",
		append(logAttrs, "status", resp.StatusCode, "durationMs", c.now().Sub(start).Milliseconds(), "bytes", len(body))...)

	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	switch {
	case readErr != nil && ctx.Err() != nil:
		return try{err: fmt.Errorf("GET %s: %w", r.url.Path, ctx.Err())}
	case readErr != nil:
		// The connection broke mid-body; a GET can simply be asked again.
		return try{err: &Error{Status: resp.StatusCode, unusable: true, RequestID: requestID, CorrelationID: correlationID,
			Message: "the response was cut off", Err: readErr}, retry: true}
	case ok && len(body) > maxBody:
		return try{err: &Error{Status: resp.StatusCode, unusable: true, RequestID: requestID, CorrelationID: correlationID,
			Message: "the response is larger than 16 MiB"}}
	case ok:
		if err := decode(body, out); err != nil {
			msg := err.Error()
			if ct := resp.Header.Get("Content-Type"); ct != "" {
				msg += " (Content-Type " + ct + ")"
			}
			return try{err: &Error{Status: resp.StatusCode, unusable: true, RequestID: requestID, CorrelationID: correlationID,
				Message: clean(msg, tok.Reveal(), maxMessage)}}
		}
		return try{}
	}
	e := responseError(resp, body, tok.Reveal(), requestID, correlationID)
	t := try{err: e}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		t.retry = true
		t.after, t.hinted = retryafter.Parse(resp.Header, c.now())
	}
	return t
}

// decode reads a JSON body into out, saying plainly when it is not JSON at
// all (an HTML page from a proxy, say) rather than where a parser stopped.
func decode(body []byte, out any) error {
	body = trimBOM(body)
	err := json.Unmarshal(body, out)
	switch {
	case err == nil:
		return nil
	case !json.Valid(body): // checked only on failure: it costs a second pass
		return errors.New("the response is not JSON")
	default:
		return fmt.Errorf("the response is not in the documented shape: %w", err)
	}
}

// trimBOM drops a UTF-8 byte-order mark, which .NET services sometimes
// send and encoding/json refuses.
func trimBOM(b []byte) []byte { return bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) }

// malformed is the *Error of a response that arrived but cannot be used.
func malformed(format string, args ...any) *Error {
	return &Error{Status: http.StatusOK, unusable: true, Message: fmt.Sprintf(format, args...)}
}

func statusText(e *Error) string {
	if e.Status == 0 {
		return "a connection failure"
	}
	return "HTTP " + strconv.Itoa(e.Status)
}

// backoff is the wait before retry n (1-based) when the server named none:
// exponential, capped, with jitter between half and all of it.
func backoff(n int) time.Duration {
	d := backoffCap
	if n <= 5 { // 1s<<5 = 32s is past the cap already
		d = min(backoffBase<<(n-1), backoffCap)
	}
	half := d / 2
	return half + time.Duration(randv2.Int64N(int64(half)+1))
}

// sleep is the default Options.Sleep.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// newGUID returns a random (version 4) GUID for MS-RequestId and
// MS-CorrelationId.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// reservedHeader reports whether a next link may not set name: the headers
// this client sets itself and those net/http manages.
func reservedHeader(name string) bool {
	switch http.CanonicalHeaderKey(name) {
	case "Authorization", "Accept", "Ms-Requestid", "Ms-Correlationid",
		"Host", "Content-Length", "Transfer-Encoding", "Connection", "Cookie", "Proxy-Authorization":
		return true
	}
	return false
}

// validHeaderName reports whether name is an HTTP token, so a server's
// header cannot make the request fail (or worse) when we send it.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// validHeaderValue reports whether v can be sent as a header value: no
// control characters but tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoft/kiota-abstractions-go/authentication"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	khttp "github.com/microsoft/kiota-http-go"
	jsonserialization "github.com/microsoft/kiota-serialization-json-go"
	core "github.com/microsoftgraph/msgraph-sdk-go-core"

	"github.com/seatsync/seatsync/shared/seatsync"
)

// DefaultMaxRetryWait is the default Options.MaxRetryWait: long enough to
// ride out a 429's usual "try again in a few seconds" several times, short
// enough that one tenant's sync does not hold its queue message for long.
const DefaultMaxRetryWait = 2 * time.Minute

const (
	// apiVersion is the Graph version every call uses.
	apiVersion = "/v1.0"
	// sdkVersion is the msgraph-sdk-go version in go.mod, sent in Graph's
	// SdkVersion telemetry header as the SDK itself would.
	sdkVersion = "1.89.0"
	// defaultPageSize and maxPageSize are $top of delegatedAdminCustomers,
	// which documents at most 300.
	defaultPageSize = 300
	maxPageSize     = 300
	// defaultMaxPages bounds one walk of a collection, so that a server
	// that keeps sending next links cannot hold a sync for ever: 1,000
	// pages of 300 customers is far beyond any partner estate.
	defaultMaxPages = 1000
	// maxBody bounds what one response may make us hold in memory (kiota
	// reads a whole body at once). A page of any of these lists is far
	// smaller.
	maxBody = 16 << 20
	// maxErrorBody bounds what is read of an error response.
	maxErrorBody = 64 << 10
	// maxRetries bounds the retries of one request even when the waits
	// are short (a server sending "Retry-After: 0").
	maxRetries = 10
	// backoffBase and backoffCap shape the backoff when no Retry-After
	// came: 1s, 2s, 4s, … at most 30s, each jittered down to half so that
	// tenants synced in parallel do not retry in step.
	backoffBase = time.Second
	backoffCap  = 30 * time.Second
	// responseHeaderTimeout bounds the wait for an answer on the default
	// transport, so a connection that hangs is given up (and retried).
	responseHeaderTimeout = 90 * time.Second
)

// Options configure a Client. Pass nil for defaults.
type Options struct {
	// HTTPClient's Transport carries the requests under this package's
	// middleware (nil, or a nil Transport, for one that gives up on a
	// server silent for 90 s). Its Timeout, if set, bounds each request
	// including the waits between its retries. Nothing else of it is used:
	// redirects are never followed.
	HTTPClient *http.Client
	// Log receives debug records of each request (method, path, status,
	// duration, request ids), info records of retries and warnings; nil
	// discards them.
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
	// PageSize is the $top of the collections whose documentation allows
	// one (delegatedAdminCustomers: 1–300); 0 means 300.
	PageSize int
}

// Client reads from Microsoft Graph. It is safe for concurrent use.
type Client struct {
	base     *url.URL // {graphURL}/v1.0
	baseStr  string
	tokens   *tokenProvider
	adapter  abstractions.RequestAdapter
	http     *http.Client // the kiota pipeline, shared with UserCounts
	log      *slog.Logger
	maxWait  time.Duration
	now      func() time.Time
	sleep    func(ctx context.Context, d time.Duration) error
	pageSize int32
	maxPages int
}

// New returns a Client of the Graph at graphURL (SEATSYNC_GRAPH_URL, such as
// https://graph.microsoft.com; the API version is added) that calls with
// tokens from tokens for the scope "{graphURL}/.default". http is refused
// except on loopback, where a local stand-in runs.
func New(graphURL string, tokens seatsync.TokenSource, opts *Options) (*Client, error) {
	if tokens == nil {
		return nil, errors.New("graph: no token source")
	}
	u, err := url.Parse(strings.TrimSpace(graphURL))
	if err != nil {
		return nil, fmt.Errorf("graph: Graph URL: %w", err)
	}
	switch {
	case u.Host == "" || u.Opaque != "":
		return nil, fmt.Errorf("graph: Graph URL %q is not an absolute URL", u.Redacted())
	case u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("graph: Graph URL %q must not carry user info, a query or a fragment", u.Redacted())
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	default:
		return nil, fmt.Errorf("graph: Graph URL %q must be https (http only on loopback)", u.Redacted())
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	if strings.HasSuffix(u.Path, apiVersion) {
		return nil, fmt.Errorf("graph: Graph URL %q must not name the API version; %s is added", u.Redacted(), apiVersion)
	}
	root := u.String()
	base, err := url.Parse(root + apiVersion)
	if err != nil {
		return nil, fmt.Errorf("graph: Graph URL: %w", err)
	}

	c := &Client{
		base:     base,
		baseStr:  base.String(),
		maxWait:  DefaultMaxRetryWait,
		now:      time.Now,
		sleep:    sleep,
		pageSize: defaultPageSize,
		maxPages: defaultMaxPages,
	}
	var hc *http.Client
	if opts != nil {
		hc, c.log = opts.HTTPClient, opts.Log
		if opts.MaxRetryWait != 0 {
			c.maxWait = max(opts.MaxRetryWait, 0)
		}
		if opts.Now != nil {
			c.now = opts.Now
		}
		if opts.Sleep != nil {
			c.sleep = opts.Sleep
		}
		if opts.PageSize > 0 {
			c.pageSize = int32(min(opts.PageSize, maxPageSize))
		}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}

	validator, err := authentication.NewAllowedHostsValidatorErrorCheck([]string{u.Hostname()})
	if err != nil {
		return nil, fmt.Errorf("graph: Graph URL: %w", err)
	}
	c.tokens = &tokenProvider{
		tokens:  tokens,
		scope:   root + "/.default",
		scheme:  u.Scheme,
		host:    u.Host,
		allowed: validator,
	}

	// kiota's pipeline, with our retry middleware where the default set
	// has its RetryHandler. The default set also has a redirect handler
	// (not wanted: a redirect is an error here) and a compression handler
	// (only for request bodies); both are left out.
	var parent http.RoundTripper
	var timeout time.Duration
	if hc != nil {
		parent, timeout = hc.Transport, hc.Timeout
	}
	if parent == nil {
		t := khttp.GetDefaultTransport()
		if ht, ok := t.(*http.Transport); ok {
			ht.ResponseHeaderTimeout = responseHeaderTimeout
		}
		parent = t
	}
	options := core.GraphClientOptions{GraphServiceLibraryVersion: sdkVersion}
	c.http = &http.Client{
		Transport: khttp.NewCustomTransportWithParentTransport(parent,
			core.NewGraphTelemetryHandler(&options),
			khttp.NewUserAgentHandler(),
			khttp.NewParametersNameDecodingHandler(),
			&retryMiddleware{c: c},
		),
		Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}

	parsers := absser.NewParseNodeFactoryRegistry()
	parsers.ContentTypeAssociatedFactories["application/json"] = jsonserialization.NewJsonParseNodeFactory()
	writers := absser.NewSerializationWriterFactoryRegistry()
	writers.ContentTypeAssociatedFactories["application/json"] = jsonserialization.NewJsonSerializationWriterFactory()
	adapter, err := core.NewGraphRequestAdapterBaseWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		authentication.NewBaseBearerTokenAuthenticationProvider(c.tokens), options, parsers, writers, c.http)
	if err != nil {
		return nil, fmt.Errorf("graph: request adapter: %w", err)
	}
	adapter.SetBaseUrl(c.baseStr)
	c.adapter = adapter
	return c, nil
}

// pathParams are the path parameters request builders start from; the
// adapter fills in the base URL.
func (c *Client) pathParams() map[string]string {
	return map[string]string{"baseurl": c.baseStr}
}

// call is what one Client method's requests carry in their context: the
// tenant the token is for, and what the transport saw of the last response
// (for errors raised after it, when kiota cannot parse a body).
type call struct {
	op     string
	tenant string // "" = the partner's own tenant

	mu              sync.Mutex
	status          int
	requestID       string
	clientRequestID string
}

func (k *call) observe(resp *http.Response) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.status = resp.StatusCode
	k.requestID = resp.Header.Get("request-id")
	k.clientRequestID = resp.Header.Get("client-request-id")
	if k.clientRequestID == "" && resp.Request != nil {
		k.clientRequestID = resp.Request.Header.Get("client-request-id")
	}
}

type callKey struct{}

func withCall(ctx context.Context, op, tenant string) (context.Context, *call) {
	k := &call{op: op, tenant: tenant}
	return context.WithValue(ctx, callKey{}, k), k
}

func callFrom(ctx context.Context) *call {
	k, _ := ctx.Value(callKey{}).(*call)
	return k
}

// tokenProvider is the kiota AccessTokenProvider: tokens from the
// TokenSource, for the tenant of the call, only for the Graph host.
type tokenProvider struct {
	tokens  seatsync.TokenSource
	scope   string
	scheme  string
	host    string // host[:port] of the Graph URL
	allowed *authentication.AllowedHostsValidator
}

// tokenError carries a TokenSource error through kiota, which returns it as
// is, so that the Client can hand the very same error to its caller.
type tokenError struct{ err error }

func (e *tokenError) Error() string { return e.err.Error() }
func (e *tokenError) Unwrap() error { return e.err }

// GetAuthorizationToken implements authentication.AccessTokenProvider.
func (p *tokenProvider) GetAuthorizationToken(ctx context.Context, u *url.URL, _ map[string]any) (string, error) {
	// kiota's convention is to return no token (and no error) for a host
	// that is not allowed, which sends an anonymous request; an error
	// says what is wrong instead.
	if u == nil || !p.allowed.IsUrlHostValid(u) || !strings.EqualFold(u.Scheme, p.scheme) || !strings.EqualFold(u.Host, p.host) {
		host := ""
		if u != nil {
			host = u.Scheme + "://" + u.Host
		}
		return "", fmt.Errorf("graph: refusing to send a token to %s, which is not the configured Graph host", clean(host, "", 100))
	}
	k := callFrom(ctx)
	if k == nil {
		return "", errors.New("graph: request without a tenant")
	}
	tok, err := p.tokens.AccessToken(ctx, k.tenant, p.scope)
	if err != nil {
		return "", &tokenError{err: err}
	}
	if tok.IsZero() {
		return "", errors.New("graph: the token source gave an empty token")
	}
	return tok.Reveal(), nil
}

// GetAllowedHostsValidator implements authentication.AccessTokenProvider.
func (p *tokenProvider) GetAllowedHostsValidator() *authentication.AllowedHostsValidator {
	return p.allowed
}

// fail turns what a kiota call (or a plain request) returned into the error
// a Client method returns: the token source's error unchanged, the *Error
// the transport built, the context's error, or else an *Error for a
// response kiota could not read.
func (c *Client) fail(ctx context.Context, k *call, err error) error {
	if te, ok := errors.AsType[*tokenError](err); ok {
		return te.err
	}
	if ge, ok := errors.AsType[*Error](err); ok {
		return ge
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("graph: %s: %w", k.op, ctxErr)
	}
	k.mu.Lock()
	status, requestID, clientRequestID := k.status, k.requestID, k.clientRequestID
	k.mu.Unlock()
	if status == 0 {
		// Nothing came back and no *Error was made: a failure before the
		// request was sent (a URL that cannot be built, say).
		return fmt.Errorf("graph: %s: %w", k.op, err)
	}
	e := unusable(status, k.tenant, "the response is not in the documented shape", err)
	e.RequestID, e.ClientRequestID = clean(requestID, "", 100), clean(clientRequestID, "", 100)
	return e
}

// nextLink checks a page's @odata.nextLink: "" ends the walk; a link to
// another scheme or host is refused, since the request carries the token.
func (c *Client) nextLink(k *call, next *string) (string, error) {
	if next == nil || strings.TrimSpace(*next) == "" {
		return "", nil
	}
	u, err := url.Parse(strings.TrimSpace(*next))
	if err != nil || !u.IsAbs() {
		return "", unusable(http.StatusOK, k.tenant, "the @odata.nextLink is not an absolute URL", nil)
	}
	if u.User != nil || !strings.EqualFold(u.Scheme, c.base.Scheme) || !strings.EqualFold(u.Host, c.base.Host) {
		return "", unusable(http.StatusOK, k.tenant,
			fmt.Sprintf("the @odata.nextLink points to another server (%s)", clean(u.Scheme+"://"+u.Host, "", 100)), nil)
	}
	u.Fragment, u.RawFragment = "", ""
	return u.String(), nil
}

// walk runs get for the first page and each next link, up to the page
// bound; each page's items go to each, and its next link comes back.
func walk(ctx context.Context, c *Client, k *call, get func(next string) (nextLink *string, err error)) (int, error) {
	next := ""
	seen := make(map[string]bool)
	for page := 1; ; page++ {
		if page > c.maxPages {
			return page - 1, unusable(http.StatusOK, k.tenant,
				fmt.Sprintf("Graph kept sending next pages; stopped after %d", c.maxPages), nil)
		}
		link, err := get(next)
		if err != nil {
			return page, c.fail(ctx, k, err)
		}
		next, err = c.nextLink(k, link)
		if err != nil {
			return page, err
		}
		if next == "" {
			return page, nil
		}
		if seen[next] {
			return page, unusable(http.StatusOK, k.tenant,
				fmt.Sprintf("Graph repeated a next link after page %d", page), nil)
		}
		seen[next] = true
	}
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

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// tenantArg checks a customer tenant id, which selects the token's
// authority: anything but a GUID is refused before any request.
func tenantArg(op, tenantID string) (string, error) {
	if !seatsync.IsGUID(tenantID) {
		return "", &seatsync.Error{Code: seatsync.EInvalid,
			Message: fmt.Sprintf("graph: %s: %q is not a tenant id (a GUID)", op, clean(tenantID, "", 64))}
	}
	return strings.ToLower(tenantID), nil
}

package mscloudsim

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults of Options. The client secret is a fixed, public value: the
// simulator is a local test double, not a security boundary.
const (
	DefaultPartnerTenantID       = "7c2a9d5e-3b1f-4e8a-a6d4-0f5b2c8e1a93"
	DefaultClientID              = "b5e1c7a2-9d34-4f6e-8a1b-3c2d5e7f9a10"
	DefaultClientSecret          = "mscloudsim~dev-secret.not-for-production"
	DefaultTenants               = 25
	DefaultGraphPageSize         = 100
	DefaultPartnerCenterPageSize = 100
	DefaultBudgetWindow          = 10 * time.Second
)

// AppName is the app registration's display name on the consent page.
const AppName = "seatsync (mscloudsim app registration)"

// Resource identifiers of the two APIs tokens are issued for.
const (
	ResourceGraph         = "https://graph.microsoft.com"
	ResourcePartnerCenter = "https://api.partnercenter.microsoft.com"
)

// CatalogPath is the path of the product-names CSV on the catalog listener.
const CatalogPath = "/product-names.csv"

// Options configure a Sim. The zero value is a 25-tenant estate from seed 0
// with the default app registration, no latency and no budgets.
type Options struct {
	// Seed and Tenants determine the estate; Tenants 0 means
	// DefaultTenants.
	Seed    int64
	Tenants int
	// The app registration the simulator accepts, and the partner's tenant.
	// Empty means DefaultPartnerTenantID, DefaultClientID,
	// DefaultClientSecret.
	PartnerTenantID, ClientID, ClientSecret string
	// Latency is added to every request.
	Latency time.Duration
	// GraphPageSize is the most items on one Graph page (default 100; a
	// smaller $top wins); PartnerCenterPageSize the most customers on one
	// Partner Center page (default 100; a smaller size wins).
	GraphPageSize         int
	PartnerCenterPageSize int
	// Budgets throttle Graph and Partner Center.
	Budgets Budgets
	// Now is the clock (token lifetimes, codes, budgets, error timestamps);
	// nil means time.Now. When set, estate dates count from its day instead
	// of BaseDate.
	Now func() time.Time
}

// Budgets are fixed-window request budgets, applied to Graph and to Partner
// Center separately. A request past a budget is answered 429 with a
// Retry-After of the time left in the window (fractional seconds, such as
// "0.25"); throttled requests do not use up budget.
type Budgets struct {
	// Window is the budget window; 0 means DefaultBudgetWindow.
	Window time.Duration
	// PerApp is how many requests the app may make per window to one
	// service, across tenants; 0 means no limit.
	PerApp int
	// PerTenant is how many requests the app may make per window to one
	// service for one tenant; 0 means no limit.
	PerTenant int
}

// FaultKind is what an injected fault does.
type FaultKind int

// Fault kinds.
const (
	// FaultUnavailable answers 503 in the service's error shape, with
	// Fault.RetryAfter if set.
	FaultUnavailable FaultKind = iota + 1
	// FaultHang answers nothing until the client gives up (or the Sim is
	// closed), then drops the connection: the handler panics with
	// http.ErrAbortHandler, which an http.Server absorbs (a test calling a
	// handler directly must recover it).
	FaultHang
	// FaultMalformed answers 200 with a body that is not the documented
	// shape (cut-off JSON, a number that is not one, an HTML page for the
	// CSV).
	FaultMalformed
	// FaultThrottle answers 429 in the service's throttling shape with
	// Fault.RetryAfter (default "1").
	FaultThrottle
)

// Fault is a failure for the next calls of an endpoint.
type Fault struct {
	// Endpoint is a Calls key without the tenant ("graph GET
	// /v1.0/subscribedSkus"), or a service name alone ("login", "graph",
	// "partnercenter", "catalog") for every endpoint of the service.
	Endpoint string
	// Tenant, if set, limits the fault to calls for that tenant.
	Tenant string
	Kind   FaultKind
	// Count is how many calls fail; 0 means 1.
	Count int
	// RetryAfter is the Retry-After header value, in seconds.
	RetryAfter string
}

// URLs are where Start serves the four services. Login is scheme and host
// only, as the identity client wants it; CatalogCSV is the CSV's full URL.
type URLs struct {
	Login         string `json:"login"`
	Graph         string `json:"graph"`
	PartnerCenter string `json:"partnerCenter"`
	CatalogCSV    string `json:"catalogCsv"`
}

// Sim is a running simulator. Its methods are safe for concurrent use.
type Sim struct {
	opts Options
	now  func() time.Time
	key  []byte // derived from the seed: tokens, codes and ids

	csv       []byte
	csvETag   string
	csvModify time.Time

	mu      sync.Mutex
	estate  Estate
	index   map[string]int // lowercase tenant id and domains → estate.Tenants index
	calls   map[string]int
	seq     uint64
	issued  uint64 // access tokens issued, to prune now and then
	pending map[string]*pendingAuth
	codes   map[string]*authCode
	refresh map[string]*refreshGrant
	access  map[string]*accessGrant
	windows map[string]*window
	faults  []*Fault
	// graphHost is the host:port of the Graph listener StartOn opened: a
	// scope naming it ("http://127.0.0.1:port/.default", what a client
	// configured with that Graph URL asks for) is a Graph scope.
	graphHost string

	done      chan struct{}
	closeOnce sync.Once
	servers   []*http.Server
}

// New returns a simulator of the estate opts describe. It serves nothing
// until Start, or until its handlers are mounted.
func New(opts Options) *Sim {
	if opts.Tenants <= 0 {
		opts.Tenants = DefaultTenants
	}
	if opts.PartnerTenantID == "" {
		opts.PartnerTenantID = DefaultPartnerTenantID
	}
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = DefaultClientSecret
	}
	opts.PartnerTenantID = strings.ToLower(opts.PartnerTenantID)
	opts.ClientID = strings.ToLower(opts.ClientID)
	if opts.GraphPageSize <= 0 {
		opts.GraphPageSize = DefaultGraphPageSize
	}
	if opts.PartnerCenterPageSize <= 0 {
		opts.PartnerCenterPageSize = DefaultPartnerCenterPageSize
	}
	if opts.Budgets.Window <= 0 {
		opts.Budgets.Window = DefaultBudgetWindow
	}
	s := &Sim{
		opts:    opts,
		now:     opts.Now,
		calls:   map[string]int{},
		pending: map[string]*pendingAuth{},
		codes:   map[string]*authCode{},
		refresh: map[string]*refreshGrant{},
		access:  map[string]*accessGrant{},
		windows: map[string]*window{},
		done:    make(chan struct{}),
	}
	base := BaseDate
	if s.now == nil {
		s.now = time.Now
	} else {
		n := s.now().UTC()
		base = time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, time.UTC)
	}
	key := sha256.Sum256([]byte("mscloudsim/key/" + strconv.FormatInt(opts.Seed, 10)))
	s.key = key[:]
	partner := Partner{
		TenantID:      opts.PartnerTenantID,
		DisplayName:   "Cronus IT Partners",
		DefaultDomain: "cronusitpartners.onmicrosoft.com",
		ClientID:      opts.ClientID,
		AppName:       AppName,
		User: User{
			ObjectID:          nameGUID("partner-admin", opts.PartnerTenantID),
			UserPrincipalName: "admin.agent@cronusitpartners.onmicrosoft.com",
			DisplayName:       "Avery Admin",
		},
	}
	s.estate = generate(opts.Seed, opts.Tenants, base, partner)
	s.reindex()
	s.csv, s.csvETag = buildCatalog()
	s.csvModify = base.AddDate(0, 0, -20).Add(9*time.Hour + 30*time.Minute)
	return s
}

func (s *Sim) reindex() {
	s.index = map[string]int{}
	for i, t := range s.estate.Tenants {
		s.index[t.TenantID] = i
		s.index[t.InitialDomain] = i
		s.index[strings.ToLower(t.DefaultDomain)] = i
	}
}

// Estate returns a copy of the truth.
func (s *Sim) Estate() Estate {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.estate.clone()
}

// Calls returns the request counters: one per "service METHOD
// path-template" and one per that key followed by " tenant=" and the tenant
// id, for requests that name or carry a known tenant.
func (s *Sim) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.calls))
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

// ResetCalls sets every counter back to zero.
func (s *Sim) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.calls)
}

// Inject queues f; faults are taken in the order they were injected. It
// panics for a fault that could never happen (an endpoint of no service, an
// unknown kind): a mistake in a test.
func (s *Sim) Inject(f Fault) {
	service, _, _ := strings.Cut(f.Endpoint, " ")
	switch service {
	case "login", "graph", "partnercenter", "catalog":
	default:
		panic(fmt.Sprintf("mscloudsim: Inject: endpoint %q names no service (login, graph, partnercenter, catalog)", f.Endpoint))
	}
	if f.Kind < FaultUnavailable || f.Kind > FaultThrottle {
		panic(fmt.Sprintf("mscloudsim: Inject: unknown fault kind %d", f.Kind))
	}
	if f.Count <= 0 {
		f.Count = 1
	}
	f.Tenant = strings.ToLower(f.Tenant)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// SetQuantity changes the truth: the enabled units of SKU skuID in tenant
// tenantID become enabled. The difference goes to the SKU's first enabled
// subscription (a reduction spills over to the next ones); a tenant without
// an enabled subscription of the SKU buys a new monthly one. Consumed units
// are left as they are. It panics for an unknown tenant or a SKU the
// simulator does not sell: both are mistakes in a test.
func (s *Sim) SetQuantity(tenantID, skuID string, enabled int) {
	p, ok := product(skuID)
	if !ok {
		panic(fmt.Sprintf("mscloudsim: SetQuantity: the simulator does not sell SKU %q", skuID))
	}
	if enabled < 0 {
		panic("mscloudsim: SetQuantity: negative quantity")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.index[strings.ToLower(tenantID)]
	if !ok {
		panic(fmt.Sprintf("mscloudsim: SetQuantity: no tenant %q", tenantID))
	}
	t := &s.estate.Tenants[i]
	current := 0
	var subs []int
	for j, sub := range t.Subscriptions {
		if sub.InGraph && sub.SkuID == p.SkuID && sub.Status == "Enabled" {
			current += sub.Quantity
			subs = append(subs, j)
		}
	}
	delta := enabled - current
	switch {
	case delta == 0:
		return
	case len(subs) == 0:
		s.seq++
		g := &gen{base: s.estate.BaseDate, partner: s.estate.Partner.TenantID, other: nameGUID("other-partner", strconv.FormatInt(s.opts.Seed, 10)),
			r: seededRand(s.key, "set-quantity", s.seq)}
		g.sub(t, p.SkuID, enabled, subOpts{term: "P1M", billing: "monthly", ageDays: 1})
	case delta > 0:
		t.Subscriptions[subs[0]].Quantity += delta
	default:
		left := -delta
		for _, j := range subs {
			take := min(left, t.Subscriptions[j].Quantity)
			t.Subscriptions[j].Quantity -= take
			left -= take
		}
	}
	t.recomputeSKUs(nil)
}

// Start serves the four services on loopback listeners on free ports.
func (s *Sim) Start() (URLs, error) { return s.StartOn("127.0.0.1", 0) }

// StartOn serves the four services on host: login on basePort, Graph on
// basePort+1, Partner Center on basePort+2 and the catalog on basePort+3;
// basePort 0 picks free ports.
func (s *Sim) StartOn(host string, basePort int) (URLs, error) {
	handlers := []http.Handler{s.LoginHandler(), s.GraphHandler(), s.PartnerCenterHandler(), s.CatalogHandler()}
	var urls [4]string
	var listeners []net.Listener
	for i := range handlers {
		port := 0
		if basePort > 0 {
			port = basePort + i
		}
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			for _, l := range listeners {
				_ = l.Close()
			}
			return URLs{}, fmt.Errorf("mscloudsim: listen: %w", err)
		}
		listeners = append(listeners, l)
		urls[i] = "http://" + l.Addr().String()
	}
	s.mu.Lock()
	s.graphHost = strings.ToLower(listeners[1].Addr().String())
	for i, l := range listeners {
		srv := &http.Server{Handler: handlers[i], ReadHeaderTimeout: 10 * time.Second}
		s.servers = append(s.servers, srv)
		go func() { _ = srv.Serve(l) }()
	}
	s.mu.Unlock()
	return URLs{Login: urls[0], Graph: urls[1], PartnerCenter: urls[2], CatalogCSV: urls[3] + CatalogPath}, nil
}

// Close stops the listeners Start opened and releases hanging requests.
func (s *Sim) Close() {
	s.closeOnce.Do(func() { close(s.done) })
	s.mu.Lock()
	servers := s.servers
	s.servers = nil
	s.mu.Unlock()
	for _, srv := range servers {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
		}
		cancel()
	}
}

// Request plumbing shared by the four services.

// route is what a service makes of a request.
type route struct {
	template string // "GET /v1.0/subscribedSkus"
	tenant   string // for counters and faults; "" when none is known
	body     bodyKind
	serve    http.HandlerFunc
}

type bodyKind int

const (
	bodyJSON bodyKind = iota
	bodyText
	bodyCSV
	bodyHTML
)

// handler counts, delays and applies faults before serving.
func (s *Sim) handler(service string, resolve func(*http.Request) route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt := resolve(r)
		key := service + " " + rt.template
		s.count(key, rt.tenant)
		if !s.pause(r.Context(), s.opts.Latency) {
			return
		}
		if f, ok := s.takeFault(service, key, rt.tenant); ok {
			s.fault(w, r, service, rt, f)
			return
		}
		rt.serve(w, r)
	})
}

func (s *Sim) count(key, tenant string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[key]++
	if tenant != "" {
		s.calls[key+" tenant="+tenant]++
	}
}

// pause waits d, or until the client leaves or the Sim closes (false).
func (s *Sim) pause(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.done:
		return false
	}
}

func (s *Sim) takeFault(service, key, tenant string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Endpoint != key && f.Endpoint != service {
			continue
		}
		if f.Tenant != "" && f.Tenant != tenant {
			continue
		}
		f.Count--
		if f.Count <= 0 {
			s.faults = slices.Delete(s.faults, i, i+1)
		}
		return *f, true
	}
	return Fault{}, false
}

func (s *Sim) fault(w http.ResponseWriter, r *http.Request, service string, rt route, f Fault) {
	switch f.Kind {
	case FaultHang:
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		// Drop the connection rather than answer.
		panic(http.ErrAbortHandler)
	case FaultMalformed:
		switch rt.body {
		case bodyText:
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte("about forty"))
		case bodyCSV:
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte("<!doctype html><html><body><p>Sign in to download this file.</p></body></html>"))
		case bodyHTML:
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte("<html><body><div"))
		default:
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(`{"value":[{"id":"0b1`))
		}
	case FaultThrottle:
		ra := f.RetryAfter
		if ra == "" {
			ra = "1"
		}
		s.throttled(w, r, service, ra)
	default:
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		s.unavailable(w, r, service)
	}
}

// throttled writes service's 429.
func (s *Sim) throttled(w http.ResponseWriter, r *http.Request, service, retryAfter string) {
	w.Header().Set("Retry-After", retryAfter)
	switch service {
	case "graph":
		w.Header().Set("x-ms-throttle-information", "ResourceUnitLimitExceeded")
		s.graphError(w, r, http.StatusTooManyRequests, "TooManyRequests",
			"The app has made too many requests; wait the number of seconds in Retry-After (simulated budget).")
	case "partnercenter":
		writeJSON(w, http.StatusTooManyRequests, pcThrottle{StatusCode: http.StatusTooManyRequests,
			Message: "Rate limit exceeded (simulated budget). Try again in " + retryAfter + " seconds."})
	case "login":
		s.loginError(w, r, http.StatusTooManyRequests, aadFailure{err: "temporarily_unavailable", code: 90033,
			text: "The sign-in service is throttling this client (simulated); try again later."})
	default:
		http.Error(w, "Too many requests (simulated)", http.StatusTooManyRequests)
	}
}

// unavailable writes service's 503.
func (s *Sim) unavailable(w http.ResponseWriter, r *http.Request, service string) {
	switch service {
	case "graph":
		s.graphError(w, r, http.StatusServiceUnavailable, "serviceNotAvailable",
			"The service is temporarily unavailable (simulated fault); try again later.")
	case "partnercenter":
		writeJSON(w, http.StatusServiceUnavailable, pcError{Code: http.StatusServiceUnavailable,
			Description: "The service is temporarily unavailable (simulated fault).", Data: []string{}, Source: "mscloudsim"})
	case "login":
		s.loginError(w, r, http.StatusServiceUnavailable, aadFailure{err: "temporarily_unavailable", code: 90033,
			text: "A transient error occurred (simulated fault); try again."})
	default:
		http.Error(w, "Service unavailable (simulated fault)", http.StatusServiceUnavailable)
	}
}

// Budgets.

type window struct {
	start time.Time
	n     int
}

// takeBudget spends one request of the app's budgets for service and tenant,
// or says how long to wait.
func (s *Sim) takeBudget(service, app, tenant string) (time.Duration, bool) {
	b := s.opts.Budgets
	if b.PerApp <= 0 && b.PerTenant <= 0 {
		return 0, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	get := func(key string) *window {
		w := s.windows[key]
		if w == nil || !now.Before(w.start.Add(b.Window)) {
			w = &window{start: now}
			s.windows[key] = w
		}
		return w
	}
	var wait time.Duration
	appW := get(service + "|" + app)
	if b.PerApp > 0 && appW.n >= b.PerApp {
		wait = max(wait, appW.start.Add(b.Window).Sub(now))
	}
	tenW := get(service + "|" + app + "|" + tenant)
	if b.PerTenant > 0 && tenW.n >= b.PerTenant {
		wait = max(wait, tenW.start.Add(b.Window).Sub(now))
	}
	if wait > 0 {
		return wait, false
	}
	appW.n++
	tenW.n++
	return 0, true
}

// retryAfter formats d as Retry-After seconds, rounded up to the
// millisecond: "3", "0.25", "2.128".
func retryAfter(d time.Duration) string {
	ms := max(int64((d+time.Millisecond-1)/time.Millisecond), 1)
	return strconv.FormatFloat(float64(ms)/1000, 'f', -1, 64)
}

// Deterministic secrets and ids.

// secret returns the next opaque value of kind: deterministic for a seed and
// a sequence of requests, never repeated within a Sim.
func (s *Sim) secret(prefix string) string {
	s.mu.Lock()
	s.seq++
	n := s.seq
	s.mu.Unlock()
	m := hmac.New(sha256.New, s.key)
	fmt.Fprintf(m, "%s/%d", prefix, n)
	return prefix + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// guid returns the next deterministic GUID (request and trace ids).
func (s *Sim) guid() string {
	s.mu.Lock()
	s.seq++
	n := s.seq
	s.mu.Unlock()
	m := hmac.New(sha256.New, s.key)
	fmt.Fprintf(m, "guid/%d", n)
	return formatGUID(m.Sum(nil))
}

// mac authenticates a paging token's content.
func (s *Sim) mac(parts ...string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(strings.Join(parts, "\x00")))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:12])
}

// tenantIndex finds a customer tenant by id or domain.
func (s *Sim) tenantIndex(idOrDomain string) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.index[strings.ToLower(idOrDomain)]
	return i, ok
}

// tenantsWith returns the customer tenants with relationship rel, in
// estate order: shallow copies, for their ids and names only (a list page
// need not copy every tenant's subscriptions).
func (s *Sim) tenantsWith(rel string) []Tenant {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Tenant
	for _, t := range s.estate.Tenants {
		if t.Has(rel) {
			out = append(out, t)
		}
	}
	return out
}

// tenantAt returns a copy of the customer tenant at i.
func (s *Sim) tenantAt(i int) Tenant {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.estate.Tenants[i].clone()
}

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

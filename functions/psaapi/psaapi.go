// Package psaapi is the psaapi function: the HTTP API that PSA tools
// (ConnectWise Manage, Autotask, HaloPSA…) read licence data from, under
// /api/v1. It is a plain http.Handler: in Azure the Functions host checks the
// function key and proxies the request; standalone, seatsync serve checks it.
package psaapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/seatsync/seatsync/shared/httpapi"
	"github.com/seatsync/seatsync/shared/seatsync"
)

// Store is what the API reads.
type Store interface {
	Connection(ctx context.Context) (seatsync.Connection, error)
	Tenants(ctx context.Context, top int, continuation string) ([]seatsync.Tenant, string, error)
}

// Licences is what the licence routes read: the rows tenantsync writes.
type Licences interface {
	// Tenant returns one tenant; a *seatsync.Error ENotFound if there is
	// none with that id.
	Tenant(ctx context.Context, tenantID string) (seatsync.Tenant, error)
	// Licenses returns the tenant's current licence rows.
	Licenses(ctx context.Context, tenantID string) ([]seatsync.License, error)
	// LicensesAt returns the tenant's licence rows as they were on day
	// (midnight UTC of a day that is not in the future).
	LicensesAt(ctx context.Context, tenantID string, day time.Time) ([]seatsync.License, error)
	// AllLicenses returns the current licence rows of every tenant, with
	// TenantID and TenantName set; tenantID and skuID ("" for any) filter.
	AllLicenses(ctx context.Context, tenantID, skuID string) ([]seatsync.License, error)
	// Subscriptions returns the tenant's subscriptions.
	Subscriptions(ctx context.Context, tenantID string) ([]seatsync.Subscription, error)
	// Counts returns the tenant's user counts; false if it was never synced.
	Counts(ctx context.Context, tenantID string) (seatsync.UserCounts, bool, error)
	// Changes returns the quantity changes detected in [since, until).
	Changes(ctx context.Context, since, until time.Time) ([]seatsync.Change, error)
}

// Runs is what the run routes read.
type Runs interface {
	// Progress returns the run with its progress; a *seatsync.Error
	// ENotFound if there is no such run.
	Progress(ctx context.Context, runID string) (seatsync.Run, error)
	// LatestID returns the id of the run that started last; a
	// *seatsync.Error ENotFound when no run has started.
	LatestID(ctx context.Context) (string, error)
}

// Paging limits of list routes.
const (
	DefaultTop = 100
	MaxTop     = 1000
)

// Prefix is the path every route of the API is under.
const Prefix = "/api/v1/"

// API serves the PSA API.
type API struct {
	store    Store
	licences Licences
	runs     Runs
	starter  seatsync.RunStarter
	now      func() time.Time
	log      *slog.Logger
	// publicURL, if set, is the base of nextLink URLs (behind a proxy the
	// request's own host is not the one the PSA tool called).
	publicURL string
	mux       *http.ServeMux
}

// Options configure the API. Pass nil for defaults.
type Options struct {
	// PublicURL is the app's external base URL (SEATSYNC_PUBLIC_URL).
	PublicURL string
	// Licences serves the tenant, licence, subscription, count and change
	// routes; nil answers them 503 not_configured.
	Licences Licences
	// Runs serves GET /sync/runs/…; nil answers them 503 not_configured.
	Runs Runs
	// Starter serves POST /sync; nil answers it 503 not_configured.
	Starter seatsync.RunStarter
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

// New returns the API.
func New(store Store, log *slog.Logger, opts *Options) *API {
	a := &API{store: store, log: log, mux: http.NewServeMux(), now: time.Now}
	if opts != nil {
		a.publicURL = strings.TrimRight(opts.PublicURL, "/")
		a.licences, a.runs, a.starter = opts.Licences, opts.Runs, opts.Starter
		if opts.Now != nil {
			a.now = opts.Now
		}
	}
	a.mux.HandleFunc("GET /api/v1/connection", a.connection)
	a.mux.HandleFunc("GET /api/v1/tenants", a.tenants)
	a.mux.HandleFunc("GET /api/v1/tenants/{tenantId}", a.needLicences(a.tenant))
	a.mux.HandleFunc("GET /api/v1/tenants/{tenantId}/licenses", a.needLicences(a.tenantLicenses))
	a.mux.HandleFunc("GET /api/v1/tenants/{tenantId}/subscriptions", a.needLicences(a.subscriptions))
	a.mux.HandleFunc("GET /api/v1/tenants/{tenantId}/counts", a.needLicences(a.counts))
	a.mux.HandleFunc("GET /api/v1/licenses", a.needLicences(a.allLicenses))
	a.mux.HandleFunc("GET /api/v1/changes", a.needLicences(a.changes))
	a.mux.HandleFunc("POST /api/v1/sync", a.needStarter(a.sync))
	a.mux.HandleFunc("GET /api/v1/sync/runs/latest", a.needRuns(a.latestRun))
	a.mux.HandleFunc("GET /api/v1/sync/runs/{runId}", a.needRuns(a.run))
	a.mux.HandleFunc("GET /api/v1/openapi.json", a.openAPI)
	// Everything else under the prefix: 405 where the path exists with
	// another method, else 404, both in the contract's error format.
	a.mux.HandleFunc(Prefix, a.notFound)
	return a
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

func (a *API) notFound(w http.ResponseWriter, r *http.Request) {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := a.mux.Handler(probe); pattern != Prefix && pattern != "" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		httpapi.WriteError(w, r, a.log, seatsync.Errorf(seatsync.EMethod, "%s is not allowed on %s; use %s.", r.Method, r.URL.Path, strings.Join(allowed, " or ")))
		return
	}
	httpapi.WriteError(w, r, a.log, seatsync.Errorf(seatsync.ENotFound, "There is no API route %s.", r.URL.Path))
}

func (a *API) connection(w http.ResponseWriter, r *http.Request) {
	c, err := a.store.Connection(r.Context())
	if err != nil {
		httpapi.WriteError(w, r, a.log, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, c)
}

// list is the contract's list shape.
type list[T any] struct {
	Value    []T    `json:"value"`
	NextLink string `json:"nextLink,omitempty"`
}

func (a *API) tenants(w http.ResponseWriter, r *http.Request) {
	top, cont, err := paging(r.URL.Query())
	if err != nil {
		httpapi.WriteError(w, r, a.log, err)
		return
	}
	ts, next, err := a.store.Tenants(r.Context(), top, cont)
	if err != nil {
		httpapi.WriteError(w, r, a.log, err)
		return
	}
	if ts == nil {
		ts = []seatsync.Tenant{} // the contract's empty list is [], never null
	}
	for i := range ts {
		ts[i] = normalTenant(ts[i])
	}
	httpapi.WriteJSON(w, http.StatusOK, list[seatsync.Tenant]{Value: ts, NextLink: a.nextLink(r, top, next)})
}

// paging reads $top/top and $skiptoken from the query.
func paging(q url.Values) (int, string, error) {
	top := DefaultTop
	if s := firstOf(q, "top", "$top"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxTop {
			return 0, "", seatsync.Errorf(seatsync.EInvalid, "top must be a whole number from 1 to %d.", MaxTop)
		}
		top = n
	}
	tok := firstOf(q, "$skiptoken", "skiptoken")
	if len(tok) > 4096 {
		return 0, "", seatsync.Errorf(seatsync.EInvalid, "The $skiptoken is not valid; start again from the first page.")
	}
	return top, tok, nil
}

func firstOf(q url.Values, names ...string) string {
	for _, n := range names {
		if v := q.Get(n); v != "" {
			return v
		}
	}
	return ""
}

// nextLink is the absolute URL of the next page. It never carries the
// function key: the PSA tool sends that again in its header.
func (a *API) nextLink(r *http.Request, top int, next string) string {
	if next == "" {
		return ""
	}
	base := a.publicURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	q := url.Values{}
	q.Set("top", strconv.Itoa(top))
	q.Set("$skiptoken", next)
	return base + r.URL.Path + "?" + q.Encode()
}

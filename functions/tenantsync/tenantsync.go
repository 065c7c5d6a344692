// Package tenantsync is the tenantsync function: triggered by one Service
// Bus message per customer tenant, it syncs that tenant's licences into
// Table Storage. Service Bus delivers at least once, so it is idempotent.
//
// One delivery reads the run (for its start time, which keys the change
// log) and the tenant's result in it: a tenant that already has a result
// in the run was synced by an earlier delivery, and the message is completed
// without calling Microsoft again. Otherwise it reads, with a token for the
// customer tenant, Graph's subscribedSkus first (which also shows whether
// the partner can read the tenant at all), then directory/subscriptions and
// the two user counts, and for a tenant with a Direct CSP relationship
// Partner Center's subscriptions, at the same time; joins the subscriptions
// on the commerce subscription id; names the products from the catalog; and
// writes the rows (tables.Licences.WriteTenantSync), the tenant row and its
// result in the run, in that order.
//
// Errors. A failure that waiting may cure (throttling beyond the clients'
// retry budget, Microsoft unavailable, a timeout, storage) fails the
// invocation, so that Service Bus delivers the message again; nothing is
// recorded. On the last delivery (Options.MaxDeliveries, the queue's
// maxDeliveryCount) it is recorded as the tenant's failure instead, so that
// the run still finishes. A failure that only someone can cure (no GDAP
// access or roles, no consent in the tenant, the tenant deleted, a dead
// token) is recorded at once, on the tenant row (status error, lastError)
// and as its result in the run, in words an MSP can act on, and the
// message is completed.
package tenantsync

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/seatsync/seatsync/shared/catalog"
	"github.com/seatsync/seatsync/shared/funchost"
	"github.com/seatsync/seatsync/shared/graph"
	"github.com/seatsync/seatsync/shared/identity"
	"github.com/seatsync/seatsync/shared/logctx"
	"github.com/seatsync/seatsync/shared/partnercenter"
	"github.com/seatsync/seatsync/shared/seatsync"
	"github.com/seatsync/seatsync/shared/tables"
)

// GraphReader is what a tenant's sync reads from Microsoft Graph, with a
// token for the customer tenant. *graph.Client implements it.
type GraphReader interface {
	SubscribedSkus(ctx context.Context, tenantID string) ([]graph.SubscribedSku, error)
	DirectorySubscriptions(ctx context.Context, tenantID string) ([]graph.CompanySubscription, error)
	UserCounts(ctx context.Context, tenantID string) (graph.UserCounts, error)
}

// SubscriptionLister is what a tenant's sync reads from Partner Center: the
// customer's subscriptions with their terms. *partnercenter.Client
// implements it.
type SubscriptionLister interface {
	Subscriptions(ctx context.Context, customerTenantID string) ([]partnercenter.Subscription, error)
}

// CatalogSource provides the product-names catalog. *catalog.Source
// implements it.
type CatalogSource interface {
	Catalog(ctx context.Context) (*catalog.Catalog, error)
}

var (
	_ GraphReader        = (*graph.Client)(nil)
	_ SubscriptionLister = (*partnercenter.Client)(nil)
	_ CatalogSource      = (*catalog.Source)(nil)
)

// DefaultMaxDeliveries is Options.MaxDeliveries by default: Service Bus's
// maxDeliveryCount in infra/main.bicep and the standalone queue's.
const DefaultMaxDeliveries = 10

// Options configure a Handler.
type Options struct {
	// Graph reads the customer tenant (required).
	Graph GraphReader
	// PartnerCenter reads the subscriptions' terms of tenants with a
	// Direct CSP relationship; nil reads Graph only.
	PartnerCenter SubscriptionLister
	// Catalog names the products; nil (or a catalog that cannot be had)
	// leaves the SKU part numbers as names.
	Catalog CatalogSource
	// Licences keeps the rows and the tenant rows, Runs the runs (both
	// required).
	Licences *tables.Licences
	Runs     *tables.Runs
	// Log receives a record per tenant synced or failed; nil discards.
	Log *slog.Logger
	// Now is the clock; nil for time.Now.
	Now func() time.Time
	// MaxDeliveries is the queue's delivery limit: on that delivery a
	// failure that would be retried is recorded instead. 0 means
	// DefaultMaxDeliveries.
	MaxDeliveries int
}

// Handler handles tenantsync invocations. It is safe for concurrent use.
type Handler struct {
	log           *slog.Logger
	graph         GraphReader
	pc            SubscriptionLister
	catalog       CatalogSource
	licences      *tables.Licences
	runs          *tables.Runs
	now           func() time.Time
	maxDeliveries int
}

// New returns a handler that is not connected to Microsoft or storage: it
// validates messages and fails every valid one as not configured. NewHandler
// returns the working one.
func New(log *slog.Logger) *Handler { return &Handler{log: log} }

// NewHandler returns the handler that syncs tenants.
func NewHandler(opts Options) (*Handler, error) {
	switch {
	case opts.Graph == nil:
		return nil, errors.New("tenantsync: no Graph client")
	case opts.Licences == nil:
		return nil, errors.New("tenantsync: no licence store")
	case opts.Runs == nil:
		return nil, errors.New("tenantsync: no run store")
	case opts.MaxDeliveries < 0:
		return nil, fmt.Errorf("tenantsync: MaxDeliveries %d is negative", opts.MaxDeliveries)
	}
	h := &Handler{log: opts.Log, graph: opts.Graph, pc: opts.PartnerCenter, catalog: opts.Catalog, licences: opts.Licences,
		runs: opts.Runs, now: opts.Now, maxDeliveries: opts.MaxDeliveries}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.maxDeliveries == 0 {
		h.maxDeliveries = DefaultMaxDeliveries
	}
	return h, nil
}

// Decode validates a queue message body: JSON with a runId and a tenantId,
// both GUIDs. Unknown fields are allowed (later versions may add some).
func Decode(body []byte) (seatsync.TenantSyncMessage, error) {
	var m seatsync.TenantSyncMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&m); err != nil || dec.More() {
		return m, seatsync.Errorf(seatsync.EInvalid, "The message body is not a JSON object with runId and tenantId.")
	}
	if !seatsync.IsGUID(m.RunID) {
		return m, seatsync.Errorf(seatsync.EInvalid, "The message's runId is missing or not a GUID.")
	}
	if !seatsync.IsGUID(m.TenantID) {
		return m, seatsync.Errorf(seatsync.EInvalid, "The message's tenantId is missing or not a GUID.")
	}
	return m, nil
}

// Handle syncs the tenant named in the message. It returns an error (so
// that the message is delivered again) only for a malformed message, one
// that names no tenant of a run (both end in the dead-letter queue), and
// a failure that may pass before the last delivery; a permanent failure is
// recorded and the message completed.
func (h *Handler) Handle(ctx context.Context, sb funchost.ServiceBusMessage) error {
	m, err := Decode(sb.Body)
	if err != nil {
		// Failing keeps the message: after its retries it is dead-lettered
		// where it can be inspected, rather than silently dropped.
		return err
	}
	runID, tenantID := strings.ToLower(m.RunID), strings.ToLower(m.TenantID)
	ctx = logctx.With(ctx, slog.String("runId", runID), slog.String("tenantId", tenantID))
	h.log.InfoContext(ctx, "tenant sync requested")
	if h.graph == nil {
		return seatsync.Errorf(seatsync.ENotImplemented, "Tenant sync is not configured in this process: seatsync has no connection to Microsoft yet.")
	}

	run, err := h.runs.Get(ctx, runID)
	if err != nil {
		if seatsync.ErrorCode(err) == seatsync.ENotFound {
			h.log.ErrorContext(ctx, "tenant sync: the message names a run that does not exist")
		}
		return fmt.Errorf("tenantsync: read run %s: %w", runID, err)
	}
	res, err := h.runs.Result(ctx, runID, tenantID)
	if err != nil {
		if seatsync.ErrorCode(err) == seatsync.ENotFound {
			h.log.ErrorContext(ctx, "tenant sync: the message names a tenant that is not part of its run")
		}
		return fmt.Errorf("tenantsync: read result of tenant %s in run %s: %w", tenantID, runID, err)
	}
	if res.Status != seatsync.ResultPending {
		h.log.InfoContext(ctx, "tenant sync: already done in this run; redelivery ignored", "result", res.Status)
		return nil
	}
	tenant, err := h.licences.Tenant(ctx, tenantID)
	hasRow := err == nil
	if err != nil && seatsync.ErrorCode(err) != seatsync.ENotFound {
		return h.fail(ctx, sb, runID, tenantID, false, err)
	}
	if !hasRow {
		h.log.WarnContext(ctx, "tenant sync: the tenant has no row; syncing without Partner Center terms")
	}
	csp := hasRow && hasRelationship(tenant, seatsync.RelationshipCSP)

	read, err := h.read(ctx, tenantID, csp)
	if err != nil {
		return h.fail(ctx, sb, runID, tenantID, hasRow, err)
	}
	var names *catalog.Catalog
	if h.catalog != nil {
		if names, err = h.catalog.Catalog(ctx); err != nil {
			h.log.WarnContext(ctx, "tenant sync: no product-names catalog; part numbers are the names", "error", err.Error())
			names = nil
		}
	}
	syncedAt := h.now().UTC()
	ts := build(read, names)
	changes, err := h.licences.WriteTenantSync(ctx, tables.TenantSync{RunID: runID, RunStartedAt: run.StartedAt, TenantID: tenantID,
		SyncedAt: syncedAt, Licenses: ts.licenses, Subscriptions: ts.subscriptions, Counts: ts.counts})
	if err != nil {
		return h.fail(ctx, sb, runID, tenantID, hasRow, err)
	}
	// The tenant row before the result: a result ends the redeliveries.
	if hasRow {
		if err := h.licences.RecordTenantSync(ctx, tenantID, syncedAt, nil); err != nil {
			return h.fail(ctx, sb, runID, tenantID, hasRow, err)
		}
	}
	if err := h.runs.SetResult(ctx, runID, tenantID, seatsync.ResultSucceeded, nil, h.now()); err != nil {
		return fmt.Errorf("tenantsync: record the result: %w", err)
	}
	h.log.InfoContext(ctx, "tenant synced", "skus", len(ts.licenses), "subscriptions", len(ts.subscriptions),
		"changes", len(changes), "partnerCenter", read.pcRead)
	return nil
}

func hasRelationship(t seatsync.Tenant, kind string) bool {
	for _, r := range t.Relationships {
		if r == kind {
			return true
		}
	}
	return false
}

// fetched is what one tenant's sync read from Microsoft.
type fetched struct {
	skus   []graph.SubscribedSku
	subs   []graph.CompanySubscription
	counts graph.UserCounts
	pcSubs []partnercenter.Subscription
	pcRead bool
}

// read reads the tenant from Graph and, for a Direct CSP customer, Partner
// Center: subscribedSkus first, as the one call that finds a tenant that
// cannot be read, then the other reads at once. Each read is made once
// (users/$count twice, one per count).
func (h *Handler) read(ctx context.Context, tenantID string, csp bool) (fetched, error) {
	var f fetched
	var err error
	if f.skus, err = h.graph.SubscribedSkus(ctx, tenantID); err != nil {
		return f, err
	}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	wg.Go(func() { f.subs, errs[0] = h.graph.DirectorySubscriptions(ctx, tenantID) })
	wg.Go(func() { f.counts, errs[1] = h.graph.UserCounts(ctx, tenantID) })
	if csp && h.pc != nil {
		f.pcRead = true
		wg.Go(func() { f.pcSubs, errs[2] = h.pc.Subscriptions(ctx, tenantID) })
	}
	wg.Wait()
	// A failure someone must fix wins over one that may pass: retrying
	// would only meet it again.
	var first error
	for _, e := range errs {
		if e == nil {
			continue
		}
		if _, transient := classify(e); !transient {
			return f, e
		}
		if first == nil {
			first = e
		}
	}
	return f, first
}

// fail handles a failed sync: a transient failure before the last delivery
// is returned (the message comes again); anything else is recorded as the
// tenant's failure, on its row (hasRow) and in the run, and the message
// completed.
func (h *Handler) fail(ctx context.Context, sb funchost.ServiceBusMessage, runID, tenantID string, hasRow bool, err error) error {
	p, transient := classify(err)
	if transient && sb.DeliveryCount < h.maxDeliveries {
		h.log.WarnContext(ctx, "tenant sync failed; the message will be delivered again", "code", p.Code, "error", err)
		return fmt.Errorf("tenantsync: tenant %s: %w", tenantID, err)
	}
	if transient {
		p = exhausted(p, err, sb.DeliveryCount)
	}
	h.log.WarnContext(ctx, "tenant sync failed", "code", p.Code, "problem", p.Message, "error", err)
	if hasRow {
		if rerr := h.licences.RecordTenantSync(ctx, tenantID, h.now(), &p); rerr != nil {
			return fmt.Errorf("tenantsync: record the failure (%s) on the tenant: %w", p.Code, rerr)
		}
	}
	if rerr := h.runs.SetResult(ctx, runID, tenantID, seatsync.ResultFailed, &p, h.now()); rerr != nil {
		return fmt.Errorf("tenantsync: record the failure (%s) in the run: %w", p.Code, rerr)
	}
	return nil
}

// classify says what an MSP reads about err and whether waiting may cure
// it. The Microsoft clients' typed errors carry their own code and advice;
// anything else (storage, a cancelled context) is transient, with an
// internal code and no detail.
func classify(err error) (seatsync.Problem, bool) {
	if ie, ok := errors.AsType[*identity.Error](err); ok {
		return seatsync.Problem{Code: ie.Code(), Message: sentence(ie.Message())}, ie.Transient()
	}
	if ge, ok := errors.AsType[*graph.Error](err); ok {
		return ge.Problem(), ge.Transient()
	}
	if pe, ok := errors.AsType[*partnercenter.Error](err); ok {
		k := pe.Kind()
		return pe.Problem(), k == partnercenter.KindThrottled || k == partnercenter.KindUnavailable
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return seatsync.Problem{Code: CodeTimeout, Message: "Microsoft did not answer in time."}, true
	}
	return seatsync.Problem{Code: seatsync.EInternal, Message: "seatsync could not complete this tenant's sync; the server log has the details."}, true
}

// Codes of failures recorded only on the last delivery.
const (
	// CodeTimeout: Microsoft did not answer before the invocation's time
	// ran out, on every delivery.
	CodeTimeout = "timeout"
)

// exhausted is the problem recorded when a transient failure lasted through
// every delivery.
func exhausted(p seatsync.Problem, err error, deliveries int) seatsync.Problem {
	service := "Microsoft"
	switch {
	case isType[*identity.Error](err):
		service = "Microsoft's sign-in service"
	case isType[*graph.Error](err):
		service = "Microsoft Graph"
	case isType[*partnercenter.Error](err):
		service = "Partner Center"
	}
	tries := fmt.Sprintf("%d attempts", deliveries)
	switch p.Code {
	case graph.CodeThrottled: // identity and Partner Center use the same code
		p.Message = fmt.Sprintf("%s kept throttling seatsync's requests for this tenant beyond the retry budget (%s); the next sync will try again.", service, tries)
	case graph.CodeUnavailable, partnercenter.CodeUnavailable, identity.EIdentityUnavailable:
		p.Message = fmt.Sprintf("%s was unavailable for this tenant on each of %s; the next sync will try again.", service, tries)
	case CodeTimeout:
		p.Message = fmt.Sprintf("Microsoft did not answer in time for this tenant on each of %s; the next sync will try again.", tries)
	default:
		p.Message = fmt.Sprintf("seatsync could not complete this tenant's sync in %s; the server log has the details, and the next sync will try again.", tries)
	}
	return p
}

func isType[T error](err error) bool {
	_, ok := errors.AsType[T](err)
	return ok
}

// sentence makes an identity message, which reads as a clause ("the app is
// not consented …"), a sentence.
func sentence(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	s = string(unicode.ToUpper(r)) + s[n:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

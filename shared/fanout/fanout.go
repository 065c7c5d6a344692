// Package fanout starts a sync run: the nightly timer, POST /api/v1/sync and
// the first run after consent all go through Starter.StartRun.
//
// A start lists the partner's customers from every source it has — GDAP
// delegatedAdminCustomers and DAP contracts in Microsoft Graph, and for a
// Direct CSP partner Partner Center's customers — in parallel, merges them by
// tenant id keeping every relationship kind, upserts the tenant rows, records
// the run and its tenants, and sends one queue message per tenant to sync.
//
// Sources. A source that fails does not stop the run while another source
// answers: the run goes ahead with what was listed, and records a warning
// naming the list that failed. Tenants are marked inactive (never deleted)
// only when every source answered, since a tenant missing from a failed
// list has not gone; such tenants keep their rows, and the relationship kind
// of the failed source, as they were. When every source fails, a failed run
// is recorded with the reason and StartRun returns the first source's error
// (its seatsync code says what to do, such as reconnecting).
//
// Messages. Each message has ID "{runId}/{tenantId}", a JSON
// seatsync.TenantSyncMessage body (no secret) and the properties runId and
// tenantId. They are sent in chunks; the queue's duplicate detection by
// message ID makes a send safe to repeat, so a start that fails part way
// through sending is finished by Resume, which sends every message of the
// run again.
package fanout

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/seatsync/seatsync/shared/graph"
	"github.com/seatsync/seatsync/shared/partnercenter"
	"github.com/seatsync/seatsync/shared/seatsync"
	"github.com/seatsync/seatsync/shared/tables"
)

// GraphLister is what a start needs from Microsoft Graph: the partner's GDAP
// and DAP customers, read in the partner's own tenant. *graph.Client
// implements it.
type GraphLister interface {
	DelegatedAdminCustomers(ctx context.Context) ([]graph.Customer, error)
	Contracts(ctx context.Context) ([]graph.Customer, error)
}

// CustomerLister is what a start needs from Partner Center: the Direct CSP
// partner's customers. *partnercenter.Client implements it.
type CustomerLister interface {
	Customers(ctx context.Context) ([]partnercenter.Customer, error)
}

// TenantStore keeps the tenant rows. *tables.Store implements it.
type TenantStore interface {
	// Tenants returns a page of tenants and the continuation of the next
	// ("" at the end).
	Tenants(ctx context.Context, top int, continuation string) ([]seatsync.Tenant, string, error)
	// PutTenants upserts tenant rows.
	PutTenants(ctx context.Context, ts []seatsync.Tenant) error
}

var (
	_ GraphLister         = (*graph.Client)(nil)
	_ CustomerLister      = (*partnercenter.Client)(nil)
	_ TenantStore         = (*tables.Store)(nil)
	_ seatsync.RunStarter = (*Starter)(nil)
)

// DefaultChunk is how many messages one Queue.Send carries.
const DefaultChunk = 100

// Options configure a Starter.
type Options struct {
	// Graph lists GDAP and DAP customers (required).
	Graph GraphLister
	// PartnerCenter lists Direct CSP customers; nil for a partner that is
	// not a Direct CSP partner.
	PartnerCenter CustomerLister
	// Store keeps the tenant rows, Runs the runs (both required).
	Store TenantStore
	Runs  *tables.Runs
	// Queue takes the tenant-sync messages (required).
	Queue seatsync.Queue
	// Log receives a record per start and a warning per failed source; nil
	// discards them.
	Log *slog.Logger
	// Now is the clock; nil for time.Now.
	Now func() time.Time
	// NewID returns a new run id (a GUID); nil for random (version 4)
	// GUIDs.
	NewID func() string
	// Chunk is how many messages one Send carries; 0 means DefaultChunk.
	Chunk int
}

// Starter starts sync runs. It is safe for concurrent use.
type Starter struct {
	graph GraphLister
	pc    CustomerLister
	store TenantStore
	runs  *tables.Runs
	queue seatsync.Queue
	log   *slog.Logger
	now   func() time.Time
	newID func() string
	chunk int
}

// New returns a Starter.
func New(opts Options) (*Starter, error) {
	switch {
	case opts.Graph == nil:
		return nil, errors.New("fanout: no Graph client")
	case opts.Store == nil:
		return nil, errors.New("fanout: no tenant store")
	case opts.Runs == nil:
		return nil, errors.New("fanout: no run store")
	case opts.Queue == nil:
		return nil, errors.New("fanout: no queue")
	case opts.Chunk < 0:
		return nil, fmt.Errorf("fanout: chunk size %d is negative", opts.Chunk)
	}
	s := &Starter{graph: opts.Graph, pc: opts.PartnerCenter, store: opts.Store, runs: opts.Runs, queue: opts.Queue,
		log: opts.Log, now: opts.Now, newID: opts.NewID, chunk: opts.Chunk}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.newID == nil {
		s.newID = NewGUID
	}
	if s.chunk == 0 {
		s.chunk = DefaultChunk
	}
	return s, nil
}

// SendError is StartRun's error when the run was recorded but not all of its
// messages went out: Resume(ctx, RunID) sends the rest.
type SendError struct {
	RunID string
	Err   error
}

func (e *SendError) Error() string {
	return fmt.Sprintf("fanout: run %s: not every message was sent (Resume sends the rest): %v", e.RunID, e.Err)
}

func (e *SendError) Unwrap() error { return e.Err }

// StartRun starts a run of trigger (seatsync.TriggerSchedule, TriggerManual
// or TriggerConsent) for the tenants tenantIDs, or every active tenant when
// tenantIDs is empty, and returns it (status running, or succeeded at once
// when there is no tenant to sync).
//
// A bad trigger, an id that is not a GUID, or an id that is not an active
// customer tenant is a seatsync.Error EInvalid naming them, and nothing is
// written. When every customer list fails, a failed run is recorded and the
// first list's error is returned. When the run was recorded but sending its
// messages failed, StartRun returns the run and a *SendError: Resume
// finishes the send.
func (s *Starter) StartRun(ctx context.Context, trigger string, tenantIDs []string) (seatsync.Run, error) {
	switch trigger {
	case seatsync.TriggerSchedule, seatsync.TriggerManual, seatsync.TriggerConsent:
	default:
		return seatsync.Run{}, seatsync.Errorf(seatsync.EInvalid, "The trigger %q is not one of schedule, manual or consent.",
			seatsync.CleanText(trigger, 40))
	}
	requested, err := requestedIDs(tenantIDs)
	if err != nil {
		return seatsync.Run{}, err
	}
	runID := s.newID()
	if !seatsync.IsGUID(runID) {
		return seatsync.Run{}, fmt.Errorf("fanout: NewID gave %q, not a GUID", seatsync.CleanText(runID, 64))
	}
	runID = strings.ToLower(runID)

	lists := s.list(ctx)
	if err := ctx.Err(); err != nil {
		return seatsync.Run{}, fmt.Errorf("fanout: list customers: %w", err)
	}
	log := s.log.With("runId", runID, "trigger", trigger)
	var warnings []seatsync.Problem
	var failed []error
	for _, l := range lists {
		if l.err != nil {
			p := l.src.problem(l.err)
			warnings = append(warnings, p)
			failed = append(failed, l.err)
			log.WarnContext(ctx, "fanout: a customer list could not be read", "source", l.src.name, "code", p.Code, "error", l.err)
		}
	}
	started := s.now().UTC()
	run := seatsync.Run{RunID: runID, Trigger: trigger, Status: seatsync.RunRunning, StartedAt: started}

	if len(failed) == len(lists) {
		// Nothing to go on: record why, so that the latest run says so.
		first := warnings[0]
		run.Status = seatsync.RunFailed
		run.FinishedAt = &started
		rec := tables.RunRecord{Run: run, Warnings: warnings, Error: &seatsync.Problem{Code: first.Code,
			Message: "No customer list could be read, so no tenant was synced. " + first.Message}}
		if err := s.runs.Create(ctx, rec, nil); err != nil {
			log.ErrorContext(ctx, "fanout: recording the failed run failed", "error", err)
		}
		log.ErrorContext(ctx, "fanout: run failed: no customer list could be read", "code", first.Code)
		return seatsync.Run{}, fmt.Errorf("fanout: no customer list could be read: %w", errors.Join(failed...))
	}

	existing, err := s.allTenants(ctx)
	if err != nil {
		return seatsync.Run{}, err
	}
	updated, changed := merge(existing, lists, len(failed) == 0)

	var ids []string
	if len(requested) == 0 {
		for _, t := range updated {
			if t.Active {
				ids = append(ids, t.TenantID)
			}
		}
	} else {
		active := map[string]bool{}
		for _, t := range updated {
			active[t.TenantID] = t.Active
		}
		var unknown, inactive []string
		for _, id := range requested {
			a, ok := active[id]
			switch {
			case !ok:
				unknown = append(unknown, id)
			case !a:
				inactive = append(inactive, id)
			}
		}
		if len(unknown)+len(inactive) > 0 {
			return seatsync.Run{}, invalidTenants(unknown, inactive)
		}
		ids = requested
	}
	slices.Sort(ids)

	if len(changed) > 0 {
		if err := s.store.PutTenants(ctx, changed); err != nil {
			return seatsync.Run{}, fmt.Errorf("fanout: write tenants: %w", err)
		}
	}
	run.TenantsTotal = len(ids)
	if len(ids) == 0 {
		// No tenant will report, so the run is over as it starts.
		run.Status = seatsync.RunSucceeded
		run.FinishedAt = &started
	}
	if err := s.runs.Create(ctx, tables.RunRecord{Run: run, Warnings: warnings}, ids); err != nil {
		return seatsync.Run{}, fmt.Errorf("fanout: record run: %w", err)
	}
	log.InfoContext(ctx, "fanout: run started", "tenants", len(ids), "customers", len(updated), "tenantRowsWritten", len(changed),
		"failedLists", len(failed))
	if err := s.send(ctx, runID, ids); err != nil {
		log.ErrorContext(ctx, "fanout: sending the run's messages failed", "error", err)
		return run, &SendError{RunID: runID, Err: err}
	}
	return run, nil
}

// Resume sends every message of the running run runID again, in chunks; the
// queue's duplicate detection drops those already sent. It finishes a start
// that failed part way through sending. A run that is not running is a
// seatsync.Error EConflict; one that does not exist, ENotFound.
func (s *Starter) Resume(ctx context.Context, runID string) error {
	runID = strings.ToLower(runID)
	rec, err := s.runs.Get(ctx, runID)
	if err != nil {
		return err
	}
	if rec.Status != seatsync.RunRunning {
		return seatsync.Errorf(seatsync.EConflict, "The sync run %s is %s; only a running run can be resumed.", runID, rec.Status)
	}
	ids, err := s.runs.TenantIDs(ctx, runID)
	if err != nil {
		return err
	}
	if err := s.send(ctx, runID, ids); err != nil {
		return &SendError{RunID: runID, Err: err}
	}
	s.log.InfoContext(ctx, "fanout: run resumed", "runId", runID, "tenants", len(ids))
	return nil
}

// Message returns the queue message that asks for tenantID's sync in run
// runID.
func Message(runID, tenantID string) (seatsync.Message, error) {
	body, err := json.Marshal(seatsync.TenantSyncMessage{RunID: runID, TenantID: tenantID})
	if err != nil {
		return seatsync.Message{}, err
	}
	return seatsync.Message{ID: runID + "/" + tenantID, Body: body,
		Properties: map[string]any{"runId": runID, "tenantId": tenantID}}, nil
}

// send sends the messages of run runID for ids, s.chunk at a time.
func (s *Starter) send(ctx context.Context, runID string, ids []string) error {
	for chunk := range slices.Chunk(ids, s.chunk) {
		msgs := make([]seatsync.Message, 0, len(chunk))
		for _, id := range chunk {
			m, err := Message(runID, id)
			if err != nil {
				return err
			}
			msgs = append(msgs, m)
		}
		if err := s.queue.Send(ctx, msgs); err != nil {
			return err
		}
	}
	return nil
}

// allTenants reads every tenant row.
func (s *Starter) allTenants(ctx context.Context) ([]seatsync.Tenant, error) {
	var out []seatsync.Tenant
	token := ""
	for {
		page, next, err := s.store.Tenants(ctx, 1000, token)
		if err != nil {
			return nil, fmt.Errorf("fanout: read tenants: %w", err)
		}
		out = append(out, page...)
		if next == "" {
			return out, nil
		}
		token = next
	}
}

// requestedIDs checks and normalises the requested tenant ids: GUIDs, lower
// case, each once.
func requestedIDs(ids []string) ([]string, error) {
	var out, bad []string
	seen := map[string]bool{}
	for _, id := range ids {
		n := strings.ToLower(strings.TrimSpace(id))
		if !seatsync.IsGUID(n) {
			bad = append(bad, fmt.Sprintf("%q", seatsync.CleanText(id, 40)))
			continue
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	if len(bad) > 0 {
		return nil, seatsync.Errorf(seatsync.EInvalid, "These tenant ids are not GUIDs: %s.", listed(bad))
	}
	return out, nil
}

func invalidTenants(unknown, inactive []string) error {
	var parts []string
	if len(unknown) > 0 {
		parts = append(parts, "not customer tenants of the partner: "+listed(unknown))
	}
	if len(inactive) > 0 {
		parts = append(parts, "no longer customer tenants (inactive): "+listed(inactive))
	}
	return seatsync.Errorf(seatsync.EInvalid, "These tenant ids cannot be synced; %s.", strings.Join(parts, "; "))
}

// listed joins ids for a message, naming at most 10.
func listed(ids []string) string {
	const most = 10
	if len(ids) <= most {
		return strings.Join(ids, ", ")
	}
	return strings.Join(ids[:most], ", ") + fmt.Sprintf(" and %d more", len(ids)-most)
}

// NewGUID returns a random (version 4) GUID in lower case.
func NewGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// source is one customer list.
type source struct {
	name string // for logs
	kind string // the relationship kind it lists
	// what names the list for an MSP.
	what string
}

var (
	srcGDAP = source{name: "gdap", kind: seatsync.RelationshipGDAP,
		what: "The GDAP customer list (Microsoft Graph delegatedAdminCustomers)"}
	srcDAP = source{name: "dap", kind: seatsync.RelationshipDAP,
		what: "The DAP customer list (Microsoft Graph contracts)"}
	srcCSP = source{name: "partnercenter", kind: seatsync.RelationshipCSP,
		what: "The Partner Center customer list"}
)

func (src source) problem(err error) seatsync.Problem {
	return seatsync.Problem{Code: seatsync.ErrorCode(err),
		Message: src.what + " could not be read: " + seatsync.ErrorMessage(err)}
}

// customer is one tenant as one list shows it.
type customer struct {
	tenantID, name, domain string
}

// listing is one list's answer.
type listing struct {
	src       source
	customers []customer
	err       error
}

// list reads every source at once.
func (s *Starter) list(ctx context.Context) []listing {
	calls := []struct {
		src source
		get func() ([]customer, error)
	}{
		{srcGDAP, func() ([]customer, error) { return fromGraph(s.graph.DelegatedAdminCustomers(ctx)) }},
		{srcDAP, func() ([]customer, error) { return fromGraph(s.graph.Contracts(ctx)) }},
	}
	if s.pc != nil {
		calls = append(calls, struct {
			src source
			get func() ([]customer, error)
		}{srcCSP, func() ([]customer, error) {
			cs, err := s.pc.Customers(ctx)
			if err != nil {
				return nil, err
			}
			out := make([]customer, 0, len(cs))
			for _, c := range cs {
				out = append(out, customer{tenantID: c.TenantID, name: c.CompanyName, domain: c.Domain})
			}
			return out, nil
		}})
	}
	out := make([]listing, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		out[i].src = c.src
		wg.Go(func() { out[i].customers, out[i].err = c.get() })
	}
	wg.Wait()
	return out
}

func fromGraph(cs []graph.Customer, err error) ([]customer, error) {
	if err != nil {
		return nil, err
	}
	out := make([]customer, 0, len(cs))
	for _, c := range cs {
		out = append(out, customer{tenantID: c.TenantID, name: c.DisplayName, domain: c.DefaultDomain})
	}
	return out, nil
}

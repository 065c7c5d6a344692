package tables

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/seatsync/seatsync/shared/seatsync"
)

// Runs keeps the sync runs and, per run, the tenants it syncs.
//
// RunsTable holds two rows per run, both in partition "run": the run itself
// under RowKey "{inverted start time}-{runId}" (19 digits, so the latest run
// sorts first), and an index row under "id-{runId}" that names the run row,
// so that a run is found by its id with two point reads. RunTenantsTable
// holds one row per tenant of a run: PartitionKey runId, RowKey tenantId, and
// the tenant's Status in the run (RunTenantPending until the tenant reports).
type Runs struct {
	runs, tenants *Table
}

// NewRuns returns the runs kept in svc's RunsTable and RunTenantsTable
// (create them with EnsureTables).
func NewRuns(svc *Service) *Runs {
	return &Runs{runs: svc.Table(RunsTable), tenants: svc.Table(RunTenantsTable)}
}

// RunTenantPending is the status of a run's tenant that has not reported.
const RunTenantPending = "pending"

const (
	runPartition = "run"
	// runIndexPrefix starts the index rows' keys; it sorts after the
	// digits that start the run rows' keys.
	runIndexPrefix = "id-"
)

// RunRecord is a run as kept: the run and what its start could not do.
type RunRecord struct {
	seatsync.Run
	// Error says why a failed run failed; nil otherwise.
	Error *seatsync.Problem `json:"error,omitempty"`
	// Warnings say what a run that went ahead could not do in full, such
	// as a customer list that could not be read.
	Warnings []seatsync.Problem `json:"warnings,omitempty"`
}

type runRow struct {
	PartitionKey     string
	RowKey           string
	RunID            string
	Trigger          string
	Status           string
	StartedAt        string
	FinishedAt       string
	TenantsTotal     int
	TenantsSucceeded int
	TenantsFailed    int
	ErrorCode        string
	ErrorMessage     string
	// Warnings is the JSON of []seatsync.Problem ("" for none).
	Warnings string
}

type runIndexRow struct {
	PartitionKey string
	RowKey       string // "id-{runId}"
	RunKey       string // the run row's RowKey
}

type runTenantRow struct {
	PartitionKey string // run id
	RowKey       string // tenant id
	Status       string
}

// runKey is the RowKey of a run's row: the start time inverted, so that
// the latest run sorts first, then the id, so that keys are unique.
func runKey(startedAt time.Time, runID string) string {
	n := startedAt.UnixNano()
	if n < 0 || startedAt.Before(time.Unix(0, 0)) {
		n = 0
	}
	return fmt.Sprintf("%019d-%s", math.MaxInt64-n, runID)
}

// checkRunID refuses an id that is not a GUID: ids become keys.
func checkRunID(runID string) error {
	if !seatsync.IsGUID(runID) {
		return &seatsync.Error{Code: seatsync.ENotFound, Message: "No sync run has that id.", Err: ErrNotFound}
	}
	return nil
}

// Create records the run rec and the ids of the tenants it syncs, each with
// status RunTenantPending. The tenant rows are written first (in
// transactions of at most MaxBatch), then the index row, then the run row,
// so that a run is visible only once all of it is written. Every key is
// deterministic: calling Create again with the same run after a failure
// completes it, and leaves a run row or index row that already exists as it
// is (a retry cannot undo progress recorded on the run). The tenant rows
// are upserts; Create is meant to be called before the run's messages go
// out, when no tenant has reported yet.
func (r *Runs) Create(ctx context.Context, rec RunRecord, tenantIDs []string) error {
	if err := checkRunID(rec.RunID); err != nil {
		return fmt.Errorf("tables: create run: %q is not a run id (a GUID)", seatsync.CleanText(rec.RunID, 64))
	}
	if rec.StartedAt.IsZero() {
		return errors.New("tables: create run: no start time")
	}
	b := r.tenants.Batch()
	for _, id := range tenantIDs {
		if err := b.Upsert(ctx, runTenantRow{PartitionKey: rec.RunID, RowKey: id, Status: RunTenantPending}); err != nil {
			return fmt.Errorf("tables: create run %s: %w", rec.RunID, err)
		}
	}
	if err := b.Flush(ctx); err != nil {
		return fmt.Errorf("tables: create run %s: %w", rec.RunID, err)
	}
	key := runKey(rec.StartedAt, rec.RunID)
	row := runRow{PartitionKey: runPartition, RowKey: key, RunID: rec.RunID, Trigger: rec.Trigger, Status: rec.Status,
		StartedAt: FormatTime(rec.StartedAt), FinishedAt: fmtOptTime(rec.FinishedAt), TenantsTotal: rec.TenantsTotal,
		TenantsSucceeded: rec.TenantsSucceeded, TenantsFailed: rec.TenantsFailed}
	if rec.Error != nil {
		row.ErrorCode, row.ErrorMessage = rec.Error.Code, rec.Error.Message
	}
	if len(rec.Warnings) > 0 {
		w, err := json.Marshal(rec.Warnings)
		if err != nil {
			return fmt.Errorf("tables: create run %s: warnings: %w", rec.RunID, err)
		}
		row.Warnings = string(w)
	}
	for _, e := range []any{runIndexRow{PartitionKey: runPartition, RowKey: runIndexPrefix + rec.RunID, RunKey: key}, row} {
		if _, err := r.runs.Insert(ctx, e); err != nil && !errors.Is(err, ErrExists) {
			return fmt.Errorf("tables: create run %s: %w", rec.RunID, err)
		}
	}
	return nil
}

// Get returns the run runID; a seatsync.Error ENotFound (wrapping
// ErrNotFound) if there is none.
func (r *Runs) Get(ctx context.Context, runID string) (RunRecord, error) {
	if err := checkRunID(runID); err != nil {
		return RunRecord{}, err
	}
	ix, err := r.runs.Get(ctx, runPartition, runIndexPrefix+runID)
	if err != nil {
		return RunRecord{}, notFoundRun(err, runID)
	}
	var index runIndexRow
	if err := ix.Decode(&index); err != nil {
		return RunRecord{}, err
	}
	row, err := r.runs.Get(ctx, runPartition, index.RunKey)
	if err != nil {
		// The index row is written before the run row: a Create that
		// failed in between left a run that does not exist yet.
		return RunRecord{}, notFoundRun(err, runID)
	}
	return decodeRun(row)
}

func notFoundRun(err error, runID string) error {
	if errors.Is(err, ErrNotFound) {
		return &seatsync.Error{Code: seatsync.ENotFound, Message: "No sync run has that id.", Err: err}
	}
	return fmt.Errorf("tables: get run %s: %w", runID, err)
}

// Latest returns the run that started last; a seatsync.Error ENotFound
// (wrapping ErrNotFound) when no run has started.
func (r *Runs) Latest(ctx context.Context) (RunRecord, error) {
	// Run rows start with a digit; index rows ("id-…") sort after them.
	filter := fmt.Sprintf("PartitionKey eq %s and RowKey lt %s", Quote(runPartition), Quote(":"))
	token := ""
	for {
		// A page may come back empty with a continuation; follow it.
		rows, next, err := r.runs.Page(ctx, filter, 1, token)
		if err != nil {
			return RunRecord{}, fmt.Errorf("tables: latest run: %w", err)
		}
		if len(rows) > 0 {
			return decodeRun(rows[0])
		}
		if next == "" {
			return RunRecord{}, &seatsync.Error{Code: seatsync.ENotFound, Message: "No sync run has started yet.", Err: ErrNotFound}
		}
		token = next
	}
}

func decodeRun(r Row) (RunRecord, error) {
	var row runRow
	if err := r.Decode(&row); err != nil {
		return RunRecord{}, err
	}
	rec := RunRecord{Run: seatsync.Run{RunID: row.RunID, Trigger: row.Trigger, Status: row.Status, TenantsTotal: row.TenantsTotal,
		TenantsSucceeded: row.TenantsSucceeded, TenantsFailed: row.TenantsFailed}}
	var err error
	if rec.StartedAt, err = ParseTime(row.StartedAt); err != nil {
		return rec, fmt.Errorf("tables: run %s: StartedAt: %w", row.RunID, err)
	}
	if rec.FinishedAt, err = optTime(row.FinishedAt); err != nil {
		return rec, fmt.Errorf("tables: run %s: FinishedAt: %w", row.RunID, err)
	}
	if row.ErrorCode != "" {
		rec.Error = &seatsync.Problem{Code: row.ErrorCode, Message: row.ErrorMessage}
	}
	if strings.TrimSpace(row.Warnings) != "" {
		if err := json.Unmarshal([]byte(row.Warnings), &rec.Warnings); err != nil {
			return rec, fmt.Errorf("tables: run %s: Warnings: %w", row.RunID, err)
		}
	}
	return rec, nil
}

// TenantIDs returns the ids of the tenants run runID syncs, in id order
// (none for a run that does not exist).
func (r *Runs) TenantIDs(ctx context.Context, runID string) ([]string, error) {
	if err := checkRunID(runID); err != nil {
		return nil, err
	}
	var out []string
	for row, err := range r.tenants.Query(ctx, "PartitionKey eq "+Quote(runID)) {
		if err != nil {
			return nil, fmt.Errorf("tables: tenants of run %s: %w", runID, err)
		}
		out = append(out, row.RowKey)
	}
	return out, nil
}

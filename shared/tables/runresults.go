package tables

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/seatsync/seatsync/shared/seatsync"
)

// RunTenantResult is one tenant's result in a run: seatsync.ResultPending
// until its sync reports, then ResultSucceeded or ResultFailed with the
// reason.
type RunTenantResult struct {
	TenantID   string            `json:"tenantId"`
	Status     string            `json:"status"`
	Error      *seatsync.Problem `json:"error,omitempty"`
	FinishedAt *time.Time        `json:"finishedAt,omitempty"`
}

// runTenantResultRow is runTenantRow (see Runs) with the result's fields;
// Create writes the first three.
type runTenantResultRow struct {
	PartitionKey string // run id
	RowKey       string // tenant id
	Status       string
	FinishedAt   string
	ErrorCode    string
	ErrorMessage string
}

func (row runTenantResultRow) result() (RunTenantResult, error) {
	res := RunTenantResult{TenantID: row.RowKey, Status: row.Status}
	if res.Status == "" {
		res.Status = RunTenantPending
	}
	if row.ErrorCode != "" {
		res.Error = &seatsync.Problem{Code: row.ErrorCode, Message: row.ErrorMessage}
	}
	var err error
	if res.FinishedAt, err = optTime(row.FinishedAt); err != nil {
		return res, fmt.Errorf("tables: run %s tenant %s: FinishedAt: %w", row.PartitionKey, row.RowKey, err)
	}
	return res, nil
}

func notFoundRunTenant(err error) error {
	return &seatsync.Error{Code: seatsync.ENotFound, Message: "That tenant is not part of that sync run.", Err: err}
}

// SetResult records tenantID's result in run runID: status
// seatsync.ResultSucceeded or ResultFailed, the reason of a failure, and
// when it finished. The tenant must be one of the run's (Create wrote its
// row); otherwise SetResult is a seatsync.Error ENotFound and writes
// nothing, so a stray message cannot add a tenant to a run. Recording the
// same result again rewrites the same row.
func (r *Runs) SetResult(ctx context.Context, runID, tenantID, status string, problem *seatsync.Problem, finishedAt time.Time) error {
	runID, tenantID = strings.ToLower(runID), strings.ToLower(tenantID)
	if err := checkRunID(runID); err != nil {
		return err
	}
	if !seatsync.IsGUID(tenantID) {
		return notFoundRunTenant(ErrNotFound)
	}
	switch status {
	case seatsync.ResultSucceeded, seatsync.ResultFailed:
	default:
		return fmt.Errorf("tables: run result %q is not %s or %s", seatsync.CleanText(status, 40), seatsync.ResultSucceeded, seatsync.ResultFailed)
	}
	if finishedAt.IsZero() {
		return errors.New("tables: run result without a finish time")
	}
	cur, err := r.tenants.Get(ctx, runID, tenantID)
	if errors.Is(err, ErrNotFound) {
		return notFoundRunTenant(err)
	}
	if err != nil {
		return fmt.Errorf("tables: run %s tenant %s: %w", runID, tenantID, err)
	}
	row := runTenantResultRow{PartitionKey: runID, RowKey: tenantID, Status: status, FinishedAt: FormatTime(finishedAt)}
	if problem != nil {
		row.ErrorCode, row.ErrorMessage = problem.Code, problem.Message
	}
	if _, err := r.tenants.Replace(ctx, row, cur.ETag); err != nil {
		if errors.Is(err, ErrPrecondition) {
			// Another delivery of the same message recorded a result
			// in between; the later one wins, as with an upsert.
			_, err = r.tenants.Upsert(ctx, row)
		}
		if err != nil {
			return fmt.Errorf("tables: run %s tenant %s: record result: %w", runID, tenantID, err)
		}
	}
	return nil
}

// Result returns tenantID's result in run runID; a seatsync.Error ENotFound
// when the tenant is not one of the run's.
func (r *Runs) Result(ctx context.Context, runID, tenantID string) (RunTenantResult, error) {
	runID, tenantID = strings.ToLower(runID), strings.ToLower(tenantID)
	if err := checkRunID(runID); err != nil {
		return RunTenantResult{}, err
	}
	if !seatsync.IsGUID(tenantID) {
		return RunTenantResult{}, notFoundRunTenant(ErrNotFound)
	}
	row, err := r.tenants.Get(ctx, runID, tenantID)
	if errors.Is(err, ErrNotFound) {
		return RunTenantResult{}, notFoundRunTenant(err)
	}
	if err != nil {
		return RunTenantResult{}, fmt.Errorf("tables: run %s tenant %s: %w", runID, tenantID, err)
	}
	var rr runTenantResultRow
	if err := row.Decode(&rr); err != nil {
		return RunTenantResult{}, err
	}
	return rr.result()
}

// Results returns the results of every tenant of run runID, in tenant id
// order (none for a run that does not exist).
func (r *Runs) Results(ctx context.Context, runID string) ([]RunTenantResult, error) {
	runID = strings.ToLower(runID)
	if err := checkRunID(runID); err != nil {
		return nil, err
	}
	out := []RunTenantResult{}
	for row, err := range r.tenants.Query(ctx, "PartitionKey eq "+Quote(runID)) {
		if err != nil {
			return nil, fmt.Errorf("tables: results of run %s: %w", runID, err)
		}
		var rr runTenantResultRow
		if err := row.Decode(&rr); err != nil {
			return nil, err
		}
		res, err := rr.result()
		if err != nil {
			return nil, err
		}
		out = append(out, res)
	}
	return out, nil
}

// Progress returns run runID with its progress computed from its tenants'
// results (see WithProgress); a seatsync.Error ENotFound when there is no
// such run.
func (r *Runs) Progress(ctx context.Context, runID string) (seatsync.Run, error) {
	rec, err := r.Get(ctx, strings.ToLower(runID))
	if err != nil {
		return seatsync.Run{}, err
	}
	rec, err = r.WithProgress(ctx, rec)
	return rec.Run, err
}

// WithProgress returns rec with its progress computed from the results of
// its tenants, one row each, with no counter row that every tenant would
// update: tenantsTotal, tenantsSucceeded and tenantsFailed; status running
// while a tenant has no result, then succeeded (every tenant succeeded),
// failed (every tenant failed) or partial; and finishedAt, once every
// tenant has a result, the latest result's time. A run without tenants
// keeps the status and finish time it was recorded with (succeeded at once,
// or failed when no customer list could be read).
func (r *Runs) WithProgress(ctx context.Context, rec RunRecord) (RunRecord, error) {
	results, err := r.Results(ctx, rec.RunID)
	if err != nil {
		return rec, err
	}
	if len(results) == 0 {
		return rec, nil
	}
	var succeeded, failed int
	var last time.Time
	for _, res := range results {
		switch res.Status {
		case seatsync.ResultSucceeded:
			succeeded++
		case seatsync.ResultFailed:
			failed++
		default:
			continue
		}
		if res.FinishedAt != nil && res.FinishedAt.After(last) {
			last = *res.FinishedAt
		}
	}
	run := rec.Run
	run.TenantsTotal, run.TenantsSucceeded, run.TenantsFailed = len(results), succeeded, failed
	run.FinishedAt = nil
	switch {
	case succeeded+failed < len(results):
		run.Status = seatsync.RunRunning
	case failed == 0:
		run.Status = seatsync.RunSucceeded
	case succeeded == 0:
		run.Status = seatsync.RunFailed
	default:
		run.Status = seatsync.RunPartial
	}
	if run.Status != seatsync.RunRunning {
		if last.IsZero() || last.Before(run.StartedAt) {
			last = run.StartedAt
		}
		run.FinishedAt = &last
	}
	rec.Run = run
	return rec, nil
}

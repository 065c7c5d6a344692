// Package nightlysync is the nightlysync function: on its timer it starts a
// sync run of every active customer tenant, through the same fan-out that
// POST /api/v1/sync and consent's first run use.
package nightlysync

import (
	"context"
	"log/slog"

	"github.com/seatsync/seatsync/shared/funchost"
	"github.com/seatsync/seatsync/shared/seatsync"
)

// Handler handles nightlysync invocations.
type Handler struct {
	log  *slog.Logger
	runs seatsync.RunStarter
}

// New returns the handler; runs nil means the fan-out is not available in
// this deployment (no queue), which each firing reports.
func New(log *slog.Logger, runs seatsync.RunStarter) *Handler { return &Handler{log: log, runs: runs} }

// Handle starts the scheduled run. A failure fails the invocation, so the
// host logs it; the next firing tries again.
func (h *Handler) Handle(ctx context.Context, t funchost.Timer) error {
	if h.runs == nil {
		return seatsync.Errorf(seatsync.ENotImplemented, "The nightly sync is not configured: it needs the app registration (SEATSYNC_CLIENT_ID, SEATSYNC_CLIENT_SECRET) and a tenant-sync queue.")
	}
	run, err := h.runs.StartRun(ctx, seatsync.TriggerSchedule, nil)
	if err != nil {
		return err
	}
	h.log.InfoContext(ctx, "nightly sync started", "runId", run.RunID, "tenants", run.TenantsTotal, "pastDue", t.IsPastDue)
	return nil
}

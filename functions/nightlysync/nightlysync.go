// Package nightlysync is the nightlysync function: on its timer it redeems
// the partner's token, lists the customer tenants and sends one queue
// message per tenant.
package nightlysync

import (
	"context"
	"log/slog"

	"github.com/seatsync/seatsync/shared/funchost"
	"github.com/seatsync/seatsync/shared/seatsync"
)

// Handler handles nightlysync invocations.
type Handler struct {
	log *slog.Logger
}

// New returns the handler.
func New(log *slog.Logger) *Handler { return &Handler{log: log} }

// Handle runs the scheduled fan-out.
func (h *Handler) Handle(ctx context.Context, t funchost.Timer) error {
	h.log.InfoContext(ctx, "nightly sync fired", "pastDue", t.IsPastDue)
	return seatsync.Errorf(seatsync.ENotImplemented, "The nightly sync is not available in this version of seatsync.")
}

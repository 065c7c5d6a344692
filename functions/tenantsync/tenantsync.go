// Package tenantsync is the tenantsync function: triggered by one Service
// Bus message per customer tenant, it syncs that tenant's licences into
// Table Storage. Service Bus delivers at least once, so it is idempotent.
package tenantsync

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"

	"github.com/seatsync/seatsync/shared/funchost"
	"github.com/seatsync/seatsync/shared/logctx"
	"github.com/seatsync/seatsync/shared/seatsync"
)

// Handler handles tenantsync invocations.
type Handler struct {
	log *slog.Logger
}

// New returns the handler.
func New(log *slog.Logger) *Handler { return &Handler{log: log} }

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

// Handle syncs the tenant named in m.
func (h *Handler) Handle(ctx context.Context, sb funchost.ServiceBusMessage) error {
	m, err := Decode(sb.Body)
	if err != nil {
		// Failing keeps the message: after its retries it is dead-lettered
		// where it can be inspected, rather than silently dropped.
		return err
	}
	ctx = logctx.With(ctx, slog.String("runId", m.RunID), slog.String("tenantId", m.TenantID))
	h.log.InfoContext(ctx, "tenant sync requested")
	return seatsync.Errorf(seatsync.ENotImplemented, "Tenant sync is not available in this version of seatsync.")
}

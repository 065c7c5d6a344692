package logctx_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/seatsync/seatsync/shared/logctx"
	"github.com/seatsync/seatsync/shared/seatsync"
)

func TestContextAttrsReachEveryRecord(t *testing.T) {
	var buf bytes.Buffer
	log := logctx.NewJSON(&buf, slog.LevelInfo)
	ctx := logctx.With(t.Context(), slog.String("invocationId", "inv-1"))
	ctx = logctx.With(ctx, slog.String("tenantId", "t-1"))
	log.InfoContext(ctx, "synced", "token", seatsync.NewSecret("eyJ0eXAi.secret"))
	log.With("component", "x").InfoContext(ctx, "second")

	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2: %s", len(lines), buf.String())
	}
	for i, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("line %d is not JSON: %v", i, err)
		}
		if rec["invocationId"] != "inv-1" || rec["tenantId"] != "t-1" {
			t.Errorf("line %d lacks context attributes: %s", i, line)
		}
	}
	if bytes.Contains(buf.Bytes(), []byte("eyJ0eXAi")) {
		t.Fatalf("secret reached the log: %s", buf.String())
	}
	// The parent context is not changed by a child's With.
	if got := len(logctx.Attrs(logctx.With(t.Context()))); got != 0 {
		t.Fatalf("empty With carries %d attrs", got)
	}
}

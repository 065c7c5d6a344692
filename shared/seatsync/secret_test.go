package seatsync_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/seatsync/seatsync/shared/seatsync"
)

func TestSecretNeverPrints(t *testing.T) {
	const raw = "0.AAAA-refresh-token-value"
	s := seatsync.NewSecret(raw)
	type holder struct {
		Token seatsync.Secret `json:"token"`
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "s", s, "h", holder{s})
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "s", s)
	js, err := json.Marshal(holder{s})
	if err != nil {
		t.Fatal(err)
	}
	outs := []string{
		fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q %x %X", s, s, s, s, s, s, s),
		fmt.Sprintf("%v %+v", holder{s}, holder{s}), fmt.Errorf("wrap: %v", s).Error(),
		string(js), logged.String(),
	}
	for _, out := range outs {
		if strings.Contains(out, raw) || strings.Contains(out, fmt.Sprintf("%x", raw)) {
			t.Errorf("secret leaked in %q", out)
		}
		if !strings.Contains(out, seatsync.Redacted) {
			t.Errorf("no redaction marker in %q", out)
		}
	}
	if s.Reveal() != raw {
		t.Fatalf("Reveal = %q", s.Reveal())
	}
	if !s.Equal(seatsync.NewSecret(raw)) || s.Equal(seatsync.NewSecret(raw+"x")) || s.IsZero() {
		t.Fatal("Equal/IsZero wrong")
	}
}

func TestErrorCodeAndMessage(t *testing.T) {
	cause := errors.New("dial tcp 10.0.0.1: connection refused")
	err := fmt.Errorf("list tenants: %w", &seatsync.Error{Code: seatsync.ENotFound, Message: "No such tenant.", Err: cause})
	if got := seatsync.ErrorCode(err); got != seatsync.ENotFound {
		t.Errorf("code = %q", got)
	}
	if got := seatsync.ErrorMessage(err); got != "No such tenant." {
		t.Errorf("message = %q", got)
	}
	if !errors.Is(err, cause) {
		t.Error("cause not reachable with errors.Is")
	}
	plain := fmt.Errorf("table: %w", cause)
	if seatsync.ErrorCode(plain) != seatsync.EInternal || strings.Contains(seatsync.ErrorMessage(plain), "10.0.0.1") {
		t.Errorf("internal error leaks: %q", seatsync.ErrorMessage(plain))
	}
}

package seatsync_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

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

func TestIsGUIDAndCleanText(t *testing.T) {
	for s, want := range map[string]bool{
		"7d0a4a4e-2f1c-4c3e-9b55-3a1f2e6c8b10": true, "7D0A4A4E-2F1C-4C3E-9B55-3A1F2E6C8B10": true,
		"7d0a4a4e-2f1c-4c3e-9b55-3a1f2e6c8b1": false, "7d0a4a4e-2f1c-4c3e-9b55-3a1f2e6c8b1g": false,
		"7d0a4a4e+2f1c-4c3e-9b55-3a1f2e6c8b10": false, "../../../etc/passwd/xxxxxxxxxxxxxxxxx": false, "": false,
	} {
		if seatsync.IsGUID(s) != want {
			t.Errorf("IsGUID(%q) = %v", s, !want)
		}
	}
	for _, tc := range []struct {
		in    string
		limit int
		want  string
	}{
		{"AADSTS700082: expired.\r\nTrace ID: x", 100, "AADSTS700082: expired. Trace ID: x"},
		{"a\x00b\tc  d", 100, "a b c d"},
		{"abcdef", 4, "abc…"},
		{"\xff\xfeok", 10, "\ufffdok"},
	} {
		if got := seatsync.CleanText(tc.in, tc.limit); got != tc.want {
			t.Errorf("CleanText(%q, %d) = %q, want %q", tc.in, tc.limit, got, tc.want)
		}
	}
}

func TestAPIFailure(t *testing.T) {
	f := seatsync.APIFailure{Advice: "Partner Center is unavailable; seatsync retries later", Code: "partner_center_unavailable",
		Status: 503, Service: "Partner Center", ServiceCode: "3000", Message: "Service down", RetryAfter: 2 * time.Second,
		IDs: [][2]string{{"MS-RequestId", ""}, {"MS-CorrelationId", "c1"}}}
	want := "Partner Center is unavailable; seatsync retries later (HTTP 503, Partner Center code 3000): Service down; retry after 2s; MS-CorrelationId c1"
	if got := f.Text(); got != want {
		t.Errorf("Text =\n%s\nwant\n%s", got, want)
	}
	if p := f.Problem(); p.Code != "partner_center_unavailable" || p.Message != "Partner Center is unavailable; seatsync retries later (HTTP 503)." {
		t.Errorf("Problem = %+v", p)
	}
	f.Status = 0
	if p := f.Problem(); p.Message != "Partner Center is unavailable; seatsync retries later." || !strings.Contains(f.Text(), "(no HTTP response, ") {
		t.Errorf("without a response: %+v / %s", p, f.Text())
	}
	var se *seatsync.Error
	cause := errors.New("typed")
	if !seatsync.AsError(&se, f.Problem(), cause) || se.Code != f.Code || !errors.Is(se, cause) {
		t.Errorf("AsError gave %+v", se)
	}
	var other *int
	if seatsync.AsError(&other, f.Problem(), cause) {
		t.Error("AsError accepted a target that is not **seatsync.Error")
	}
}

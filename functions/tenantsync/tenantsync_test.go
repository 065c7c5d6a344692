package tenantsync_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/seatsync/seatsync/functions/tenantsync"
	"github.com/seatsync/seatsync/shared/funchost"
	"github.com/seatsync/seatsync/shared/seatsync"
)

const (
	run    = "0f8fad5b-d9cb-469f-a165-70867728950e"
	tenant = "7d0a4a4e-2f1c-4c3e-9b55-3a1f2e6c8b10"
)

func TestDecode(t *testing.T) {
	m, err := tenantsync.Decode([]byte(`{"runId":"` + run + `","tenantId":"` + tenant + `","trigger":"manual"}`))
	if err != nil || m.RunID != run || m.TenantID != tenant {
		t.Fatalf("valid message: %+v, %v", m, err)
	}
	for name, body := range map[string]string{
		"not JSON":         `runId=1`,
		"array":            `[]`,
		"no runId":         `{"tenantId":"` + tenant + `"}`,
		"tenantId not id":  `{"runId":"` + run + `","tenantId":"contoso.onmicrosoft.com"}`,
		"runId injection":  `{"runId":"` + run + `\n","tenantId":"` + tenant + `"}`,
		"trailing garbage": `{"runId":"` + run + `","tenantId":"` + tenant + `"} {}`,
	} {
		if _, err := tenantsync.Decode([]byte(body)); seatsync.ErrorCode(err) != seatsync.EInvalid {
			t.Errorf("%s: err = %v, want code invalid", name, err)
		}
	}
}

// A malformed message fails its invocation (so it ends in the dead-letter
// queue, not silently completed).
func TestHandleRejectsMalformed(t *testing.T) {
	h := tenantsync.New(slog.New(slog.NewJSONHandler(io.Discard, nil)))
	err := h.Handle(context.Background(), funchost.ServiceBusMessage{Body: []byte(`{}`), MessageID: "x", DeliveryCount: 1})
	if seatsync.ErrorCode(err) != seatsync.EInvalid {
		t.Fatalf("err = %v", err)
	}
}

package funchost

import (
	"context"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/seatsync/seatsync/shared/seatsync"
)

// BenchmarkDecodeServiceBus measures decoding one host-encoded Service Bus
// invocation: paid once per tenant per night.
func BenchmarkDecodeServiceBus(b *testing.B) {
	body, err := os.ReadFile("testdata/servicebus-double-encoded.json")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		inv, err := DecodeInvocation(body)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := inv.ServiceBus("message"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInvokeInProcess measures standalone mode's protocol overhead per
// message: build the host payload, decode it, call the handler, read the
// response.
func BenchmarkInvokeInProcess(b *testing.B) {
	mux := http.NewServeMux()
	mux.Handle("POST /tenantsync", HandleServiceBus(discardLogger(), "tenantsync", "message",
		func(context.Context, ServiceBusMessage) error { return nil }))
	d := &seatsync.Delivery{
		Message:       seatsync.Message{ID: runID + "/" + tenantID, Body: []byte(`{"runId":"` + runID + `","tenantId":"` + tenantID + `"}`), Properties: map[string]any{"runId": runID}},
		DeliveryCount: 1, EnqueuedAt: time.Now(),
	}
	b.ReportAllocs()
	for b.Loop() {
		p, err := ServiceBusPayload("tenantsync", "message", d, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		if r := Invoke(context.Background(), mux, "tenantsync", "83a33220-a921-460a-bec0-b3f043dcf1ff", p); !r.OK() {
			b.Fatalf("status %d", r.Status)
		}
	}
}

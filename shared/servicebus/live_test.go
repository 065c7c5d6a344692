package servicebus_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/seatsync/seatsync/shared/seatsync"
	"github.com/seatsync/seatsync/shared/servicebus"
)

// TestLiveServiceBus sends the same message twice to a real queue and
// receives it once: the queue's duplicate detection at work. It needs
// ServiceBusConnection__fullyQualifiedNamespace (and SEATSYNC_QUEUE, default
// tenant-sync) and a signed-in identity (DefaultAzureCredential) with the
// Azure Service Bus Data Sender and Data Receiver roles. Use a queue no
// function is consuming: the test completes only its own message and
// abandons any other it receives.
func TestLiveServiceBus(t *testing.T) {
	ns := os.Getenv("ServiceBusConnection__fullyQualifiedNamespace")
	if ns == "" {
		t.Skip("skipped: set ServiceBusConnection__fullyQualifiedNamespace to run against a real Service Bus namespace")
	}
	queue := os.Getenv("SEATSYNC_QUEUE")
	if queue == "" {
		queue = servicebus.DefaultQueue
	}
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	q, err := servicebus.New(ns, queue, cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := q.Close(context.Background()); err != nil {
			t.Error(err)
		}
	}()

	runID := "live-test-" + rand.Text()
	tenantID := "00000000-0000-0000-0000-000000000000"
	body, _ := json.Marshal(seatsync.TenantSyncMessage{RunID: runID, TenantID: tenantID})
	m := seatsync.Message{ID: runID + "/" + tenantID, Body: body, Properties: map[string]any{"runId": runID, "tenantId": tenantID}}
	// Twice in separate sends (a fan-out run again), and once more as a
	// pair in one batch.
	for _, batch := range [][]seatsync.Message{{m}, {m}, {m, m}} {
		if err := q.Send(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}

	client, err := azservicebus.NewClient(ns, cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close(context.Background())
	recv, err := client.NewReceiverForQueue(queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close(context.Background())

	// Receive until nothing more arrives for 15 seconds (or a minute in
	// all); the message must come exactly once.
	var got []*azservicebus.ReceivedMessage
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		rctx, rcancel := context.WithTimeout(ctx, 15*time.Second)
		batch, err := recv.ReceiveMessages(rctx, 10, nil)
		rcancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatal(err)
		}
		for _, r := range batch {
			if r.MessageID != m.ID {
				// Not ours: let someone else have it.
				if err := recv.AbandonMessage(ctx, r, nil); err != nil {
					t.Errorf("abandon %s: %v", r.MessageID, err)
				}
				continue
			}
			got = append(got, r)
			if err := recv.CompleteMessage(ctx, r, nil); err != nil {
				t.Errorf("complete: %v", err)
			}
		}
		if len(batch) == 0 {
			break
		}
	}
	if len(got) != 1 {
		t.Fatalf("received message %s %d times, want once: is duplicate detection on for queue %q (Standard tier or above)?", m.ID, len(got), queue)
	}
	r := got[0]
	if string(r.Body) != string(body) {
		t.Errorf("body %s, want %s", r.Body, body)
	}
	if r.ContentType == nil || *r.ContentType != servicebus.ContentType || r.Subject == nil || *r.Subject != servicebus.Subject {
		t.Errorf("content type %v, subject %v", r.ContentType, r.Subject)
	}
	if r.ApplicationProperties["runId"] != runID || r.ApplicationProperties["tenantId"] != tenantID {
		t.Errorf("properties %v", r.ApplicationProperties)
	}
}

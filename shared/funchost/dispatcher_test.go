package funchost_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/seatsync/seatsync/shared/funchost"
	"github.com/seatsync/seatsync/shared/seatsync"
	"github.com/seatsync/seatsync/shared/tables"
	"github.com/seatsync/seatsync/shared/tables/tablestest"
)

func quiet() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }

func newQueue(t *testing.T, svc *tables.Service, opts *tables.QueueOptions) *tables.Queue {
	t.Helper()
	if err := svc.EnsureTables(t.Context(), tables.AllTables()...); err != nil {
		t.Fatal(err)
	}
	// Each test has its own queue (partition) in the shared tables.
	q, err := tables.NewQueue(svc, tablestest.Name("q"), opts)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func send(t *testing.T, q *tables.Queue, ids ...string) {
	t.Helper()
	var msgs []seatsync.Message
	for _, id := range ids {
		msgs = append(msgs, seatsync.Message{ID: id, Body: []byte(`{"id":"` + id + `"}`), Properties: map[string]any{"tenantId": id}})
	}
	if err := q.Send(t.Context(), msgs); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestDispatcherSettlesLikeServiceBus(t *testing.T) {
	svc := tablestest.Service(t)
	q := newQueue(t, svc, nil)
	var mu sync.Mutex
	seen := map[string][]int{} // message id → delivery counts seen by the handler
	props := map[string]any{}
	handler := func(_ context.Context, m funchost.ServiceBusMessage) error {
		mu.Lock()
		seen[m.MessageID] = append(seen[m.MessageID], m.DeliveryCount)
		props[m.MessageID] = m.ApplicationProperties["tenantId"]
		n := len(seen[m.MessageID])
		mu.Unlock()
		var body struct{ ID string }
		if err := json.Unmarshal(m.Body, &body); err != nil || body.ID != m.MessageID {
			return fmt.Errorf("body %q does not match message %s", m.Body, m.MessageID)
		}
		switch {
		case strings.HasPrefix(m.MessageID, "fail"):
			return seatsync.Errorf("graph_unavailable", "Microsoft Graph is unavailable.")
		case strings.HasPrefix(m.MessageID, "flaky") && n == 1:
			return errors.New("transient")
		}
		return nil
	}
	mux := http.NewServeMux()
	mux.Handle("POST /tenantsync", funchost.HandleServiceBus(quiet(), "tenantsync", "message", handler))
	d := &funchost.Dispatcher{Queue: q, Handler: mux, Function: "tenantsync", Binding: "message", Log: quiet(),
		Concurrency: 3, MaxDeliveries: 3, Backoff: func(int) time.Duration { return 20 * time.Millisecond }, Poll: 50 * time.Millisecond}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()

	ids := []string{"ok/1", "ok/2", "ok/3", "ok/4", "ok/5", "flaky/1", "fail/1"}
	send(t, q, ids...)
	send(t, q, "ok/1") // duplicate while queued: dropped
	waitFor(t, 20*time.Second, "the queue to drain", func() bool {
		s, err := q.Stats(t.Context())
		return err == nil && s.Active == 0
	})
	send(t, q, "ok/2") // duplicate after completion, within the window: dropped
	time.Sleep(300 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		want := []int{1}
		switch {
		case strings.HasPrefix(id, "flaky"):
			want = []int{1, 2}
		case strings.HasPrefix(id, "fail"):
			want = []int{1, 2, 3}
		}
		if fmt.Sprint(seen[id]) != fmt.Sprint(want) {
			t.Errorf("%s delivered with counts %v, want %v", id, seen[id], want)
		}
		if props[id] != id {
			t.Errorf("%s: application property tenantId = %v", id, props[id])
		}
	}
	dl, err := q.DeadLetters(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(dl) != 1 || dl[0].MessageID != "fail/1" || dl[0].DeliveryCount != 3 || dl[0].Reason != funchost.MaxDeliveryCountExceeded ||
		!strings.Contains(dl[0].ErrorDescription, "Microsoft Graph is unavailable.") || string(dl[0].Body) != `{"id":"fail/1"}` {
		t.Fatalf("dead letters = %+v", dl)
	}
	s, _ := q.Stats(t.Context())
	if s.Completed != len(ids) {
		t.Fatalf("completed rows = %d, want %d", s.Completed, len(ids))
	}
}

func TestQueueLocksAndDuplicateWindow(t *testing.T) {
	svc := tablestest.Service(t)
	now := time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	q := newQueue(t, svc, &tables.QueueOptions{LockDuration: time.Minute, DuplicateWindow: time.Hour, Now: clock})
	ctx := t.Context()
	send(t, q, "a")
	got, err := q.Receive(ctx, 5)
	if err != nil || len(got) != 1 || got[0].DeliveryCount != 1 {
		t.Fatalf("first receive: %v %+v", err, got)
	}
	if again, _ := q.Receive(ctx, 5); len(again) != 0 {
		t.Fatal("a locked message was received twice")
	}
	stale := *got[0]
	now = now.Add(61 * time.Second) // the lock expires: redelivered
	re, err := q.Receive(ctx, 5)
	if err != nil || len(re) != 1 || re[0].DeliveryCount != 2 {
		t.Fatalf("after lock expiry: %v %+v", err, re)
	}
	if err := q.Complete(ctx, &stale); !errors.Is(err, tables.ErrLockLost) {
		t.Fatalf("completing with a lost lock: %v", err)
	}
	if err := q.Renew(ctx, re[0]); err != nil {
		t.Fatal(err)
	}
	if err := q.Complete(ctx, re[0]); err != nil {
		t.Fatal(err)
	}
	send(t, q, "a")
	if r, _ := q.Receive(ctx, 5); len(r) != 0 {
		t.Fatal("a duplicate inside the window was delivered")
	}
	now = now.Add(2 * time.Hour)
	if n, err := q.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("sweep removed %d (err %v), want 1", n, err)
	}
	send(t, q, "a")
	if r, _ := q.Receive(ctx, 5); len(r) != 1 || r[0].DeliveryCount != 1 {
		t.Fatalf("after the window a resend is a new message: %+v", r)
	}
	for _, bad := range []string{"", strings.Repeat("x", 129)} {
		if err := q.Send(ctx, []seatsync.Message{{ID: bad}}); err == nil {
			t.Errorf("message id of %d chars accepted", len(bad))
		}
	}
}

// childEnv names the queue a re-executed test binary serves as a worker.
const childEnv = "SEATSYNC_TEST_DISPATCH_CHILD"

// TestKillAndRestartFinishesQueuedWork kills a worker process with SIGKILL
// while it has work in flight and queued, starts a new one, and checks that
// every message is then handled and completed: nothing is lost.
func TestKillAndRestartFinishesQueuedWork(t *testing.T) {
	if q := os.Getenv(childEnv); q != "" {
		runChild(t, q, os.Getenv(childEnv+"_WORK"))
		return
	}
	svc := tablestest.Service(t)
	q := newQueue(t, svc, nil)
	queueName := q.Name()
	work := tablestest.Name("work")
	if err := svc.EnsureTables(t.Context(), work); err != nil {
		t.Fatal(err)
	}
	const n = 40
	var ids []string
	for i := range n {
		ids = append(ids, fmt.Sprintf("run/%02d", i))
	}
	send(t, q, ids...)
	invocations := func() map[string][]int {
		out := map[string][]int{}
		for r, err := range svc.Table(work).Query(t.Context(), "") {
			if err != nil {
				t.Fatal(err)
			}
			var row struct {
				MessageID     string
				DeliveryCount int
			}
			_ = r.Decode(&row)
			out[row.MessageID] = append(out[row.MessageID], row.DeliveryCount)
		}
		return out
	}
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillAndRestartFinishesQueuedWork$", "-test.v")
		cmd.Env = append(os.Environ(), childEnv+"="+queueName, childEnv+"_WORK="+work)
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
		return cmd
	}

	first := start()
	waitFor(t, 30*time.Second, "the first worker to handle some messages", func() bool { return len(invocations()) >= 6 })
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = first.Process.Wait()
	s, err := q.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if s.Active == 0 {
		t.Fatal("the worker finished everything before it was killed; the test proves nothing")
	}
	t.Logf("killed with %d completed and %d not", s.Completed, s.Active)

	start()
	waitFor(t, 60*time.Second, "the second worker to finish the queue", func() bool {
		s, err := q.Stats(t.Context())
		return err == nil && s.Active == 0
	})
	inv := invocations()
	redelivered := 0
	for _, id := range ids {
		if len(inv[id]) == 0 {
			t.Errorf("message %s was never handled", id)
		}
		for _, c := range inv[id] {
			if c > 1 {
				redelivered++
			}
		}
	}
	s, _ = q.Stats(t.Context())
	if s.Completed != n {
		t.Fatalf("%d completed, want %d", s.Completed, n)
	}
	if dl, _ := q.DeadLetters(t.Context()); len(dl) != 0 {
		t.Fatalf("dead letters after a restart: %+v", dl)
	}
	// What the killed worker had in flight came back as a second delivery.
	if redelivered == 0 {
		t.Fatal("no message was delivered again after the kill")
	}
}

// runChild is the worker process: a dispatcher whose handler records each
// invocation in the work table and takes a while, so a kill lands mid-work.
func runChild(t *testing.T, queueName, work string) {
	svc := tablestest.Service(t)
	q, err := tables.NewQueue(svc, queueName, &tables.QueueOptions{LockDuration: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	wt := svc.Table(work)
	handler := func(ctx context.Context, m funchost.ServiceBusMessage) error {
		key := base64.RawURLEncoding.EncodeToString([]byte(m.MessageID))
		if _, err := wt.Upsert(ctx, map[string]any{"PartitionKey": "w", "RowKey": fmt.Sprintf("%s-%d", key, m.DeliveryCount),
			"MessageID": m.MessageID, "DeliveryCount": m.DeliveryCount}); err != nil {
			return err
		}
		select {
		case <-time.After(250 * time.Millisecond):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	mux := http.NewServeMux()
	mux.Handle("POST /tenantsync", funchost.HandleServiceBus(quiet(), "tenantsync", "message", handler))
	d := &funchost.Dispatcher{Queue: q, Handler: mux, Function: "tenantsync", Binding: "message", Log: quiet(), Concurrency: 4, Poll: 100 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_ = d.Run(ctx)
}

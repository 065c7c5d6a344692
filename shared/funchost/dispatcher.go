package funchost

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/seatsync/seatsync/shared/logctx"
	"github.com/seatsync/seatsync/shared/seatsync"
)

// LockingQueue is a queue with Service Bus's peek-lock operations; the
// durable table queue (tables.Queue) is one.
type LockingQueue interface {
	Receive(ctx context.Context, max int) ([]*seatsync.Delivery, error)
	Renew(ctx context.Context, d *seatsync.Delivery) error
	Complete(ctx context.Context, d *seatsync.Delivery) error
	Abandon(ctx context.Context, d *seatsync.Delivery, delay time.Duration) error
	DeadLetter(ctx context.Context, d *seatsync.Delivery, reason, description string) error
	LockDuration() time.Duration
	Notify() <-chan struct{}
}

// MaxDeliveryCountExceeded is the dead-letter reason Service Bus uses.
const MaxDeliveryCountExceeded = "MaxDeliveryCountExceeded"

// Dispatcher delivers queue messages to a Service Bus-triggered function in
// process, with the semantics the Functions host and Service Bus give it in
// Azure: a 2xx completes the message, anything else abandons it for
// redelivery, and after MaxDeliveries failures it is dead-lettered.
type Dispatcher struct {
	Queue    LockingQueue
	Handler  http.Handler // the mux that serves POST /{Function}
	Function string
	Binding  string
	Log      *slog.Logger
	// Concurrency bounds the invocations running at once (default 16).
	Concurrency int
	// MaxDeliveries before dead-lettering (default 10, as Service Bus).
	MaxDeliveries int
	// Backoff is the delay before redelivery after failed delivery n
	// (default: 2^(n-1) seconds with jitter, at most 5 minutes). Service
	// Bus redelivers at once; a delay spares a struggling Microsoft API.
	Backoff func(n int) time.Duration
	// Poll is how often to look for messages sent by another process or
	// becoming visible again (default 1s).
	Poll time.Duration
	// Grace is how long shutdown waits for running invocations before
	// cancelling them (default 30s).
	Grace time.Duration
}

// DefaultBackoff doubles from one second up to five minutes, with jitter so
// that a burst of failures does not come back as a burst.
func DefaultBackoff(n int) time.Duration {
	d := time.Second << min(n-1, 9)
	d = min(d, 5*time.Minute)
	return d/2 + rand.N(d/2+1)
}

func (d *Dispatcher) defaults() {
	if d.Concurrency <= 0 {
		d.Concurrency = 16
	}
	if d.MaxDeliveries <= 0 {
		d.MaxDeliveries = 10
	}
	if d.Backoff == nil {
		d.Backoff = DefaultBackoff
	}
	if d.Poll <= 0 {
		d.Poll = time.Second
	}
	if d.Grace <= 0 {
		d.Grace = 30 * time.Second
	}
}

// Run delivers messages until ctx is cancelled, then waits up to Grace for
// running invocations; those still running are cancelled and abandoned, so
// the next start delivers them again.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.defaults()
	// work outlives ctx by the grace period, so running invocations can
	// finish after a SIGTERM.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	slots := make(chan struct{}, d.Concurrency)
	freed := make(chan struct{}, 1)
	var wg sync.WaitGroup
	defer func() {
		waited := make(chan struct{})
		go func() { wg.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-time.After(d.Grace):
			d.Log.Warn("shutdown grace over: cancelling running invocations", "function", d.Function)
			cancelWork()
			<-waited
		}
	}()
	poll := time.NewTicker(d.Poll)
	defer poll.Stop()
	for {
		free := d.Concurrency - len(slots)
		got := 0
		if free > 0 {
			ds, err := d.Queue.Receive(ctx, free)
			if err != nil && ctx.Err() == nil {
				d.Log.Error("queue receive failed", "function", d.Function, "error", err.Error())
			}
			for _, del := range ds {
				slots <- struct{}{}
				wg.Go(func() {
					defer func() {
						<-slots
						select {
						case freed <- struct{}{}:
						default:
						}
					}()
					d.deliver(work, del)
				})
			}
			got = len(ds)
		}
		if got == free && free > 0 {
			continue // there may be more right away
		}
		select {
		case <-ctx.Done():
			return nil
		case <-d.Queue.Notify():
		case <-freed:
		case <-poll.C:
		}
	}
}

func (d *Dispatcher) deliver(ctx context.Context, del *seatsync.Delivery) {
	id := NewID()
	lctx := logctx.With(ctx, slog.String("invocationId", id), slog.String("function", d.Function),
		slog.String("messageId", del.ID), slog.Int("deliveryCount", del.DeliveryCount))
	payload, err := ServiceBusPayload(d.Function, d.Binding, del, time.Now())
	if err != nil {
		d.Log.ErrorContext(lctx, "cannot build invocation payload", "error", err.Error())
		d.settle(lctx, del, false, "payload: "+err.Error())
		return
	}
	invCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		d.keepLock(invCtx, del, cancel)
	}()
	res := Invoke(invCtx, d.Handler, d.Function, id, payload)
	cancel()
	<-renewed
	desc := ""
	if res.Response.Error != nil {
		desc = res.Response.Error.Code + ": " + res.Response.Error.Message
	}
	d.settle(lctx, del, res.OK(), desc)
}

// keepLock renews the lock at half its duration while the invocation runs,
// as the Functions host does (maxAutoLockRenewalDuration). If the lock is
// lost, the invocation is cancelled: someone else has the message now.
func (d *Dispatcher) keepLock(ctx context.Context, del *seatsync.Delivery, cancel func()) {
	t := time.NewTicker(d.Queue.LockDuration() / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := d.Queue.Renew(ctx, del); err != nil && ctx.Err() == nil {
				d.Log.WarnContext(ctx, "lock renewal failed; cancelling the invocation", "messageId", del.ID, "error", err.Error())
				cancel()
				return
			}
		}
	}
}

func (d *Dispatcher) settle(ctx context.Context, del *seatsync.Delivery, ok bool, desc string) {
	// Settle even during shutdown: the outcome is known and must not be lost.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var err error
	switch {
	case ok:
		err = d.Queue.Complete(sctx, del)
	case del.DeliveryCount >= d.MaxDeliveries:
		d.Log.ErrorContext(ctx, "message dead-lettered", "reason", MaxDeliveryCountExceeded, "description", desc)
		err = d.Queue.DeadLetter(sctx, del, MaxDeliveryCountExceeded, desc)
	default:
		delay := d.Backoff(del.DeliveryCount)
		if ctx.Err() != nil {
			delay = 0 // cancelled by shutdown, not failed: deliver again first
		}
		d.Log.WarnContext(ctx, "message abandoned for redelivery", "retryInMs", delay.Milliseconds(), "description", desc)
		err = d.Queue.Abandon(sctx, del, delay)
	}
	if err != nil {
		// A lost lock means the message is redelivered: at-least-once holds.
		d.Log.ErrorContext(ctx, "settling the message failed; it will be delivered again", "error", err.Error())
	}
}

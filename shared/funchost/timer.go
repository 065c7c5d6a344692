package funchost

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/seatsync/seatsync/shared/ncrontab"
)

// TimerRunner fires a timer-triggered function on its NCRONTAB schedule, in
// process, with the payload the host would send. Times are UTC, as on
// Linux Functions plans.
type TimerRunner struct {
	Handler  http.Handler
	Function string
	Binding  string
	Schedule *ncrontab.Schedule
	Log      *slog.Logger
	// Now and After are the clock (tests); nil for the real one.
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
}

// Run fires the function at every scheduled time until ctx is cancelled. A
// failed invocation is logged; the next one comes at the next scheduled time
// (a timer has no retry in Azure either, unless a retry policy is set).
func (r *TimerRunner) Run(ctx context.Context) error {
	now, after := r.Now, r.After
	if now == nil {
		now = time.Now
	}
	if after == nil {
		after = time.After
	}
	var last time.Time
	for {
		next := r.Schedule.Next(now().UTC())
		if next.IsZero() {
			r.Log.Error("timer schedule never fires", "function", r.Function, "schedule", r.Schedule.String())
			<-ctx.Done()
			return nil
		}
		r.Log.Info("timer scheduled", "function", r.Function, "next", next)
		select {
		case <-ctx.Done():
			return nil
		case <-after(next.Sub(now())):
		}
		if ctx.Err() != nil {
			return nil // both were ready: stopping wins
		}
		fired := now().UTC()
		following := r.Schedule.Next(fired)
		// Past due when we woke more than a minute late (a suspended laptop).
		payload, err := TimerPayload(r.Function, r.Binding, last, following, fired.Sub(next) > time.Minute, fired)
		if err != nil {
			r.Log.Error("cannot build timer payload", "function", r.Function, "error", err.Error())
			continue
		}
		id := NewID()
		// The handler puts the invocation id into its log context itself.
		res := Invoke(ctx, r.Handler, r.Function, id, payload)
		if !res.OK() {
			msg := ""
			if res.Response.Error != nil {
				msg = res.Response.Error.Message
			}
			r.Log.Error("timer invocation failed", "function", r.Function, "invocationId", id, "status", res.Status, "error", msg)
		}
		last = next
	}
}

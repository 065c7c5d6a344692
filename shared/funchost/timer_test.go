package funchost_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/seatsync/seatsync/shared/funchost"
	"github.com/seatsync/seatsync/shared/ncrontab"
)

// A fake clock: After records the wait it was asked for and fires at once,
// advancing the clock to the target.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits = append(c.waits, d)
	c.now = c.now.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

func TestTimerRunnerFiresOnSchedule(t *testing.T) {
	sched, err := ncrontab.Parse("0 0 2 * * *")
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.Date(2026, 11, 21, 23, 30, 0, 0, time.UTC)}
	ctx, cancel := context.WithCancel(t.Context())
	var got []funchost.Timer
	mux := http.NewServeMux()
	mux.Handle("POST /nightlysync", funchost.HandleTimer(quiet(), "nightlysync", "timer", func(_ context.Context, tm funchost.Timer) error {
		got = append(got, tm)
		if len(got) == 3 {
			cancel()
		}
		return nil
	}))
	r := &funchost.TimerRunner{Handler: mux, Function: "nightlysync", Binding: "timer", Schedule: sched, Log: quiet(),
		Now: clock.Now, After: clock.After}
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("fired %d times, want 3", len(got))
	}
	if clock.waits[0] != 150*time.Minute || clock.waits[1] != 24*time.Hour {
		t.Fatalf("waits = %v, want 2h30m then 24h", clock.waits[:2])
	}
	day := func(d int) time.Time { return time.Date(2026, 11, d, 2, 0, 0, 0, time.UTC) }
	if !got[0].Last.IsZero() || !got[0].Fired.Equal(day(22)) {
		t.Errorf("first firing: %+v", got[0])
	}
	if !got[1].Last.Equal(day(22)) || !got[1].Next.Equal(day(24)) || !got[1].Fired.Equal(day(23)) || got[1].IsPastDue {
		t.Errorf("second firing: %+v", got[1])
	}
}

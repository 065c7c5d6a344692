package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/seatsync/seatsync/shared/fanout"
	"github.com/seatsync/seatsync/shared/identity"
	"github.com/seatsync/seatsync/shared/seatsync"
	"github.com/seatsync/seatsync/shared/tables"
	"github.com/seatsync/seatsync/shared/tables/tablestest"
)

type failingRuns struct{ err error }

func (f failingRuns) StartRun(context.Context, string, []string) (seatsync.Run, error) {
	return seatsync.Run{}, f.err
}

// A run that cannot start because Microsoft refuses the partner's refresh
// token turns the connection invalid with the reason; a transient failure
// or another error leaves it connected.
func TestConnectionGuard(t *testing.T) {
	svc := tablestest.Isolated(t)
	if err := svc.EnsureTables(t.Context(), tables.AllTables()...); err != nil {
		t.Fatal(err)
	}
	store := tables.NewStore(svc)
	now := time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)
	connected := seatsync.Connection{Status: seatsync.Connected, PartnerTenantID: "7c2a9d5e-3b1f-4e8a-a6d4-0f5b2c8e1a93",
		ConsentedBy: "admin@partner.example", ConsentedAt: &now, CredentialsValidated: true, ValidatedAt: &now}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	for _, tc := range []struct {
		name        string
		err         error
		wantInvalid bool
	}{
		{"expired refresh token", fmt.Errorf("graph: %w", &identity.Error{Kind: identity.KindExpiredOrRevoked, AADSTS: 700082}), true},
		{"MFA required", &identity.Error{Kind: identity.KindInteractionRequired, AADSTS: 50076}, true},
		{"throttled", &identity.Error{Kind: identity.KindThrottled}, false},
		{"Graph outage", errors.New("graph: 503"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := store.PutConnection(t.Context(), connected); err != nil {
				t.Fatal(err)
			}
			g := connectionGuard{next: failingRuns{tc.err}, conns: store, log: log}
			if _, err := g.StartRun(t.Context(), seatsync.TriggerSchedule, nil); !errors.Is(err, tc.err) {
				t.Fatalf("the run's error was not passed on: %v", err)
			}
			c, err := store.Connection(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if !tc.wantInvalid {
				if c.Status != seatsync.Connected || !c.CredentialsValidated || c.LastError != nil {
					t.Fatalf("connection changed: %+v", c)
				}
				return
			}
			ie, _ := errors.AsType[*identity.Error](tc.err)
			if c.Status != seatsync.Invalid || c.CredentialsValidated || c.LastError == nil ||
				c.LastError.Code != ie.Code() || c.LastError.Message != ie.Message() || c.ConsentedBy != connected.ConsentedBy {
				t.Fatalf("connection = %+v, lastError %+v", c, c.LastError)
			}
		})
	}
}

type flakyFanout struct {
	resumeErr error
	resumed   []string
}

func (f *flakyFanout) StartRun(context.Context, string, []string) (seatsync.Run, error) {
	run := seatsync.Run{RunID: "0f8fad5b-d9cb-469f-a165-70867728950e", Status: seatsync.RunRunning}
	return run, &fanout.SendError{RunID: run.RunID, Err: errors.New("servicebus: 6 of 10 sent")}
}

func (f *flakyFanout) Resume(_ context.Context, runID string) error {
	f.resumed = append(f.resumed, runID)
	return f.resumeErr
}

// A fan-out that stopped part way is resumed once: success hides the
// hiccup, a second failure reports the first error with the run.
func TestResumingStarter(t *testing.T) {
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	f := &flakyFanout{}
	run, err := resumingStarter{f, log}.StartRun(t.Context(), seatsync.TriggerManual, nil)
	if err != nil || run.RunID == "" || len(f.resumed) != 1 || f.resumed[0] != run.RunID {
		t.Fatalf("run %+v, err %v, resumed %v", run, err, f.resumed)
	}
	f = &flakyFanout{resumeErr: errors.New("still down")}
	run, err = resumingStarter{f, log}.StartRun(t.Context(), seatsync.TriggerManual, nil)
	if _, ok := errors.AsType[*fanout.SendError](err); !ok || run.RunID == "" || len(f.resumed) != 1 {
		t.Fatalf("when Resume fails too: run %+v, err %v", run, err)
	}
}

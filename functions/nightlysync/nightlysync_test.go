package nightlysync_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/seatsync/seatsync/functions/nightlysync"
	"github.com/seatsync/seatsync/shared/funchost"
	"github.com/seatsync/seatsync/shared/seatsync"
)

type recordingRuns struct {
	triggers []string
	ids      [][]string
	err      error
}

func (r *recordingRuns) StartRun(_ context.Context, trigger string, ids []string) (seatsync.Run, error) {
	r.triggers = append(r.triggers, trigger)
	r.ids = append(r.ids, ids)
	return seatsync.Run{RunID: "0f8fad5b-d9cb-469f-a165-70867728950e", Trigger: trigger}, r.err
}

func TestHandleStartsAScheduledRunOfEveryTenant(t *testing.T) {
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	runs := &recordingRuns{}
	if err := nightlysync.New(log, runs).Handle(context.Background(), funchost.Timer{}); err != nil {
		t.Fatal(err)
	}
	if len(runs.triggers) != 1 || runs.triggers[0] != seatsync.TriggerSchedule || runs.ids[0] != nil {
		t.Fatalf("runs started: %v %v", runs.triggers, runs.ids)
	}
	runs.err = errors.New("graph: 503")
	if err := nightlysync.New(log, runs).Handle(context.Background(), funchost.Timer{}); !errors.Is(err, runs.err) {
		t.Fatalf("a failed start must fail the invocation: %v", err)
	}
	err := nightlysync.New(log, nil).Handle(context.Background(), funchost.Timer{})
	if seatsync.ErrorCode(err) != seatsync.ENotImplemented {
		t.Fatalf("without a starter: %v", err)
	}
}

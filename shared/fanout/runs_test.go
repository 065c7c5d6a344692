package fanout_test

// Tests of tables.Runs, which the fan-out records runs with (they live here
// because the run rows are the fan-out's).

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/seatsync/seatsync/shared/seatsync"
	"github.com/seatsync/seatsync/shared/tables"
)

func rid(n int) string { return fmt.Sprintf("aaaaaaaa-0000-4000-8000-%012d", n) }

func TestRunsCreateGetLatest(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	runs := e.runs

	if _, err := runs.Latest(ctx); seatsync.ErrorCode(err) != seatsync.ENotFound || !errors.Is(err, tables.ErrNotFound) {
		t.Errorf("Latest of none: %v", err)
	}

	t0 := time.Date(2026, 11, 22, 2, 0, 0, 123456789, time.UTC)
	var ids []string
	for i := range 230 { // three transactions
		ids = append(ids, tid(i))
	}
	fin := t0.Add(time.Hour)
	older := tables.RunRecord{Run: seatsync.Run{RunID: rid(1), Trigger: seatsync.TriggerSchedule, Status: seatsync.RunRunning,
		StartedAt: t0, TenantsTotal: len(ids)},
		Warnings: []seatsync.Problem{{Code: "partner_center_unavailable", Message: "The Partner Center customer list could not be read."}}}
	newer := tables.RunRecord{Run: seatsync.Run{RunID: rid(2), Trigger: seatsync.TriggerManual, Status: seatsync.RunFailed,
		StartedAt: t0.Add(time.Nanosecond), FinishedAt: &fin},
		Error: &seatsync.Problem{Code: "graph_unauthorized", Message: "No customer list could be read."}}

	// The newer first: the latest is by start time, not by write.
	if err := runs.Create(ctx, newer, nil); err != nil {
		t.Fatal(err)
	}
	if err := runs.Create(ctx, older, ids); err != nil {
		t.Fatal(err)
	}
	// Again, as a retry would: no error, nothing changes.
	if err := runs.Create(ctx, older, ids); err != nil {
		t.Fatalf("Create again: %v", err)
	}

	for _, want := range []tables.RunRecord{older, newer} {
		got, err := runs.Get(ctx, want.RunID)
		if err != nil {
			t.Fatal(err)
		}
		if !sameRecord(got, want) {
			t.Errorf("Get(%s) =\n %+v\nwant\n %+v", want.RunID, got, want)
		}
	}
	if got, err := runs.Latest(ctx); err != nil || !sameRecord(got, newer) {
		t.Errorf("Latest = %+v, %v; want %s", got, err, newer.RunID)
	}
	if got, err := runs.TenantIDs(ctx, older.RunID); err != nil || !slices.Equal(got, ids) {
		t.Errorf("TenantIDs: %d, %v; want %d", len(got), err, len(ids))
	}
	// Every tenant of the run is pending.
	n := 0
	for r, err := range e.svc.Table(tables.RunTenantsTable).Query(ctx, "PartitionKey eq "+tables.Quote(older.RunID)) {
		if err != nil {
			t.Fatal(err)
		}
		var row struct{ Status string }
		if err := r.Decode(&row); err != nil || row.Status != tables.RunTenantPending {
			t.Errorf("run tenant %s: %+v, %v", r.RowKey, row, err)
		}
		n++
	}
	if n != len(ids) {
		t.Errorf("%d run tenant rows, want %d", n, len(ids))
	}

	for _, id := range []string{rid(3), "not-a-guid", "../x", ""} {
		if _, err := runs.Get(ctx, id); seatsync.ErrorCode(err) != seatsync.ENotFound || !errors.Is(err, tables.ErrNotFound) {
			t.Errorf("Get(%q): %v", id, err)
		}
	}
	if got, err := runs.TenantIDs(ctx, rid(3)); err != nil || len(got) != 0 {
		t.Errorf("TenantIDs of no run: %v, %v", got, err)
	}
	if err := runs.Create(ctx, tables.RunRecord{Run: seatsync.Run{RunID: "x", StartedAt: t0}}, nil); err == nil {
		t.Error("Create with a bad run id succeeded")
	}
	if err := runs.Create(ctx, tables.RunRecord{Run: seatsync.Run{RunID: rid(4)}}, nil); err == nil {
		t.Error("Create without a start time succeeded")
	}
}

// A Create that stopped after the index row leaves no run; doing it again
// completes it.
func TestRunsCreateCompletesAfterPartialWrite(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	rec := tables.RunRecord{Run: seatsync.Run{RunID: rid(5), Trigger: seatsync.TriggerConsent, Status: seatsync.RunRunning,
		StartedAt: time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC), TenantsTotal: 1}}
	if err := e.runs.Create(ctx, rec, []string{tid(1)}); err != nil {
		t.Fatal(err)
	}
	// Remove the run row, keeping the index row.
	tb := e.svc.Table(tables.RunsTable)
	for r, err := range tb.Query(ctx, "") {
		if err != nil {
			t.Fatal(err)
		}
		if r.RowKey != "id-"+rec.RunID {
			if err := tb.Delete(ctx, r.PartitionKey, r.RowKey, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := e.runs.Get(ctx, rec.RunID); seatsync.ErrorCode(err) != seatsync.ENotFound {
		t.Errorf("Get of a half-written run: %v", err)
	}
	e.noRun(t)
	if err := e.runs.Create(ctx, rec, []string{tid(1)}); err != nil {
		t.Fatal(err)
	}
	if got, err := e.runs.Get(ctx, rec.RunID); err != nil || !sameRecord(got, rec) {
		t.Errorf("Get = %+v, %v", got, err)
	}
}

func sameRecord(a, b tables.RunRecord) bool {
	if !a.StartedAt.Equal(b.StartedAt) || (a.FinishedAt == nil) != (b.FinishedAt == nil) ||
		(a.FinishedAt != nil && !a.FinishedAt.Equal(*b.FinishedAt)) {
		return false
	}
	a.StartedAt, b.StartedAt, a.FinishedAt, b.FinishedAt = time.Time{}, time.Time{}, nil, nil
	if len(a.Warnings) == 0 && len(b.Warnings) == 0 {
		a.Warnings, b.Warnings = nil, nil
	}
	return reflect.DeepEqual(a, b)
}

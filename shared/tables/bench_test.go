package tables_test

import (
	"fmt"
	"testing"

	"github.com/seatsync/seatsync/shared/seatsync"
	"github.com/seatsync/seatsync/shared/tables"
	"github.com/seatsync/seatsync/shared/tables/tablestest"
)

// BenchmarkQueueRoundTrip measures the durable queue's cost per message
// (send, receive with lock, complete) against Azurite: the ceiling of
// standalone mode's fan-out, before any Microsoft call.
func BenchmarkQueueRoundTrip(b *testing.B) {
	svc := tablestest.Service(b)
	if err := svc.EnsureTables(b.Context(), tables.AllTables()...); err != nil {
		b.Fatal(err)
	}
	q, err := tables.NewQueue(svc, tablestest.Name("bench"), nil)
	if err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		id := fmt.Sprintf("run/%d", i)
		i++
		if err := q.Send(b.Context(), []seatsync.Message{{ID: id, Body: []byte(`{}`)}}); err != nil {
			b.Fatal(err)
		}
		ds, err := q.Receive(b.Context(), 1)
		if err != nil || len(ds) != 1 {
			b.Fatalf("receive: %v (%d)", err, len(ds))
		}
		if err := q.Complete(b.Context(), ds[0]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBatchUpsert measures writing rows in transactions of 100.
func BenchmarkBatchUpsert(b *testing.B) {
	svc := tablestest.Service(b)
	name := tablestest.Name("bench")
	if err := svc.EnsureTables(b.Context(), name); err != nil {
		b.Fatal(err)
	}
	t := svc.Table(name)
	b.ReportAllocs()
	for b.Loop() {
		batch := t.Batch()
		for j := range 100 {
			if err := batch.Upsert(b.Context(), item{"p", fmt.Sprintf("r%03d", j), "licence", j}); err != nil {
				b.Fatal(err)
			}
		}
		if err := batch.Flush(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}

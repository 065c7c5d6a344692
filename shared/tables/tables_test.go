package tables_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/seatsync/seatsync/shared/tables"
	"github.com/seatsync/seatsync/shared/tables/tablestest"
)

type item struct {
	PartitionKey string
	RowKey       string
	Name         string
	Count        int
}

// countingTransport counts the transactions sent, and their sizes.
type countingTransport struct {
	batches atomic.Int32
	biggest atomic.Int32
}

func (c *countingTransport) Do(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/$batch") && r.Body != nil {
		c.batches.Add(1)
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		n := int32(bytes.Count(body, []byte(" HTTP/1.1\r\n")))
		for {
			old := c.biggest.Load()
			if n <= old || c.biggest.CompareAndSwap(old, n) {
				break
			}
		}
	}
	return http.DefaultClient.Do(r)
}

func newTable(t *testing.T, tr *countingTransport) *tables.Table {
	t.Helper()
	opts := &tables.Options{}
	if tr != nil {
		opts.ClientOptions = azcore.ClientOptions{Transport: tr}
	}
	svc, err := tables.NewFromConnectionString(tablestest.ConnectionString(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	name := tablestest.Name("items")
	if err := svc.EnsureTables(t.Context(), name, name); err != nil { // twice: idempotent
		t.Fatal(err)
	}
	return svc.Table(name)
}

func TestCRUDAndConditionalWrites(t *testing.T) {
	ctx := t.Context()
	tb := newTable(t, nil)
	if _, err := tb.Get(ctx, "p", "missing"); !errors.Is(err, tables.ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}
	etag, err := tb.Insert(ctx, item{"p", "r1", "first", 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Insert(ctx, item{"p", "r1", "again", 2}); !errors.Is(err, tables.ErrExists) {
		t.Fatalf("second insert: %v", err)
	}
	row, err := tb.Get(ctx, "p", "r1")
	if err != nil {
		t.Fatal(err)
	}
	var got item
	if err := row.Decode(&got); err != nil || got != (item{"p", "r1", "first", 1}) || row.ETag != etag {
		t.Fatalf("got %+v etag %q (want %q), err %v", got, row.ETag, etag, err)
	}
	etag2, err := tb.Replace(ctx, item{"p", "r1", "second", 2}, etag)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Replace(ctx, item{"p", "r1", "stale", 3}, etag); !errors.Is(err, tables.ErrPrecondition) {
		t.Fatalf("replace with stale etag: %v", err)
	}
	if err := tb.Delete(ctx, "p", "r1", etag); !errors.Is(err, tables.ErrPrecondition) {
		t.Fatalf("delete with stale etag: %v", err)
	}
	if err := tb.Delete(ctx, "p", "r1", etag2); err != nil {
		t.Fatal(err)
	}
	if err := tb.Delete(ctx, "p", "r1", ""); err != nil {
		t.Fatalf("deleting a missing entity is not an error: %v", err)
	}
	if _, err := tb.Upsert(ctx, item{"p", "r2", "up", 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Upsert(ctx, item{"p", "r2", "up", 2}); err != nil {
		t.Fatal(err)
	}
	row, _ = tb.Get(ctx, "p", "r2")
	_ = row.Decode(&got)
	if got.Count != 2 {
		t.Fatalf("upsert did not replace: %+v", got)
	}
}

func TestBadKeysFailBeforeTheService(t *testing.T) {
	ctx := t.Context()
	tb := newTable(t, nil)
	for _, rk := range []string{"run/tenant", `a\b`, "a#b", "a?b", "a\nb", strings.Repeat("x", 1025)} {
		if _, err := tb.Upsert(ctx, item{"p", rk, "", 0}); err == nil || !strings.Contains(err.Error(), "RowKey") {
			t.Errorf("key %.20q: err = %v", rk, err)
		}
	}
	if _, err := tb.Upsert(ctx, map[string]string{"RowKey": "r"}); err == nil {
		t.Error("entity without PartitionKey accepted")
	}
	n := 0
	for _, err := range tb.Query(ctx, "") {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 0 {
		t.Fatalf("%d rows written by rejected calls", n)
	}
}

func TestBatchSplitsByPartitionAndSize(t *testing.T) {
	ctx := t.Context()
	tr := &countingTransport{}
	tb := newTable(t, tr)
	b := tb.Batch()
	for i := range 250 {
		pk := "a"
		if i%5 == 0 {
			pk = "b" // 50 in b, 200 in a
		}
		if err := b.Upsert(ctx, item{pk, fmt.Sprintf("r%03d", i), "v1", i}); err != nil {
			t.Fatal(err)
		}
	}
	// The same entity twice: the later write must win.
	if err := b.Upsert(ctx, item{"b", "r000", "v2", -1}); err != nil {
		t.Fatal(err)
	}
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if b.Len() != 0 {
		t.Fatalf("%d writes left after Flush", b.Len())
	}
	if got := tr.biggest.Load(); got != tables.MaxBatch {
		t.Fatalf("largest transaction had %d entities", got)
	}
	// a: 200 → 2 transactions; b: 50 flushed early by the repeat, then 1 → 2.
	if got := tr.batches.Load(); got != 4 {
		t.Fatalf("sent %d transactions, want 4", got)
	}
	counts := map[string]int{}
	for r, err := range tb.Query(ctx, "") {
		if err != nil {
			t.Fatal(err)
		}
		counts[r.PartitionKey]++
	}
	if counts["a"] != 200 || counts["b"] != 50 {
		t.Fatalf("rows per partition: %v", counts)
	}
	row, err := tb.Get(ctx, "b", "r000")
	if err != nil {
		t.Fatal(err)
	}
	var got item
	_ = row.Decode(&got)
	if got.Name != "v2" {
		t.Fatalf("repeat in batch: got %+v", got)
	}
	// Deletes go in batches too.
	d := tb.Batch()
	for i := 0; i < 250; i += 5 {
		if err := d.Delete(ctx, "b", fmt.Sprintf("r%03d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for r, err := range tb.Query(ctx, "PartitionKey eq "+tables.Quote("b")) {
		t.Fatalf("row %s left after delete batch (err %v)", r.RowKey, err)
	}
}

func TestSubmitRefusesWhatTheServiceWould(t *testing.T) {
	tr := &countingTransport{}
	tb := newTable(t, tr)
	var tooMany, mixed []aztables.TransactionAction
	for i := range tables.MaxBatch + 1 {
		tooMany = append(tooMany, aztables.TransactionAction{ActionType: aztables.TransactionTypeInsertReplace, Entity: fmt.Appendf(nil, `{"PartitionKey":"p","RowKey":"r%d"}`, i)})
	}
	mixed = append(mixed, tooMany[0], aztables.TransactionAction{ActionType: aztables.TransactionTypeInsertReplace, Entity: []byte(`{"PartitionKey":"q","RowKey":"r"}`)})
	if err := tb.Submit(t.Context(), tooMany); err == nil || !strings.Contains(err.Error(), "at most 100") {
		t.Fatalf("101 entities: %v", err)
	}
	if err := tb.Submit(t.Context(), mixed); err == nil || !strings.Contains(err.Error(), "one partition") {
		t.Fatalf("two partitions: %v", err)
	}
	if n := tr.batches.Load(); n != 0 {
		t.Fatalf("%d transactions reached the service", n)
	}
}

func TestPaging(t *testing.T) {
	ctx := t.Context()
	tb := newTable(t, nil)
	b := tb.Batch()
	for i := range 230 {
		if err := b.Upsert(ctx, item{fmt.Sprintf("p%d", i%3), fmt.Sprintf("r%03d", i), "", i}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	token, pages := "", 0
	for {
		rows, next, err := tb.Page(ctx, "", 100, token)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(rows) > 100 {
			t.Fatalf("page of %d rows, top was 100", len(rows))
		}
		for _, r := range rows {
			if seen[r.PartitionKey+r.RowKey] {
				t.Fatalf("row %s/%s on two pages", r.PartitionKey, r.RowKey)
			}
			seen[r.PartitionKey+r.RowKey] = true
		}
		if next == "" {
			break
		}
		token = next
	}
	if len(seen) != 230 || pages < 3 {
		t.Fatalf("saw %d rows in %d pages", len(seen), pages)
	}
	n := 0
	for _, err := range tb.Query(ctx, "PartitionKey eq "+tables.Quote("p1")+" and Count ge 200") {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 10 { // 202, 205, …, 229
		t.Fatalf("filtered query returned %d rows, want 10", n)
	}
	if _, _, err := tb.Page(ctx, "", 10, "not-a-token"); !errors.Is(err, tables.ErrBadContinuation) {
		t.Fatalf("bad continuation: %v", err)
	}
}

func TestQuoteAndTime(t *testing.T) {
	if got := tables.Quote("O'Brien's"); got != "'O''Brien''s'" {
		t.Fatalf("Quote = %s", got)
	}
	a, b := "2026-11-22T02:00:00.5Z", "2026-11-22T02:00:00.123456789Z"
	ta, _ := tables.ParseTime(tables.FormatTime(mustTime(a)))
	tbb, _ := tables.ParseTime(tables.FormatTime(mustTime(b)))
	if !ta.Equal(mustTime(a)) || !tbb.Equal(mustTime(b)) {
		t.Fatal("time round trip failed")
	}
	// String order is time order, which filters rely on.
	if !(tables.FormatTime(mustTime(b)) < tables.FormatTime(mustTime(a))) {
		t.Fatal("formatted times do not sort as times")
	}
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestTablePrefixIsolates(t *testing.T) {
	ctx := t.Context()
	cs := tablestest.ConnectionString(t)
	a, err := tables.NewFromConnectionString(cs, &tables.Options{TablePrefix: tablestest.Name("a")})
	if err != nil {
		t.Fatal(err)
	}
	b, err := tables.NewFromConnectionString(cs, &tables.Options{TablePrefix: tablestest.Name("b")})
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range []*tables.Service{a, b} {
		if err := svc.EnsureTables(ctx, tables.TenantsTable); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Table(tables.TenantsTable).Upsert(ctx, item{"p", "r", "in a", 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Table(tables.TenantsTable).Get(ctx, "p", "r"); !errors.Is(err, tables.ErrNotFound) {
		t.Fatalf("a row written under one prefix is visible under another: %v", err)
	}
	if got := a.Table(tables.TenantsTable).Name(); !strings.HasSuffix(got, tables.TenantsTable) || got == tables.TenantsTable {
		t.Fatalf("prefixed name = %q", got)
	}
	for _, bad := range []string{"1abc", "a-b", "a_b", strings.Repeat("a", 21)} {
		if _, err := tables.NewFromConnectionString(cs, &tables.Options{TablePrefix: bad}); err == nil {
			t.Errorf("prefix %q accepted", bad)
		}
	}
}

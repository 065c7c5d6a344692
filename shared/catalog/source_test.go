package catalog_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seatsync/seatsync/shared/catalog"
	"github.com/seatsync/seatsync/shared/tables"
	"github.com/seatsync/seatsync/shared/tables/tablestest"
)

// bodyMarker is in every failure body the test server sends, so the tests
// can check that no log line repeats a response body.
const bodyMarker = "BODY-MARKER-7f3a"

// csvServer serves a CSV with validators, as download.microsoft.com does,
// and can be told to fail.
type csvServer struct {
	*httptest.Server
	requests atomic.Int32

	mu      sync.Mutex
	body    []byte
	etag    string
	lastMod string
	mode    string        // "", "503" or "garbage"
	gate    chan struct{} // when set, requests wait for it to close
	headers http.Header   // of the last request
}

func newCSVServer(t *testing.T, body []byte) *csvServer {
	s := &csvServer{}
	s.set(body)
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// set changes the CSV served, and its validators with it.
func (s *csvServer) set(body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sum := sha256.Sum256(body)
	s.body = body
	s.etag = `"` + hex.EncodeToString(sum[:8]) + `"`
	s.lastMod = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(sum[0]) * time.Hour).Format(http.TimeFormat)
}

func (s *csvServer) setMode(m string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode = m
}

func (s *csvServer) lastHeaders() http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.headers
}

func (s *csvServer) serve(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	s.mu.Lock()
	s.headers = r.Header.Clone()
	gate, mode, body, etag, lastMod := s.gate, s.mode, s.body, s.etag, s.lastMod
	s.mu.Unlock()
	if gate != nil {
		<-gate
	}
	switch mode {
	case "503":
		http.Error(w, "service unavailable "+bodyMarker, http.StatusServiceUnavailable)
		return
	case "garbage":
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html><body>" + bodyMarker + " maintenance</body></html>"))
		return
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && inm == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("ETag", etag)
	w.Header().Set("Last-Modified", lastMod)
	w.Header().Set("Content-Type", "text/csv")
	_, _ = w.Write(body)
}

// clock is a settable Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// logBuffer collects log lines from concurrent writers.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// fixture is one test's server, clock, log and cache table.
type fixture struct {
	srv   *csvServer
	clock *clock
	logs  *logBuffer
	table *tables.Table
}

func newFixture(t *testing.T, body []byte) *fixture {
	t.Helper()
	svc := tablestest.Isolated(t)
	if err := svc.EnsureTables(t.Context(), "skucatalog"); err != nil {
		t.Fatal(err)
	}
	f := &fixture{
		srv:   newCSVServer(t, body),
		clock: &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)},
		logs:  &logBuffer{},
		table: svc.Table("skucatalog"),
	}
	t.Cleanup(func() {
		if strings.Contains(f.logs.String(), bodyMarker) {
			t.Errorf("a response body reached the log:\n%s", f.logs.String())
		}
	})
	return f
}

// source is a new Source over the fixture: a new process, as far as the
// Source can tell.
func (f *fixture) source() *catalog.Source {
	return catalog.NewSource(f.srv.URL+"/Product%20names.csv", f.table, &catalog.Options{
		HTTPClient: f.srv.Client(),
		MaxAge:     24 * time.Hour,
		Now:        f.clock.Now,
		Log:        slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
}

func (f *fixture) requests() int { return int(f.srv.requests.Load()) }

// manifest reads the cache's manifest row.
func (f *fixture) manifest(t *testing.T) map[string]any {
	t.Helper()
	row, err := f.table.Get(t.Context(), "csv", "manifest")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := row.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// chunkRows counts the cache's chunk rows, of every version.
func (f *fixture) chunkRows(t *testing.T) int {
	t.Helper()
	n := 0
	for row, err := range f.table.Query(t.Context(), "") {
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(row.RowKey, "chunk-") {
			n++
		}
	}
	return n
}

func mustCatalog(t *testing.T, s *catalog.Source) *catalog.Catalog {
	t.Helper()
	c, err := s.Catalog(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const contoso = "0a000000-0000-4000-8000-00000000000a"

func TestSourceFetchesCachesAndServesANewProcessFromTheTable(t *testing.T) {
	f := newFixture(t, readQuirks(t))
	s := f.source()
	c := mustCatalog(t, s)
	if f.requests() != 1 || c.Len() != 8 || c.Name(contoso, "") != "Contoso Suite E1" {
		t.Fatalf("first call: %d requests, %d products", f.requests(), c.Len())
	}
	if h := f.srv.lastHeaders(); h.Get("If-None-Match") != "" || h.Get("If-Modified-Since") != "" {
		t.Errorf("the first request was conditional: %v", h)
	}
	m := f.manifest(t)
	sum := sha256.Sum256(readQuirks(t))
	if m["SHA256"] != hex.EncodeToString(sum[:]) || m["SourceETag"] != f.srv.etag || m["SourceLastModified"] != f.srv.lastMod ||
		m["FetchedAt"] != tables.FormatTime(f.clock.Now()) || m["Chunks"] != float64(1) {
		t.Errorf("manifest: %v", m)
	}

	// Same process, within MaxAge: memory.
	f.clock.Advance(23 * time.Hour)
	if c2 := mustCatalog(t, s); c2 != c || f.requests() != 1 {
		t.Fatalf("second call: %d requests, same catalog %v", f.requests(), c2 == c)
	}
	// A new process, the table copy still fresh: no request at all.
	c3 := mustCatalog(t, f.source())
	if f.requests() != 1 || c3.Len() != 8 || c3.Stats() != c.Stats() {
		t.Fatalf("new process: %d requests, %d products", f.requests(), c3.Len())
	}
	for _, id := range []string{contoso, "0f000000-0000-4000-8000-00000000000f", "0e000000-0000-4000-8000-00000000000e"} {
		a, _ := c.Lookup(id)
		b, _ := c3.Lookup(id)
		if a.Name != b.Name || a.PartNumber != b.PartNumber || len(a.ServicePlans) != len(b.ServicePlans) {
			t.Errorf("%s: downloaded %+v, from the table %+v", id, a, b)
		}
	}
}

func TestSourceConditionalRefresh(t *testing.T) {
	f := newFixture(t, readQuirks(t))
	s := f.source()
	first := mustCatalog(t, s)
	f.clock.Advance(25 * time.Hour)

	// Unchanged: a 304 keeps the data and makes it fresh again.
	c := mustCatalog(t, s)
	if f.requests() != 2 || c != first {
		t.Fatalf("after MaxAge: %d requests, same catalog %v", f.requests(), c == first)
	}
	h := f.srv.lastHeaders()
	if h.Get("If-None-Match") != f.srv.etag || h.Get("If-Modified-Since") != f.srv.lastMod {
		t.Fatalf("refresh was not conditional: If-None-Match %q, If-Modified-Since %q", h.Get("If-None-Match"), h.Get("If-Modified-Since"))
	}
	if m := f.manifest(t); m["FetchedAt"] != tables.FormatTime(f.clock.Now()) {
		t.Fatalf("a 304 did not update fetchedAt: %v", m["FetchedAt"])
	}
	if f.chunkRows(t) != 1 {
		t.Fatalf("%d chunk rows after a 304", f.chunkRows(t))
	}
	// ... for this process and, through the table, for a new one.
	mustCatalog(t, s)
	if mustCatalog(t, f.source()).Len() != 8 || f.requests() != 2 {
		t.Fatalf("after the 304: %d requests", f.requests())
	}

	// Changed: the new CSV replaces the old, in memory and in the table,
	// and the old version's chunks go.
	changed := append(readQuirks(t), []byte("Proseware Backup,PROSEWARE_BK,0a0b0000-0000-4000-8000-0000000000ab,BK,1a0b0000-0000-4000-8000-000000000001,Backup\r\n")...)
	f.srv.set(changed)
	f.clock.Advance(25 * time.Hour)
	c = mustCatalog(t, s)
	if f.requests() != 3 || c.Len() != 9 || c.Name("0a0b0000-0000-4000-8000-0000000000ab", "") != "Proseware Backup" {
		t.Fatalf("after the change: %d requests, %d products", f.requests(), c.Len())
	}
	sum := sha256.Sum256(changed)
	if m := f.manifest(t); m["SHA256"] != hex.EncodeToString(sum[:]) || m["SourceETag"] != f.srv.etag {
		t.Fatalf("manifest after the change: %v", m)
	}
	if n := f.chunkRows(t); n != 1 {
		t.Fatalf("%d chunk rows after the change, want only the new version's", n)
	}
	if c := mustCatalog(t, f.source()); c.Len() != 9 || f.requests() != 3 {
		t.Fatalf("new process after the change: %d products, %d requests", c.Len(), f.requests())
	}
}

func TestSourceKeepsTheOldCopyWhenTheDownloadFails(t *testing.T) {
	f := newFixture(t, readQuirks(t))
	s := f.source()
	first := mustCatalog(t, s)
	before := f.manifest(t)

	for _, mode := range []string{"503", "garbage"} {
		t.Run(mode, func(t *testing.T) {
			f.srv.setMode(mode)
			f.clock.Advance(25 * time.Hour)
			n := f.requests()
			c, err := s.Catalog(t.Context())
			if err != nil || c != first {
				t.Fatalf("got %v, %v; want the old copy", c, err)
			}
			if f.requests() != n+1 {
				t.Fatalf("%d requests, want 1", f.requests()-n)
			}
			if !strings.Contains(f.logs.String(), "using the cached copy") {
				t.Errorf("no warning logged:\n%s", f.logs.String())
			}
			// The failure is remembered for a while: callers do not each
			// ask a failing server again.
			f.clock.Advance(30 * time.Second)
			if c, err := s.Catalog(t.Context()); err != nil || c != first || f.requests() != n+1 {
				t.Fatalf("right after the failure: %v, %d requests", err, f.requests()-n)
			}
			// A new process falls back to the table's (stale) copy.
			if c, err := f.source().Catalog(t.Context()); err != nil || c.Len() != first.Len() {
				t.Fatalf("new process: %v", err)
			}
			// Nothing was stored.
			after := f.manifest(t)
			if after["SHA256"] != before["SHA256"] || after["FetchedAt"] != before["FetchedAt"] {
				t.Fatalf("the manifest changed: %v -> %v", before, after)
			}
		})
	}

	// Once the server is back, the next check after the retry delay
	// refreshes the copy.
	f.srv.setMode("")
	f.clock.Advance(2 * time.Minute)
	mustCatalog(t, s)
	if m := f.manifest(t); m["FetchedAt"] != tables.FormatTime(f.clock.Now()) {
		t.Fatalf("not refreshed after recovery: %v", m)
	}
}

func TestSourceUnavailableWithoutACopy(t *testing.T) {
	f := newFixture(t, readQuirks(t))
	f.srv.setMode("503")
	s := f.source()
	c, err := s.Catalog(t.Context())
	if !errors.Is(err, catalog.ErrUnavailable) || c != nil {
		t.Fatalf("got %v, %v; want ErrUnavailable", c, err)
	}
	for _, want := range []string{"catalog: ", "unavailable", "part numbers", "503"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if n := strings.Count(err.Error(), "catalog:"); n != 1 {
		t.Errorf("error %q names the package %d times", err, n)
	}
	if strings.Contains(err.Error(), bodyMarker) {
		t.Errorf("the error repeats the response body: %v", err)
	}
	// What the caller then shows.
	if got := c.Name(contoso, "CONTOSO_E1"); got != "CONTOSO_E1" {
		t.Errorf("Name on the nil catalog = %q", got)
	}
	if _, err := catalog.NewSource(f.srv.URL, nil, nil).Catalog(t.Context()); !errors.Is(err, catalog.ErrUnavailable) {
		t.Errorf("without a table: %v", err)
	}
	if _, err := s.Catalog(t.Context()); !errors.Is(err, catalog.ErrUnavailable) || f.requests() != 2 {
		t.Fatalf("within the retry delay: %v, %d requests", err, f.requests())
	}

	f.srv.setMode("")
	f.clock.Advance(2 * time.Minute)
	if c := mustCatalog(t, s); c.Len() != 8 || f.requests() != 3 {
		t.Fatalf("after recovery: %d products, %d requests", c.Len(), f.requests())
	}
}

func TestSourceConcurrentCallersShareOneDownload(t *testing.T) {
	f := newFixture(t, readQuirks(t))
	gate := make(chan struct{})
	f.srv.mu.Lock()
	f.srv.gate = gate
	f.srv.mu.Unlock()
	s := f.source()

	const callers = 20
	var wg sync.WaitGroup
	results := make(chan *catalog.Catalog, callers)
	start := make(chan struct{})
	for range callers {
		wg.Go(func() {
			<-start
			c, err := s.Catalog(t.Context())
			if err != nil {
				t.Error(err)
			}
			results <- c
		})
	}
	close(start)
	// Hold the download until it has started and the callers have had
	// time to pile up behind it.
	for f.requests() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	close(gate)
	wg.Wait()
	close(results)
	var first *catalog.Catalog
	for c := range results {
		if first == nil {
			first = c
		}
		if c == nil || c != first {
			t.Fatal("callers got different catalogs")
		}
	}
	if f.requests() != 1 {
		t.Fatalf("%d callers made %d requests, want 1", callers, f.requests())
	}
}

func TestSourceACallerGivingUpDoesNotFailTheOthers(t *testing.T) {
	f := newFixture(t, readQuirks(t))
	gate := make(chan struct{})
	f.srv.mu.Lock()
	f.srv.gate = gate
	f.srv.mu.Unlock()
	s := f.source()

	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := s.Catalog(ctx)
		errc <- err
	}()
	for f.requests() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("the cancelled caller got %v", err)
	}
	close(gate)
	if c := mustCatalog(t, s); c.Len() != 8 || f.requests() != 1 {
		t.Fatalf("the next caller: %d products, %d requests", c.Len(), f.requests())
	}
}

func TestSourceLargeCatalogInSeveralChunks(t *testing.T) {
	big := generate(20_000, 10, 7)
	if len(big) < 3_000_000 {
		t.Fatalf("generated only %d bytes", len(big))
	}
	f := newFixture(t, big)
	c := mustCatalog(t, f.source())
	if c.Len() != 2000 {
		t.Fatalf("%d products", c.Len())
	}
	chunks, _ := f.manifest(t)["Chunks"].(float64)
	if chunks < 3 || f.chunkRows(t) != int(chunks) {
		t.Fatalf("manifest says %v chunks, table has %d rows", chunks, f.chunkRows(t))
	}
	t.Logf("%d bytes of CSV in %v chunks", len(big), chunks)
	// The chunks are binary properties, as the service stores them.
	row, err := f.table.Get(t.Context(), "csv", "chunk-"+f.manifest(t)["SHA256"].(string)+"-0000")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(row.JSON, []byte(`"Data@odata.type":"Edm.Binary"`)) {
		t.Errorf("the chunk is not Edm.Binary: %.200s", row.JSON)
	}
	// A new process reads it back whole, without a download.
	c2 := mustCatalog(t, f.source())
	if f.requests() != 1 || c2.Len() != c.Len() || c2.Stats() != c.Stats() {
		t.Fatalf("from the table: %d requests, %+v vs %+v", f.requests(), c2.Stats(), c.Stats())
	}
}

func TestSourceDownloadsAgainWhenTheTableCopyIsDamaged(t *testing.T) {
	f := newFixture(t, readQuirks(t))
	mustCatalog(t, f.source())
	m := f.manifest(t)
	key := "chunk-" + m["SHA256"].(string) + "-0000"
	if _, err := f.table.Upsert(t.Context(), map[string]any{
		"PartitionKey": "csv", "RowKey": key, "Data": []byte("not gzip"), "Data@odata.type": "Edm.Binary",
	}); err != nil {
		t.Fatal(err)
	}
	c := mustCatalog(t, f.source())
	if c.Len() != 8 || f.requests() != 2 {
		t.Fatalf("%d products, %d requests", c.Len(), f.requests())
	}
	if h := f.srv.lastHeaders(); h.Get("If-None-Match") != "" {
		t.Errorf("a request for content the process lacks was conditional")
	}
	if !strings.Contains(f.logs.String(), "unusable") {
		t.Errorf("no warning about the damaged copy:\n%s", f.logs.String())
	}
	// The download repaired it.
	if c := mustCatalog(t, f.source()); c.Len() != 8 || f.requests() != 2 {
		t.Fatalf("after repair: %d requests", f.requests())
	}
}

func TestSourceRefusesAnOversizedDownload(t *testing.T) {
	f := newFixture(t, nil)
	f.srv.set(append([]byte(header+"\n"), bytes.Repeat([]byte("x"), catalog.MaxSize)...))
	_, err := f.source().Catalog(t.Context())
	if !errors.Is(err, catalog.ErrUnavailable) || !errors.Is(err, catalog.ErrTooLarge) {
		t.Fatalf("got %v", err)
	}
}

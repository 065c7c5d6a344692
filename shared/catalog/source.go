package catalog

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/seatsync/seatsync/shared/tables"
)

// DefaultMaxAge is how long a downloaded catalog is used before it is
// checked again. Microsoft updates the file every few weeks; a day keeps new
// SKUs from showing as part numbers for long without downloading it often.
const DefaultMaxAge = 24 * time.Hour

// ErrUnavailable is returned by Source.Catalog when there is no catalog at
// all: the download failed and nothing was cached.
const ErrUnavailable = Error("catalog: the SKU catalog is unavailable; product names fall back to part numbers")

const (
	// retryDelay is how long a failed refresh is remembered, so that a
	// down server is not asked again by every caller (each tenant's sync
	// asks for the catalog). Capped at MaxAge.
	retryDelay = time.Minute
	// fetchTimeout bounds one refresh: the table reads, the download and
	// the table writes.
	fetchTimeout = 2 * time.Minute

	// The cache rows: one partition, a manifest row and the chunks of the
	// gzip-compressed CSV, keyed by the CSV's SHA-256 so that two versions
	// never share a row and a manifest only ever names complete chunks.
	cachePartition = "csv"
	manifestKey    = "manifest"
	// chunkSize keeps a chunk's binary property below Table Storage's
	// 64 KiB limit on one property (and the row far below 1 MiB).
	chunkSize = 64_000
	// maxChunks bounds what a corrupt manifest can make us read.
	maxChunks = MaxSize/chunkSize + 16
)

// Options configure a Source. Pass nil for defaults.
type Options struct {
	// HTTPClient downloads the CSV; nil for a client that refuses
	// redirects from https to http.
	HTTPClient *http.Client
	// MaxAge is how long a catalog is used before a conditional refresh;
	// 0 means DefaultMaxAge.
	MaxAge time.Duration
	// Now is the clock; nil for time.Now. Tests move it.
	Now func() time.Time
	// Log receives the warnings (a failed download and the copy used
	// instead); nil discards them.
	Log *slog.Logger
}

// Source provides the catalog: from memory while it is fresh, else from the
// Table Storage copy if that is fresh (another process downloaded it), else
// from the URL with a conditional request. It is safe for concurrent use, and
// concurrent callers share one refresh.
type Source struct {
	url    string
	logURL string // url without its query, for logs and errors
	cache  *tables.Table
	client *http.Client
	maxAge time.Duration
	retry  time.Duration
	now    func() time.Time
	log    *slog.Logger

	mu      sync.Mutex // guards the fields below
	current *snapshot  // the newest catalog had, nil before the first
	// nextCheck is when current (or lastErr) stops being the answer:
	// its fetchedAt + maxAge, or a retry delay after a failure.
	nextCheck time.Time
	lastErr   error    // the failure to return while current is nil
	refresh   *pending // the refresh under way, nil when none
}

// snapshot is a catalog and what is known of its download.
type snapshot struct {
	cat  *Catalog
	meta meta
}

// meta describes one download of the CSV; it is the manifest row's content.
type meta struct {
	URL          string
	ETag         string // the server's validators, for the conditional request
	LastModified string
	FetchedAt    time.Time // when the server last confirmed this content
	SHA256       string    // hex, of the uncompressed CSV
	Size         int       // bytes, uncompressed
	Chunks       int
}

// pending is one refresh that concurrent callers wait for.
type pending struct {
	done chan struct{}
	cat  *Catalog
	err  error
}

// NewSource returns a Source of the CSV at rawURL (SEATSYNC_SKU_CATALOG_URL,
// validated by the caller) that caches it in the table cache. A nil cache
// keeps the catalog in memory only.
func NewSource(rawURL string, cache *tables.Table, opts *Options) *Source {
	s := &Source{url: rawURL, logURL: redact(rawURL), cache: cache, maxAge: DefaultMaxAge, now: time.Now}
	if opts != nil {
		s.client = opts.HTTPClient
		if opts.MaxAge > 0 {
			s.maxAge = opts.MaxAge
		}
		if opts.Now != nil {
			s.now = opts.Now
		}
		s.log = opts.Log
	}
	if s.client == nil {
		s.client = &http.Client{CheckRedirect: noDowngrade}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.retry = min(retryDelay, s.maxAge)
	return s
}

// Catalog returns the catalog, refreshing it first if it is older than
// MaxAge. When the refresh fails it returns the copy it has, however old,
// and logs a warning; with no copy at all it returns an error wrapping
// ErrUnavailable, and the caller should show part numbers (Name on a nil
// *Catalog does).
func (s *Source) Catalog(ctx context.Context) (*Catalog, error) {
	s.mu.Lock()
	if s.now().Before(s.nextCheck) {
		defer s.mu.Unlock()
		if s.current == nil {
			return nil, s.lastErr
		}
		return s.current.cat, nil
	}
	p := s.refresh
	if p == nil {
		p = &pending{done: make(chan struct{})}
		s.refresh = p
		// The refresh runs on its own so that one caller giving up
		// (its context cancelled) does not fail the others waiting on
		// it; it keeps ctx's values, for logging, but not its end.
		go s.run(context.WithoutCancel(ctx), p, s.current)
	}
	s.mu.Unlock()
	select {
	case <-p.done:
		return p.cat, p.err
	case <-ctx.Done():
		return nil, fmt.Errorf("catalog: %w", context.Cause(ctx))
	}
}

func (s *Source) run(ctx context.Context, p *pending, current *snapshot) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	snap, err := s.update(ctx, current)
	s.mu.Lock()
	now := s.now()
	switch {
	case err != nil:
		// Only when there is no copy at all (update falls back to one
		// otherwise): remember the failure for a while.
		s.lastErr, s.nextCheck = err, now.Add(s.retry)
	case snap.meta.URL != s.url || now.Sub(snap.meta.FetchedAt) >= s.maxAge:
		// A stale copy used because the download failed: try again
		// soon, not on every call.
		s.current, s.lastErr, s.nextCheck = snap, nil, now.Add(s.retry)
	default:
		s.current, s.lastErr, s.nextCheck = snap, nil, snap.meta.FetchedAt.Add(s.maxAge)
	}
	s.refresh = nil
	s.mu.Unlock()
	if snap != nil {
		p.cat = snap.cat
	}
	p.err = err
	close(p.done)
}

// stored is what the cache table holds.
type stored struct {
	state   storedState
	meta    meta
	rowETag string // the manifest row's, for a conditional replace
	// damaged means the chunks failed to load: a download rewrites them
	// even if its content is the same.
	damaged bool
}

type storedState int

const (
	storedNone       storedState = iota // no manifest row
	storedOK                            // a manifest row, read
	storedUnreadable                    // the table failed: do not write to it either
)

// update returns the freshest catalog it can get, starting from current (nil
// if none): the table's copy if it is newer, the server's if the one it has
// is stale, and the one it has if the server fails.
func (s *Source) update(ctx context.Context, current *snapshot) (*snapshot, error) {
	st := s.readManifest(ctx)
	if st.state == storedOK && st.meta.URL == s.url &&
		(current == nil || st.meta.FetchedAt.After(current.meta.FetchedAt)) {
		// Another process (or an earlier run of this one) refreshed the
		// table copy more recently than this process did.
		if current != nil && current.meta.SHA256 == st.meta.SHA256 {
			current = &snapshot{cat: current.cat, meta: st.meta}
		} else if cat, err := s.loadChunks(ctx, st.meta); err != nil {
			st.damaged = true
			s.log.WarnContext(ctx, "catalog: the cached copy in Table Storage is unusable; downloading it again", "error", err)
		} else {
			current = &snapshot{cat: cat, meta: st.meta}
			s.log.DebugContext(ctx, "catalog: loaded the cached copy", "products", cat.Len(), "fetchedAt", st.meta.FetchedAt)
		}
	} else if st.state == storedOK && current == nil {
		// A copy of another URL (the setting changed): not fresh, but
		// better than nothing if the new URL fails.
		if cat, err := s.loadChunks(ctx, st.meta); err == nil {
			current = &snapshot{cat: cat, meta: st.meta}
		} else {
			st.damaged = true
		}
	}
	if current != nil && current.meta.URL == s.url && s.now().Sub(current.meta.FetchedAt) < s.maxAge {
		return current, nil
	}

	snap, err := s.download(ctx, current, st)
	if err == nil {
		return snap, nil
	}
	if current == nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	s.log.WarnContext(ctx, "catalog: the download failed; using the cached copy",
		"error", err, "fetchedAt", current.meta.FetchedAt, "products", current.cat.Len())
	return current, nil
}

// download asks the server for the CSV, conditionally if current came from
// the same URL, and stores a new copy in the table.
func (s *Source) download(ctx context.Context, current *snapshot, st stored) (*snapshot, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", s.logURL, err)
	}
	req.Header.Set("Accept", "text/csv, */*")
	req.Header.Set("User-Agent", "seatsync")
	// Validators only for content this process holds and the table holds
	// too (or cannot be written): a 304 means "what you have", and a
	// table that lost its copy needs the full answer to get it back.
	conditional := current != nil && current.meta.URL == s.url &&
		(st.state == storedUnreadable || (!st.damaged && st.meta.SHA256 == current.meta.SHA256))
	if conditional {
		if current.meta.ETag != "" {
			req.Header.Set("If-None-Match", current.meta.ETag)
		}
		if current.meta.LastModified != "" {
			req.Header.Set("If-Modified-Since", current.meta.LastModified)
		}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		// url.Error repeats the whole URL, query included: report the
		// redacted one instead.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return nil, fmt.Errorf("GET %s: %w", s.logURL, err)
	}
	defer func() {
		// Drain a little so the connection can be reused; never more.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}()

	now := s.now()
	switch {
	case resp.StatusCode == http.StatusNotModified && conditional:
		m := current.meta
		m.FetchedAt = now
		// A 304 may carry updated validators.
		if v := resp.Header.Get("ETag"); v != "" {
			m.ETag = v
		}
		if v := resp.Header.Get("Last-Modified"); v != "" {
			m.LastModified = v
		}
		s.writeManifest(ctx, m, st)
		s.log.InfoContext(ctx, "catalog: unchanged since the last download", "url", s.logURL)
		return &snapshot{cat: current.cat, meta: m}, nil
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("GET %s answered %s", s.logURL, resp.Status)
	}

	if resp.ContentLength > MaxSize {
		return nil, fmt.Errorf("GET %s: %w (Content-Length %d)", s.logURL, ErrTooLarge, resp.ContentLength)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: reading the body: %w", s.logURL, err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("GET %s: %w", s.logURL, ErrTooLarge)
	}
	cat, err := parse(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", s.logURL, err)
	}
	sum := sha256.Sum256(data)
	m := meta{
		URL: s.url, ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified"),
		FetchedAt: now, SHA256: hex.EncodeToString(sum[:]), Size: len(data),
	}
	stats := cat.Stats()
	s.log.InfoContext(ctx, "catalog: downloaded", "url", s.logURL, "bytes", len(data),
		"rows", stats.Rows, "products", stats.Products, "skipped", stats.Skipped, "conflicts", stats.Conflicts)
	if st.state == storedOK && !st.damaged && st.meta.SHA256 == m.SHA256 {
		// Same content (the server sent no validators, or changed
		// them): the chunks are there already.
		m.Chunks = st.meta.Chunks
		s.writeManifest(ctx, m, st)
	} else if st.state != storedUnreadable && s.cache != nil {
		if m.Chunks, err = s.writeChunks(ctx, data, m.SHA256); err != nil {
			s.log.WarnContext(ctx, "catalog: could not cache the catalog in Table Storage", "error", err)
		} else if s.writeManifest(ctx, m, st) && st.state == storedOK && st.meta.SHA256 != m.SHA256 {
			s.deleteChunks(ctx, st.meta)
		}
	}
	return &snapshot{cat: cat, meta: m}, nil
}

// manifestRow is the manifest as stored.
type manifestRow struct {
	PartitionKey       string
	RowKey             string
	URL                string
	SourceETag         string
	SourceLastModified string
	FetchedAt          string
	SHA256             string
	Size               int
	Chunks             int
}

// chunkRow is one piece of the gzip-compressed CSV, as an Edm.Binary
// property (encoding/json writes []byte as the base64 the service expects).
type chunkRow struct {
	PartitionKey string
	RowKey       string
	Data         []byte
	DataType     string `json:"Data@odata.type"`
}

func chunkKey(sha string, i int) string { return fmt.Sprintf("chunk-%s-%04d", sha, i) }

func (s *Source) readManifest(ctx context.Context) stored {
	if s.cache == nil {
		return stored{state: storedUnreadable}
	}
	row, err := s.cache.Get(ctx, cachePartition, manifestKey)
	if errors.Is(err, tables.ErrNotFound) {
		return stored{state: storedNone}
	}
	var r manifestRow
	if err == nil {
		err = row.Decode(&r)
	}
	var fetched time.Time
	if err == nil {
		fetched, err = tables.ParseTime(r.FetchedAt)
	}
	if err != nil {
		s.log.WarnContext(ctx, "catalog: cannot read the cached copy's manifest", "error", err)
		return stored{state: storedUnreadable}
	}
	return stored{state: storedOK, rowETag: row.ETag, meta: meta{
		URL: r.URL, ETag: r.SourceETag, LastModified: r.SourceLastModified, FetchedAt: fetched,
		SHA256: r.SHA256, Size: r.Size, Chunks: r.Chunks,
	}}
}

// writeManifest records m, conditionally on the row read earlier, so that
// of two processes refreshing at once one wins and the other leaves the
// winner's copy alone. It reports whether m was written.
func (s *Source) writeManifest(ctx context.Context, m meta, st stored) bool {
	if s.cache == nil || st.state == storedUnreadable {
		return false
	}
	row := manifestRow{
		PartitionKey: cachePartition, RowKey: manifestKey, URL: m.URL,
		SourceETag: m.ETag, SourceLastModified: m.LastModified, FetchedAt: tables.FormatTime(m.FetchedAt),
		SHA256: m.SHA256, Size: m.Size, Chunks: m.Chunks,
	}
	var err error
	if st.state == storedOK {
		_, err = s.cache.Replace(ctx, row, st.rowETag)
	} else {
		_, err = s.cache.Insert(ctx, row)
	}
	switch {
	case err == nil:
		return true
	case errors.Is(err, tables.ErrPrecondition), errors.Is(err, tables.ErrExists), errors.Is(err, tables.ErrNotFound):
		s.log.DebugContext(ctx, "catalog: another process updated the cached copy first; leaving it")
	default:
		s.log.WarnContext(ctx, "catalog: could not update the cached copy's manifest", "error", err)
	}
	return false
}

// writeChunks stores data gzip-compressed in rows of chunkSize bytes and
// returns their number. They are written before the manifest that names
// them, so a crash leaves at worst unreferenced rows, never a manifest
// without its chunks.
func (s *Source) writeChunks(ctx context.Context, data []byte, sha string) (int, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return 0, fmt.Errorf("gzip: %w", err)
	}
	if _, err := zw.Write(data); err != nil {
		return 0, fmt.Errorf("gzip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return 0, fmt.Errorf("gzip: %w", err)
	}
	z := buf.Bytes()
	n := 0
	for len(z) > 0 {
		part := z[:min(len(z), chunkSize)]
		z = z[len(part):]
		row := chunkRow{PartitionKey: cachePartition, RowKey: chunkKey(sha, n), Data: part, DataType: "Edm.Binary"}
		if _, err := s.cache.Upsert(ctx, row); err != nil {
			return 0, fmt.Errorf("write chunk %d: %w", n, err)
		}
		n++
	}
	return n, nil
}

// loadChunks reads, checks and parses the copy m describes.
func (s *Source) loadChunks(ctx context.Context, m meta) (*Catalog, error) {
	if m.Chunks < 1 || m.Chunks > maxChunks || len(m.SHA256) != sha256.Size*2 {
		return nil, fmt.Errorf("the manifest is malformed (%d chunks)", m.Chunks)
	}
	// One query for every chunk of this version: their keys sort in order
	// and share the prefix "chunk-{sha}-".
	prefix := chunkKey(m.SHA256, 0)[:len("chunk-")+len(m.SHA256)+1]
	filter := fmt.Sprintf("PartitionKey eq %s and RowKey ge %s and RowKey lt %s",
		tables.Quote(cachePartition), tables.Quote(prefix), tables.Quote(prefix[:len(prefix)-1]+"."))
	var z bytes.Buffer
	n := 0
	for row, err := range s.cache.Query(ctx, filter) {
		if err != nil {
			return nil, fmt.Errorf("read chunks: %w", err)
		}
		if n >= m.Chunks || row.RowKey != chunkKey(m.SHA256, n) {
			return nil, fmt.Errorf("unexpected chunk %s (want %d chunks)", row.RowKey, m.Chunks)
		}
		var c chunkRow
		if err := row.Decode(&c); err != nil {
			return nil, fmt.Errorf("%w", err)
		}
		z.Write(c.Data)
		n++
	}
	if n != m.Chunks {
		return nil, fmt.Errorf("found %d of %d chunks", n, m.Chunks)
	}
	zr, err := gzip.NewReader(&z)
	if err != nil {
		return nil, fmt.Errorf("the cached copy is not gzip: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(zr, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("decompress the cached copy: %w", err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("the cached copy: %w", ErrTooLarge)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != m.SHA256 {
		return nil, errors.New("the cached copy does not match its SHA-256")
	}
	cat, err := parse(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("the cached copy: %w", err)
	}
	return cat, nil
}

// deleteChunks removes the chunks of a replaced version. A process still
// reading them fails the SHA-256 or count check and downloads instead.
func (s *Source) deleteChunks(ctx context.Context, old meta) {
	if len(old.SHA256) != sha256.Size*2 {
		return
	}
	for i := range min(old.Chunks, maxChunks) {
		if err := s.cache.Delete(ctx, cachePartition, chunkKey(old.SHA256, i), ""); err != nil {
			s.log.WarnContext(ctx, "catalog: could not delete an old cached chunk", "error", err)
			return
		}
	}
}

// redact drops what a URL may carry that is not for logs: user info, query
// (a SAS token, say) and fragment.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(malformed URL)"
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	return u.String()
}

// noDowngrade follows redirects, as http.Client does by default, except from
// https to http: the caller allows http only for a loopback stand-in.
func noDowngrade(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if via[0].URL.Scheme == "https" && !strings.EqualFold(req.URL.Scheme, "https") {
		return fmt.Errorf("refused a redirect from https to %s", req.URL.Scheme)
	}
	return nil
}

// Package tables is seatsync's Table Storage adapter, on aztables. It creates
// the tables it is given, reads and writes JSON entities with deterministic
// keys, pages through queries, and writes in transactions that respect the
// service's limits (at most 100 entities, one partition) even where Azurite
// does not enforce them.
package tables

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// MaxBatch is the service's limit on entities in one transaction.
const MaxBatch = 100

// Errors an adapter caller can act on; the service's own error is wrapped
// with them.
var (
	ErrNotFound = errors.New("entity not found")
	ErrExists   = errors.New("entity already exists")
	// ErrPrecondition means the entity changed since it was read (ETag).
	ErrPrecondition = errors.New("entity changed since it was read")
)

// Options configure the client. Pass nil for defaults.
type Options struct {
	// ClientOptions are the Azure SDK pipeline options (transport, retries).
	ClientOptions azcore.ClientOptions
	// TablePrefix is put before every table name, so that several
	// deployments (or test runs) can share one storage account.
	TablePrefix string
}

var prefixPattern = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9]{0,19})?$`)

func (o *Options) prefix() (string, error) {
	if o == nil {
		return "", nil
	}
	if !prefixPattern.MatchString(o.TablePrefix) {
		return "", fmt.Errorf("tables: table prefix %q must be up to 20 letters and digits, starting with a letter", o.TablePrefix)
	}
	return o.TablePrefix, nil
}

func (o *Options) sdk() *aztables.ClientOptions {
	if o == nil {
		return nil
	}
	return &aztables.ClientOptions{ClientOptions: o.ClientOptions}
}

// Service is a Table Storage account.
type Service struct {
	svc    *aztables.ServiceClient
	prefix string
}

// NewFromConnectionString connects with a storage connection string (Azurite
// needs the full devstoreaccount1 form; aztables v1.4 does not understand
// UseDevelopmentStorage=true).
func NewFromConnectionString(cs string, opts *Options) (*Service, error) {
	prefix, err := opts.prefix()
	if err != nil {
		return nil, err
	}
	svc, err := aztables.NewServiceClientFromConnectionString(cs, opts.sdk())
	if err != nil {
		// The connection string holds the account key: never echo it.
		return nil, errors.New("tables: the connection string is malformed (want DefaultEndpointsProtocol=…;AccountName=…;AccountKey=…;TableEndpoint=…)")
	}
	return &Service{svc: svc, prefix: prefix}, nil
}

// New connects to serviceURL (https://{account}.table.core.windows.net) with
// a token credential, such as the Functions app's managed identity.
func New(serviceURL string, cred azcore.TokenCredential, opts *Options) (*Service, error) {
	prefix, err := opts.prefix()
	if err != nil {
		return nil, err
	}
	svc, err := aztables.NewServiceClient(serviceURL, cred, opts.sdk())
	if err != nil {
		return nil, fmt.Errorf("tables: %w", err)
	}
	return &Service{svc: svc, prefix: prefix}, nil
}

// EnsureTables creates the named tables that do not exist yet.
func (s *Service) EnsureTables(ctx context.Context, names ...string) error {
	for _, name := range names {
		name = s.prefix + name
		_, err := s.svc.CreateTable(ctx, name, nil)
		if err != nil && !hasCode(err, aztables.TableAlreadyExists) {
			return fmt.Errorf("tables: create table %s: %w", name, err)
		}
	}
	return nil
}

// Table returns the named table (with the service's prefix).
func (s *Service) Table(name string) *Table {
	name = s.prefix + name
	return &Table{c: s.svc.NewClient(name), name: name}
}

// Table is one table.
type Table struct {
	c    *aztables.Client
	name string
}

// Name returns the table's name.
func (t *Table) Name() string { return t.name }

// Row is one entity as read: its keys, its ETag and its JSON.
type Row struct {
	PartitionKey string
	RowKey       string
	ETag         string
	JSON         []byte
}

// Decode unmarshals the row's JSON into dst.
func (r Row) Decode(dst any) error {
	if err := json.Unmarshal(r.JSON, dst); err != nil {
		return fmt.Errorf("tables: decode %s/%s: %w", r.PartitionKey, r.RowKey, err)
	}
	return nil
}

func rowFrom(b []byte, etag string) (Row, error) {
	var k struct {
		PartitionKey string `json:"PartitionKey"`
		RowKey       string `json:"RowKey"`
		ETag         string `json:"odata.etag"`
	}
	if err := json.Unmarshal(b, &k); err != nil {
		return Row{}, fmt.Errorf("tables: entity is not JSON: %w", err)
	}
	if etag == "" {
		etag = k.ETag
	}
	return Row{PartitionKey: k.PartitionKey, RowKey: k.RowKey, ETag: etag, JSON: b}, nil
}

// entity marshals e (a struct or map with PartitionKey and RowKey) and checks
// its keys, so a bad key fails here with a clear error, not in the service.
func entity(e any) ([]byte, string, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, "", fmt.Errorf("tables: encode entity: %w", err)
	}
	var k struct {
		PartitionKey *string `json:"PartitionKey"`
		RowKey       *string `json:"RowKey"`
	}
	if err := json.Unmarshal(b, &k); err != nil || k.PartitionKey == nil || k.RowKey == nil {
		return nil, "", errors.New("tables: entity must be an object with PartitionKey and RowKey")
	}
	if err := ValidKey(*k.PartitionKey); err != nil {
		return nil, "", fmt.Errorf("tables: PartitionKey: %w", err)
	}
	if err := ValidKey(*k.RowKey); err != nil {
		return nil, "", fmt.Errorf("tables: RowKey: %w", err)
	}
	return b, *k.PartitionKey, nil
}

// ValidKey reports whether s can be a PartitionKey or RowKey: at most 1 KiB,
// none of / \ # ? and no control characters.
func ValidKey(s string) error {
	if len(s) > 1024 {
		return fmt.Errorf("key is %d bytes, over the 1024 limit", len(s))
	}
	for _, r := range s {
		if r == '/' || r == '\\' || r == '#' || r == '?' || r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			return fmt.Errorf("key contains %q, which Table Storage does not allow", r)
		}
	}
	return nil
}

// Upsert writes e, replacing any entity with the same keys. It returns the
// new ETag.
func (t *Table) Upsert(ctx context.Context, e any) (string, error) {
	b, _, err := entity(e)
	if err != nil {
		return "", err
	}
	resp, err := t.c.UpsertEntity(ctx, b, &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace})
	if err != nil {
		return "", t.wrap("upsert", err)
	}
	return string(resp.ETag), nil
}

// Insert adds e; it fails with ErrExists if the keys are taken.
func (t *Table) Insert(ctx context.Context, e any) (string, error) {
	b, _, err := entity(e)
	if err != nil {
		return "", err
	}
	resp, err := t.c.AddEntity(ctx, b, nil)
	if err != nil {
		return "", t.wrap("insert", err)
	}
	return string(resp.ETag), nil
}

// Replace overwrites e only if its ETag is still etag; it fails with
// ErrPrecondition if it changed and ErrNotFound if it is gone.
func (t *Table) Replace(ctx context.Context, e any, etag string) (string, error) {
	b, _, err := entity(e)
	if err != nil {
		return "", err
	}
	tag := azcore.ETag(etag)
	resp, err := t.c.UpdateEntity(ctx, b, &aztables.UpdateEntityOptions{UpdateMode: aztables.UpdateModeReplace, IfMatch: &tag})
	if err != nil {
		return "", t.wrap("replace", err)
	}
	return string(resp.ETag), nil
}

// Delete removes an entity. With etag "" it deletes whatever is there; a
// missing entity is not an error.
func (t *Table) Delete(ctx context.Context, pk, rk, etag string) error {
	tag := azcore.ETagAny
	if etag != "" {
		tag = azcore.ETag(etag)
	}
	_, err := t.c.DeleteEntity(ctx, pk, rk, &aztables.DeleteEntityOptions{IfMatch: &tag})
	if err != nil && !errors.Is(t.wrap("", err), ErrNotFound) {
		return t.wrap("delete", err)
	}
	return nil
}

// Get reads one entity; ErrNotFound if there is none.
func (t *Table) Get(ctx context.Context, pk, rk string) (Row, error) {
	resp, err := t.c.GetEntity(ctx, pk, rk, nil)
	if err != nil {
		return Row{}, t.wrap("get", err)
	}
	return rowFrom(resp.Value, string(resp.ETag))
}

// Query lists the entities matching filter (OData, "" for all) in key order.
// Build filters with Quote.
func (t *Table) Query(ctx context.Context, filter string) iter.Seq2[Row, error] {
	return func(yield func(Row, error) bool) {
		token := ""
		for {
			rows, next, err := t.Page(ctx, filter, 1000, token)
			if err != nil {
				yield(Row{}, err)
				return
			}
			for _, r := range rows {
				if !yield(r, nil) {
					return
				}
			}
			if next == "" {
				return
			}
			token = next
		}
	}
}

// Page returns up to top entities matching filter, starting at continuation
// (from an earlier Page; "" for the first), and the continuation of the next
// page ("" at the end). The service may return fewer than top entities on a
// page that is not the last.
func (t *Table) Page(ctx context.Context, filter string, top int32, continuation string) ([]Row, string, error) {
	opts := &aztables.ListEntitiesOptions{Top: &top}
	if filter != "" {
		opts.Filter = &filter
	}
	if continuation != "" {
		c, err := decodeContinuation(continuation)
		if err != nil {
			return nil, "", err
		}
		opts.NextPartitionKey, opts.NextRowKey = &c.P, &c.R
	}
	page, err := t.c.NewListEntitiesPager(opts).NextPage(ctx)
	if err != nil {
		return nil, "", t.wrap("query", err)
	}
	rows := make([]Row, 0, len(page.Entities))
	for _, b := range page.Entities {
		r, err := rowFrom(b, "")
		if err != nil {
			return nil, "", err
		}
		rows = append(rows, r)
	}
	next := ""
	if page.NextPartitionKey != nil && *page.NextPartitionKey != "" {
		c := continuationToken{P: *page.NextPartitionKey}
		if page.NextRowKey != nil {
			c.R = *page.NextRowKey
		}
		next = c.encode()
	}
	return rows, next, nil
}

// ErrBadContinuation is a continuation token that Page did not issue.
var ErrBadContinuation = errors.New("tables: malformed continuation token")

type continuationToken struct {
	P string `json:"p"`
	R string `json:"r"`
}

func (c continuationToken) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeContinuation(s string) (continuationToken, error) {
	var c continuationToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &c) != nil || c.P == "" {
		return c, ErrBadContinuation
	}
	return c, nil
}

// Quote returns s as an OData string literal, for filters.
func Quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// TimeFormat is how times are stored: fixed width UTC, so that string order
// is time order and filters can compare them.
const TimeFormat = "2006-01-02T15:04:05.000000000Z"

// FormatTime formats t for a row.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

// ParseTime parses a time written by FormatTime ("" gives the zero time).
func ParseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(TimeFormat, s)
}

func hasCode(err error, code aztables.TableErrorCode) bool {
	re, ok := errors.AsType[*azcore.ResponseError](err)
	return ok && re.ErrorCode == string(code)
}

func (t *Table) wrap(op string, err error) error {
	if re, ok := errors.AsType[*azcore.ResponseError](err); ok {
		switch {
		case re.StatusCode == http.StatusNotFound:
			return fmt.Errorf("tables: %s %s: %w: %w", op, t.name, ErrNotFound, err)
		case re.StatusCode == http.StatusConflict && re.ErrorCode == string(aztables.EntityAlreadyExists):
			return fmt.Errorf("tables: %s %s: %w: %w", op, t.name, ErrExists, err)
		case re.StatusCode == http.StatusPreconditionFailed:
			return fmt.Errorf("tables: %s %s: %w: %w", op, t.name, ErrPrecondition, err)
		}
	}
	return fmt.Errorf("tables: %s %s: %w", op, t.name, err)
}

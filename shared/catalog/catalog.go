package catalog

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"
)

// Limits on the CSV. It is downloaded from a URL, so a wrong or hostile
// answer must not exhaust memory; Microsoft's file is about 1.1 MB and 6,000
// rows, so these leave ample room for growth.
const (
	MaxSize = 16 << 20 // bytes
	MaxRows = 100_000  // data rows, not counting the header
)

// Error is an error this package returns that callers can test for with
// errors.Is. It is a string type so that the sentinels can be constants.
type Error string

func (e Error) Error() string { return string(e) }

// Errors callers can act on, with errors.Is. Parse returns them wrapped,
// with the package's prefix and the detail.
const (
	ErrTooLarge    = Error("the CSV is larger than 16 MiB")
	ErrTooManyRows = Error("the CSV has more than 100000 rows")
	// ErrFormat means the input is not the product-names CSV: a missing
	// column, broken quoting, or no usable row.
	ErrFormat = Error("not Microsoft's product-names CSV")
)

// The header names, as Microsoft writes them.
const (
	colName         = "Product_Display_Name"
	colPartNumber   = "String_Id"
	colSkuID        = "GUID"
	colPlanName     = "Service_Plan_Name"
	colPlanID       = "Service_Plan_Id"
	colPlanFriendly = "Service_Plans_Included_Friendly_Names"
)

// Product is one SKU: what Graph calls a subscribedSku.
type Product struct {
	SkuID        string // lowercase GUID: Graph's skuId
	PartNumber   string // Graph's skuPartNumber, e.g. ENTERPRISEPACK
	Name         string // the display name, e.g. "Office 365 E3"
	ServicePlans []ServicePlan
}

// ServicePlan is one service plan a SKU includes.
type ServicePlan struct {
	ID           string // lowercase GUID: Graph's servicePlanId
	Name         string // e.g. EXCHANGE_S_ENTERPRISE
	FriendlyName string
}

// Stats describe what Parse read, for logs and sanity checks.
type Stats struct {
	Rows     int // data rows read (the header and blank lines not counted)
	Products int // distinct SKU GUIDs
	// Skipped counts rows dropped whole: a malformed SKU GUID, or too few
	// fields to hold the required columns.
	Skipped int
	// Conflicts counts rows whose display name or part number disagreed
	// with the first row of the same GUID; the first is kept.
	Conflicts int
	// SkippedPlans counts rows whose SKU was kept but whose service plan
	// was not, because its Service_Plan_Id was missing or malformed.
	SkippedPlans int
}

// Catalog is a parsed CSV. It is immutable, so one value may be shared by
// any number of goroutines. A nil *Catalog is valid and knows no SKU.
type Catalog struct {
	products map[string]Product
	stats    Stats
}

// Len returns the number of SKUs.
func (c *Catalog) Len() int {
	if c == nil {
		return 0
	}
	return len(c.products)
}

// Stats returns what Parse counted.
func (c *Catalog) Stats() Stats {
	if c == nil {
		return Stats{}
	}
	return c.stats
}

// Lookup returns the SKU with GUID skuID (any case, surrounding space
// ignored).
func (c *Catalog) Lookup(skuID string) (Product, bool) {
	if c == nil {
		return Product{}, false
	}
	p, ok := c.products[strings.ToLower(trim(skuID))]
	// The catalog is shared between goroutines: give the caller its own
	// plans so that a write to them cannot reach the others.
	p.ServicePlans = slices.Clone(p.ServicePlans)
	return p, ok
}

// Name returns the name to show for a Graph subscribedSku: the catalog's
// display name for skuID; if the catalog does not know it (or is nil, when
// the CSV could not be had), the part number, which is at least what the
// admin centre shows in places; and the GUID when there is nothing better.
func (c *Catalog) Name(skuID, partNumber string) string {
	if c != nil {
		if p, ok := c.products[strings.ToLower(trim(skuID))]; ok && p.Name != "" {
			return p.Name
		}
	}
	if pn := trim(partNumber); pn != "" {
		return pn
	}
	return trim(skuID)
}

// trim removes surrounding white space: Unicode's, which includes NBSP and
// tab (both occur in Microsoft's file), plus the BOM and the zero-width space
// that editors leave and unicode.IsSpace does not cover.
func trim(s string) string {
	return strings.TrimFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || r == '\uFEFF' || r == '\u200B'
	})
}

// Parse reads the CSV from r. It reads at most MaxSize bytes and MaxRows
// rows and fails beyond either, and fails when a required column (GUID,
// String_Id, Product_Display_Name) is missing or when no row names a valid
// SKU; a row with a malformed GUID is only skipped and counted.
func Parse(r io.Reader) (*Catalog, error) {
	c, err := parse(r)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	return c, nil
}

// parse is Parse with errors that do not name the package, for Source to
// wrap in its own.
func parse(r io.Reader) (*Catalog, error) {
	lr := &limitedReader{r: r, left: MaxSize}
	cr := csv.NewReader(lr)
	// Rows of another length are handled below (skipped if too short),
	// not refused by the csv package.
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true

	header, err := cr.Read()
	if err != nil {
		return nil, readError(lr, err, "header")
	}
	cols, err := columns(header)
	if err != nil {
		return nil, err
	}

	c := &Catalog{products: map[string]Product{}}
	// Plans already added, keyed by SKU GUID and plan GUID together, to
	// drop a plan listed twice for one SKU.
	seenPlans := map[[2]string]bool{}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, readError(lr, err, "row")
		}
		c.stats.Rows++
		if c.stats.Rows > MaxRows {
			return nil, ErrTooManyRows
		}
		if len(rec) <= cols.required {
			c.stats.Skipped++
			continue
		}
		sku, ok := normalGUID(rec[cols.sku])
		if !ok {
			c.stats.Skipped++
			continue
		}
		name, pn := trim(rec[cols.name]), trim(rec[cols.partNumber])
		p, known := c.products[sku]
		if !known {
			p = Product{SkuID: sku, PartNumber: pn, Name: name}
		} else {
			// Fill a blank from a later row, but never overwrite:
			// the first row wins, and a disagreement is counted.
			conflict := false
			if p.Name == "" {
				p.Name = name
			} else if name != "" && name != p.Name {
				conflict = true
			}
			if p.PartNumber == "" {
				p.PartNumber = pn
			} else if pn != "" && pn != p.PartNumber {
				conflict = true
			}
			if conflict {
				c.stats.Conflicts++
			}
		}
		if cols.planID >= 0 {
			planID, ok := normalGUID(field(rec, cols.planID))
			switch {
			case !ok:
				c.stats.SkippedPlans++
			case !seenPlans[[2]string{sku, planID}]:
				seenPlans[[2]string{sku, planID}] = true
				p.ServicePlans = append(p.ServicePlans, ServicePlan{
					ID:           planID,
					Name:         trim(field(rec, cols.planName)),
					FriendlyName: trim(field(rec, cols.planFriendly)),
				})
			}
		}
		c.products[sku] = p
	}
	if len(c.products) == 0 {
		return nil, fmt.Errorf("%w: no row has a valid SKU GUID (%d rows read)", ErrFormat, c.stats.Rows)
	}
	c.stats.Products = len(c.products)
	return c, nil
}

// columnIndex says where each column is; -1 for an optional one absent.
type columnIndex struct {
	name, partNumber, sku          int
	planName, planID, planFriendly int
	required                       int // the highest index of a required column
}

// columns finds the columns by name, so that a reordered or extended file
// still parses. Names are matched after trimming (the file may start with a
// BOM, which encoding/csv leaves in the first name) and without regard to
// case.
func columns(header []string) (columnIndex, error) {
	find := func(name string) int {
		for i, h := range header {
			if strings.EqualFold(trim(h), name) {
				return i
			}
		}
		return -1
	}
	ci := columnIndex{
		name: find(colName), partNumber: find(colPartNumber), sku: find(colSkuID),
		planName: find(colPlanName), planID: find(colPlanID), planFriendly: find(colPlanFriendly),
	}
	var missing []string
	for _, c := range []struct {
		name string
		i    int
	}{{colSkuID, ci.sku}, {colPartNumber, ci.partNumber}, {colName, ci.name}} {
		if c.i < 0 {
			missing = append(missing, c.name)
		}
	}
	if len(missing) > 0 {
		// The header itself is not echoed: it is downloaded content.
		return ci, fmt.Errorf("%w: the header has no %s column", ErrFormat, strings.Join(missing, ", no "))
	}
	ci.required = max(ci.name, ci.partNumber, ci.sku)
	return ci, nil
}

func field(rec []string, i int) string {
	if i < 0 || i >= len(rec) {
		return ""
	}
	return rec[i]
}

// normalGUID trims s and returns it in lowercase if it is a GUID in the
// 8-4-4-4-12 hexadecimal form Graph uses.
func normalGUID(s string) (string, bool) {
	s = trim(s)
	if len(s) != 36 {
		return "", false
	}
	b := []byte(s)
	for i, ch := range b {
		switch i {
		case 8, 13, 18, 23:
			if ch != '-' {
				return "", false
			}
			continue
		}
		switch {
		case '0' <= ch && ch <= '9', 'a' <= ch && ch <= 'f':
		case 'A' <= ch && ch <= 'F':
			b[i] = ch + ('a' - 'A')
		default:
			return "", false
		}
	}
	return string(b), true
}

// readError turns an error from the csv reader into Parse's: the size limit
// if that is what stopped it, otherwise a format error with its position.
func readError(lr *limitedReader, err error, what string) error {
	if lr.exceeded {
		return ErrTooLarge
	}
	if pe, ok := errors.AsType[*csv.ParseError](err); ok {
		return fmt.Errorf("%w: %s at line %d: %w", ErrFormat, what, pe.Line, pe.Err)
	}
	if err == io.EOF {
		return fmt.Errorf("%w: the input is empty", ErrFormat)
	}
	return fmt.Errorf("read %s: %w", what, err)
}

// limitedReader reads at most left bytes and then fails, unlike
// io.LimitReader, which would end quietly and let a truncated file parse.
type limitedReader struct {
	r        io.Reader
	left     int64
	exceeded bool
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// Only more data is an error: a file of exactly MaxSize is fine.
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n > 0 {
			l.exceeded = true
			return 0, ErrTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

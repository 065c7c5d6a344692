// Package catalog turns the SKU GUIDs and part numbers that Microsoft Graph
// reports (subscribedSku.skuId, skuPartNumber) into the product names people
// recognise on an invoice, from Microsoft's "Product names and service plan
// identifiers for licensing" CSV.
//
// Parse reads that CSV. It has one row per (SKU, service plan) pair and a few
// quirks the parser absorbs: stray whitespace, including NBSP and tabs, in
// part numbers; one part number under two SKU GUIDs, which is why everything
// is keyed by GUID; a byte-order mark; quoted fields; CRLF or LF line endings.
// A row with a malformed GUID is skipped and counted rather than failing the
// whole file, because one bad row upstream must not take every name away.
//
// Source downloads the CSV from a configurable URL, keeps the parsed catalog
// in memory for MaxAge and a gzip-compressed copy in Table Storage, so a new
// process (a scaled-out Functions instance, a restart) starts without a
// download, and refreshes it with a conditional request. When the download
// fails the cached copy is used; with no copy at all, callers get
// ErrUnavailable and should show part numbers, which is what Name does with a
// nil *Catalog.
package catalog

package mscloudsim

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"net/http"
)

// catalogHeader is the header of Microsoft's product-names CSV.
var catalogHeader = []string{"Product_Display_Name", "String_Id", "GUID", "Service_Plan_Name", "Service_Plan_Id", "Service_Plans_Included_Friendly_Names"}

// buildCatalog writes the CSV of every product the simulator sells, one row
// per (SKU, service plan) as Microsoft's file has, starting with a UTF-8
// byte-order mark as the download may; and its ETag.
func buildCatalog() ([]byte, string) {
	var buf bytes.Buffer
	buf.WriteString("\ufeff")
	cw := csv.NewWriter(&buf)
	_ = cw.Write(catalogHeader)
	for _, p := range products {
		for _, sp := range p.ServicePlans {
			_ = cw.Write([]string{p.Name, p.PartNumber, p.SkuID, sp.Name, sp.ID, sp.FriendlyName})
		}
	}
	cw.Flush()
	sum := sha256.Sum256(buf.Bytes())
	return buf.Bytes(), `"` + hex.EncodeToString(sum[:8]) + `"`
}

// CatalogHandler serves the product-names CSV at CatalogPath, with ETag and
// Last-Modified; a matching If-None-Match (or an If-Modified-Since not
// before Last-Modified) gets 304.
func (s *Sim) CatalogHandler() http.Handler { return s.handler("catalog", s.catalogRoute) }

func (s *Sim) catalogRoute(r *http.Request) route {
	if r.URL.Path != CatalogPath {
		return route{template: r.Method + " (unknown)", body: bodyText, serve: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "404 page not found", http.StatusNotFound)
		}}
	}
	return route{template: r.Method + " " + CatalogPath, body: bodyCSV, serve: func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("ETag", s.csvETag)
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		http.ServeContent(w, r, "", s.csvModify, bytes.NewReader(s.csv))
	}}
}

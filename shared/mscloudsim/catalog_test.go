package mscloudsim_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/seatsync/seatsync/shared/catalog"
	"github.com/seatsync/seatsync/shared/mscloudsim"
)

func TestCatalogCSV(t *testing.T) {
	s, urls := start(t, mscloudsim.Options{Seed: 1})
	if !strings.HasSuffix(urls.CatalogCSV, mscloudsim.CatalogPath) {
		t.Fatalf("catalog URL %s", urls.CatalogCSV)
	}
	resp, body := get(t, http.DefaultClient, urls.CatalogCSV)
	etag, modified := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	if resp.StatusCode != http.StatusOK || etag == "" || modified == "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("GET: %d ETag %q Last-Modified %q Content-Type %q", resp.StatusCode, etag, modified, resp.Header.Get("Content-Type"))
	}
	header := "Product_Display_Name,String_Id,GUID,Service_Plan_Name,Service_Plan_Id,Service_Plans_Included_Friendly_Names\n"
	if !bytes.HasPrefix(bytes.TrimPrefix(body, []byte("\ufeff")), []byte(header)) {
		t.Errorf("the CSV does not start with Microsoft's header: %.120q", body)
	}
	cat, err := catalog.Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if st := cat.Stats(); st.Skipped != 0 || st.Conflicts != 0 || st.SkippedPlans != 0 {
		t.Errorf("parse stats %+v", st)
	}
	rows := 0
	for _, p := range mscloudsim.Products() {
		rows += len(p.ServicePlans)
	}
	if cat.Stats().Rows != rows {
		t.Errorf("%d rows, want one per service plan (%d)", cat.Stats().Rows, rows)
	}
	// Every SKU of every estate is named, with its part number.
	for _, seed := range []int64{1, 2, 3} {
		for _, tn := range mscloudsim.New(mscloudsim.Options{Seed: seed}).Estate().Tenants {
			for _, sku := range tn.SKUs {
				p, ok := cat.Lookup(sku.SkuID)
				if !ok || p.Name != sku.ProductName || p.PartNumber != sku.SkuPartNumber || len(p.ServicePlans) == 0 {
					t.Errorf("catalog entry for %s %s: %+v %v", sku.SkuID, sku.SkuPartNumber, p, ok)
				}
			}
		}
	}
	// The service plans Graph reports are the catalog's.
	p, _ := cat.Lookup(s.Estate().Tenants[0].SKUs[0].SkuID)
	for _, want := range mscloudsim.Products() {
		if want.SkuID == p.SkuID && (len(want.ServicePlans) != len(p.ServicePlans) || want.ServicePlans[0].ID != p.ServicePlans[0].ID) {
			t.Errorf("service plans %+v, want %+v", p.ServicePlans, want.ServicePlans)
		}
	}

	// Conditional requests.
	resp, body = get(t, http.DefaultClient, urls.CatalogCSV, "If-None-Match", etag)
	if resp.StatusCode != http.StatusNotModified || len(body) != 0 || resp.Header.Get("ETag") != etag {
		t.Errorf("If-None-Match: %d, %d bytes, ETag %q", resp.StatusCode, len(body), resp.Header.Get("ETag"))
	}
	if resp, _ := get(t, http.DefaultClient, urls.CatalogCSV, "If-None-Match", `"another"`); resp.StatusCode != http.StatusOK {
		t.Errorf("If-None-Match of another version: %d", resp.StatusCode)
	}
	if resp, _ := get(t, http.DefaultClient, urls.CatalogCSV, "If-Modified-Since", modified); resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-Modified-Since: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodHead, urls.CatalogCSV, nil)
	hr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	hr.Body.Close()
	if hr.StatusCode != http.StatusOK || hr.Header.Get("ETag") != etag {
		t.Errorf("HEAD: %d %q", hr.StatusCode, hr.Header.Get("ETag"))
	}

	// A malformed answer is not a catalog.
	s.Inject(mscloudsim.Fault{Endpoint: "catalog", Kind: mscloudsim.FaultMalformed})
	_, body = get(t, http.DefaultClient, urls.CatalogCSV)
	if _, err := catalog.Parse(bytes.NewReader(body)); err == nil {
		t.Error("the malformed catalog parsed")
	}
}

package catalog_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/seatsync/seatsync/shared/catalog"
)

const header = "Product_Display_Name,String_Id,GUID,Service_Plan_Name,Service_Plan_Id,Service_Plans_Included_Friendly_Names"

func readQuirks(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/quirks.csv")
	if err != nil {
		t.Fatal(err)
	}
	// The file's point is its bytes: a checkout that normalised them
	// would make this test pass without testing anything.
	if !bytes.HasPrefix(b, []byte("\uFEFF")) || !bytes.Contains(b, []byte("\r\n")) {
		t.Fatal("testdata/quirks.csv lost its BOM or its CRLF line endings")
	}
	return b
}

func parse(t testing.TB, b []byte) *catalog.Catalog {
	t.Helper()
	c, err := catalog.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestParseQuirks(t *testing.T) {
	c := parse(t, readQuirks(t))
	want := []catalog.Product{
		{SkuID: "0a000000-0000-4000-8000-00000000000a", PartNumber: "CONTOSO_E1", Name: "Contoso Suite E1",
			ServicePlans: []catalog.ServicePlan{ // the repeated EXCH_BASIC row is listed once
				{ID: "1a000000-0000-4000-8000-000000000001", Name: "EXCH_BASIC", FriendlyName: "Exchange Basic"},
				{ID: "1a000000-0000-4000-8000-000000000002", Name: "TEAMS_BASIC", FriendlyName: "Teams (Basic)"},
			}},
		{SkuID: "0b000000-0000-4000-8000-00000000000b", PartNumber: "FABRIKAM_VOICE", Name: "Fabrikam Voice", // NBSP trimmed
			ServicePlans: []catalog.ServicePlan{
				{ID: "1b000000-0000-4000-8000-000000000001", Name: "VOICE_CORE", FriendlyName: "Voice Core"},
			}},
		{SkuID: "0c000000-0000-4000-8000-00000000000c", PartNumber: "TAILSPIN_GOV", Name: "Tailspin Rights Management (Government)", // tab trimmed
			ServicePlans: []catalog.ServicePlan{ // the plan with a malformed id is dropped
				{ID: "1c000000-0000-4000-8000-000000000001", Name: "RMS_GOV", FriendlyName: "Rights Management (Government)"},
				{ID: "1c000000-0000-4000-8000-000000000002", Name: "AUDIT_GOV", FriendlyName: "Audit (Government)"},
			}},
		// One part number, two GUIDs: two products.
		{SkuID: "0d100000-0000-4000-8000-0000000000d1", PartNumber: "WINGTIP_PSTN", Name: "Wingtip Calling Plan",
			ServicePlans: []catalog.ServicePlan{
				{ID: "1d000000-0000-4000-8000-000000000001", Name: "PSTN_DOMESTIC", FriendlyName: "Domestic Calling"},
			}},
		{SkuID: "0d200000-0000-4000-8000-0000000000d2", PartNumber: "WINGTIP_PSTN", Name: "Wingtip Calling Plan (Pay-As-You-Go)",
			ServicePlans: []catalog.ServicePlan{
				{ID: "1d000000-0000-4000-8000-000000000001", Name: "PSTN_DOMESTIC", FriendlyName: "Domestic Calling"},
			}},
		// Quoted with a comma and with doubled quotes; upper-case GUIDs.
		{SkuID: "0e000000-0000-4000-8000-00000000000e", PartNumber: "NORTHWIND_VU", Name: "Northwind Phone System, Virtual User",
			ServicePlans: []catalog.ServicePlan{
				{ID: "1e000000-0000-4000-8000-00000000000e", Name: "VU_VOICE", FriendlyName: `Voice "Virtual" Edition`},
			}},
		// Non-ASCII; the second row's different name loses to the first.
		{SkuID: "0f000000-0000-4000-8000-00000000000f", PartNumber: "ADATUM_EDU", Name: "Adatum Éducation – Étudiant",
			ServicePlans: []catalog.ServicePlan{
				{ID: "1f000000-0000-4000-8000-000000000001", Name: "OFFICE_WEB_EDU", FriendlyName: "Office pour le web (Éducation)"},
				{ID: "1f000000-0000-4000-8000-000000000002", Name: "FORMS_EDU", FriendlyName: "Formulaires (Éducation)"},
			}},
		// Every field padded with spaces, tabs and NBSPs.
		{SkuID: "01000000-0000-4000-8000-000000000002", PartNumber: "LITWARE_P2", Name: "Litware Plan 2",
			ServicePlans: []catalog.ServicePlan{
				{ID: "11000000-0000-4000-8000-000000000002", Name: "LIT_CORE", FriendlyName: "Litware Core"},
			}},
	}
	for _, w := range want {
		got, ok := c.Lookup(w.SkuID)
		if !ok {
			t.Errorf("%s (%s) is missing", w.SkuID, w.Name)
			continue
		}
		if got.SkuID != w.SkuID || got.PartNumber != w.PartNumber || got.Name != w.Name {
			t.Errorf("%s: got {%q %q %q}, want {%q %q %q}", w.SkuID, got.SkuID, got.PartNumber, got.Name, w.SkuID, w.PartNumber, w.Name)
		}
		if !reflect.DeepEqual(got.ServicePlans, w.ServicePlans) {
			t.Errorf("%s plans:\n got %q\nwant %q", w.SkuID, got.ServicePlans, w.ServicePlans)
		}
	}
	if c.Len() != len(want) {
		t.Errorf("Len = %d, want %d", c.Len(), len(want))
	}
	wantStats := catalog.Stats{Rows: 15, Products: 8, Skipped: 2, Conflicts: 1, SkippedPlans: 1}
	if got := c.Stats(); got != wantStats {
		t.Errorf("Stats = %+v, want %+v", got, wantStats)
	}
	for _, bad := range []string{"not-a-guid", "12345678-1234-1234-1234-12345678901"} {
		if _, ok := c.Lookup(bad); ok {
			t.Errorf("the row with GUID %q was kept", bad)
		}
	}
}

func TestParseLineEndingsAndBOMDoNotMatter(t *testing.T) {
	crlf := readQuirks(t)
	lf := bytes.ReplaceAll(bytes.TrimPrefix(crlf, []byte("\uFEFF")), []byte("\r\n"), []byte("\n"))
	a, b := parse(t, crlf), parse(t, lf)
	if a.Stats() != b.Stats() {
		t.Fatalf("stats differ: CRLF %+v, LF %+v", a.Stats(), b.Stats())
	}
	for _, id := range []string{"0a000000-0000-4000-8000-00000000000a", "0e000000-0000-4000-8000-00000000000e", "0f000000-0000-4000-8000-00000000000f"} {
		pa, _ := a.Lookup(id)
		pb, _ := b.Lookup(id)
		if !reflect.DeepEqual(pa, pb) {
			t.Errorf("%s: CRLF %+v, LF %+v", id, pa, pb)
		}
	}
}

func TestParseFindsColumnsByName(t *testing.T) {
	// Reordered, an extra column, odd case and padding, a BOM on the
	// first name, and no service-plan columns at all.
	in := "\uFEFF Extra , guid ,\tproduct_display_name ,String_Id\u00a0\n" +
		"x,0A000000-0000-4000-8000-00000000000A,Contoso Suite E1,CONTOSO_E1\n"
	c := parse(t, []byte(in))
	p, ok := c.Lookup("0a000000-0000-4000-8000-00000000000a")
	if !ok || p.Name != "Contoso Suite E1" || p.PartNumber != "CONTOSO_E1" || len(p.ServicePlans) != 0 {
		t.Fatalf("got %+v, %v", p, ok)
	}
}

func TestParseMissingColumn(t *testing.T) {
	for _, col := range []string{"GUID", "String_Id", "Product_Display_Name"} {
		t.Run(col, func(t *testing.T) {
			h := strings.Replace(header, col, "Something_Else", 1)
			_, err := catalog.Parse(strings.NewReader(h + "\nA,B,0a000000-0000-4000-8000-00000000000a,P,1a000000-0000-4000-8000-000000000001,F\n"))
			if !errors.Is(err, catalog.ErrFormat) || !strings.Contains(err.Error(), col) {
				t.Fatalf("got %v, want an ErrFormat naming %s", err, col)
			}
		})
	}
	_, err := catalog.Parse(strings.NewReader("a,b\n1,2\n"))
	if err == nil || !strings.Contains(err.Error(), "no GUID, no String_Id, no Product_Display_Name column") {
		t.Fatalf("all missing: %v", err)
	}
}

func TestParseRefusesWhatIsNotTheCSV(t *testing.T) {
	for name, in := range map[string]string{
		"empty":        "",
		"header only":  header + "\r\n",
		"html":         "<!DOCTYPE html><html><body>Sign in</body></html>",
		"only bad ids": header + "\nA,B,nope,P,1a000000-0000-4000-8000-000000000001,F\n",
		"bad quoting":  header + "\nA,B,0a000000-0000-4000-8000-00000000000a,P,x\"y,F\n",
		"unterminated": header + "\n\"A,B,0a000000-0000-4000-8000-00000000000a,P,1,F\n",
	} {
		t.Run(name, func(t *testing.T) {
			c, err := catalog.Parse(strings.NewReader(in))
			if !errors.Is(err, catalog.ErrFormat) || c != nil {
				t.Fatalf("got %v, %v; want ErrFormat", c, err)
			}
			if !strings.HasPrefix(err.Error(), "catalog: ") || strings.Count(err.Error(), "catalog:") != 1 {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestParseSkipsShortRows(t *testing.T) {
	in := header + "\n" +
		"Contoso Suite E1,CONTOSO_E1\n" + // too short to reach GUID
		"Contoso Suite E1,CONTOSO_E1,0a000000-0000-4000-8000-00000000000a\n" + // no plan columns: kept
		"Fabrikam Voice,FABRIKAM_VOICE,0b000000-0000-4000-8000-00000000000b,VOICE_CORE,1b000000-0000-4000-8000-000000000001,Voice Core,extra\n"
	c := parse(t, []byte(in))
	want := catalog.Stats{Rows: 3, Products: 2, Skipped: 1, SkippedPlans: 1}
	if c.Stats() != want {
		t.Fatalf("Stats = %+v, want %+v", c.Stats(), want)
	}
}

func TestParseSizeLimit(t *testing.T) {
	// A file of exactly MaxSize bytes parses; one byte more does not.
	var b bytes.Buffer
	b.WriteString(header + "\n")
	name := strings.Repeat("n", 4000)
	for i := 0; b.Len() < catalog.MaxSize-5000; i++ {
		fmt.Fprintf(&b, "%s,P%d,%s,,,\n", name, i, guid(uint64(i)))
	}
	pad := catalog.MaxSize - b.Len() - len(",LAST,"+guid(1<<40)+",,,\n")
	fmt.Fprintf(&b, "%s,LAST,%s,,,\n", strings.Repeat("m", pad), guid(1<<40))
	if b.Len() != catalog.MaxSize {
		t.Fatalf("built %d bytes, want %d", b.Len(), catalog.MaxSize)
	}
	c := parse(t, b.Bytes())
	if p, ok := c.Lookup(guid(1 << 40)); !ok || p.PartNumber != "LAST" {
		t.Fatalf("the last row: %+v %v", p, ok)
	}
	b.WriteString("\n")
	if _, err := catalog.Parse(bytes.NewReader(b.Bytes())); !errors.Is(err, catalog.ErrTooLarge) {
		t.Fatalf("MaxSize+1 bytes: got %v, want ErrTooLarge", err)
	}
}

func TestParseRowLimit(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(header + "\n")
	for i := range catalog.MaxRows {
		fmt.Fprintf(&b, "N,P,%s,,,\n", guid(uint64(i%1000)))
	}
	c := parse(t, b.Bytes())
	if c.Stats().Rows != catalog.MaxRows || c.Len() != 1000 {
		t.Fatalf("Stats = %+v", c.Stats())
	}
	fmt.Fprintf(&b, "N,P,%s,,,\n", guid(1))
	if _, err := catalog.Parse(bytes.NewReader(b.Bytes())); !errors.Is(err, catalog.ErrTooManyRows) {
		t.Fatalf("MaxRows+1 rows: got %v, want ErrTooManyRows", err)
	}
}

func TestName(t *testing.T) {
	c := parse(t, readQuirks(t))
	const unknown = "99999999-0000-4000-8000-000000000099"
	for _, tc := range []struct {
		cat              *catalog.Catalog
		skuID, part, out string
	}{
		{c, "0a000000-0000-4000-8000-00000000000a", "CONTOSO_E1", "Contoso Suite E1"},
		// Graph's GUID in another case, or padded, still matches.
		{c, " 0E000000-0000-4000-8000-00000000000E ", "NORTHWIND_VU", "Northwind Phone System, Virtual User"},
		// The GUID decides, not the part number.
		{c, "0d200000-0000-4000-8000-0000000000d2", "WINGTIP_PSTN", "Wingtip Calling Plan (Pay-As-You-Go)"},
		{c, "0a000000-0000-4000-8000-00000000000a", "SOMETHING_ELSE", "Contoso Suite E1"},
		{c, unknown, "NEW_SKU", "NEW_SKU"},
		{c, unknown, "  ", unknown},
		{c, "", "", ""},
		{nil, "0a000000-0000-4000-8000-00000000000a", "CONTOSO_E1", "CONTOSO_E1"},
		{nil, unknown, "", unknown},
	} {
		if got := tc.cat.Name(tc.skuID, tc.part); got != tc.out {
			t.Errorf("Name(%q, %q) on %p = %q, want %q", tc.skuID, tc.part, tc.cat, got, tc.out)
		}
	}
}

func TestNilCatalog(t *testing.T) {
	var c *catalog.Catalog
	if _, ok := c.Lookup("0a000000-0000-4000-8000-00000000000a"); ok || c.Len() != 0 || c.Stats() != (catalog.Stats{}) {
		t.Fatal("a nil catalog should know nothing")
	}
}

func TestLookupReturnsACopy(t *testing.T) {
	c := parse(t, readQuirks(t))
	const id = "0a000000-0000-4000-8000-00000000000a"
	p, _ := c.Lookup(id)
	p.ServicePlans[0].Name = "CHANGED"
	if q, _ := c.Lookup(id); q.ServicePlans[0].Name != "EXCH_BASIC" {
		t.Fatal("changing a looked-up product changed the catalog")
	}
}

// guid returns a valid GUID made from n, so generated rows are reproducible.
func guid(n uint64) string {
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", uint32(n>>32), uint16(n>>16), uint16(n)&0xfff, (n>>40)&0xfff, n&0xffffffffffff)
}

// generate returns a CSV of rows rows with the real header and invented
// content: products of plansPer plans each. Names and GUIDs come from a
// seeded random source so that the gzip ratio resembles real data, not a
// file of repeats.
func generate(rows, plansPer int, seed uint64) []byte {
	rnd := rand.New(rand.NewPCG(seed, 42))
	words := []string{"Contoso", "Fabrikam", "Northwind", "Tailspin", "Wingtip", "Adatum", "Litware", "Suite", "Plan", "Voice",
		"Education", "Government", "Student", "Faculty", "Premium", "Basic", "Standard", "Éducation", "(Trial)", "E3", "E5"}
	phrase := func(n int) string {
		var w []string
		for range n {
			w = append(w, words[rnd.IntN(len(words))])
		}
		return strings.Join(w, " ")
	}
	var b bytes.Buffer
	b.WriteString(header + "\r\n")
	var sku, name, part string
	for i := range rows {
		if i%plansPer == 0 {
			sku = guid(rnd.Uint64())
			name = phrase(4)
			part = strings.ToUpper(strings.ReplaceAll(phrase(2), " ", "_"))
			if i%7 == 0 {
				name = `"` + name + `, with a comma"`
			}
		}
		fmt.Fprintf(&b, "%s,%s,%s,PLAN_%d,%s,%s\r\n", name, part, sku, i, guid(rnd.Uint64()), phrase(3))
	}
	return b.Bytes()
}

func BenchmarkParse(b *testing.B) {
	data := generate(6000, 10, 1)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := catalog.Parse(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

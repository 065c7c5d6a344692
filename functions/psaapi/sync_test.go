package psaapi_test

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/seatsync/seatsync/functions/psaapi"
	"github.com/seatsync/seatsync/shared/seatsync"
)

func TestSyncStarts(t *testing.T) {
	upperA := strings.ToUpper(tenantA)
	big := `{"tenantIds":["` + tenantA + `"]}` // padded with spaces to the limit below
	big += strings.Repeat(" ", psaapi.MaxSyncBody-len(big))
	tests := []struct {
		name   string
		body   string
		header []string
		ids    []string
	}{
		{name: "no body: every tenant", body: ""},
		{name: "white space", body: " \r\n\t "},
		{name: "empty object", body: "{}"},
		{name: "tenantIds null", body: `{"tenantIds":null}`},
		{name: "one tenant", body: `{"tenantIds":["` + tenantA + `"]}`, header: []string{"Content-Type", "application/json"}, ids: []string{tenantA}},
		{name: "lower case, each once, in order", body: `{"tenantIds":["` + upperA + `","` + tenantB + `","` + tenantA + `"]}`,
			ids: []string{tenantA, tenantB}},
		{name: "surrounding white space", body: "\n  {\"tenantIds\": [\"" + tenantB + "\"]}\n", ids: []string{tenantB}},
		{name: "body of exactly the limit", body: big, ids: []string{tenantA}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newFullAPI()
			rec := a.send(http.MethodPost, "/api/v1/sync", tc.body, tc.header...)
			checkJSON(t, rec, http.StatusAccepted)
			if got := rec.Result().Header.Get("Location"); got != "/api/v1/sync/runs/"+runLive {
				t.Errorf("Location = %q", got)
			}
			fields(t, rec.Body.Bytes(), runFields, map[string]string{"runId": `"` + runLive + `"`, "trigger": `"manual"`,
				"status": `"running"`, "finishedAt": `null`, "tenantsTotal": `25`, "startedAt": `"2026-03-15T10:30:00Z"`})
			if len(a.starter.calls) != 1 {
				t.Fatalf("StartRun calls = %v, want 1", a.starter.calls)
			}
			c := a.starter.calls[0]
			if c.trigger != seatsync.TriggerManual || !slices.Equal(c.ids, tc.ids) || (tc.ids == nil) != (c.ids == nil) {
				t.Errorf("StartRun(%q, %#v), want (manual, %#v)", c.trigger, c.ids, tc.ids)
			}
		})
	}
}

func TestSyncRefused(t *testing.T) {
	manyBad := make([]string, 12)
	for i := range manyBad {
		manyBad[i] = fmt.Sprintf("%q", fmt.Sprint("bad", i))
	}
	tests := []struct {
		name   string
		body   string
		status int
		code   string
		msg    string
	}{
		{name: "empty tenantIds", body: `{"tenantIds":[]}`, status: 400, code: seatsync.EInvalid, msg: "tenantIds is empty"},
		{name: "unknown field", body: `{"tenantIds":["` + tenantA + `"],"force":true}`, status: 400, code: seatsync.EInvalid, msg: `unknown field "force"`},
		{name: "field in another case", body: `{"tenantIDs":["` + tenantA + `"]}`, status: 400, code: seatsync.EInvalid, msg: `unknown field "tenantIDs"`},
		{name: "not a GUID", body: `{"tenantIds":["` + tenantA + `","contoso.onmicrosoft.com"]}`, status: 400, code: seatsync.EInvalid,
			msg: `not GUIDs: "contoso.onmicrosoft.com"`},
		{name: "GUID with spaces", body: `{"tenantIds":[" ` + tenantA + `"]}`, status: 400, code: seatsync.EInvalid, msg: "not GUIDs"},
		{name: "empty id", body: `{"tenantIds":[""]}`, status: 400, code: seatsync.EInvalid, msg: `not GUIDs: ""`},
		{name: "null id", body: `{"tenantIds":[null]}`, status: 400, code: seatsync.EInvalid, msg: "not GUIDs"},
		{name: "many bad ids are cut", body: `{"tenantIds":[` + strings.Join(manyBad, ",") + `]}`, status: 400, code: seatsync.EInvalid,
			msg: `"bad9" and 2 more.`},
		{name: "ids as a string", body: `{"tenantIds":"` + tenantA + `"}`, status: 400, code: seatsync.EInvalid, msg: "must be an array"},
		{name: "ids as numbers", body: `{"tenantIds":[1,2]}`, status: 400, code: seatsync.EInvalid, msg: "must be an array"},
		{name: "an array", body: `["` + tenantA + `"]`, status: 400, code: seatsync.EInvalid, msg: "must be a JSON object"},
		{name: "null", body: `null`, status: 400, code: seatsync.EInvalid, msg: "must be a JSON object"},
		{name: "a string", body: `"all"`, status: 400, code: seatsync.EInvalid},
		{name: "form encoded", body: `tenantIds=` + tenantA, status: 400, code: seatsync.EInvalid},
		{name: "two objects", body: `{}{}`, status: 400, code: seatsync.EInvalid, msg: "more after its JSON object"},
		{name: "trailing garbage", body: `{"tenantIds":["` + tenantA + `"]} x`, status: 400, code: seatsync.EInvalid},
		{name: "truncated", body: `{"tenantIds":["` + tenantA, status: 400, code: seatsync.EInvalid, msg: "not valid JSON"},
		{name: "trailing comma", body: `{"tenantIds":["` + tenantA + `"],}`, status: 400, code: seatsync.EInvalid, msg: "not valid JSON"},
		{name: "over 64 KiB", body: `{"tenantIds":["` + tenantA + `"]}` + strings.Repeat(" ", psaapi.MaxSyncBody), status: 413,
			code: seatsync.ETooLarge, msg: "over 65536 bytes"},
		{name: "over 64 KiB of ids", body: `{"tenantIds":[` + strings.Repeat(`"`+tenantA+`",`, 2000) + `"` + tenantA + `"]}`,
			status: 413, code: seatsync.ETooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newFullAPI()
			rec := a.send(http.MethodPost, "/api/v1/sync", tc.body, "Content-Type", "application/json")
			if msg := checkError(t, rec, tc.status, tc.code); !strings.Contains(msg, tc.msg) {
				t.Errorf("message %q does not say %q", msg, tc.msg)
			}
			if rec.Result().Header.Get("Location") != "" {
				t.Error("Location set on a refusal")
			}
			a.noCalls(t)
		})
	}
}

func TestSyncStarterErrors(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		code   string
		msg    string
	}{
		{name: "invalid", err: seatsync.Errorf(seatsync.EInvalid, "These tenant ids cannot be synced; not customer tenants of the partner: x."),
			status: 400, code: seatsync.EInvalid, msg: "These tenant ids cannot be synced; not customer tenants of the partner: x."},
		{name: "conflict", err: fmt.Errorf("fanout: %w", seatsync.Errorf(seatsync.EConflict, "A sync run is already running.")),
			status: 409, code: seatsync.EConflict, msg: "A sync run is already running."},
		{name: "internal", err: errors.New("fanout: graph: dial tcp 10.1.2.3:443: refused"), status: 500, code: seatsync.EInternal,
			msg: "internal error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newFullAPI()
			a.starter.err = tc.err
			rec := a.send(http.MethodPost, "/api/v1/sync", `{"tenantIds":["`+tenantC+`"]}`)
			if msg := checkError(t, rec, tc.status, tc.code); !strings.Contains(msg, tc.msg) {
				t.Errorf("message %q does not say %q", msg, tc.msg)
			}
			if strings.Contains(rec.Body.String(), "10.1.2.3") || rec.Result().Header.Get("Location") != "" {
				t.Errorf("leak or Location: %v %s", rec.Result().Header, rec.Body)
			}
			if len(a.starter.calls) != 1 || !slices.Equal(a.starter.calls[0].ids, []string{tenantC}) {
				t.Errorf("calls = %v", a.starter.calls)
			}
		})
	}
}

func TestRuns(t *testing.T) {
	tests := []struct {
		name   string
		target string
		setup  func(*fakeRuns)
		status int
		code   string
		msg    string
		calls  []string
		run    map[string]string
	}{
		{name: "by id", target: "/api/v1/sync/runs/" + runDone, status: 200, calls: []string{"Progress " + runDone},
			run: map[string]string{"runId": `"` + runDone + `"`, "trigger": `"schedule"`, "status": `"partial"`,
				"startedAt": `"2026-03-15T02:00:05.123Z"`, "finishedAt": `"2026-03-15T02:05:05.123Z"`, "tenantsTotal": `2`,
				"tenantsSucceeded": `1`, "tenantsFailed": `1`}},
		{name: "by upper-case id", target: "/api/v1/sync/runs/" + strings.ToUpper(runDone), status: 200, calls: []string{"Progress " + runDone}},
		{name: "latest", target: "/api/v1/sync/runs/latest", status: 200, calls: []string{"LatestID", "Progress " + runLive},
			run: map[string]string{"runId": `"` + runLive + `"`, "status": `"running"`, "finishedAt": `null`}},
		{name: "unknown id", target: "/api/v1/sync/runs/" + tenantC, status: 404, code: seatsync.ENotFound, msg: "No sync run has that id.",
			calls: []string{"Progress " + tenantC}},
		{name: "not a GUID", target: "/api/v1/sync/runs/last", status: 400, code: seatsync.EInvalid, msg: `"last" is not a sync run id`},
		{name: "Latest in another case", target: "/api/v1/sync/runs/Latest", status: 400, code: seatsync.EInvalid},
		{name: "no run yet", target: "/api/v1/sync/runs/latest", status: 404, code: seatsync.ENotFound, msg: "No sync run has started yet.",
			setup: func(r *fakeRuns) {
				r.latest, r.latestErr = "", seatsync.Errorf(seatsync.ENotFound, "No sync run has started yet.")
			}, calls: []string{"LatestID"}},
		{name: "no run yet, no error", target: "/api/v1/sync/runs/latest", status: 404, code: seatsync.ENotFound, msg: "No sync run has started yet.",
			setup: func(r *fakeRuns) { r.latest = "" }, calls: []string{"LatestID"}},
		{name: "latest fails", target: "/api/v1/sync/runs/latest", status: 500, code: seatsync.EInternal,
			setup: func(r *fakeRuns) { r.latestErr = errors.New("tables: boom") }, calls: []string{"LatestID"}},
		{name: "progress fails", target: "/api/v1/sync/runs/" + runDone, status: 500, code: seatsync.EInternal,
			setup: func(r *fakeRuns) { r.err = errors.New("tables: boom") }, calls: []string{"Progress " + runDone}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newFullAPI()
			if tc.setup != nil {
				tc.setup(a.runs)
			}
			rec := a.do(http.MethodGet, tc.target)
			if tc.code != "" {
				if msg := checkError(t, rec, tc.status, tc.code); !strings.Contains(msg, tc.msg) {
					t.Errorf("message %q does not say %q", msg, tc.msg)
				}
			} else {
				checkJSON(t, rec, tc.status)
				fields(t, rec.Body.Bytes(), runFields, tc.run)
			}
			if !slices.Equal(a.runs.calls, tc.calls) {
				t.Errorf("calls = %q, want %q", a.runs.calls, tc.calls)
			}
		})
	}
}

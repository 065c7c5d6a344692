package funchost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func golden(t *testing.T, name string) *Invocation {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := DecodeInvocation(b)
	if err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	return inv
}

const (
	runID    = "0f8fad5b-d9cb-469f-a165-70867728950e"
	tenantID = "7d0a4a4e-2f1c-4c3e-9b55-3a1f2e6c8b10"
)

func date(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestGoldenServiceBus(t *testing.T) {
	wantBody := `{"runId":"` + runID + `","tenantId":"` + tenantID + `"}`
	for _, tc := range []struct {
		file string
		want ServiceBusMessage
	}{
		{"servicebus-double-encoded.json", ServiceBusMessage{
			Body: []byte(wantBody), MessageID: runID + "/" + tenantID, DeliveryCount: 3, SequenceNumber: 4711,
			EnqueuedTime: date("2026-11-22T02:00:01.25Z"), ContentType: "application/json", CorrelationID: runID, Subject: "tenant-sync",
			ApplicationProperties: map[string]any{"runId": runID, "tenantId": tenantID, "attempt": float64(1)},
		}},
		{"servicebus-plain.json", ServiceBusMessage{
			Body: []byte(wantBody), MessageID: runID + "/" + tenantID, DeliveryCount: 1, SequenceNumber: 12,
			EnqueuedTime: date("2026-11-22T02:00:01Z"), ContentType: "application/json",
			ApplicationProperties: map[string]any{"runId": runID, "tenantId": tenantID},
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got, err := golden(t, tc.file).ServiceBus("message")
			if err != nil {
				t.Fatal(err)
			}
			// The plain form carries the body as a JSON value: compare it
			// as JSON, the rest field by field.
			var compact bytes.Buffer
			if err := json.Compact(&compact, got.Body); err != nil {
				t.Fatalf("body is not JSON: %q", got.Body)
			}
			got.Body = compact.Bytes()
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v\nbody %s", got, tc.want, got.Body)
			}
		})
	}
}

func TestGoldenTimer(t *testing.T) {
	got, err := golden(t, "timer.json").Timer("timer")
	if err != nil {
		t.Fatal(err)
	}
	want := Timer{Last: date("2026-11-21T02:00:00Z"), Next: date("2026-11-22T02:00:00Z"), Fired: date("2026-11-22T02:00:00.0071234Z")}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	got, err = golden(t, "timer-first-run.json").Timer("timer")
	if err != nil {
		t.Fatal(err)
	}
	if want := (Timer{IsPastDue: true, Fired: date("2026-11-22T02:00:07.5Z")}); got != want {
		t.Fatalf("first run: got %+v, want %+v", got, want)
	}
}

func TestGoldenHTTP(t *testing.T) {
	got, err := golden(t, "http.json").HTTP("req")
	if err != nil {
		t.Fatal(err)
	}
	want := HTTPRequest{
		URL: "https://seatsync-fn.azurewebsites.net/api/v1/tenants?top=50", Method: "GET",
		Query:   map[string][]string{"top": {"50"}},
		Headers: http.Header{"Accept": {"application/json"}, "User-Agent": {"ConnectWise/2026.1"}, "X-Forwarded-For": {"203.0.113.7:51234"}},
		Params:  map[string]string{"path": "tenants"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}

	got, err = golden(t, "http-legacy-query-string.json").HTTP("req")
	if err != nil {
		t.Fatal(err)
	}
	if got.Method != "POST" || len(got.Query) != 0 || got.Params["path"] != "sync" ||
		string(got.Body) != `{"tenantIds":["`+tenantID+`"]}` || got.Headers.Get("content-type") != "application/json" {
		t.Fatalf("legacy form decoded wrong: %+v body %s", got, got.Body)
	}
}

func TestMalformedPayloads(t *testing.T) {
	for _, tc := range []struct {
		name, body, field string
		decode            func(*Invocation) error
	}{
		{"not json", `{"Data":`, "", nil},
		{"trailing data", `{"Data":{}} {}`, "", nil},
		{"no Data", `{"Metadata":{}}`, "Data", nil},
		{"array", `[1,2]`, "", nil},
		{"missing binding", `{"Data":{}}`, "Data.message", sbDecode},
		{"no MessageId", `{"Data":{"message":"{}"},"Metadata":{"DeliveryCount":"1"}}`, "Metadata.MessageId", sbDecode},
		{"DeliveryCount text", `{"Data":{"message":"{}"},"Metadata":{"MessageId":"a","DeliveryCount":"\"many\""}}`, "Metadata.DeliveryCount", sbDecode},
		{"DeliveryCount zero", `{"Data":{"message":"{}"},"Metadata":{"MessageId":"a","DeliveryCount":0}}`, "Metadata.DeliveryCount", sbDecode},
		{"MessageId object", `{"Data":{"message":"{}"},"Metadata":{"MessageId":{"a":1},"DeliveryCount":1}}`, "Metadata.MessageId", sbDecode},
		{"bad time", `{"Data":{"message":"{}"},"Metadata":{"MessageId":"a","DeliveryCount":1,"EnqueuedTime":"yesterday"}}`, "Metadata.EnqueuedTime", sbDecode},
		{"properties list", `{"Data":{"message":"{}"},"Metadata":{"MessageId":"a","DeliveryCount":1,"ApplicationProperties":[1]}}`, "Metadata.ApplicationProperties", sbDecode},
		{"timer not object", `{"Data":{"timer":[true]}}`, "Data.timer", timerDecode},
		{"timer bad Next", `{"Data":{"timer":{"ScheduleStatus":{"Next":"soon"}}}}`, "Data.timer.ScheduleStatus.Next", timerDecode},
		{"timer bad UtcNow", `{"Data":{"timer":{}},"Metadata":{"sys":{"UtcNow":"now"}}}`, "Metadata.sys.UtcNow", timerDecode},
		{"http no method", `{"Data":{"req":{"Url":"http://x/"}}}`, "Data.req", httpDecode},
		{"http query list", `{"Data":{"req":{"Url":"http://x/","Method":"GET","Query":[1]}}}`, "Data.req.Query", httpDecode},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := DecodeInvocation([]byte(tc.body))
			if err == nil && tc.decode != nil {
				err = tc.decode(inv)
			}
			pe, ok := errors.AsType[*PayloadError](err)
			if !ok {
				t.Fatalf("want a *PayloadError, got %v", err)
			}
			if pe.Field != tc.field {
				t.Fatalf("field = %q, want %q (%v)", pe.Field, tc.field, err)
			}
		})
	}
}

func sbDecode(inv *Invocation) error    { _, err := inv.ServiceBus("message"); return err }
func timerDecode(inv *Invocation) error { _, err := inv.Timer("timer"); return err }
func httpDecode(inv *Invocation) error  { _, err := inv.HTTP("req"); return err }

func TestNonJSONBodyIsKeptAsText(t *testing.T) {
	inv, err := DecodeInvocation([]byte(`{"Data":{"message":"\"plain text, not JSON\""},"Metadata":{"MessageId":"\"m1\"","DeliveryCount":"1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	m, err := inv.ServiceBus("message")
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Body) != "plain text, not JSON" || m.MessageID != "m1" {
		t.Fatalf("got body %q id %q", m.Body, m.MessageID)
	}
}

func TestReadInvocationLimitsAndHeader(t *testing.T) {
	big := `{"Data":{"message":"` + strings.Repeat("a", MaxPayloadBytes) + `"}}`
	r := httptest.NewRequest("POST", "/tenantsync", strings.NewReader(big))
	if _, err := ReadInvocation(r, "tenantsync"); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("oversized payload: err = %v", err)
	}
	r = httptest.NewRequest("POST", "/tenantsync", strings.NewReader(`{"Data":{}}`))
	r.Header.Set(InvocationIDHeader, "83a33220-a921-460a-bec0-b3f043dcf1ff")
	inv, err := ReadInvocation(r, "tenantsync")
	if err != nil || inv.ID != "83a33220-a921-460a-bec0-b3f043dcf1ff" || inv.Function != "tenantsync" {
		t.Fatalf("inv = %+v, err = %v", inv, err)
	}
	r = httptest.NewRequest("POST", "/tenantsync", strings.NewReader(`{"Data":{}}`))
	r.Header.Set(InvocationIDHeader, "x\n{\"level\":\"ERROR\"}")
	if _, err := ReadInvocation(r, "tenantsync"); err == nil {
		t.Fatal("an invocation id with a newline was accepted")
	}
}

// The response is what the host's JSON formatter reads: JSON content type,
// all three keys, status by outcome.
func TestHandlerResponses(t *testing.T) {
	log := discardLogger()
	calls := 0
	h := HandleServiceBus(log, "tenantsync", "message", func(_ context.Context, m ServiceBusMessage) error {
		calls++
		switch string(m.Body) {
		case `{"fail":true}`:
			return errors.New("graph: 503 from 10.1.2.3")
		case `{"panic":true}`:
			panic("boom")
		}
		return nil
	})
	for _, tc := range []struct {
		name, body string
		status     int
		calls      int
	}{
		{"ok", `{"Data":{"message":"{}"},"Metadata":{"MessageId":"m","DeliveryCount":"1"}}`, 200, 1},
		{"handler error", `{"Data":{"message":"{\"fail\":true}"},"Metadata":{"MessageId":"m","DeliveryCount":"1"}}`, 500, 1},
		{"handler panic", `{"Data":{"message":"{\"panic\":true}"},"Metadata":{"MessageId":"m","DeliveryCount":"1"}}`, 500, 1},
		{"malformed", `{"Data":{"message":"{}"}}`, 400, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls = 0
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("POST", "/tenantsync", strings.NewReader(tc.body)))
			if rec.Code != tc.status || calls != tc.calls {
				t.Fatalf("status %d calls %d, want %d %d", rec.Code, calls, tc.status, tc.calls)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type = %q", ct)
			}
			var resp map[string]json.RawMessage
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"Outputs", "Logs", "ReturnValue"} {
				if _, ok := resp[k]; !ok {
					t.Fatalf("response lacks %s: %s", k, rec.Body)
				}
			}
			if bytes.Contains(rec.Body.Bytes(), []byte("10.1.2.3")) {
				t.Fatalf("internal detail reached the host: %s", rec.Body)
			}
		})
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }

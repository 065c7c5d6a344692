package funchost

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/seatsync/seatsync/shared/seatsync"
)

// hostString encodes a string value as the host does: the C# value is the
// JSON serialisation of the string, and that is then written as a JSON
// string again.
func hostString(s string) json.RawMessage {
	inner, _ := json.Marshal(s)
	outer, _ := json.Marshal(string(inner))
	return outer
}

func hostDate(t time.Time) json.RawMessage {
	b, _ := json.Marshal(t.UTC().Format("2006-01-02T15:04:05.9999999+00:00"))
	return b
}

func sysMetadata(function string, now time.Time) json.RawMessage {
	b, _ := json.Marshal(map[string]string{
		"MethodName": function,
		"UtcNow":     now.UTC().Format("2006-01-02T15:04:05.9999999Z"),
		"RandGuid":   NewID(),
	})
	return b
}

// ServiceBusPayload builds the invocation payload the Functions host sends
// for a Service Bus message, in the host's double encoding.
func ServiceBusPayload(function, binding string, d *seatsync.Delivery, now time.Time) ([]byte, error) {
	props := d.Properties
	if props == nil {
		props = map[string]any{}
	}
	pb, err := json.Marshal(props)
	if err != nil {
		return nil, err
	}
	p := map[string]map[string]json.RawMessage{
		"Data": {binding: hostString(string(d.Body))},
		"Metadata": {
			"MessageId":             hostString(d.ID),
			"DeliveryCount":         mustJSON(strconv.Itoa(d.DeliveryCount)),
			"EnqueuedTime":          hostDate(d.EnqueuedAt),
			"EnqueuedTimeUtc":       mustJSON(d.EnqueuedAt.UTC().Format("2006-01-02T15:04:05")),
			"ContentType":           hostString("application/json"),
			"ApplicationProperties": pb,
			"UserProperties":        pb,
			"sys":                   sysMetadata(function, now),
		},
	}
	return json.Marshal(p)
}

// TimerPayload builds the invocation payload of a timer trigger.
func TimerPayload(function, binding string, last, next time.Time, pastDue bool, now time.Time) ([]byte, error) {
	var status any
	if !last.IsZero() {
		status = map[string]string{
			"Last":        last.UTC().Format(time.RFC3339Nano),
			"Next":        next.UTC().Format(time.RFC3339Nano),
			"LastUpdated": now.UTC().Format(time.RFC3339Nano),
		}
	}
	timer, err := json.Marshal(map[string]any{
		"Schedule":       map[string]bool{"AdjustForDST": true},
		"ScheduleStatus": status,
		"IsPastDue":      pastDue,
	})
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]map[string]json.RawMessage{
		"Data":     {binding: timer},
		"Metadata": {"sys": sysMetadata(function, now)},
	})
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// Result is the outcome of an in-process invocation.
type Result struct {
	Status   int
	Response Response
}

// OK reports whether the host would count the invocation as a success.
func (r Result) OK() bool { return r.Status >= 200 && r.Status < 300 }

// Invoke runs h (the handler's mux) for an invocation of function, as the
// host would over HTTP: POST /{function} with the payload and the
// invocation id header. Standalone mode uses it so that both modes run the
// same decoding and handlers.
func Invoke(ctx context.Context, h http.Handler, function, invocationID string, payload []byte) Result {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "/"+function, bytes.NewReader(payload))
	if err != nil {
		return Result{Status: http.StatusInternalServerError}
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set(InvocationIDHeader, invocationID)
	rec := &recorder{header: http.Header{}}
	h.ServeHTTP(rec, req)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	res := Result{Status: rec.status}
	_ = json.Unmarshal(rec.body.Bytes(), &res.Response)
	return res
}

// recorder is the in-process ResponseWriter of Invoke; it keeps at most
// 64 KiB of the answer, which is all a handler's Response needs.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(s int) {
	if r.status == 0 {
		r.status = s
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if room := 64<<10 - r.body.Len(); room > 0 {
		r.body.Write(b[:min(len(b), room)])
	}
	return len(b), nil
}

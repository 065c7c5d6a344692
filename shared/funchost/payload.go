package funchost

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// InvocationIDHeader is the header that carries the host's invocation id.
const InvocationIDHeader = "X-Azure-Functions-InvocationId"

// MaxPayloadBytes bounds an invocation payload. A Service Bus Standard message
// is at most 256 KiB; double encoding and metadata stay well inside 4 MiB.
const MaxPayloadBytes = 4 << 20

// PayloadError is a malformed invocation payload. The host gets a non-2xx
// answer, so a Service Bus message is retried and finally dead-lettered
// rather than lost.
type PayloadError struct {
	Field string // e.g. "Data.message", "Metadata.DeliveryCount"
	Err   error
}

func (e *PayloadError) Error() string {
	if e.Field == "" {
		return "invalid invocation payload: " + e.Err.Error()
	}
	return fmt.Sprintf("invalid invocation payload: %s: %v", e.Field, e.Err)
}

func (e *PayloadError) Unwrap() error { return e.Err }

// Invocation is one decoded invocation request.
type Invocation struct {
	// ID is the host's invocation id (header), or a generated one if absent.
	ID string
	// Function is the name of the invoked function (the request path).
	Function string
	Data     map[string]json.RawMessage
	Metadata map[string]json.RawMessage
}

var invocationIDPattern = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)

// ReadInvocation decodes the request body of an invocation of function name.
// It reads at most MaxPayloadBytes.
func ReadInvocation(r *http.Request, name string) (*Invocation, error) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxPayloadBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, &PayloadError{Err: fmt.Errorf("payload exceeds %d bytes", MaxPayloadBytes)}
		}
		return nil, &PayloadError{Err: fmt.Errorf("read body: %w", err)}
	}
	inv, err := DecodeInvocation(body)
	if err != nil {
		return nil, err
	}
	inv.Function = name
	if id := r.Header.Get(InvocationIDHeader); id != "" {
		// The id goes into every log line: accept only what the host sends.
		if !invocationIDPattern.MatchString(id) {
			return nil, &PayloadError{Field: InvocationIDHeader, Err: errors.New("not an invocation id")}
		}
		inv.ID = id
	}
	return inv, nil
}

// DecodeInvocation decodes an invocation payload: {"Data":{…},"Metadata":{…}}.
func DecodeInvocation(body []byte) (*Invocation, error) {
	var p struct {
		Data     map[string]json.RawMessage `json:"Data"`
		Metadata map[string]json.RawMessage `json:"Metadata"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&p); err != nil {
		return nil, &PayloadError{Err: fmt.Errorf("not a JSON object: %w", err)}
	}
	if dec.More() {
		return nil, &PayloadError{Err: errors.New("trailing data after the JSON object")}
	}
	if p.Data == nil {
		return nil, &PayloadError{Field: "Data", Err: errors.New("missing")}
	}
	if p.Metadata == nil {
		p.Metadata = map[string]json.RawMessage{}
	}
	return &Invocation{Data: p.Data, Metadata: p.Metadata}, nil
}

// unwrap strips the host's string encoding: while raw is a JSON string whose
// content is itself JSON, decode one level. It returns the innermost JSON
// value, or, when a string's content is not JSON, that string re-encoded.
func unwrap(raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	for range 3 {
		if len(raw) == 0 || raw[0] != '"' {
			return raw, nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		inner := bytes.TrimSpace([]byte(s))
		if len(inner) == 0 || !json.Valid(inner) {
			return raw, nil
		}
		raw = inner
	}
	return raw, nil
}

// unwrapBytes returns the payload of a trigger value: the innermost JSON for
// JSON content, or the raw text of a non-JSON string.
func unwrapBytes(raw json.RawMessage) ([]byte, error) {
	v, err := unwrap(raw)
	if err != nil {
		return nil, err
	}
	if len(v) > 0 && v[0] == '"' {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, err
		}
		return []byte(s), nil
	}
	return v, nil
}

// metaString returns Metadata[key] as a string ("" if absent or null).
func (inv *Invocation) metaString(key string) (string, error) {
	raw, ok := inv.Metadata[key]
	if !ok {
		return "", nil
	}
	v, err := unwrap(raw)
	if err != nil {
		return "", &PayloadError{Field: "Metadata." + key, Err: err}
	}
	switch {
	case string(v) == "null":
		return "", nil
	case len(v) > 0 && v[0] == '"':
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", &PayloadError{Field: "Metadata." + key, Err: err}
		}
		return s, nil
	case len(v) > 0 && (v[0] == '-' || (v[0] >= '0' && v[0] <= '9')):
		return string(v), nil // a number, where a string was expected
	default:
		return "", &PayloadError{Field: "Metadata." + key, Err: errors.New("not a string")}
	}
}

// metaInt returns Metadata[key] as an integer; the host sends numbers as
// strings ("4"), samples as numbers (4).
func (inv *Invocation) metaInt(key string) (int64, bool, error) {
	s, err := inv.metaString(key)
	if err != nil || s == "" {
		return 0, false, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, false, &PayloadError{Field: "Metadata." + key, Err: fmt.Errorf("not an integer: %q", truncate(s, 40))}
	}
	return n, true, nil
}

// metaTime returns Metadata[key] as a time; a value without a zone is UTC
// (the host's DateTime.Parse round trip drops the zone).
func (inv *Invocation) metaTime(key string) (time.Time, error) {
	s, err := inv.metaString(key)
	if err != nil || s == "" {
		return time.Time{}, err
	}
	t, err := parseHostTime(s)
	if err != nil {
		return time.Time{}, &PayloadError{Field: "Metadata." + key, Err: err}
	}
	return t, nil
}

var hostTimeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.9999999",
	"2006-01-02T15:04:05",
	"1/2/2006 3:04:05 PM", // DateTime.ToString() under the invariant culture
}

func parseHostTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range hostTimeLayouts {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("not a time: %q", truncate(s, 40))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

package funchost

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Timer is a timer trigger's value.
type Timer struct {
	IsPastDue bool
	// Last and Next come from the schedule monitor; zero when the host sends
	// none (first run, or useMonitor off).
	Last, Next time.Time
	// Fired is when the host invoked the function (Metadata.sys.UtcNow).
	Fired time.Time
}

// Timer decodes the timer trigger bound to binding.
func (inv *Invocation) Timer(binding string) (Timer, error) {
	raw, ok := inv.Data[binding]
	if !ok {
		return Timer{}, &PayloadError{Field: "Data." + binding, Err: errors.New("missing")}
	}
	v, err := unwrap(raw)
	if err != nil {
		return Timer{}, &PayloadError{Field: "Data." + binding, Err: err}
	}
	var w struct {
		IsPastDue      bool `json:"IsPastDue"`
		ScheduleStatus *struct {
			Last string `json:"Last"`
			Next string `json:"Next"`
		} `json:"ScheduleStatus"`
	}
	if err := json.Unmarshal(v, &w); err != nil {
		return Timer{}, &PayloadError{Field: "Data." + binding, Err: errors.New("not a timer object")}
	}
	t := Timer{IsPastDue: w.IsPastDue}
	if w.ScheduleStatus != nil {
		for _, f := range []struct {
			name string
			s    string
			dst  *time.Time
		}{{"Last", w.ScheduleStatus.Last, &t.Last}, {"Next", w.ScheduleStatus.Next, &t.Next}} {
			if f.s == "" {
				continue
			}
			if *f.dst, err = parseHostTime(f.s); err != nil {
				return Timer{}, &PayloadError{Field: "Data." + binding + ".ScheduleStatus." + f.name, Err: err}
			}
		}
	}
	if t.Fired, err = inv.sysTime(); err != nil {
		return Timer{}, err
	}
	return t, nil
}

func (inv *Invocation) sysTime() (time.Time, error) {
	raw, ok := inv.Metadata["sys"]
	if !ok {
		return time.Time{}, nil
	}
	v, err := unwrap(raw)
	if err != nil {
		return time.Time{}, &PayloadError{Field: "Metadata.sys", Err: err}
	}
	var sys struct {
		UtcNow string `json:"UtcNow"`
	}
	if err := json.Unmarshal(v, &sys); err != nil {
		return time.Time{}, &PayloadError{Field: "Metadata.sys", Err: errors.New("not an object")}
	}
	if sys.UtcNow == "" {
		return time.Time{}, nil
	}
	t, err := parseHostTime(sys.UtcNow)
	if err != nil {
		return time.Time{}, &PayloadError{Field: "Metadata.sys.UtcNow", Err: err}
	}
	return t, nil
}

// ServiceBusMessage is a Service Bus trigger's value with the metadata a
// handler needs.
type ServiceBusMessage struct {
	Body           []byte
	MessageID      string
	DeliveryCount  int
	SequenceNumber int64
	EnqueuedTime   time.Time
	ContentType    string
	CorrelationID  string
	Subject        string
	// ApplicationProperties as sent (strings, numbers, booleans).
	ApplicationProperties map[string]any
}

// ServiceBus decodes the Service Bus trigger bound to binding.
func (inv *Invocation) ServiceBus(binding string) (ServiceBusMessage, error) {
	raw, ok := inv.Data[binding]
	if !ok {
		return ServiceBusMessage{}, &PayloadError{Field: "Data." + binding, Err: errors.New("missing")}
	}
	body, err := unwrapBytes(raw)
	if err != nil {
		return ServiceBusMessage{}, &PayloadError{Field: "Data." + binding, Err: err}
	}
	m := ServiceBusMessage{Body: body}
	if m.MessageID, err = inv.metaString("MessageId"); err != nil {
		return m, err
	}
	if m.MessageID == "" {
		return m, &PayloadError{Field: "Metadata.MessageId", Err: errors.New("missing")}
	}
	n, ok, err := inv.metaInt("DeliveryCount")
	if err != nil {
		return m, err
	}
	if !ok || n < 1 || n > 1<<20 {
		return m, &PayloadError{Field: "Metadata.DeliveryCount", Err: fmt.Errorf("want a count of at least 1, got %d", n)}
	}
	m.DeliveryCount = int(n)
	if m.SequenceNumber, _, err = inv.metaInt("SequenceNumber"); err != nil {
		return m, err
	}
	// EnqueuedTime keeps its offset; EnqueuedTimeUtc lost it in the host.
	key := "EnqueuedTime"
	if _, ok := inv.Metadata[key]; !ok {
		key = "EnqueuedTimeUtc"
	}
	if m.EnqueuedTime, err = inv.metaTime(key); err != nil {
		return m, err
	}
	for key, dst := range map[string]*string{"ContentType": &m.ContentType, "CorrelationId": &m.CorrelationID, "Subject": &m.Subject} {
		if *dst, err = inv.metaString(key); err != nil {
			return m, err
		}
	}
	key = "ApplicationProperties"
	if _, ok := inv.Metadata[key]; !ok {
		key = "UserProperties"
	}
	if raw, ok := inv.Metadata[key]; ok {
		v, err := unwrap(raw)
		if err != nil {
			return m, &PayloadError{Field: "Metadata." + key, Err: err}
		}
		if string(v) != "null" {
			if err := json.Unmarshal(v, &m.ApplicationProperties); err != nil {
				return m, &PayloadError{Field: "Metadata." + key, Err: errors.New("not an object")}
			}
		}
	}
	return m, nil
}

// HTTPRequest is an HTTP trigger's value as the payload protocol sends it
// (when proxying is off).
type HTTPRequest struct {
	URL     string
	Method  string
	Query   url.Values
	Headers http.Header
	Params  map[string]string
	Body    []byte
}

// HTTP decodes the HTTP trigger bound to binding.
func (inv *Invocation) HTTP(binding string) (HTTPRequest, error) {
	field := "Data." + binding
	raw, ok := inv.Data[binding]
	if !ok {
		return HTTPRequest{}, &PayloadError{Field: field, Err: errors.New("missing")}
	}
	v, err := unwrap(raw)
	if err != nil {
		return HTTPRequest{}, &PayloadError{Field: field, Err: err}
	}
	var w struct {
		URL     string              `json:"Url"`
		Method  string              `json:"Method"`
		Query   json.RawMessage     `json:"Query"`
		Headers map[string][]string `json:"Headers"`
		Params  map[string]string   `json:"Params"`
		Body    json.RawMessage     `json:"Body"`
	}
	if err := json.Unmarshal(v, &w); err != nil {
		return HTTPRequest{}, &PayloadError{Field: field, Err: errors.New("not an HTTP request object")}
	}
	if w.Method == "" || w.URL == "" {
		return HTTPRequest{}, &PayloadError{Field: field, Err: errors.New("missing Method or Url")}
	}
	if _, err := url.Parse(w.URL); err != nil {
		return HTTPRequest{}, &PayloadError{Field: field + ".Url", Err: errors.New("not a URL")}
	}
	req := HTTPRequest{URL: w.URL, Method: strings.ToUpper(w.Method), Query: url.Values{}, Headers: http.Header{}, Params: w.Params}
	// Query is an object since host PR 6621; older hosts and the docs send
	// it as a string holding the object.
	if len(w.Query) > 0 {
		q, err := unwrap(w.Query)
		if err != nil {
			return HTTPRequest{}, &PayloadError{Field: field + ".Query", Err: err}
		}
		var m map[string]string
		if string(q) != "null" {
			if err := json.Unmarshal(q, &m); err != nil {
				return HTTPRequest{}, &PayloadError{Field: field + ".Query", Err: errors.New("not an object of strings")}
			}
		}
		for k, val := range m {
			req.Query.Set(k, val)
		}
	}
	for k, vals := range w.Headers {
		for _, val := range vals {
			req.Headers.Add(k, val)
		}
	}
	if len(w.Body) > 0 && string(w.Body) != "null" {
		var s string
		if err := json.Unmarshal(w.Body, &s); err != nil {
			// A JSON body may arrive as the object itself.
			req.Body = []byte(w.Body)
		} else if s != "" {
			req.Body = []byte(s)
		}
	}
	return req, nil
}

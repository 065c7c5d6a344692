package servicebus

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/seatsync/seatsync/shared/seatsync"
)

// fakeBatches makes batches that hold up to max bytes, counting each
// message as its body and ID plus 16 bytes, and records what is sent.
type fakeBatches struct {
	mu       sync.Mutex
	max      int
	newCalls int
	sends    int
	sent     [][]*azservicebus.Message
	failSend int   // the send (1-based) that fails; 0: none
	failNew  int   // the newBatch call (1-based) that fails; 0: none
	err      error // the failure
}

type fakeBatch struct {
	max, size int
	msgs      []*azservicebus.Message
}

func fakeSize(m *azservicebus.Message) int { return len(m.Body) + len(*m.MessageID) + 16 }

func (b *fakeBatch) Add(m *azservicebus.Message) error {
	if b.size+fakeSize(m) > b.max {
		return azservicebus.ErrMessageTooLarge
	}
	b.size += fakeSize(m)
	b.msgs = append(b.msgs, m)
	return nil
}

func (b *fakeBatch) Len() int { return len(b.msgs) }

func (f *fakeBatches) newBatch(ctx context.Context) (batch, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.newCalls++
	if f.newCalls == f.failNew {
		return nil, f.err
	}
	return &fakeBatch{max: f.max}, nil
}

func (f *fakeBatches) send(ctx context.Context, b batch) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sends++
	if f.sends == f.failSend {
		return f.err
	}
	f.sent = append(f.sent, b.(*fakeBatch).msgs)
	return nil
}

func (f *fakeBatches) all() []*azservicebus.Message {
	var out []*azservicebus.Message
	for _, b := range f.sent {
		out = append(out, b...)
	}
	return out
}

// fakeSender is a Sender whose batches are the zero MessageBatch: the only
// kind a test can make, with room for nothing.
type fakeSender struct {
	mu     sync.Mutex
	opts   []*azservicebus.MessageBatchOptions
	sends  int
	closed int
	newErr error
}

func (s *fakeSender) NewMessageBatch(ctx context.Context, o *azservicebus.MessageBatchOptions) (*azservicebus.MessageBatch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts = append(s.opts, o)
	if s.newErr != nil {
		return nil, s.newErr
	}
	return &azservicebus.MessageBatch{}, nil
}

func (s *fakeSender) SendMessageBatch(ctx context.Context, b *azservicebus.MessageBatch, o *azservicebus.SendMessageBatchOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sends++
	return nil
}

func (s *fakeSender) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed++
	return nil
}

// namedString is not a string to the AMQP encoder.
type namedString string

const secretish = "do-not-leak-this-body"

func msg(i int) seatsync.Message {
	run, tenant := "run-1", fmt.Sprintf("00000000-0000-0000-0000-%012d", i)
	return seatsync.Message{
		ID:         run + "/" + tenant,
		Body:       fmt.Appendf(nil, `{"runId":%q,"tenantId":%q,"note":%q}`, run, tenant, secretish),
		Properties: map[string]any{"runId": run, "tenantId": tenant},
	}
}

func msgs(n int) []seatsync.Message {
	out := make([]seatsync.Message, n)
	for i := range out {
		out[i] = msg(i)
	}
	return out
}

func ids(ms []*azservicebus.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, *m.MessageID)
	}
	return out
}

func wantIDs(ms []seatsync.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

func sendErr(t *testing.T, err error) *SendError {
	t.Helper()
	se, ok := errors.AsType[*SendError](err)
	if !ok {
		t.Fatalf("error %v (%T) is not a *SendError", err, err)
	}
	if strings.Contains(err.Error(), secretish) {
		t.Errorf("the error holds a message body: %v", err)
	}
	return se
}

func TestSendMapsFields(t *testing.T) {
	f := &fakeBatches{max: 1 << 20}
	q := newQueue("tenant-sync", f)
	in := []seatsync.Message{
		msg(1),
		{ID: "run-2/t", Body: []byte(`{"a":[1,2,3]}`), Properties: map[string]any{
			"s": "x", "b": true, "i": 7, "i64": int64(-3), "u8": uint8(9), "f": 1.5, "f32": float32(2.5)}},
		{ID: "run-3/t", Body: []byte(`null`)}, // no properties
	}
	if err := q.Send(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	if len(f.sent) != 1 {
		t.Fatalf("%d batches sent, want 1", len(f.sent))
	}
	got := f.all()
	if len(got) != len(in) {
		t.Fatalf("%d messages sent, want %d", len(got), len(in))
	}
	for i, m := range in {
		id, ct, subject := m.ID, "application/json", "tenant-sync"
		want := &azservicebus.Message{MessageID: &id, Body: m.Body, ContentType: &ct, Subject: &subject, ApplicationProperties: m.Properties}
		if !reflect.DeepEqual(got[i], want) {
			t.Errorf("message %d:\n got %+v\nwant %+v", i, got[i], want)
		}
	}
}

func TestSendSplitsFullBatches(t *testing.T) {
	in := msgs(25)
	per := fakeSize(toServiceBus(in[0]))
	f := &fakeBatches{max: 4*per + per/2} // room for 4 messages
	q := newQueue("tenant-sync", f)
	if err := q.Send(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	if len(f.sent) != 7 {
		t.Errorf("%d batches sent, want 7 (4 each, 1 in the last)", len(f.sent))
	}
	for i, b := range f.sent {
		if len(b) == 0 || len(b) > 4 {
			t.Errorf("batch %d holds %d messages", i, len(b))
		}
	}
	if got, want := ids(f.all()), wantIDs(in); !reflect.DeepEqual(got, want) {
		t.Errorf("sent %v\nwant %v (each once, in order)", got, want)
	}
	if f.newCalls != 7 {
		t.Errorf("%d batches made, want 7", f.newCalls)
	}
}

func TestSendNothing(t *testing.T) {
	f := &fakeBatches{max: 1 << 20}
	q := newQueue("", f)
	if err := q.Send(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	if f.newCalls != 0 || f.sends != 0 {
		t.Errorf("an empty send made %d batches and sent %d", f.newCalls, f.sends)
	}
	if q.Name() != DefaultQueue {
		t.Errorf("name %q, want %q", q.Name(), DefaultQueue)
	}
}

func TestSendTooLargeForAnEmptyBatch(t *testing.T) {
	in := msgs(5)
	per := fakeSize(toServiceBus(in[0]))
	big := seatsync.Message{ID: "run-1/big", Body: fmt.Appendf(nil, `{"pad":%q,"note":%q}`, strings.Repeat("x", 10*per), secretish)}
	in = append(in[:2:2], append([]seatsync.Message{big}, in[2:]...)...)

	f := &fakeBatches{max: 2 * per}
	q := newQueue("tenant-sync", f)
	err := q.Send(t.Context(), in)
	se := sendErr(t, err)
	if !errors.Is(err, azservicebus.ErrMessageTooLarge) {
		t.Errorf("error %v does not wrap ErrMessageTooLarge", err)
	}
	if !strings.Contains(err.Error(), "run-1/big") || se.MessageID != "run-1/big" {
		t.Errorf("error %v (MessageID %q) does not name the message", err, se.MessageID)
	}
	// The two before it filled a batch, which went out.
	if se.Sent != 2 || se.Total != 6 || len(f.all()) != 2 {
		t.Errorf("Sent %d of %d, %d passed to the queue; want 2 of 6, 2", se.Sent, se.Total, len(f.all()))
	}
}

// Through NewWithSender the real *azservicebus.MessageBatch is used: a
// test can make only the zero one, with room for nothing, which shows the
// SDK's ErrMessageTooLarge reaching the caller with the message ID.
func TestSendWithSenderTooLarge(t *testing.T) {
	s := &fakeSender{}
	q := NewWithSender(s, &Options{Queue: "tenant-sync-test", MaxBatchBytes: 4096})
	in := msgs(3)
	err := q.Send(t.Context(), in)
	se := sendErr(t, err)
	if !errors.Is(err, azservicebus.ErrMessageTooLarge) || se.MessageID != in[0].ID || !strings.Contains(err.Error(), in[0].ID) {
		t.Errorf("error %v (MessageID %q); want too large naming %s", err, se.MessageID, in[0].ID)
	}
	if !strings.Contains(err.Error(), `"tenant-sync-test"`) {
		t.Errorf("error %v does not name the queue", err)
	}
	if s.sends != 0 || se.Sent != 0 {
		t.Errorf("%d batches sent, Sent %d", s.sends, se.Sent)
	}
	if len(s.opts) != 1 || s.opts[0] == nil || s.opts[0].MaxBytes != 4096 {
		t.Errorf("NewMessageBatch options %+v, want MaxBytes 4096", s.opts)
	}
	if err := q.Close(t.Context()); err != nil || s.closed != 1 {
		t.Errorf("Close: %v, sender closed %d times", err, s.closed)
	}

	// Without MaxBatchBytes the link's maximum is used (nil options), and
	// a failure to make a batch is reported.
	s = &fakeSender{newErr: errors.New("link detached")}
	err = NewWithSender(s, nil).Send(t.Context(), in)
	se = sendErr(t, err)
	if len(s.opts) != 1 || s.opts[0] != nil || !errors.Is(err, s.newErr) || se.Queue != DefaultQueue || se.Sent != 0 {
		t.Errorf("options %+v, error %v", s.opts, err)
	}
}

func TestSendFailureReportsSent(t *testing.T) {
	in := msgs(10)
	per := fakeSize(toServiceBus(in[0]))
	boom := errors.New("amqp: link detached")

	f := &fakeBatches{max: 3 * per, failSend: 3, err: boom} // batches of 3; the third send fails
	q := newQueue("tenant-sync", f)
	err := q.Send(t.Context(), in)
	se := sendErr(t, err)
	if !errors.Is(err, boom) {
		t.Errorf("error %v does not wrap the send's", err)
	}
	if se.Sent != 6 || se.Total != 10 || se.Queue != "tenant-sync" || se.MessageID != "" {
		t.Errorf("%+v; want 6 of 10 sent on tenant-sync", se)
	}
	for _, want := range []string{`queue "tenant-sync"`, "6 of 10 messages sent"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if got := ids(f.all()); !reflect.DeepEqual(got, wantIDs(in[:se.Sent])) {
		t.Errorf("sent %v, want the first %d", got, se.Sent)
	}

	// The last, partly filled batch fails.
	f = &fakeBatches{max: 3 * per, failSend: 4, err: boom}
	se = sendErr(t, newQueue("q", f).Send(t.Context(), in))
	if se.Sent != 9 {
		t.Errorf("Sent %d, want 9", se.Sent)
	}

	// Making the second batch fails.
	f = &fakeBatches{max: 3 * per, failNew: 2, err: boom}
	err = newQueue("q", f).Send(t.Context(), in)
	if se = sendErr(t, err); se.Sent != 3 || !errors.Is(err, boom) {
		t.Errorf("Sent %d, error %v; want 3 and the failure", se.Sent, err)
	}

	// Resending everything after a failure is what the fan-out does: the
	// second send passes every message again (Service Bus drops the ones
	// it has), in order.
	f = &fakeBatches{max: 3 * per}
	if err := newQueue("q", f).Send(t.Context(), in); err != nil || len(f.all()) != 10 {
		t.Errorf("resend: %v, %d sent", err, len(f.all()))
	}
}

func TestSendValidates(t *testing.T) {
	json := func(n int) []byte { return []byte(`"` + strings.Repeat("a", n-2) + `"`) }
	good := []seatsync.Message{
		{ID: strings.Repeat("i", 128), Body: []byte(`{}`)},
		{ID: "x", Body: json(MaxBodyBytes)},
		{ID: "y", Body: []byte(`[]`), Properties: map[string]any{"n": uint64(math.MaxUint64), "z": -0.0, "e": ""}},
	}
	f := &fakeBatches{max: 1 << 20}
	if err := newQueue("q", f).Send(t.Context(), good); err != nil {
		t.Fatalf("good messages: %v", err)
	}

	body := []byte(`{"tenantId":"` + secretish + `"}`)
	bad := map[string]seatsync.Message{
		"empty ID":              {ID: "", Body: body},
		"long ID":               {ID: strings.Repeat("i", 129), Body: body},
		"ID not UTF-8":          {ID: "run/\xff", Body: body},
		"empty body":            {ID: "a"},
		"body not JSON":         {ID: "a", Body: []byte(`{"tenantId":"` + secretish + `"`)},
		"body too large":        {ID: "a", Body: json(MaxBodyBytes + 1)},
		"property nil":          {ID: "a", Body: body, Properties: map[string]any{"p": nil}},
		"property map":          {ID: "a", Body: body, Properties: map[string]any{"p": map[string]any{"k": secretish}}},
		"property slice":        {ID: "a", Body: body, Properties: map[string]any{"p": []string{secretish}}},
		"property time":         {ID: "a", Body: body, Properties: map[string]any{"p": time.Now()}},
		"property bytes":        {ID: "a", Body: body, Properties: map[string]any{"p": []byte(secretish)}},
		"property NaN":          {ID: "a", Body: body, Properties: map[string]any{"p": math.NaN()}},
		"property Inf":          {ID: "a", Body: body, Properties: map[string]any{"p": float32(math.Inf(1))}},
		"property empty name":   {ID: "a", Body: body, Properties: map[string]any{"": "x"}},
		"property named string": {ID: "a", Body: body, Properties: map[string]any{"p": namedString("x")}},
	}
	for name, m := range bad {
		t.Run(name, func(t *testing.T) {
			f := &fakeBatches{max: 1 << 20}
			// The bad message comes after good ones: nothing at all is sent.
			err := newQueue("tenant-sync", f).Send(t.Context(), append(msgs(3), m))
			se := sendErr(t, err)
			if !errors.Is(err, ErrInvalidMessage) {
				t.Errorf("error %v does not wrap ErrInvalidMessage", err)
			}
			if se.Sent != 0 || se.Total != 4 || f.newCalls != 0 || f.sends != 0 {
				t.Errorf("%+v; %d batches made, %d sent; want nothing", se, f.newCalls, f.sends)
			}
			if !strings.Contains(err.Error(), "message 3") {
				t.Errorf("error %v does not say which message", err)
			}
		})
	}
}

func TestConcurrentSends(t *testing.T) {
	f := &fakeBatches{max: 4 * fakeSize(toServiceBus(msg(0)))}
	q := newQueue("q", f)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := q.Send(context.Background(), msgs(10)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := len(f.all()); n != 80 {
		t.Errorf("%d messages sent, want 80", n)
	}
}

type noCred struct{}

func (noCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, errors.New("no token in tests")
}

func TestNew(t *testing.T) {
	// New makes a client and sender without connecting.
	q, err := New("seatsync-test.servicebus.windows.net", "tenant-sync", noCred{}, &Options{MaxBatchBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	if q.Name() != "tenant-sync" {
		t.Errorf("name %q", q.Name())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := q.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
	for _, name := range []string{"tenant-sync", "a", "Orders.v2_x/sub-1", strings.Repeat("q", 260)} {
		if err := checkQueueName(name); err != nil {
			t.Errorf("queue %q: %v", name, err)
		}
	}
	if _, err := New("seatsync-test.servicebus.windows.net", "tenant-sync", nil, nil); err == nil {
		t.Error("New with no credential succeeded")
	}
}

func TestNewRejects(t *testing.T) {
	const key = "c2VjcmV0a2V5"
	namespaces := map[string]string{
		"":                                 "no namespace",
		"sb://x.servicebus.windows.net/":   "URL",
		"https://x.servicebus.windows.net": "URL",
		"x.servicebus.windows.net/":        "URL",
		"x.servicebus.windows.net:5671":    "port",
		"x":                                "not fully qualified",
		"-x.servicebus.windows.net":        "not a valid host name",
		"x..windows.net":                   "not a valid host name",
		"x_y.servicebus.windows.net":       "not a valid host name",
		"Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=" + key: "connection string",
	}
	for ns, want := range namespaces {
		_, err := New(ns, "tenant-sync", noCred{}, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("namespace %q: %v; want an error saying %q", ns, err, want)
		}
		if err != nil && strings.Contains(err.Error(), key) {
			t.Errorf("the error shows the key: %v", err)
		}
	}
	for _, name := range []string{"", "/tenant-sync", "tenant-sync/", "tenant//sync", "tenant sync", "tenant?sync", "tenant@sync", "-q", "q.", strings.Repeat("q", 261), "ünï"} {
		if _, err := New("x.servicebus.windows.net", name, noCred{}, nil); err == nil {
			t.Errorf("queue %q accepted", name)
		}
	}
}

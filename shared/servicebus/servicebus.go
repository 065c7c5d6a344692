package servicebus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/seatsync/seatsync/shared/seatsync"
)

const (
	// DefaultQueue is the tenant-sync queue's name (SEATSYNC_QUEUE's default).
	DefaultQueue = "tenant-sync"
	// Subject is every message's Subject.
	Subject = "tenant-sync"
	// ContentType is every message's ContentType.
	ContentType = "application/json"
	// MaxIDBytes is the longest message ID (Service Bus allows 128
	// characters; counting bytes keeps every accepted ID within that, and
	// matches tables.Queue).
	MaxIDBytes = 128
	// MaxBodyBytes is the largest body: the Standard tier takes 256 KiB per
	// message, headers and properties included, so 192 KiB leaves room.
	MaxBodyBytes = 192 << 10
	// maxQueueName is Service Bus's limit on an entity path.
	maxQueueName = 260
)

// ErrInvalidMessage is wrapped by Send's error when a message breaks the
// rules above; nothing was sent.
var ErrInvalidMessage = errors.New("invalid message")

// Sender is what a Queue needs of *azservicebus.Sender; tests use a fake.
type Sender interface {
	NewMessageBatch(ctx context.Context, options *azservicebus.MessageBatchOptions) (*azservicebus.MessageBatch, error)
	SendMessageBatch(ctx context.Context, batch *azservicebus.MessageBatch, options *azservicebus.SendMessageBatchOptions) error
	Close(ctx context.Context) error
}

var _ Sender = (*azservicebus.Sender)(nil)

// Options configure a Queue. Pass nil for defaults.
type Options struct {
	// Queue names the queue in errors for NewWithSender (default
	// DefaultQueue); New uses its queue argument instead.
	Queue string
	// MaxBatchBytes caps each batch's size; 0 uses the link's maximum
	// message size, which Service Bus announces (256 KiB on Standard).
	MaxBatchBytes uint64
	// ClientOptions are New's options for azservicebus.NewClient: retry
	// options (the only retries a send gets), web sockets, TLS.
	ClientOptions azservicebus.ClientOptions
}

// Queue is a seatsync.Queue on one Service Bus queue. It is safe for
// concurrent use.
type Queue struct {
	name    string
	batches batches
	close   func(context.Context) error
}

var _ seatsync.Queue = (*Queue)(nil)

// New returns a Queue sending to queue in the Service Bus namespace
// (its fully qualified host name, such as myns.servicebus.windows.net: the
// value of ServiceBusConnection__fullyQualifiedNamespace), authenticating
// with cred (managed identity in Azure; the identity needs the Azure Service
// Bus Data Sender role). It does not connect: the first Send does.
func New(namespace, queue string, cred azcore.TokenCredential, opts *Options) (*Queue, error) {
	if err := checkNamespace(namespace); err != nil {
		return nil, err
	}
	if err := checkQueueName(queue); err != nil {
		return nil, err
	}
	if cred == nil {
		return nil, errors.New("servicebus: no credential")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	client, err := azservicebus.NewClient(namespace, cred, &o.ClientOptions)
	if err != nil {
		return nil, fmt.Errorf("servicebus: namespace %s: %w", namespace, err)
	}
	sender, err := client.NewSender(queue, nil)
	if err != nil {
		_ = client.Close(context.Background())
		return nil, fmt.Errorf("servicebus: queue %q in %s: %w", queue, namespace, err)
	}
	q := newQueue(queue, sdkBatches{s: sender, maxBytes: o.MaxBatchBytes})
	q.close = func(ctx context.Context) error {
		return errors.Join(sender.Close(ctx), client.Close(ctx))
	}
	return q, nil
}

// NewWithSender returns a Queue sending through s (a fake in tests, or a
// sender the caller made). opts.Queue names the queue in errors.
func NewWithSender(s Sender, opts *Options) *Queue {
	if s == nil {
		panic("servicebus: NewWithSender with a nil Sender")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	q := newQueue(o.Queue, sdkBatches{s: s, maxBytes: o.MaxBatchBytes})
	q.close = s.Close
	return q
}

func newQueue(name string, b batches) *Queue {
	if name == "" {
		name = DefaultQueue
	}
	return &Queue{name: name, batches: b}
}

// Name returns the queue's name.
func (q *Queue) Name() string { return q.name }

// Close closes the sender (and the client New made). The Queue cannot send
// afterwards.
func (q *Queue) Close(ctx context.Context) error {
	if err := q.close(ctx); err != nil {
		return fmt.Errorf("servicebus: queue %q: close: %w", q.name, err)
	}
	return nil
}

// SendError is Send's error. msgs[:Sent] were accepted by Service Bus
// before the failure (batches go in order); the rest may or may not have
// been (a batch whose send timed out may have arrived). Sending all the
// messages again is safe: duplicate detection drops those that arrived.
type SendError struct {
	Queue string
	// Sent counts the messages, from the first, known to have been sent.
	Sent int
	// Total is len(msgs).
	Total int
	// MessageID is the message at fault, when one is (invalid or too
	// large); "" for a failure of a whole batch.
	MessageID string
	// Err wraps ErrInvalidMessage, azservicebus.ErrMessageTooLarge, or the
	// SDK's error (often an *azservicebus.Error).
	Err error
}

func (e *SendError) Error() string {
	return fmt.Sprintf("servicebus: queue %q: %d of %d messages sent: %v", e.Queue, e.Sent, e.Total, e.Err)
}

func (e *SendError) Unwrap() error { return e.Err }

// Send sends msgs in as few batches as fit, in order. It validates every
// message first and sends nothing if one is invalid. A message too large
// even for an empty batch stops the send there. Any error is a *SendError.
func (q *Queue) Send(ctx context.Context, msgs []seatsync.Message) error {
	for i, m := range msgs {
		if err := checkMessage(m); err != nil {
			return &SendError{Queue: q.name, Total: len(msgs), MessageID: m.ID,
				Err: fmt.Errorf("message %d (ID %s): %w", i, safeID(m.ID), err)}
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	fail := func(sent int, id string, err error) error {
		return &SendError{Queue: q.name, Sent: sent, Total: len(msgs), MessageID: id, Err: err}
	}
	sent := 0
	b, err := q.batches.newBatch(ctx)
	if err != nil {
		return fail(sent, "", fmt.Errorf("new batch: %w", err))
	}
	for _, m := range msgs {
		sm := toServiceBus(m)
		err := b.Add(sm)
		if errors.Is(err, azservicebus.ErrMessageTooLarge) && b.Len() > 0 {
			// The batch is full: send it and start another.
			n := b.Len()
			if err := q.batches.send(ctx, b); err != nil {
				return fail(sent, "", fmt.Errorf("send batch of %d: %w", n, err))
			}
			sent += n
			if b, err = q.batches.newBatch(ctx); err != nil {
				return fail(sent, "", fmt.Errorf("new batch: %w", err))
			}
			err = b.Add(sm)
		}
		if errors.Is(err, azservicebus.ErrMessageTooLarge) {
			return fail(sent, m.ID, fmt.Errorf("message %s (body %d bytes, %d properties) does not fit in an empty batch: %w",
				m.ID, len(m.Body), len(m.Properties), err))
		}
		if err != nil {
			return fail(sent, m.ID, fmt.Errorf("add message %s to a batch: %w", m.ID, err))
		}
	}
	if n := b.Len(); n > 0 {
		if err := q.batches.send(ctx, b); err != nil {
			return fail(sent, "", fmt.Errorf("send batch of %d: %w", n, err))
		}
		sent += n
	}
	return nil
}

func toServiceBus(m seatsync.Message) *azservicebus.Message {
	id, ct, subject := m.ID, ContentType, Subject
	return &azservicebus.Message{
		MessageID:             &id,
		Body:                  m.Body,
		ContentType:           &ct,
		Subject:               &subject,
		ApplicationProperties: m.Properties,
	}
}

// checkMessage applies Send's rules. Its errors never quote the body or a
// property's value.
func checkMessage(m seatsync.Message) error {
	if m.ID == "" || len(m.ID) > MaxIDBytes {
		return fmt.Errorf("the ID must be 1 to %d bytes, got %d: %w", MaxIDBytes, len(m.ID), ErrInvalidMessage)
	}
	if !utf8.ValidString(m.ID) {
		return fmt.Errorf("the ID is not valid UTF-8: %w", ErrInvalidMessage)
	}
	if len(m.Body) > MaxBodyBytes {
		return fmt.Errorf("the body is %d bytes, over the limit of %d: %w", len(m.Body), MaxBodyBytes, ErrInvalidMessage)
	}
	if !json.Valid(m.Body) {
		return fmt.Errorf("the body (%d bytes) is not valid JSON: %w", len(m.Body), ErrInvalidMessage)
	}
	for k, v := range m.Properties {
		if k == "" {
			return fmt.Errorf("a property has an empty name: %w", ErrInvalidMessage)
		}
		switch v := v.(type) {
		case string, bool,
			int, int8, int16, int32, int64,
			uint, uint8, uint16, uint32, uint64:
		case float32:
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("property %q is not a finite number: %w", k, ErrInvalidMessage)
			}
		case float64:
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("property %q is not a finite number: %w", k, ErrInvalidMessage)
			}
		default:
			return fmt.Errorf("property %q is a %T; only strings, numbers and bools are allowed: %w", k, v, ErrInvalidMessage)
		}
	}
	return nil
}

// safeID is an ID for an error message: quoted, and cut short if long.
func safeID(id string) string {
	if len(id) > MaxIDBytes {
		id = id[:MaxIDBytes] + "..."
	}
	return fmt.Sprintf("%q", id)
}

// batch is one batch being filled: *azservicebus.MessageBatch in
// production, a fake in tests.
type batch interface {
	// Add adds m, or returns azservicebus.ErrMessageTooLarge if it does not
	// fit (the batch is unchanged).
	Add(m *azservicebus.Message) error
	// Len is the number of messages added.
	Len() int
}

// batches makes and sends batches.
type batches interface {
	newBatch(ctx context.Context) (batch, error)
	send(ctx context.Context, b batch) error
}

// sdkBatches makes real batches with a Sender.
type sdkBatches struct {
	s        Sender
	maxBytes uint64
}

type sdkBatch struct{ b *azservicebus.MessageBatch }

func (b sdkBatch) Add(m *azservicebus.Message) error { return b.b.AddMessage(m, nil) }
func (b sdkBatch) Len() int                          { return int(b.b.NumMessages()) }

func (s sdkBatches) newBatch(ctx context.Context) (batch, error) {
	var opts *azservicebus.MessageBatchOptions
	if s.maxBytes > 0 {
		opts = &azservicebus.MessageBatchOptions{MaxBytes: s.maxBytes}
	}
	b, err := s.s.NewMessageBatch(ctx, opts)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, errors.New("the sender made no batch")
	}
	return sdkBatch{b}, nil
}

func (s sdkBatches) send(ctx context.Context, b batch) error {
	return s.s.SendMessageBatch(ctx, b.(sdkBatch).b, nil)
}

// checkNamespace accepts a fully qualified host name. The value is quoted
// in errors only when it cannot be a connection string (which may hold a
// key).
func checkNamespace(ns string) error {
	show := "the namespace"
	if !strings.ContainsAny(ns, ";=") {
		show = fmt.Sprintf("namespace %q", ns)
	}
	bad := func(why string) error {
		return fmt.Errorf("servicebus: %s %s; give the host name only, such as myns.servicebus.windows.net", show, why)
	}
	switch {
	case ns == "":
		return errors.New("servicebus: no namespace; set ServiceBusConnection__fullyQualifiedNamespace to the host name, such as myns.servicebus.windows.net")
	case strings.ContainsAny(ns, ";="):
		return bad("looks like a connection string; this app uses an identity-based connection")
	case strings.Contains(ns, "://") || strings.ContainsAny(ns, "/?#@"):
		return bad("is a URL")
	case strings.Contains(ns, ":"):
		return bad("has a port")
	case len(ns) > 253:
		return bad("is longer than 253 characters")
	}
	labels := strings.Split(ns, ".")
	if len(labels) < 2 {
		return bad("is not fully qualified")
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return bad("is not a valid host name")
		}
		for _, c := range []byte(l) {
			if !isAlnum(c) && c != '-' {
				return bad("is not a valid host name")
			}
		}
	}
	return nil
}

// checkQueueName applies Service Bus's rules for a queue: 1 to 260
// characters, letters, digits, '.', '-', '_' and '/', starting and ending
// with a letter or digit, no empty path segment.
func checkQueueName(name string) error {
	if name == "" {
		return errors.New("servicebus: no queue name; SEATSYNC_QUEUE defaults to " + DefaultQueue)
	}
	bad := fmt.Errorf("servicebus: queue name %q is not valid: use 1 to %d letters, digits, '.', '-', '_' or '/', starting and ending with a letter or digit", name, maxQueueName)
	if len(name) > maxQueueName || !isAlnum(name[0]) || !isAlnum(name[len(name)-1]) || strings.Contains(name, "//") {
		return bad
	}
	for _, c := range []byte(name) {
		if !isAlnum(c) && !strings.ContainsRune(".-_/", rune(c)) {
			return bad
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

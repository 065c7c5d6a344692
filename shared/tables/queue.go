package tables

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/seatsync/seatsync/shared/seatsync"
)

// Queue tables: one row per message, kept after completion for the
// duplicate-detection window, and the dead-letter records.
const (
	QueueTable      = "queue"
	DeadLetterTable = "deadletter"
)

// ErrLockLost means a delivery's lock expired and the message was delivered
// again (or settled) elsewhere; the settle had no effect.
var ErrLockLost = errors.New("queue: the message lock was lost")

// QueueOptions tune the durable queue. Pass nil for the Service Bus defaults.
type QueueOptions struct {
	// LockDuration is how long a received message stays invisible to other
	// receivers without a renewal (Service Bus default: 1 minute).
	LockDuration time.Duration
	// DuplicateWindow is how long a completed message's ID still drops a
	// send of the same ID (as the queue's duplicate detection in Azure).
	DuplicateWindow time.Duration
	// Now is the clock (tests).
	Now func() time.Time
}

// Queue is a durable queue in Table Storage with Service Bus semantics:
// peek-lock receive, at-least-once delivery, duplicate detection by message
// ID, delivery counts, dead-lettering. It is standalone mode's stand-in for
// the Service Bus queue; it survives a crash because all state is in rows.
type Queue struct {
	t, dead *Table
	name    string
	opts    QueueOptions
	notify  chan struct{}
}

// NewQueue returns the queue name, kept in svc's QueueTable and
// DeadLetterTable (create them with EnsureTables).
func NewQueue(svc *Service, name string, opts *QueueOptions) (*Queue, error) {
	if err := ValidKey(name); err != nil || name == "" {
		return nil, fmt.Errorf("queue: bad queue name %q", name)
	}
	o := QueueOptions{LockDuration: time.Minute, DuplicateWindow: time.Hour, Now: time.Now}
	if opts != nil {
		if opts.LockDuration > 0 {
			o.LockDuration = opts.LockDuration
		}
		if opts.DuplicateWindow > 0 {
			o.DuplicateWindow = opts.DuplicateWindow
		}
		if opts.Now != nil {
			o.Now = opts.Now
		}
	}
	return &Queue{t: svc.Table(QueueTable), dead: svc.Table(DeadLetterTable), name: name, opts: o, notify: make(chan struct{}, 1)}, nil
}

// LockDuration returns the lock duration, so a receiver can renew in time.
func (q *Queue) LockDuration() time.Duration { return q.opts.LockDuration }

// Notify signals (without blocking) when Send added messages in this
// process, so a receiver need not wait for its next poll.
func (q *Queue) Notify() <-chan struct{} { return q.notify }

// done is the VisibleAt of a completed message: after every real time.
const done = "9999-12-31T23:59:59.999999999Z"

type queueRow struct {
	PartitionKey  string
	RowKey        string
	MessageID     string
	Body          string
	Properties    string
	EnqueuedAt    string
	VisibleAt     string
	DeliveryCount int
	CompletedAt   string
}

type deadRow struct {
	PartitionKey     string
	RowKey           string
	MessageID        string
	Body             string
	Properties       string
	EnqueuedAt       string
	DeliveryCount    int
	DeadLetteredAt   string
	Reason           string
	ErrorDescription string
}

// messageKey maps a message ID (which may hold '/') to a valid RowKey.
func messageKey(id string) string { return base64.RawURLEncoding.EncodeToString([]byte(id)) }

// Send enqueues msgs. A message whose ID is already in the queue, or was
// completed within the duplicate window, is dropped, as Service Bus does.
func (q *Queue) Send(ctx context.Context, msgs []seatsync.Message) error {
	now := FormatTime(q.opts.Now())
	added := 0
	for _, m := range msgs {
		if m.ID == "" || len(m.ID) > 128 {
			return fmt.Errorf("queue: message ID must be 1 to 128 characters, got %d", len(m.ID))
		}
		props, err := json.Marshal(m.Properties)
		if err != nil {
			return fmt.Errorf("queue: message %s: properties: %w", m.ID, err)
		}
		row := queueRow{PartitionKey: q.name, RowKey: messageKey(m.ID), MessageID: m.ID, Body: string(m.Body),
			Properties: string(props), EnqueuedAt: now, VisibleAt: now}
		if _, err := q.t.Insert(ctx, row); err != nil {
			if errors.Is(err, ErrExists) {
				continue // duplicate detection
			}
			return fmt.Errorf("queue: send %s: %w", m.ID, err)
		}
		added++
	}
	if added > 0 {
		select {
		case q.notify <- struct{}{}:
		default:
		}
	}
	return nil
}

// Receive locks and returns up to max messages that are visible now, oldest
// first within what one query returns. Each receive counts a delivery.
func (q *Queue) Receive(ctx context.Context, max int) ([]*seatsync.Delivery, error) {
	if max <= 0 {
		return nil, nil
	}
	now := q.opts.Now()
	filter := fmt.Sprintf("PartitionKey eq %s and VisibleAt le %s", Quote(q.name), Quote(FormatTime(now)))
	// Ask for a few more than max: some may be taken by another receiver.
	rows, _, err := q.t.Page(ctx, filter, int32(min(max*2, 1000)), "")
	if err != nil {
		return nil, fmt.Errorf("queue: receive: %w", err)
	}
	var out []*seatsync.Delivery
	for _, r := range rows {
		if len(out) == max {
			break
		}
		var row queueRow
		if err := r.Decode(&row); err != nil {
			return out, err
		}
		row.DeliveryCount++
		row.VisibleAt = FormatTime(now.Add(q.opts.LockDuration))
		etag, err := q.t.Replace(ctx, row, r.ETag)
		if errors.Is(err, ErrPrecondition) || errors.Is(err, ErrNotFound) {
			continue // another receiver got it first
		}
		if err != nil {
			return out, fmt.Errorf("queue: lock %s: %w", row.MessageID, err)
		}
		d, err := row.delivery(etag)
		if err != nil {
			return out, err
		}
		out = append(out, d)
	}
	return out, nil
}

func (row queueRow) delivery(etag string) (*seatsync.Delivery, error) {
	var props map[string]any
	if row.Properties != "" && row.Properties != "null" {
		if err := json.Unmarshal([]byte(row.Properties), &props); err != nil {
			return nil, fmt.Errorf("queue: message %s: properties: %w", row.MessageID, err)
		}
	}
	enq, err := ParseTime(row.EnqueuedAt)
	if err != nil {
		return nil, fmt.Errorf("queue: message %s: EnqueuedAt: %w", row.MessageID, err)
	}
	return &seatsync.Delivery{
		Message:       seatsync.Message{ID: row.MessageID, Body: []byte(row.Body), Properties: props},
		DeliveryCount: row.DeliveryCount, EnqueuedAt: enq, Lock: etag,
	}, nil
}

func (q *Queue) rowOf(d *seatsync.Delivery) (queueRow, error) {
	props, err := json.Marshal(d.Properties)
	if err != nil {
		return queueRow{}, err
	}
	return queueRow{PartitionKey: q.name, RowKey: messageKey(d.ID), MessageID: d.ID, Body: string(d.Body),
		Properties: string(props), EnqueuedAt: FormatTime(d.EnqueuedAt), DeliveryCount: d.DeliveryCount}, nil
}

// settle rewrites the delivery's row if the lock still holds.
func (q *Queue) settle(ctx context.Context, d *seatsync.Delivery, edit func(*queueRow)) error {
	row, err := q.rowOf(d)
	if err != nil {
		return err
	}
	edit(&row)
	etag, err := q.t.Replace(ctx, row, d.Lock)
	if errors.Is(err, ErrPrecondition) || errors.Is(err, ErrNotFound) {
		return fmt.Errorf("queue: message %s: %w", d.ID, ErrLockLost)
	}
	if err != nil {
		return fmt.Errorf("queue: message %s: %w", d.ID, err)
	}
	d.Lock = etag
	return nil
}

// Renew extends the delivery's lock by the lock duration.
func (q *Queue) Renew(ctx context.Context, d *seatsync.Delivery) error {
	until := FormatTime(q.opts.Now().Add(q.opts.LockDuration))
	return q.settle(ctx, d, func(r *queueRow) { r.VisibleAt = until })
}

// Complete settles the delivery as done. The row stays for the duplicate
// window, invisible to receivers.
func (q *Queue) Complete(ctx context.Context, d *seatsync.Delivery) error {
	now := FormatTime(q.opts.Now())
	return q.settle(ctx, d, func(r *queueRow) { r.VisibleAt, r.CompletedAt = done, now })
}

// Abandon releases the delivery; the message is visible again after delay.
func (q *Queue) Abandon(ctx context.Context, d *seatsync.Delivery, delay time.Duration) error {
	at := FormatTime(q.opts.Now().Add(delay))
	return q.settle(ctx, d, func(r *queueRow) { r.VisibleAt = at })
}

// DeadLetter moves the delivery to the dead-letter table with a reason and a
// description (which must hold no secret), and settles it.
func (q *Queue) DeadLetter(ctx context.Context, d *seatsync.Delivery, reason, description string) error {
	props, _ := json.Marshal(d.Properties)
	// The record is written before the message is settled: a crash between
	// the two repeats an idempotent upsert, never loses the message.
	_, err := q.dead.Upsert(ctx, deadRow{PartitionKey: q.name, RowKey: messageKey(d.ID), MessageID: d.ID, Body: string(d.Body),
		Properties: string(props), EnqueuedAt: FormatTime(d.EnqueuedAt), DeliveryCount: d.DeliveryCount,
		DeadLetteredAt: FormatTime(q.opts.Now()), Reason: reason, ErrorDescription: truncateText(description, 1024)})
	if err != nil {
		return fmt.Errorf("queue: dead-letter %s: %w", d.ID, err)
	}
	return q.Complete(ctx, d)
}

// DeadLetter is one dead-lettered message, as recorded.
type DeadLetter struct {
	MessageID        string
	Body             []byte
	DeliveryCount    int
	DeadLetteredAt   time.Time
	Reason           string
	ErrorDescription string
}

// DeadLetters lists the queue's dead-letter records.
func (q *Queue) DeadLetters(ctx context.Context) ([]DeadLetter, error) {
	var out []DeadLetter
	for r, err := range q.dead.Query(ctx, "PartitionKey eq "+Quote(q.name)) {
		if err != nil {
			return nil, err
		}
		var row deadRow
		if err := r.Decode(&row); err != nil {
			return nil, err
		}
		at, _ := ParseTime(row.DeadLetteredAt)
		out = append(out, DeadLetter{MessageID: row.MessageID, Body: []byte(row.Body), DeliveryCount: row.DeliveryCount,
			DeadLetteredAt: at, Reason: row.Reason, ErrorDescription: row.ErrorDescription})
	}
	return out, nil
}

// Stats counts the queue's messages by state.
type Stats struct{ Active, Completed int }

// Stats counts the queue's rows (a partition scan: for tests and status).
func (q *Queue) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	for r, err := range q.t.Query(ctx, "PartitionKey eq "+Quote(q.name)) {
		if err != nil {
			return s, err
		}
		var row queueRow
		if err := r.Decode(&row); err != nil {
			return s, err
		}
		if row.CompletedAt != "" {
			s.Completed++
		} else {
			s.Active++
		}
	}
	return s, nil
}

// Sweep deletes completed messages older than the duplicate window.
func (q *Queue) Sweep(ctx context.Context) (int, error) {
	cutoff := FormatTime(q.opts.Now().Add(-q.opts.DuplicateWindow))
	filter := fmt.Sprintf("PartitionKey eq %s and CompletedAt ne '' and CompletedAt lt %s", Quote(q.name), Quote(cutoff))
	b, n := q.t.Batch(), 0
	for r, err := range q.t.Query(ctx, filter) {
		if err != nil {
			return n, err
		}
		if err := b.Delete(ctx, r.PartitionKey, r.RowKey); err != nil {
			return n, err
		}
		n++
	}
	return n, b.Flush(ctx)
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// Name returns the queue's name.
func (q *Queue) Name() string { return q.name }

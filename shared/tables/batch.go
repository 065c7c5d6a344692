package tables

import (
	"context"
	"errors"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// Batch collects writes and submits them as transactions of at most MaxBatch
// entities of one partition each. Writes to one partition are atomic per
// transaction; across transactions they are not, which is why seatsync's
// writes are upserts with deterministic keys: a retry converges.
type Batch struct {
	t       *Table
	pending map[string][]aztables.TransactionAction
	order   []string // partitions in first-write order, for stable submits
	// keys catches a second action on one entity in a transaction, which
	// the service rejects.
	keys map[string]map[string]bool
}

// Batch starts a batch on t.
func (t *Table) Batch() *Batch {
	return &Batch{t: t, pending: map[string][]aztables.TransactionAction{}, keys: map[string]map[string]bool{}}
}

// Upsert adds an insert-or-replace of e. When e's partition reaches MaxBatch
// entities, that transaction is submitted at once.
func (b *Batch) Upsert(ctx context.Context, e any) error {
	raw, pk, err := entity(e)
	if err != nil {
		return err
	}
	return b.add(ctx, pk, rowKeyOf(raw), aztables.TransactionAction{ActionType: aztables.TransactionTypeInsertReplace, Entity: raw})
}

// Delete adds a delete of pk/rk.
func (b *Batch) Delete(ctx context.Context, pk, rk string) error {
	raw, _, err := entity(map[string]string{"PartitionKey": pk, "RowKey": rk})
	if err != nil {
		return err
	}
	return b.add(ctx, pk, rk, aztables.TransactionAction{ActionType: aztables.TransactionTypeDelete, Entity: raw})
}

func rowKeyOf(raw []byte) string {
	r, _ := rowFrom(raw, "")
	return r.RowKey
}

func (b *Batch) add(ctx context.Context, pk, rk string, a aztables.TransactionAction) error {
	if b.keys[pk][rk] {
		// Flush what came before so the later write wins, as it would
		// with single writes.
		if err := b.flushPartition(ctx, pk); err != nil {
			return err
		}
	}
	if _, ok := b.pending[pk]; !ok {
		b.order = append(b.order, pk)
	}
	if b.keys[pk] == nil {
		b.keys[pk] = map[string]bool{}
	}
	b.keys[pk][rk] = true
	b.pending[pk] = append(b.pending[pk], a)
	if len(b.pending[pk]) == MaxBatch {
		return b.flushPartition(ctx, pk)
	}
	return nil
}

// Len returns the number of writes not yet submitted.
func (b *Batch) Len() int {
	n := 0
	for _, p := range b.pending {
		n += len(p)
	}
	return n
}

// Flush submits every pending write.
func (b *Batch) Flush(ctx context.Context) error {
	for _, pk := range b.order {
		if err := b.flushPartition(ctx, pk); err != nil {
			return err
		}
	}
	b.order = b.order[:0]
	return nil
}

func (b *Batch) flushPartition(ctx context.Context, pk string) error {
	actions := b.pending[pk]
	if len(actions) == 0 {
		return nil
	}
	if err := b.t.Submit(ctx, actions); err != nil {
		return err
	}
	b.pending[pk] = nil
	delete(b.keys, pk)
	return nil
}

// Submit runs actions as one transaction. It refuses more than MaxBatch
// actions or actions on more than one partition: the service would reject
// them, and Azurite would accept them (or fail with an unreadable body).
func (t *Table) Submit(ctx context.Context, actions []aztables.TransactionAction) error {
	if len(actions) == 0 {
		return nil
	}
	if len(actions) > MaxBatch {
		return fmt.Errorf("tables: a transaction holds at most %d entities, got %d", MaxBatch, len(actions))
	}
	first := ""
	for i, a := range actions {
		r, err := rowFrom(a.Entity, "")
		if err != nil {
			return err
		}
		if i == 0 {
			first = r.PartitionKey
		} else if r.PartitionKey != first {
			return fmt.Errorf("tables: a transaction must stay in one partition, got %q and %q", first, r.PartitionKey)
		}
	}
	if _, err := t.c.SubmitTransaction(ctx, actions, nil); err != nil {
		if te, ok := errors.AsType[*azcore.ResponseError](err); ok {
			return fmt.Errorf("tables: transaction of %d on %s/%s failed (%s): %w", len(actions), t.name, first, te.ErrorCode, err)
		}
		return fmt.Errorf("tables: transaction of %d on %s/%s: %w", len(actions), t.name, first, err)
	}
	return nil
}

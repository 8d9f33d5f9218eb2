package storage

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// Batch collects writes to one shard's FSM state and commits them
// atomically in one Pebble batch (state, dedupe set, timers, outbox and
// Meta together: RELIABILITY trap 1). Writes are not visible to reads,
// including ExpireEvents, until Commit. A Batch is not safe for concurrent
// use. Methods copy their arguments. After Commit or Close the write methods
// do nothing and Commit returns ErrBatchDone; always Close a batch.
type Batch struct {
	s   *Shard
	pb  *pebble.Batch
	key []byte // scratch for keys
	val []byte // scratch for values
	// keys put, added to the shard's key filters at Commit
	pending [numFilters]pendingKeys
	done    bool
}

// NewBatch starts a write batch on the shard.
func (s *Shard) NewBatch() *Batch {
	b := &Batch{s: s, key: make([]byte, 0, 256)}
	if p, ok := pendingPool.Get().(*[numFilters]pendingKeys); ok {
		b.pending = *p
	}
	if s.db.enter() != nil {
		return b // pb nil: writes are dropped, Commit returns ErrClosed
	}
	defer s.db.leave()
	b.pb = s.db.pdb.NewBatch()
	return b
}

// usable reports whether writes go into the batch.
func (b *Batch) usable() bool { return b.pb != nil && !b.done }

// check returns the error for Commit/ExpireEvents on an unusable batch.
func (b *Batch) check() error {
	if b.done {
		return ErrBatchDone
	}
	if b.pb == nil {
		return ErrClosed
	}
	return nil
}

func (b *Batch) set(key, val []byte) {
	if b.usable() {
		_ = b.pb.Set(key, val, nil) // only fails on misuse of indexed batches
	}
}

func (b *Batch) del(key []byte) {
	if b.usable() {
		_ = b.pb.Delete(key, nil)
	}
}

// PutUser stores the state bytes of user.
func (b *Batch) PutUser(user string, state []byte) {
	b.key = userKey(b.key[:0], b.s.id, user)
	b.set(b.key, state)
	if b.usable() {
		b.pending[filterUsers].add(b.key[kindPrefixLen:])
	}
}

// DeleteUser deletes the state of user (not its dedupe entries or timers).
func (b *Batch) DeleteUser(user string) {
	b.key = userKey(b.key[:0], b.s.id, user)
	b.del(b.key)
}

// PutEvent adds (user, id) to the dedupe set until expires (any unit, as
// long as ExpireEvents uses the same), with its expiry index entry.
// Re-putting an event moves its expiry.
func (b *Batch) PutEvent(user, id string, expires int64) {
	b.key = eventKey(b.key[:0], b.s.id, user, id)
	b.val = appendTS(b.val[:0], expires)
	b.set(b.key, b.val)
	if b.usable() {
		b.pending[filterEvents].add(b.key[kindPrefixLen:])
	}
	b.key = expiryKey(b.key[:0], b.s.id, expires, user, id)
	b.set(b.key, nil)
}

// ExpireEvents deletes every dedupe entry whose expiry is ≤ upTo and its
// index entries, and returns how many dedupe entries it deleted. It looks at
// no more than max index entries, oldest first (max ≤ 0: all); more reports
// that it stopped there and due entries may remain for a later call, so one
// call's batch stays bounded. It reads
// committed state only: call it before PutEvent in a batch, or an entry put
// earlier in this batch with a later expiry may be deleted.
func (b *Batch) ExpireEvents(upTo int64, max int) (n int, more bool, err error) {
	if err := b.check(); err != nil {
		return 0, false, err
	}
	s := b.s
	if err := s.db.enter(); err != nil {
		return 0, false, err
	}
	defer s.db.leave()
	lower, _ := kindBounds(spaceFSM, s.id, kindExpiry)
	upper := tsUpper(s.id, kindExpiry, upTo)
	var ek []byte
	scanned := 0
	err = scanReader(s.db.pdb, lower, upper, func(k, _ []byte) error {
		if max > 0 && scanned == max {
			more = true
			return errStop
		}
		scanned++
		if len(k) < kindPrefixLen+8 {
			return fmt.Errorf("%w: expiry key %x", ErrCorrupt, k)
		}
		user, id, ok := decodeEscaped(k[kindPrefixLen+8:])
		if !ok {
			return fmt.Errorf("%w: expiry key %x", ErrCorrupt, k)
		}
		b.del(k)
		// The event may have been re-put with a later expiry: only delete
		// it if its current expiry is due too.
		ek = append(appendEscaped(appendPrefix(ek[:0], spaceFSM, s.id, kindEvent), string(user)), id...)
		v, closer, err := s.db.pdb.Get(ek)
		if errors.Is(err, pebble.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		due := len(v) == 8 && decodeTS(v) <= upTo
		if err := closer.Close(); err != nil {
			return err
		}
		if due {
			b.del(ek)
			n++
		}
		return nil
	})
	if err != nil {
		return n, more, fmt.Errorf("storage: expire events shard %d: %w", s.id, err)
	}
	return n, more, nil
}

// SetTimer moves user's timer: deletes (old, user) if old ≠ 0 and adds
// (due, user) if due ≠ 0. Zero means "no timer".
func (b *Batch) SetTimer(user string, old, due int64) {
	if old != 0 {
		b.key = timerKey(b.key[:0], b.s.id, old, user)
		b.del(b.key)
	}
	if due != 0 {
		b.key = timerKey(b.key[:0], b.s.id, due, user)
		b.set(b.key, nil)
	}
}

// AppendOutbox stores outbox record seq. The caller assigns seqs from
// Meta.OutboxNext and saves the new OutboxNext with PutMeta.
func (b *Batch) AppendOutbox(seq uint64, rec []byte) {
	b.key = outboxKey(b.key[:0], b.s.id, seq)
	b.set(b.key, rec)
}

// TrimOutbox deletes every outbox record with seq ≤ upTo (one range delete).
func (b *Batch) TrimOutbox(upTo uint64) {
	if !b.usable() {
		return
	}
	lower, upper := kindBounds(spaceFSM, b.s.id, kindOutbox)
	if upTo != ^uint64(0) {
		upper = outboxKey(nil, b.s.id, upTo+1)
	}
	_ = b.pb.DeleteRange(lower, upper, nil)
}

// PutMeta stores the shard's Meta.
func (b *Batch) PutMeta(m Meta) {
	b.key = metaKey(b.key[:0], b.s.id)
	b.val = encodeMeta(b.val[:0], &m)
	b.set(b.key, b.val)
}

// Len returns the number of Pebble records (sets, deletes, range deletes)
// in the batch so far; 0 after Commit or Close.
func (b *Batch) Len() int {
	if !b.usable() {
		return 0
	}
	return int(b.pb.Count())
}

// Commit applies the batch atomically. With sync false it returns before
// the WAL is fsynced: a crash may lose it until a later synced write (the
// next StoreLogs) or DB.Sync. That is the FSM's normal mode, safe because
// the FSM is rebuilt from the synced Raft log (RELIABILITY trap 5).
func (b *Batch) Commit(sync bool) error {
	if err := b.check(); err != nil {
		return err
	}
	if err := b.s.db.enter(); err != nil {
		return err
	}
	defer b.s.db.leave()
	b.done = true
	opts := pebble.NoSync
	if sync {
		opts = pebble.Sync
	}
	if err := b.s.commitFiltered(&b.pending, func() error { return b.pb.Commit(opts) }); err != nil {
		return fmt.Errorf("storage: commit shard %d: %w", b.s.id, err)
	}
	return nil
}

// Close releases the batch, discarding it if it was not committed.
func (b *Batch) Close() {
	b.done = true
	if b.pb != nil {
		_ = b.pb.Close()
		b.pb = nil
	}
	if b.pending[0].ends != nil || b.pending[1].ends != nil {
		p := new([numFilters]pendingKeys)
		for i := range b.pending {
			p[i] = pendingKeys{buf: b.pending[i].buf[:0], ends: b.pending[i].ends[:0]}
		}
		b.pending = [numFilters]pendingKeys{}
		pendingPool.Put(p)
	}
}

// pendingPool recycles the key buffers of closed batches (one FSM batch
// holds a few tens of KiB of keys).
var pendingPool sync.Pool

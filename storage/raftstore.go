package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hashicorp/raft"
)

var (
	_ raft.LogStore    = (*RaftStore)(nil)
	_ raft.StableStore = (*RaftStore)(nil)
)

// RaftStore is the Raft log and stable store of one shard, kept in the
// node's Pebble DB. Every write is synced (RELIABILITY trap 5). It is safe for
// concurrent use; hashicorp/raft writes from its main goroutine and reads
// from replication goroutines.
//
// It does not implement raft.MonotonicLogStore: gaps in the log (after a
// snapshot install) are harmless here, because FirstIndex and LastIndex come
// from the keys actually stored.
type RaftStore struct {
	db    *DB
	shard uint16

	// writeMu serialises StoreLogs and DeleteRange so that the cached bounds
	// are updated in the same order as the writes.
	writeMu sync.Mutex
	mu      struct {
		sync.Mutex
		loaded      bool
		first, last uint64 // 0, 0 when the log is empty
	}
}

// FirstIndex returns the lowest stored index, or 0 for an empty log.
func (r *RaftStore) FirstIndex() (uint64, error) {
	first, _, err := r.bounds()
	return first, err
}

// LastIndex returns the highest stored index, or 0 for an empty log.
func (r *RaftStore) LastIndex() (uint64, error) {
	_, last, err := r.bounds()
	return last, err
}

func (r *RaftStore) bounds() (first, last uint64, err error) {
	if err := r.db.enter(); err != nil { // cached or not, nothing answers after Close
		return 0, 0, err
	}
	defer r.db.leave()
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.mu.loaded {
		if err := r.loadLocked(); err != nil {
			return 0, 0, err
		}
	}
	return r.mu.first, r.mu.last, nil
}

// loadLocked reads the bounds from Pebble. r.mu must be held.
func (r *RaftStore) loadLocked() error {
	if err := r.db.enter(); err != nil {
		return err
	}
	defer r.db.leave()
	lower, upper := kindBounds(spaceRaft, r.shard, raftLog)
	it, err := r.db.pdb.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return fmt.Errorf("storage: raft bounds shard %d: %w", r.shard, err)
	}
	var first, last uint64
	if it.First() {
		first = logIndex(it.Key())
		it.Last()
		last = logIndex(it.Key())
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("storage: raft bounds shard %d: %w", r.shard, err)
	}
	r.mu.first, r.mu.last, r.mu.loaded = first, last, true
	return nil
}

func logIndex(key []byte) uint64 {
	return binary.BigEndian.Uint64(key[kindPrefixLen:])
}

// GetLog reads the entry at index into log; raft.ErrLogNotFound if absent.
// log's slices are freshly allocated (the caller owns them).
func (r *RaftStore) GetLog(index uint64, log *raft.Log) error {
	if err := r.db.enter(); err != nil {
		return err
	}
	defer r.db.leave()
	var kb [kindPrefixLen + 8]byte
	val, closer, err := r.db.pdb.Get(logKey(kb[:0], r.shard, index))
	if errors.Is(err, pebble.ErrNotFound) {
		return raft.ErrLogNotFound
	}
	if err != nil {
		return fmt.Errorf("storage: get log %d shard %d: %w", index, r.shard, err)
	}
	err = decodeLog(val, log)
	closer.Close()
	if err != nil {
		return fmt.Errorf("storage: get log %d shard %d: %w", index, r.shard, err)
	}
	log.Index = index
	return nil
}

// StoreLog stores one entry (synced).
func (r *RaftStore) StoreLog(log *raft.Log) error {
	return r.StoreLogs([]*raft.Log{log})
}

// StoreLogs stores entries in one synced Pebble batch: all or none.
func (r *RaftStore) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	if err := r.db.enter(); err != nil {
		return err
	}
	defer r.db.leave()
	r.writeMu.Lock()
	defer r.writeMu.Unlock()

	b := r.db.pdb.NewBatch()
	defer b.Close()
	key := make([]byte, 0, kindPrefixLen+8)
	var val []byte
	lo, hi := logs[0].Index, logs[0].Index
	for _, l := range logs {
		key = logKey(key[:0], r.shard, l.Index)
		val = encodeLog(val[:0], l)
		if err := b.Set(key, val, nil); err != nil {
			return fmt.Errorf("storage: store logs shard %d: %w", r.shard, err)
		}
		lo, hi = min(lo, l.Index), max(hi, l.Index)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("storage: store logs shard %d: %w", r.shard, err)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.mu.loaded {
		// Bounds are read lazily from Pebble, which now includes these logs.
		return nil
	}
	if r.mu.first == 0 || lo < r.mu.first {
		r.mu.first = lo
	}
	r.mu.last = max(r.mu.last, hi)
	return nil
}

// DeleteRange deletes entries lo..hi inclusive (a synced range delete).
func (r *RaftStore) DeleteRange(lo, hi uint64) error {
	if lo > hi {
		return nil
	}
	if err := r.db.enter(); err != nil {
		return err
	}
	defer r.db.leave()
	r.writeMu.Lock()
	defer r.writeMu.Unlock()

	start := logKey(nil, r.shard, lo)
	var end []byte
	if hi == ^uint64(0) {
		_, end = kindBounds(spaceRaft, r.shard, raftLog)
	} else {
		end = logKey(nil, r.shard, hi+1)
	}
	if err := r.db.pdb.DeleteRange(start, end, pebble.Sync); err != nil {
		return fmt.Errorf("storage: delete logs %d..%d shard %d: %w", lo, hi, r.shard, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// Gaps make arithmetic on the cached bounds unreliable; re-read them.
	r.mu.loaded = false
	return r.loadLocked()
}

// Set stores a stable-store value (synced).
func (r *RaftStore) Set(key, val []byte) error {
	if err := r.db.enter(); err != nil {
		return err
	}
	defer r.db.leave()
	if err := r.db.pdb.Set(stableKey(nil, r.shard, key), val, pebble.Sync); err != nil {
		return fmt.Errorf("storage: stable set %q shard %d: %w", key, r.shard, err)
	}
	return nil
}

// Get returns a copy of a stable-store value, or ErrKeyNotFound (exactly
// "not found", as hashicorp/raft expects) if it was never set.
func (r *RaftStore) Get(key []byte) ([]byte, error) {
	if err := r.db.enter(); err != nil {
		return nil, err
	}
	defer r.db.leave()
	val, closer, err := r.db.pdb.Get(stableKey(nil, r.shard, key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ErrKeyNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("storage: stable get %q shard %d: %w", key, r.shard, err)
	}
	out := append([]byte{}, val...)
	closer.Close()
	return out, nil
}

// SetUint64 stores val as 8 big-endian bytes (synced).
func (r *RaftStore) SetUint64(key []byte, val uint64) error {
	return r.Set(key, binary.BigEndian.AppendUint64(nil, val))
}

// GetUint64 returns a value stored by SetUint64, or 0 and ErrKeyNotFound.
func (r *RaftStore) GetUint64(key []byte) (uint64, error) {
	val, err := r.Get(key)
	if err != nil {
		return 0, err
	}
	if len(val) != 8 {
		return 0, fmt.Errorf("storage: stable get uint64 %q shard %d: %w: %d bytes", key, r.shard, ErrCorrupt, len(val))
	}
	return binary.BigEndian.Uint64(val), nil
}

// Log value encoding, version 1 (the index is in the key):
//
//	0x01 | uvarint term | type u8 | flags u8 | uvarint len | data | uvarint len | extensions | [varint appendedAt unix ns]
//
// flags bit 0: AppendedAt is present (non-zero time).
const (
	logVersion     byte = 1
	logHasAppended byte = 1 << 0
)

func encodeLog(dst []byte, l *raft.Log) []byte {
	dst = append(dst, logVersion)
	dst = binary.AppendUvarint(dst, l.Term)
	var flags byte
	if !l.AppendedAt.IsZero() {
		flags |= logHasAppended
	}
	dst = append(dst, byte(l.Type), flags)
	dst = binary.AppendUvarint(dst, uint64(len(l.Data)))
	dst = append(dst, l.Data...)
	dst = binary.AppendUvarint(dst, uint64(len(l.Extensions)))
	dst = append(dst, l.Extensions...)
	if flags&logHasAppended != 0 {
		dst = binary.AppendVarint(dst, l.AppendedAt.UnixNano())
	}
	return dst
}

func decodeLog(b []byte, l *raft.Log) error {
	bad := func(what string) error { return fmt.Errorf("%w: raft log %s", ErrCorrupt, what) }
	if len(b) < 1 || b[0] != logVersion {
		return bad("version")
	}
	b = b[1:]
	term, n := binary.Uvarint(b)
	if n <= 0 {
		return bad("term")
	}
	b = b[n:]
	if len(b) < 2 {
		return bad("type")
	}
	typ, flags := b[0], b[1]
	b = b[2:]
	dlen, n := binary.Uvarint(b)
	if n <= 0 || dlen > uint64(len(b)-n) {
		return bad("data")
	}
	data := b[n : n+int(dlen)]
	b = b[n+int(dlen):]
	elen, n := binary.Uvarint(b)
	if n <= 0 || elen > uint64(len(b)-n) {
		return bad("extensions")
	}
	ext := b[n : n+int(elen)]
	b = b[n+int(elen):]
	var at time.Time
	if flags&logHasAppended != 0 {
		ns, n := binary.Varint(b)
		if n <= 0 {
			return bad("appended at")
		}
		b = b[n:]
		at = time.Unix(0, ns)
	}
	if len(b) != 0 {
		return bad("trailing bytes")
	}
	// One allocation for both slices; each is capped so appends cannot overlap.
	var buf []byte
	if len(data)+len(ext) > 0 {
		buf = make([]byte, len(data)+len(ext))
		copy(buf, data)
		copy(buf[len(data):], ext)
	}
	l.Term = term
	l.Type = raft.LogType(typ)
	l.Data, l.Extensions = nil, nil
	if len(data) > 0 {
		l.Data = buf[:len(data):len(data)]
	}
	if len(ext) > 0 {
		l.Extensions = buf[len(data):]
	}
	l.AppendedAt = at
	return nil
}

package storage

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"

	"github.com/cockroachdb/pebble/v2"
)

// Meta is the bookkeeping of one shard's FSM, written with PutMeta in the
// same batch as the state it describes.
type Meta struct {
	AppliedIndex  uint64  // last Raft index applied
	Cursor        uint64  // last STRATA_EVENTS stream sequence consumed by this shard
	Now           int64   // Unix ms stamped on the last applied entry
	OutboxNext    uint64  // seq the next outbox record gets (starts at 1)
	OutboxTrimmed uint64  // every outbox seq ≤ this is deleted
	Counts        []int64 // opaque counters owned by the caller (tier counts), any length
}

// Shard is the FSM state of one shard. Reads see committed state and are
// safe for concurrent use with each other and with one writer (Batch).
// Slices passed to callbacks are only valid during the callback.
type Shard struct {
	db *DB
	id uint16
	// in-memory filters of users with state and of dedupe entries (Track)
	filters [numFilters]filterIndex
}

// ID returns the shard number.
func (s *Shard) ID() uint16 { return s.id }

// Meta returns the shard's Meta; a zero Meta with OutboxNext 1 when none was
// ever written.
func (s *Shard) Meta() (Meta, error) {
	var kb [kindPrefixLen]byte
	m := Meta{OutboxNext: 1}
	var derr error
	_, err := s.get(metaKey(kb[:0], s.id), func(v []byte) { derr = decodeMeta(v, &m) })
	if err != nil {
		return Meta{}, fmt.Errorf("storage: meta shard %d: %w", s.id, err)
	}
	if derr != nil {
		return Meta{}, fmt.Errorf("storage: meta shard %d: %w", s.id, derr)
	}
	return m, nil
}

// User appends the stored state of user to dst and returns it, with false
// (and dst unchanged) if the user has no state.
func (s *Shard) User(user string, dst []byte) ([]byte, bool, error) {
	kb := keyBuf()
	defer putKeyBuf(kb)
	*kb = userKey((*kb)[:0], s.id, user)
	if !s.mayHave(filterUsers, (*kb)[kindPrefixLen:]) {
		return dst, false, nil
	}
	found, err := s.get(*kb, func(v []byte) { dst = append(dst, v...) })
	if err != nil {
		return dst, false, fmt.Errorf("storage: user %q shard %d: %w", user, s.id, err)
	}
	return dst, found, nil
}

// HasEvent reports whether (user, id) is in the dedupe set (a point read,
// answered by the shard's event filter, or Pebble's bloom filters, for most
// misses).
func (s *Shard) HasEvent(user, id string) (bool, error) {
	kb := keyBuf()
	defer putKeyBuf(kb)
	*kb = eventKey((*kb)[:0], s.id, user, id)
	if !s.mayHave(filterEvents, (*kb)[kindPrefixLen:]) {
		return false, nil
	}
	found, err := s.get(*kb, nil)
	if err != nil {
		return false, fmt.Errorf("storage: event %q/%q shard %d: %w", user, id, s.id, err)
	}
	return found, nil
}

// get reads key; fn (if non-nil) sees the value while it is valid.
func (s *Shard) get(key []byte, fn func(v []byte)) (bool, error) {
	if err := s.db.enter(); err != nil {
		return false, err
	}
	defer s.db.leave()
	v, closer, err := s.db.pdb.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if fn != nil {
		fn(v)
	}
	return true, closer.Close()
}

// Outbox calls fn for up to max records (all if max ≤ 0) with seq ≥ from,
// in ascending seq order. An error from fn stops the scan and is returned.
func (s *Shard) Outbox(from uint64, max int, fn func(seq uint64, rec []byte) error) error {
	_, upper := kindBounds(spaceFSM, s.id, kindOutbox)
	n := 0
	err := s.scan(outboxKey(nil, s.id, from), upper, func(k, v []byte) error {
		if max > 0 && n >= max {
			return errStop
		}
		n++
		return fn(binary.BigEndian.Uint64(k[kindPrefixLen:]), v)
	})
	if err != nil {
		return fmt.Errorf("storage: outbox shard %d: %w", s.id, err)
	}
	return nil
}

// DueTimers calls fn for every timer with due ≤ upTo, ascending by (due, user).
func (s *Shard) DueTimers(upTo int64, fn func(due int64, user string) error) error {
	lower, _ := kindBounds(spaceFSM, s.id, kindTimer)
	err := s.scan(lower, tsUpper(s.id, kindTimer, upTo), func(k, _ []byte) error {
		if len(k) < kindPrefixLen+8 {
			return fmt.Errorf("%w: timer key %x", ErrCorrupt, k)
		}
		return fn(decodeTS(k[kindPrefixLen:]), string(k[kindPrefixLen+8:]))
	})
	if err != nil {
		return fmt.Errorf("storage: due timers shard %d: %w", s.id, err)
	}
	return nil
}

// Users calls fn for every user with state, in key (byte) order of user.
func (s *Shard) Users(fn func(user string, state []byte) error) error {
	lower, upper := kindBounds(spaceFSM, s.id, kindUser)
	err := s.scan(lower, upper, func(k, v []byte) error {
		return fn(string(k[kindPrefixLen:]), v)
	})
	if err != nil {
		return fmt.Errorf("storage: users shard %d: %w", s.id, err)
	}
	return nil
}

// Hash returns SHA-256 over every FSM key (without its shard prefix) and
// value of the shard, in key order, each length-prefixed. Replicas at the
// same applied index must return the same hash (invariant I5).
func (s *Shard) Hash() ([32]byte, error) {
	var sum [32]byte
	h, err := s.hashKeys(false)
	if err != nil {
		return sum, err
	}
	h.Sum(sum[:0])
	return sum, nil
}

// hashKeys feeds every FSM key (without its shard prefix) and value, in key
// order and length-prefixed, to a new SHA-256; skipMeta leaves the meta key out.
func (s *Shard) hashKeys(skipMeta bool) (hash.Hash, error) {
	h := sha256.New()
	var lb [binary.MaxVarintLen64]byte
	lower, upper := fsmBounds(s.id)
	err := s.scan(lower, upper, func(k, v []byte) error {
		k = k[shardPrefixLen:]
		if skipMeta && len(k) > 0 && k[0] == kindMeta {
			return nil
		}
		h.Write(binary.AppendUvarint(lb[:0], uint64(len(k))))
		h.Write(k)
		h.Write(binary.AppendUvarint(lb[:0], uint64(len(v))))
		h.Write(v)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: hash shard %d: %w", s.id, err)
	}
	return h, nil
}

// errStop ends a scan early without error.
var errStop = errors.New("stop")

// reader is implemented by *pebble.DB and *pebble.Snapshot.
type reader interface {
	NewIter(*pebble.IterOptions) (*pebble.Iterator, error)
}

// scan iterates [lower, upper) of committed state.
func (s *Shard) scan(lower, upper []byte, fn func(k, v []byte) error) error {
	if err := s.db.enter(); err != nil {
		return err
	}
	defer s.db.leave()
	return scanReader(s.db.pdb, lower, upper, fn)
}

func scanReader(r reader, lower, upper []byte, fn func(k, v []byte) error) (err error) {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := it.Close(); err == nil {
			err = cerr
		}
	}()
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		if err := fn(it.Key(), v); err != nil {
			if err == errStop {
				return nil
			}
			return err
		}
	}
	return it.Error()
}

// Meta value encoding, version 1:
//
//	0x01 | uvarint applied | uvarint cursor | varint now | uvarint outboxNext |
//	uvarint outboxTrimmed | uvarint len(counts) | varint counts...
const metaVersion byte = 1

func encodeMeta(dst []byte, m *Meta) []byte {
	dst = append(dst, metaVersion)
	dst = binary.AppendUvarint(dst, m.AppliedIndex)
	dst = binary.AppendUvarint(dst, m.Cursor)
	dst = binary.AppendVarint(dst, m.Now)
	dst = binary.AppendUvarint(dst, m.OutboxNext)
	dst = binary.AppendUvarint(dst, m.OutboxTrimmed)
	dst = binary.AppendUvarint(dst, uint64(len(m.Counts)))
	for _, c := range m.Counts {
		dst = binary.AppendVarint(dst, c)
	}
	return dst
}

func decodeMeta(b []byte, m *Meta) error {
	bad := func(what string) error { return fmt.Errorf("%w: meta %s", ErrCorrupt, what) }
	if len(b) < 1 || b[0] != metaVersion {
		return bad("version")
	}
	b = b[1:]
	uv := func(dst *uint64) bool {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return false
		}
		*dst, b = v, b[n:]
		return true
	}
	sv := func(dst *int64) bool {
		v, n := binary.Varint(b)
		if n <= 0 {
			return false
		}
		*dst, b = v, b[n:]
		return true
	}
	var out Meta
	var n uint64
	if !uv(&out.AppliedIndex) || !uv(&out.Cursor) || !sv(&out.Now) ||
		!uv(&out.OutboxNext) || !uv(&out.OutboxTrimmed) || !uv(&n) {
		return bad("header")
	}
	if n > uint64(len(b)) { // every count takes at least one byte
		return bad("counts length")
	}
	if n > 0 {
		out.Counts = make([]int64, n)
		for i := range out.Counts {
			if !sv(&out.Counts[i]) {
				return bad("count")
			}
		}
	}
	if len(b) != 0 {
		return bad("trailing bytes")
	}
	*m = out
	return nil
}

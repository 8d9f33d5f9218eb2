package storage

import (
	"encoding/binary"
	"fmt"
)

// The keys of tier models and tier membership: the shard's model record,
// users' states under a shadow model, the per-tier member index and each
// user's recent transitions. Their values are opaque to storage; the
// cluster package owns their encodings.

// Models returns the shard's model record appended to dst, with false when
// none was ever written.
func (s *Shard) Models(dst []byte) ([]byte, bool, error) {
	var kb [kindPrefixLen]byte
	found, err := s.get(modelsKey(kb[:0], s.id), func(v []byte) { dst = append(dst, v...) })
	if err != nil {
		return dst, false, fmt.Errorf("storage: models shard %d: %w", s.id, err)
	}
	return dst, found, nil
}

// PutModels stores the shard's model record.
func (b *Batch) PutModels(rec []byte) {
	b.key = modelsKey(b.key[:0], b.s.id)
	b.set(b.key, rec)
}

// Shadow appends user's state under the shadow model to dst, with false
// (and dst unchanged) when it has none.
func (s *Shard) Shadow(user string, dst []byte) ([]byte, bool, error) {
	kb := keyBuf()
	defer putKeyBuf(kb)
	*kb = shadowKey((*kb)[:0], s.id, user)
	found, err := s.get(*kb, func(v []byte) { dst = append(dst, v...) })
	if err != nil {
		return dst, false, fmt.Errorf("storage: shadow %q shard %d: %w", user, s.id, err)
	}
	return dst, found, nil
}

// PutShadow stores user's state under the shadow model.
func (b *Batch) PutShadow(user string, state []byte) {
	b.key = shadowKey(b.key[:0], b.s.id, user)
	b.set(b.key, state)
}

// DeleteShadow deletes user's state under the shadow model.
func (b *Batch) DeleteShadow(user string) {
	b.key = shadowKey(b.key[:0], b.s.id, user)
	b.del(b.key)
}

// UsersAfter calls fn for up to limit users with state whose ID sorts after
// `after` (all when after is ""), in byte order, and reports whether more
// follow. Model sweeps walk a shard's users with it, one bounded step per
// Raft entry.
func (s *Shard) UsersAfter(after string, limit int, fn func(user string) error) (more bool, err error) {
	lower, upper := kindBounds(spaceFSM, s.id, kindUser)
	if after != "" {
		// The smallest key after user `after`: its key with a 0x00 appended.
		lower = append(userKey(nil, s.id, after), 0)
	}
	n := 0
	err = s.scan(lower, upper, func(k, _ []byte) error {
		if n == limit {
			more = true
			return errStop
		}
		n++
		return fn(string(k[kindPrefixLen:]))
	})
	if err != nil {
		return false, fmt.Errorf("storage: users shard %d: %w", s.id, err)
	}
	return more, nil
}

// MoveMember moves user in the member index of dimension dim from tier
// `from` to tier `to`; "" for either means none (a first placement, or
// leaving the index).
func (b *Batch) MoveMember(dim, from, to, user string) {
	if from == to {
		return
	}
	if from != "" {
		b.key = append(memberPrefix(b.key[:0], b.s.id, dim, from), user...)
		b.del(b.key)
	}
	if to != "" {
		b.key = append(memberPrefix(b.key[:0], b.s.id, dim, to), user...)
		b.set(b.key, nil)
	}
}

// Members calls fn for up to limit members of tier `tier` of dimension dim
// whose ID sorts after `after` ("" from the first), in byte order, and
// reports whether more follow; limit ≤ 0 lists them all.
func (s *Shard) Members(dim, tier, after string, limit int, fn func(user string) error) (more bool, err error) {
	prefix := memberPrefix(nil, s.id, dim, tier)
	lower, upper := prefix, prefixEnd(prefix)
	if after != "" {
		lower = append(append(append([]byte(nil), prefix...), after...), 0)
	}
	n := 0
	err = s.scan(lower, upper, func(k, _ []byte) error {
		if limit > 0 && n == limit {
			more = true
			return errStop
		}
		n++
		return fn(string(k[len(prefix):]))
	})
	if err != nil {
		return false, fmt.Errorf("storage: members %s/%s shard %d: %w", dim, tier, s.id, err)
	}
	return more, nil
}

// AddHistory records entry n (1, 2, 3…) of user's recent transitions. It
// writes blindly (no read: n is counted by the caller) and forgets old
// entries in bulk: every keep-th entry deletes, in one range, every entry
// up to n−keep, so a user holds between keep and 2·keep−1 entries (History
// returns the newest keep) at one write per entry.
func (b *Batch) AddHistory(user string, n uint64, entry []byte, keep uint64) {
	b.key = binary.BigEndian.AppendUint64(historyPrefix(b.key[:0], b.s.id, user), n)
	b.set(b.key, entry)
	if keep > 0 && n > keep && n%keep == 0 && b.usable() {
		p := historyPrefix(nil, b.s.id, user)
		lo := binary.BigEndian.AppendUint64(append([]byte(nil), p...), 0)
		hi := binary.BigEndian.AppendUint64(p, n-keep+1)
		_ = b.pb.DeleteRange(lo, hi, nil)
	}
}

// DeleteHistory deletes every history entry of user.
func (b *Batch) DeleteHistory(user string) {
	if !b.usable() {
		return
	}
	p := historyPrefix(nil, b.s.id, user)
	_ = b.pb.DeleteRange(p, prefixEnd(p), nil)
}

// History calls fn for the newest keep (all if keep is 0) of user's
// recorded transitions, oldest first.
func (s *Shard) History(user string, keep int, fn func(n uint64, entry []byte) error) error {
	p := historyPrefix(nil, s.id, user)
	type entry struct {
		n uint64
		v []byte
	}
	var all []entry
	err := s.scan(p, prefixEnd(p), func(k, v []byte) error {
		if len(k) != len(p)+8 {
			return fmt.Errorf("%w: history key %x", ErrCorrupt, k)
		}
		all = append(all, entry{binary.BigEndian.Uint64(k[len(p):]), append([]byte(nil), v...)})
		return nil
	})
	if keep > 0 && len(all) > keep {
		all = all[len(all)-keep:]
	}
	for _, e := range all {
		if err == nil {
			err = fn(e.n, e.v)
		}
	}
	if err != nil {
		return fmt.Errorf("storage: history %q shard %d: %w", user, s.id, err)
	}
	return nil
}

// Sketch appends the shard's RFM sketch to dst, with false when none was
// ever written.
func (s *Shard) Sketch(dst []byte) ([]byte, bool, error) {
	kb := [kindPrefixLen]byte{}
	key := appendPrefix(kb[:0], spaceFSM, s.id, kindSketch)
	found, err := s.get(key, func(v []byte) { dst = append(dst, v...) })
	if err != nil {
		return dst, false, fmt.Errorf("storage: sketch shard %d: %w", s.id, err)
	}
	return dst, found, nil
}

// PutSketch stores the shard's RFM sketch.
func (b *Batch) PutSketch(sketch []byte) {
	b.key = appendPrefix(b.key[:0], spaceFSM, b.s.id, kindSketch)
	b.set(b.key, sketch)
}

// Counts appends the shard's tier counts record to dst, with false when none
// was ever written. The record changes with nearly every commit, the model
// record (Models) only with the models, so they are kept apart.
func (s *Shard) Counts(dst []byte) ([]byte, bool, error) {
	kb := [kindPrefixLen]byte{}
	key := appendPrefix(kb[:0], spaceFSM, s.id, kindCounts)
	found, err := s.get(key, func(v []byte) { dst = append(dst, v...) })
	if err != nil {
		return dst, false, fmt.Errorf("storage: counts shard %d: %w", s.id, err)
	}
	return dst, found, nil
}

// PutCounts stores the shard's tier counts record.
func (b *Batch) PutCounts(rec []byte) {
	b.key = appendPrefix(b.key[:0], spaceFSM, b.s.id, kindCounts)
	b.set(b.key, rec)
}

package storage

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// StateHash is Hash without the fields of Meta that differ between replicas
// that hold the same users only because one applied more no-op entries:
// AppliedIndex and Now. Two replicas whose StateHash differ hold different
// user state, events, timers, outbox, cursor or counts. Tests compare
// replicas of a live shard with it, where Hash would race with ticks.
func (s *Shard) StateHash() ([32]byte, error) {
	h := sha256.New()
	var lb [binary.MaxVarintLen64]byte
	lower, upper := fsmBounds(s.id)
	err := s.scan(lower, upper, func(k, v []byte) error {
		k = k[shardPrefixLen:]
		if len(k) > 0 && k[0] == kindMeta {
			return nil
		}
		h.Write(binary.AppendUvarint(lb[:0], uint64(len(k))))
		h.Write(k)
		h.Write(binary.AppendUvarint(lb[:0], uint64(len(v))))
		h.Write(v)
		return nil
	})
	var sum [32]byte
	if err != nil {
		return sum, fmt.Errorf("storage: state hash shard %d: %w", s.id, err)
	}
	m, err := s.Meta()
	if err != nil {
		return sum, err
	}
	b := binary.BigEndian.AppendUint64(nil, m.Cursor)
	b = binary.BigEndian.AppendUint64(b, m.OutboxNext)
	b = binary.BigEndian.AppendUint64(b, m.OutboxTrimmed)
	for _, c := range m.Counts {
		b = binary.BigEndian.AppendUint64(b, uint64(c))
	}
	h.Write(b)
	h.Sum(sum[:0])
	return sum, nil
}

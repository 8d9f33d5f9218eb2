package storage

import (
	"encoding/binary"
)

// StateHash is Hash without the fields of Meta that differ between replicas
// that hold the same users only because one applied more no-op entries:
// AppliedIndex and Now. Two replicas whose StateHash differ hold different
// user state, events, timers, outbox, cursor or counts. Tests compare
// replicas of a live shard with it, where Hash would race with ticks.
func (s *Shard) StateHash() ([32]byte, error) {
	var sum [32]byte
	h, err := s.hashKeys(true)
	if err != nil {
		return sum, err
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

package storage

import (
	"encoding/binary"
	"math"
	"sync"
)

// Key layout (stable: changing it needs a migration). See doc.go and DESIGN.md.
//
//	raft log     0x01 | shard u16 | 0x01 | index u64
//	raft stable  0x01 | shard u16 | 0x02 | key bytes
//	fsm meta     0x02 | shard u16 | 0x01
//	fsm user     0x02 | shard u16 | 0x02 | user bytes
//	fsm event    0x02 | shard u16 | 0x03 | esc(user) | id bytes          → expires (ts)
//	fsm expiry   0x02 | shard u16 | 0x04 | ts(expires) | esc(user) | id  → empty
//	fsm timer    0x02 | shard u16 | 0x05 | ts(due) | user bytes          → empty
//	fsm outbox   0x02 | shard u16 | 0x06 | seq u64                       → record
//	fsm models   0x02 | shard u16 | 0x07                                 → the shard's model record
//	fsm shadow   0x02 | shard u16 | 0x08 | user bytes                    → state under the shadow model
//	fsm member   0x02 | shard u16 | 0x09 | esc(dim) | esc(tier) | user   → empty
//	fsm history  0x02 | shard u16 | 0x0A | esc(user) | n u64             → the user's n-th recent transition
//	fsm sketch   0x02 | shard u16 | 0x0B                                 → the shard's RFM sketch
//	fsm counts   0x02 | shard u16 | 0x0C                                 → the shard's tier counts
//
// All integers are big-endian. ts(v) is an int64 with its sign bit flipped
// so that negative values sort first. esc(b) escapes 0x00 as 0x00 0xFF and
// ends with 0x00 0x01: prefix-free and order-preserving, so a user followed
// by more key bytes can never collide with another user.
const (
	spaceRaft byte = 0x01
	spaceFSM  byte = 0x02

	raftLog    byte = 0x01
	raftStable byte = 0x02

	kindMeta    byte = 0x01
	kindUser    byte = 0x02
	kindEvent   byte = 0x03
	kindExpiry  byte = 0x04
	kindTimer   byte = 0x05
	kindOutbox  byte = 0x06
	kindModels  byte = 0x07
	kindShadow  byte = 0x08
	kindMember  byte = 0x09
	kindHistory byte = 0x0A
	kindSketch  byte = 0x0B
	kindCounts  byte = 0x0C

	// shardPrefixLen is the length of space | shard.
	shardPrefixLen = 3
	// kindPrefixLen is the length of space | shard | kind.
	kindPrefixLen = 4

	escByte  byte = 0x00
	escQuote byte = 0xFF // 0x00 0xFF encodes a literal 0x00
	escEnd   byte = 0x01 // 0x00 0x01 ends an escaped string
)

// appendPrefix appends space | shard | kind.
func appendPrefix(dst []byte, space byte, shard uint16, kind byte) []byte {
	return append(dst, space, byte(shard>>8), byte(shard), kind)
}

// appendTS appends an order-preserving encoding of a signed time.
func appendTS(dst []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(v)^(1<<63))
}

func decodeTS(b []byte) int64 {
	return int64(binary.BigEndian.Uint64(b) ^ (1 << 63))
}

// appendEscaped appends esc(s).
func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == escByte {
			dst = append(dst, escByte, escQuote)
			continue
		}
		dst = append(dst, c)
	}
	return append(dst, escByte, escEnd)
}

// decodeEscaped reads esc(s) from the front of b and returns s and the rest.
func decodeEscaped(b []byte) (s []byte, rest []byte, ok bool) {
	for i := 0; i < len(b); i++ {
		if b[i] != escByte {
			continue
		}
		if i+1 >= len(b) {
			return nil, nil, false
		}
		switch b[i+1] {
		case escEnd:
			if s == nil {
				return b[:i], b[i+2:], true
			}
			return append(s, b[:i]...), b[i+2:], true
		case escQuote:
			s = append(s, b[:i]...)
			s = append(s, escByte)
			b = b[i+2:]
			i = -1
		default:
			return nil, nil, false
		}
	}
	return nil, nil, false
}

func logKey(dst []byte, shard uint16, index uint64) []byte {
	return binary.BigEndian.AppendUint64(appendPrefix(dst, spaceRaft, shard, raftLog), index)
}

func stableKey(dst []byte, shard uint16, key []byte) []byte {
	return append(appendPrefix(dst, spaceRaft, shard, raftStable), key...)
}

func metaKey(dst []byte, shard uint16) []byte {
	return appendPrefix(dst, spaceFSM, shard, kindMeta)
}

func userKey(dst []byte, shard uint16, user string) []byte {
	return append(appendPrefix(dst, spaceFSM, shard, kindUser), user...)
}

func eventKey(dst []byte, shard uint16, user, id string) []byte {
	return append(appendEscaped(appendPrefix(dst, spaceFSM, shard, kindEvent), user), id...)
}

func expiryKey(dst []byte, shard uint16, expires int64, user, id string) []byte {
	dst = appendTS(appendPrefix(dst, spaceFSM, shard, kindExpiry), expires)
	return append(appendEscaped(dst, user), id...)
}

func timerKey(dst []byte, shard uint16, due int64, user string) []byte {
	return append(appendTS(appendPrefix(dst, spaceFSM, shard, kindTimer), due), user...)
}

func modelsKey(dst []byte, shard uint16) []byte {
	return appendPrefix(dst, spaceFSM, shard, kindModels)
}

func shadowKey(dst []byte, shard uint16, user string) []byte {
	return append(appendPrefix(dst, spaceFSM, shard, kindShadow), user...)
}

func historyPrefix(dst []byte, shard uint16, user string) []byte {
	return appendEscaped(appendPrefix(dst, spaceFSM, shard, kindHistory), user)
}

// memberPrefix is the prefix of the member keys of one tier.
func memberPrefix(dst []byte, shard uint16, dim, tier string) []byte {
	return appendEscaped(appendEscaped(appendPrefix(dst, spaceFSM, shard, kindMember), dim), tier)
}

func outboxKey(dst []byte, shard uint16, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(appendPrefix(dst, spaceFSM, shard, kindOutbox), seq)
}

// kindBounds returns [lower, upper) covering every key of one kind.
func kindBounds(space byte, shard uint16, kind byte) (lower, upper []byte) {
	lower = appendPrefix(make([]byte, 0, kindPrefixLen), space, shard, kind)
	return lower, prefixEnd(lower)
}

// fsmBounds returns [lower, upper) covering every FSM key of a shard.
func fsmBounds(shard uint16) (lower, upper []byte) {
	lower = []byte{spaceFSM, byte(shard >> 8), byte(shard)}
	return lower, prefixEnd(lower)
}

// raftBounds returns [lower, upper) covering every Raft key of a shard.
func raftBounds(shard uint16) (lower, upper []byte) {
	lower = []byte{spaceRaft, byte(shard >> 8), byte(shard)}
	return lower, prefixEnd(lower)
}

// prefixEnd returns the smallest key greater than every key with prefix p.
// p must contain a byte below 0xFF (all our prefixes start with 0x01/0x02).
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xFF {
			end[i]++
			return end[:i+1]
		}
	}
	panic("storage: prefixEnd of all-0xFF prefix")
}

// tsUpper returns the exclusive upper bound for keys of kind whose ts is ≤ upTo.
func tsUpper(shard uint16, kind byte, upTo int64) []byte {
	if upTo == math.MaxInt64 {
		_, upper := kindBounds(spaceFSM, shard, kind)
		return upper
	}
	return appendTS(appendPrefix(make([]byte, 0, kindPrefixLen+8), spaceFSM, shard, kind), upTo+1)
}

// validFSMSuffix reports whether k (an FSM key without space | shard) is well formed.
func validFSMSuffix(k []byte) bool {
	if len(k) == 0 {
		return false
	}
	rest := k[1:]
	switch k[0] {
	case kindMeta:
		return len(rest) == 0
	case kindUser:
		return true
	case kindEvent:
		_, _, ok := decodeEscaped(rest)
		return ok
	case kindExpiry:
		if len(rest) < 8 {
			return false
		}
		_, _, ok := decodeEscaped(rest[8:])
		return ok
	case kindTimer:
		return len(rest) >= 8
	case kindOutbox:
		return len(rest) == 8
	case kindModels, kindSketch, kindCounts:
		return len(rest) == 0
	case kindShadow:
		return true
	case kindHistory:
		_, rest, ok := decodeEscaped(rest)
		return ok && len(rest) == 8
	case kindMember:
		_, rest, ok := decodeEscaped(rest)
		if ok {
			_, _, ok = decodeEscaped(rest)
		}
		return ok
	}
	return false
}

// keyPool holds scratch buffers for point-read keys (Pebble may retain the
// key slice it is given only for the duration of the call).
var keyPool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

func keyBuf() *[]byte { return keyPool.Get().(*[]byte) }

func putKeyBuf(b *[]byte) {
	if cap(*b) <= 64<<10 {
		keyPool.Put(b)
	}
}

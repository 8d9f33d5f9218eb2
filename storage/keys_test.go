package storage

import (
	"bytes"
	"encoding/hex"
	"math"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// TestKeyLayoutGolden pins the on-disk key encoding: changing any of these
// bytes needs a migration.
func TestKeyLayoutGolden(t *testing.T) {
	tests := []struct {
		name string
		key  []byte
		want string
	}{
		{"raft log", logKey(nil, 0x0102, 5), "01010201" + "0000000000000005"},
		{"raft stable", stableKey(nil, 7, []byte("CurrentTerm")), "01000702" + hex.EncodeToString([]byte("CurrentTerm"))},
		{"meta", metaKey(nil, 7), "02000701"},
		{"user", userKey(nil, 7, "u\x00"), "02000702" + "7500"},
		{"event", eventKey(nil, 7, "u\x00", "e"), "02000703" + "7500ff" + "0001" + "65"},
		{"expiry", expiryKey(nil, 7, 1, "u", "e"), "02000704" + "8000000000000001" + "75" + "0001" + "65"},
		{"expiry negative", expiryKey(nil, 7, -1, "u", "e"), "02000704" + "7fffffffffffffff" + "75" + "0001" + "65"},
		{"timer", timerKey(nil, 7, 1700000000000, "u42"), "02000705" + "8000018bcfe56800" + hex.EncodeToString([]byte("u42"))},
		{"outbox", outboxKey(nil, 0xffff, 3), "02ffff06" + "0000000000000003"},
		{"models", modelsKey(nil, 7), "02000707"},
		{"shadow", shadowKey(nil, 7, "u42"), "02000708" + hex.EncodeToString([]byte("u42"))},
		{"member", append(memberPrefix(nil, 7, "value", "whale"), "u42"...), "02000709" + hex.EncodeToString([]byte("value")) + "0001" +
			hex.EncodeToString([]byte("whale")) + "0001" + hex.EncodeToString([]byte("u42"))},
		{"history", append(historyPrefix(nil, 7, "u"), 0, 0, 0, 0, 0, 0, 0, 2), "0200070a" + "75" + "0001" + "0000000000000002"},
		{"sketch", appendPrefix(nil, spaceFSM, 7, kindSketch), "0200070b"},
		{"counts", appendPrefix(nil, spaceFSM, 7, kindCounts), "0200070c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hex.EncodeToString(tt.key); got != tt.want {
				t.Errorf("key = %s, want %s", got, tt.want)
			}
		})
	}
}

var awkward = []string{
	"", "\x00", "\x00\x00", "\x00\x01", "\x00\xff", "\x01", "a", "a\x00", "a\x00\x01", "a\x00b",
	"a\x01", "ab", "b", "\xff", "\xff\xff", "u42", "u42:x", string(bytes.Repeat([]byte{0}, 128)),
	string(bytes.Repeat([]byte{0xff}, 128)),
}

func TestEscapedRoundTripAndOrder(t *testing.T) {
	for _, s := range awkward {
		enc := appendEscaped(nil, s)
		got, rest, ok := decodeEscaped(append(enc, "tail"...))
		if !ok || string(got) != s || string(rest) != "tail" {
			t.Errorf("decodeEscaped(esc(%q)) = %q, %q, %v", s, got, rest, ok)
		}
	}
	for _, a := range awkward {
		for _, b := range awkward {
			ea, eb := appendEscaped(nil, a), appendEscaped(nil, b)
			if want, got := sign(bytes.Compare([]byte(a), []byte(b))), sign(bytes.Compare(ea, eb)); want != got {
				t.Errorf("order of esc(%q) vs esc(%q) = %d, want %d", a, b, got, want)
			}
		}
	}
	for _, bad := range []string{"", "a", "\x00", "\x00\x02", "a\x00\xfe"} {
		if _, _, ok := decodeEscaped([]byte(bad)); ok {
			t.Errorf("decodeEscaped(%q) ok, want failure", bad)
		}
	}
}

func sign(c int) int {
	switch {
	case c < 0:
		return -1
	case c > 0:
		return 1
	}
	return 0
}

// TestCompositeKeysNoCollision checks every (user, id) pair of awkward
// strings maps to a distinct event and expiry key, and decodes back.
func TestCompositeKeysNoCollision(t *testing.T) {
	seen := map[string][2]string{}
	seenExp := map[string][2]string{}
	for _, u := range awkward {
		for _, id := range awkward {
			k := string(eventKey(nil, 1, u, id))
			if prev, dup := seen[k]; dup {
				t.Fatalf("event key collision: %q and %q", prev, [2]string{u, id})
			}
			seen[k] = [2]string{u, id}
			ek := expiryKey(nil, 1, 9, u, id)
			if prev, dup := seenExp[string(ek)]; dup {
				t.Fatalf("expiry key collision: %q and %q", prev, [2]string{u, id})
			}
			seenExp[string(ek)] = [2]string{u, id}
			gu, gid, ok := decodeEscaped(ek[kindPrefixLen+8:])
			if !ok || string(gu) != u || string(gid) != id {
				t.Errorf("expiry key of (%q,%q) decodes to (%q,%q,%v)", u, id, gu, gid, ok)
			}
			if !validFSMSuffix(ek[shardPrefixLen:]) || !validFSMSuffix([]byte(k)[shardPrefixLen:]) {
				t.Errorf("keys of (%q,%q) not valid", u, id)
			}
		}
	}
}

func TestTimestampOrder(t *testing.T) {
	vals := []int64{math.MinInt64, -1 << 40, -2, -1, 0, 1, 2, 1 << 40, math.MaxInt64}
	keys := make([][]byte, len(vals))
	for i, v := range vals {
		keys[i] = timerKey(nil, 3, v, "u")
		if got := decodeTS(keys[i][kindPrefixLen:]); got != v {
			t.Errorf("decodeTS = %d, want %d", got, v)
		}
	}
	if !sort.SliceIsSorted(keys, func(i, j int) bool { return bytes.Compare(keys[i], keys[j]) < 0 }) {
		t.Error("timer keys do not sort by due time")
	}
	// Same due: ordered by user; different due: by due whatever the user.
	if bytes.Compare(timerKey(nil, 3, 5, "b"), timerKey(nil, 3, 5, "c")) >= 0 {
		t.Error("same due not ordered by user")
	}
	if bytes.Compare(timerKey(nil, 3, 5, "zzz"), timerKey(nil, 3, 6, "a")) >= 0 {
		t.Error("due not primary order")
	}
}

// TestRangesDisjoint checks that each shard's and each kind's bounds contain
// exactly their own keys, including at the edges of the shard space.
func TestRangesDisjoint(t *testing.T) {
	for _, shard := range []uint16{0, 1, 0xff, 0x100, 0xfffe, 0xffff} {
		fl, fu := fsmBounds(shard)
		rl, ru := raftBounds(shard)
		in := func(k, lo, hi []byte) bool { return bytes.Compare(k, lo) >= 0 && bytes.Compare(k, hi) < 0 }
		fsmKeys := [][]byte{
			metaKey(nil, shard), userKey(nil, shard, ""), userKey(nil, shard, "\xff\xff"),
			eventKey(nil, shard, "\xff", "\xff"), expiryKey(nil, shard, math.MaxInt64, "\xff", ""),
			timerKey(nil, shard, math.MinInt64, ""), outboxKey(nil, shard, math.MaxUint64),
		}
		for _, k := range fsmKeys {
			if !in(k, fl, fu) || in(k, rl, ru) {
				t.Errorf("shard %d: fsm key %x outside its bounds", shard, k)
			}
			for _, other := range []uint16{shard - 1, shard + 1} {
				ol, ou := fsmBounds(other)
				if other != shard && in(k, ol, ou) {
					t.Errorf("shard %d key %x inside shard %d", shard, k, other)
				}
			}
		}
		for _, k := range [][]byte{logKey(nil, shard, 0), logKey(nil, shard, math.MaxUint64), stableKey(nil, shard, []byte{0xff})} {
			if !in(k, rl, ru) || in(k, fl, fu) {
				t.Errorf("shard %d: raft key %x outside its bounds", shard, k)
			}
		}
		ll, lu := kindBounds(spaceRaft, shard, raftLog)
		if in(stableKey(nil, shard, nil), ll, lu) {
			t.Errorf("shard %d: stable key inside log bounds", shard)
		}
	}
}

func TestMetaCodec(t *testing.T) {
	tests := []Meta{
		{},
		{OutboxNext: 1},
		{AppliedIndex: 1<<64 - 1, Cursor: 42, Now: -5, OutboxNext: 9, OutboxTrimmed: 8, Counts: []int64{0, -1, 1 << 62}},
		{Now: 1700000000000, Counts: make([]int64, 40)},
	}
	for _, m := range tests {
		var got Meta
		if err := decodeMeta(encodeMeta(nil, &m), &got); err != nil {
			t.Fatalf("decode %+v: %v", m, err)
		}
		if len(m.Counts) == 0 {
			m.Counts = nil
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("round trip = %+v, want %+v", got, m)
		}
	}
	good := encodeMeta(nil, &tests[2])
	for _, bad := range [][]byte{nil, {2}, good[:len(good)-1], append(append([]byte{}, good...), 0), {1, 0, 0, 0, 0, 0, 200}} {
		var m Meta
		if err := decodeMeta(bad, &m); err == nil {
			t.Errorf("decodeMeta(%x) succeeded", bad)
		}
	}
}

func TestLogCodec(t *testing.T) {
	at := time.Unix(1700000000, 123456789)
	tests := []raft.Log{
		{Index: 1, Term: 1, Type: raft.LogNoop},
		{Index: 2, Term: 3, Type: raft.LogCommand, Data: []byte("hello"), Extensions: []byte{0, 1}, AppendedAt: at},
		{Index: 3, Term: 1 << 40, Type: raft.LogConfiguration, Data: bytes.Repeat([]byte("x"), 13<<10)},
	}
	for _, l := range tests {
		var got raft.Log
		if err := decodeLog(encodeLog(nil, &l), &got); err != nil {
			t.Fatal(err)
		}
		got.Index = l.Index
		if !logEqual(got, l) {
			t.Errorf("round trip = %+v, want %+v", got, l)
		}
	}
	good := encodeLog(nil, &tests[1])
	for i := 0; i < len(good); i++ {
		var got raft.Log
		if err := decodeLog(good[:i], &got); err == nil {
			t.Errorf("decodeLog of %d-byte prefix succeeded", i)
		}
	}
}

func logEqual(a, b raft.Log) bool {
	return a.Index == b.Index && a.Term == b.Term && a.Type == b.Type &&
		bytes.Equal(a.Data, b.Data) && bytes.Equal(a.Extensions, b.Extensions) &&
		a.AppendedAt.Equal(b.AppendedAt)
}

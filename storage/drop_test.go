package storage_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/hashicorp/raft"

	"github.com/strata-io/strata/storage"
	"github.com/strata-io/strata/storage/storagetest"
)

// stableKeys are the stable-store keys hashicorp/raft writes.
var stableKeys = []string{"CurrentTerm", "LastVoteTerm", "LastVoteCand"}

// fillReplica gives shard a Raft log (compacted below index 6), a stable
// store and FSM state of every kind; tag makes the content shard-specific.
func fillReplica(t testing.TB, db *storage.DB, shard uint16, tag string) {
	t.Helper()
	rs := db.RaftStore(shard)
	var logs []*raft.Log
	for i := uint64(1); i <= 40; i++ {
		logs = append(logs, mkLog(i, fmt.Sprintf("%s-%d", tag, i)))
	}
	if err := rs.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	if err := rs.DeleteRange(1, 5); err != nil {
		t.Fatal(err)
	}
	for i, k := range stableKeys {
		if err := rs.Set([]byte(k), []byte(fmt.Sprintf("%s-%d", tag, i))); err != nil {
			t.Fatal(err)
		}
	}
	fill(t, db.Shard(shard), 30, tag)
}

// replica is everything the public API shows of one shard.
type replica struct {
	First, Last uint64
	Logs        []raft.Log
	Stable      map[string]string // missing keys are absent
	Meta        storage.Meta
	Users       []string
	Timers      []string
	Outbox      []string
	Hash        [32]byte
}

func readReplica(t testing.TB, db *storage.DB, shard uint16) replica {
	t.Helper()
	rs, sh := db.RaftStore(shard), db.Shard(shard)
	r := replica{Stable: map[string]string{}}
	var err error
	if r.First, err = rs.FirstIndex(); err != nil {
		t.Fatal(err)
	}
	if r.Last, err = rs.LastIndex(); err != nil {
		t.Fatal(err)
	}
	for i := r.First; r.Last > 0 && i <= r.Last; i++ {
		var l raft.Log
		if err := rs.GetLog(i, &l); err != nil {
			t.Fatalf("shard %d GetLog(%d): %v", shard, i, err)
		}
		r.Logs = append(r.Logs, l)
	}
	for _, k := range stableKeys {
		v, err := rs.Get([]byte(k))
		switch {
		case err == nil:
			r.Stable[k] = string(v)
		case err.Error() != "not found": // what hashicorp/raft checks
			t.Fatalf("shard %d Get(%s): %v", shard, k, err)
		}
	}
	if r.Meta, err = sh.Meta(); err != nil {
		t.Fatal(err)
	}
	err = sh.Users(func(u string, _ []byte) error { r.Users = append(r.Users, u); return nil })
	if err != nil {
		t.Fatal(err)
	}
	err = sh.DueTimers(math.MaxInt64, func(due int64, u string) error {
		r.Timers = append(r.Timers, fmt.Sprint(due, u))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = sh.Outbox(0, 0, func(seq uint64, rec []byte) error {
		r.Outbox = append(r.Outbox, fmt.Sprint(seq, string(rec)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r.Hash = hash(t, sh)
	return r
}

func TestDropShard(t *testing.T) {
	db := storagetest.Open(t)
	shards := []uint16{1, 2, 3}
	before := map[uint16]replica{}
	for _, s := range shards {
		fillReplica(t, db, s, fmt.Sprint("s", s))
		before[s] = readReplica(t, db, s) // also loads the cached bounds
	}
	if got := before[2]; got.First != 6 || got.Last != 40 || len(got.Users) != 30 || got.Meta.AppliedIndex != 30 {
		t.Fatalf("shard 2 before drop: bounds %d..%d, %d users, applied %d", got.First, got.Last, len(got.Users), got.Meta.AppliedIndex)
	}
	rs := db.RaftStore(2)
	if ok, err := db.Shard(2).HasEvent("user-s2-0", "e1"); err != nil || !ok {
		t.Fatalf("HasEvent before drop = %v, %v", ok, err)
	}

	if err := db.DropShard(2); err != nil {
		t.Fatal(err)
	}

	never := readReplica(t, db, 9) // a shard this DB never held
	if got := readReplica(t, db, 2); !reflect.DeepEqual(got, never) {
		t.Errorf("shard 2 after drop = %+v\nwant as never created: %+v", got, never)
	}
	if never.First != 0 || never.Last != 0 || len(never.Stable) != 0 || never.Meta.AppliedIndex != 0 || never.Users != nil {
		t.Fatalf("never-created shard is not empty: %+v", never)
	}
	if db.RaftStore(2) != rs {
		t.Error("DropShard replaced the shard's *RaftStore")
	}
	wantBounds(t, rs, 0, 0) // the handle held across the drop too
	wantMissing(t, rs, 6, 40)
	if ok, err := db.Shard(2).HasEvent("user-s2-0", "e1"); err != nil || ok {
		t.Errorf("HasEvent after drop = %v, %v", ok, err)
	}
	for _, s := range []uint16{1, 3} {
		if got := readReplica(t, db, s); !reflect.DeepEqual(got, before[s]) {
			t.Errorf("shard %d changed by DropShard(2)", s)
		}
	}

	// Re-create shard 2 (the replica moved back): it starts from scratch.
	if err := rs.StoreLogs(mkLogs(1, 3)); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, rs, 1, 3)
	if err := rs.SetUint64([]byte("CurrentTerm"), 9); err != nil {
		t.Fatal(err)
	}
	if v, err := rs.GetUint64([]byte("CurrentTerm")); err != nil || v != 9 {
		t.Errorf("CurrentTerm = %d, %v, want 9", v, err)
	}
	fill(t, db.Shard(2), 5, "again")
	fill(t, db.Shard(9), 5, "again")
	if hash(t, db.Shard(2)) != hash(t, db.Shard(9)) {
		t.Error("re-created shard 2 differs from a fresh shard given the same writes")
	}
	if m, err := db.Shard(2).Meta(); err != nil || m.AppliedIndex != 5 {
		t.Errorf("Meta = %+v, %v, want applied 5", m, err)
	}

	// Dropping again, or a shard that never existed, is harmless.
	for _, s := range []uint16{2, 2, 77} {
		if err := db.DropShard(s); err != nil {
			t.Fatalf("DropShard(%d): %v", s, err)
		}
	}
	wantBounds(t, rs, 0, 0)

	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.DropShard(1); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("DropShard after Close = %v, want ErrClosed", err)
	}
}

type rawKV struct{ k, v []byte }

// rawLogger keeps Pebble's WAL replay messages out of the test output.
type rawLogger struct{ t testing.TB }

func (rawLogger) Infof(string, ...any)                {}
func (l rawLogger) Errorf(format string, args ...any) { l.t.Errorf("pebble: "+format, args...) }
func (l rawLogger) Fatalf(format string, args ...any) { l.t.Fatalf("pebble: "+format, args...) }

// rawDump reads every key and value of the Pebble store on fs, bypassing
// package storage. The storage.DB on fs must be closed.
func rawDump(t *testing.T, fs vfs.FS) []rawKV {
	t.Helper()
	pdb, err := pebble.Open("strata", &pebble.Options{FS: fs, ReadOnly: true, Logger: rawLogger{t}})
	if err != nil {
		t.Fatal(err)
	}
	defer pdb.Close()
	it, err := pdb.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var kvs []rawKV
	for ok := it.First(); ok; ok = it.Next() {
		kvs = append(kvs, rawKV{bytes.Clone(it.Key()), bytes.Clone(it.Value())})
	}
	if err := it.Error(); err != nil {
		t.Fatal(err)
	}
	return kvs
}

// TestDropShardRaw checks at the Pebble level that DropShard deletes exactly
// the shard's keys, including at the edges of the shard space (0xFFFF is the
// control group) and on a freshly opened DB (no cached RaftStore).
func TestDropShardRaw(t *testing.T) {
	shards := []uint16{0, 1, 2, 3, 0xFFFE, 0xFFFF}
	for _, drop := range []uint16{0, 2, 0xFFFE, 0xFFFF} {
		t.Run(fmt.Sprintf("%#x", drop), func(t *testing.T) {
			fs := vfs.NewMem()
			open := func() *storage.DB {
				db, err := storage.Open("strata", storage.Options{FS: fs})
				if err != nil {
					t.Fatal(err)
				}
				return db
			}
			db := open()
			for _, s := range shards {
				fillReplica(t, db, s, fmt.Sprint("s", s))
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			before := rawDump(t, fs)

			db = open()
			if err := db.DropShard(drop); err != nil {
				t.Fatal(err)
			}
			wantBounds(t, db.RaftStore(drop), 0, 0)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			after := rawDump(t, fs)

			var want []rawKV
			dropped := 0
			for _, kv := range before {
				if len(kv.k) >= 3 && (kv.k[0] == 0x01 || kv.k[0] == 0x02) && uint16(kv.k[1])<<8|uint16(kv.k[2]) == drop {
					dropped++
					continue
				}
				want = append(want, kv)
			}
			if dropped < 35+3+1+30*5 { // logs, stable, meta, per user: state, event, expiry, timer, outbox
				t.Fatalf("only %d keys of shard %#x before the drop", dropped, drop)
			}
			if !reflect.DeepEqual(after, want) {
				t.Errorf("after DropShard(%#x): %d keys, want %d (every other shard byte-identical)", drop, len(after), len(want))
			}
		})
	}
}

// ExampleDB_DropShard removes a replica that moved to another node.
func ExampleDB_DropShard() {
	db, err := storage.Open("node-a", storage.Options{FS: vfs.NewMem()})
	if err != nil {
		panic(err)
	}
	defer db.Close()
	rs := db.RaftStore(5)
	_ = rs.StoreLogs([]*raft.Log{{Index: 1, Term: 1}, {Index: 2, Term: 1}})
	_ = rs.SetUint64([]byte("CurrentTerm"), 1)
	b := db.Shard(5).NewBatch()
	b.PutUser("u42", []byte("state"))
	_ = b.Commit(false)
	b.Close()

	// Shut down shard 5's raft.Raft first, then:
	if err := db.DropShard(5); err != nil {
		panic(err)
	}
	last, _ := rs.LastIndex()
	_, termErr := rs.GetUint64([]byte("CurrentTerm"))
	_, found, _ := db.Shard(5).User("u42", nil)
	fmt.Printf("last index %d, term: %v, u42 found: %v\n", last, termErr, found)
	// Output: last index 0, term: not found, u42 found: false
}

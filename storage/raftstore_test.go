package storage_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/strata-io/strata/storage"
	"github.com/strata-io/strata/storage/storagetest"
)

func mkLog(i uint64, data string) *raft.Log {
	return &raft.Log{Index: i, Term: i/10 + 1, Type: raft.LogCommand, Data: []byte(data),
		Extensions: []byte("ext"), AppendedAt: time.Unix(1700000000, int64(i))}
}

func mkLogs(lo, hi uint64) []*raft.Log {
	var logs []*raft.Log
	for i := lo; i <= hi; i++ {
		logs = append(logs, mkLog(i, fmt.Sprintf("entry-%d", i)))
	}
	return logs
}

func wantBounds(t *testing.T, rs *storage.RaftStore, first, last uint64) {
	t.Helper()
	f, err := rs.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	l, err := rs.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	if f != first || l != last {
		t.Fatalf("bounds = %d..%d, want %d..%d", f, l, first, last)
	}
}

func wantLog(t *testing.T, rs *storage.RaftStore, want *raft.Log) {
	t.Helper()
	var got raft.Log
	if err := rs.GetLog(want.Index, &got); err != nil {
		t.Fatalf("GetLog(%d): %v", want.Index, err)
	}
	if got.Index != want.Index || got.Term != want.Term || got.Type != want.Type ||
		!bytes.Equal(got.Data, want.Data) || !bytes.Equal(got.Extensions, want.Extensions) ||
		!got.AppendedAt.Equal(want.AppendedAt) {
		t.Fatalf("GetLog(%d) = %+v, want %+v", want.Index, got, *want)
	}
}

func wantMissing(t *testing.T, rs *storage.RaftStore, idx ...uint64) {
	t.Helper()
	for _, i := range idx {
		var l raft.Log
		if err := rs.GetLog(i, &l); !errors.Is(err, raft.ErrLogNotFound) {
			t.Fatalf("GetLog(%d) err = %v, want ErrLogNotFound", i, err)
		}
	}
}

func TestRaftStoreLog(t *testing.T) {
	db := storagetest.Open(t)
	rs := db.RaftStore(1)
	if db.RaftStore(1) != rs {
		t.Fatal("RaftStore(1) returned a different store on the second call")
	}
	wantBounds(t, rs, 0, 0)
	wantMissing(t, rs, 0, 1)

	if err := rs.StoreLog(mkLog(1, "one")); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, rs, 1, 1)
	wantLog(t, rs, mkLog(1, "one"))

	logs := mkLogs(2, 20)
	if err := rs.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, rs, 1, 20)
	for _, l := range logs {
		wantLog(t, rs, l)
	}
	wantMissing(t, rs, 21)

	// Another shard is independent.
	other := db.RaftStore(2)
	wantBounds(t, other, 0, 0)
	if err := other.StoreLogs(mkLogs(100, 101)); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, other, 100, 101)
	wantBounds(t, rs, 1, 20)

	// Compaction: delete a prefix.
	if err := rs.DeleteRange(1, 5); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, rs, 6, 20)
	wantMissing(t, rs, 1, 5)
	wantLog(t, rs, logs[4]) // index 6

	// Conflict truncation: delete a suffix, then overwrite.
	if err := rs.DeleteRange(15, 20); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, rs, 6, 14)
	if err := rs.StoreLogs([]*raft.Log{mkLog(15, "new-15"), mkLog(16, "new-16")}); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, rs, 6, 16)
	wantLog(t, rs, mkLog(15, "new-15"))

	// A gap (snapshot install) and deleting everything.
	if err := rs.StoreLogs(mkLogs(50, 51)); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, rs, 6, 51)
	wantMissing(t, rs, 30)
	if err := rs.DeleteRange(6, 16); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, rs, 50, 51)
	if err := rs.DeleteRange(0, ^uint64(0)); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, rs, 0, 0)
	wantBounds(t, other, 100, 101)
	if err := rs.DeleteRange(5, 4); err != nil {
		t.Fatalf("empty DeleteRange: %v", err)
	}
}

func TestRaftStoreLogEmptyFields(t *testing.T) {
	rs := storagetest.Open(t).RaftStore(0)
	in := &raft.Log{Index: 7, Term: 2, Type: raft.LogNoop}
	if err := rs.StoreLog(in); err != nil {
		t.Fatal(err)
	}
	var got raft.Log
	got.Data = []byte("stale")
	if err := rs.GetLog(7, &got); err != nil {
		t.Fatal(err)
	}
	if got.Data != nil || got.Extensions != nil || !got.AppendedAt.IsZero() || got.Type != raft.LogNoop {
		t.Fatalf("GetLog = %+v, want empty fields", got)
	}
}

func TestRaftStoreStable(t *testing.T) {
	rs := storagetest.Open(t).RaftStore(3)
	// hashicorp/raft compares err.Error() with "not found".
	if _, err := rs.Get([]byte("CurrentTerm")); err == nil || err.Error() != "not found" {
		t.Fatalf("Get missing err = %v, want exactly \"not found\"", err)
	}
	if v, err := rs.GetUint64([]byte("CurrentTerm")); err == nil || err.Error() != "not found" || v != 0 {
		t.Fatalf("GetUint64 missing = %d, %v, want 0, \"not found\"", v, err)
	}
	if err := rs.Set([]byte("LastVoteCand"), []byte("node-1")); err != nil {
		t.Fatal(err)
	}
	if v, err := rs.Get([]byte("LastVoteCand")); err != nil || string(v) != "node-1" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	if err := rs.Set([]byte("empty"), nil); err != nil {
		t.Fatal(err)
	}
	if v, err := rs.Get([]byte("empty")); err != nil || v == nil || len(v) != 0 {
		t.Fatalf("Get empty = %v, %v, want non-nil empty", v, err)
	}
	if err := rs.SetUint64([]byte("CurrentTerm"), 1<<40+3); err != nil {
		t.Fatal(err)
	}
	if v, err := rs.GetUint64([]byte("CurrentTerm")); err != nil || v != 1<<40+3 {
		t.Fatalf("GetUint64 = %d, %v", v, err)
	}
	// Stable keys never show up as log entries.
	wantBounds(t, rs, 0, 0)
}

// TestRaftStorePersistence writes to a real directory, reopens it and
// expects the log, the bounds and the stable store back.
func TestRaftStorePersistence(t *testing.T) {
	dir := t.TempDir()
	db, err := storage.Open(dir, storage.Options{CacheSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	rs := db.RaftStore(9)
	if err := rs.StoreLogs(mkLogs(1, 100)); err != nil {
		t.Fatal(err)
	}
	if err := rs.DeleteRange(1, 10); err != nil {
		t.Fatal(err)
	}
	if err := rs.SetUint64([]byte("CurrentTerm"), 5); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	db, err = storage.Open(dir, storage.Options{CacheSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rs = db.RaftStore(9)
	wantBounds(t, rs, 11, 100)
	wantLog(t, rs, mkLog(50, "entry-50"))
	wantMissing(t, rs, 10)
	if v, err := rs.GetUint64([]byte("CurrentTerm")); err != nil || v != 5 {
		t.Fatalf("GetUint64 after reopen = %d, %v", v, err)
	}
}

// TestCrashDurability shows RELIABILITY trap 5 on a crashable file system:
// synced Raft log writes survive a crash, NoSync FSM writes may not, and a
// later synced write makes earlier NoSync writes durable.
func TestCrashDurability(t *testing.T) {
	fs := vfs.NewCrashableMem()
	db, err := storage.Open("db", storage.Options{FS: fs, CacheSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rs, sh := db.RaftStore(1), db.Shard(1)

	if err := rs.StoreLogs(mkLogs(1, 3)); err != nil {
		t.Fatal(err)
	}
	put := func(user string) {
		t.Helper()
		b := sh.NewBatch()
		defer b.Close()
		b.PutUser(user, []byte("state"))
		if err := b.Commit(false); err != nil {
			t.Fatal(err)
		}
	}
	put("lost")
	crash1 := fs.CrashClone(vfs.CrashCloneCfg{}) // only synced data survives

	put("saved")
	if err := rs.StoreLogs(mkLogs(4, 4)); err != nil { // synced: carries "saved" along
		t.Fatal(err)
	}
	crash2 := fs.CrashClone(vfs.CrashCloneCfg{})

	check := func(fs vfs.FS, last uint64, users map[string]bool) {
		t.Helper()
		db, err := storage.Open("db", storage.Options{FS: fs, CacheSize: 8 << 20})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		wantBounds(t, db.RaftStore(1), 1, last)
		for u, want := range users {
			_, ok, err := db.Shard(1).User(u, nil)
			if err != nil || ok != want {
				t.Errorf("after crash: user %q present = %v (err %v), want %v", u, ok, err, want)
			}
		}
	}
	check(crash1, 3, map[string]bool{"lost": false})
	check(crash2, 4, map[string]bool{"lost": true, "saved": true})
}

func TestClosed(t *testing.T) {
	db, err := storage.Open("db", storage.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	rs, sh := db.RaftStore(0), db.Shard(0)
	b := sh.NewBatch()
	b.PutUser("u", nil)
	sn := sh.Snapshot()                       // left open: Close must release it
	if _, err := rs.LastIndex(); err != nil { // bounds cached: must not answer after Close either
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	checks := map[string]error{
		"StoreLogs": rs.StoreLogs(mkLogs(1, 1)),
		"Set":       rs.Set([]byte("k"), nil),
		"Sync":      db.Sync(),
		"Commit":    b.Commit(false),
		"NewBatch":  sh.NewBatch().Commit(false),
		"Restore":   sh.Restore(bytes.NewReader(nil)),
	}
	_, checks["FirstIndex"] = rs.FirstIndex()
	_, checks["LastIndex"] = rs.LastIndex()
	_, _, checks["User"] = sh.User("u", nil)
	_, checks["Meta"] = sh.Meta()
	_, checks["WriteTo"] = sn.WriteTo(io.Discard)
	_, checks["NewSnapshot"] = sh.Snapshot().WriteTo(io.Discard)
	for op, err := range checks {
		if !errors.Is(err, storage.ErrClosed) {
			t.Errorf("%s after Close: err = %v, want ErrClosed", op, err)
		}
	}
	b.Close()
	if err := sn.Close(); err != nil {
		t.Errorf("Snapshot.Close after DB.Close: %v", err)
	}
	if db.Metrics() != nil {
		t.Error("Metrics after Close not nil")
	}
}

// TestWithRaft runs a real single-voter hashicorp/raft group on a RaftStore:
// bootstrap, apply, restart from the same store.
func TestWithRaft(t *testing.T) {
	db := storagetest.Open(t)
	run := func(bootstrap bool, cmds ...string) *countFSM {
		t.Helper()
		conf := raft.DefaultConfig()
		conf.LocalID = "n1"
		conf.Logger = hclog.NewNullLogger()
		conf.HeartbeatTimeout = 50 * time.Millisecond
		conf.ElectionTimeout = 50 * time.Millisecond
		conf.LeaderLeaseTimeout = 50 * time.Millisecond
		conf.CommitTimeout = 5 * time.Millisecond
		rs := db.RaftStore(4)
		_, trans := raft.NewInmemTransport("n1")
		fsm := &countFSM{}
		r, err := raft.NewRaft(conf, fsm, rs, rs, raft.NewDiscardSnapshotStore(), trans)
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := r.Shutdown().Error(); err != nil {
				t.Fatal(err)
			}
		}()
		if bootstrap {
			cfg := raft.Configuration{Servers: []raft.Server{{ID: "n1", Address: trans.LocalAddr()}}}
			if err := r.BootstrapCluster(cfg).Error(); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case <-r.LeaderCh():
		case <-time.After(10 * time.Second):
			t.Fatal("no leader")
		}
		for _, c := range cmds {
			if err := r.Apply([]byte(c), 5*time.Second).Error(); err != nil {
				t.Fatal(err)
			}
		}
		if err := r.Barrier(5 * time.Second).Error(); err != nil {
			t.Fatal(err)
		}
		return fsm
	}
	run(true, "a", "b", "c")
	if ok, err := raft.HasExistingState(db.RaftStore(4), db.RaftStore(4), raft.NewDiscardSnapshotStore()); err != nil || !ok {
		t.Fatalf("HasExistingState = %v, %v", ok, err)
	}
	fsm := run(false, "d")
	// Without snapshots the restarted node re-applies the whole log.
	if got := fsm.applied(); got != "abcd" {
		t.Fatalf("applied after restart = %q, want abcd", got)
	}
}

// countFSM records applied commands. Apply runs on raft's FSM goroutine;
// applied is only read after Shutdown has joined it.
type countFSM struct {
	buf []byte
}

func (f *countFSM) Apply(l *raft.Log) any {
	if l.Type == raft.LogCommand {
		f.buf = append(f.buf, l.Data...)
	}
	return nil
}

func (f *countFSM) applied() string { return string(f.buf) }

func (f *countFSM) Snapshot() (raft.FSMSnapshot, error) { return nil, errors.New("unsupported") }

func (f *countFSM) Restore(io.ReadCloser) error { return errors.New("unsupported") }

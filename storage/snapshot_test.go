package storage_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/strata-io/strata/storage"
	"github.com/strata-io/strata/storage/storagetest"
)

func hash(t testing.TB, sh *storage.Shard) [32]byte {
	t.Helper()
	h, err := sh.Hash()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// fill writes a bit of every kind of FSM state into sh.
func fill(t testing.TB, sh *storage.Shard, users int, tag string) {
	t.Helper()
	commit(t, sh, func(b *storage.Batch) {
		for i := 0; i < users; i++ {
			u := fmt.Sprintf("user-%s-%d", tag, i)
			b.PutUser(u, bytes.Repeat([]byte{byte(i)}, 100+i%300))
			b.PutEvent(u, "e1", int64(1000+i))
			b.SetTimer(u, 0, int64(5000+i%17))
			b.AppendOutbox(uint64(i+1), []byte("transition "+u))
		}
		b.PutMeta(storage.Meta{AppliedIndex: uint64(users), Cursor: 3, Now: 1234, OutboxNext: uint64(users + 1), Counts: []int64{1, 2}})
	})
}

func snapshotBytes(t testing.TB, sh *storage.Shard) []byte {
	t.Helper()
	sn := sh.Snapshot()
	defer sn.Close()
	var buf bytes.Buffer
	n, err := sn.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("WriteTo returned %d, wrote %d", n, buf.Len())
	}
	return buf.Bytes()
}

func TestSnapshotRestore(t *testing.T) {
	src := storagetest.Open(t).Shard(3)
	fill(t, src, 2000, "a") // > one 64 KiB frame
	sn := src.Snapshot()
	defer sn.Close()
	want := hash(t, src)

	// Writes after the snapshot are not in it.
	fill(t, src, 10, "later")
	var buf bytes.Buffer
	if _, err := sn.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}

	dstDB := storagetest.Open(t)
	dst := dstDB.Shard(3)
	fill(t, dst, 50, "old")             // replaced by Restore
	fill(t, dstDB.Shard(4), 5, "other") // untouched by Restore
	other := hash(t, dstDB.Shard(4))
	if err := dst.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if got := hash(t, dst); got != want {
		t.Fatal("restored shard hash differs from the snapshot's source")
	}
	if got := hash(t, dstDB.Shard(4)); got != other {
		t.Fatal("Restore touched another shard")
	}
	if _, ok, _ := dst.User("user-old-1", nil); ok {
		t.Fatal("old state survived Restore")
	}
	m, err := dst.Meta()
	if err != nil || m.AppliedIndex != 2000 {
		t.Fatalf("restored Meta = %+v, %v", m, err)
	}
	// A snapshot of the restored shard is byte-identical (canonical stream).
	if again := snapshotBytes(t, dst); !bytes.Equal(again, buf.Bytes()) {
		t.Fatal("snapshot of restored shard differs from the original stream")
	}
	// Restoring an empty shard's snapshot empties the shard.
	empty := snapshotBytes(t, storagetest.Open(t).Shard(3))
	if err := dst.Restore(bytes.NewReader(empty)); err != nil {
		t.Fatal(err)
	}
	if hash(t, dst) != hash(t, storagetest.Open(t).Shard(3)) {
		t.Fatal("restore of empty snapshot left state")
	}
}

// TestRestoreCorrupt flips every byte, truncates at every length and appends
// garbage: Restore must fail and leave the old state untouched.
func TestRestoreCorrupt(t *testing.T) {
	src := storagetest.Open(t).Shard(1)
	fill(t, src, 3, "s")
	stream := snapshotBytes(t, src)

	dst := storagetest.Open(t).Shard(1)
	fill(t, dst, 4, "keep")
	before := hash(t, dst)
	restore := func(name string, b []byte) {
		t.Helper()
		err := dst.Restore(bytes.NewReader(b))
		if !errors.Is(err, storage.ErrCorrupt) {
			t.Fatalf("%s: Restore err = %v, want ErrCorrupt", name, err)
		}
	}
	for i := range stream {
		bad := bytes.Clone(stream)
		bad[i] ^= 0x5a
		restore(fmt.Sprintf("flip byte %d", i), bad)
	}
	for n := 0; n < len(stream); n++ {
		restore(fmt.Sprintf("truncate to %d", n), stream[:n])
	}
	restore("trailing byte", append(bytes.Clone(stream), 0))
	restore("doubled", append(bytes.Clone(stream), stream...))
	if hash(t, dst) != before {
		t.Fatal("failed Restore changed state")
	}

	// A reader error is returned as is (not ErrCorrupt) and changes nothing.
	boom := errors.New("disk on fire")
	err := dst.Restore(io.MultiReader(bytes.NewReader(stream[:20]), errReader{boom}))
	if !errors.Is(err, boom) {
		t.Fatalf("Restore with failing reader: %v", err)
	}
	if hash(t, dst) != before {
		t.Fatal("failed Restore changed state")
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestSnapshotClose(t *testing.T) {
	sh := storagetest.Open(t).Shard(0)
	sn := sh.Snapshot()
	if err := sn.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sn.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := sn.WriteTo(io.Discard); !errors.Is(err, storage.ErrClosed) {
		t.Fatalf("WriteTo after Close = %v, want ErrClosed", err)
	}
}

// TestSnapshotConcurrentWithWrites persists a snapshot while a writer keeps
// committing (as raft's Persist runs beside Apply).
func TestSnapshotConcurrentWithWrites(t *testing.T) {
	sh := storagetest.Open(t).Shard(0)
	fill(t, sh, 500, "base")
	want := hash(t, sh)
	sn := sh.Snapshot()
	defer sn.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 50; i++ {
			b := sh.NewBatch()
			for j := 0; j < 20; j++ {
				u := fmt.Sprintf("w-%d-%d", i, j)
				b.PutUser(u, []byte(u))
				b.PutEvent(u, "e", 1)
			}
			b.PutMeta(storage.Meta{AppliedIndex: uint64(1000 + i)})
			if err := b.Commit(false); err != nil {
				t.Error(err)
			}
			b.Close()
		}
	}()
	var buf bytes.Buffer
	if _, err := sn.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	<-done
	dst := storagetest.Open(t).Shard(0)
	if err := dst.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if hash(t, dst) != want {
		t.Fatal("snapshot not point-in-time")
	}
}

// A snapshot far larger than one restore batch restores exactly, over older
// state, and leaves no spool file behind.
func TestRestoreLarge(t *testing.T) {
	db := storagetest.Open(t)
	src, dst := db.Shard(1), db.Shard(2)
	for part := range 8 { // ~ 30 MB of users: several restore batches
		commit(t, src, func(b *storage.Batch) {
			for i := range 5000 {
				b.PutUser(fmt.Sprintf("big-%d-%d", part, i), bytes.Repeat([]byte{byte(i)}, 700))
			}
		})
	}
	fill(t, src, 50, "src")
	fill(t, dst, 80, "old")
	if err := dst.Restore(bytes.NewReader(snapshotBytes(t, src))); err != nil {
		t.Fatal(err)
	}
	if hash(t, src) != hash(t, dst) {
		t.Fatal("restored state differs from the source")
	}
	if m, err := dst.Meta(); err != nil || m.AppliedIndex != 50 {
		t.Fatalf("meta after restore: %+v %v", m, err)
	}
	ls, err := db.FS().List(db.Dir())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range ls {
		if strings.HasPrefix(name, "restore-") {
			t.Fatalf("spool file %s left behind", name)
		}
	}
}

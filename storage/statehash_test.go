package storage_test

import (
	"testing"

	"github.com/strata-io/strata/storage"
	"github.com/strata-io/strata/storage/storagetest"
)

// StateHash ignores what only no-op entries change (AppliedIndex, Now) and
// nothing else.
func TestStateHash(t *testing.T) {
	db := storagetest.Open(t)
	write := func(shard uint16, user string, m storage.Meta) {
		b := db.Shard(shard).NewBatch()
		b.PutUser(user, []byte("state"))
		b.PutMeta(m)
		if err := b.Commit(true); err != nil {
			t.Fatal(err)
		}
		b.Close()
	}
	sums := func(shard uint16) (full, state [32]byte) {
		var err error
		if full, err = db.Shard(shard).Hash(); err != nil {
			t.Fatal(err)
		}
		if state, err = db.Shard(shard).StateHash(); err != nil {
			t.Fatal(err)
		}
		return full, state
	}
	base := storage.Meta{AppliedIndex: 10, Now: 1000, Cursor: 7, OutboxNext: 3, OutboxTrimmed: 1, Counts: []int64{1, 2}}
	write(1, "u1", base)
	later := base
	later.AppliedIndex, later.Now = 12, 2000 // two ticks more
	write(2, "u1", later)
	f1, s1 := sums(1)
	f2, s2 := sums(2)
	if f1 == f2 {
		t.Fatal("Hash ignores the applied index")
	}
	if s1 != s2 {
		t.Fatal("StateHash differs for replicas that only applied more ticks")
	}
	for i, m := range []func(*storage.Meta){
		func(m *storage.Meta) { m.Cursor++ },
		func(m *storage.Meta) { m.OutboxNext++ },
		func(m *storage.Meta) { m.OutboxTrimmed++ },
		func(m *storage.Meta) { m.Counts = []int64{1, 3} },
	} {
		other := base
		other.Counts = append([]int64(nil), base.Counts...)
		m(&other)
		shard := uint16(10 + i)
		write(shard, "u1", other)
		if _, s := sums(shard); s == s1 {
			t.Fatalf("change %d to meta %+v not reflected in StateHash", i, other)
		}
	}
	write(20, "u2", base)
	if _, s := sums(20); s == s1 {
		t.Fatal("a different user gives the same StateHash")
	}
}

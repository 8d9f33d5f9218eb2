package storage_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/strata-io/strata/storage"
)

// openDisk opens a DB on a real temporary directory (fsync costs are real).
func openDisk(b *testing.B) *storage.DB {
	b.Helper()
	db, err := storage.Open(b.TempDir(), storage.Options{CacheSize: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := db.Close(); err != nil {
			b.Error(err)
		}
	})
	return db
}

// BenchmarkStoreLogs stores batches of 13 KB entries (≈100 events each)
// with one synced commit per batch, as raft does per AppendEntries.
func BenchmarkStoreLogs(b *testing.B) {
	data := bytes.Repeat([]byte("e"), 13<<10)
	for _, n := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			rs := openDisk(b).RaftStore(1)
			logs := make([]*raft.Log, n)
			for i := range logs {
				logs[i] = &raft.Log{Term: 1, Type: raft.LogCommand, Data: data}
			}
			idx := uint64(0)
			b.SetBytes(int64(n * len(data)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for _, l := range logs {
					idx++
					l.Index = idx
				}
				if err := rs.StoreLogs(logs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// BenchmarkBatchPutUser commits batches of 1000 user states (200 bytes) NoSync.
func BenchmarkBatchPutUser(b *testing.B) {
	sh := openDisk(b).Shard(1)
	state := bytes.Repeat([]byte("s"), 200)
	users := make([]string, 100_000)
	for i := range users {
		users[i] = fmt.Sprintf("user-%08d", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		batch := sh.NewBatch()
		for j := 0; j < 1000; j++ {
			batch.PutUser(users[(i*1000+j)%len(users)], state)
		}
		if err := batch.Commit(false); err != nil {
			b.Fatal(err)
		}
		batch.Close()
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "users/s")
}

// BenchmarkHasEvent looks up dedupe entries among 200k flushed to sstables,
// so misses are answered by bloom filters.
func BenchmarkHasEvent(b *testing.B) {
	db := openDisk(b)
	sh := db.Shard(1)
	const users, perUser = 20_000, 10
	for u := 0; u < users; u += 1000 {
		batch := sh.NewBatch()
		for i := u; i < u+1000; i++ {
			for e := 0; e < perUser; e++ {
				batch.PutEvent(fmt.Sprintf("user-%d", i), fmt.Sprintf("evt-%d", e), 1)
			}
		}
		if err := batch.Commit(false); err != nil {
			b.Fatal(err)
		}
		batch.Close()
	}
	if err := storage.FlushForTest(db); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		id   string
		want bool
	}{{"miss", "absent", false}, {"hit", "evt-3", true}} {
		b.Run(tc.name, func(b *testing.B) {
			keys := make([]string, 1024)
			for i := range keys {
				keys[i] = fmt.Sprintf("user-%d", (i*7919)%users)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ok, err := sh.HasEvent(keys[i%len(keys)], tc.id)
				if err != nil || ok != tc.want {
					b.Fatalf("HasEvent = %v, %v", ok, err)
				}
			}
		})
	}
}

package storage_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/strata-io/strata/storage"
	"github.com/strata-io/strata/storage/storagetest"
)

// FuzzRestore feeds arbitrary streams to Shard.Restore. It must never panic;
// a rejected stream must leave the shard untouched; an accepted stream must
// round-trip through Snapshot to the same state.
func FuzzRestore(f *testing.F) {
	src := storagetest.Open(f).Shard(0)
	f.Add(snapshotBytes(f, src)) // empty shard
	fill(f, src, 3, "seed")
	valid := snapshotBytes(f, src)
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add([]byte{})
	f.Add([]byte("STRATASN\x01"))

	db := storagetest.Open(f)
	sh := db.Shard(0)
	f.Fuzz(func(t *testing.T, stream []byte) {
		fill(t, sh, 2, "before")
		before := hash(t, sh)
		err := sh.Restore(bytes.NewReader(stream))
		if err != nil {
			if !errors.Is(err, storage.ErrCorrupt) {
				t.Fatalf("Restore error does not wrap ErrCorrupt: %v", err)
			}
			if hash(t, sh) != before {
				t.Fatal("rejected stream changed state")
			}
			return
		}
		after := hash(t, sh)
		again := db.Shard(1)
		if err := again.Restore(bytes.NewReader(snapshotBytes(t, sh))); err != nil {
			t.Fatalf("re-restore of accepted state: %v", err)
		}
		if hash(t, again) != after {
			t.Fatal("accepted stream does not round-trip")
		}
	})
}

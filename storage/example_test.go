package storage_test

import (
	"bytes"
	"fmt"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/strata-io/strata/storage"
)

// Example shows one FSM apply step and a snapshot moving a shard to another node.
func Example() {
	db, err := storage.Open("node-a", storage.Options{FS: vfs.NewMem()})
	if err != nil {
		panic(err)
	}
	defer db.Close()
	sh := db.Shard(3)

	// Apply one Raft entry: everything it changes goes into one batch.
	m, _ := sh.Meta()
	b := sh.NewBatch()
	b.PutUser("u42", []byte(`{"value":"whale"}`))
	b.PutEvent("u42", "e1", 1700604800000) // dedupe for 7 days
	b.SetTimer("u42", 0, 1700604800000)    // silent check
	b.AppendOutbox(m.OutboxNext, []byte("u42:value:1"))
	m.AppliedIndex, m.OutboxNext = 1, m.OutboxNext+1
	b.PutMeta(m)
	if err := b.Commit(false); err != nil { // NoSync: rebuilt from the synced log
		panic(err)
	}
	b.Close()

	seen, _ := sh.HasEvent("u42", "e1")
	fmt.Println("duplicate e1:", seen)
	_ = sh.Outbox(1, 10, func(seq uint64, rec []byte) error {
		fmt.Printf("outbox %d: %s\n", seq, rec)
		return nil
	})

	// Snapshot shard 3 and restore it on another node.
	sn := sh.Snapshot()
	var stream bytes.Buffer
	if _, err := sn.WriteTo(&stream); err != nil {
		panic(err)
	}
	sn.Close()
	other, _ := storage.Open("node-b", storage.Options{FS: vfs.NewMem()})
	defer other.Close()
	if err := other.Shard(3).Restore(&stream); err != nil {
		panic(err)
	}
	state, _, _ := other.Shard(3).User("u42", nil)
	h1, _ := sh.Hash()
	h2, _ := other.Shard(3).Hash()
	fmt.Printf("restored: %s, same hash: %v\n", state, h1 == h2)
	// Output:
	// duplicate e1: true
	// outbox 1: u42:value:1
	// restored: {"value":"whale"}, same hash: true
}

package storage

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// DropShard deletes every key of shard (Raft log, stable store and FSM state) in one synced batch.
// The caller has shut down the shard's raft.Raft first. Afterwards DB.RaftStore(shard) and DB.Shard(shard)
// behave as for a shard that never existed (cached first/last index reset), so the shard can be re-created.
//
// The batch holds two range deletes, one per key space (raftBounds and
// fsmBounds), so it costs the same for any shard size and leaves every other
// shard untouched. Snapshots taken before still see the old state. Dropping
// a shard that holds nothing is a no-op write.
func (db *DB) DropShard(shard uint16) error {
	if err := db.enter(); err != nil {
		return err
	}
	defer db.leave()

	// Keep the shard's one *RaftStore (others may hold it) and hold both of
	// its locks across the commit: no StoreLogs or DeleteRange can interleave,
	// and no bounds read can cache the pre-drop index range.
	rs := db.RaftStore(shard)
	db.Shard(shard).resetFilters()
	rs.writeMu.Lock()
	defer rs.writeMu.Unlock()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	// Whatever happens below, the next bounds read goes to Pebble.
	rs.mu.loaded, rs.mu.first, rs.mu.last = false, 0, 0

	b := db.pdb.NewBatch()
	defer b.Close()
	for _, bounds := range [...]func(uint16) (lower, upper []byte){raftBounds, fsmBounds} {
		lower, upper := bounds(shard)
		if err := b.DeleteRange(lower, upper, nil); err != nil {
			return fmt.Errorf("storage: drop shard %d: %w", shard, err)
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("storage: drop shard %d: %w", shard, err)
	}
	return nil
}

package storage

import "errors"

var (
	// ErrClosed is returned by every operation on a DB (and on its shards,
	// batches and snapshots) after DB.Close.
	ErrClosed = errors.New("storage: closed")

	// ErrCorrupt is returned (wrapped, with the operation and key) when a
	// stored value or a snapshot stream cannot be decoded or fails its
	// checksum.
	ErrCorrupt = errors.New("storage: corrupt data")

	// ErrBatchDone is returned by Batch.Commit and Batch.ExpireEvents on a
	// batch that was already committed or closed.
	ErrBatchDone = errors.New("storage: batch already committed or closed")

	// ErrStaleSnapshot is returned by Shard.RestoreNewer for a snapshot whose
	// applied index is below the shard's: restoring it would move the state
	// back in time.
	ErrStaleSnapshot = errors.New("storage: snapshot older than the state")

	// ErrKeyNotFound is returned by RaftStore.Get and RaftStore.GetUint64 for a
	// key that was never set. Its text is exactly "not found", unprefixed and
	// never wrapped: hashicorp/raft compares err.Error() == "not found" (the
	// convention of raft-boltdb and raft.InmemStore).
	ErrKeyNotFound = errors.New("not found")
)

// Package storage keeps everything a Strata node persists in one Pebble
// database: the Raft log and stable store of every shard, and every shard's
// FSM state (user state, ingest cursor, dedupe set, timers, outbox).
//
// # Flow
//
// A node calls Open once and hands each shard's Raft group its RaftStore
// (raft.LogStore and raft.StableStore) and its FSM the Shard:
//
//	db, _ := storage.Open(dir, storage.DefaultOptions())
//	rs := db.RaftStore(shard)            // raft.NewRaft(conf, fsm, rs, rs, snaps, trans)
//	sh := db.Shard(shard)
//
// Raft appends entries with RaftStore.StoreLogs: one synced Pebble batch per
// call, so an acknowledged entry survives a crash. The FSM applies each entry
// by reading committed state (Shard.Meta, Shard.User, Shard.HasEvent,
// Shard.DueTimers) and writing everything the entry changes (user state,
// dedupe entries, timers, outbox records and Meta with the new applied
// index) into one Batch, committed without fsync:
//
//	m, _ := sh.Meta()
//	if entry.Index <= m.AppliedIndex { skip }   // re-applied log after restart
//	b := sh.NewBatch(); defer b.Close()
//	b.ExpireEvents(now, max)                     // before PutEvent
//	b.PutUser(user, state); b.PutEvent(user, id, now + 7 days)
//	b.SetTimer(user, oldDue, newDue); b.AppendOutbox(m.OutboxNext, rec)
//	m.AppliedIndex = entry.Index; b.PutMeta(m)
//	b.Commit(false)
//
// NoSync is safe because the state is rebuilt from the synced log: the WAL
// is sequential, so the next synced StoreLogs (or DB.Sync) also makes every
// earlier FSM batch durable, and after a crash raft re-applies entries above
// the durable Meta.AppliedIndex. The leader publishes Shard.Outbox and trims
// it with Batch.TrimOutbox through Raft.
//
// Raft snapshots: Shard.Snapshot takes a Pebble snapshot (cheap, consistent;
// FSM.Snapshot returns at once) and Snapshot.WriteTo streams it in
// FSMSnapshot.Persist while Apply continues. Shard.Restore verifies a whole
// stream before replacing the shard's FSM range in one batch, so a corrupt
// stream leaves the old state in place.
//
// # Key layout
//
// A leading byte separates Raft data from FSM state; then the shard number
// (big-endian uint16); then a kind byte:
//
//	0x01 shard 0x01 index(u64)              raft log entry → compact binary raft.Log
//	0x01 shard 0x02 key                     raft stable store → value
//	0x02 shard 0x01                         Meta
//	0x02 shard 0x02 user                    user state
//	0x02 shard 0x03 esc(user) id            dedupe entry → expires
//	0x02 shard 0x04 ts(expires) esc(user) id   dedupe expiry index
//	0x02 shard 0x05 ts(due) user            timer index
//	0x02 shard 0x06 seq(u64)                outbox record
//	0x02 shard 0x07                         model record (models, sweep, tier counts; cluster's JSON)
//	0x02 shard 0x08 user                    user state under the shadow model
//	0x02 shard 0x09 esc(dim) esc(tier) user member index of a tier → empty
//	0x02 shard 0x0A esc(user) n(u64)        the user's n-th recent transition
//	0x02 shard 0x0B                         RFM sketch of the shard's buyers
//	0x02 shard 0x0C                         tier counts (cluster's binary record)
//
// Integers are big-endian; ts flips the sign bit of an int64 so that keys
// sort by time. esc escapes 0x00 as 0x00 0xFF and ends with 0x00 0x01, which
// keeps (user, id) pairs unambiguous and ordered for arbitrary bytes. A user
// or id that ends a key needs no escaping. The layout is pinned by
// TestKeyLayoutGolden; DESIGN.md explains the choices.
//
// storagetest.Open gives the same engine on an in-memory file system.
package storage

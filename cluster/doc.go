// Package cluster turns events into replicated user state: shards, their Raft
// groups, the state machine, and the leader-side loops around it.
//
// # Flow
//
// Users are partitioned into Config.Shards shards by ShardOf (FNV-1a of the
// user ID), the same function NATS's partition() mapping applies when
// STRATA_EVENTS stores strata.events.<user> as strata.part.<shard>.<user>.
// Each shard is one hashicorp/raft group whose log and stable store live in the
// node's Pebble DB (storage.RaftStore) and whose FSM is *FSM.
//
// While a node leads a shard it runs three loops (Shard.lead):
//
//  1. ingest: an ordered JetStream consumer on the shard's partition, starting
//     after the replicated cursor. Messages are decoded and validated
//     (scoring.Decode); invalid ones go to STRATA_DLQ with a reason and are
//     acknowledged by JetStream before the cursor moves past them; valid ones are
//     batched (Config.MaxBatch) into ONE Raft entry stamped with the leader's
//     clock. Proposals are pipelined (Config.MaxInflight).
//  2. tick: every Config.TickInterval a Tick{now} entry fires every durable
//     timer due by then.
//  3. publish: the outbox is published to STRATA_TRANSITIONS in order with
//     Nats-Msg-Id <user>:<dimension>:<seq>, then trimmed through Raft.
//
// Every replica's FSM applies entries identically (FSM.ApplyBatch): it skips
// entries at or below its stored applied index and events at or below its
// cursor, drops event IDs already applied for the user (the dedupe set), folds
// the rest into user actors (package actor, states from package scoring),
// moves each user's single timer, appends transitions to the outbox and updates
// tier counts — all in one Pebble batch with the new applied index and cursor.
// Apply never reads a clock; a Pebble failure inside Apply stops the node.
//
// Snapshots are Pebble snapshots of the shard's key range (FSM.Snapshot syncs
// first, because Raft resumes after the newest snapshot's index). A shard whose
// Pebble state is older than its newest snapshot restores from it at start.
//
// Membership and placement live in the control Raft group (ControlGroup):
// its leader tracks liveness from heartbeats and plans placement changes
// (planNext: repairs, then replica balance, then leader balance); each shard
// leader moves its group's configuration toward the placement (non-voter,
// caught up, voter, then removal). Every group of a node, and node-to-node
// requests, share one TCP listener (Mux) with optional mutual TLS bound to
// node IDs. Reads are routed by the shard: local replica (stale), forwarded,
// or through the leader after a barrier (strong). See DESIGN.md.
package cluster

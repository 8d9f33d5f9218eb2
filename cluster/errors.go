package cluster

import "errors"

var (
	// ErrBadCommand is returned for a Raft entry that does not decode.
	ErrBadCommand = errors.New("cluster: bad command")
	// ErrNotLeader is returned when an operation needs the shard leader.
	ErrNotLeader = errors.New("cluster: not leader")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("cluster: closed")
	// ErrUnknownUser is returned by reads of a user Strata has never seen.
	ErrUnknownUser = errors.New("cluster: unknown user")
	// ErrCursorGap is the response to an ingest entry that starts past the
	// shard's cursor; it is skipped so that no event is lost.
	ErrCursorGap = errors.New("cluster: ingest entry leaves a gap after the cursor")
	// ErrShardMismatch is returned when the events stream is partitioned differently from the config.
	ErrShardMismatch = errors.New("cluster: shard count mismatch")
)

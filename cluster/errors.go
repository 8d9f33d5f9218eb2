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

	// errNotReady answers node-to-node requests while the node is starting.
	errNotReady = errors.New("cluster: node is starting")
	// ErrNoLeader is returned when a request needs a leader no node knows of.
	ErrNoLeader = errors.New("cluster: no leader known")
	// ErrNoReplica is returned when no node holding a replica answered.
	ErrNoReplica = errors.New("cluster: no reachable replica")
	// ErrLinkDown is returned by connections and dials across a link that
	// Faults has cut (or whose traffic it dropped).
	ErrLinkDown = errors.New("cluster: link down (fault injection)")

	// Errors of the mux.
	// ErrUnknownGroup is returned by a dial to a node where the Raft group is not registered.
	ErrUnknownGroup = errors.New("cluster: raft group not registered at peer")
	// ErrGroupInUse is returned by Mux.Stream for a group that already has a layer.
	ErrGroupInUse = errors.New("cluster: raft group already registered")
	// ErrRefused is returned by a dial the peer refused (identity, version or TLS).
	ErrRefused = errors.New("cluster: connection refused by peer")
	// ErrPeerMismatch is returned by a dial that reached a node other than the expected one.
	ErrPeerMismatch = errors.New("cluster: peer identity mismatch")
	// ErrBadHandshake is returned for a malformed connection preamble or frame.
	ErrBadHandshake = errors.New("cluster: bad mux handshake")
	// ErrRPCTooLarge is returned for an RPC body over MaxRPCSize.
	ErrRPCTooLarge = errors.New("cluster: rpc body too large")
)

package cluster

import (
	"errors"
	"fmt"
	"time"

	"github.com/strata-io/strata/actor"
	"github.com/strata-io/strata/scoring"
)

// Clock tells the leader what time to stamp on entries. Apply never calls it.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// SystemClock is the wall clock.
var SystemClock Clock = systemClock{}

// Config configures the shards of one node.
type Config struct {
	NodeID  string // Raft server ID of this node; required
	DataDir string // snapshots go under DataDir/snapshots; required
	Shards  int    // number of shards (Raft groups); default 8; fixed when the cluster forms

	// RaftAddr is where the node's one Raft/cluster listener binds (all
	// groups share it); default 127.0.0.1:7400. Advertise is the address
	// other nodes dial (default: the bound address).
	RaftAddr  string
	Advertise string
	// HTTPAddr is the node's HTTP API address, shown to operators.
	HTTPAddr string
	// Join lists members to ask to join; empty forms a new cluster (or
	// restarts a member from its data).
	Join []string
	// Replicas is the replication factor R of every shard; default 3 (fewer
	// while the cluster has fewer nodes). Fixed when the cluster forms.
	Replicas int
	// HeartbeatInterval: how often a node reports to the control leader;
	// default 500ms. DownAfter: silence after which a node counts as down
	// (no leaders or replicas moved to it); default 3s. ReplaceAfter:
	// silence after which its replicas are re-created elsewhere; default 5m.
	HeartbeatInterval time.Duration
	DownAfter         time.Duration
	ReplaceAfter      time.Duration
	// ReconcileInterval: how often placement and shard membership are
	// checked against each other; default 500ms.
	ReconcileInterval time.Duration

	MaxBatch      int           // most events in one Raft entry; default 1000
	MaxBatchBytes int           // most payload bytes in one Raft entry; default 4 MiB
	MaxInflight   int           // pipelined proposals per shard; default 8
	TickInterval  time.Duration // how often the leader proposes Tick{now}; default 1s
	// MaxTimersPerTick bounds the timers one tick fires and the dedupe entries
	// it expires (memory and apply time of one entry); a backlog is worked off
	// by further ticks at once. Default 10 000.
	MaxTimersPerTick int
	TrimInterval     time.Duration // least time between outbox trims; default 100ms
	// SweepBatch is how many users one sweep step moves to a new model plan
	// (one Raft entry); SweepInterval the least time between steps, which
	// bounds the rate of a promotion's transitions: at most SweepBatch per
	// SweepInterval per shard, besides the users events touch. Defaults
	// 1000 and 100ms.
	SweepBatch    int
	SweepInterval time.Duration
	// History is how many recent transitions each user keeps for explain;
	// 0 keeps none. Default 10.
	History int
	// RFMInterval is how often the control leader merges the shards' RFM
	// sketches into new quintile edges; default 1m.
	RFMInterval time.Duration

	ProposeTimeout time.Duration // Raft Apply enqueue timeout; default 10s
	// PublishAckTimeout bounds the wait for JetStream's acknowledgement of an
	// asynchronous publish (transitions, dead letters); on it the publish is
	// retried under the same Nats-Msg-Id. Default 10s.
	PublishAckTimeout time.Duration
	ElectionTimeout   time.Duration // Raft heartbeat and election timeout; default 1s (leader lease: half)
	SnapshotThreshold uint64        // log entries between snapshots; default 16384
	SnapshotInterval  time.Duration // how often Raft checks for a snapshot; default 2m
	TrailingLogs      uint64        // log entries kept after a snapshot; default 2048 (entries hold up to MaxBatch events)

	DedupeWindow               time.Duration // how long an event ID is remembered per user; default 7 days
	EventsMaxAge               time.Duration // STRATA_EVENTS retention; default 7 days
	TransitionsMaxAge          time.Duration // STRATA_TRANSITIONS retention; default 7 days
	TransitionsDuplicateWindow time.Duration // STRATA_TRANSITIONS Nats-Msg-Id window; default 10m
	DLQMaxAge                  time.Duration // STRATA_DLQ retention; default 30 days
	StreamReplicas             int           // JetStream replicas of Strata's streams; default 1

	Limits scoring.Limits // event validation
	Actors actor.Config   // per-shard actor runtime (resident users)
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	a := actor.DefaultConfig()
	a.Capacity = 50_000
	return Config{
		NodeID: "strata-1", DataDir: "strata-data", Shards: 8,
		RaftAddr: "127.0.0.1:7400", Replicas: 3,
		HeartbeatInterval: 500 * time.Millisecond, DownAfter: 3 * time.Second, ReplaceAfter: 5 * time.Minute,
		ReconcileInterval: 500 * time.Millisecond,
		MaxBatch:          1000, MaxBatchBytes: 4 << 20, MaxInflight: 8, MaxTimersPerTick: 10_000,
		TickInterval: time.Second, TrimInterval: 100 * time.Millisecond,
		SweepBatch: 1000, SweepInterval: 100 * time.Millisecond, History: 10, RFMInterval: time.Minute,
		ProposeTimeout: 10 * time.Second, PublishAckTimeout: 10 * time.Second, ElectionTimeout: time.Second,
		SnapshotThreshold: 16384, SnapshotInterval: 2 * time.Minute, TrailingLogs: 2048,
		DedupeWindow: 7 * 24 * time.Hour, EventsMaxAge: 7 * 24 * time.Hour,
		TransitionsMaxAge: 7 * 24 * time.Hour, TransitionsDuplicateWindow: 10 * time.Minute,
		DLQMaxAge: 30 * 24 * time.Hour, StreamReplicas: 1,
		Limits: scoring.DefaultLimits(), Actors: a,
	}
}

// Validate reports the first bad field; it never changes c.
func (c *Config) Validate() error {
	positive := []struct {
		name string
		v    time.Duration
	}{
		{"tick interval", c.TickInterval}, {"trim interval", c.TrimInterval}, {"sweep interval", c.SweepInterval}, {"rfm interval", c.RFMInterval},
		{"propose timeout", c.ProposeTimeout}, {"publish ack timeout", c.PublishAckTimeout},
		{"election timeout", c.ElectionTimeout},
		{"snapshot interval", c.SnapshotInterval}, {"dedupe window", c.DedupeWindow},
		{"events max age", c.EventsMaxAge}, {"transitions max age", c.TransitionsMaxAge},
		{"transitions duplicate window", c.TransitionsDuplicateWindow}, {"dlq max age", c.DLQMaxAge},
		{"heartbeat interval", c.HeartbeatInterval}, {"down after", c.DownAfter},
		{"replace after", c.ReplaceAfter}, {"reconcile interval", c.ReconcileInterval},
	}
	switch {
	case c.NodeID == "":
		return errors.New("cluster: node id is empty")
	case c.DataDir == "":
		return errors.New("cluster: data dir is empty")
	case c.Shards < 1 || c.Shards > 4096:
		return fmt.Errorf("cluster: shards %d: want 1..4096", c.Shards)
	case c.MaxBatch < 1 || c.MaxBatch > maxEventsPerCommand:
		return fmt.Errorf("cluster: max batch %d: want 1..%d", c.MaxBatch, maxEventsPerCommand)
	case c.MaxBatchBytes < 64<<10:
		return fmt.Errorf("cluster: max batch bytes %d: want ≥ 65536", c.MaxBatchBytes)
	case c.MaxTimersPerTick < 1:
		return fmt.Errorf("cluster: max timers per tick %d: want ≥ 1", c.MaxTimersPerTick)
	case c.SweepBatch < 1 || c.SweepBatch > 100_000:
		return fmt.Errorf("cluster: sweep batch %d: want 1..100000", c.SweepBatch)
	case c.History < 0 || c.History > 1000:
		return fmt.Errorf("cluster: history %d: want 0..1000", c.History)
	case c.MaxInflight < 1:
		return fmt.Errorf("cluster: max inflight %d: want ≥ 1", c.MaxInflight)
	case c.SnapshotThreshold < 1:
		return fmt.Errorf("cluster: snapshot threshold %d: want ≥ 1", c.SnapshotThreshold)
	case c.RaftAddr == "":
		return errors.New("cluster: raft address is empty")
	case c.Replicas < 1 || c.Replicas > 7:
		return fmt.Errorf("cluster: replicas %d: want 1..7", c.Replicas)
	case c.StreamReplicas < 1 || c.StreamReplicas > 5:
		return fmt.Errorf("cluster: stream replicas %d: want 1..5", c.StreamReplicas)
	}
	for _, p := range positive {
		if p.v <= 0 {
			return fmt.Errorf("cluster: %s %s: want > 0", p.name, p.v)
		}
	}
	return c.Actors.Validate()
}

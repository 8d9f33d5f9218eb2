package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-io/strata/actor"
	"github.com/strata-io/strata/scoring"
	"github.com/strata-io/strata/storage"
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
	Shards  int    // number of shards (Raft groups); default 8; fixed for the life of the data

	MaxBatch      int           // most events in one Raft entry; default 1000
	MaxBatchBytes int           // most payload bytes in one Raft entry; default 4 MiB
	MaxInflight   int           // pipelined proposals per shard; default 8
	TickInterval  time.Duration // how often the leader proposes Tick{now}; default 1s
	// MaxTimersPerTick bounds the timers one tick fires and the dedupe entries
	// it expires (memory and apply time of one entry); a backlog is worked off
	// by further ticks at once. Default 10 000.
	MaxTimersPerTick int
	TrimInterval     time.Duration // least time between outbox trims; default 100ms

	ProposeTimeout    time.Duration // Raft Apply enqueue timeout; default 10s
	ElectionTimeout   time.Duration // Raft heartbeat and election timeout; default 500ms
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
		MaxBatch: 1000, MaxBatchBytes: 4 << 20, MaxInflight: 8, MaxTimersPerTick: 10_000,
		TickInterval: time.Second, TrimInterval: 100 * time.Millisecond,
		ProposeTimeout: 10 * time.Second, ElectionTimeout: 500 * time.Millisecond,
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
		{"tick interval", c.TickInterval}, {"trim interval", c.TrimInterval},
		{"propose timeout", c.ProposeTimeout}, {"election timeout", c.ElectionTimeout},
		{"snapshot interval", c.SnapshotInterval}, {"dedupe window", c.DedupeWindow},
		{"events max age", c.EventsMaxAge}, {"transitions max age", c.TransitionsMaxAge},
		{"transitions duplicate window", c.TransitionsDuplicateWindow}, {"dlq max age", c.DLQMaxAge},
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
	case c.MaxInflight < 1:
		return fmt.Errorf("cluster: max inflight %d: want ≥ 1", c.MaxInflight)
	case c.SnapshotThreshold < 1:
		return fmt.Errorf("cluster: snapshot threshold %d: want ≥ 1", c.SnapshotThreshold)
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

// Deps are the services a Cluster runs on; the node owns and closes them.
type Deps struct {
	DB      *storage.DB
	Model   *scoring.Model
	JS      jetstream.JetStream
	Clock   Clock        // nil: SystemClock
	Metrics *Metrics     // nil: unregistered
	Logger  hclog.Logger // nil: no logs
	// RaftLogger receives hashicorp/raft's logs (nil: Logger.Named("raft")).
	// Raft is chatty at Info: nodes usually give it a higher level.
	RaftLogger hclog.Logger
}

// Cluster is the set of shards this node holds. On a single node it holds
// every shard as its only voter.
type Cluster struct {
	cfg    Config
	deps   Deps
	shards []*Shard

	// mu guards closed: reads hold it shared so Close waits for them, and
	// reads after Close get ErrClosed (HTTP and NATS handlers may outlive
	// their servers' shutdown by a little).
	mu     sync.RWMutex
	closed bool
}

// Open creates Strata's streams if needed and starts every shard.
func Open(ctx context.Context, cfg Config, deps Deps) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Clock == nil {
		deps.Clock = SystemClock
	}
	if deps.Metrics == nil {
		deps.Metrics = NewMetrics(nil)
	}
	if deps.Logger == nil {
		deps.Logger = hclog.NewNullLogger()
	}
	if deps.RaftLogger == nil {
		deps.RaftLogger = deps.Logger.Named("raft")
	}
	if err := ensureStreams(ctx, deps.JS, &cfg); err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, deps: deps}
	for i := 0; i < cfg.Shards; i++ {
		s, err := openShard(shardConfig{
			ID: uint16(i), NodeID: cfg.NodeID, Dir: raftDir(cfg.DataDir, uint16(i)),
			DB: deps.DB, Model: deps.Model, JS: deps.JS, Clock: deps.Clock,
			Metrics: deps.Metrics, Logger: deps.Logger, RaftLogger: deps.RaftLogger, Config: &c.cfg,
		})
		if err != nil {
			_ = c.Close()
			return nil, err
		}
		c.shards = append(c.shards, s)
	}
	return c, nil
}

// Close stops every shard (leader loops first, then Raft).
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	var errs []error
	for _, s := range c.shards {
		errs = append(errs, s.close())
	}
	return errors.Join(errs...)
}

// Shards returns the shards of this node.
func (c *Cluster) Shards() []*Shard { return c.shards }

// ShardFor returns the shard holding user.
func (c *Cluster) ShardFor(user string) *Shard { return c.shards[ShardOf(user, c.cfg.Shards)] }

// Ready returns nil once every shard has a leader whose ingest runs.
func (c *Cluster) Ready() error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return ErrClosed
	}
	for _, s := range c.shards {
		if !s.HasLeader() {
			return fmt.Errorf("shard %d has no leader", s.ID())
		}
		if s.IsLeader() && !s.Ingesting() {
			return fmt.Errorf("shard %d is not ingesting", s.ID())
		}
	}
	return nil
}

// User reads a user's state from the local replica of its shard.
func (c *Cluster) User(user string) (UserView, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return UserView{}, ErrClosed
	}
	return c.ShardFor(user).FSM().User(user)
}

// TierCounts returns how many users are in each tier of each dimension.
func (c *Cluster) TierCounts() (map[string]map[string]int64, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return nil, ErrClosed
	}
	dims := c.deps.Model.Dimensions()
	out := make(map[string]map[string]int64, len(dims))
	for _, d := range dims {
		m := make(map[string]int64, len(d.Tiers))
		for _, t := range d.Tiers {
			m[t] = 0
		}
		out[d.Name] = m
	}
	for _, s := range c.shards {
		counts := s.FSM().Meta().Counts
		i := 0
		for _, d := range dims {
			for _, t := range d.Tiers {
				if i < len(counts) {
					out[d.Name][t] += counts[i]
				}
				i++
			}
		}
	}
	return out, nil
}

// Barrier waits until every shard has applied everything proposed so far.
func (c *Cluster) Barrier(timeout time.Duration) error {
	for _, s := range c.shards {
		if err := s.Barrier(timeout); err != nil {
			return fmt.Errorf("shard %d: %w", s.ID(), err)
		}
	}
	return nil
}

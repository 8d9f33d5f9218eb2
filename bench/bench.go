package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// MaxNodes is the largest Config.Nodes: every node runs in this process.
const MaxNodes = 5

// Config describes one run.
type Config struct {
	Users  int    // distinct users; default 100 000
	Events int    // events to publish; default 1 000 000
	Seed   uint64 // population seed; default 1
	Shards int    // shards of the cluster; default 8
	// Nodes is how many Strata nodes run in this process, 1..MaxNodes; default 1.
	// One node embeds its NATS server; more share one nats-server started by
	// the run and form a cluster with the default replication factor (3).
	Nodes int
	// Rate is the offered load in events/s: event i is due at i/Rate seconds
	// after the first and latency counts from that scheduled time (open loop).
	// Default 0: as fast as the publisher's window of 8192 unacknowledged
	// events allows, latency counted from each actual send.
	Rate int
	// Ceiling measures the raw pipe first (see Ceiling): the same events
	// through the same NATS setup to bare consumers, in a directory of its
	// own removed before Strata starts. Default true.
	Ceiling bool
	DataDir string // all data (nodes, NATS); empty: a temporary directory, removed after
	Logger  hclog.Logger
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{Users: 100_000, Events: 1_000_000, Seed: 1, Shards: 8, Nodes: 1, Ceiling: true}
}

// Validate reports the first bad field; it never changes c.
func (c *Config) Validate() error {
	switch {
	case c.Users < 1:
		return fmt.Errorf("bench: users %d: want ≥ 1", c.Users)
	case c.Events < c.Users:
		return fmt.Errorf("bench: events %d: want ≥ users (%d)", c.Events, c.Users)
	case c.Shards < 1:
		return fmt.Errorf("bench: shards %d: want ≥ 1", c.Shards)
	case c.Nodes < 1 || c.Nodes > MaxNodes:
		return fmt.Errorf("bench: nodes %d: want 1..%d", c.Nodes, MaxNodes)
	case c.Rate < 0:
		return fmt.Errorf("bench: rate %d: want ≥ 0 events/s (0: unpaced)", c.Rate)
	}
	return nil
}

// Report is the outcome of a run. Times count from the first publish.
type Report struct {
	Users             int     `json:"users"`
	Events            int     `json:"events"`
	Shards            int     `json:"shards"`
	Nodes             int     `json:"nodes"`
	Replicas          int     `json:"replicas"`           // replicas of each shard
	Rate              int     `json:"rate"`               // offered events/s; 0: unpaced
	PublishSeconds    float64 `json:"publish_seconds"`    // first publish → last publish acknowledged
	PublishPerSecond  float64 `json:"publish_per_second"` // events/s into JetStream
	AppliedSeconds    float64 `json:"applied_seconds"`    // first publish → every event applied by a replica of its shard
	AppliedPerSecond  float64 `json:"applied_per_second"` // events/s publish → applied
	ReplicatedSeconds float64 `json:"replicated_seconds"` // first publish → every event applied by every replica
	Applied           int64   `json:"applied"`            // distinct events applied: ReplicaApplies / Replicas
	ReplicaApplies    int64   `json:"replica_applies"`    // strata_events_applied_total summed over the nodes
	SnapshotRestores  int64   `json:"snapshot_restores"`  // replicas that took state from a snapshot (Applied is then a lower bound)
	TieredUsers       int64   `json:"tiered_users"`       // users placed in the value dimension
	PebbleDiskBytes   int64   `json:"pebble_disk_bytes"`  // state, dedupe set, Raft logs on disk at the end, all nodes
	PeakRSSBytes      int64   `json:"peak_rss_bytes"`     // whole process during Strata's phase: generator, NATS and every node
	// Latency is measured by the bench for every event: from its scheduled
	// send time to the first poll that sees a replica of its shard past it.
	Latency Latency `json:"latency"`
	// LatencyBuckets is strata_event_applied_seconds (JetStream stored →
	// applied on the leader) merged over the nodes, interpolated within
	// Prometheus buckets: coarse, a cross-check of Latency.
	LatencyBuckets Latency `json:"latency_buckets"`
	// Ceiling is the raw pipe measured before Strata in this run (nil
	// without Config.Ceiling) and Ratio is AppliedPerSecond over its
	// EventsPerSecond (0 without it).
	Ceiling *Ceiling `json:"ceiling,omitempty"`
	Ratio   float64  `json:"ratio,omitempty"`
	// Population is what the generator planted: cohorts, whales, abusers,
	// event counts by type.
	Population Expectation `json:"population"`
}

// pollEvery is how often the run reads every replica's cursor: the
// resolution of Report.Latency and of the applied and replicated times.
const pollEvery = time.Millisecond

// Run starts the nodes, sends the population's events and measures.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	dir := cfg.DataDir
	if dir == "" {
		d, err := os.MkdirTemp("", "strata-bench-")
		if err != nil {
			return Report{}, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	pop, err := newPopulation(cfg)
	if err != nil {
		return Report{}, err
	}

	var ceiling *Ceiling
	if cfg.Ceiling {
		cdir := filepath.Join(dir, "ceiling")
		c, err := runCeiling(ctx, cfg, pop, cdir, log)
		if rerr := os.RemoveAll(cdir); err == nil {
			err = rerr
		}
		if err != nil {
			return Report{}, err
		}
		ceiling = &c
		forgetCeiling()
	}

	log.Info("starting", "nodes", cfg.Nodes, "shards", cfg.Shards)
	began := time.Now()
	f, err := startFleet(ctx, cfg, dir)
	if err != nil {
		return Report{}, err
	}
	defer f.close()
	log.Info("ready", "nodes", cfg.Nodes, "replicas", f.replicas, "after", time.Since(began).Round(time.Millisecond))
	conn, js, err := connectPublisher(f.natsURL())
	if err != nil {
		return Report{}, err
	}
	defer conn.Close()

	log.Info("publishing", "events", cfg.Events, "users", cfg.Users, "rate", cfg.Rate)
	epoch := time.Now()
	tr := startTracker(nodeCursors(f.nodes), cfg.Shards, f.replicas, epoch, pollEvery)
	defer tr.stop()
	s, err := publish(ctx, js, pop, cfg.Rate, epoch)
	if err != nil {
		return Report{}, err
	}
	progress, err := tr.wait(ctx, lastSeqs(s.seq, pop.shard, cfg.Shards))
	if err != nil {
		return Report{}, fmt.Errorf("bench: waiting for %d events to be applied: %w", cfg.Events, err)
	}
	log.Info("applied", "published", s.acked.Round(time.Millisecond), "applied", progress.applied.Round(time.Millisecond),
		"replicated", progress.replicated.Round(time.Millisecond))

	r := Report{Population: pop.expect,
		Users: cfg.Users, Events: cfg.Events, Shards: cfg.Shards, Nodes: cfg.Nodes, Replicas: f.replicas, Rate: cfg.Rate,
		PublishSeconds:    s.acked.Seconds(),
		PublishPerSecond:  float64(cfg.Events) / s.acked.Seconds(),
		AppliedSeconds:    progress.applied.Seconds(),
		AppliedPerSecond:  float64(cfg.Events) / progress.applied.Seconds(),
		ReplicatedSeconds: progress.replicated.Seconds(),
		Latency:           exactLatency(eventLatencies(s, pop.shard, progress.seen)),
		PeakRSSBytes:      peakRSS(),
		Ceiling:           ceiling,
	}
	if ceiling != nil {
		r.Ratio = r.AppliedPerSecond / ceiling.EventsPerSecond
	}
	if r.LatencyBuckets, err = f.bucketLatency(ctx, "strata_event_applied_seconds", cfg.Events, 5*time.Second); err != nil {
		return r, err
	}
	if r.ReplicaApplies, err = f.sum("strata_events_applied_total"); err != nil {
		return r, err
	}
	r.Applied = r.ReplicaApplies / int64(f.replicas)
	if r.SnapshotRestores, err = f.sum("strata_snapshot_restores_total"); err != nil {
		return r, err
	}
	if r.PebbleDiskBytes, err = f.sum("strata_pebble_disk_bytes"); err != nil {
		return r, err
	}
	counts, err := f.nodes[0].Cluster().TierCountsContext(ctx)
	if err != nil {
		return r, err
	}
	for _, c := range counts["value"] {
		r.TieredUsers += c
	}
	return r, check(r, log)
}

// connectPublisher connects the run's publisher: every phase publishes
// through a connection of its own with a window of 8192 unacknowledged events.
func connectPublisher(url string) (*nats.Conn, jetstream.JetStream, error) {
	conn, err := nats.Connect(url, nats.Name("strata bench"))
	if err != nil {
		return nil, nil, fmt.Errorf("bench: connect %s: %w", url, err)
	}
	js, err := jetstream.New(conn, jetstream.WithPublishAsyncMaxPending(8192))
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("bench: jetstream: %w", err)
	}
	return conn, js, nil
}

// check compares what Strata counted with what was sent.
func check(r Report, log hclog.Logger) error {
	want := int64(r.Replicas) * int64(r.Events)
	switch {
	case r.SnapshotRestores == 0 && r.ReplicaApplies != want:
		return fmt.Errorf("bench: replicas applied %d events, want %d × %d sent", r.ReplicaApplies, r.Replicas, r.Events)
	case r.ReplicaApplies > want:
		return fmt.Errorf("bench: replicas applied %d events, more than %d × %d sent", r.ReplicaApplies, r.Replicas, r.Events)
	case r.TieredUsers != int64(r.Users):
		return fmt.Errorf("bench: %d users tiered, sent events for %d", r.TieredUsers, r.Users)
	case r.Latency.Count != int64(r.Events):
		return fmt.Errorf("bench: latency of %d events measured, sent %d", r.Latency.Count, r.Events)
	}
	if r.SnapshotRestores > 0 {
		// A restored replica took some events' effects without applying
		// them, so its count falls short; the cursors still proved every
		// event applied and the tier counts are still checked.
		log.Warn("snapshot restores during the run: applied is a lower bound", "restores", r.SnapshotRestores)
	}
	return nil
}

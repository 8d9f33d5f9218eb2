package bench

import (
	"context"
	"errors"
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
	Events int    // events to publish (with Ramp*: at most); default 1 000 000
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
	// RampStart > 0 replaces Rate by a step ramp: open-loop stages of
	// RampStage each, offering RampStart, RampStart+RampStep, … events/s,
	// up to RampMax (0: no bound), until a stage is not sustainable — its
	// events' p99 above RampP99, or its backlog (events due but not
	// applied) grown over the stage by more than RampBacklog's worth of its
	// rate — or the Events run out. Report.Ramp says the highest
	// sustainable stage's rate. Defaults: step = start, stage 20 s, p99
	// bound 1 s, backlog bound 100 ms.
	RampStart, RampStep, RampMax    int
	RampStage, RampP99, RampBacklog time.Duration
	// Ceiling measures the raw pipe first (see Ceiling): the same events
	// through the same NATS setup to bare consumers, in a directory of its
	// own removed before Strata starts. Default true. Not with Target.
	Ceiling bool
	// SampleEvery is the length of the report's series intervals; default 1 s.
	SampleEvery time.Duration
	// Target, when set, benchmarks a running node or cluster instead of
	// starting one (see Target).
	Target *Target
	// Progress, when set, is called with the live state of the run after
	// every series interval, from the tracker's goroutine: it must return quickly.
	Progress func(Progress)
	DataDir  string // all data (nodes, NATS); empty: a temporary directory, removed after
	Logger   hclog.Logger
	// ModelFile, if set, is a tier model file the nodes run (node.Config
	// ModelFile) instead of the built-in model: the run starts once every
	// shard runs it. Not with Target (load it there with strata model apply).
	ModelFile string
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{Users: 100_000, Events: 1_000_000, Seed: 1, Shards: 8, Nodes: 1, Ceiling: true,
		SampleEvery: time.Second, RampStage: 20 * time.Second, RampP99: time.Second, RampBacklog: 100 * time.Millisecond}
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
	case c.SampleEvery < 10*time.Millisecond:
		return fmt.Errorf("bench: sample interval %v: want ≥ 10ms", c.SampleEvery)
	case c.RampStart < 0 || c.RampStep < 0 || c.RampMax < 0:
		return fmt.Errorf("bench: ramp %d:%d max %d: want rates ≥ 0", c.RampStart, c.RampStep, c.RampMax)
	case c.RampStart > 0 && c.Rate > 0:
		return fmt.Errorf("bench: rate %d and ramp from %d: want one of them", c.Rate, c.RampStart)
	case c.RampStart > 0 && c.RampStage < 100*time.Millisecond:
		return fmt.Errorf("bench: ramp stage %v: want ≥ 100ms", c.RampStage)
	case c.RampStart > 0 && (c.RampP99 <= 0 || c.RampBacklog <= 0):
		return fmt.Errorf("bench: ramp bounds p99 %v, backlog %v: want > 0", c.RampP99, c.RampBacklog)
	case c.RampMax > 0 && c.RampMax < c.RampStart:
		return fmt.Errorf("bench: ramp max %d below its start %d", c.RampMax, c.RampStart)
	case c.Target != nil && c.Ceiling:
		return errors.New("bench: no ceiling against a running target (the pipe there is not ours to measure)")
	}
	if c.Target != nil {
		return c.Target.validate()
	}
	return nil
}

// schedule is when each event is due.
func (c *Config) schedule() schedule {
	if c.RampStart > 0 {
		step := c.RampStep
		if step == 0 {
			step = c.RampStart
		}
		return ramp(c.RampStart, step, c.RampStage, c.RampMax)
	}
	return constant(c.Rate)
}

// population is the generator's config of the run.
func (c *Config) population() PopulationConfig {
	pc := DefaultPopulation()
	pc.Users, pc.Events, pc.Seed, pc.Shards = c.Users, c.Events, c.Seed, c.Shards
	if c.Target != nil {
		pc.RunID = c.Target.RunID
	}
	return pc
}

// Report is the outcome of a run. Times count from the first publish.
type Report struct {
	Target            string  `json:"target"` // "in-process", or the NATS URL of a running target
	Users             int     `json:"users"`
	Events            int     `json:"events"` // events the population holds (with a ramp: at most sent)
	Sent              int64   `json:"sent"`   // events sent: Events, unless a ramp stopped first
	Shards            int     `json:"shards"`
	Nodes             int     `json:"nodes"`
	Replicas          int     `json:"replicas"`           // replicas of each shard
	Rate              int     `json:"rate"`               // offered events/s; 0: unpaced or ramp
	PublishSeconds    float64 `json:"publish_seconds"`    // first publish → last publish acknowledged
	PublishPerSecond  float64 `json:"publish_per_second"` // events/s into JetStream
	AppliedSeconds    float64 `json:"applied_seconds"`    // first publish → every event applied by a replica of its shard
	AppliedPerSecond  float64 `json:"applied_per_second"` // events/s publish → applied
	ReplicatedSeconds float64 `json:"replicated_seconds"` // first publish → every event applied by every replica
	Applied           int64   `json:"applied"`            // distinct events applied: ReplicaApplies / Replicas
	ReplicaApplies    int64   `json:"replica_applies"`    // strata_events_applied_total summed over the nodes (against a target: its growth during the run)
	SnapshotRestores  int64   `json:"snapshot_restores"`  // replicas that took state from a snapshot (Applied is then a lower bound)
	SentUsers         int64   `json:"sent_users"`         // distinct users among the events sent
	TieredUsers       int64   `json:"tiered_users"`       // users the model placed, in its dimension placing the most (against a target: value's growth)
	Model             string  `json:"model,omitempty"`    // the tier model the nodes ran (name@vN)
	UsersChecked      bool    `json:"users_checked"`      // TieredUsers was checked against SentUsers (not against a target that already had users)
	PebbleDiskBytes   int64   `json:"pebble_disk_bytes"`  // state, dedupe set, Raft logs on disk at the end, all nodes
	PeakRSSBytes      int64   `json:"peak_rss_bytes"`     // in process: the whole process during Strata's phase; against a target: the highest sample of its nodes' summed RSS
	// Latency is measured by the bench for every event: from its scheduled
	// send time to the first poll that sees a replica of its shard past it.
	Latency Latency `json:"latency"`
	// LatencyCurve is Latency's percentile curve, 0 to 99.999.
	LatencyCurve []CurvePoint `json:"latency_curve"`
	// LatencyResolutionMs is how often progress was polled: every latency
	// is exact to this.
	LatencyResolutionMs float64 `json:"latency_resolution_ms"`
	// LatencyBuckets is strata_event_applied_seconds (JetStream stored →
	// applied on the leader) merged over the nodes, interpolated within
	// Prometheus buckets: coarse, a cross-check of Latency.
	LatencyBuckets Latency `json:"latency_buckets"`
	// Transitions is publish → transition received: from the scheduled
	// send of the event named by a transition's cause to the moment the
	// bench received the transition (nil when not measured).
	Transitions          *Latency `json:"transitions,omitempty"`
	TransitionsPublished int64    `json:"transitions_published"` // strata_transitions_published_total over the nodes (against a target: its growth)
	TransitionsReceived  int64    `json:"transitions_received"`  // by the bench, every cause (timers too)
	TransitionsDropped   int64    `json:"transitions_dropped"`   // lost by the bench's subscription (slow consumer)
	// SampleSeconds is the length of Series' intervals; Series is the
	// Strata phase over time.
	SampleSeconds float64  `json:"sample_seconds"`
	Series        []Sample `json:"series"`
	// Ramp is the step ramp's stages and sustainable rate (nil without one).
	Ramp *Ramp `json:"ramp,omitempty"`
	// Ceiling is the raw pipe measured before Strata in this run (nil
	// without Config.Ceiling) and Ratio is AppliedPerSecond over its
	// EventsPerSecond — with a ramp, the sustainable rates' ratio (0 without it).
	Ceiling *Ceiling `json:"ceiling,omitempty"`
	Ratio   float64  `json:"ratio,omitempty"`
	// Population is what the generator planted: cohorts, whales, abusers,
	// event counts by type.
	Population Expectation `json:"population"`
}

// Progress is the live state of a run, once per series interval.
type Progress struct {
	Phase     string        // "ceiling" or "strata"
	Elapsed   time.Duration // since the phase's first publish
	Published int64         // events sent so far
	Applied   int64         // events applied so far (first replica)
	Rate      float64       // events/s published in the last interval
	Backlog   int64         // Published − Applied
	P99       float64       // ms, of the events applied in the last complete interval; < 0: none yet
	RSSBytes  int64         // 0: not measured
}

// pollEvery is how often the run reads every in-process replica's cursor:
// the resolution of Report.Latency and of the applied and replicated times.
const pollEvery = time.Millisecond

// Run starts the nodes (or connects to Config.Target), sends the
// population's events and measures.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if cfg.Target != nil {
		return runTarget(ctx, cfg, log)
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
	now := time.Now() // every phase sends the population of this instant
	gen, err := NewGenerator(cfg.population(), now)
	if err != nil {
		return Report{}, err
	}
	expect := gen.Expected()
	gen = nil

	var ceiling *Ceiling
	if cfg.Ceiling {
		cdir := filepath.Join(dir, "ceiling")
		resetPeakRSS()
		c, err := runCeiling(ctx, cfg, now, cdir, log)
		if rerr := os.RemoveAll(cdir); err == nil {
			err = rerr
		}
		if err != nil {
			return Report{}, err
		}
		ceiling = &c
	}
	resetPeakRSS()

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
	tt, err := watchTransitions(ctx, conn, cfg)
	if err != nil {
		return Report{}, err
	}
	defer tt.close()

	log.Info("publishing", "events", cfg.Events, "users", cfg.Users, "rate", cfg.Rate, "ramp", cfg.RampStart)
	l, err := runLoad(ctx, cfg, now, load{phase: "strata", js: js, read: nodeCursors(f.nodes), usage: selfUsage,
		replicas: f.replicas, poll: pollEvery, marks: tt.marks, started: tt.start})
	if err != nil {
		return Report{}, err
	}
	log.Info("applied", "published", l.sent.acked.Round(time.Millisecond), "applied", l.applied.Round(time.Millisecond),
		"replicated", l.replicated.Round(time.Millisecond))

	r := newReport(cfg, l, ceiling, expect, sourceExact)
	r.Nodes, r.Replicas = cfg.Nodes, f.replicas
	r.PeakRSSBytes = peakRSS()
	published, err := f.sum("strata_transitions_published_total")
	if err != nil {
		return r, err
	}
	r.TransitionsReceived = tt.wait(ctx, published, 5*time.Second)
	r.TransitionsPublished, r.TransitionsDropped, r.Transitions = published, tt.dropped(), tt.latency()
	if r.LatencyBuckets, err = f.bucketLatency(ctx, "strata_event_applied_seconds", int(r.Sent), 5*time.Second); err != nil {
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
	r.TieredUsers = tieredUsers(counts)
	r.Model = f.nodes[0].Cluster().ModelPlan().ActiveID()
	return r, check(r, log)
}

// newReport fills what every target measures alike from a phase's load.
func newReport(cfg Config, l loaded, ceiling *Ceiling, expect Expectation, source string) Report {
	r := Report{Target: "in-process", Population: expect, UsersChecked: true,
		Users: cfg.Users, Events: cfg.Events, Sent: l.sent.events, SentUsers: l.sent.users, Shards: cfg.Shards, Rate: cfg.Rate,
		PublishSeconds:      l.sent.acked.Seconds(),
		PublishPerSecond:    float64(l.sent.events) / l.sent.acked.Seconds(),
		AppliedSeconds:      l.applied.Seconds(),
		AppliedPerSecond:    float64(l.sent.events) / l.applied.Seconds(),
		ReplicatedSeconds:   l.replicated.Seconds(),
		Latency:             histLatency(l.hist, source),
		LatencyCurve:        percentileCurve(l.hist),
		LatencyResolutionMs: ms(pollEvery),
		SampleSeconds:       cfg.SampleEvery.Seconds(),
		Series:              l.series,
		Ramp:                rampReport(cfg, l),
		Ceiling:             ceiling,
	}
	if ceiling != nil {
		r.Ratio = r.AppliedPerSecond / ceiling.EventsPerSecond
		if r.Ramp != nil && ceiling.Ramp != nil && ceiling.Ramp.SustainablePerSec > 0 {
			r.Ratio = float64(r.Ramp.SustainablePerSec) / float64(ceiling.Ramp.SustainablePerSec)
		}
	}
	return r
}

// rampReport is the ramp's outcome (nil without a ramp).
func rampReport(cfg Config, l loaded) *Ramp {
	if cfg.RampStart == 0 {
		return nil
	}
	s := cfg.schedule()
	return &Ramp{Start: s.rate, Step: s.step, StageSeconds: s.stage.Seconds(), Max: s.max,
		P99BoundMs: ms(cfg.RampP99), BacklogBoundSec: cfg.RampBacklog.Seconds(),
		Stages: l.stages, SustainablePerSec: l.sustained, Stop: l.rampStop}
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
	want := int64(r.Replicas) * r.Sent
	switch {
	case r.SnapshotRestores == 0 && r.ReplicaApplies != want:
		return fmt.Errorf("bench: replicas applied %d events, want %d × %d sent", r.ReplicaApplies, r.Replicas, r.Sent)
	case r.ReplicaApplies > want:
		return fmt.Errorf("bench: replicas applied %d events, more than %d × %d sent", r.ReplicaApplies, r.Replicas, r.Sent)
	case r.UsersChecked && r.TieredUsers != r.SentUsers:
		return fmt.Errorf("bench: %d users tiered, sent events for %d", r.TieredUsers, r.SentUsers)
	case r.Latency.Count != r.Sent:
		return fmt.Errorf("bench: latency of %d events measured, sent %d", r.Latency.Count, r.Sent)
	}
	if r.SnapshotRestores > 0 {
		// A restored replica took some events' effects without applying
		// them, so its count falls short; the cursors still proved every
		// event applied and the tier counts are still checked.
		log.Warn("snapshot restores during the run: applied is a lower bound", "restores", r.SnapshotRestores)
	}
	return nil
}

// tieredUsers is how many users the model placed: the most placed in any
// one dimension (the built-in model places every user in value; a model
// file's dimensions may place fewer).
func tieredUsers(counts map[string]map[string]int64) int64 {
	var most int64
	for _, tiers := range counts {
		var n int64
		for _, c := range tiers {
			n += c
		}
		most = max(most, n)
	}
	return most
}

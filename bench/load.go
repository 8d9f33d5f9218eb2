package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// load is one measured phase: where its events go and how their progress is seen.
type load struct {
	phase    string // "ceiling" or "strata", for the progress line
	js       jetstream.JetStream
	read     cursorSource
	usage    usageSource
	replicas int           // replicas of each shard that must apply every event
	poll     time.Duration // cursor poll period: the latency resolution
	marks    *sendMarks    // nil: not needed (no transitions timed)
	started  func(epoch time.Time)
}

// loaded is what one phase measured.
type loaded struct {
	sent sent
	outcome
}

// runLoad streams a fresh generator's events (the population of cfg and
// now: every phase of a run sends the same events) on cfg's schedule and
// tracks them until every replica applied every event sent.
func runLoad(ctx context.Context, cfg Config, now time.Time, l load) (loaded, error) {
	gen, err := NewGenerator(cfg.population(), now)
	if err != nil {
		return loaded{}, err
	}
	sched := cfg.schedule()
	acks := make(chan ackBatch, 64)
	stop := make(chan struct{})
	var count atomic.Int64
	var report func(status)
	if cfg.Progress != nil {
		report = func(s status) {
			cfg.Progress(Progress{Phase: l.phase, Elapsed: s.elapsed, Published: s.published, Applied: s.applied,
				Rate: s.rate, Backlog: s.backlog, P99: s.p99, RSSBytes: s.rss})
		}
	}
	epoch := time.Now()
	if l.started != nil {
		l.started(epoch)
	}
	tr := startTracker(tracking{read: l.read, usage: l.usage, shards: cfg.Shards, replicas: l.replicas,
		epoch: epoch, poll: l.poll, sample: cfg.SampleEvery, sched: sched,
		ramp: rampBounds{p99: cfg.RampP99, backlog: cfg.RampBacklog},
		acks: acks, count: &count, stop: stop, status: report})
	defer tr.stop()
	s, err := publish(ctx, publishing{js: l.js, gen: gen, users: cfg.Users, shards: cfg.Shards, sched: sched,
		epoch: epoch, acks: acks, stop: stop, count: &count, marks: l.marks})
	if err != nil {
		return loaded{}, err
	}
	o, err := tr.wait(ctx)
	if err != nil {
		return loaded{}, fmt.Errorf("bench: waiting for %d events to be applied: %w", s.events, err)
	}
	return loaded{sent: s, outcome: o}, nil
}

package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-io/strata/cluster"
	"github.com/strata-io/strata/node"
)

// Ceiling is the raw pipe, measured in the same run just before Strata
// starts: the run's events, published as the Strata phase publishes them
// (same code, same Config.Rate), into a stream configured like STRATA_EVENTS
// on a nats-server configured like Strata's, each partition read by a bare
// ordered consumer that only notes the sequence it reached. Its figures
// are measured like Report's: throughput to the moment every event was seen,
// latency from each event's scheduled send to the first 1 ms poll that saw
// its partition's consumer past it.
type Ceiling struct {
	Sent             int64        `json:"sent"`               // events sent (with a ramp: until its stop)
	PublishSeconds   float64      `json:"publish_seconds"`    // first publish → last publish acknowledged
	PublishPerSecond float64      `json:"publish_per_second"` // events/s into JetStream
	Seconds          float64      `json:"seconds"`            // first publish → every event seen by its partition's consumer
	EventsPerSecond  float64      `json:"events_per_second"`  // events/s publish → seen; Report.Ratio's denominator
	Latency          Latency      `json:"latency"`            // scheduled send → seen, every event
	LatencyCurve     []CurvePoint `json:"latency_curve"`
	PeakRSSBytes     int64        `json:"peak_rss_bytes"` // whole process during the phase
	Series           []Sample     `json:"series"`
	Ramp             *Ramp        `json:"ramp,omitempty"` // the same ramp as Strata's, on the bare pipe
}

const sourceCeiling = "scheduled send → seen by a bare consumer of its partition; every event, polled every 1ms"

// partitionPrefix is where STRATA_EVENTS stores a shard's events: strata.part.<shard>.<user>.
// It mirrors cluster/streams.go, which keeps it unexported; the ceiling's
// count check fails if the two ever partition differently.
const partitionPrefix = "strata.part."

// ceilingStream is STRATA_EVENTS as cluster/streams.go creates it
// (ensureStreams), with the cluster's default retention and replicas.
func ceilingStream(shards int) jetstream.StreamConfig {
	cc := cluster.DefaultConfig()
	return jetstream.StreamConfig{
		Name:     cluster.EventsStream,
		Subjects: []string{cluster.EventsPrefix + "*"},
		SubjectTransform: &jetstream.SubjectTransformConfig{
			Source:      cluster.EventsPrefix + "*",
			Destination: fmt.Sprintf("%s{{partition(%d,1)}}.{{wildcard(1)}}", partitionPrefix, shards),
		},
		Storage:    jetstream.FileStorage,
		Retention:  jetstream.LimitsPolicy,
		MaxAge:     cc.EventsMaxAge,
		Duplicates: 2 * time.Minute,
		Replicas:   cc.StreamReplicas,
	}
}

// ceilingServer is configured like the embedded server of one node
// (node.startNATS) and the shared server of a cluster run (startFleet):
// JetStream file store, fsynced every node.Config.NATSSyncInterval.
func ceilingServer(storeDir string) (*server.Server, error) {
	base := node.DefaultConfig()
	ns, err := server.NewServer(&server.Options{
		ServerName: "ceiling", Host: "127.0.0.1", Port: server.RANDOM_PORT,
		JetStream: true, StoreDir: storeDir,
		SyncInterval: base.NATSSyncInterval, SyncAlways: base.NATSSyncAlways,
		NoSigs: true, NoLog: true, MaxPayload: server.MAX_PAYLOAD_SIZE,
	})
	if err != nil {
		return nil, fmt.Errorf("bench: ceiling nats: %w", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("bench: ceiling nats did not become ready in 10s")
	}
	return ns, nil
}

// bareConsumer reads one partition and does nothing but note how far it got.
// Its callback runs on the subscription's goroutine; the tracker reads
// cursor from its own, the check reads the counters after the consumer stopped.
type bareConsumer struct {
	count  atomic.Int64  // events seen, each once
	cursor atomic.Uint64 // stream sequence of the last event seen
	stale  atomic.Int64  // deliveries at or below the cursor: seen before (want 0)
	bad    atomic.Int64  // deliveries without JetStream metadata (want 0)
}

func (c *bareConsumer) seen(m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		c.bad.Add(1)
		return
	}
	if seq := md.Sequence.Stream; seq > c.cursor.Load() {
		c.count.Add(1) // before the cursor: a poll that sees the cursor sees the count
		c.cursor.Store(seq)
	} else {
		c.stale.Add(1)
	}
}

// runCeiling measures the raw pipe with the run's events (the population
// of cfg and now) in dir, which it leaves for the caller to remove.
// Partitions are spread over cfg.Nodes consumer connections, as a cluster
// spreads its shard leaders; each consumer is what a Strata leader's ingest
// opens (cluster/ingest.go) and nothing more. It fails unless every
// consumer saw every event of its partition exactly once.
func runCeiling(ctx context.Context, cfg Config, now time.Time, dir string, log hclog.Logger) (Ceiling, error) {
	ns, err := ceilingServer(filepath.Join(dir, "nats"))
	if err != nil {
		return Ceiling{}, err
	}
	defer func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	}()
	conn, js, err := connectPublisher(ns.ClientURL())
	if err != nil {
		return Ceiling{}, err
	}
	defer conn.Close()
	if _, err := js.CreateStream(ctx, ceilingStream(cfg.Shards)); err != nil {
		return Ceiling{}, fmt.Errorf("bench: ceiling stream: %w", err)
	}

	consumers := make([]bareConsumer, cfg.Shards)
	conns := make([]jetstream.JetStream, min(cfg.Nodes, cfg.Shards))
	for i := range conns {
		nc, err := nats.Connect(ns.ClientURL(), nats.Name("ceiling consumer "+strconv.Itoa(i+1)))
		if err != nil {
			return Ceiling{}, fmt.Errorf("bench: ceiling connect: %w", err)
		}
		defer nc.Close()
		if conns[i], err = jetstream.New(nc); err != nil {
			return Ceiling{}, fmt.Errorf("bench: ceiling jetstream: %w", err)
		}
	}
	maxBatch := node.DefaultConfig().Cluster.MaxBatch
	for k := range consumers {
		ocfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{partitionPrefix + strconv.Itoa(k) + ".*"}}
		cons, err := conns[k%len(conns)].OrderedConsumer(ctx, cluster.EventsStream, ocfg)
		if err != nil {
			return Ceiling{}, fmt.Errorf("bench: ceiling consumer %d: %w", k, err)
		}
		cc, err := cons.Consume(consumers[k].seen, cluster.IngestPullOptions(maxBatch)...)
		if err != nil {
			return Ceiling{}, fmt.Errorf("bench: ceiling consume %d: %w", k, err)
		}
		defer func() {
			cc.Stop()
			select {
			case <-cc.Closed():
			case <-time.After(5 * time.Second): // its connection closes next anyway
			}
		}()
	}
	cursors := func(k int, dst []uint64) []uint64 {
		if c := consumers[k].cursor.Load(); c > 0 {
			dst = append(dst, c)
		}
		return dst
	}

	log.Info("ceiling: publishing", "events", cfg.Events, "rate", cfg.Rate, "ramp", cfg.RampStart)
	l, err := runLoad(ctx, cfg, now, load{phase: "ceiling", js: js, read: cursors, usage: selfUsage, replicas: 1, poll: pollEvery})
	if err != nil {
		return Ceiling{}, fmt.Errorf("bench: ceiling: %w", err)
	}
	c := Ceiling{
		Sent:             l.sent.events,
		PublishSeconds:   l.sent.acked.Seconds(),
		PublishPerSecond: float64(l.sent.events) / l.sent.acked.Seconds(),
		Seconds:          l.applied.Seconds(),
		EventsPerSecond:  float64(l.sent.events) / l.applied.Seconds(),
		Latency:          histLatency(l.hist, sourceCeiling),
		LatencyCurve:     percentileCurve(l.hist),
		PeakRSSBytes:     peakRSS(),
		Series:           l.series,
		Ramp:             rampReport(cfg, l),
	}
	log.Info("ceiling: seen", "published", l.sent.acked.Round(time.Millisecond), "seen", l.applied.Round(time.Millisecond))
	return c, checkCeiling(consumers, l.sent.perShard)
}

// checkCeiling reports a consumer that did not see each event of its
// partition exactly once. The stream holds each sent event once (publish
// checked every ack) and stores it in its user's partition.
func checkCeiling(consumers []bareConsumer, want []int64) error {
	for k := range consumers {
		c := &consumers[k]
		if got, stale, bad := c.count.Load(), c.stale.Load(), c.bad.Load(); got != want[k] || stale != 0 || bad != 0 {
			return fmt.Errorf("bench: ceiling: partition %d: saw %d events (%d again, %d without metadata), sent %d",
				k, got, stale, bad, want[k])
		}
	}
	return nil
}

// resetPeakRSS returns the memory of what ran before to the OS and restarts
// the peak RSS there, so each phase's PeakRSSBytes is its own (best effort:
// /proc/self/clear_refs exists on Linux only; elsewhere peakRSS reports 0).
func resetPeakRSS() {
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

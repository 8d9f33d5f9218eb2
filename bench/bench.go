package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	dto "github.com/prometheus/client_model/go"

	"github.com/strata-io/strata/node"
)

// Config describes one run.
type Config struct {
	Users   int    // distinct users; default 100 000
	Events  int    // events to publish; default 1 000 000
	Seed    uint64 // population seed; default 1
	Shards  int    // shards of the embedded node; default 8
	DataDir string // embedded node's data; empty: a temporary directory, removed after
	Logger  hclog.Logger
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config { return Config{Users: 100_000, Events: 1_000_000, Seed: 1, Shards: 8} }

// Validate reports the first bad field.
func (c *Config) Validate() error {
	switch {
	case c.Users < 1:
		return fmt.Errorf("bench: users %d: want ≥ 1", c.Users)
	case c.Events < c.Users:
		return fmt.Errorf("bench: events %d: want ≥ users (%d)", c.Events, c.Users)
	case c.Shards < 1:
		return fmt.Errorf("bench: shards %d: want ≥ 1", c.Shards)
	}
	return nil
}

// Report is the outcome of a run.
type Report struct {
	Users            int     `json:"users"`
	Events           int     `json:"events"`
	Shards           int     `json:"shards"`
	PublishSeconds   float64 `json:"publish_seconds"`    // first publish → last publish acknowledged
	PublishPerSecond float64 `json:"publish_per_second"` // events/s into JetStream
	AppliedSeconds   float64 `json:"applied_seconds"`    // first publish → last event applied
	AppliedPerSecond float64 `json:"applied_per_second"` // events/s publish → applied
	Applied          int64   `json:"applied"`            // events Strata applied
	TieredUsers      int64   `json:"tiered_users"`       // users placed in the value dimension
	PebbleDiskBytes  int64   `json:"pebble_disk_bytes"`  // state, dedupe set, Raft log on disk at the end
}

var eventTypes = []string{"view", "view", "view", "login", "interaction", "task", "purchase", "coupon", "referral", "support"}

// Run starts an embedded node, sends the population's events and measures.
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
	nc := node.DefaultConfig()
	nc.DataDir, nc.Shards = dir, cfg.Shards
	nc.HTTPAddr, nc.NATSListen, nc.RaftAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	nc.LogLevel = "warn"
	n, err := node.Start(ctx, nc)
	if err != nil {
		return Report{}, err
	}
	defer n.Close()
	if err := n.WaitReady(ctx); err != nil {
		return Report{}, err
	}
	conn, err := nats.Connect(n.NATSURL())
	if err != nil {
		return Report{}, err
	}
	defer conn.Close()
	js, err := jetstream.New(conn, jetstream.WithPublishAsyncMaxPending(8192))
	if err != nil {
		return Report{}, err
	}

	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5747a7a))
	now := time.Now()
	payloads := make([][]byte, cfg.Events)
	subjects := make([]string, cfg.Events)
	for i := range payloads {
		u := i % cfg.Users // every user at least once
		if i >= cfg.Users {
			u = int(rng.Uint64() % uint64(cfg.Users))
		}
		typ := eventTypes[rng.IntN(len(eventTypes))]
		if i < cfg.Users {
			typ = "signup"
		}
		ts := now.Add(-time.Duration(rng.Int64N(int64(20 * 24 * time.Hour)))).UnixMilli()
		user := "u" + strconv.Itoa(u)
		p := `{"id":"e` + strconv.Itoa(i) + `","user":"` + user + `","type":"` + typ + `","ts":` + strconv.FormatInt(ts, 10)
		if typ == "purchase" {
			p += `,"amount":` + strconv.Itoa(100+rng.IntN(20000))
		}
		payloads[i] = []byte(p + "}")
		subjects[i] = "strata.events." + user
	}

	log.Info("publishing", "events", cfg.Events, "users", cfg.Users)
	start := time.Now()
	for i := range payloads {
		// Open loop within the publisher's window: block (backpressure) rather than fail when 8192 are pending.
		if _, err := js.PublishAsync(subjects[i], payloads[i], jetstream.WithStallWait(time.Minute)); err != nil {
			return Report{}, fmt.Errorf("bench: publish: %w", err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return Report{}, ctx.Err()
	}
	published := time.Since(start)

	var applied int64
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for applied < int64(cfg.Events) {
		select {
		case <-ctx.Done():
			return Report{}, fmt.Errorf("bench: %d of %d events applied: %w", applied, cfg.Events, ctx.Err())
		case <-tick.C:
		}
		if applied, err = counter(n, "strata_events_applied_total"); err != nil {
			return Report{}, err
		}
	}
	done := time.Since(start)
	r := Report{
		Users: cfg.Users, Events: cfg.Events, Shards: cfg.Shards,
		PublishSeconds: published.Seconds(), PublishPerSecond: float64(cfg.Events) / published.Seconds(),
		AppliedSeconds: done.Seconds(), AppliedPerSecond: float64(cfg.Events) / done.Seconds(),
		Applied: applied,
	}
	counts, err := n.Cluster().TierCounts()
	if err != nil {
		return r, err
	}
	for _, c := range counts["value"] {
		r.TieredUsers += c
	}
	if r.PebbleDiskBytes, err = counter(n, "strata_pebble_disk_bytes"); err != nil {
		return r, err
	}
	if r.Applied != int64(cfg.Events) {
		return r, fmt.Errorf("bench: applied %d events, sent %d", r.Applied, cfg.Events)
	}
	if r.TieredUsers != int64(cfg.Users) {
		return r, fmt.Errorf("bench: %d users tiered, sent events for %d", r.TieredUsers, cfg.Users)
	}
	return r, nil
}

func counter(n *node.Node, name string) (int64, error) {
	mfs, err := n.Registry().Gather()
	if err != nil {
		return 0, err
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			var sum float64
			for _, m := range mf.GetMetric() {
				sum += metricValue(m)
			}
			return int64(sum), nil
		}
	}
	return 0, errors.New("bench: metric " + name + " not found")
}

func metricValue(m *dto.Metric) float64 {
	if c := m.GetCounter(); c != nil {
		return c.GetValue()
	}
	return m.GetGauge().GetValue()
}

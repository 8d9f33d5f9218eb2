package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/strata-io/strata/cluster"
)

// Target is a running Strata node or cluster (`strata serve`, `strata
// dev`) for Run to benchmark instead of starting its own.
type Target struct {
	// NATS is the URL of the NATS the target consumes STRATA_EVENTS from.
	NATS string
	// HTTP holds the HTTP base URL of one or more nodes (http://host:port).
	// When it names fewer nodes than the cluster has, the others are found
	// through GET /v1/cluster (their http_addr).
	HTTP []string
	// RunID tags this run's event IDs (PopulationConfig.RunID) so that
	// Strata does not drop them as repeats of an earlier run's; [a-z0-9],
	// at most 16. Default: the start time in base 36.
	RunID string
	// Poll is how often every node's GET /metrics is read for the shards'
	// cursors (strata_shard_cursor): the latency resolution. Default 10 ms.
	Poll time.Duration
	// Client makes the HTTP requests; default one with a 5 s timeout.
	Client *http.Client
}

func (t *Target) validate() error {
	if t.NATS == "" || len(t.HTTP) == 0 {
		return fmt.Errorf("bench: target needs a NATS URL (%q) and at least one HTTP URL (%q)", t.NATS, t.HTTP)
	}
	for _, h := range t.HTTP {
		if u, err := url.Parse(h); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return fmt.Errorf("bench: target HTTP URL %q: want http://host:port", h)
		}
	}
	if t.Poll < 0 {
		return fmt.Errorf("bench: target poll %v: want ≥ 0 (0: 10ms)", t.Poll)
	}
	return (PopulationConfig{RunID: t.RunID}).Validate()
}

// getJSON decodes GET base+path.
func getJSON(ctx context.Context, client *http.Client, base, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("bench: %s%s: %w", base, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("bench: %s%s: %s", base, path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// valueTiered is the number of users GET /v1/tiers places in the value dimension.
func valueTiered(ctx context.Context, client *http.Client, base string) (int64, error) {
	var tr struct {
		Tiers map[string]map[string]int64 `json:"tiers"`
	}
	if err := getJSON(ctx, client, base, "/v1/tiers", &tr); err != nil {
		return 0, err
	}
	var n int64
	for _, c := range tr.Tiers["value"] {
		n += c
	}
	return n, nil
}

// nodeURLs returns an HTTP base URL for every node of the cluster st
// describes: the given ones, and for the others their advertised http_addr.
func nodeURLs(given []string, st *cluster.Status) []string {
	if len(given) >= len(st.Nodes) {
		return given
	}
	first, _ := url.Parse(given[0])
	out := []string{}
	for _, n := range st.Nodes {
		if n.Status != cluster.NodeActive || n.HTTPAddr == "" {
			continue
		}
		host, port, _ := strings.Cut(n.HTTPAddr, ":")
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = first.Hostname()
		}
		out = append(out, first.Scheme+"://"+host+":"+port)
	}
	if len(out) < len(given) {
		return given
	}
	return out
}

// sum adds one field over the nodes.
func sumOf(ms []nodeMetrics, f func(nodeMetrics) int64) int64 {
	var n int64
	for _, m := range ms {
		n += f(m)
	}
	return n
}

// runTarget benchmarks cfg.Target: baselines of its counters first (the
// stream may hold earlier events), then the load tracked through the
// nodes' strata_shard_cursor gauges, then the counters' growth checked
// against what was sent.
func runTarget(ctx context.Context, cfg Config, log hclog.Logger) (Report, error) {
	t := *cfg.Target
	if t.RunID == "" {
		t.RunID = strconv.FormatInt(time.Now().UnixMilli(), 36)
	}
	if t.Poll == 0 {
		t.Poll = 10 * time.Millisecond
	}
	if t.Client == nil {
		t.Client = &http.Client{Timeout: 5 * time.Second}
	}
	cfg.Target = &t
	var st cluster.Status
	if err := getJSON(ctx, t.Client, t.HTTP[0], "/v1/cluster", &st); err != nil {
		return Report{}, err
	}
	if st.Shards < 1 {
		return Report{}, fmt.Errorf("bench: %s/v1/cluster reports %d shards", t.HTTP[0], st.Shards)
	}
	if cfg.Shards != st.Shards {
		log.Info("taking the target's shard count", "shards", st.Shards, "configured", cfg.Shards)
		cfg.Shards = st.Shards
	}
	bases := nodeURLs(t.HTTP, &st)
	replicas := min(max(st.Replicas, 1), len(bases))
	before, err := scrapeAll(ctx, t.Client, bases)
	if err != nil {
		return Report{}, err
	}
	tieredBefore, err := valueTiered(ctx, t.Client, bases[0])
	if err != nil {
		return Report{}, err
	}
	now := time.Now()
	gen, err := NewGenerator(cfg.population(), now)
	if err != nil {
		return Report{}, err
	}
	expect := gen.Expected()
	gen = nil

	conn, js, err := connectPublisher(t.NATS)
	if err != nil {
		return Report{}, err
	}
	defer conn.Close()
	tt, err := watchTransitions(ctx, conn, cfg)
	if err != nil {
		return Report{}, err
	}
	defer tt.close()
	p := startPoller(t.Client, bases, cfg.Shards, t.Poll)
	defer p.stop()

	log.Info("publishing", "target", t.NATS, "nodes", len(bases), "events", cfg.Events, "run", t.RunID)
	l, err := runLoad(ctx, cfg, now, load{phase: "target", js: js, read: p.read, usage: p.usage,
		replicas: replicas, poll: time.Millisecond, marks: tt.marks, started: tt.start})
	if err != nil {
		return Report{}, err
	}
	r := newReport(cfg, l, nil, expect, sourceTarget)
	r.Target, r.Nodes, r.Replicas = t.NATS, len(bases), replicas
	r.LatencyResolutionMs = ms(t.Poll)
	r.LatencyBuckets = Latency{Source: "not measured against a running target"}
	r.PeakRSSBytes = l.peakRSS

	// The counters move a little after the cursors: wait for them.
	want := int64(replicas) * r.Sent
	var after []nodeMetrics
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if after, err = scrapeAll(ctx, t.Client, bases); err != nil {
			return r, err
		}
		if sumOf(after, func(m nodeMetrics) int64 { return m.applied })-sumOf(before, func(m nodeMetrics) int64 { return m.applied }) >= want ||
			time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-tick.C:
		}
	}
	delta := func(f func(nodeMetrics) int64) int64 { return sumOf(after, f) - sumOf(before, f) }
	r.ReplicaApplies = delta(func(m nodeMetrics) int64 { return m.applied })
	r.Applied = r.ReplicaApplies / int64(replicas)
	r.SnapshotRestores = delta(func(m nodeMetrics) int64 { return m.restores })
	r.PebbleDiskBytes = sumOf(after, func(m nodeMetrics) int64 { return m.pebbleBytes })
	r.TransitionsPublished = delta(func(m nodeMetrics) int64 { return m.published })
	r.TransitionsReceived = tt.wait(ctx, r.TransitionsPublished, 5*time.Second)
	r.TransitionsDropped, r.Transitions = tt.dropped(), tt.latency()
	tiered, err := valueTiered(ctx, t.Client, bases[0])
	if err != nil {
		return r, err
	}
	r.TieredUsers = tiered - tieredBefore
	// Users already known before the run are not new: only a fresh target
	// can be checked user by user.
	r.UsersChecked = tieredBefore == 0
	if !r.UsersChecked {
		log.Warn("the target already had users: tiered users are not checked", "before", tieredBefore)
	}
	if n := p.failed.Load(); n > 0 {
		log.Warn("metrics scrapes failed during the run", "failed", n)
	}
	return r, check(r, log)
}

const sourceTarget = "scheduled send → a node's strata_shard_cursor past it, polled over HTTP"

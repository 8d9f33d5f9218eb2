package bench_test

import (
	"context"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/goleak"

	"github.com/strata-io/strata/bench"
)

// TestMain fails the package if a run leaves goroutines behind (STYLE 10).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The quick run that CI executes: it fails when Strata mis-counts what was sent.
func TestQuickRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := bench.DefaultConfig()
	cfg.Users, cfg.Events, cfg.Shards = 1_000, 10_000, 4
	cfg.DataDir = t.TempDir()
	r, err := bench.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d events, %d users: %.0f events/s publish → applied", r.Events, r.Users, r.AppliedPerSecond)
}

// Three nodes on one NATS server: every replica applies every event once.
func TestQuickCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := bench.DefaultConfig()
	cfg.Users, cfg.Events, cfg.Shards, cfg.Nodes = 2_000, 10_000, 4, 3
	cfg.DataDir = t.TempDir()
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: "bench", Output: testWriter{t}})
	r, err := bench.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.Nodes != 3 || r.Replicas != 3 || r.Applied != 10_000 || r.ReplicaApplies != 30_000 || r.TieredUsers != 2_000 {
		t.Fatalf("nodes %d replicas %d applied %d (%d on replicas), %d users tiered; want 3, 3, 10000 (30000), 2000",
			r.Nodes, r.Replicas, r.Applied, r.ReplicaApplies, r.TieredUsers)
	}
	if r.ReplicatedSeconds < r.AppliedSeconds {
		t.Fatalf("replicated after %.3fs, before applied (%.3fs)", r.ReplicatedSeconds, r.AppliedSeconds)
	}
	if r.Latency.Count != 10_000 || r.LatencyBuckets.Count == 0 {
		t.Fatalf("latency of %d events measured, %d observed by leaders; want 10000, > 0", r.Latency.Count, r.LatencyBuckets.Count)
	}
	t.Logf("%.0f events/s applied; latency p50 %.1f p99 %.1f ms; leaders observed %d events",
		r.AppliedPerSecond, r.Latency.P50, r.Latency.P99, r.LatencyBuckets.Count)
}

// With a rate the events leave on schedule, not faster.
func TestPacedRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := bench.DefaultConfig()
	cfg.Users, cfg.Events, cfg.Shards, cfg.Rate = 500, 3_000, 2, 5_000
	cfg.DataDir = t.TempDir()
	r, err := bench.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if due := float64(cfg.Events-1) / float64(cfg.Rate); r.PublishSeconds < due {
		t.Fatalf("published in %.3fs, the last event was due at %.3fs", r.PublishSeconds, due)
	}
	l := r.Latency
	if l.Count != 3_000 || l.P50 <= 0 || l.P50 > l.P90 || l.P90 > l.P99 || l.P99 > l.P999 || l.P999 > l.Max {
		t.Fatalf("latency %+v: want 3000 events, 0 < p50 ≤ p90 ≤ p99 ≤ p99.9 ≤ max", l)
	}
	checkSeries(t, r.Series, r.Sent)
	if c := r.LatencyCurve; len(c) == 0 || c[0].Percentile != 0 || c[len(c)-1].Percentile != 99.999 || c[len(c)-1].Ms != l.Max {
		t.Fatalf("latency curve %v: want 0 … 99.999, ending at the max (%v ms)", c, l.Max)
	}
	if r.Transitions == nil || r.Transitions.Count == 0 || r.TransitionsReceived < r.TransitionsPublished || r.TransitionsPublished == 0 {
		t.Fatalf("transitions %+v: %d received, %d published; want some timed, all received", r.Transitions, r.TransitionsReceived, r.TransitionsPublished)
	}
}

// checkSeries checks that a phase's samples account for every event once.
func checkSeries(t *testing.T, series []bench.Sample, sent int64) {
	t.Helper()
	var published, applied int64
	for i, p := range series {
		published += p.Published
		applied += p.Applied
		if p.Backlog != published-applied || p.Backlog < 0 {
			t.Fatalf("sample %d: backlog %d, want published − applied so far = %d", i, p.Backlog, published-applied)
		}
		if p.Applied > 0 && (p.P50 <= 0 || p.P50 > p.P99 || p.P99 > p.Max) {
			t.Fatalf("sample %d: latency p50 %v p99 %v max %v", i, p.P50, p.P99, p.Max)
		}
		if runtime.GOOS == "linux" && (p.RSSBytes <= 0 || p.CPUPercent < 0) {
			t.Fatalf("sample %d: RSS %d, CPU %.1f%%: want measured", i, p.RSSBytes, p.CPUPercent)
		}
	}
	if published != sent || applied != sent {
		t.Fatalf("series: %d published, %d applied; want %d each", published, applied, sent)
	}
}

// A ramp runs its stages on the ceiling and on Strata and reports the
// sustainable rate of each; the counts are checked on what it sent.
func TestRampRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := bench.DefaultConfig()
	cfg.Users, cfg.Events, cfg.Shards = 500, 50_000, 2
	cfg.RampStart, cfg.RampStep, cfg.RampStage, cfg.RampMax = 1000, 1000, 500*time.Millisecond, 2000
	cfg.SampleEvery = 100 * time.Millisecond
	cfg.DataDir = t.TempDir()
	var progress []bench.Progress
	cfg.Progress = func(p bench.Progress) { progress = append(progress, p) }
	r, err := bench.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, rp := range []*bench.Ramp{r.Ramp, r.Ceiling.Ramp} {
		if rp == nil || len(rp.Stages) == 0 || rp.Stages[0].Rate != 1000 || rp.Stop == "" {
			t.Fatalf("ramp %+v: want stages from 1000/s and a stop reason", rp)
		}
		if rp.SustainablePerSec != 0 && rp.SustainablePerSec != 1000 && rp.SustainablePerSec != 2000 {
			t.Fatalf("sustainable %d: want one of the stages' rates", rp.SustainablePerSec)
		}
	}
	// 500 ms at 1000/s and at 2000/s, unless a stage failed first.
	if r.Sent > 1500 || r.Sent < 500 || r.Ceiling.Sent > 1500 {
		t.Fatalf("sent %d (ceiling %d), want at most the ramp's 1500", r.Sent, r.Ceiling.Sent)
	}
	checkSeries(t, r.Series, r.Sent)
	checkSeries(t, r.Ceiling.Series, r.Ceiling.Sent)
	phases := map[string]bool{}
	for _, p := range progress {
		phases[p.Phase] = true
	}
	if !phases["ceiling"] || !phases["strata"] {
		t.Fatalf("progress seen for %v, want both phases", phases)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*bench.Config)
		ok   bool
	}{
		{"default", func(*bench.Config) {}, true},
		{"five nodes", func(c *bench.Config) { c.Nodes = 5 }, true},
		{"no nodes", func(c *bench.Config) { c.Nodes = 0 }, false},
		{"six nodes", func(c *bench.Config) { c.Nodes = 6 }, false},
		{"negative rate", func(c *bench.Config) { c.Rate = -1 }, false},
		{"fewer events than users", func(c *bench.Config) { c.Events = c.Users - 1 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := bench.DefaultConfig()
			tc.edit(&cfg)
			before := cfg
			err := cfg.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok %v", err, tc.ok)
			}
			if !reflect.DeepEqual(cfg, before) {
				t.Fatal("Validate changed the config")
			}
		})
	}
}

// testWriter sends log lines to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

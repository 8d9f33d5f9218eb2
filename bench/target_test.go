package bench_test

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/strata-io/strata/bench"
	"github.com/strata-io/strata/node"
)

// startServe starts one node as `strata serve` does, with its HTTP API and
// embedded NATS on free ports.
func startServe(t *testing.T, ctx context.Context) *node.Node {
	t.Helper()
	nc := node.DefaultConfig()
	nc.DataDir, nc.Shards = t.TempDir(), 2
	nc.HTTPAddr, nc.NATSListen, nc.RaftAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	nc.Logger = hclog.NewNullLogger()
	n, err := node.Start(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	if err := n.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return n
}

// Against a running node the bench reads progress from /metrics and checks
// the counters' growth: a second run on the same node still counts exactly
// its own events (its event IDs are new), though users are then known.
func TestTarget(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n := startServe(t, ctx)
	for run, want := range []bool{true, false} { // users checked: only on the fresh node
		cfg := bench.DefaultConfig()
		cfg.Users, cfg.Events, cfg.Shards, cfg.Rate, cfg.Ceiling = 300, 3_000, 8, 3_000, false
		cfg.SampleEvery = 200 * time.Millisecond
		cfg.Target = &bench.Target{NATS: n.NATSURL(), HTTP: []string{"http://" + n.HTTPAddr()}, RunID: "t" + string(rune('a'+run))}
		r, err := bench.Run(ctx, cfg)
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if r.Shards != 2 || r.Nodes != 1 || r.Replicas != 1 || r.Target != n.NATSURL() {
			t.Fatalf("run %d: shards %d nodes %d replicas %d target %q: want the node's 2, 1, 1, its NATS", run, r.Shards, r.Nodes, r.Replicas, r.Target)
		}
		if r.Sent != 3_000 || r.ReplicaApplies != 3_000 || r.Latency.Count != 3_000 || r.UsersChecked != want {
			t.Fatalf("run %d: sent %d, applied %d, timed %d, users checked %v; want 3000 ×3, %v", run, r.Sent, r.ReplicaApplies, r.Latency.Count, r.UsersChecked, want)
		}
		if r.LatencyResolutionMs != 10 || r.PeakRSSBytes <= 0 {
			t.Fatalf("run %d: resolution %v ms, peak RSS %d: want 10 ms, the node's RSS", run, r.LatencyResolutionMs, r.PeakRSSBytes)
		}
		checkSeries(t, r.Series, r.Sent)
	}
}

func TestTargetValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		tg   bench.Target
		ok   bool
	}{
		{"ok", bench.Target{NATS: "nats://127.0.0.1:4222", HTTP: []string{"http://127.0.0.1:8080"}}, true},
		{"no http", bench.Target{NATS: "nats://127.0.0.1:4222"}, false},
		{"no nats", bench.Target{HTTP: []string{"http://127.0.0.1:8080"}}, false},
		{"bad http", bench.Target{NATS: "nats://x", HTTP: []string{"127.0.0.1:8080"}}, false},
		{"bad run id", bench.Target{NATS: "nats://x", HTTP: []string{"http://x:1"}, RunID: "Run-1"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := bench.DefaultConfig()
			cfg.Ceiling = false
			cfg.Target = &tc.tg
			if err := cfg.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok %v", err, tc.ok)
			}
		})
	}
	cfg := bench.DefaultConfig()
	cfg.Target = &bench.Target{NATS: "nats://x", HTTP: []string{"http://x:1"}}
	if cfg.Validate() == nil {
		t.Fatal("a ceiling against a running target validated")
	}
}

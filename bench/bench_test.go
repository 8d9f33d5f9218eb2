package bench_test

import (
	"context"
	"testing"
	"time"

	"github.com/strata-io/strata/bench"
)

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

package bench

import (
	"context"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// The ceiling phase sees every event once and the report relates Strata to it.
func TestCeiling(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := DefaultConfig()
	cfg.Users, cfg.Events, cfg.Shards = 2_000, 20_000, 4
	cfg.DataDir = t.TempDir()
	r, err := Run(ctx, cfg) // fails if a bare consumer missed an event or saw one twice
	if err != nil {
		t.Fatal(err)
	}
	c := r.Ceiling
	if c == nil {
		t.Fatal("no ceiling in the report")
	}
	if c.EventsPerSecond <= 0 || c.PublishPerSecond <= 0 || c.Seconds < c.PublishSeconds {
		t.Fatalf("ceiling %+v: want events/s > 0, seen after published", *c)
	}
	l := c.Latency
	if l.Count != 20_000 || l.Source != sourceCeiling || l.P50 > l.P99 || l.P99 > l.Max {
		t.Fatalf("ceiling latency %+v: want 20000 events, p50 ≤ p99 ≤ max", l)
	}
	if want := r.AppliedPerSecond / c.EventsPerSecond; r.Ratio <= 0 || math.Abs(r.Ratio-want) > 1e-9 {
		t.Fatalf("ratio %v, want applied/ceiling = %v", r.Ratio, want)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "ceiling")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ceiling directory left behind: %v", err)
	}
	t.Logf("ceiling %.0f events/s (p99 %.1f ms), strata %.0f events/s (p99 %.1f ms): ratio %.2f",
		c.EventsPerSecond, l.P99, r.AppliedPerSecond, r.Latency.P99, r.Ratio)
}

func TestCheckCeiling(t *testing.T) {
	want := []int64{2, 3} // two events in partition 0, three in 1
	for _, tc := range []struct {
		name              string
		count, stale, bad [2]int64
		ok                bool
	}{
		{"each once", [2]int64{2, 3}, [2]int64{}, [2]int64{}, true},
		{"one missed", [2]int64{2, 2}, [2]int64{}, [2]int64{}, false},
		{"one extra", [2]int64{3, 3}, [2]int64{}, [2]int64{}, false},
		{"one seen twice", [2]int64{2, 3}, [2]int64{0, 1}, [2]int64{}, false},
		{"no metadata", [2]int64{2, 3}, [2]int64{}, [2]int64{1, 0}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := make([]bareConsumer, 2)
			for k := range cs {
				cs[k].count.Store(tc.count[k])
				cs[k].stale.Store(tc.stale[k])
				cs[k].bad.Store(tc.bad[k])
			}
			if err := checkCeiling(cs, want); (err == nil) != tc.ok {
				t.Fatalf("checkCeiling = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// BenchmarkCeiling runs the ceiling phase alone, unpaced, on a 200 000-event
// population, with one partition and with the default eight:
// each partition's consumer filters the one stream, so the server scans
// every stored event once per consumer. `-cpuprofile` shows where the raw
// pipe spends its time without Strata in the profile.
func BenchmarkCeiling(b *testing.B) {
	for _, shards := range []int{1, 8} {
		b.Run("shards="+strconv.Itoa(shards), func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.Users, cfg.Events, cfg.Shards = 20_000, 200_000, shards
			now := time.Now()
			for b.Loop() {
				c, err := runCeiling(context.Background(), cfg, now, b.TempDir(), hclog.NewNullLogger())
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(c.EventsPerSecond, "events/s")
				b.ReportMetric(c.PublishPerSecond, "publish/s")
			}
		})
	}
}

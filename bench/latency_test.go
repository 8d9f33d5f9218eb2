package bench

import (
	"math"
	"testing"
	"time"
)

func TestExactLatency(t *testing.T) {
	lat := make([]time.Duration, 1000)
	for i := range lat {
		lat[i] = time.Duration(1000-i) * time.Millisecond // 1..1000 ms, descending
	}
	l := exactLatency(lat)
	want := Latency{Source: sourceExact, Count: 1000, P50: 500, P90: 900, P99: 990, P999: 999, Max: 1000}
	if l != want {
		t.Fatalf("got %+v, want %+v", l, want)
	}
	if l := exactLatency(nil); l.Count != 0 || l.Max != 0 {
		t.Fatalf("empty: %+v", l)
	}
}

func TestBucketLatency(t *testing.T) {
	inf := math.Inf(1)
	for _, tc := range []struct {
		name string
		bs   []bucket
		want Latency // ms
	}{
		{"empty", nil, Latency{}},
		{"no observations", []bucket{{.001, 0}, {inf, 0}}, Latency{}},
		{
			// 100 observations, all in (1ms, 2ms]: linear inside the bucket.
			"one bucket", []bucket{{.001, 0}, {.002, 100}, {inf, 100}},
			Latency{Count: 100, P50: 1.5, P90: 1.9, P99: 1.99, P999: 1.999, Max: 2},
		},
		{
			// First bucket interpolates from 0.
			"first bucket", []bucket{{.010, 10}, {inf, 10}},
			Latency{Count: 10, P50: 5, P90: 9, P99: 9.9, P999: 9.99, Max: 10},
		},
		{
			// Ranks beyond the last finite bound report that bound.
			"overflow", []bucket{{.001, 50}, {.002, 90}, {inf, 100}},
			Latency{Count: 100, P50: 1, P90: 2, P99: 2, P999: 2, Max: 2},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := bucketLatency(tc.bs)
			l.Source, tc.want.Source = "", ""
			for _, p := range []struct {
				name      string
				got, want float64
			}{{"count", float64(l.Count), float64(tc.want.Count)}, {"p50", l.P50, tc.want.P50}, {"p90", l.P90, tc.want.P90},
				{"p99", l.P99, tc.want.P99}, {"p99.9", l.P999, tc.want.P999}, {"max", l.Max, tc.want.Max}} {
				if math.Abs(p.got-p.want) > 1e-9 {
					t.Errorf("%s = %v, want %v", p.name, p.got, p.want)
				}
			}
		})
	}
}

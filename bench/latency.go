package bench

import (
	"math"
	"slices"
	"time"
)

// Latency summarises a latency distribution, in milliseconds.
type Latency struct {
	Source string  `json:"source"` // what was measured, and how
	Count  int64   `json:"count"`  // events measured
	P50    float64 `json:"p50_ms"`
	P90    float64 `json:"p90_ms"`
	P99    float64 `json:"p99_ms"`
	P999   float64 `json:"p999_ms"`
	Max    float64 `json:"max_ms"` // from buckets: the upper bound of the highest non-empty bucket
}

const (
	sourceExact   = "scheduled send → applied by a replica of its shard; every event, polled every 1ms"
	sourceBuckets = "strata_event_applied_seconds: JetStream stored → applied on the leader; from Prometheus buckets, interpolated"
)

// exactLatency returns the nearest-rank quantiles of lat, which it sorts.
func exactLatency(lat []time.Duration) Latency {
	l := Latency{Source: sourceExact, Count: int64(len(lat))}
	if len(lat) == 0 {
		return l
	}
	slices.Sort(lat)
	q := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(lat)))) - 1
		return ms(lat[max(i, 0)])
	}
	l.P50, l.P90, l.P99, l.P999, l.Max = q(.5), q(.9), q(.99), q(.999), ms(lat[len(lat)-1])
	return l
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// bucket is one cumulative histogram bucket: count observations ≤ le seconds.
type bucket struct {
	le    float64
	count uint64
}

// bucketLatency estimates quantiles from cumulative buckets (ascending le,
// the last may be +Inf) the way Prometheus' histogram_quantile does: linear
// within the bucket holding the rank, from 0 below the first bound; a rank
// in the +Inf bucket reports the highest finite bound.
func bucketLatency(bs []bucket) Latency {
	l := Latency{Source: sourceBuckets}
	if len(bs) == 0 || bs[len(bs)-1].count == 0 {
		return l
	}
	total := bs[len(bs)-1].count
	l.Count = int64(total)
	finite := func(i int) float64 {
		for ; i >= 0; i-- {
			if !math.IsInf(bs[i].le, 1) {
				return bs[i].le
			}
		}
		return 0
	}
	q := func(p float64) float64 {
		rank := p * float64(total)
		i, _ := slices.BinarySearchFunc(bs, rank, func(b bucket, r float64) int {
			if float64(b.count) < r {
				return -1
			}
			return 1
		})
		i = min(i, len(bs)-1)
		if math.IsInf(bs[i].le, 1) {
			return finite(i) * 1000
		}
		lo, below := 0.0, uint64(0)
		if i > 0 {
			lo, below = bs[i-1].le, bs[i-1].count
		}
		in := bs[i].count - below
		if in == 0 {
			return bs[i].le * 1000
		}
		return (lo + (bs[i].le-lo)*(rank-float64(below))/float64(in)) * 1000
	}
	l.P50, l.P90, l.P99, l.P999 = q(.5), q(.9), q(.99), q(.999)
	for i := range bs {
		if bs[i].count == total {
			l.Max = finite(i) * 1000
			break
		}
	}
	return l
}

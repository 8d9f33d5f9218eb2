package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/strata-io/strata/node"
)

// sum adds a counter or gauge over its series and over the nodes.
func (f *fleet) sum(name string) (int64, error) {
	var total float64
	for _, n := range f.nodes {
		mf, err := family(n, name)
		if err != nil {
			return 0, err
		}
		for _, m := range mf.GetMetric() {
			if c := m.GetCounter(); c != nil {
				total += c.GetValue()
			} else {
				total += m.GetGauge().GetValue()
			}
		}
	}
	return int64(total), nil
}

// bucketLatency merges a histogram (seconds) over the nodes and estimates
// its quantiles from the buckets. Leaders observe it after their proposal's
// future returns, a little after the FSM applied it: it waits up to `patience`
// for `want` observations and takes what is there then.
func (f *fleet) bucketLatency(ctx context.Context, name string, want int, patience time.Duration) (Latency, error) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(patience)
	for {
		bs, err := f.histogram(name)
		if err != nil {
			return Latency{}, err
		}
		if n := len(bs); n > 0 && bs[n-1].count >= uint64(want) || time.Now().After(deadline) {
			return bucketLatency(bs), nil
		}
		select {
		case <-ctx.Done():
			return Latency{}, ctx.Err()
		case <-tick.C:
		}
	}
}

// histogram returns a histogram's cumulative buckets summed over the nodes.
func (f *fleet) histogram(name string) ([]bucket, error) {
	var merged []bucket
	for _, n := range f.nodes {
		mf, err := family(n, name)
		if err != nil {
			return nil, err
		}
		for _, m := range mf.GetMetric() {
			h := m.GetHistogram()
			bs := make([]bucket, 0, len(h.GetBucket())+1)
			for _, b := range h.GetBucket() {
				bs = append(bs, bucket{le: b.GetUpperBound(), count: b.GetCumulativeCount()})
			}
			bs = append(bs, bucket{le: math.Inf(1), count: h.GetSampleCount()})
			if merged == nil {
				merged = bs
				continue
			}
			if len(bs) != len(merged) {
				return nil, fmt.Errorf("bench: %s: nodes disagree on buckets", name)
			}
			for i := range bs {
				if bs[i].le != merged[i].le {
					return nil, fmt.Errorf("bench: %s: nodes disagree on buckets", name)
				}
				merged[i].count += bs[i].count
			}
		}
	}
	return merged, nil
}

func family(n *node.Node, name string) (*dto.MetricFamily, error) {
	mfs, err := n.Registry().Gather()
	if err != nil {
		return nil, err
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf, nil
		}
	}
	return nil, errors.New("bench: metric " + name + " not found")
}

package bench

import (
	"context"
	"math"
	"sync/atomic"
	"testing"
	"time"
)

// fakeCursors is a cursorSource the test moves by hand: one replica per shard.
type fakeCursors []uint64

func (f fakeCursors) read(k int, dst []uint64) []uint64 {
	if f[k] > 0 {
		dst = append(dst, f[k])
	}
	return dst
}

func testRecorder(shards int, sched schedule) (*recorder, fakeCursors, *atomic.Int64) {
	cur := make(fakeCursors, shards)
	count := new(atomic.Int64)
	r := newRecorder(tracking{read: cur.read, shards: shards, replicas: 1, poll: time.Millisecond,
		sample: time.Second, sched: sched, count: count, stop: make(chan struct{}),
		ramp: rampBounds{p99: 100 * time.Millisecond, backlog: 100 * time.Millisecond}})
	return r, cur, count
}

const ms1 = time.Millisecond

// Every event is timed once from its due time to the first poll that saw
// its shard's cursor past it, whether its ack comes before or after that poll.
func TestRecorderTimesEveryEventOnce(t *testing.T) {
	r, cur, count := testRecorder(2, constant(0))
	count.Store(4)
	// Shard 0: seq 1 and 3; shard 1: seq 2 and 4. Acks of 1 and 2 first.
	if err := r.ack(ackBatch{acks: []acked{{seq: 1, due: 0, shard: 0}, {seq: 2, due: 1 * ms1, shard: 1}}, sentBy: ms1}); err != nil {
		t.Fatal(err)
	}
	cur[0] = 3 // shard 0 applied 1 and 3, before the ack of 3 arrived
	r.poll(10 * ms1)
	cur[1] = 2
	r.poll(20 * ms1)
	if err := r.ack(ackBatch{acks: []acked{{seq: 3, due: 2 * ms1, shard: 0}, {seq: 4, due: 3 * ms1, shard: 1}}, sentBy: 3 * ms1}); err != nil {
		t.Fatal(err)
	}
	if r.matched != 3 {
		t.Fatalf("matched %d, want 3 (1, 2 and 3: 3 was applied before its ack)", r.matched)
	}
	cur[1] = 4
	if replicated := r.poll(1500 * ms1); !replicated {
		t.Fatal("every cursor past every ack, not replicated")
	}
	r.acksDone = true
	o := r.finish(1500 * ms1)
	if o.events != 4 || o.hist.TotalCount() != 4 {
		t.Fatalf("timed %d events (hist %d), want 4", o.events, o.hist.TotalCount())
	}
	// µs, ascending: 10−2, 10−0, 20−1, 1500−3 ms.
	for i, want := range []int64{8_000, 10_000, 19_000, 1_497_000} {
		if got := o.hist.ValueAtPercentile(float64(i+1) * 25); !o.hist.ValuesAreEquivalent(got, want) {
			t.Errorf("latency at p%d = %d µs, want %d", (i+1)*25, got, want)
		}
	}
	if o.applied != 1500*ms1 {
		t.Fatalf("applied at %v, want 1.5s (the last event's poll)", o.applied)
	}
	// Series: three events applied in [0, 1s), one in [1s, 1.5s).
	if len(o.series) != 2 || o.series[0].Applied != 3 || o.series[1].Applied != 1 || o.series[1].Seconds != 0.5 {
		t.Fatalf("series %+v: want 3 then 1 applied, the last interval 0.5 s", o.series)
	}
	if o.series[0].Backlog != 1 || o.series[1].Backlog != 0 {
		t.Fatalf("backlogs %d, %d: want 1 (4 published, 3 applied by 1s), 0", o.series[0].Backlog, o.series[1].Backlog)
	}
}

// A shard's acks must come in sequence order (one publisher connection).
func TestRecorderRejectsAcksOutOfOrder(t *testing.T) {
	r, _, _ := testRecorder(1, constant(0))
	if err := r.ack(ackBatch{acks: []acked{{seq: 5}, {seq: 4}}}); err == nil {
		t.Fatal("acks 5 then 4 on one shard accepted")
	}
}

// An interval is complete only once every event sent before its end is
// acknowledged: a late ack still lands in its interval.
func TestSeriesWaitsForAcks(t *testing.T) {
	r, cur, count := testRecorder(1, constant(0))
	count.Store(2)
	if err := r.ack(ackBatch{acks: []acked{{seq: 1, due: 100 * ms1}}, sentBy: 100 * ms1}); err != nil {
		t.Fatal(err)
	}
	cur[0] = 2
	r.poll(900 * ms1) // both applied; the second's ack is late
	r.series.tick(r, 1001*ms1)
	if r.series.closed != 0 {
		t.Fatal("interval [0, 1s) complete before the ack of an event sent in it")
	}
	if err := r.ack(ackBatch{acks: []acked{{seq: 2, due: 200 * ms1}}, sentBy: 1100 * ms1}); err != nil {
		t.Fatal(err)
	}
	r.series.tick(r, 1002*ms1)
	if p := r.series.samples[0]; r.series.closed != 1 || p.Applied != 2 || math.Abs(p.P99-800) > 1 {
		t.Fatalf("closed %d, first sample %+v: want complete with both events, p99 800 ms (to 0.1%%)", r.series.closed, p)
	}
}

// The tracker's goroutine returns once everything acked is applied.
func TestTrackerWait(t *testing.T) {
	cur := make([]atomic.Uint64, 1)
	read := func(k int, dst []uint64) []uint64 { return append(dst, cur[k].Load()) }
	acks := make(chan ackBatch, 1)
	var count atomic.Int64
	tr := startTracker(tracking{read: read, shards: 1, replicas: 1, epoch: time.Now(), poll: ms1,
		sample: 50 * ms1, acks: acks, count: &count, stop: make(chan struct{})})
	defer tr.stop()
	acks <- ackBatch{acks: []acked{{seq: 7}}, sentBy: 0}
	count.Store(1)
	close(acks)
	cur[0].Store(7)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	o, err := tr.wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if o.events != 1 || len(o.series) == 0 {
		t.Fatalf("outcome: %d events, %d samples; want 1, ≥ 1", o.events, len(o.series))
	}
}

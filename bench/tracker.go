package bench

import (
	"context"
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/strata-io/strata/node"
)

// seen is one poll that found a shard's cursor advanced: by epoch + at, a
// replica had applied every event of the shard up to sequence cursor.
type seen struct {
	at     time.Duration
	cursor uint64
}

// cursorSource appends the cursor of every replica of shard k that the
// source knows of to dst (none while the shard has no replica there) and
// returns it. A replica's cursor (storage.Meta.Cursor) is the last
// STRATA_EVENTS sequence its FSM applied, published after the Pebble
// commit: an event is applied on a replica exactly when that replica's
// cursor reaches the event's sequence. The tracker's goroutine calls it;
// it must not block.
type cursorSource func(k int, dst []uint64) []uint64

// nodeCursors reads the cursors of in-process nodes' shard replicas.
func nodeCursors(nodes []*node.Node) cursorSource {
	return func(k int, dst []uint64) []uint64 {
		for _, n := range nodes {
			if s := n.Cluster().Shard(k); s != nil {
				dst = append(dst, s.FSM().Meta().Cursor)
			}
		}
		return dst
	}
}

// usageSource reports the resident memory and the CPU time used so far by
// what is measured (this process, or the nodes of an external target); ok
// false when unknown. The tracker's goroutine calls it once per sample.
type usageSource func() (rss int64, cpu time.Duration, ok bool)

// tracking configures the tracker of one phase.
type tracking struct {
	read     cursorSource
	usage    usageSource
	shards   int
	replicas int // replicas of each shard that must reach its last event
	epoch    time.Time
	poll     time.Duration // how often the cursors are read: the latency resolution
	sample   time.Duration // length of a series interval
	sched    schedule
	ramp     rampBounds
	acks     <-chan ackBatch // from the publisher; closed once all its events are acknowledged
	count    *atomic.Int64   // events the publisher sent so far
	stop     chan struct{}   // closed by the tracker when a ramp stage is not sustainable
	status   func(status)    // called with the live status after every sample; nil: none
}

// outcome is what the tracker measured once every replica applied every event.
type outcome struct {
	applied    time.Duration // epoch → every event applied by a replica of its shard
	replicated time.Duration // epoch → every event applied by every replica
	events     int64         // events timed
	hist       *hdrhistogram.Histogram
	series     []Sample
	stages     []Stage // ramp only
	sustained  int     // ramp: highest sustainable stage rate, events/s
	rampStop   string  // ramp: why it ended
	peakRSS    int64   // highest RSS sample
}

// tracker polls cursors and times events as it sees them applied.
type tracker struct {
	done    chan outcome
	err     chan error
	cancel  context.CancelFunc
	stopped chan struct{}
}

// startTracker polls every t.poll until stop, or until every event the
// publisher acknowledged is applied on t.replicas replicas of its shard.
func startTracker(t tracking) *tracker {
	ctx, cancel := context.WithCancel(context.Background())
	tr := &tracker{done: make(chan outcome, 1), err: make(chan error, 1), cancel: cancel, stopped: make(chan struct{})}
	go func() {
		defer close(tr.stopped)
		o, err := newRecorder(t).run(ctx)
		if err != nil {
			tr.err <- err
			return
		}
		tr.done <- o
	}()
	return tr
}

// stop ends the polling and waits for it (before the nodes close).
func (tr *tracker) stop() {
	tr.cancel()
	<-tr.stopped
}

// wait returns once every replica applied every event the publisher sent
// (it must have closed its acks).
func (tr *tracker) wait(ctx context.Context) (outcome, error) {
	select {
	case o := <-tr.done:
		return o, nil
	case err := <-tr.err:
		return outcome{}, err
	case <-ctx.Done():
		return outcome{}, ctx.Err()
	}
}

// recorder is the tracker's state, owned by its goroutine. An event is
// timed when both its ack (sequence, due time) and a poll that saw its
// shard's cursor at or past it are in: per shard, acks come in sequence
// order (one publisher connection), so acked events not yet applied wait
// in pending, and polls that saw cursors no acked event needed yet wait in
// history, each only as long as the other side lags.
type recorder struct {
	t       tracking
	pending [][]acked // per shard, ascending seq, from head[k]
	head    []int
	history [][]seen // per shard, ascending cursor
	lastSeq []uint64 // per shard, the highest acknowledged sequence
	hi      []uint64 // per shard, the highest cursor seen
	cursors []uint64

	hist     *hdrhistogram.Histogram
	acked    int64 // events acknowledged
	matched  int64 // events timed
	lastAt   time.Duration
	sentBy   time.Duration // every event sent before it is acknowledged
	dueBy    time.Duration // the due time of the last acknowledged event
	acksDone bool

	series
	stages
}

func newRecorder(t tracking) *recorder {
	r := &recorder{t: t, pending: make([][]acked, t.shards), head: make([]int, t.shards),
		history: make([][]seen, t.shards), lastSeq: make([]uint64, t.shards), hi: make([]uint64, t.shards),
		hist: newHistogram()}
	r.series.init(t)
	r.stages.init(t)
	return r
}

func (r *recorder) run(ctx context.Context) (outcome, error) {
	tick := time.NewTicker(r.t.poll)
	defer tick.Stop()
	acks := r.t.acks
	for {
		select {
		case <-ctx.Done():
			return outcome{}, ctx.Err()
		case b, ok := <-acks:
			if !ok {
				acks, r.acksDone = nil, true
				continue
			}
			if err := r.ack(b); err != nil {
				return outcome{}, err
			}
			continue
		case <-tick.C:
		}
		at := time.Since(r.t.epoch)
		replicated := r.poll(at)
		r.series.tick(r, at)
		r.stages.tick(r, at)
		if r.acksDone && r.matched == r.acked && replicated {
			return r.finish(at), nil
		}
	}
}

// ack takes a batch of acknowledged events.
func (r *recorder) ack(b ackBatch) error {
	for _, a := range b.acks {
		k := a.shard
		if a.seq <= r.lastSeq[k] {
			return fmt.Errorf("bench: shard %d: ack of sequence %d after %d: acks out of order", k, a.seq, r.lastSeq[k])
		}
		r.lastSeq[k] = a.seq
		r.acked++
		r.stages.acked(a)
		if r.head[k] < len(r.pending[k]) { // earlier events still wait: so does this one
			r.pending[k] = append(r.pending[k], a)
			continue
		}
		h := r.history[k]
		j := sort.Search(len(h), func(j int) bool { return h[j].cursor >= a.seq })
		if j == len(h) {
			r.pending[k], r.head[k] = append(r.pending[k][:0], a), 0
			r.history[k] = h[:0] // later acks have higher sequences than any cursor seen so far
			continue
		}
		r.applied(a, h[j].at)
		r.history[k] = h[j:]
	}
	r.sentBy, r.dueBy = max(r.sentBy, b.sentBy), max(r.dueBy, b.acks[len(b.acks)-1].due)
	return nil
}

// poll reads every shard's cursors at `at`, times the events they pass and
// reports whether t.replicas replicas of every shard reached its last
// acknowledged event (a source may also show a replica that moved away,
// stuck where it left).
func (r *recorder) poll(at time.Duration) (replicated bool) {
	replicated = true
	for k := range r.t.shards {
		hi, done := uint64(0), 0
		r.cursors = r.t.read(k, r.cursors[:0])
		for _, c := range r.cursors {
			hi = max(hi, c)
			if c >= r.lastSeq[k] {
				done++
			}
		}
		replicated = replicated && done >= r.t.replicas
		if hi <= r.hi[k] {
			continue
		}
		r.hi[k] = hi
		p, i := r.pending[k], r.head[k]
		for ; i < len(p) && p[i].seq <= hi; i++ {
			r.applied(p[i], at)
		}
		switch {
		case i < len(p): // acks not applied yet: no later ack can need this poll
			r.head[k] = i
			if i > 4096 && i > len(p)/2 {
				r.pending[k], r.head[k] = append(p[:0], p[i:]...), 0
			}
			r.history[k] = r.history[k][:0]
		default:
			r.pending[k], r.head[k] = p[:0], 0
			r.history[k] = append(r.history[k], seen{at, hi})
		}
	}
	return replicated
}

// applied times one event, first seen applied at `at`.
func (r *recorder) applied(a acked, at time.Duration) {
	d := at - a.due
	record(r.hist, d)
	r.matched++
	r.lastAt = max(r.lastAt, at)
	r.series.applied(at, d)
	r.stages.applied(a, at, d)
}

// finish closes the series and the ramp once everything is applied at `at`.
func (r *recorder) finish(at time.Duration) outcome {
	r.series.finish(r, at)
	o := outcome{applied: r.lastAt, replicated: at, events: r.matched, hist: r.hist,
		series: r.series.samples, peakRSS: r.series.peak}
	if r.t.sched.isRamp() {
		o.stages, o.sustained, o.rampStop = r.stages.report(r)
	}
	return o
}

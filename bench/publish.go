package bench

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-io/strata/cluster"
)

// acked is one event JetStream stored: what the tracker needs to time it
// once it sees it applied, and nothing more (the events themselves are not kept).
type acked struct {
	seq   uint64        // STRATA_EVENTS sequence from the publish ack
	due   time.Duration // scheduled send after the epoch (unpaced: the actual send)
	shard uint16        // shard of the event's user
}

// ackBatch carries acknowledged events to the tracker, in send order.
type ackBatch struct {
	acks []acked
	// sentBy is the actual send time of the batch's last event: every
	// event sent before it is in this batch or an earlier one.
	sentBy time.Duration
}

// sent is what publish did.
type sent struct {
	events   int64         // events sent and acknowledged
	acked    time.Duration // epoch → last acknowledgement
	users    int64         // distinct users among them
	perShard []int64       // events per shard
	stopped  bool          // stopped by the tracker (a ramp stage was not sustainable)
}

// publishing is one phase's publisher.
type publishing struct {
	js     jetstream.JetStream
	gen    *Generator
	users  int // the population's users, for the distinct-user count
	shards int
	sched  schedule
	epoch  time.Time
	acks   chan<- ackBatch // batches of acknowledged events; closed once publish returns
	stop   <-chan struct{} // closed by the tracker to end the load early
	count  *atomic.Int64   // events handed to the client so far, read by the sampler
	marks  *sendMarks      // send time of every markEvery-th event, for the transitions
}

// pending is one unacknowledged publish, in send order.
type pending struct {
	due, sent time.Duration
	shard     uint16
	ack       jetstream.PubAckFuture
}

// maxAckBatch bounds a batch; a batch also leaves whenever the next ack is not in yet.
const maxAckBatch = 1024

// publish streams the generator's events through JetStream on the
// schedule, open loop: when paced, event i is due at epoch + sched.due(i)
// whatever happened to earlier events, and the publisher sleeps only when
// it is ahead of that schedule (so pacing never drifts). When 8192
// publishes are unacknowledged it blocks: events then leave late and their
// latency, counted from the schedule, shows it. It stops when the
// generator or the schedule runs out or p.stop closes; every event it sent
// is acknowledged and handed to the tracker before it returns. Memory does
// not grow with the events: only the unacknowledged window is held.
func publish(ctx context.Context, p publishing) (sent, error) {
	s := sent{perShard: make([]int64, p.shards)}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	// The collector owns s.acked until it closes done.
	pendings := make(chan pending, 16384)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(p.acks)
		batch := make([]acked, 0, maxAckBatch)
		var sentBy time.Duration
		flush := func() bool {
			if len(batch) == 0 {
				return true
			}
			select {
			case p.acks <- ackBatch{acks: batch, sentBy: sentBy}:
				batch = make([]acked, 0, maxAckBatch)
				return true
			case <-ctx.Done():
				return false
			}
		}
		for {
			var pe pending
			var ok bool
			select {
			case pe, ok = <-pendings:
			default:
				if !flush() {
					return
				}
				pe, ok = <-pendings
			}
			if !ok {
				break
			}
			var a *jetstream.PubAck
			select {
			case a = <-pe.ack.Ok():
			default:
				if !flush() {
					return
				}
				select {
				case a = <-pe.ack.Ok():
				case err := <-pe.ack.Err():
					cancel(fmt.Errorf("bench: publish: %w", err))
					return
				case <-ctx.Done():
					return
				}
			}
			batch = append(batch, acked{seq: a.Sequence, due: pe.due, shard: pe.shard})
			sentBy = pe.sent
			if len(batch) == maxAckBatch && !flush() {
				return
			}
		}
		if flush() {
			s.acked = time.Since(p.epoch)
		}
	}()

	seen := make([]uint64, (p.users+63)/64)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var err error
	total := p.sched.total()
	for i := int64(0); i < total && err == nil; i++ {
		select {
		case <-p.stop:
			s.stopped = true
		default:
		}
		if s.stopped {
			break
		}
		subject, payload, shard, ok := p.gen.Next()
		if !ok {
			break
		}
		due := p.sched.due(i)
		if p.sched.paced() {
			if d := due - time.Since(p.epoch); d > 0 {
				timer.Reset(d)
				select {
				case <-timer.C:
				case <-ctx.Done():
					err = context.Cause(ctx)
					continue
				}
			}
		}
		now := time.Since(p.epoch)
		if !p.sched.paced() {
			due = now
		}
		p.marks.mark(i, now)
		var f jetstream.PubAckFuture
		f, err = p.js.PublishAsync(subject, payload, jetstream.WithStallWait(time.Minute))
		if err != nil {
			err = fmt.Errorf("bench: publish event %d: %w", i, err)
			break
		}
		select {
		case pendings <- pending{due: due, sent: now, shard: shard, ack: f}:
		case <-ctx.Done():
			err = context.Cause(ctx)
			continue
		}
		s.events++
		s.perShard[shard]++
		if u, perr := strconv.ParseUint(subject[len(cluster.EventsPrefix)+1:], 10, 64); perr == nil && u < uint64(p.users) {
			if w, bit := &seen[u/64], uint64(1)<<(u%64); *w&bit == 0 {
				*w |= bit
				s.users++
			}
		}
		p.count.Add(1)
	}
	close(pendings)
	<-done
	if err == nil {
		err = context.Cause(ctx) // a failed ack, or the caller's ctx
	}
	return s, err
}

// markEvery is the spacing of sendMarks: the publisher notes the send time
// of every 64th event, 2.5 MB for 20M events.
const markEvery = 64

// sendMarks holds the actual send time of every markEvery-th event, written
// by the publisher and read by the transitions subscriber (which only asks
// about events already applied, so already sent).
type sendMarks struct{ at []atomic.Int64 }

func newSendMarks(events int) *sendMarks {
	return &sendMarks{at: make([]atomic.Int64, events/markEvery+1)}
}

func (m *sendMarks) mark(i int64, at time.Duration) {
	if m != nil && i%markEvery == 0 && int(i/markEvery) < len(m.at) {
		m.at[i/markEvery].Store(int64(at))
	}
}

// sentNear is the send time of the last marked event at or before i: at
// most markEvery−1 events' sends earlier than event i's own.
func (m *sendMarks) sentNear(i int64) (time.Duration, bool) {
	if m == nil || i < 0 || int(i/markEvery) >= len(m.at) {
		return 0, false
	}
	return time.Duration(m.at[i/markEvery].Load()), true
}

package bench

import (
	"context"
	"sort"
	"time"

	"github.com/strata-io/strata/node"
)

// seen is one poll that found a shard's cursor advanced: by epoch + at, a
// replica had applied every event of the shard up to sequence cursor.
type seen struct {
	at     time.Duration
	cursor uint64
}

// progress is what the tracker saw until every replica applied every event.
type progress struct {
	seen       [][]seen      // per shard, cursors ascending
	applied    time.Duration // epoch → every event applied by a replica of its shard
	replicated time.Duration // epoch → every event applied by every replica
}

// tracker polls the cursor of every replica in the process. A shard's
// cursor (storage.Meta.Cursor) is the last STRATA_EVENTS sequence its FSM
// applied, published after the Pebble commit: an event is applied on a
// replica exactly when that replica's cursor reaches the event's sequence.
// The ceiling phase polls its bare consumers the same way (ceiling.go).
type tracker struct {
	targets chan []uint64
	done    chan progress
	err     chan error
	cancel  context.CancelFunc
	stopped chan struct{}
}

// cursorSource appends the cursor of every replica of shard k in this
// process to dst (none while the shard has no replica here) and returns it.
// The tracker's goroutine calls it; it must not block.
type cursorSource func(k int, dst []uint64) []uint64

// nodeCursors reads the cursors of the nodes' shard replicas.
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

// startTracker polls every `every` until stop, or until wait's targets are
// met on `replicas` replicas of each of the shards.
func startTracker(read cursorSource, shards, replicas int, epoch time.Time, every time.Duration) *tracker {
	ctx, cancel := context.WithCancel(context.Background())
	t := &tracker{targets: make(chan []uint64, 1), done: make(chan progress, 1), err: make(chan error, 1),
		cancel: cancel, stopped: make(chan struct{})}
	go func() {
		defer close(t.stopped)
		t.run(ctx, read, shards, replicas, epoch, every)
	}()
	return t
}

// stop ends the polling and waits for it (before the nodes close).
func (t *tracker) stop() {
	t.cancel()
	<-t.stopped
}

// wait hands over each shard's last sent sequence and returns once every
// replica reached it.
func (t *tracker) wait(ctx context.Context, last []uint64) (progress, error) {
	t.targets <- last
	select {
	case p := <-t.done:
		return p, nil
	case err := <-t.err:
		return progress{}, err
	case <-ctx.Done():
		return progress{}, ctx.Err()
	}
}

// run owns the progress until it hands it over.
func (t *tracker) run(ctx context.Context, read cursorSource, shards, want int, epoch time.Time, every time.Duration) {
	p := progress{seen: make([][]seen, shards)}
	var last, cursors []uint64
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		at := time.Since(epoch)
		applied, replicated := last != nil, last != nil
		for k := range shards {
			lo, hi, replicas := uint64(0), uint64(0), 0
			cursors = read(k, cursors[:0])
			for _, c := range cursors {
				if replicas == 0 || c < lo {
					lo = c
				}
				hi = max(hi, c)
				replicas++
			}
			if o := p.seen[k]; hi > 0 && (len(o) == 0 || hi > o[len(o)-1].cursor) {
				p.seen[k] = append(o, seen{at, hi})
			}
			if last != nil {
				applied = applied && hi >= last[k]
				replicated = replicated && lo >= last[k] && replicas >= want
			}
		}
		if applied && p.applied == 0 {
			p.applied = at
		}
		if replicated {
			p.replicated = at
			t.done <- p
			return
		}
		select {
		case <-ctx.Done():
			t.err <- ctx.Err()
			return
		case last = <-t.targets:
		case <-tick.C:
		}
	}
}

// eventLatencies returns, per event, the time from its scheduled send to the
// first poll that saw a replica of its shard past its sequence. Every event's
// shard must have been seen past it.
func eventLatencies(s sent, shard []uint16, seenBy [][]seen) []time.Duration {
	lat := make([]time.Duration, len(s.seq))
	for i, q := range s.seq {
		o := seenBy[shard[i]]
		j := sort.Search(len(o), func(j int) bool { return o[j].cursor >= q })
		lat[i] = o[j].at - s.sched[i]
	}
	return lat
}

package bench

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/nats-io/nats.go"

	"github.com/strata-io/strata/cluster"
)

// sourceTransitions describes Report.Transitions.
const sourceTransitions = "scheduled send of the causing event (named by the transition's cause) → transition received by the bench on strata.transitions.>"

// transitions times publish → transition received. It subscribes (core
// NATS) to every transition subject before the load; a transition whose
// cause is one of the run's event IDs ("s<seed>-e<index>") is timed from
// that event's scheduled send (unpaced: the send of the last event at or
// before it whose send time was noted, at most 63 events earlier, so the
// figure errs high by at most that much). Transitions caused by timers or
// by other runs' events are counted, not timed.
type transitions struct {
	sub    *nats.Subscription
	marks  *sendMarks
	sched  schedule
	prefix []byte       // `"cause":"s<seed>-e`
	epoch  atomic.Int64 // Unix ns of the phase's first publish; 0 before
	recv   atomic.Int64 // transitions received, all causes
	mu     struct {
		sync.Mutex
		hist  *hdrhistogram.Histogram
		other int64 // received, not caused by the run's events
	}
}

// watchTransitions subscribes on conn; close unsubscribes.
func watchTransitions(ctx context.Context, conn *nats.Conn, cfg Config) (*transitions, error) {
	pc := cfg.population()
	t := &transitions{marks: newSendMarks(cfg.Events), sched: cfg.schedule(),
		prefix: []byte(`"cause":"` + idPrefix(pc.Seed, pc.RunID))}
	t.mu.hist = newHistogram()
	var err error
	t.sub, err = conn.Subscribe(cluster.TransitionsPrefix+">", t.received)
	if err != nil {
		return nil, fmt.Errorf("bench: subscribe to transitions: %w", err)
	}
	_ = t.sub.SetPendingLimits(-1, 256<<20)
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := conn.FlushWithContext(fctx); err != nil {
		_ = t.sub.Unsubscribe()
		return nil, fmt.Errorf("bench: subscribe to transitions: %w", err)
	}
	return t, nil
}

// start sets the phase's epoch: the due times count from it.
func (t *transitions) start(epoch time.Time) { t.epoch.Store(epoch.UnixNano()) }

// received runs on the subscription's goroutine.
func (t *transitions) received(m *nats.Msg) {
	now := time.Now().UnixNano()
	t.recv.Add(1)
	i, ok := t.cause(m.Data)
	epoch := t.epoch.Load()
	var due time.Duration
	if ok && epoch != 0 {
		if t.sched.paced() {
			due = t.sched.due(i)
		} else {
			due, ok = t.marks.sentNear(i)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !ok || epoch == 0 {
		t.mu.other++
		return
	}
	record(t.mu.hist, time.Duration(now-epoch)-due)
}

// cause returns the index of the run's event named by a transition's cause.
func (t *transitions) cause(msg []byte) (int64, bool) {
	j := bytes.Index(msg, t.prefix)
	if j < 0 {
		return 0, false
	}
	rest := msg[j+len(t.prefix):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return 0, false
	}
	i, err := strconv.ParseInt(string(rest[:end]), 10, 64)
	return i, err == nil && i >= 0
}

// wait waits until at least want transitions were received (what the
// nodes count as published), or patience passed; it reports how many came.
func (t *transitions) wait(ctx context.Context, want int64, patience time.Duration) int64 {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(patience)
	for t.recv.Load() < want && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return t.recv.Load()
		case <-tick.C:
		}
	}
	return t.recv.Load()
}

// latency summarises the timed transitions (nil when none was).
func (t *transitions) latency() *Latency {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.hist.TotalCount() == 0 {
		return nil
	}
	l := histLatency(t.mu.hist, sourceTransitions)
	return &l
}

// dropped is how many transitions the subscription lost to a slow consumer.
func (t *transitions) dropped() int64 {
	n, _ := t.sub.Dropped()
	return int64(n)
}

func (t *transitions) close() { _ = t.sub.Unsubscribe() }

package node_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-io/strata/cluster"
	"github.com/strata-io/strata/node"
)

// load is a fixed set of events over several users.
type load struct {
	users, perUser int
	ids            []string // event i: id
	usr            []string
	data           [][]byte
}

func newLoad(users, perUser int) *load {
	l := &load{users: users, perUser: perUser}
	types := []string{"login", "view", "purchase", "coupon", "task", "refund", "interaction"}
	for i := range users * perUser {
		u := fmt.Sprintf("r%d", i%users)
		id := fmt.Sprintf("ev-%d", i)
		typ := types[i%len(types)]
		amount := 0.0
		if typ == "purchase" {
			amount = float64(1000 + i*37%9000)
		}
		if typ == "refund" {
			amount = 50
		}
		l.ids = append(l.ids, id)
		l.usr = append(l.usr, u)
		l.data = append(l.data, event(id, u, typ, t0.Add(-time.Duration(i)*time.Minute), amount))
	}
	return l
}

// publishAll publishes events [from, to) asynchronously and returns the indexes
// JetStream acknowledged; after `signalAfter` acks it closes reached.
func publishAll(js jetstream.JetStream, l *load, from, to, signalAfter int, reached chan<- struct{}) map[int]bool {
	acked := map[int]bool{}
	var mu sync.Mutex
	var once sync.Once
	futures := make([]jetstream.PubAckFuture, 0, to-from)
	idx := make([]int, 0, to-from)
	for i := from; i < to; i++ {
		f, err := js.PublishAsync(cluster.EventsPrefix+l.usr[i], l.data[i])
		if err != nil {
			break
		}
		futures, idx = append(futures, f), append(idx, i)
	}
	for k, f := range futures {
		select {
		case <-f.Ok():
			mu.Lock()
			acked[idx[k]] = true
			n := len(acked)
			mu.Unlock()
			if n >= signalAfter && reached != nil {
				once.Do(func() { close(reached) })
			}
		case <-f.Err():
		}
	}
	if reached != nil {
		once.Do(func() { close(reached) })
	}
	return acked
}

// Closing the node mid-stream and starting it again loses nothing and counts
// nothing twice; producers retry what was not acknowledged, some events are
// sent twice on purpose, and every transition is published exactly once.
func TestRestartMidStream(t *testing.T) {
	h := newHarness(t)
	l := newLoad(40, 30) // 1 200 events
	half := len(l.data) / 2
	acked0 := publishAll(h.js, l, 0, half, 0, nil)

	reached := make(chan struct{})
	var acked map[int]bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		acked = publishAll(h.js, l, half, len(l.data), 100, reached)
	}()
	<-reached
	h.stop() // clean shutdown while events stream in and are being applied
	<-done
	h.start()
	h.checkCursorsWithinStream()

	// Producers retry everything not acknowledged, and resend a few that were.
	var retry []int
	for i := range l.data {
		if !acked0[i] && !acked[i] || i >= half && i%10 == 0 {
			retry = append(retry, i)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	for _, i := range retry {
		if _, err := h.js.Publish(ctx, cluster.EventsPrefix+l.usr[i], l.data[i]); err != nil {
			t.Fatal(err)
		}
	}
	for u := range l.users {
		h.waitEvents(fmt.Sprintf("r%d", u), uint64(l.perUser))
	}
	h.checkPublishedMatchesState(l.users)
	t.Logf("%d events (%d acknowledged before the stop, %d retried), %d transitions", len(l.data), len(acked), len(retry), h.checkSeqs())
}

// checkCursorsWithinStream checks that no shard's cursor is past the last
// sequence of STRATA_EVENTS: a cursor only ever takes sequences the stream
// delivered, so one past the end after a restart means the stream lost
// messages the shard had applied (and would skip the sequences reused).
func (h *harness) checkCursorsWithinStream() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	var cursors []uint64
	for _, s := range h.node.Cluster().Shards() {
		cursors = append(cursors, s.FSM().Meta().Cursor)
	}
	stream, err := h.js.Stream(ctx, cluster.EventsStream)
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	for i, c := range cursors {
		if c > info.State.LastSeq {
			h.t.Errorf("shard %d's cursor %d is past the stream's last seq %d after the restart", i, c, info.State.LastSeq)
		}
	}
}

// checkPublishedMatchesState waits until every user's last published
// transition per dimension equals its current tier (nothing lost), after
// checking seqs (nothing duplicated or reordered).
func (h *harness) checkPublishedMatchesState(users int) {
	h.t.Helper()
	views := map[string]cluster.UserView{}
	for u := range users {
		id := fmt.Sprintf("r%d", u)
		views[id] = h.user(id)
	}
	h.trans.waitUntil(h.t, "published transitions to match state", func(msgs []jetstream.Msg) bool {
		last := checkSeqs(h.t, msgs)
		for id, v := range views {
			for dim, tier := range v.Tiers {
				if last[userDim{id, dim}].To != tier {
					return false
				}
			}
		}
		return true
	})
}

// Duplicate event IDs for a user are ignored — in one batch, across batches,
// across a restart — whatever JetStream's own duplicate window does; the same
// ID for another user is a different event.
func TestDuplicateEvents(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	p := event("same", "d1", "purchase", t0, 100)
	for range 3 {
		h.publish("d1", p) // no Nats-Msg-Id: JetStream stores all three
	}
	// A producer retry with Nats-Msg-Id: JetStream drops the copy itself.
	for range 2 {
		if _, err := h.js.Publish(ctx, cluster.EventsPrefix+"d1", event("other", "d1", "view", t0, 0), jetstream.WithMsgID("p-1")); err != nil {
			t.Fatal(err)
		}
	}
	h.publish("d2", event("same", "d2", "purchase", t0, 100)) // other user: counts
	h.waitEvents("d1", 2)
	h.waitEvents("d2", 1)
	if v := h.user("d1"); v.Scores.Monetary365d != 100 {
		t.Errorf("d1 monetary %v, want 100 (counted once)", v.Scores.Monetary365d)
	}

	h.restart()
	h.publish("d1", p)                                             // after a restart, six days later: still a duplicate
	h.clock.Set(t0.Add(6 * day))                                   //
	h.publish("d1", event("late", "d1", "view", t0.Add(6*day), 0)) // a marker behind it
	h.waitEvents("d1", 3)
	if v := h.user("d1"); v.Scores.Monetary365d != 100 {
		t.Errorf("d1 monetary %v after restart, want 100", v.Scores.Monetary365d)
	}
	body := h.metrics()
	if !strings.Contains(body, "strata_events_duplicate_total 1") {
		t.Errorf("duplicate counter after restart (counts since start) missing:\n%s", grep(body, "duplicate"))
	}
	h.checkSeqs()
}

func grep(body, word string) string {
	var out []string
	for _, line := range strings.Split(body, "\n") {
		if strings.Contains(line, word) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// Transitions published before a restart are not published again even when
// the stream's duplicate window (here its 100 ms minimum) has passed and the
// outbox was never trimmed: the leader checks the stream before re-publishing.
func TestNoRepublishBeyondDuplicateWindow(t *testing.T) {
	h := newHarnessWith(t, func(cfg *node.Config) {
		cfg.Cluster.TransitionsDuplicateWindow = 100 * time.Millisecond
		cfg.Cluster.TrimInterval = time.Hour // nothing trimmed: the whole outbox is the tail
	})
	l := newLoad(20, 5)
	publishAll(h.js, l, 0, len(l.data), 0, nil)
	for u := range l.users {
		h.waitEvents(fmt.Sprintf("r%d", u), uint64(l.perUser))
	}
	h.checkPublishedMatchesState(l.users)
	before := h.checkSeqs()

	h.restart() // > 100 ms: the new leaders wait out an election timeout first
	h.publish("r0", event("after", "r0", "purchase", t0, 99999))
	h.waitTransition("r0", "value", "none", "whale") // r0 had only a refund
	if after := h.checkSeqs(); after != before+1 {
		t.Errorf("%d transitions after the restart, want %d + 1", after, before)
	}
}

package node_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-io/strata/cluster"
	"github.com/strata-io/strata/node"
)

// A transitions publisher whose acknowledgements never come (here: the
// stream stops acking, as when the stream's leader is lost with the acks in
// flight) times them out, republishes under the same Nats-Msg-Ids, and moves
// on once the stream answers again: nothing waits forever, nothing is stored
// twice.
func TestPublisherSurvivesLostAcks(t *testing.T) {
	h := newHarnessWith(t, func(cfg *node.Config) { cfg.Cluster.PublishAckTimeout = 300 * time.Millisecond })
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	setNoAck := func(v bool) {
		t.Helper()
		stream, err := h.js.Stream(ctx, cluster.TransitionsStream)
		if err != nil {
			t.Fatal(err)
		}
		info, err := stream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		info.Config.NoAck = v
		if _, err := h.js.UpdateStream(ctx, info.Config); err != nil {
			t.Fatal(err)
		}
	}
	// Two users of one shard: one publisher serves both.
	shards := h.config().Shards
	first, second := "lost-ack-0", ""
	for i := 1; second == ""; i++ {
		if u := fmt.Sprintf("lost-ack-%d", i); cluster.ShardOf(u, shards) == cluster.ShardOf(first, shards) {
			second = u
		}
	}
	hasUser := func(user string) func([]jetstream.Msg) bool {
		return func(msgs []jetstream.Msg) bool {
			for _, tm := range transitions(t, msgs) {
				if tm.User == user {
					return true
				}
			}
			return false
		}
	}

	setNoAck(true)
	h.publish(first, event("e1", first, "login", t0, 0))
	h.trans.waitUntil(t, first+"'s transitions stored, unacknowledged", hasUser(first))
	setNoAck(false)
	h.publish(second, event("e2", second, "login", t0, 0))
	h.trans.waitUntil(t, second+"'s transitions published after the acks came back", hasUser(second))
	h.checkSeqs() // each transition stored once, in order, despite the republishes
}

package node_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-io/strata/cluster"
)

// Snapshots restore a node whose Pebble state and Raft log are gone: the node
// restores each shard from its newest snapshot, resumes ingest from the
// snapshotted cursor, and re-derives later events without double counting or
// publishing a transition twice.
func TestSnapshotRestoreAfterStateLoss(t *testing.T) {
	h := newHarness(t)
	l := newLoad(30, 10)
	publishAll(h.js, l, 0, len(l.data)/2, 0, nil)
	for u := range l.users {
		h.waitEvents(fmt.Sprintf("r%d", u), uint64(l.perUser/2))
	}
	for _, s := range h.node.Cluster().Shards() {
		if err := s.Snapshot(); err != nil {
			t.Fatalf("snapshot shard %d: %v", s.ID(), err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	events, err := h.js.Stream(ctx, cluster.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := events.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	snapshotted := info.State.LastSeq
	publishAll(h.js, l, len(l.data)/2, len(l.data), 0, nil) // after the snapshots
	for u := range l.users {
		h.waitEvents(fmt.Sprintf("r%d", u), uint64(l.perUser))
	}
	// From here on the snapshots are the only record of the first half.
	if err := events.Purge(ctx, jetstream.WithPurgeSequence(snapshotted+1)); err != nil {
		t.Fatal(err)
	}
	before := map[string]cluster.UserView{}
	for u := range l.users {
		id := fmt.Sprintf("r%d", u)
		before[id] = h.user(id)
	}
	h.checkPublishedMatchesState(l.users)
	published := h.checkSeqs()

	h.stop()
	if err := os.RemoveAll(filepath.Join(h.dir, "pebble")); err != nil {
		t.Fatal(err)
	}
	h.start()
	for id, b := range before {
		h.waitEvents(id, b.Events)
		a := h.user(id)
		if fmt.Sprint(a.Tiers) != fmt.Sprint(b.Tiers) || a.Scores != b.Scores || a.Events != b.Events {
			t.Errorf("%s after restore: %+v, before: %+v", id, a, b)
		}
	}
	h.checkPublishedMatchesState(l.users)
	if n := h.checkSeqs(); n != published {
		t.Errorf("%d transitions published after the restore, %d before: re-derived transitions must dedupe", n, published)
	}
}

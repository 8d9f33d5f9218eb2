package cluster

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/strata-io/strata/storage/storagetest"
)

func TestControlFSM(t *testing.T) {
	db := storagetest.Open(t)
	store := db.RaftStore(ControlGroup)
	f, err := newControlFSM(store, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	index := uint64(0)
	apply := func(cmd controlCmd) any {
		t.Helper()
		b, _ := json.Marshal(cmd)
		index++
		return f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: b})
	}
	n1 := &NodeInfo{ID: "n1", RaftAddr: "a:1", Status: NodeActive}
	if err := apply(controlCmd{Op: "init", Shards: 2, Replicas: 3, Node: n1, Placement: [][]string{{"n1"}, {"n1"}}}); err != nil {
		t.Fatal(err)
	}
	if apply(controlCmd{Op: "init", Shards: 2, Replicas: 3, Node: n1, Placement: [][]string{{"n1"}, {"n1"}}}) == nil {
		t.Fatal("second init accepted")
	}
	if err := apply(controlCmd{Op: "join", Node: &NodeInfo{ID: "n2", RaftAddr: "a:2"}}); err != nil {
		t.Fatal(err)
	}
	v := f.State().Version
	if err := apply(controlCmd{Op: "place", Base: v, Shard: 1, Nodes: []string{"n2", "n1"}}); err != nil {
		t.Fatal(err)
	}
	if err := apply(controlCmd{Op: "place", Base: v, Shard: 0, Nodes: []string{"n2"}}); !errors.Is(err.(error), errStalePlan) {
		t.Fatalf("stale plan: %v", err)
	}
	if apply(controlCmd{Op: "place", Base: f.State().Version, Shard: 0, Nodes: []string{"n9"}}) == nil {
		t.Fatal("placement on an unknown node accepted")
	}
	if err := apply(controlCmd{Op: "status", From: NodeActive, Node: &NodeInfo{ID: "n2", Status: NodeLeaving}}); err != nil {
		t.Fatal(err)
	}
	// A stale status change (n2 is no longer active) and a join of a leaving node are refused.
	if apply(controlCmd{Op: "status", From: NodeActive, Node: &NodeInfo{ID: "n2", Status: NodeActive}}) == nil {
		t.Fatal("status change from the wrong status accepted")
	}
	if apply(controlCmd{Op: "join", Node: &NodeInfo{ID: "n2", RaftAddr: "a:2"}}) == nil {
		t.Fatal("join of a leaving node accepted")
	}
	if err := apply(controlCmd{Op: "addr", Node: &NodeInfo{ID: "n2", RaftAddr: "b:2", HTTPAddr: "h:2"}}); err != nil {
		t.Fatal(err)
	}
	if apply(controlCmd{Op: "bogus"}) == nil || f.Apply(&raft.Log{Index: index + 1, Data: []byte("{")}) == nil {
		t.Fatal("bad entries accepted")
	}
	index++
	want := f.State()
	if n := want.Nodes["n2"]; n.Status != NodeLeaving || n.RaftAddr != "b:2" || n.HTTPAddr != "h:2" {
		t.Fatalf("n2: %+v", n)
	}

	// Restart: the state comes back from the stable store; entries already
	// applied are skipped.
	g, err := newControlFSM(store, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(controlCmd{Op: "status", From: NodeLeaving, Node: &NodeInfo{ID: "n2", Status: NodeLeft}})
	g.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: b})
	got := g.State()
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if string(gb) != string(wb) {
		t.Fatalf("after restart and a re-applied entry:\n%s\nwant\n%s", gb, wb)
	}
}

// A replica may be deleted only once its removal is committed and every
// voter of the new configuration has committed it in the leader's term.
func TestRemovedEverywhere(t *testing.T) {
	c := &Cluster{cfg: DefaultConfig(), log: hclog.NewNullLogger()}
	l := newControlLeader(c)
	report := func(node string, rs ...ReplicaStatus) {
		for i := range rs {
			rs[i].Node = node
		}
		l.reports[node] = nodeReport{Node: NodeInfo{ID: node}, Replicas: rs}
		l.seen(node)
	}
	leader := ReplicaStatus{Shard: 1, Role: "Leader", Term: 5, CommitIndex: 100, ConfigIndex: 90,
		Voters: []string{"a", "b", "d"}, Committed: []string{"a", "b", "d"}}
	report("a", leader)
	report("b", ReplicaStatus{Shard: 1, Role: "Follower", Term: 5, CommitIndex: 95})
	report("d", ReplicaStatus{Shard: 1, Role: "Follower", Term: 5, CommitIndex: 80}) // has not committed the removal
	if l.removedEverywhere(1, "c") {
		t.Fatal("dropped while voter d may still count on c")
	}
	report("d", ReplicaStatus{Shard: 1, Role: "Follower", Term: 4, CommitIndex: 120}) // stale term
	if l.removedEverywhere(1, "c") {
		t.Fatal("dropped on a report from another term")
	}
	report("d", ReplicaStatus{Shard: 1, Role: "Follower", Term: 5, CommitIndex: 91})
	if !l.removedEverywhere(1, "c") {
		t.Fatal("not dropped although every voter committed the removal")
	}
	if l.removedEverywhere(1, "b") || l.removedEverywhere(2, "c") {
		t.Fatal("dropped a member, or a shard without a leader report")
	}
	// Removed in the latest (uncommitted) configuration only.
	uncommitted := leader
	uncommitted.Voters, uncommitted.Committed = []string{"a", "b"}, []string{"a", "b", "d"}
	report("a", uncommitted)
	if l.removedEverywhere(1, "d") {
		t.Fatal("dropped on an uncommitted removal")
	}
	unknown := leader
	unknown.ConfigIndex, unknown.Committed = 0, nil
	report("a", unknown)
	if l.removedEverywhere(1, "c") {
		t.Fatal("dropped without knowing the committed configuration")
	}
}

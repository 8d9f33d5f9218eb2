package bench

import (
	"testing"

	"github.com/strata-io/strata/cluster"
)

func TestSettled(t *testing.T) {
	node := func(id string) cluster.NodeStatus {
		return cluster.NodeStatus{NodeInfo: cluster.NodeInfo{ID: id, Status: cluster.NodeActive}, Alive: true}
	}
	group := func(shard uint16, leader string, placement ...string) cluster.ShardStatus {
		return cluster.ShardStatus{Shard: shard, Leader: leader, Placement: placement, Voters: placement}
	}
	three := []cluster.NodeStatus{node("n1"), node("n2"), node("n3")}
	for _, tc := range []struct {
		name   string
		nodes  []cluster.NodeStatus
		groups []cluster.ShardStatus
		ok     bool
	}{
		{"balanced", three, []cluster.ShardStatus{
			group(0, "n1", "n1", "n2", "n3"), group(1, "n2", "n2", "n3", "n1"), group(2, "n3", "n3", "n1", "n2"),
		}, true},
		{"node missing", three[:2], []cluster.ShardStatus{group(0, "n1", "n1", "n2", "n3")}, false},
		{"node down", []cluster.NodeStatus{node("n1"), node("n2"), {NodeInfo: cluster.NodeInfo{ID: "n3", Status: cluster.NodeActive}}},
			[]cluster.ShardStatus{group(0, "n1", "n1", "n2", "n3")}, false},
		{"no leader", three, []cluster.ShardStatus{group(0, "", "n1", "n2", "n3")}, false},
		{"too few replicas", three, []cluster.ShardStatus{group(0, "n1", "n1", "n2")}, false},
		{"not preferred leader", three, []cluster.ShardStatus{group(0, "n2", "n1", "n2", "n3")}, false},
		{"nonvoter", three, []cluster.ShardStatus{{Shard: 0, Leader: "n1", Placement: []string{"n1", "n2", "n3"},
			Voters: []string{"n1", "n2"}, Nonvoters: []string{"n3"}}}, false},
		// Between two planner steps: every shard led by its preferred
		// leader, but n1 is preferred for all three.
		{"leaders unbalanced", three, []cluster.ShardStatus{
			group(0, "n1", "n1", "n2", "n3"), group(1, "n1", "n1", "n3", "n2"), group(2, "n1", "n1", "n2", "n3"),
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := settled(&cluster.Status{Nodes: tc.nodes, Groups: tc.groups}, 3, 3)
			if (err == nil) != tc.ok {
				t.Fatalf("settled = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

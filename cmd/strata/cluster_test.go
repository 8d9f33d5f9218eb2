package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/strata-io/strata/cluster"
)

func TestPrintStatus(t *testing.T) {
	st := &cluster.Status{ControlLeader: "n2", Version: 9, Shards: 2, Replicas: 3,
		Nodes: []cluster.NodeStatus{
			{NodeInfo: cluster.NodeInfo{ID: "n1", RaftAddr: "127.0.0.1:7400", HTTPAddr: "127.0.0.1:8080", Status: cluster.NodeActive}, Alive: true, Replicas: 2, Leaders: 1},
			{NodeInfo: cluster.NodeInfo{ID: "n2", RaftAddr: "127.0.0.1:7401", Status: cluster.NodeLeaving}, Replicas: 0},
		},
		Groups: []cluster.ShardStatus{{Shard: 1, Placement: []string{"n1", "n3"}, Leader: "n1", Term: 4,
			Replicas: []cluster.ReplicaStatus{{Node: "n1", AppliedIndex: 120}, {Node: "n3", AppliedIndex: 118, Lag: 2}}}},
	}
	var b bytes.Buffer
	printStatus(&b, st)
	out := b.String()
	for _, want := range []string{
		"control leader n2, version 9, 2 shards × 3 replicas",
		"n1    active   true   2         1        127.0.0.1:7400  127.0.0.1:8080",
		"n2    leaving  false  0",
		"1      n1      4     n1,n3      n1:120/0 n3:118/2",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
}

package node_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/strata-io/strata/cluster"
	"github.com/strata-io/strata/node"
)

// leaderOfMost returns the node leading the most shards once settled.
func (h *clusterHarness) leaderOfMost() string {
	h.t.Helper()
	return leaderOfMost(h.waitSettled(3))
}

// waitLeadersWithout waits until every shard is led by a node other than
// id (and reports how long that took).
func (h *clusterHarness) waitLeadersWithout(id string) time.Duration {
	h.t.Helper()
	start := time.Now()
	eventually(h.t, "leaders away from "+id, func() bool {
		for _, m := range h.live() {
			if m.id == id {
				continue
			}
			for _, s := range m.node.Cluster().Shards() {
				_, leader := s.Raft().LeaderWithID()
				if string(leader) == "" || string(leader) == id {
					return false
				}
			}
		}
		return true
	})
	return time.Since(start)
}

// waitProgress waits until the load has made 50 more operations and 5
// more strong reads have succeeded.
func (h *clusterHarness) waitProgress(l *loadGen, what string) {
	h.t.Helper()
	l.mu.Lock()
	before := len(l.ops)
	reads := l.reads.Load()
	l.mu.Unlock()
	eventually(h.t, what, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.ops) >= before+50 && l.reads.Load() >= reads+5
	})
}

// The node leading most shards is cut off from the others under load: the
// majority elects new leaders within seconds and keeps ingesting; after the
// heal every invariant holds.
func TestClusterLeaderLoss(t *testing.T) {
	h := newClusterHarness(t, 3, nil)
	l := startLoad(h, 12, 2)
	h.waitProgress(l, "load running")
	victim := h.leaderOfMost()
	h.faults.Isolate(victim)
	took := h.waitLeadersWithout(victim)
	t.Logf("failover after isolating %s: every shard led elsewhere in %s", victim, took)
	h.waitProgress(l, "load continues after failover")
	h.faults.Heal()
	h.waitProgress(l, "load continues after heal")
	acked := l.finish()
	h.waitSettled(3)
	h.verify(acked)
	l.checkLinearizable(t)
}

// Minority and majority partitions in turn, then drops and delays, under
// load; reads keep being checked for linearizability throughout.
func TestClusterPartitions(t *testing.T) {
	h := newClusterHarness(t, 3, nil)
	l := startLoad(h, 12, 3)
	h.waitProgress(l, "load running")
	h.faults.Partition([]string{"n1"}, []string{"n2", "n3"})
	h.waitLeadersWithout("n1")
	h.waitProgress(l, "progress with n1 in the minority")
	h.faults.Heal()
	h.faults.Partition([]string{"n2"}, []string{"n1", "n3"})
	h.waitLeadersWithout("n2")
	h.waitProgress(l, "progress with n2 in the minority")
	h.faults.Heal()
	h.faults.SetDelay(2*time.Millisecond, 3*time.Millisecond)
	h.faults.SetDrop(0.002)
	h.waitProgress(l, "progress with delays and drops")
	h.faults.Heal()
	acked := l.finish()
	h.waitSettled(3)
	h.verify(acked)
	l.checkLinearizable(t)
}

// A node restarts cleanly under load, then another is stopped and wiped and
// comes back empty: it rejoins and is caught up by snapshot install.
func TestClusterRestartAndWipedReplica(t *testing.T) {
	h := newClusterHarness(t, 3, func(id string, cfg *node.Config) {
		// Small logs: the wiped replica cannot be caught up from the log.
		cfg.Cluster.SnapshotThreshold = 64
		cfg.Cluster.TrailingLogs = 16
		cfg.Cluster.SnapshotInterval = 200 * time.Millisecond
	})
	l := startLoad(h, 12, 2)
	h.waitProgress(l, "load running")
	h.stop("n2")
	h.waitProgress(l, "progress without n2")
	h.start("n2")
	h.waitProgress(l, "progress after n2 restarted")
	h.stop("n3")
	h.wipe("n3")
	h.waitProgress(l, "progress without n3")
	// Every shard's log must have been compacted past its start, so the
	// empty n3 can only be caught up by snapshot install.
	eventually(t, "logs compacted", func() bool {
		for _, s := range h.member("n1").node.Cluster().Shards() {
			first, err := h.member("n1").node.DB().RaftStore(s.ID()).FirstIndex()
			if err != nil || first <= 1 {
				return false
			}
		}
		return true
	})
	h.start("n3")
	acked := l.finish()
	h.waitSettled(3)
	h.verify(acked)
	l.checkLinearizable(t)
	if got := metricValue(t, h.member("n3").node, "strata_snapshot_restores_total"); got < 4 {
		t.Fatalf("wiped n3 restored %v shard snapshots, want ≥ 4 (one per shard)", got)
	}
}

// metricValue reads a counter or gauge without labels from a node's registry.
func metricValue(t *testing.T, n *node.Node, name string) float64 {
	t.Helper()
	mfs, err := n.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		var sum float64
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
		return sum
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// A fourth node joins under load: it gets a fair share of replicas (by
// snapshot install, then the log) and of leaders; reads through it are
// forwarded for the shards it lacks. Then it is decommissioned gracefully.
func TestClusterJoinAndLeave(t *testing.T) {
	h := newClusterHarness(t, 3, func(id string, cfg *node.Config) {
		cfg.Cluster.SnapshotThreshold = 64
		cfg.Cluster.TrailingLogs = 16
		cfg.Cluster.SnapshotInterval = 200 * time.Millisecond
		cfg.Shards = 8
	})
	l := startLoad(h, 12, 2)
	h.waitProgress(l, "load running")
	h.add("n4")
	// 8 shards × 3 replicas on 4 nodes: 6 each, 2 leaders each.
	eventually(t, "n4 holds a fair share", func() bool {
		st, err := h.status()
		if err != nil || settled(st, 3, false) != nil {
			return false
		}
		for _, n := range st.Nodes {
			if n.Replicas != 6 || n.Leaders != 2 {
				return false
			}
		}
		return true
	})
	h.waitProgress(l, "progress after the join")
	if got := metricValue(t, h.member("n4").node, "strata_snapshot_restores_total"); got < 1 {
		t.Fatalf("n4 installed %v snapshots, want ≥ 1 (logs are compacted)", got)
	}
	// n4 lacks 2 shards: its reads of their users are forwarded.
	st := h.waitSettled(3)
	forwarded := 0
	for _, u := range l.users {
		v, code, err := httpUser(*h.member("n4"), u, "")
		if err != nil || code != http.StatusOK {
			continue // a user with no event yet
		}
		if !slices.Contains(st.Groups[v.Shard].Placement, "n4") {
			if v.Node == "n4" {
				t.Fatalf("%s of shard %d answered by n4, which holds no replica", u, v.Shard)
			}
			forwarded++
		}
	}
	if forwarded == 0 {
		t.Fatal("no read was forwarded")
	}
	// Graceful leave: replicas move off n4, then it leaves the control group.
	resp, err := http.Post("http://"+h.member("n1").node.HTTPAddr()+"/v1/cluster/nodes/n4/leave", "", nil)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("leave: %v %v", resp, err)
	}
	resp.Body.Close()
	eventually(t, "n4 left", func() bool {
		st, err := h.status()
		if err != nil || settled(st, 3, false) != nil {
			return false
		}
		for _, n := range st.Nodes {
			if n.ID == "n4" && (n.Status != cluster.NodeLeft || n.Replicas != 0) {
				return false
			}
		}
		return len(h.member("n4").node.Cluster().Shards()) == 0
	})
	h.waitProgress(l, "progress after the leave")
	h.stop("n4")
	acked := l.finish()
	h.verify(acked)
	l.checkLinearizable(t)
}

// A node that stays down past ReplaceAfter has its replicas re-created on
// the remaining nodes; when it returns it gets replicas again.
func TestClusterReplaceDeadNode(t *testing.T) {
	h := newClusterHarness(t, 4, func(id string, cfg *node.Config) {
		cfg.ReplaceAfter = 2 * time.Second
		cfg.Cluster.SnapshotThreshold = 64
		cfg.Cluster.TrailingLogs = 16
		cfg.Cluster.SnapshotInterval = 200 * time.Millisecond
	})
	l := startLoad(h, 8, 1)
	h.waitProgress(l, "load running")
	h.stop("n2")
	eventually(t, "n2's replicas re-created elsewhere", func() bool {
		st, err := h.status()
		if err != nil || settled(st, 3, false) != nil {
			return false
		}
		for _, g := range st.Groups {
			if slices.Contains(g.Placement, "n2") {
				return false
			}
		}
		return true
	})
	h.waitProgress(l, "progress without n2")
	h.start("n2")
	eventually(t, "n2 holds replicas again", func() bool {
		st, err := h.status()
		if err != nil || settled(st, 3, false) != nil {
			return false
		}
		for _, n := range st.Nodes {
			if n.ID == "n2" {
				return n.Replicas >= 2
			}
		}
		return false
	})
	acked := l.finish()
	h.verify(acked)
	l.checkLinearizable(t)
}

// Leadership moves by explicit transfer under load: no event is lost or
// counted twice, no transition is published twice or out of order.
func TestClusterLeadershipTransfer(t *testing.T) {
	h := newClusterHarness(t, 3, nil)
	l := startLoad(h, 12, 2)
	h.waitProgress(l, "load running")
	for round := range 3 {
		for _, m := range h.live() {
			for _, s := range m.node.Cluster().Shards() {
				if s.IsLeader() {
					if err := s.Raft().LeadershipTransfer().Error(); err != nil {
						t.Logf("round %d: transfer shard %d from %s: %v", round, s.ID(), m.id, err)
					}
				}
			}
		}
		h.waitProgress(l, "progress after transfers")
	}
	acked := l.finish()
	h.waitSettled(3)
	h.verify(acked)
	l.checkLinearizable(t)
}

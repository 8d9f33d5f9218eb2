package cluster

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/raft"
)

// Status is the cluster as the control leader sees it (GET /v1/cluster,
// `strata cluster status`).
type Status struct {
	ControlLeader string        `json:"control_leader"`
	Version       uint64        `json:"version"` // control state version
	Shards        int           `json:"shards"`
	Replicas      int           `json:"replicas"` // replication factor
	Nodes         []NodeStatus  `json:"nodes"`
	Groups        []ShardStatus `json:"shard_groups"`
}

// NodeStatus is one member in Status.
type NodeStatus struct {
	NodeInfo
	Alive         bool  `json:"alive"`
	LastSeenMsAgo int64 `json:"last_seen_ms_ago"`
	Replicas      int   `json:"replicas"` // shards placed on the node
	Leaders       int   `json:"leaders"`  // shards the node leads now
	ControlVoter  bool  `json:"control_voter"`
}

// ShardStatus is one shard's Raft group in Status.
type ShardStatus struct {
	Shard     uint16          `json:"shard"`
	Placement []string        `json:"placement"` // first: preferred leader
	Leader    string          `json:"leader"`
	Term      uint64          `json:"term"`
	Voters    []string        `json:"voters"`
	Nonvoters []string        `json:"nonvoters,omitempty"`
	Replicas  []ReplicaStatus `json:"replicas"` // as last reported by each node
}

// status builds Status on the control leader, or forwards to it.
func (c *Cluster) status(ctx context.Context, hops int) (*Status, error) {
	if c.ctrlRaft.State() != raft.Leader {
		if hops >= maxHops {
			return nil, ErrNoLeader
		}
		var out *Status
		resp, err := c.toControlLeader(ctx, &rpcReq{Op: "status", Hops: hops}, func() error { return ErrNoLeader })
		if err == nil {
			out = resp.Status
		}
		return out, err
	}
	st := c.ctrl.State()
	l := c.leader
	now := time.Now()
	l.mu.Lock()
	leaders := l.shardLeadersLocked(now)
	reports := make(map[string]nodeReport, len(l.reports))
	seen := make(map[string]time.Time, len(l.lastSeen))
	for k, v := range l.reports {
		reports[k] = v
	}
	for k, v := range l.lastSeen {
		seen[k] = v
	}
	l.mu.Unlock()
	out := &Status{ControlLeader: c.cfg.NodeID, Version: st.Version, Shards: st.Shards, Replicas: st.Replicas}
	voters := c.voters(c.ctrlRaft)
	for _, id := range st.NodeIDs() {
		ns := NodeStatus{NodeInfo: *st.Nodes[id], ControlVoter: slices.Contains(voters, id)}
		if t, ok := seen[id]; ok {
			ns.LastSeenMsAgo = now.Sub(t).Milliseconds()
			ns.Alive = now.Sub(t) < c.cfg.DownAfter
		}
		for i, p := range st.Placement {
			if slices.Contains(p, id) {
				ns.Replicas++
			}
			if r, ok := leaders[uint16(i)]; ok && r.Node == id {
				ns.Leaders++
			}
		}
		out.Nodes = append(out.Nodes, ns)
	}
	for i, p := range st.Placement {
		ss := ShardStatus{Shard: uint16(i), Placement: p}
		lr, hasLeader := leaders[uint16(i)]
		if hasLeader {
			ss.Leader, ss.Term, ss.Voters, ss.Nonvoters = lr.Node, lr.Term, lr.Voters, lr.Nonvoters
		}
		for _, id := range st.NodeIDs() {
			for _, r := range reports[id].Replicas {
				if r.Shard != uint16(i) {
					continue
				}
				if hasLeader && lr.AppliedIndex > r.AppliedIndex {
					r.Lag = lr.AppliedIndex - r.AppliedIndex
				}
				r.Voters, r.Nonvoters = nil, nil
				ss.Replicas = append(ss.Replicas, r)
			}
		}
		out.Groups = append(out.Groups, ss)
	}
	return out, nil
}

// Settled returns nil when every shard has a leader and exactly replicas
// placed nodes, all of them voters and nothing else in its group; otherwise
// the first shard that is not settled, and why.
func (s *Status) Settled(replicas int) error {
	for _, g := range s.Groups {
		voters, placed := slices.Clone(g.Voters), slices.Clone(g.Placement)
		slices.Sort(voters)
		slices.Sort(placed)
		switch {
		case g.Leader == "":
			return fmt.Errorf("shard %d: no leader", g.Shard)
		case len(g.Placement) != replicas:
			return fmt.Errorf("shard %d: placement %v, want %d replicas", g.Shard, g.Placement, replicas)
		case !slices.Equal(voters, placed) || len(g.Nonvoters) > 0:
			return fmt.Errorf("shard %d: voters %v nonvoters %v, placement %v", g.Shard, g.Voters, g.Nonvoters, g.Placement)
		}
	}
	return nil
}

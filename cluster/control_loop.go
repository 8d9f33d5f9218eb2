package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// maxControlVoters bounds the control group's voters; later nodes join it
// as non-voters (they still receive the state).
const maxControlVoters = 5

// nodeReport is what a node tells the control leader every heartbeat.
type nodeReport struct {
	Node     NodeInfo        `json:"node"`
	Replicas []ReplicaStatus `json:"replicas"`
}

// ReplicaStatus describes one node's replica of one shard.
type ReplicaStatus struct {
	Shard        uint16   `json:"shard"`
	Node         string   `json:"node"`
	Role         string   `json:"role"` // Leader, Follower, Candidate
	Leader       string   `json:"leader,omitempty"`
	Term         uint64   `json:"term"`
	AppliedIndex uint64   `json:"applied_index"`          // last entry applied by the FSM
	LastIndex    uint64   `json:"last_index"`             // last entry in the replica's log
	CommitIndex  uint64   `json:"commit_index"`           // last entry the replica knows committed
	ConfigIndex  uint64   `json:"config_index,omitempty"` // leader only: log index of its newest committed configuration
	Committed    []string `json:"committed,omitempty"`    // leader only: the servers of that configuration
	Lag          uint64   `json:"lag"`                    // leader's applied index minus this one's
	Ingesting    bool     `json:"ingesting,omitempty"`
	Voters       []string `json:"voters,omitempty"`    // leader only
	Nonvoters    []string `json:"nonvoters,omitempty"` // leader only
}

// controlLeader holds what only the control group's leader tracks: when it
// last heard from each node and their latest reports. It is rebuilt from
// heartbeats after every leader change.
type controlLeader struct {
	c  *Cluster
	mu sync.Mutex
	// since is when this node became control leader (zero: not leader).
	since    time.Time
	lastSeen map[string]time.Time
	reports  map[string]nodeReport
}

func newControlLeader(c *Cluster) *controlLeader {
	return &controlLeader{c: c, lastSeen: map[string]time.Time{}, reports: map[string]nodeReport{}}
}

func (l *controlLeader) seen(id string) {
	l.mu.Lock()
	l.lastSeen[id] = time.Now()
	l.mu.Unlock()
}

// run does the control leader's work while this node leads the group.
func (l *controlLeader) run(ctx context.Context) {
	t := time.NewTicker(l.c.cfg.ReconcileInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if l.c.ctrlRaft.State() != raft.Leader {
			l.mu.Lock()
			l.since = time.Time{}
			l.mu.Unlock()
			continue
		}
		l.mu.Lock()
		if l.since.IsZero() {
			// New leader: every member gets a full grace period.
			l.since = time.Now()
			for _, id := range l.c.ctrl.State().NodeIDs() {
				l.lastSeen[id] = l.since
			}
			l.reports = map[string]nodeReport{}
		}
		l.mu.Unlock()
		if err := l.step(); err != nil && ctx.Err() == nil {
			l.c.log.Debug("control step", "error", err)
		}
	}
}

// step proposes placement changes and completes leaves.
func (l *controlLeader) step() error {
	for range 4 {
		v := l.view()
		shard, nodes, ok := planNext(v)
		if !ok {
			break
		}
		l.c.log.Info("placement change", "shard", shard, "from", v.state.Placement[shard], "to", nodes)
		_, err := l.c.proposeControl(controlCmd{Op: "place", Base: v.state.Version, Shard: shard, Nodes: nodes})
		if err != nil && !errors.Is(err, errStalePlan) {
			return err
		}
	}
	if err := l.promoteControlVoters(); err != nil {
		return err
	}
	return l.finishLeaves()
}

// promoteControlVoters keeps up to maxControlVoters voters in the control
// group: a live active non-voter becomes a voter when a voter left.
func (l *controlLeader) promoteControlVoters() error {
	c := l.c
	f := c.ctrlRaft.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	v := l.view()
	voters := 0
	var candidate *raft.Server
	for _, srv := range f.Configuration().Servers {
		if srv.Suffrage == raft.Voter {
			voters++
			continue
		}
		n := v.state.Nodes[string(srv.ID)]
		if candidate == nil && n != nil && n.Status == NodeActive && v.alive[n.ID] {
			candidate = &srv
		}
	}
	if voters >= maxControlVoters || candidate == nil {
		return nil
	}
	c.log.Info("promoting control group member", "node", candidate.ID)
	return c.ctrlRaft.AddVoter(candidate.ID, candidate.Address, 0, c.cfg.ProposeTimeout).Error()
}

// view assembles the planner's input.
func (l *controlLeader) view() *planView {
	st := l.c.ctrl.State()
	v := &planView{state: st, alive: map[string]bool{}, dead: map[string]bool{}}
	now := time.Now()
	l.mu.Lock()
	for _, id := range st.NodeIDs() {
		seen, ok := l.lastSeen[id]
		if !ok {
			seen = l.since
			l.lastSeen[id] = seen
		}
		v.alive[id] = now.Sub(seen) < l.c.cfg.DownAfter
		v.dead[id] = now.Sub(seen) > l.c.cfg.ReplaceAfter
	}
	leaders := l.shardLeadersLocked(now)
	l.mu.Unlock()
	v.settled = func(shard int) bool {
		r, ok := leaders[uint16(shard)]
		if !ok || len(r.Nonvoters) > 0 {
			return false
		}
		a, b := slices.Clone(r.Voters), slices.Clone(st.Placement[shard])
		slices.Sort(a)
		slices.Sort(b)
		return slices.Equal(a, b)
	}
	return v
}

// shardLeadersLocked returns, per shard, the freshest report of a replica
// that says it leads (highest term wins).
func (l *controlLeader) shardLeadersLocked(now time.Time) map[uint16]ReplicaStatus {
	out := map[uint16]ReplicaStatus{}
	for id, rep := range l.reports {
		if now.Sub(l.lastSeen[id]) >= l.c.cfg.DownAfter {
			continue
		}
		for _, r := range rep.Replicas {
			if r.Role != raft.Leader.String() {
				continue
			}
			if cur, ok := out[r.Shard]; !ok || r.Term > cur.Term {
				out[r.Shard] = r
			}
		}
	}
	return out
}

// finishLeaves removes leaving nodes that hold nothing any more from the
// control group and marks them left.
func (l *controlLeader) finishLeaves() error {
	c := l.c
	st := c.ctrl.State()
	for _, id := range st.NodeIDs() {
		n := st.Nodes[id]
		if n.Status != NodeLeaving {
			continue
		}
		busy := false
		for i := range st.Placement {
			if st.Holds(id, i) || !l.removedEverywhere(uint16(i), id) {
				busy = true
			}
		}
		// A live leaving node first drops its replicas (told so in answer to
		// its heartbeats): once out of the control group it hears no more.
		l.mu.Lock()
		if time.Since(l.lastSeen[id]) < c.cfg.DownAfter && len(l.reports[id].Replicas) > 0 {
			busy = true
		}
		l.mu.Unlock()
		if busy {
			continue
		}
		if id == c.cfg.NodeID {
			return c.ctrlRaft.LeadershipTransfer().Error() // the next leader removes us
		}
		if err := c.ctrlRaft.RemoveServer(raft.ServerID(id), 0, c.cfg.ProposeTimeout).Error(); err != nil {
			return err
		}
		if _, err := c.proposeControl(controlCmd{Op: "status", From: NodeLeaving,
			Node: &NodeInfo{ID: id, Status: NodeLeft}}); err != nil {
			return err
		}
		c.log.Info("node left the cluster", "node", id)
	}
	return nil
}

// heartbeatLoop reports this node's replicas to the control leader and
// drops the replicas it says are no longer ours.
func (c *Cluster) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		req := &rpcReq{Op: "heartbeat", Report: c.report()}
		var drop []uint16
		var err error
		if c.ctrlRaft.State() == raft.Leader {
			drop, err = c.handleHeartbeat(ctx, req)
		} else if id, addr := c.controlLeader(); id != "" {
			cctx, cancel := context.WithTimeout(ctx, c.cfg.HeartbeatInterval*4)
			var resp *rpcResp
			if resp, err = c.call(cctx, addr, req); err == nil {
				drop = resp.Drop
			}
			cancel()
		}
		if err != nil && ctx.Err() == nil {
			c.log.Debug("heartbeat", "error", err)
		}
		for _, id := range drop {
			c.dropShard(id)
		}
	}
}

// report describes this node and its replicas.
func (c *Cluster) report() *nodeReport {
	r := &nodeReport{Node: *c.selfInfo()}
	if n := c.ctrl.State().Nodes[c.cfg.NodeID]; n != nil {
		r.Node.Status = n.Status
	}
	for _, s := range c.Shards() {
		if rs, err := c.localReplica(s.ID()); err == nil {
			r.Replicas = append(r.Replicas, *rs)
		}
	}
	return r
}

// handleHeartbeat records a report (control leader only) and answers with
// the replicas the reporter should drop: those not placed on it that their
// shard's leader no longer counts as members.
func (c *Cluster) handleHeartbeat(_ context.Context, req *rpcReq) ([]uint16, error) {
	if c.ctrlRaft.State() != raft.Leader {
		return nil, ErrNoLeader
	}
	rep := req.Report
	if rep == nil || rep.Node.ID == "" {
		return nil, errors.New("cluster: heartbeat without report")
	}
	st := c.ctrl.State()
	known := st.Nodes[rep.Node.ID]
	if known == nil {
		return nil, fmt.Errorf("cluster: %s is not a member", rep.Node.ID)
	}
	if rep.Node.RaftAddr != "" && (known.RaftAddr != rep.Node.RaftAddr || known.HTTPAddr != rep.Node.HTTPAddr) {
		info := NodeInfo{ID: known.ID, RaftAddr: rep.Node.RaftAddr, HTTPAddr: rep.Node.HTTPAddr}
		if _, err := c.proposeControl(controlCmd{Op: "addr", Node: &info}); err != nil {
			return nil, err
		}
	}
	// A node reports its own replicas only.
	own := rep.Replicas[:0:0]
	for _, r := range rep.Replicas {
		if r.Node == rep.Node.ID {
			own = append(own, r)
		}
	}
	rep.Replicas = own
	l := c.leader
	l.mu.Lock()
	l.lastSeen[rep.Node.ID] = time.Now()
	l.reports[rep.Node.ID] = *rep
	l.mu.Unlock()
	var drop []uint16
	for _, r := range rep.Replicas {
		if !st.Holds(rep.Node.ID, int(r.Shard)) && l.removedEverywhere(r.Shard, rep.Node.ID) {
			drop = append(drop, r.Shard)
		}
	}
	return drop, nil
}

// removedEverywhere reports whether node is out of shard's Raft group for
// good: the shard's leader has a committed configuration without it, and
// every voter of that configuration has committed it too (in the leader's
// term). Only then may the node delete its replica: no voter can still count
// on it for a quorum, and none would grant a vote to a stale candidate
// because an empty replica re-created on the node asked it to.
func (l *controlLeader) removedEverywhere(shard uint16, node string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	lr, ok := l.shardLeadersLocked(now)[shard]
	if !ok || lr.ConfigIndex == 0 || slices.Contains(lr.Committed, node) ||
		slices.Contains(lr.Voters, node) || slices.Contains(lr.Nonvoters, node) {
		l.c.log.Trace("replica still in use", "shard", shard, "node", node, "leader", lr)
		return false
	}
	for _, v := range lr.Committed {
		if v == lr.Node {
			continue
		}
		if now.Sub(l.lastSeen[v]) >= l.c.cfg.DownAfter {
			l.c.log.Trace("replica still in use: voter down", "shard", shard, "node", node, "voter", v)
			return false
		}
		found := false
		for _, r := range l.reports[v].Replicas {
			if r.Shard == shard && r.Term == lr.Term && r.CommitIndex >= lr.ConfigIndex {
				found = true
			}
		}
		if !found {
			l.c.log.Trace("replica still in use: voter behind", "shard", shard, "node", node, "voter", v, "leader", lr, "reports", l.reports[v].Replicas)
			return false
		}
	}
	return true
}

// localReplica describes this node's replica of shard.
func (c *Cluster) localReplica(shard uint16) (*ReplicaStatus, error) {
	s := c.Shard(int(shard))
	if s == nil {
		return nil, fmt.Errorf("cluster: no replica of shard %d on %s", shard, c.cfg.NodeID)
	}
	r := s.raft
	_, leader := r.LeaderWithID()
	rs := &ReplicaStatus{Shard: shard, Node: c.cfg.NodeID, Role: r.State().String(), Leader: string(leader),
		Term: r.CurrentTerm(), AppliedIndex: s.fsm.Meta().AppliedIndex, LastIndex: r.LastIndex(),
		CommitIndex: r.CommitIndex(), Ingesting: s.Ingesting()}
	if r.State() == raft.Leader {
		var committed raft.Configuration
		f := r.GetConfiguration()
		rs.ConfigIndex, committed = s.fsm.CommittedConfiguration()
		for _, srv := range committed.Servers {
			rs.Committed = append(rs.Committed, string(srv.ID))
		}
		if f.Error() == nil {
			for _, srv := range f.Configuration().Servers {
				if srv.Suffrage == raft.Voter {
					rs.Voters = append(rs.Voters, string(srv.ID))
				} else {
					rs.Nonvoters = append(rs.Nonvoters, string(srv.ID))
				}
			}
		}
	}
	return rs, nil
}

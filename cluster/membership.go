package cluster

import (
	"context"
	"slices"
	"time"

	"github.com/hashicorp/raft"
)

// catchUpSlack is how many log entries a new replica may trail the leader by
// and still be promoted to voter.
const catchUpSlack = 64

// membershipLoop runs on the shard leader: it moves the group's Raft
// configuration toward the shard's placement one safe step at a time —
// new replicas join as non-voters, are promoted once caught up, and only
// then are unplaced servers removed; leadership moves to the preferred
// replica when it is caught up.
func (s *Shard) membershipLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.Config.ReconcileInterval)
	defer t.Stop()
	lastTransfer := time.Now() // give a fresh leader time before handing over
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if s.cfg.Host == nil {
			continue
		}
		if err := s.reconcileMembers(ctx, &lastTransfer); err != nil && ctx.Err() == nil {
			s.cfg.Logger.Debug("membership step", "shard", s.cfg.ID, "error", err)
		}
	}
}

func (s *Shard) reconcileMembers(ctx context.Context, lastTransfer *time.Time) error {
	h := s.cfg.Host
	st := h.ctrl.State()
	if int(s.cfg.ID) >= len(st.Placement) {
		return nil
	}
	target := st.Placement[s.cfg.ID]
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	servers := f.Configuration().Servers
	find := func(id string) *raft.Server {
		for i := range servers {
			if string(servers[i].ID) == id {
				return &servers[i]
			}
		}
		return nil
	}
	timeout := s.cfg.Config.ProposeTimeout
	self := s.cfg.NodeID
	// 1. Add missing replicas as non-voters (they do not count for quorum
	// while a snapshot and the log catch them up).
	for _, id := range target {
		if find(id) == nil {
			addr := h.nodeAddr(id)
			if addr == "" {
				continue
			}
			s.cfg.Logger.Info("adding shard replica", "shard", s.cfg.ID, "node", id)
			return s.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeout).Error()
		}
	}
	// 2. Promote caught-up non-voters.
	for _, id := range target {
		if srv := find(id); srv != nil && srv.Suffrage != raft.Voter && s.caughtUp(ctx, id) {
			s.cfg.Logger.Info("promoting shard replica", "shard", s.cfg.ID, "node", id)
			return s.raft.AddVoter(srv.ID, srv.Address, 0, timeout).Error()
		}
	}
	// 3. Remove unplaced servers once every placed node is a voter.
	allVoters := true
	for _, id := range target {
		if srv := find(id); srv == nil || srv.Suffrage != raft.Voter {
			allVoters = false
		}
	}
	for _, srv := range servers {
		id := string(srv.ID)
		if slices.Contains(target, id) || (!allVoters && srv.Suffrage == raft.Voter) {
			continue
		}
		if id == self {
			// Hand leadership to a caught-up placed voter; it removes us.
			return s.transferTo(ctx, target, lastTransfer)
		}
		s.cfg.Logger.Info("removing shard replica", "shard", s.cfg.ID, "node", id)
		return s.raft.RemoveServer(srv.ID, 0, timeout).Error()
	}
	// 4. Leader balance: the first placed node is the preferred leader.
	if len(target) > 1 && target[0] != self && time.Since(*lastTransfer) > 5*time.Second {
		if srv := find(target[0]); srv != nil && srv.Suffrage == raft.Voter && s.caughtUp(ctx, target[0]) {
			return s.transferTo(ctx, target[:1], lastTransfer)
		}
	}
	return nil
}

// transferTo hands leadership to the first caught-up voter among ids.
func (s *Shard) transferTo(ctx context.Context, ids []string, lastTransfer *time.Time) error {
	for _, id := range ids {
		if id == s.cfg.NodeID || !s.caughtUp(ctx, id) {
			continue
		}
		addr := s.cfg.Host.nodeAddr(id)
		if addr == "" {
			continue
		}
		*lastTransfer = time.Now()
		s.cfg.Logger.Info("transferring shard leadership", "shard", s.cfg.ID, "to", id)
		return s.raft.LeadershipTransferToServer(raft.ServerID(id), raft.ServerAddress(addr)).Error()
	}
	return nil
}

// caughtUp asks node how far its replica of this shard has got.
func (s *Shard) caughtUp(ctx context.Context, node string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	rs, err := s.cfg.Host.replicaStatus(ctx, node, s.cfg.ID)
	if err != nil {
		return false
	}
	return rs.LastIndex+catchUpSlack >= s.raft.LastIndex()
}

package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/raft"
)

// Read consistencies (external contract: ?consistency= on the HTTP API).
const (
	Stale  = "stale"  // any replica, as of its applied index
	Strong = "strong" // linearizable: through the shard leader after a barrier
)

// Ready returns nil once this node is a member, and every shard it holds
// has a leader and, where this node leads, ingests.
func (c *Cluster) Ready() error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return ErrClosed
	}
	st := c.ctrl.State()
	if n := st.Nodes[c.cfg.NodeID]; n == nil {
		return errors.New("not a cluster member yet")
	}
	for i := 0; i < st.Shards; i++ {
		if !st.Holds(c.cfg.NodeID, i) {
			continue
		}
		s := c.shards[uint16(i)]
		switch {
		case s == nil:
			return fmt.Errorf("shard %d replica not open", i)
		case !s.HasLeader():
			return fmt.Errorf("shard %d has no leader", i)
		case s.IsLeader() && !s.Ingesting():
			return fmt.Errorf("shard %d is not ingesting", i)
		}
	}
	return nil
}

// User reads a user's state, stale-ok (see ReadUser).
func (c *Cluster) User(user string) (UserView, error) {
	return c.ReadUser(context.Background(), user, false)
}

// ReadUser reads a user's state from any node. Stale reads come from the
// local replica when there is one (reporting its applied index), else from
// a replica elsewhere. Strong reads are linearizable: the shard leader
// commits a barrier (proving it still leads and applying everything
// committed before the read started) and then reads.
func (c *Cluster) ReadUser(ctx context.Context, user string, strong bool) (UserView, error) {
	return c.readUser(ctx, user, strong, 0)
}

func (c *Cluster) readUser(ctx context.Context, user string, strong bool, hops int) (UserView, error) {
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return UserView{}, ErrClosed
	}
	shard := uint16(c.ShardOf(user))
	s := c.shards[shard]
	c.mu.RUnlock()
	if s != nil && (!strong || s.IsLeader()) {
		if strong {
			if err := s.Barrier(c.cfg.ProposeTimeout); err != nil {
				return UserView{}, fmt.Errorf("cluster: strong read of shard %d: %w", shard, err)
			}
		}
		// Read under the lock, from the replica still registered: a replica
		// being dropped is unregistered first, so its deleted keys are never
		// read as "unknown user".
		c.mu.RLock()
		if !c.closed && c.shards[shard] == s {
			v, err := s.FSM().User(user)
			c.mu.RUnlock()
			v.Node, v.Consistency = c.cfg.NodeID, consistency(strong)
			return v, err
		}
		c.mu.RUnlock()
		s = nil // dropped meanwhile: ask another replica
	}
	if hops >= maxHops {
		return UserView{}, fmt.Errorf("cluster: shard %d: %w", shard, ErrNoLeader)
	}
	req := &rpcReq{Op: "user", User: user, Strong: strong, Hops: hops}
	var errs []error
	for _, id := range c.routeCandidates(shard, s) {
		addr := c.nodeAddr(id)
		if addr == "" {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, c.cfg.ProposeTimeout)
		resp, err := c.call(cctx, addr, req)
		cancel()
		if errors.Is(err, ErrUnknownUser) {
			return UserView{}, err
		}
		if err == nil && resp.User != nil {
			return *resp.User, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", id, err))
		if ctx.Err() != nil {
			break
		}
	}
	return UserView{}, fmt.Errorf("cluster: shard %d: %w", shard, errors.Join(append(errs, ErrNoReplica)...))
}

func consistency(strong bool) string {
	if strong {
		return Strong
	}
	return Stale
}

// routeCandidates orders the nodes to forward a read of shard to: the leader
// this node knows of first, then the placement's preferred order.
func (c *Cluster) routeCandidates(shard uint16, local *Shard) []string {
	var out []string
	if local != nil {
		if _, id := local.raft.LeaderWithID(); id != "" && string(id) != c.cfg.NodeID {
			out = append(out, string(id))
		}
	}
	st := c.ctrl.State()
	if int(shard) < len(st.Placement) {
		for _, id := range st.Placement[shard] {
			if id != c.cfg.NodeID && !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	return out
}

// TierCounts returns how many users are in each tier of each dimension,
// over every shard (local replicas stale-ok; others asked of a replica).
func (c *Cluster) TierCounts() (map[string]map[string]int64, error) {
	return c.TierCountsContext(context.Background())
}

// TierCountsContext is TierCounts with a deadline.
func (c *Cluster) TierCountsContext(ctx context.Context) (map[string]map[string]int64, error) {
	c.mu.RLock()
	closed := c.closed
	c.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	dims := c.deps.Model.Dimensions()
	out := make(map[string]map[string]int64, len(dims))
	for _, d := range dims {
		m := make(map[string]int64, len(d.Tiers))
		for _, t := range d.Tiers {
			m[t] = 0
		}
		out[d.Name] = m
	}
	for i := 0; i < c.NumShards(); i++ {
		counts, err := c.shardCounts(ctx, uint16(i))
		if err != nil {
			return nil, err
		}
		k := 0
		for _, d := range dims {
			for _, t := range d.Tiers {
				if k < len(counts) {
					out[d.Name][t] += counts[k]
				}
				k++
			}
		}
	}
	return out, nil
}

func (c *Cluster) shardCounts(ctx context.Context, shard uint16) ([]int64, error) {
	if counts, err := c.localCounts(shard); err == nil {
		return counts, nil
	}
	var errs []error
	for _, id := range c.routeCandidates(shard, nil) {
		cctx, cancel := context.WithTimeout(ctx, c.cfg.ProposeTimeout)
		resp, err := c.call(cctx, c.nodeAddr(id), &rpcReq{Op: "counts", Shard: shard})
		cancel()
		if err == nil {
			return resp.Counts, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("cluster: tier counts of shard %d: %w", shard, errors.Join(append(errs, ErrNoReplica)...))
}

func (c *Cluster) localCounts(shard uint16) ([]int64, error) {
	s := c.Shard(int(shard))
	if s == nil {
		return nil, fmt.Errorf("cluster: no replica of shard %d here", shard)
	}
	return s.FSM().Meta().Counts, nil
}

// Barrier waits until every shard this node leads has applied everything
// proposed so far (followers are skipped).
func (c *Cluster) Barrier(timeout time.Duration) error {
	for _, s := range c.Shards() {
		if s.raft.State() != raft.Leader {
			continue
		}
		if err := s.Barrier(timeout); err != nil {
			return fmt.Errorf("shard %d: %w", s.ID(), err)
		}
	}
	return nil
}

// Status returns the cluster as the control leader sees it.
func (c *Cluster) Status(ctx context.Context) (*Status, error) { return c.status(ctx, 0) }

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

// TierCounts returns how many users are in each tier of each dimension of
// the active model, over every shard (local replicas stale-ok; others asked
// of a replica).
func (c *Cluster) TierCounts() (map[string]map[string]int64, error) {
	return c.TierCountsContext(context.Background())
}

// TierCountsContext is TierCounts with a deadline.
func (c *Cluster) TierCountsContext(ctx context.Context) (map[string]map[string]int64, error) {
	counts, err := c.tierCounts(ctx, countActive)
	if err != nil {
		return nil, err
	}
	return counts.tiers, nil
}

// clusterCounts are tier counts summed over the shards.
type clusterCounts struct {
	model string                      // the active (or shadow) model's name
	tiers map[string]map[string]int64 // dimension → tier → users
	moves map[string]map[[2]string]int64
	// sweeping: some shard still moves users between models.
	sweeping bool
}

// tierCounts sums kind's counts over every shard, with every tier of the
// active model (kind countActive) or the shadow model (countShadow,
// countMove) present.
func (c *Cluster) tierCounts(ctx context.Context, kind byte) (*clusterCounts, error) {
	c.mu.RLock()
	closed := c.closed
	c.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	out := &clusterCounts{tiers: map[string]map[string]int64{}, moves: map[string]map[[2]string]int64{}}
	for i := 0; i < c.NumShards(); i++ {
		m, err := c.shardModels(ctx, uint16(i))
		if err != nil {
			return nil, err
		}
		out.sweeping = out.sweeping || m.Sweeping
		if i == 0 {
			out.model = m.Active
			if kind != countActive {
				out.model = m.Shadow
			}
		}
		for _, n := range m.Counts {
			switch {
			case kind == countActive && n.Kind == string(countActive),
				kind != countActive && n.Kind == string(countShadow):
				if out.tiers[n.Dim] == nil {
					out.tiers[n.Dim] = map[string]int64{}
				}
				out.tiers[n.Dim][n.To] += n.N
			case kind != countActive && n.Kind == string(countMove):
				if out.moves[n.Dim] == nil {
					out.moves[n.Dim] = map[[2]string]int64{}
				}
				out.moves[n.Dim][[2]string{n.From, n.To}] += n.N
			}
		}
	}
	plan := c.ModelPlan()
	src := plan.Active
	if kind != countActive {
		src = plan.Candidate
	}
	if dims, err := c.compiled(src); err == nil && (kind == countActive || src != nil) {
		for _, d := range dims.Dimensions() {
			if out.tiers[d.Name] == nil {
				out.tiers[d.Name] = map[string]int64{}
			}
			for _, t := range d.Tiers {
				out.tiers[d.Name][t] += 0
			}
		}
	}
	return out, nil
}

// compiled returns the model of src (nil: the built-in), compiled once.
func (c *Cluster) compiled(src *ModelSource) (Model, error) {
	if src.Builtin() {
		return c.deps.Model, nil
	}
	c.modelCache.Lock()
	defer c.modelCache.Unlock()
	if m := c.modelCache.m[src.ID]; m != nil {
		return m, nil
	}
	m, err := compileModel(src, c.deps.Model)
	if err != nil {
		return nil, err
	}
	if c.modelCache.m == nil {
		c.modelCache.m = map[string]Model{}
	}
	c.modelCache.m[src.ID] = m
	return m, nil
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

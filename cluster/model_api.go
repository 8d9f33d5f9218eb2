package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// ShardModels is where one shard stands with the model plan (external
// contract: GET /v1/model, "shards").
type ShardModels struct {
	Shard      uint16 `json:"shard"`
	Generation uint64 `json:"generation"` // plan generation the shard follows
	Active     string `json:"active"`
	Shadow     string `json:"shadow,omitempty"`
	// Sweeping: users are still being moved to the plan; Swept is the last
	// user (in byte order) moved so far.
	Sweeping bool   `json:"sweeping"`
	Swept    string `json:"swept,omitempty"`
	// RFMGeneration is the generation of the RFM edges the shard follows.
	RFMGeneration uint64 `json:"rfm_generation"`
	// Counts: users per tier (kind "a": active model, "s": shadow model,
	// "m": shadow moves active tier → shadow tier).
	Counts []tierCount `json:"counts,omitempty"`
}

// publishModels publishes where the shard stands with its models, after a
// commit (or a load); a change wakes the leader's model loop.
func (f *FSM) publishModels() {
	v := ShardModels{Shard: f.cfg.Shard, Generation: f.rec.Generation, Active: f.active.Name(),
		Shadow: modelName(f.candidate), Sweeping: f.rec.Sweeping, Swept: f.rec.SweepAfter, RFMGeneration: f.rec.RFMGeneration}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mu.modelsCh == nil {
		f.mu.modelsCh = make(chan struct{})
	}
	w := f.mu.view
	if v.Generation != w.Generation || v.Active != w.Active || v.Shadow != w.Shadow || v.RFMGeneration != w.RFMGeneration ||
		v.Sweeping != w.Sweeping || v.Swept != w.Swept || f.mu.view.Active == "" {
		f.mu.view = v
		close(f.mu.modelsCh)
		f.mu.modelsCh = make(chan struct{})
	}
}

// Models returns where the shard stands with the model plan, with its
// counts, as of the last commit (any goroutine).
func (f *FSM) Models() ShardModels {
	f.mu.Lock()
	v := f.mu.view
	keys := make([]countKey, 0, len(f.mu.counts))
	for k := range f.mu.counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, countKey.compare)
	for _, k := range keys {
		v.Counts = append(v.Counts, tierCount{Kind: string(k.kind), Dim: k.dim, From: k.from, To: k.to, N: f.mu.counts[k]})
	}
	f.mu.Unlock()
	return v
}

// modelsView is Models without the counts: what the leader's model loop
// reads after every change.
func (f *FSM) modelsView() ShardModels {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mu.view
}

// modelLoop carries the control group's model plan into the shard's log and
// steps the sweep that follows a change, while this node leads the shard.
func (s *Shard) modelLoop(ctx context.Context) {
	cfg := s.cfg.Config
	for ctx.Err() == nil {
		changed := s.cfg.Host.ctrl.Changed()
		plan := s.cfg.Host.ctrl.State().Models
		cur := s.fsm.modelsView()
		rfm := s.cfg.Host.ctrl.State().RFM
		switch {
		case rfm.Generation > cur.RFMGeneration:
			b, err := appendRFM(nil, s.cfg.Clock.Now().UnixMilli(), &rfm)
			if err == nil {
				err = s.propose(b).Error()
			}
			if err != nil {
				if ctx.Err() == nil {
					s.cfg.Logger.Warn("rfm edges proposal failed", "shard", s.cfg.ID, "error", err)
				}
				if !sleepCtx(ctx, cfg.TickInterval) {
					return
				}
			}
			continue
		case plan.Generation > cur.Generation:
			b, err := appendModel(nil, s.cfg.Clock.Now().UnixMilli(), &plan)
			if err == nil {
				err = s.propose(b).Error()
			}
			if err != nil {
				if ctx.Err() == nil {
					s.cfg.Logger.Warn("model plan proposal failed", "shard", s.cfg.ID, "error", err)
				}
				if !sleepCtx(ctx, cfg.TickInterval) {
					return
				}
			}
			continue
		case cur.Sweeping:
			f := s.propose(appendSweep(nil, s.cfg.Clock.Now().UnixMilli(), uint64(cfg.SweepBatch)))
			if err := f.Error(); err != nil && ctx.Err() == nil {
				s.cfg.Logger.Warn("model sweep failed", "shard", s.cfg.ID, "error", err)
			}
			if !sleepCtx(ctx, cfg.SweepInterval) {
				return
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-s.fsm.modelsChanged():
		}
	}
}

// modelsChanged returns a channel closed at the next commit that changes the
// shard's model record.
func (f *FSM) modelsChanged() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mu.modelsCh == nil {
		f.mu.modelsCh = make(chan struct{})
	}
	return f.mu.modelsCh
}

// ModelPlan returns the cluster's model plan as this node knows it.
func (c *Cluster) ModelPlan() ModelPlan { return c.ctrl.State().Models }

// ChangeModel changes the cluster's model plan through the control group
// (on its leader, forwarded there if needed) and returns the new plan. A
// model source must have been checked with ParseModelSource.
func (c *Cluster) ChangeModel(ctx context.Context, ch ModelChange) (ModelPlan, error) {
	return c.changeModel(ctx, ch, 0)
}

func (c *Cluster) changeModel(ctx context.Context, ch ModelChange, hops int) (ModelPlan, error) {
	if ch.Source != nil && !ch.Source.Builtin() {
		// Never let a model no replica can compile into the plan.
		src, err := ParseModelSource(ch.Source.File, []byte(ch.Source.Source))
		if err != nil {
			return ModelPlan{}, err
		}
		ch.Source = src
	}
	var plan ModelPlan
	resp, err := c.toControlLeader(ctx, &rpcReq{Op: "model", Model: &ch, Hops: hops}, func() error {
		_, err := c.proposeControl(controlCmd{Op: "model", Model: &ch})
		if err == nil {
			plan = c.ctrl.State().Models
		}
		return err
	})
	if err != nil {
		var re *RemoteError
		if errors.As(err, &re) && strings.Contains(re.Error(), ErrModelConflict.Error()) {
			return ModelPlan{}, fmt.Errorf("%w (at the control leader: %s)", ErrModelConflict, re.Error())
		}
		return ModelPlan{}, err
	}
	if resp != nil && resp.Plan != nil {
		plan = *resp.Plan
	}
	return plan, nil
}

// ModelStatus is the cluster's model plan and where every shard stands.
type ModelStatus struct {
	Plan   ModelPlan     `json:"plan"`
	Shards []ShardModels `json:"shards"`
}

// ModelsStatus returns the plan and every shard's model state (from a
// replica of each: local ones stale-ok, others asked).
func (c *Cluster) ModelsStatus(ctx context.Context) (*ModelStatus, error) {
	st := &ModelStatus{Plan: c.ModelPlan()}
	for i := 0; i < c.NumShards(); i++ {
		m, err := c.shardModels(ctx, uint16(i))
		if err != nil {
			return nil, err
		}
		st.Shards = append(st.Shards, *m)
	}
	return st, nil
}

func (c *Cluster) shardModels(ctx context.Context, shard uint16) (*ShardModels, error) {
	if s := c.Shard(int(shard)); s != nil {
		m := s.FSM().Models()
		return &m, nil
	}
	var errs []error
	for _, id := range c.routeCandidates(shard, nil) {
		cctx, cancel := context.WithTimeout(ctx, c.cfg.ProposeTimeout)
		resp, err := c.call(cctx, c.nodeAddr(id), &rpcReq{Op: "models", Shard: shard})
		cancel()
		if err == nil && resp.Models != nil {
			return resp.Models, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("cluster: models of shard %d: %w", shard, errors.Join(append(errs, ErrNoReplica)...))
}

// WaitModels waits until every shard follows plan generation gen and has
// finished its sweep (tests and tools).
func (c *Cluster) WaitModels(ctx context.Context, gen uint64) error {
	for {
		st, err := c.ModelsStatus(ctx)
		done := err == nil
		if done {
			for _, s := range st.Shards {
				if s.Generation < gen || s.Sweeping {
					done = false
				}
			}
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: waiting for model generation %d: %w", gen, errors.Join(err, ctx.Err()))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// ShadowCounts is what the shadow model would change, summed over shards.
type ShadowCounts struct {
	Active, Shadow string
	// Complete: every shard evaluated every user under the shadow model.
	Complete bool
	Tiers    map[string]map[string]int64    // shadow dimension → tier → users
	Moves    map[string]map[[2]string]int64 // shadow dimension → (active tier, shadow tier) → users
}

// ShadowCounts sums the shadow model's counts over every shard;
// ErrModelConflict when no model runs in shadow.
func (c *Cluster) ShadowCounts(ctx context.Context) (*ShadowCounts, error) {
	plan := c.ModelPlan()
	if plan.Candidate == nil {
		return nil, fmt.Errorf("%w: no model runs in shadow", ErrModelConflict)
	}
	counts, err := c.tierCounts(ctx, countShadow)
	if err != nil {
		return nil, err
	}
	return &ShadowCounts{Active: plan.ActiveID(), Shadow: plan.Candidate.ID, Complete: !counts.sweeping && counts.model == plan.Candidate.ID,
		Tiers: counts.tiers, Moves: counts.moves}, nil
}

// maxMembersPage bounds one page of a tier's members.
const maxMembersPage = 1000

// Members lists up to limit members of tier `tier` of dimension dim whose
// IDs sort after `after` ("" from the first), in byte order, merged over
// every shard's member index (local replicas stale-ok, others asked of a
// replica); more says whether further members follow.
func (c *Cluster) Members(ctx context.Context, dim, tier, after string, limit int) (users []string, more bool, err error) {
	limit = min(max(limit, 1), maxMembersPage)
	for i := 0; i < c.NumShards(); i++ {
		page, pageMore, err := c.shardMembers(ctx, uint16(i), dim, tier, after, limit)
		if err != nil {
			return nil, false, err
		}
		users = append(users, page...)
		more = more || pageMore
	}
	sort.Strings(users)
	if len(users) > limit {
		users, more = users[:limit], true
	}
	return users, more, nil
}

func (c *Cluster) shardMembers(ctx context.Context, shard uint16, dim, tier, after string, limit int) ([]string, bool, error) {
	if users, more, err := c.localMembers(shard, dim, tier, after, limit); err == nil {
		return users, more, nil
	}
	var errs []error
	for _, id := range c.routeCandidates(shard, nil) {
		cctx, cancel := context.WithTimeout(ctx, c.cfg.ProposeTimeout)
		resp, err := c.call(cctx, c.nodeAddr(id), &rpcReq{Op: "members", Shard: shard, Dim: dim, Tier: tier, After: after, Limit: limit})
		cancel()
		if err == nil {
			return resp.Users, resp.More, nil
		}
		errs = append(errs, err)
	}
	return nil, false, fmt.Errorf("cluster: members of shard %d: %w", shard, errors.Join(append(errs, ErrNoReplica)...))
}

func (c *Cluster) localMembers(shard uint16, dim, tier, after string, limit int) ([]string, bool, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	s := c.shards[shard]
	if s == nil || c.closed {
		return nil, false, fmt.Errorf("cluster: no replica of shard %d here", shard)
	}
	var users []string
	more, err := s.FSM().store.Members(dim, tier, after, min(max(limit, 1), maxMembersPage), func(u string) error {
		users = append(users, u)
		return nil
	})
	return users, more, err
}

// Explain explains a user's tiers from any replica of its shard (the local
// one if this node has it, stale-ok).
func (c *Cluster) Explain(ctx context.Context, user string) (ExplainView, error) {
	shard := uint16(c.ShardOf(user))
	c.mu.RLock()
	s := c.shards[shard]
	if s != nil && !c.closed {
		v, err := s.FSM().Explain(user)
		c.mu.RUnlock()
		v.Node = c.cfg.NodeID
		return v, err
	}
	c.mu.RUnlock()
	var errs []error
	for _, id := range c.routeCandidates(shard, nil) {
		cctx, cancel := context.WithTimeout(ctx, c.cfg.ProposeTimeout)
		resp, err := c.call(cctx, c.nodeAddr(id), &rpcReq{Op: "explain", User: user})
		cancel()
		if errors.Is(err, ErrUnknownUser) {
			return ExplainView{}, err
		}
		if err == nil && resp.Explain != nil {
			return *resp.Explain, nil
		}
		errs = append(errs, err)
	}
	return ExplainView{}, fmt.Errorf("cluster: explain %q: %w", user, errors.Join(append(errs, ErrNoReplica)...))
}

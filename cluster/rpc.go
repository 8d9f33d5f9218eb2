package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/raft"
)

// RPC between nodes runs over the mux (so it shares the listener and the
// mutual TLS of Raft). Requests and responses are small JSON documents.
type rpcReq struct {
	Op     string       `json:"op"` // join, leave, heartbeat, status, user, counts, replica, model, models, members, explain
	Node   *NodeInfo    `json:"node,omitempty"`
	Report *nodeReport  `json:"report,omitempty"`
	Target string       `json:"target,omitempty"` // leave: the node to decommission
	User   string       `json:"user,omitempty"`
	Strong bool         `json:"strong,omitempty"`
	Shard  uint16       `json:"shard,omitempty"`
	Hops   int          `json:"hops,omitempty"`
	Model  *ModelChange `json:"model,omitempty"`
	// members: a page of a tier's members after After.
	Dim   string `json:"dim,omitempty"`
	Tier  string `json:"tier,omitempty"`
	After string `json:"after,omitempty"`
	Limit int    `json:"limit,omitempty"`
}

type rpcResp struct {
	Drop    []uint16       `json:"drop,omitempty"`
	User    *UserView      `json:"user,omitempty"`
	Status  *Status        `json:"status,omitempty"`
	Replica *ReplicaStatus `json:"replica,omitempty"`
	Plan    *ModelPlan     `json:"plan,omitempty"`
	Models  *ShardModels   `json:"models,omitempty"`
	Users   []string       `json:"users,omitempty"`
	More    bool           `json:"more,omitempty"`
	History []HistoryEntry `json:"history,omitempty"`
	Sketch  []byte         `json:"sketch,omitempty"`
	Explain *ExplainView   `json:"explain,omitempty"`
	Report  *reportPart    `json:"report,omitempty"`
}

// maxHops bounds forwarding (a request goes to the control or shard leader
// as this node knows it, which may forward once more if that changed).
const maxHops = 3

// call sends req to the node at addr and decodes the response.
func (c *Cluster) call(ctx context.Context, addr string, req *rpcReq) (*rpcResp, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	out, err := c.mux.Call(ctx, addr, b)
	if err != nil {
		var re *RemoteError
		if errors.As(err, &re) && re.Error() == ErrUnknownUser.Error() {
			return nil, ErrUnknownUser
		}
		return nil, err
	}
	var resp rpcResp
	if err := json.Unmarshal(out, &resp); err != nil {
		return nil, fmt.Errorf("cluster: bad response from %s: %w", addr, err)
	}
	return &resp, nil
}

// handleRPC serves requests from other nodes. peer is the caller's node ID
// (authenticated with mutual TLS, claimed otherwise).
func (c *Cluster) handleRPC(ctx context.Context, peer string, body []byte) ([]byte, error) {
	var req rpcReq
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("cluster: bad request: %w", err)
	}
	if req.Hops > maxHops {
		return nil, errors.New("cluster: too many hops")
	}
	if !c.ready.Load() && req.Op != "replica" {
		return nil, errNotReady
	}
	isMember := func() error {
		if c.ctrl.State().Nodes[peer] == nil {
			return fmt.Errorf("cluster: %q is not a member", peer)
		}
		return nil
	}
	var resp rpcResp
	var err error
	switch req.Op {
	case "join":
		// The joiner asks for itself; members may forward its request.
		if req.Node != nil && req.Node.ID != peer {
			err = isMember()
		}
		if err == nil {
			err = c.handleJoin(ctx, &req)
		}
	case "leave":
		if err = isMember(); err == nil {
			err = c.Leave(ctx, req.Target, req.Hops+1)
		}
	case "heartbeat":
		if req.Report == nil || req.Report.Node.ID != peer {
			err = fmt.Errorf("cluster: heartbeat from %q about another node", peer)
		} else {
			resp.Drop, err = c.handleHeartbeat(ctx, &req)
		}
	case "status":
		resp.Status, err = c.status(ctx, req.Hops+1)
	case "user":
		var v UserView
		v, err = c.readUser(ctx, req.User, req.Strong, req.Hops+1)
		resp.User = &v
	case "replica":
		resp.Replica, err = c.localReplica(req.Shard)
	case "model":
		if req.Model == nil {
			err = errors.New("cluster: model request without a change")
			break
		}
		var plan ModelPlan
		if err = isMember(); err == nil {
			plan, err = c.changeModel(ctx, *req.Model, req.Hops+1)
			resp.Plan = &plan
		}
	case "members":
		resp.Users, resp.More, err = c.localMembers(req.Shard, req.Dim, req.Tier, req.After, req.Limit)
	case "explain":
		s := c.Shard(c.ShardOf(req.User))
		if s == nil {
			err = fmt.Errorf("cluster: no replica of %q's shard here", req.User)
			break
		}
		var v ExplainView
		v, err = s.FSM().Explain(req.User)
		v.Node = c.cfg.NodeID
		resp.Explain = &v
	case "report":
		s := c.Shard(int(req.Shard))
		if s == nil {
			err = fmt.Errorf("cluster: no replica of shard %d here", req.Shard)
			break
		}
		resp.Report, err = s.FSM().reportPart(req.Limit)
	case "sketch":
		resp.Sketch, err = c.localSketch(req.Shard)
	case "models":
		s := c.Shard(int(req.Shard))
		if s == nil {
			err = fmt.Errorf("cluster: no replica of shard %d here", req.Shard)
			break
		}
		m := s.FSM().Models()
		resp.Models = &m
	default:
		err = fmt.Errorf("cluster: unknown op %q", req.Op)
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(&resp)
}

// controlLeader returns the control group leader's ID and address.
func (c *Cluster) controlLeader() (id, addr string) {
	a, i := c.ctrlRaft.LeaderWithID()
	id = string(i)
	if id == "" {
		return "", ""
	}
	if addr = c.nodeAddr(id); addr == "" {
		addr = string(a)
	}
	return id, addr
}

// toControlLeader runs fn here if this node leads the control group, else
// forwards req to the leader.
func (c *Cluster) toControlLeader(ctx context.Context, req *rpcReq, local func() error) (*rpcResp, error) {
	if c.ctrlRaft.State() == raft.Leader {
		return nil, local()
	}
	id, addr := c.controlLeader()
	if id == "" || id == c.cfg.NodeID {
		return nil, ErrNoLeader
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ProposeTimeout)
	defer cancel()
	return c.call(ctx, addr, req)
}

// join asks the members in Config.Join, in turn and until one accepts, to
// add this node.
func (c *Cluster) join(ctx context.Context) error {
	req := &rpcReq{Op: "join", Node: c.selfInfo()}
	delay := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		var errs []error
		for _, addr := range c.cfg.Join {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := c.call(cctx, addr, req)
			cancel()
			if err == nil {
				c.log.Info("joined cluster", "via", addr)
				return nil
			}
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
		}
		log := c.log.Info // members still electing a leader is normal at first
		if attempt > 10 {
			log = c.log.Warn
		}
		log("join failed, retrying", "error", errors.Join(errs...))
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: join: %w", errors.Join(append(errs, ctx.Err())...))
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// handleJoin adds a node to the control group and the member table.
func (c *Cluster) handleJoin(ctx context.Context, req *rpcReq) error {
	n := req.Node
	if n == nil || n.ID == "" || n.RaftAddr == "" {
		return errors.New("cluster: join without node id and address")
	}
	req.Hops++
	_, err := c.toControlLeader(ctx, req, func() error {
		if _, err := c.proposeControl(controlCmd{Op: "join", Node: n}); err != nil {
			return err
		}
		c.leader.seen(n.ID)
		add := c.ctrlRaft.AddVoter
		if voters := c.voters(c.ctrlRaft); len(voters) >= maxControlVoters && !slices.Contains(voters, n.ID) {
			add = c.ctrlRaft.AddNonvoter
		}
		return add(raft.ServerID(n.ID), raft.ServerAddress(n.RaftAddr), 0, c.cfg.ProposeTimeout).Error()
	})
	return err
}

// Leave starts decommissioning a node: its replicas move to other nodes,
// then it leaves the control group and its status becomes "left".
func (c *Cluster) Leave(ctx context.Context, node string, hops int) error {
	if node == "" {
		return errors.New("cluster: leave: node id is empty")
	}
	_, err := c.toControlLeader(ctx, &rpcReq{Op: "leave", Target: node, Hops: hops}, func() error {
		n := c.ctrl.State().Nodes[node]
		if n == nil {
			return fmt.Errorf("cluster: leave: unknown node %q", node)
		}
		if n.Status != NodeActive {
			return nil
		}
		_, err := c.proposeControl(controlCmd{Op: "status", From: NodeActive,
			Node: &NodeInfo{ID: node, Status: NodeLeaving}})
		return err
	})
	return err
}

// proposeControl applies a control command through the control group (this
// node must lead it) and returns the FSM's response error.
func (c *Cluster) proposeControl(cmd controlCmd) (any, error) {
	b, err := json.Marshal(cmd)
	if err != nil {
		return nil, err
	}
	f := c.ctrlRaft.Apply(b, c.cfg.ProposeTimeout)
	if err := f.Error(); err != nil {
		return nil, err
	}
	if err, ok := f.Response().(error); ok {
		return nil, err
	}
	return f.Response(), nil
}

// replicaStatus asks node for its replica of shard (this node included).
func (c *Cluster) replicaStatus(ctx context.Context, node string, shard uint16) (*ReplicaStatus, error) {
	if node == c.cfg.NodeID {
		return c.localReplica(shard)
	}
	addr := c.nodeAddr(node)
	if addr == "" {
		return nil, fmt.Errorf("cluster: unknown node %q", node)
	}
	resp, err := c.call(ctx, addr, &rpcReq{Op: "replica", Shard: shard})
	if err != nil {
		return nil, err
	}
	if resp.Replica == nil {
		return nil, errors.New("cluster: empty replica status")
	}
	return resp.Replica, nil
}

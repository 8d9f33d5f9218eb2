package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-io/strata/scoring"
	"github.com/strata-io/strata/storage"
)

// Deps are the services a Cluster runs on; the node owns and closes them.
type Deps struct {
	DB      *storage.DB
	Model   *scoring.Model
	JS      jetstream.JetStream
	Clock   Clock        // nil: SystemClock
	Metrics *Metrics     // nil: unregistered
	Logger  hclog.Logger // nil: no logs
	// RaftLogger receives hashicorp/raft's logs (nil: Logger.Named("raft")).
	// Raft is chatty at Info: nodes usually give it a higher level.
	RaftLogger hclog.Logger
	// Listener, if set, is used instead of listening on Config.RaftAddr
	// (the Cluster closes it).
	Listener net.Listener
	TLS      *TLSConfig // nil: plaintext between nodes
	Faults   *Faults    // tests: fault injection on the transport
}

// Cluster is this node's part of the cluster: the control group (membership
// and placement), the shard replicas placed on this node, and the loops that
// keep them in line with the placement.
type Cluster struct {
	cfg  Config
	deps Deps
	log  hclog.Logger

	mux       *Mux
	advertise string
	ctrl      *controlFSM
	ctrlRaft  *raft.Raft
	ctrlTrans *raft.NetworkTransport
	leader    *controlLeader // control-leader duties (liveness, planning)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ready  atomic.Bool // Open finished: serve node-to-node requests

	// mu guards closed and shards. Local reads hold it shared while they
	// read a replica, so a replica is never read after it was unregistered
	// for dropping; reads after Close get ErrClosed (HTTP and NATS handlers
	// may outlive their servers' shutdown by a little).
	mu     sync.RWMutex
	closed bool
	shards map[uint16]*Shard
	host   sync.Mutex // serializes opening and dropping shards

	// modelCache holds the plan's models, compiled once (by name@vN).
	modelCache struct {
		sync.Mutex
		m map[string]Model
	}
}

// Open creates Strata's streams if needed, starts the node's transport and
// control group, then forms a new cluster (no Join, no data), joins one
// (Join set) or resumes from the data dir; it returns once this node knows
// the placement and has opened the shard replicas placed on it.
func Open(ctx context.Context, cfg Config, deps Deps) (_ *Cluster, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Clock == nil {
		deps.Clock = SystemClock
	}
	if deps.Metrics == nil {
		deps.Metrics = NewMetrics(nil)
	}
	if deps.Logger == nil {
		deps.Logger = hclog.NewNullLogger()
	}
	if deps.RaftLogger == nil {
		deps.RaftLogger = deps.Logger.Named("raft")
	}
	c := &Cluster{cfg: cfg, deps: deps, log: deps.Logger, shards: map[uint16]*Shard{}}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.leader = newControlLeader(c)
	defer func() {
		if err != nil {
			_ = c.Close()
		}
	}()
	ln := deps.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.RaftAddr); err != nil {
			return nil, fmt.Errorf("cluster: raft listen: %w", err)
		}
	}
	c.advertise = cfg.Advertise
	if c.advertise == "" {
		c.advertise = ln.Addr().String()
	}
	c.mux, err = NewMux(MuxConfig{NodeID: cfg.NodeID, Listener: ln, TLS: deps.TLS, Faults: deps.Faults,
		Logger: c.log.Named("mux"), PeerID: c.peerID})
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	c.mux.Handle(c.handleRPC)
	if err := c.openControl(ctx); err != nil {
		return nil, err
	}
	c.ready.Store(true)
	for _, loop := range []func(context.Context){c.hostLoop, c.heartbeatLoop, c.leader.run, c.rfmLoop} {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			loop(c.ctx)
		}()
	}
	return c, nil
}

// openControl starts the control group and brings this node into a cluster.
func (c *Cluster) openControl(ctx context.Context) error {
	store := c.deps.DB.RaftStore(ControlGroup)
	fsm, err := newControlFSM(store, c.log)
	if err != nil {
		return err
	}
	c.ctrl = fsm
	dir := filepath.Join(c.cfg.DataDir, "snapshots", "control")
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, c.log.Named("snapshots"))
	if err != nil {
		return fmt.Errorf("cluster: control snapshots: %w", err)
	}
	existing, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		return fmt.Errorf("cluster: control group: %w", err)
	}
	rc := c.raftConfig(c.deps.RaftLogger.Named("control"))
	rc.SnapshotThreshold = 1024
	rc.TrailingLogs = 1024
	if c.ctrlTrans, err = c.transport(ControlGroup); err != nil {
		return err
	}
	if c.ctrlRaft, err = raft.NewRaft(rc, fsm, store, store, snaps, c.ctrlTrans); err != nil {
		return fmt.Errorf("cluster: control raft: %w", err)
	}
	self := raft.Server{ID: raft.ServerID(c.cfg.NodeID), Address: raft.ServerAddress(c.advertise)}
	forming := false
	switch {
	case existing:
		c.log.Debug("resuming cluster membership", "version", fsm.State().Version)
	case len(c.cfg.Join) == 0:
		// Form a new cluster: every shard first (a crash in between leaves
		// shards that bootstrap again harmlessly), then the control group.
		c.log.Info("forming a new cluster", "node", c.cfg.NodeID, "shards", c.cfg.Shards)
		forming = true
		if err := ensureStreams(ctx, c.deps.JS, &c.cfg); err != nil {
			return err
		}
		for i := 0; i < c.cfg.Shards; i++ {
			if _, err := c.openShard(uint16(i), []raft.Server{self}); err != nil {
				return err
			}
		}
		boot := raft.Configuration{Servers: []raft.Server{self}}
		if err := c.ctrlRaft.BootstrapCluster(boot).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			return fmt.Errorf("cluster: bootstrap control group: %w", err)
		}
	default:
		if err := c.join(ctx); err != nil {
			return err
		}
	}
	// Wait until the control state includes this node (at once after a
	// restart; an election and the init entry when forming; replication
	// after a join).
	for {
		st := fsm.State()
		if st.Initialized() && st.Nodes[c.cfg.NodeID] != nil {
			if st.Shards != c.cfg.Shards {
				c.log.Info("using the cluster's shard count", "shards", st.Shards, "configured", c.cfg.Shards)
				c.cfg.Shards = st.Shards
			}
			break
		}
		// Forming (or restarted before the first entry committed).
		if !st.Initialized() && len(c.cfg.Join) == 0 && c.ctrlRaft.State() == raft.Leader {
			c.initControl(self)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: waiting for the control state: %w", ctx.Err())
		case <-fsm.Changed():
		case <-time.After(50 * time.Millisecond):
		}
	}
	if !forming {
		if err := ensureStreams(ctx, c.deps.JS, &c.cfg); err != nil {
			return err
		}
	}
	c.reconcileHosting()
	return nil
}

// initControl proposes the first control entry of a new cluster: this node,
// and every shard placed on it.
func (c *Cluster) initControl(self raft.Server) {
	place := make([][]string, c.cfg.Shards)
	for i := range place {
		place[i] = []string{c.cfg.NodeID}
	}
	_, err := c.proposeControl(controlCmd{Op: "init", Shards: c.cfg.Shards, Replicas: c.cfg.Replicas,
		Node: c.selfInfo(), Placement: place})
	if err != nil {
		c.log.Debug("init proposal", "error", err)
	}
}

func (c *Cluster) selfInfo() *NodeInfo {
	return &NodeInfo{ID: c.cfg.NodeID, RaftAddr: c.advertise, HTTPAddr: c.cfg.HTTPAddr, Status: NodeActive}
}

// raftConfig is the Raft configuration shared by every group of the node.
func (c *Cluster) raftConfig(logger hclog.Logger) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(c.cfg.NodeID)
	rc.Logger = logger
	rc.HeartbeatTimeout = c.cfg.ElectionTimeout
	rc.ElectionTimeout = c.cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = c.cfg.ElectionTimeout / 2
	rc.ShutdownOnRemove = false
	rc.NoSnapshotRestoreOnStart = true // both FSMs persist their state with their applied index
	return rc
}

// transport returns a Raft transport for one group over the node's mux.
//
// Pipelined replication is off (MaxRPCsInFlight 1): hashicorp/raft v1.8's
// pipeline can deadlock. When a follower rejects an append, the pipeline's
// decoder exits; if the send loop then picks another send before it notices,
// that send parks forever on the pipeline's unbuffered channels, the follower
// gets heartbeats but no further entries, and Shutdown waits on the stuck
// goroutine (seen here as a node that never finished closing). Without the
// pipeline each follower has one AppendEntries in flight, carrying every entry
// pending for it (up to MaxAppendEntries).
func (c *Cluster) transport(group uint16) (*raft.NetworkTransport, error) {
	layer, err := c.mux.Stream(group)
	if err != nil {
		return nil, err
	}
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		ServerAddressProvider: c, Stream: layer, MaxPool: 3, Timeout: 10 * time.Second,
		MaxRPCsInFlight: 1,
		Logger:          c.deps.RaftLogger.Named("transport"),
	}), nil
}

// ServerAddr resolves a Raft server ID to its current address from the
// control state, so a node that moved keeps being reachable.
func (c *Cluster) ServerAddr(id raft.ServerID) (raft.ServerAddress, error) {
	if c.ctrl != nil {
		c.ctrl.mu.RLock()
		n := c.ctrl.state.Nodes[string(id)]
		c.ctrl.mu.RUnlock()
		if n != nil && n.RaftAddr != "" {
			return raft.ServerAddress(n.RaftAddr), nil
		}
	}
	return "", fmt.Errorf("cluster: unknown node %q", id)
}

// peerID tells the mux which node must answer at addr (TLS identity check).
func (c *Cluster) peerID(addr string) string {
	if c.ctrl == nil {
		return ""
	}
	c.ctrl.mu.RLock()
	defer c.ctrl.mu.RUnlock()
	for id, n := range c.ctrl.state.Nodes {
		if n.RaftAddr == addr && n.Status != NodeLeft {
			return id
		}
	}
	return ""
}

// nodeAddr returns a member's raft address ("" if unknown).
func (c *Cluster) nodeAddr(id string) string {
	a, _ := c.ServerAddr(raft.ServerID(id))
	return string(a)
}

// openShard opens the local replica of a shard (bootstrapping it with boot
// when forming a cluster) and registers it.
func (c *Cluster) openShard(id uint16, boot []raft.Server) (*Shard, error) {
	c.mu.RLock()
	s, ok := c.shards[id]
	c.mu.RUnlock()
	if ok {
		return s, nil
	}
	trans, err := c.transport(id)
	if err != nil {
		return nil, err
	}
	s, err = openShard(shardConfig{
		ID: id, NodeID: c.cfg.NodeID, Dir: raftDir(c.cfg.DataDir, id),
		DB: c.deps.DB, Model: c.deps.Model, JS: c.deps.JS, Clock: c.deps.Clock,
		Metrics: c.deps.Metrics, Logger: c.log, RaftLogger: c.deps.RaftLogger, Config: &c.cfg,
		Trans: trans, Bootstrap: boot, Host: c,
	})
	if err != nil {
		_ = trans.Close()
		return nil, err
	}
	c.mu.Lock()
	if c.closed { // Close has collected the shards already
		c.mu.Unlock()
		_ = s.close()
		return nil, ErrClosed
	}
	c.shards[id] = s
	c.mu.Unlock()
	return s, nil
}

// hostLoop keeps the set of open replicas in line with the placement.
func (c *Cluster) hostLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.ReconcileInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.ctrl.Changed():
		case <-t.C:
		}
		c.reconcileHosting()
	}
}

// reconcileHosting opens a replica for every shard placed on this node, and
// for every shard with Raft state here (placed elsewhere now, it may still be
// a voter the group counts on). Replicas are dropped only on the control
// leader's word (dropShard), once the group is done with them.
func (c *Cluster) reconcileHosting() {
	c.host.Lock()
	defer c.host.Unlock()
	st := c.ctrl.State()
	var open []uint16
	for i := 0; i < st.Shards; i++ {
		if !st.Holds(c.cfg.NodeID, i) {
			if last, err := c.deps.DB.RaftStore(uint16(i)).LastIndex(); err != nil || last == 0 || c.Shard(i) != nil {
				continue
			}
		}
		if c.Shard(i) == nil {
			open = append(open, uint16(i))
		}
	}
	// Opening a replica reads its Raft log since the last snapshot (raft
	// scans it for configuration entries): up to seconds per shard with big
	// entries, so a restarting node opens its shards side by side.
	var wg sync.WaitGroup
	sem := make(chan struct{}, openShardsAtOnce)
	for _, id := range open {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if _, err := c.openShard(id, nil); err != nil && c.ctx.Err() == nil {
				c.log.Error("opening shard replica", "shard", id, "error", err)
			}
		}()
	}
	wg.Wait()
}

// openShardsAtOnce bounds the replicas a node opens concurrently.
const openShardsAtOnce = 4

// dropShard closes this node's replica of a shard and deletes its data.
func (c *Cluster) dropShard(id uint16) {
	c.host.Lock()
	defer c.host.Unlock()
	if c.ctrl.State().Holds(c.cfg.NodeID, int(id)) {
		return // placed here again meanwhile
	}
	c.mu.Lock()
	s, ok := c.shards[id]
	if ok {
		delete(c.shards, id)
	}
	c.mu.Unlock()
	if !ok {
		return
	}
	c.log.Info("dropping shard replica", "shard", id)
	if err := s.close(); err != nil {
		c.log.Warn("closing shard", "shard", id, "error", err)
	}
	if err := c.deps.DB.DropShard(id); err != nil {
		c.log.Error("dropping shard data", "shard", id, "error", err)
	}
	if err := os.RemoveAll(raftDir(c.cfg.DataDir, id)); err != nil {
		c.log.Warn("removing shard snapshots", "shard", id, "error", err)
	}
}

// Close stops the node's part of the cluster: loops, shards, control group,
// transport. Shards this node leads hand leadership over first, so the
// cluster fails over at once instead of after an election timeout.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	shards := make([]*Shard, 0, len(c.shards))
	for _, s := range c.shards {
		shards = append(shards, s)
	}
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	slices.SortFunc(shards, func(a, b *Shard) int { return int(a.ID()) - int(b.ID()) })
	var errs []error
	var wg sync.WaitGroup
	for _, s := range shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.handOver()
		}()
	}
	wg.Wait()
	for _, s := range shards {
		errs = append(errs, s.close())
	}
	if c.ctrlRaft != nil {
		if c.ctrlRaft.State() == raft.Leader && len(c.voters(c.ctrlRaft)) > 1 {
			_ = c.ctrlRaft.LeadershipTransfer().Error()
		}
		errs = append(errs, c.ctrlRaft.Shutdown().Error())
	}
	if c.ctrlTrans != nil {
		errs = append(errs, c.ctrlTrans.Close())
	}
	if c.mux != nil {
		errs = append(errs, c.mux.Close())
	}
	return errors.Join(errs...)
}

// voters returns the voter IDs of a group's latest configuration.
func (c *Cluster) voters(r *raft.Raft) []string {
	f := r.GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	var out []string
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			out = append(out, string(s.ID))
		}
	}
	return out
}

// NodeID is this node's ID.
func (c *Cluster) NodeID() string { return c.cfg.NodeID }

// RaftAddr is the address other nodes reach this node at.
func (c *Cluster) RaftAddr() string { return c.advertise }

// Control returns a copy of the control state as this node knows it.
func (c *Cluster) Control() *ControlState { return c.ctrl.State() }

// Shards returns the replicas this node holds, by shard ID.
func (c *Cluster) Shards() []*Shard {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*Shard, 0, len(c.shards))
	for _, s := range c.shards {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *Shard) int { return int(a.ID()) - int(b.ID()) })
	return out
}

// Shard returns this node's replica of shard id, or nil.
func (c *Cluster) Shard(id int) *Shard {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.shards[uint16(id)]
}

// NumShards is the cluster's shard count.
func (c *Cluster) NumShards() int {
	if n := c.ctrl.State().Shards; n > 0 {
		return n
	}
	return c.cfg.Shards
}

// ShardOf returns the shard holding user.
func (c *Cluster) ShardOf(user string) int { return ShardOf(user, c.NumShards()) }

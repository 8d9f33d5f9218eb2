package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/strata-io/strata/cluster"
	"github.com/strata-io/strata/node"
)

// fleet is the nodes of a run, all in this process.
type fleet struct {
	ns       *server.Server // shared NATS of a cluster; nil: the single node embeds its own
	nodes    []*node.Node
	replicas int // replicas of each shard once settled
	log      *nodeLog
}

// startFleet starts cfg.Nodes nodes under dir and returns once every shard
// has its replicas, a leader and ingests. One node embeds NATS (as `strata
// serve` does); a cluster shares one nats-server, synced like the embedded one.
func startFleet(ctx context.Context, cfg Config, dir string) (f *fleet, err error) {
	f = &fleet{log: &nodeLog{out: os.Stderr}}
	defer func() {
		if err != nil {
			f.close()
			f = nil
		}
	}()
	base := node.DefaultConfig()
	base.Shards = cfg.Shards
	base.ModelFile = cfg.ModelFile
	base.HTTPAddr, base.NATSListen, base.RaftAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	if cfg.Nodes == 1 {
		nc := base
		nc.DataDir = dir
		nc.Logger = f.log.logger("strata")
		n, err := node.Start(ctx, nc)
		if err != nil {
			return f, err
		}
		f.nodes, f.replicas = []*node.Node{n}, 1
		if err := n.WaitReady(ctx); err != nil {
			return f, err
		}
		if err := f.waitModel(ctx, cfg.ModelFile); err != nil {
			return f, err
		}
		f.log.phase.Store(running)
		return f, nil
	}

	f.ns, err = server.NewServer(&server.Options{
		ServerName: "bench", Host: "127.0.0.1", Port: server.RANDOM_PORT,
		JetStream: true, StoreDir: filepath.Join(dir, "nats"), SyncInterval: base.NATSSyncInterval,
		NoSigs: true, NoLog: true, MaxPayload: server.MAX_PAYLOAD_SIZE,
	})
	if err != nil {
		return f, fmt.Errorf("bench: nats: %w", err)
	}
	f.ns.Start()
	if !f.ns.ReadyForConnections(10 * time.Second) {
		return f, errors.New("bench: nats did not become ready in 10s")
	}
	for i := 1; i <= cfg.Nodes; i++ {
		nc := base
		nc.NodeID = "n" + strconv.Itoa(i)
		nc.DataDir = filepath.Join(dir, nc.NodeID)
		nc.NATSURL = f.ns.ClientURL()
		nc.Logger = f.log.logger(nc.NodeID)
		if i > 1 {
			nc.Join = []string{f.nodes[0].Cluster().RaftAddr()}
		}
		n, err := node.Start(ctx, nc)
		if err != nil {
			return f, fmt.Errorf("bench: start %s: %w", nc.NodeID, err)
		}
		f.nodes = append(f.nodes, n)
	}
	f.replicas = min(cfg.Nodes, base.Replicas)
	if err := f.waitSettled(ctx); err != nil {
		return f, err
	}
	for _, n := range f.nodes {
		if err := n.WaitReady(ctx); err != nil {
			return f, err
		}
	}
	if err := f.waitModel(ctx, cfg.ModelFile); err != nil {
		return f, err
	}
	f.log.phase.Store(running)
	return f, nil
}

// waitSettled waits until every shard has f.replicas voters as placed and its preferred leader.
func (f *fleet) waitSettled(ctx context.Context) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := f.nodes[0].Cluster().Status(sctx)
		cancel()
		if err == nil {
			if err = settled(st, len(f.nodes), f.replicas); err == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: cluster did not settle: %w (%w)", err, ctx.Err())
		case <-tick.C:
		}
	}
}

// settled reports why st is not yet a cluster of `nodes` live members
// whose every shard has want replicas, all voters, and its preferred leader,
// with replicas and preferred leaders balanced over the nodes (nil when it is). Until then the
// control leader keeps moving replicas and leaders — one change at a time,
// so a status can look settled between two of them — and a move during the
// load would stall its shard. The balance tests are the planner's own
// (cluster/placement.go: planNext).
func settled(st *cluster.Status, nodes, want int) error {
	load, firsts := map[string]int{}, map[string]int{}
	for _, n := range st.Nodes {
		if n.Status != cluster.NodeActive || !n.Alive {
			return fmt.Errorf("node %s: %s, alive %v", n.ID, n.Status, n.Alive)
		}
		load[n.ID] = 0
	}
	if len(load) != nodes {
		return fmt.Errorf("%d nodes in the cluster, want %d", len(load), nodes)
	}
	if err := st.Settled(want); err != nil {
		return err
	}
	for _, g := range st.Groups {
		if g.Leader != g.Placement[0] {
			return fmt.Errorf("shard %d: leader %s, preferred %s", g.Shard, g.Leader, g.Placement[0])
		}
		for _, id := range g.Placement {
			load[id]++
		}
		firsts[g.Placement[0]]++
	}
	lo, hi := math.MaxInt, 0
	for _, n := range load {
		lo, hi = min(lo, n), max(hi, n)
	}
	if hi-lo > 1 {
		return fmt.Errorf("replicas per node %v: not balanced yet", load)
	}
	for _, g := range st.Groups {
		for _, id := range g.Placement[1:] {
			if firsts[id]+1 < firsts[g.Placement[0]] {
				return fmt.Errorf("preferred leaders per node %v: not balanced yet", firsts)
			}
		}
	}
	return nil
}

// natsURL is where the run publishes.
func (f *fleet) natsURL() string {
	if f.ns != nil {
		return f.ns.ClientURL()
	}
	return f.nodes[0].NATSURL()
}

// close stops the nodes (together: each hands its leaderships over) and then NATS.
func (f *fleet) close() {
	f.log.phase.Store(closing)
	var wg sync.WaitGroup
	for _, n := range f.nodes {
		wg.Go(func() { _ = n.Close() }) // a failed close is logged by the node
	}
	wg.Wait()
	if f.ns != nil {
		f.ns.Shutdown()
		f.ns.WaitForShutdown()
	}
}

// waitModel waits until the cluster runs the model file (none: the
// built-in model) on every shard.
func (f *fleet) waitModel(ctx context.Context, file string) error {
	if file == "" {
		return nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("bench: model file: %w", err)
	}
	src, err := cluster.ParseModelSource(filepath.Base(file), b)
	if err != nil {
		return err
	}
	c := f.nodes[0].Cluster()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for c.ModelPlan().ActiveID() != src.ID {
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: waiting for model %s: %w", src.ID, ctx.Err())
		case <-tick.C:
		}
	}
	return c.WaitModels(ctx, c.ModelPlan().Generation)
}
